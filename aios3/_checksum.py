"""Checksums: what each request body carries, and whole-object values to verify.

CRC32 is the default. zlib-ng computes it at tens of GB/s (SIMD carry-less
multiplication: ~55 GB/s here, against ~3-4 GB/s for the system zlib, which stays the
fallback where zlib-ng is not installed); both release the GIL on large buffers, so
parts are hashed in worker threads while the event loop keeps serving.
A multipart upload's whole-object CRC32 is combined from the part CRCs
(:func:`crc32_combine`), so no byte is hashed twice.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

from ._aio import in_thread
from ._body import FileSpan, Pieces

try:
    from zlib_ng.zlib_ng import crc32
except ImportError:  # pragma: no cover - a platform without zlib-ng
    from zlib import crc32

__all__ = [
    "VERIFIABLE",
    "PIECE",
    "Digests",
    "PartChecksum",
    "b64",
    "body_digests",
    "checksum_param",
    "checksummed",
    "crc32",
    "crc32_combine",
]

_CRC_POLY = 0xEDB88320

VERIFIABLE = ("CRC32", "SHA1", "SHA256")
"""Whole-object checksums a download verifies: the ones the standard library (or
zlib-ng) computes. CRC32C and CRC64NVME would need extra packages; they are skipped."""


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def crc32_b64(value: int) -> str:
    return b64(value.to_bytes(4, "big"))


class PartChecksum:
    """A body's checksum: the botocore parameter that carries it, and the raw CRC32
    (for combining into a whole-object value) when the algorithm is CRC32."""

    __slots__ = ("crc", "param", "value")

    def __init__(self, param: str, value: str, crc: int | None = None) -> None:
        self.param = param  # "ChecksumCRC32", "ChecksumSHA256", "ContentMD5", ...
        self.value = value
        self.crc = crc

    def as_params(self) -> dict[str, str]:
        return {self.param: self.value}

    def for_complete(self) -> dict[str, str]:
        """The part-list entry CompleteMultipartUpload wants (MD5 travels in the ETag)."""
        return {} if self.param == "ContentMD5" else {self.param: self.value}


def checksum_param(algorithm: str | None) -> str | None:
    """The botocore parameter that carries a body's ``algorithm`` checksum."""
    if algorithm is None:
        return None
    return "ContentMD5" if algorithm == "MD5" else f"Checksum{algorithm}"


LARGE_BODY = 1024 * 1024
"""Bodies at least this large are checksummed in a worker thread: zlib and hashlib release
the GIL on large buffers, so the event loop keeps serving meanwhile."""

PIECE = 256 * 1024
"""Bytes of a body taken through every digest before the next: small enough to stay in
the core's cache between them (a body's CRC32 and then its SHA-256, each over 8 MiB,
cost 0.88 CPU-s per GiB here; piece by piece, 0.65)."""


class Digests:
    """A body's ``algorithm`` checksum and, if asked, its SHA-256 (hex), built from its
    bytes in order, piece by piece, in whichever thread reads them: a file's part is
    digested as it is read, while each piece is still in the core's cache."""

    __slots__ = ("_algorithm", "_crc", "_hasher", "_sha256", "size")

    def __init__(self, algorithm: str | None, *, sha256: bool) -> None:
        self._algorithm = algorithm
        self._crc = 0
        self._hasher = None if algorithm in (None, "CRC32") else hashlib.new(algorithm.lower())
        self._sha256 = hashlib.sha256() if sha256 else None
        if sha256 and algorithm == "SHA256":  # one hash serves the checksum and signature
            self._hasher = self._sha256
        self.size = 0  # bytes digested

    @property
    def signs(self) -> bool:
        return self._sha256 is not None

    def update(self, piece: Any) -> None:
        """Digest the next ``piece`` (one of at most about :data:`PIECE` bytes)."""
        if self._algorithm == "CRC32":
            self._crc = crc32(piece, self._crc)
        elif self._hasher is not None and self._hasher is not self._sha256:
            self._hasher.update(piece)
        if self._sha256 is not None:
            self._sha256.update(piece)
        self.size += len(piece)

    def feed(self, data: Any) -> Digests:
        """Digest all of ``data`` (bytes-like, or :class:`~aios3._body.Pieces`),
        :data:`PIECE` bytes at a time."""
        if isinstance(data, Pieces):
            for part in data.parts:
                self.feed(part)
            return self
        with memoryview(data) as whole, whole.cast("B") as view:
            for start in range(0, len(view), PIECE):
                with view[start : start + PIECE] as piece:
                    self.update(piece)
        return self

    def result(self) -> tuple[PartChecksum | None, str | None]:
        """The checksum (``None`` for no algorithm) and the SHA-256 (``None`` unasked)."""
        digest = self._sha256.hexdigest() if self._sha256 is not None else None
        param = checksum_param(self._algorithm)
        if param is None:
            return None, digest
        if self._hasher is None:
            return PartChecksum(param, crc32_b64(self._crc), self._crc), digest
        return PartChecksum(param, b64(self._hasher.digest())), digest


