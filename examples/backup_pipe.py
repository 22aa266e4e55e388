"""Stream a command's output into S3 without holding it in memory, like
`pg_dump | aws s3 cp - s3://bucket/key`, then restore it by streaming it out.

    python examples/backup_pipe.py                  # embedded moto server, a demo command
    python examples/backup_pipe.py --endpoint URL --bucket B -- pg_dump mydb
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import sys

import aios3


async def backup(s3: aios3.S3, key: str, command: list[str]) -> aios3.ObjectInfo:
    proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        # The pipe has no known length: aios3 cuts parts as they fill, growing them if the
        # stream turns out huge, and aborts the upload if anything fails.
        info = await s3.upload(key, proc.stdout, content_type="application/octet-stream")
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    if await proc.wait() != 0:
        await s3.client.delete_object(Bucket=info.bucket, Key=info.key)
        raise SystemExit(f"{command[0]} failed with exit code {proc.returncode}")
    return info


DEMO = [
    sys.executable,
    "-c",
    "import hashlib,sys\n"
    "for i in range(40):\n"
    "    sys.stdout.buffer.write(hashlib.sha512(str(i).encode()).digest() * 16384)",
]


async def main(args: argparse.Namespace) -> None:
    command = args.command or DEMO
    with contextlib.ExitStack() as stack:
        if args.endpoint:
            config = aios3.Config(endpoint=args.endpoint)
        else:
            from aios3.testing import moto_server

            config = stack.enter_context(moto_server()).config()
        async with aios3.connect(config, default_bucket=args.bucket) as s3:
            with contextlib.suppress(aios3.Conflict):
                await s3.client.create_bucket(Bucket=args.bucket)
            info = await backup(s3, args.key, command)
            print(
                f"backed up {info.size} bytes in {info.parts or 1} part(s) to s3://{args.bucket}/{args.key}"
            )
            digest = hashlib.sha256()
            async with s3.stream(args.key) as body:
                async for chunk in body:
                    digest.update(chunk)
            if not args.command:
                expected = hashlib.sha256()
                for i in range(40):
                    expected.update(hashlib.sha512(str(i).encode()).digest() * 16384)
                assert digest.digest() == expected.digest()
                print("verified: the restored stream matches the command's output")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="stream a command's output into S3")
    parser.add_argument("--endpoint")
    parser.add_argument("--bucket", default="aios3-backups")
    parser.add_argument("--key", default="backups/demo.dump")
    parser.add_argument("command", nargs="*", help="the command whose stdout to store")
    asyncio.run(main(parser.parse_args()))
