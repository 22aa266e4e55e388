"""s3fs through the fsspec API (its own venv: it pins aiobotocore), configured like
fs_aios3.py: same pool, path style, block size, part size (``chunksize``) and
``max_concurrency``."""

from __future__ import annotations

import _common as c
import _fs_common
import s3fs


def filesystem(spec: c.Spec) -> s3fs.S3FileSystem:
    fs = s3fs.S3FileSystem(
        key=spec.access_key_id,
        secret=spec.secret_access_key,
        endpoint_url=spec.endpoint,
        client_kwargs={"region_name": spec.region},
        config_kwargs={"max_pool_connections": spec.pool, "s3": {"addressing_style": "path"}},
        max_concurrency=spec.part_concurrency,
        default_block_size=spec.block_size,
        skip_instance_cache=True,
        use_listings_cache=False,
    )
    fs.connect()  # its aiobotocore client, before the clock starts
    return fs


if __name__ == "__main__":
    spec = c.load_spec()
    _fs_common.main(
        s3fs.__version__,
        filesystem,
        transfer_kw={"chunksize": spec.part_size},
        random_open_kw={"block_size": c.MiB, "cache_type": "none"},
    )