def _digests(
    algorithm: str | None, data: Any, *, sha256: bool
) -> tuple[PartChecksum | None, str | None]:
    return Digests(algorithm, sha256=sha256).feed(data).result()


async def body_digests(
    algorithm: str | None, data: Any, *, sha256: bool
) -> tuple[PartChecksum | None, str | None]:
    """A request body's ``algorithm`` checksum and, if ``sha256``, the SHA-256 hex digest
    its signature needs, from one pass over it, off the event loop when it is large (a
    :class:`~aios3._body.FileSpan` is read from its file, a piece at a time)."""
    if algorithm is None and not sha256:
        return None, None
    if isinstance(data, FileSpan):
        digests = Digests(algorithm, sha256=sha256)
        return (await in_thread(data.digest, digests, on_cancel=data.stop)).result()
    if len(data) >= LARGE_BODY:
        return await asyncio.to_thread(_digests, algorithm, data, sha256=sha256)
    return _digests(algorithm, data, sha256=sha256)


@asynccontextmanager
async def checksummed(
    algorithm: str | None,
    data: Any,
    *,
    sign: bool,
    digests: Digests | None = None,
) -> AsyncIterator[PartChecksum | None]:
    """The ``algorithm`` checksum of the request body ``data``, for the block that sends
    it. ``sign``: the request signs ``data`` (a :class:`Body`) by its SHA-256, which is
    then computed in the same pass and held on the body (``Body.sha256``) until the
    block ends, so the bytes are read once, not twice. ``digests``: what was computed
    as ``data`` was read, used if it covers all of it."""
    if digests is not None and digests.size == len(data) and (digests.signs or not sign):
        checksum, digest = digests.result()
    else:
        checksum, digest = await body_digests(algorithm, data, sha256=sign)
    if digest is None or not sign:
        yield checksum
        return
    data.sha256 = digest
    try:
        yield checksum
    finally:
        data.sha256 = None


def _gf2_times(mat: tuple[int, ...], vec: int) -> int:
    total, i = 0, 0
    while vec:
        if vec & 1:
            total ^= mat[i]
        vec >>= 1
        i += 1
    return total


def _gf2_compose(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The operator "apply b, then a"."""
    return tuple(_gf2_times(a, b[n]) for n in range(32))


@lru_cache(maxsize=64)
def _zeros_operator(length: int) -> tuple[int, ...]:
    """The GF(2) matrix that advances a CRC32 register over ``length`` zero bytes."""
    one_bit = (_CRC_POLY, *(1 << n for n in range(31)))
    power = _gf2_compose(one_bit, one_bit)  # 2 zero bits
    power = _gf2_compose(power, power)  # 4 zero bits
    power = _gf2_compose(power, power)  # 8 zero bits: one zero byte
    result: tuple[int, ...] = tuple(1 << n for n in range(32))  # identity
    while length:
        if length & 1:
            result = _gf2_compose(power, result)
        length >>= 1
        if length:
            power = _gf2_compose(power, power)
    return result


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC32 of ``A + B`` from ``crc1 = crc32(A)``, ``crc2 = crc32(B)`` and ``len(B)``.

    The operator for each distinct ``len2`` is built once and cached, so combining the
    parts of an upload (which share one or a few sizes) costs microseconds per part.
    """
    if len2 == 0:
        return crc1
    return _gf2_times(_zeros_operator(len2), crc1) ^ crc2
