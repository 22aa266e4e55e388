"""aios3.fs.S3FileSystem through the fsspec API, given s3fs's storage options (the same
ones fs_s3fs.py passes) plus its own part size, concurrency and block size. Its aios3
client (otherwise made on first use) is made before the clock starts, as s3fs's session
is in fs_s3fs.py and the clients are in run.py's scripts."""

from __future__ import annotations

import _common as c
import _fs_common
from fsspec.asyn import sync

import aios3
from aios3.fs import S3FileSystem


def filesystem(spec: c.Spec) -> S3FileSystem:
    fs = S3FileSystem(
        key=spec.access_key_id,
        secret=spec.secret_access_key,
        endpoint_url=spec.endpoint,
        client_kwargs={"region_name": spec.region},
        config_kwargs={"max_pool_connections": spec.pool, "s3": {"addressing_style": "path"}},
        transfer={"part_size": spec.part_size},
        max_concurrency=spec.part_concurrency,
        default_block_size=spec.block_size,
        skip_instance_cache=True,
        use_listings_cache=False,
    )
    sync(fs.loop, fs.set_session)  # the client is built before the clock starts
    return fs


if __name__ == "__main__":
    _fs_common.main(
        getattr(aios3, "__version__", "dev"),
        filesystem,
        random_open_kw={"block_size": c.MiB, "cache_type": "none"},
    )
