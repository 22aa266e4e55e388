"""Sources of upload bytes, one small adapter each, all read the same way.

Every adapter has ``size`` (``None`` when unknown), ``name`` (a local file name, for
guessing the content type) and ``async read(n)``, which returns up to about ``n``
bytes and ``b""`` at the end. A file or a pipe also reads straight into a part buffer
(``readinto``), so its parts need neither a fresh buffer each nor a copy; a file of
known size may give its parts as spans of itself (``span``), which aios3's own
connections send from the page cache without reading them into memory. Checks
that can fail (missing file, text mode, wrong chunk types) raise
:class:`~aios3.InvalidRequest`, the earlier the better.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import os
import stat
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from types import TracebackType
from typing import IO, Any, Protocol, TypeAlias, runtime_checkable

from ._aio import wake
from ._body import Body, FileSpan, file_stamp
from ._checksum import PIECE, Digests
from ._exceptions import InvalidRequest

__all__ = ["PipeReader", "Reader", "Source", "open_source"]

# where a file's parts can go as spans: sent by the kernel, digested by positioned reads
_SENDFILE = hasattr(os, "sendfile") and hasattr(os, "preadv")


@runtime_checkable
class AsyncReadable(Protocol):
    """Anything with ``async read(n) -> bytes``: aiofiles files, asyncio.StreamReader."""

    async def read(self, n: int = -1, /) -> bytes: ...


Source: TypeAlias = (
    "bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes] | AsyncReadable"
    " | AsyncIterable[bytes] | Iterable[bytes]"
)
"""What :meth:`S3.upload` takes: bytes-like, a path, a binary file (plain or aiofiles),
an object with ``async read(n)``, or an (async) iterable of bytes."""


class Reader:
    """Base adapter: unknown size, no name, nothing to open or close."""

    size: int | None = None
    name: str | None = None
    can_readinto = False  # whether readinto() works
    can_span = False  # whether span() works
    lasting = False  # whether read() gives views of bytes that live as long as the reader
    digests_as_read = True  # whether readinto() feeds the digests it is given

    async def open(self) -> None:
        return None

    async def read(self, n: int) -> Any:
        """Up to ``n`` bytes; ``b""`` at the end. A reader that can readinto reads
        into a fresh buffer; the others override this."""
        if not self.can_readinto:
            raise NotImplementedError
        buf = Body(n)
        del buf[await self.readinto(buf, 0, n) :]
        return buf

    async def readinto(
        self, buffer: Body, start: int, end: int, digests: Digests | None = None
    ) -> int:
        """Read into ``buffer[start:end]`` and return the bytes read: fewer than asked
        is allowed, 0 only at the end of the source. Only where ``can_readinto``.
        ``digests``: fed the bytes as they are read, where that costs the event loop
        nothing (a worker thread reads them); left alone otherwise."""
        raise NotImplementedError

    def span(self, offset: int, length: int) -> FileSpan:
        """``length`` bytes from ``offset`` as a :class:`FileSpan` with a descriptor of
        its own (closed by whoever sends it). Only where ``can_span``."""
        raise NotImplementedError

    def check_size(self) -> None:
        """Raise :class:`InvalidRequest` if the source no longer has the ``size`` it
        had when opened. Only where ``can_span``."""
        raise NotImplementedError

    async def aclose(self) -> None:
        return None

    async def __aenter__(self) -> Reader:
        await self.open()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _checked(self, chunk: Any, what: str) -> Any:
        if isinstance(chunk, bytes | bytearray):
            return chunk
        if isinstance(chunk, memoryview):
            return chunk.cast("B") if chunk.format != "B" else chunk
        shown = "str (encode text first)" if isinstance(chunk, str) else type(chunk).__name__
        raise InvalidRequest(f"{what} gave {shown}; upload sources must give bytes")


class BytesReader(Reader):
    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self.data = data
        self._view = memoryview(data).cast("B")
        self.size = self._view.nbytes
        self._pos = 0
        self.lasting = type(data) is bytes

    async def read(self, n: int) -> Body | memoryview:
        piece = self._view[self._pos : self._pos + n]
        self._pos += piece.nbytes
        if self.lasting:
            return piece  # nobody can change it: sent from where it is
        return Body(piece)


class PathReader(Reader):
    can_readinto = True

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.name = self.path
        try:
            st = os.stat(self.name)
        except FileNotFoundError:
            raise InvalidRequest(f"no such file to upload: {self.name!r}") from None
        except OSError as exc:
            raise InvalidRequest(f"cannot read {self.name!r}: {exc.strerror}") from exc
        if os.path.isdir(self.name):
            raise InvalidRequest(f"{self.name!r} is a directory; upload takes a file")
        if not os.access(self.name, os.R_OK):
            raise InvalidRequest(f"{self.name!r} is not readable (permission denied)")
        self.size = st.st_size if os.path.isfile(self.name) else None  # FIFOs: unknown
        self.can_span = self.size is not None and _SENDFILE
        self._raw: Any = None
        self._stamp: tuple[int, ...] = ()

    async def open(self) -> None:
        try:
            # Opened synchronously: an open in a worker thread that a cancellation
            # interrupts would leave a file object nobody closes.
            self._raw = open(self.path, "rb")  # noqa: SIM115, ASYNC230 - closed by aclose()
        except OSError as exc:
            raise InvalidRequest(f"cannot open {self.name!r}: {exc.strerror}") from exc
        if self.can_span:
            self._stamp = file_stamp(self._raw.fileno())
            if self._stamp[2] != self.size:  # replaced or written between stat and open
                raise InvalidRequest(f"{self.name!r} changed as it was opened")

    async def readinto(
        self, buffer: Body, start: int, end: int, digests: Digests | None = None
    ) -> int:
        return await asyncio.to_thread(_readinto, self._raw, buffer, start, end, digests)

    def span(self, offset: int, length: int) -> FileSpan:
        return FileSpan(os.dup(self._raw.fileno()), offset, length, self.path, self._stamp)

    def check_size(self) -> None:
        now = os.fstat(self._raw.fileno()).st_size
        if now > (self.size or 0):
            raise InvalidRequest(f"the source holds more than the declared {self.size} bytes")

    async def aclose(self) -> None:
        if self._raw is not None:
            self._raw.close()  # synchronous: runs even while a cancellation unwinds


def _readinto(f: Any, buffer: Body, start: int, end: int, digests: Digests | None) -> int:
    """``f.readinto(buffer[start:end])`` in a worker thread; with ``digests``, a piece at
    a time, each digested as soon as it is read (while it is in the core's cache). The
    views end here: an export outliving the call (the executor drops its arguments a
    moment after the result) would keep aios3 from trimming the buffer for a short last
    part."""
    step = end - start if digests is None else PIECE
    got = 0
    with memoryview(buffer) as whole:
        while start + got < end:
            with whole[start + got : min(end, start + got + step)] as part:
                n: int | None = f.readinto(part)  # buffered: full unless at the end
                if n is None:  # a non-blocking file with nothing ready: not the end of it
                    raise InvalidRequest(
                        "the file is non-blocking and had no data ready; give a blocking one"
                    )
                if digests is not None and n:
                    with part[:n] as read:
                        digests.update(read)
                short = n < len(part)
            got += n
            if short:
                break  # the end of the file, or a short read: the caller asks again
    return got


class FileReader(Reader):
    """A plain (blocking) binary file object, read in a worker thread; straight into
    the part buffers where it has ``readinto`` (every ``open(..., "rb")`` file does).
    A plain file object of a regular file may give its parts as spans, from its
    current position, which is left at the end once every part is under way, as a
    read to the end leaves it."""

    def __init__(self, f: IO[bytes]) -> None:
        mode = getattr(f, "mode", "b")  # (a GzipFile's is an int)
        if isinstance(f, io.TextIOBase) or (isinstance(mode, str) and "b" not in mode):
            raise InvalidRequest("the file is open in text mode; open it with 'rb'")
        self._f = f
        self.name = getattr(f, "name", None) if isinstance(getattr(f, "name", None), str) else None
        self._start = 0
        try:
            if f.seekable():
                self._start = f.tell()
                self.size = f.seek(0, io.SEEK_END) - self._start
                f.seek(self._start)
        except (OSError, ValueError):
            self.size = None
        self.can_readinto = callable(getattr(f, "readinto", None))
        self.can_span = self.size is not None and _SENDFILE and _regular(f)
        self._stamp = file_stamp(f.fileno()) if self.can_span else ()

    def span(self, offset: int, length: int) -> FileSpan:
        name = self.name or "the file"
        fd = os.dup(self._f.fileno())
        return FileSpan(fd, self._start + offset, length, name, self._stamp)

    def check_size(self) -> None:
        end = self._start + (self.size or 0)
        if os.fstat(self._f.fileno()).st_size > end:
            raise InvalidRequest(f"the source holds more than the declared {self.size} bytes")
        self._f.seek(end)

    async def read(self, n: int) -> Any:
        return self._checked(await asyncio.to_thread(self._f.read, n), "the file's read()")

    async def readinto(
        self, buffer: Body, start: int, end: int, digests: Digests | None = None
    ) -> int:
        return await asyncio.to_thread(_readinto, self._f, buffer, start, end, digests)


def _regular(f: Any) -> bool:
    """Whether ``f`` is a plain file object of a regular file, what its descriptor
    reads is what it reads, with nothing written to it still in a buffer (flushed
    here, as a read would flush it). Not a wrapper: a ``GzipFile`` has its file's
    descriptor and reads something else."""
    if type(f) not in (io.FileIO, io.BufferedReader, io.BufferedRandom):
        return False
    if type(getattr(f, "raw", f)) is not io.FileIO:  # a buffer over a stream of one's own
        return False
    try:
        if not f.readable():  # (a write-only file: its reads would fail)
            return False
        regular = stat.S_ISREG(os.fstat(f.fileno()).st_mode)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False
    if regular and callable(getattr(f, "flush", None)):
        f.flush()
    return regular


class PipeReader(Reader):
    """A pipe, socket or terminal file descriptor read through the event loop, straight
    into the part buffers. No worker thread sits blocked in read() when the upload is
    cancelled (the command line's ``cp -`` reads standard input this way). The
    descriptor is made non-blocking while read and set back after."""

    can_readinto = True
    digests_as_read = False  # read on the event loop: digested whole, in a worker thread

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._was_blocking: bool | None = None

    async def open(self) -> None:
        self._was_blocking = os.get_blocking(self._fd)
        os.set_blocking(self._fd, False)

    async def aclose(self) -> None:
        if self._was_blocking is not None:
            os.set_blocking(self._fd, self._was_blocking)  # it may be a shared terminal
            self._was_blocking = None

    async def readinto(
        self, buffer: Body, start: int, end: int, digests: Digests | None = None
    ) -> int:
        """Read what the descriptor has (waiting for some) into ``buffer[start:end]``:
        short reads are normal here, 0 is the end. ``digests`` is left alone."""
        loop = asyncio.get_running_loop()
        while True:
            with memoryview(buffer) as whole, whole[start:end] as part:
                try:
                    return os.readv(self._fd, [part])
                except BlockingIOError:
                    pass
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(self._fd, wake, ready)
            try:
                await ready
            finally:
                loop.remove_reader(self._fd)


class AsyncReadReader(Reader):
    """An object with ``async read(n)``: aiofiles files, asyncio / aiohttp stream readers."""

    def __init__(self, r: AsyncReadable) -> None:
        self._r = r
        name = getattr(r, "name", None)
        self.name = name if isinstance(name, str) else None

    async def read(self, n: int) -> Any:
        return self._checked(await self._r.read(n), "the source's read()")


class AsyncIterReader(Reader):
    """An async iterable of bytes chunks (a generator, a response body, ...)."""

    def __init__(self, it: AsyncIterable[Any]) -> None:
        self._source = it
        self._it: AsyncIterator[Any] = aiter(it)

    async def read(self, n: int) -> Any:
        while True:
            try:
                chunk = await anext(self._it)
            except StopAsyncIteration:
                return b""
            chunk = self._checked(chunk, "the async iterable")
            if len(chunk):
                return chunk

    async def aclose(self) -> None:
        close = getattr(self._it, "aclose", None)
        if close is not None:
            await close()


class IterReader(Reader):
    """A plain iterable of bytes chunks (a generator, a list)."""

    def __init__(self, it: Iterable[Any]) -> None:
        self._it: Iterator[Any] = iter(it)

    async def read(self, n: int) -> Any:
        for chunk in self._it:
            chunk = self._checked(chunk, "the iterable")
            if len(chunk):
                return chunk
        return b""


def open_source(source: Any) -> Reader:
    """Pick the adapter for ``source``; raise :class:`InvalidRequest` for what fits none."""
    if isinstance(source, Reader):  # an adapter aios3 built itself (the command line's)
        return source
    if isinstance(source, bytes | bytearray | memoryview):
        return BytesReader(source)
    if isinstance(source, str | os.PathLike):
        return PathReader(source)
    if source is None:
        raise InvalidRequest("nothing to upload: source is None")
    read = getattr(source, "read", None)
    if read is not None and inspect.iscoroutinefunction(read):
        return AsyncReadReader(source)
    if read is not None:
        return FileReader(source)
    if isinstance(source, AsyncIterable):
        return AsyncIterReader(source)
    if isinstance(source, Iterable):
        return IterReader(source)
    raise InvalidRequest(
        f"cannot upload a {type(source).__name__}: give bytes, a path, a binary file, "
        "an object with async read(n), or an (async) iterable of bytes"
    )
