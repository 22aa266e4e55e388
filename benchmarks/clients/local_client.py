"""The local side alone, no S3: what this machine charged, in the same run, for what
no client can skip. ``upload`` reads the source file through, a part at a time, as an
upload reads it; ``download`` copies the source file into the new target, written in
runs of 256 KiB (the cheapest write size into this VM's page cache, and aios3's): no
network, no hashing. ``stream_upload`` is a signed stream's floor: it takes the same
chunks every client is handed (the harness's async generator over standard input),
SHA-256s them (what a signed body costs over http) and sends each, as it is, to a
loopback socket that a child process reads and throws away (its CPU is not counted):
no part buffers, no copy, no HTTP, no checksum. A floor to read the clients' CPU
against, not a peer."""

from __future__ import annotations

import hashlib
import platform
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import _common as c

WRITE_RUN = 256 * 1024


def run(spec: c.Spec, result: c.Result) -> Any:
    w = spec.workload
    buffer = bytearray(spec.part_size)
    view = memoryview(buffer)
    if w == "upload":
        with result.phase("upload", nbytes=spec.size), open(spec.src, "rb", buffering=0) as f:
            while f.readinto(buffer):
                pass
    elif w == "download":
        source = open(spec.src, "rb", buffering=0)  # noqa: SIM115 - closed by the with
        with result.phase("download", nbytes=spec.size), source, open(spec.dest, "wb") as out:
            while n := source.readinto(buffer):
                for start in range(0, n, WRITE_RUN):
                    out.write(view[start : min(start + WRITE_RUN, n)])
    elif w == "stream_upload":
        return stream_floor(result)
    else:
        raise c.Skip("the local floor is measured for uploads, downloads and the stream")


async def stream_floor(result: c.Result) -> None:
    stdin = c.CountingStdin()
    with _sink() as sock, result.phase("stream_upload") as ph:
        digest = hashlib.sha256()
        async for chunk in stdin.chunks():
            digest.update(chunk)
            sock.sendall(chunk)
        ph["bytes"] = stdin.count


@contextmanager
def _sink() -> Iterator[socket.socket]:
    """A loopback connection whose far end, a child process, reads and discards."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        drain = (
            "import socket\n"
            f"s = socket.create_connection(('127.0.0.1', {port}))\n"
            "b = bytearray(1 << 20)\n"
            "while s.recv_into(b): pass\n"
        )
        child = subprocess.Popen([sys.executable, "-c", drain])
        try:
            sock, _ = server.accept()
            with sock:
                yield sock
        finally:
            child.wait(timeout=60)


if __name__ == "__main__":
    c.main(f"Python {platform.python_version()}", run)
