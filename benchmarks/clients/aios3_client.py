"""aios3 itself: upload / download / stream upload from an async generator / small ops."""

from __future__ import annotations

import asyncio
import dataclasses
import os

import _common as c

import aios3


def config(spec: c.Spec, pool: int) -> aios3.Config:
    kwargs = dict(
        endpoint=spec.endpoint,
        access_key_id=spec.access_key_id,
        secret_access_key=spec.secret_access_key,
        region=spec.region,
        max_pool_connections=pool,
    )
    if os.environ.get("AIOS3_SIGN_PAYLOAD") == "0":  # the aios3-unsigned variant
        kwargs["sign_payload"] = False
    if spec.https:
        kwargs["tls"] = True
        if spec.ca_bundle:
            names = {f.name for f in dataclasses.fields(aios3.Config)}
            if "ca_bundle" not in names:
                raise c.Skip("aios3.Config has no ca_bundle option yet: https not measured")
            kwargs["ca_bundle"] = spec.ca_bundle
    return aios3.Config(**kwargs)


class Progress:
    """The aios3-progress variant's callback: what a program showing a bar does, cheaply."""

    def __init__(self) -> None:
        self.events = 0
        self.done = 0

    def __call__(self, event: aios3.Progress) -> None:
        self.events += 1
        self.done = event.bytes_done


async def run(spec: c.Spec, result: c.Result) -> None:
    w = spec.workload
    # the aios3-progress variant: progress= on the file transfers (its cost is the ratio)
    progress = Progress() if os.environ.get("AIOS3_PROGRESS") == "1" else None
    transfer = aios3.TransferConfig(part_size=spec.part_size, concurrency=spec.part_concurrency)
    if w == "small":
        pool = spec.concurrency
    else:
        pool = spec.part_concurrency * max(1, len(spec.get("files") or []))
    async with aios3.connect(
        config(spec, pool), default_bucket=spec.bucket, transfer=transfer
    ) as s3:
        if w == "upload":
            with result.phase("upload", nbytes=spec.size):
                await s3.upload(spec.key, spec.src, progress=progress)
        elif w == "download":
            with result.phase("download", nbytes=spec.size):
                await s3.download(spec.key, spec.dest, progress=progress)
        elif w == "stream_upload":
            stdin = c.CountingStdin()
            with result.phase("stream_upload") as ph:
                await s3.upload(spec.key, stdin.chunks(), progress=progress)
                ph["bytes"] = stdin.count
        elif w == "multi_upload":
            with result.phase("multi_upload", nbytes=spec.size):
                await asyncio.gather(
                    *(s3.upload(k, f) for f, k in zip(spec.files, spec.object_keys, strict=True))
                )
        elif w == "small":
            await run_small(s3, spec, result)
        else:
            raise ValueError(w)


async def run_small(s3, spec: c.Spec, result: c.Result) -> None:
    keys = c.small_keys(spec)
    payload = c.small_payload(spec)
    n, lim = len(keys), spec.concurrency
    with result.phase("small_put", ops=n):
        await c.gather_limited(lim, lambda k: s3.upload(k, payload), keys)
    with result.phase("small_get", ops=n):
        await c.gather_limited(lim, s3.get_bytes, keys)
    # head / list / delete_many landed after upload and download: tolerate their absence.
    if hasattr(s3, "head"):
        with result.phase("small_head", ops=n):
            await c.gather_limited(lim, s3.head, keys)
    else:
        result.skip("small_head", "this aios3 has no S3.head")
    if hasattr(s3, "list"):
        with result.phase("small_list", ops=n) as ph:
            found = 0
            async for _ in s3.list(spec.prefix):
                found += 1
            ph["ops"] = found
    else:
        result.skip("small_list", "this aios3 has no S3.list")
    if hasattr(s3, "delete_many"):
        with result.phase("small_delete", ops=n):
            await s3.delete_many(keys)
    else:
        result.skip("small_delete", "this aios3 has no S3.delete_many")


if __name__ == "__main__":
    c.main(getattr(aios3, "__version__", "dev"), run)
