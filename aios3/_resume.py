"""Resuming an interrupted multipart upload from its upload id.

ListParts (paged: 1,000 parts a page) tells what the server holds -> the part size is
read off part 1 -> each stored part is checked against the same range of the source
(its CRC32, or MD5 against the ETag) -> missing or mismatched parts are sent -> Complete.
The source must be re-readable: a path, bytes, or a seekable binary file (read from its
current position, as :meth:`S3.upload` reads it).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._body import Body
from ._checksum import PartChecksum, crc32, crc32_b64
from ._config import MAX_PARTS, TransferConfig
from ._exceptions import InvalidRequest
from ._info import StoredObject
from ._multipart import MultipartUpload, _Part
from ._options import NO_OPTIONS, RequestOptions
from ._progress import Meter, ProgressCallback

if TYPE_CHECKING:
    from ._client import S3

__all__ = ["StoredPart", "list_parts", "resume_upload"]


@dataclass(frozen=True, slots=True)
class StoredPart:
    """A part the server holds for an upload in progress."""

    number: int
    size: int
    etag: str
    crc32: str | None = None


async def list_parts(
    s3: S3, bucket: str, key: str, upload_id: str, options: RequestOptions = NO_OPTIONS
) -> list[StoredPart]:
    """Every part of the upload, following ListParts' pages (1,000 parts each)."""
    parts: list[StoredPart] = []
    marker = 0
    while True:
        page = await s3.call(
            "list_parts",
            action="list parts",
            bucket=bucket,
            key=key,
            UploadId=upload_id,
            options=options,
            PartNumberMarker=marker,
            MaxParts=1000,
        )
        for p in page.get("Parts") or []:
            parts.append(StoredPart(p["PartNumber"], p["Size"], p["ETag"], p.get("ChecksumCRC32")))
        next_marker = int(page.get("NextPartNumberMarker") or 0)
        if not page.get("IsTruncated") or next_marker <= marker:
            break
        marker = next_marker
    unique = {p.number: p for p in parts}
    return [unique[n] for n in sorted(unique)]


class _RangeReader:
    """Reads ranges of a re-readable source in a worker thread."""

    def __init__(self, source: Any) -> None:
        if isinstance(source, bytes | bytearray | memoryview):
            self._data: memoryview | None = memoryview(source).cast("B")
            self.size = self._data.nbytes
            self._file: Any = None
            self._owned = False
            return
        self._data = None
        self._base = 0  # a file object is read from its position, as upload() reads it
        if isinstance(source, str | os.PathLike):
            try:
                self._file = open(source, "rb")  # noqa: SIM115 - closed by close()
            except OSError as exc:
                raise InvalidRequest(f"cannot read {os.fspath(source)!r}: {exc.strerror}") from exc
            self._owned = True
        elif hasattr(source, "seek") and hasattr(source, "read") and source.seekable():
            self._file, self._owned = source, False
            self._base = source.tell()
        else:
            raise InvalidRequest(
                "resume needs a re-readable source: a path, bytes, or a seekable binary file"
            )
        self.size = self._file.seek(0, io.SEEK_END) - self._base

    def _read(self, start: int, end: int) -> Body:
        if self._data is not None:
            return Body(self._data[start:end])
        assert self._file is not None
        self._file.seek(self._base + start)
        buf = Body(end - start)
        got = self._file.readinto(buf)
        if got != end - start:
            raise InvalidRequest(f"the source is shorter than expected at byte {start + got}")
        return buf

    async def read(self, start: int, end: int) -> Body:
        if self._data is not None:
            return self._read(start, end)
        return await asyncio.to_thread(self._read, start, end)

    def close(self) -> None:
        if self._owned and self._file is not None:
            self._file.close()


def _matches(stored: StoredPart, data: Body, crc: int) -> bool:
    """Whether the stored part holds ``data`` (whose CRC32 is ``crc``)."""
    if stored.size != len(data):
        return False
    if stored.crc32:
        return stored.crc32 == crc32_b64(crc)
    etag = stored.etag.strip('"')
    return "-" not in etag and etag == hashlib.md5(data).hexdigest()


async def resume_upload(
    s3: S3,
    bucket: str,
    key: str,
    upload_id: str,
    source: Any,
    *,
    transfer: TransferConfig,
    progress: ProgressCallback | None = None,
    options: RequestOptions = NO_OPTIONS,
) -> StoredObject:
    reader = _RangeReader(source)
    try:
        stored = {p.number: p for p in await list_parts(s3, bucket, key, upload_id, options)}
        size = reader.size
        if 1 in stored and (len(stored) > 1 or stored[1].size < size):
            part_size = stored[1].size  # what the interrupted upload was cutting
        else:
            part_size = max(transfer.part_size, -(-size // MAX_PARTS))
        count = max(1, -(-size // part_size))
        if count > MAX_PARTS or any(n > count for n in stored):
            raise InvalidRequest(
                f"upload {upload_id} does not fit this source: {size} bytes in parts of "
                f"{part_size} make {count} parts, the server holds part(s) "
                f"{sorted(n for n in stored if n > count)[:5]}"
            )
        up = MultipartUpload(
            s3,
            bucket,
            key,
            params={},
            part_size=part_size,
            concurrency=None,
            size=size,
            if_none_match=None,
            if_match=None,
            transfer=transfer,
            meter=Meter(f"s3://{bucket}/{key}", size, progress),
            options=options,
        )
        up.upload_id = upload_id
        if stored and not any(p.crc32 for p in stored.values()):
            # Created without a checksum algorithm: stay consistent with what is stored.
            up._algorithm, up._full_crc = "MD5", False
        async with up:
            for number in range(1, count + 1):
                start = (number - 1) * part_size
                data = await reader.read(start, min(start + part_size, size))
                have = stored.get(number)
                crc = crc32(data) if have is not None else 0
                if have is not None and _matches(have, data, crc):
                    checksum = (
                        PartChecksum("ChecksumCRC32", crc32_b64(crc), crc) if have.crc32 else None
                    )
                    up._adopt(_Part(number, have.etag, len(data), checksum))
                else:
                    await up.upload_part(number, data)
        assert up.result is not None
        return up.result
    finally:
        reader.close()
