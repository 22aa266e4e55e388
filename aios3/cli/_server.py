"""``aios3 server``: moto's S3 server on 127.0.0.1 until Ctrl-C; and ``aios3 demo``: a
generated object of a few hundred MiB streamed up through a :class:`MultipartUpload`
and back down (a stream, a parallel ranged download to a file, a ranged GET), verified
byte for byte by hash without holding it in memory, with throughput and peak memory.

The demo runs its embedded server in a child process (``aios3 server``), so that the
peak memory it reports is the client's alone (moto keeps every object in memory), and
so that no request log line of the server reaches its output.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._config import MiB
from .._exceptions import IntegrityError
from ._output import Bars, human_size
from ._parse import EXIT_INTERRUPTED, EXIT_OTHER

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    return serve(args) if args.command == "server" else demo(args)


# -- server ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _request_log(verbose: bool) -> Iterator[None]:
    """Keep werkzeug's one-line-per-request log quiet, unless ``verbose``."""
    logger = logging.getLogger("werkzeug")
    before = logger.level
    if not verbose:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(before)


def _port_free(port: int) -> bool:
    if port == 0:
        return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def serve(args: argparse.Namespace) -> int:
    """Run moto's S3 server until Ctrl-C (or SIGTERM): exit 0, no traceback."""
    try:
        from moto.server import ThreadedMotoServer  # noqa: F401 - checks moto is there
    except ImportError:
        print("aios3 server needs moto: pip install 'aios3[server]'", file=sys.stderr)
        return EXIT_OTHER
    if not _port_free(args.port):
        print(f"aios3 server: port {args.port} on 127.0.0.1 is in use", file=sys.stderr)
        return EXIT_OTHER
    from ..testing import moto_server

    stop = threading.Event()
    # Ctrl-C and SIGTERM stop it, even where SIGINT came ignored (a background job).
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with _request_log(args.verbose), moto_server(port=args.port) as srv:
        print(
            f"aios3 server: moto S3 on {srv.endpoint} (Ctrl-C stops it)\n"
            f"endpoint:          {srv.endpoint}\n"
            f"access key id:     {srv.access_key_id}\n"
            f"secret access key: {srv.secret_access_key}\n"
            f"region:            {srv.region}\n"
            "\n"
            "Paste this into another shell, then use aios3 (or aws s3) there:\n"
            f"export AWS_ENDPOINT_URL={srv.endpoint} AWS_ACCESS_KEY_ID={srv.access_key_id} "
            f"AWS_SECRET_ACCESS_KEY={srv.secret_access_key} AWS_REGION={srv.region}",
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    print("aios3 server: stopped", file=sys.stderr, flush=True)
    return 0


# -- demo ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Store:
    settings: dict[str, Any]
    where: str


@contextlib.contextmanager
def _child_server() -> Iterator[_Store]:
    """``aios3 server`` in a child process; its settings from the line it prints."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aios3", "server", "--port", "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            start_new_session=True,  # Ctrl-C reaches the demo, which stops the server
        )
        try:
            assert proc.stdout is not None
            values: dict[str, str] = {}
            deadline = time.monotonic() + 60
            for raw in proc.stdout:
                line = raw.decode()
                if line.startswith("export "):
                    values = dict(part.split("=", 1) for part in line.split()[1:])
                    break
                if time.monotonic() > deadline:
                    break
            if not values:
                proc.wait(10)
                log.seek(0)
                raise RuntimeError(
                    "the embedded server did not start: "
                    + log.read().decode(errors="replace")[-2000:]
                )
            endpoint = values["AWS_ENDPOINT_URL"]
            yield _Store(
                {
                    "endpoint": endpoint,
                    "access_key_id": values["AWS_ACCESS_KEY_ID"],
                    "secret_access_key": values["AWS_SECRET_ACCESS_KEY"],
                    "region": values["AWS_REGION"],
                },
                f"an embedded S3 server (moto, in a child process) on {endpoint}",
            )
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def _chunk(seed: int, index: int, size: int) -> bytes:
    """The demo object's ``index``-th MiB: pseudo-random, made again on demand."""
    return random.Random(seed * 1_000_003 + index).randbytes(size)


def _expected(seed: int, total: int, start: int, end: int) -> bytes:
    """``object[start:end]``, regenerated from the chunks it spans."""
    first, last = start // MiB, (end - 1) // MiB
    parts = [_chunk(seed, i, min(MiB, total - i * MiB)) for i in range(first, last + 1)]
    data = b"".join(parts)
    return data[start - first * MiB : end - first * MiB]


async def _generate(seed: int, total: int, digest: Any) -> AsyncIterator[bytes]:
    """A stream of unknown length, as a pipe or a request body gives one."""
    for index in range((total + MiB - 1) // MiB):
        piece = _chunk(seed, index, min(MiB, total - index * MiB))
        digest.update(piece)
        yield piece
        await asyncio.sleep(0)


class _Phases:
    """Times each phase, draws its bar on a terminal, prints its line."""

    def __init__(self, draw: bool) -> None:
        self.draw = draw
        self.rates: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str, nbytes: int) -> Iterator[dict[str, Any]]:
        bars = Bars(sys.stderr, label=name, leave=False) if self.draw else None
        options: dict[str, Any] = {"progress": bars.update} if bars is not None else {}
        started = time.perf_counter()
        try:
            yield options
        finally:
            if bars is not None:
                bars.close()
        took = max(time.perf_counter() - started, 1e-6)
        self.rates[name] = nbytes / took
        self.took = took

    def rate(self, name: str) -> str:
        return human_size(self.rates[name]) + "/s"


def _say(text: str) -> None:
    print(text, flush=True)


async def _demo(args: argparse.Namespace, store: _Store, draw: bool) -> None:
    from .._client import connect
    from . import transfer_config

    total = args.size * MiB
    seed = secrets.randbits(32)
    phases = _Phases(draw)
    async with connect(args.config, transfer=transfer_config(args), **store.settings) as s3:
        bucket = args.bucket or f"aios3-demo-{secrets.token_hex(4)}"
        made = not await s3.bucket_exists(bucket)
        if made:
            await s3.create_bucket(bucket)
        key = f"aios3-demo/{secrets.token_hex(6)}.bin"
        url = f"s3://{bucket}/{key}"
        _say(f"aios3 demo: {human_size(total)} through {store.where}, as {url}")
        try:
            # 1. Up: a stream of unknown length through a MultipartUpload.
            sent = hashlib.sha256()
            with phases.phase("upload", total) as progress:
                async with s3.multipart_upload(url, **progress) as upload:
                    async for piece in _generate(seed, total, sent):
                        await upload.write(piece)
            info = upload.result
            assert info is not None
            _say(
                f"upload:   {human_size(total)} streamed in {info.parts} parts through "
                f"MultipartUpload in {phases.took:.1f} s ({phases.rate('upload')})"
            )

            # 2. Down, as a stream: chunk by chunk, hashed as it comes.
            streamed = hashlib.sha256()
            with phases.phase("stream", total) as progress:
                async with s3.stream(url, **progress) as body:
                    async for chunk in body:
                        streamed.update(chunk)
            if streamed.digest() != sent.digest():
                raise IntegrityError(f"the streamed bytes of {url} differ from those sent")
            _say(
                f"stream:   {human_size(total)} read back in {phases.took:.1f} s "
                f"({phases.rate('stream')}), sha256 matches"
            )

            # 3. Down, to a file: parallel ranged GETs, atomic rename, CRC32 checked.
            with tempfile.TemporaryDirectory(prefix="aios3-demo-") as tmp:
                target = Path(tmp) / "demo.bin"
                with phases.phase("download", total) as progress:
                    await s3.download(url, target, **progress)
                on_disk = await asyncio.to_thread(_file_digest, target)
            if on_disk != sent.digest():
                raise IntegrityError(f"the downloaded file of {url} differs from what was sent")
            _say(
                f"download: {human_size(total)} to a file by parallel ranged GETs in "
                f"{phases.took:.1f} s ({phases.rate('download')}), sha256 matches"
            )

            # 4. A range across part boundaries, against the bytes made again.
            start = total // 3
            end = min(total, start + 3 * MiB + 7)
            got = hashlib.sha256()
            async with s3.stream(url, start=start, end=end) as body:
                async for chunk in body:
                    got.update(chunk)
            if got.digest() != hashlib.sha256(_expected(seed, total, start, end)).digest():
                raise IntegrityError(f"bytes {start}-{end - 1} of {url} differ")
            _say(f"range:    bytes {start}-{end - 1} by a ranged GET match")
        finally:
            await s3.delete(url)
            if made:
                await s3.delete_bucket(bucket, force=True)
    _say(
        "verified: upload, stream, download and range agree byte for byte "
        f"(sha256 {sent.hexdigest()[:16]}...)"
    )
    _say(
        f"throughput: upload {phases.rate('upload')}, stream {phases.rate('stream')}, "
        f"download {phases.rate('download')}"
    )
    _say(
        f"peak memory: {_peak_rss() / MiB:.0f} MiB (this process's peak RSS; "
        f"the object is {human_size(total)})"
    )


def _file_digest(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(MiB):
            digest.update(block)
    return digest.digest()


def _peak_rss() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def demo(args: argparse.Namespace) -> int:
    from . import _message, connection, exit_code

    draw = not (args.no_progress or args.quiet or args.only_show_errors) and sys.stderr.isatty()
    try:
        with contextlib.ExitStack() as stack:
            if args.endpoint or args.config or args.profile:
                store = _Store(connection(args), args.endpoint or "the configured store")
            else:
                store = stack.enter_context(_child_server())
            asyncio.run(_demo(args, store, draw))
    except KeyboardInterrupt:
        print("aios3 demo: interrupted; what it made was removed", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            import traceback

            traceback.print_exception(exc, file=sys.stderr)
        print(f"aios3 demo: error: {_message(exc)}", file=sys.stderr)
        return exit_code(exc, "demo")
    return 0
