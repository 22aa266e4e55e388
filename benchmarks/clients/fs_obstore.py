"""obstore's fsspec adapter (``obstore.fsspec.FsspecStore``, tools venv) through the
fsspec API. It has fewer knobs: no block size or cache type for ``open`` (its reader
buffers ``buffer_size``, 1 MiB by default, the size of a random read), and none for
put/get (``put_file`` is obstore's ``put_async`` of the path with its own part size
and concurrency; ``get_file`` reads the whole object into memory, then writes it)."""

from __future__ import annotations

import _common as c
import _fs_common
import obstore
from obstore.fsspec import FsspecStore


def filesystem(spec: c.Spec) -> FsspecStore:
    fs = FsspecStore(
        "s3",
        config={
            "endpoint": spec.endpoint,
            "access_key_id": spec.access_key_id,
            "secret_access_key": spec.secret_access_key,
            "region": spec.region,
            "virtual_hosted_style_request": False,
        },
        client_options={"allow_http": spec.endpoint.startswith("http://")},
        skip_instance_cache=True,
    )
    fs._construct_store(spec.bucket)  # its store (client) for the bucket, before the clock
    return fs


if __name__ == "__main__":
    _fs_common.main(obstore.__version__, filesystem, random_open_kw={"buffer_size": c.MiB})
