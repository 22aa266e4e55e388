"""The file side alone, no S3: what this machine charged, in the same run, for the
local half of a transfer. ``upload`` reads the source file through, a part at a time,
as an upload reads it; ``download`` copies the source file into the new target, written
in runs of 256 KiB (the cheapest write size into this VM's page cache, and aios3's).
A floor to read the clients' CPU against, not a peer: no network, no hashing."""

from __future__ import annotations

import platform

import _common as c

WRITE_RUN = 256 * 1024


def run(spec: c.Spec, result: c.Result) -> None:
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
    else:
        raise c.Skip("the local floor is measured for the upload and download only")


if __name__ == "__main__":
    c.main(f"Python {platform.python_version()}", run)
