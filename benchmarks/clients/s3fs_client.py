"""s3fs (its own venv: it pins aiobotocore): the async API (_put_file / _get_file with
``chunksize`` and ``max_concurrency``); the stream upload writes stdin into
``S3FileSystem.open(..., "wb")``, s3fs's way to write a stream of unknown length."""

from __future__ import annotations

import asyncio
import shutil
import sys

import _common as c
import s3fs


def filesystem(spec: c.Spec, pool: int, *, asynchronous: bool) -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(
        key=spec.access_key_id,
        secret=spec.secret_access_key,
        endpoint_url=spec.endpoint,
        client_kwargs={
            "region_name": spec.region,
            "verify": spec.ca_bundle if spec.https else None,
        },
        config_kwargs={"max_pool_connections": pool, "s3": {"addressing_style": "path"}},
        asynchronous=asynchronous,
        skip_instance_cache=True,
        use_listings_cache=False,
    )


async def run(spec: c.Spec, result: c.Result) -> None:
    w = spec.workload
    files = spec.get("files") or [None]
    pool = spec.concurrency if w == "small" else spec.part_concurrency * len(files)
    fs = filesystem(spec, pool, asynchronous=True)
    session = await fs.set_session()
    kw = {"chunksize": spec.part_size, "max_concurrency": spec.part_concurrency}
    try:
        if w == "upload":
            with result.phase("upload", nbytes=spec.size):
                await fs._put_file(spec.src, f"{spec.bucket}/{spec.key}", **kw)
        elif w == "download":
            with result.phase("download", nbytes=spec.size):
                await fs._get_file(f"{spec.bucket}/{spec.key}", spec.dest, **kw)
        elif w == "multi_upload":
            with result.phase("multi_upload", nbytes=spec.size):
                await asyncio.gather(
                    *(
                        fs._put_file(f, f"{spec.bucket}/{k}", **kw)
                        for f, k in zip(spec.files, spec.object_keys, strict=True)
                    )
                )
        elif w == "small":
            await run_small(fs, spec, result)
        else:
            raise ValueError(w)
    finally:
        await session.close()


def stream_upload(spec: c.Spec, result: c.Result) -> None:
    fs = filesystem(spec, spec.part_concurrency, asynchronous=False)
    with result.phase("stream_upload") as ph:
        with fs.open(f"{spec.bucket}/{spec.key}", "wb", block_size=spec.part_size) as f:
            shutil.copyfileobj(sys.stdin.buffer, f, c.MiB)
        ph["bytes"] = f.loc


async def run_small(fs: s3fs.S3FileSystem, spec: c.Spec, result: c.Result) -> None:
    keys = c.small_keys(spec)
    payload = c.small_payload(spec)
    paths = [f"{spec.bucket}/{k}" for k in keys]
    n, lim = len(keys), spec.concurrency
    with result.phase("small_put", ops=n):
        await c.gather_limited(lim, lambda p: fs._pipe_file(p, payload), paths)
    with result.phase("small_get", ops=n):
        await c.gather_limited(lim, fs._cat_file, paths)
    with result.phase("small_head", ops=n):
        await c.gather_limited(lim, fs._info, paths)
    with result.phase("small_list", ops=n) as ph:
        prefix = f"{spec.bucket}/{spec.prefix}".rstrip("/")
        ph["ops"] = len(await fs._find(prefix))
    with result.phase("small_delete", ops=n):
        await fs._rm(paths)


def dispatch(spec: c.Spec, result: c.Result):
    if spec.workload == "stream_upload":
        return stream_upload(spec, result)
    return run(spec, result)


if __name__ == "__main__":
    c.main(s3fs.__version__, dispatch)
