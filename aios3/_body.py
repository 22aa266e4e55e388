"""Request bodies that aios3 owns.

Every body aios3 sends (a part, a small object) is a :class:`Body`: a ``bytearray``
that no caller can change while it is in flight. aiohttp sends it through
:mod:`._payload`, which :func:`send_with_aiohttp` registers when a client opens (not
here: importing aios3 does not import aiohttp). A file's part may instead be a
:class:`FileSpan`: a stretch of the file that the kernel sends from its page cache; a
stream's part, :class:`Pieces`: the ``bytes`` chunks its caller gave, held as they are.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._checksum import Digests

__all__ = ["Body", "FileSpan", "Pieces", "Stopped", "file_stamp", "send_with_aiohttp"]


class Body(bytearray):
    """Bytes owned by aios3 for one request.

    ``sha256``: the SHA-256 (hex) of the bytes, where whoever sends them computed it in
    the same pass as their checksum (the request signature needs it); ``None`` otherwise.
    It is set only while the bytes cannot change: between the hashing and the end of
    the request."""

    __slots__ = ("sha256",)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.sha256: str | None = None


class Pieces:
    """One request body made of several buffers, in order, none of them copied: the
    ``bytes`` chunks (or read-only views of ``bytes``) that a stream's caller gave,
    which nobody can change, and buffers that aios3 filled itself from chunks too
    small or too changeable to hold (:meth:`copy`). Digested piece by piece, and sent
    piece by piece from where each is. ``sha256`` is as :class:`Body`'s."""

    __slots__ = ("_tail", "length", "parts", "sha256")

    def __init__(self) -> None:
        self.parts: list[bytes | bytearray | memoryview] = []
        self.length = 0
        self.sha256: str | None = None
        self._tail: bytearray | None = None  # the last part, if aios3's own buffer

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return f"<Pieces {len(self.parts)} parts, {self.length} bytes>"

    def hold(self, piece: bytes | memoryview) -> None:
        """Add ``piece`` as it is: bytes that cannot change (``bytes`` or a view of
        them), kept until the body is no longer sent."""
        self.parts.append(piece)
        self.length += len(piece)
        self._tail = None

    def copy(self, piece: Any) -> None:
        """Add a copy of ``piece``, appended to the last part where aios3 owns it."""
        if self._tail is None:
            self._tail = bytearray()
            self.parts.append(self._tail)
        self._tail[len(self._tail) :] = piece  # (+= refuses a view that is not contiguous)
        self.length += len(piece)

    def joined(self) -> bytes:
        """The whole body in one ``bytes`` (for botocore's path, which takes bytes)."""
        return b"".join(self.parts)


class FileSpan:
    """``length`` bytes of an open file from ``offset``, as a request body that is
    never copied into memory: its digests are taken by reading it a piece at a time
    (:meth:`digest`), and aios3's own connections send it with ``os.sendfile``, or
    aiohttp a piece at a time (see :mod:`._payload`).

    The file may change meanwhile. A read that comes up short raises
    :class:`~aios3.InvalidRequest`; so does :meth:`check`, which the sender asks after
    each try, where the file is no longer what it was when the upload began (its size,
    its modification time, its inode): bytes changed after the digest would otherwise
    go up under a checksum that is not theirs, where a server does not check it.
    ``fd`` is the span's own descriptor (a duplicate: the source's may close first),
    closed by :meth:`close` once nothing sends or reads the span any more. ``sha256``
    is as :class:`Body`'s."""

    __slots__ = ("fd", "length", "name", "offset", "sha256", "stamp", "stopped")

    def __init__(
        self, fd: int, offset: int, length: int, name: str, stamp: tuple[int, ...] = ()
    ) -> None:
        self.fd, self.offset, self.length, self.name = fd, offset, length, name
        self.stamp = stamp  # file_stamp() of the file when the upload began
        self.sha256: str | None = None
        self.stopped = False  # set when the reader's caller is cancelled: stop reading

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return f"<FileSpan {self.name!r} [{self.offset}:{self.offset + self.length}]>"

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def stop(self) -> None:
        """Have a reading thread stop at its next piece (its caller was cancelled)."""
        self.stopped = True

    def check(self) -> None:
        """Raise :class:`~aios3.InvalidRequest` if the file changed since the upload
        began (see the class)."""
        if self.stamp and file_stamp(self.fd) != self.stamp:
            from ._exceptions import InvalidRequest

            raise InvalidRequest(f"{self.name!r} changed while it was being uploaded")

    def shorter(self, got: int) -> Exception:
        from ._exceptions import InvalidRequest

        return InvalidRequest(
            f"{self.name!r} ended {self.offset + got} bytes in, before the"
            f" {self.offset + self.length} it had when the upload began (it shrank)"
        )

    def unreadable(self, exc: OSError) -> Exception:
        from ._exceptions import InvalidRequest

        return InvalidRequest(f"cannot read {self.name!r}: {exc.strerror or exc}")

    def pieces(self, piece: int) -> Iterator[memoryview]:
        """The span's bytes, read ``piece`` bytes at a time into one buffer (each view
        valid until the next is asked for). Blocking: iterate in a worker thread. Stops
        (:class:`Stopped`) once :meth:`stop` is called."""
        buffer = bytearray(min(piece, self.length))
        with memoryview(buffer) as view:
            got = 0
            while got < self.length:
                if self.stopped:
                    raise Stopped
                with view[: min(len(view), self.length - got)] as part:
                    n = os.preadv(self.fd, [part], self.offset + got)
                    if not n:
                        raise self.shorter(got)
                    with part[:n] as read:
                        yield read
                got += n

    def digest(self, digests: Digests) -> Digests:
        """Feed ``digests`` the span's bytes, a piece at a time (each digested while it
        is in the core's cache). Blocking: run it in a worker thread."""
        from ._checksum import PIECE

        for read in self.pieces(PIECE):
            digests.update(read)
        return digests

    def read_whole(self) -> Body:
        """The span's bytes, in memory (for botocore's path, which takes bytes).
        Blocking: run it in a worker thread."""
        body = Body(self.length)
        at = 0
        for read in self.pieces(1024 * 1024):
            body[at : at + len(read)] = read
            at += len(read)
        return body


class Stopped(Exception):
    """A reading thread stopped by :meth:`FileSpan.stop`."""


def file_stamp(fd: int) -> tuple[int, ...]:
    """What tells that a file changed: its inode, size and modification time."""
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def send_with_aiohttp() -> None:
    """Register :class:`Body`'s aiohttp payload (once: it registers on import)."""
    from . import _payload  # noqa: F401
