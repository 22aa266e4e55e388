"""obstore (Rust object_store): put_async / get_async; the stream upload passes an
async iterator to put_async."""

from __future__ import annotations

import asyncio
from pathlib import Path

import _common as c
import obstore as obs
from obstore.store import S3Store


def store(spec: c.Spec, **options) -> S3Store:
    options["allow_http"] = not spec.https
    return S3Store(
        spec.bucket,
        endpoint=spec.endpoint,
        access_key_id=spec.access_key_id,
        secret_access_key=spec.secret_access_key,
        region=spec.region,
        virtual_hosted_style_request=False,
        client_options=options,
    )


async def verified_store(spec: c.Spec, result: c.Result) -> S3Store:
    """The store; over https it trusts ``ca_bundle``. rustls refuses a self-signed
    certificate marked CA:TRUE as a server certificate (CaUsedAsEndEntity), which some
    test servers use: then verification is turned off, and the run says so."""
    if not (spec.https and spec.ca_bundle):
        return store(spec)
    with open(spec.ca_bundle, "rb") as f:
        s = store(spec, root_certificate=f.read())
    try:
        await obs.head_async(s, "bench-probe-does-not-exist")
    except FileNotFoundError:
        return s
    except Exception as exc:
        if "CaUsedAsEndEntity" not in str(exc):
            raise
        result.notes.append(
            "obstore: TLS verification off (rustls rejects the server's self-signed "
            "certificate: CaUsedAsEndEntity)"
        )
        return store(spec, allow_invalid_certificates=True)
    return s


async def run(spec: c.Spec, result: c.Result) -> None:
    s = await verified_store(spec, result)
    kw = {"chunk_size": spec.part_size, "max_concurrency": spec.part_concurrency}
    w = spec.workload
    if w == "upload":
        with result.phase("upload", nbytes=spec.size):
            await obs.put_async(s, spec.key, Path(spec.src), **kw)
    elif w == "download":
        with result.phase("download", nbytes=spec.size):
            resp = await obs.get_async(s, spec.key)
            with open(spec.dest, "wb") as f:
                async for chunk in resp.stream(min_chunk_size=c.MiB):
                    f.write(chunk)
    elif w == "stream_upload":
        stdin = c.CountingStdin()
        with result.phase("stream_upload") as ph:
            await obs.put_async(s, spec.key, stdin.chunks(), **kw)
            ph["bytes"] = stdin.count
    elif w == "multi_upload":
        with result.phase("multi_upload", nbytes=spec.size):
            await asyncio.gather(
                *(
                    obs.put_async(s, k, Path(f), **kw)
                    for f, k in zip(spec.files, spec.object_keys, strict=True)
                )
            )
    elif w == "small":
        await run_small(s, spec, result)
    else:
        raise ValueError(w)


async def run_small(s: S3Store, spec: c.Spec, result: c.Result) -> None:
    keys = c.small_keys(spec)
    payload = c.small_payload(spec)
    n, lim = len(keys), spec.concurrency

    async def get(k: str) -> bytes:
        resp = await obs.get_async(s, k)
        return await resp.bytes_async()

    with result.phase("small_put", ops=n):
        await c.gather_limited(lim, lambda k: obs.put_async(s, k, payload), keys)
    with result.phase("small_get", ops=n):
        await c.gather_limited(lim, get, keys)
    with result.phase("small_head", ops=n):
        await c.gather_limited(lim, lambda k: obs.head_async(s, k), keys)
    with result.phase("small_list", ops=n) as ph:
        found = 0
        async for batch in obs.list(s, prefix=spec.prefix):
            found += len(batch)
        ph["ops"] = found
    with result.phase("small_delete", ops=n):
        await obs.delete_async(s, keys)


if __name__ == "__main__":
    c.main(obs.__version__, run)
