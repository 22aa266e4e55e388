"""aios3.dask: folder transfers sharded over a real Dask cluster (a LocalCluster of two
worker processes), against both servers: results gathered, failures kept, and a second
run skipping what the first one did."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import aios3
import aios3.dask
from aios3.testing import Server


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.fixture
async def bucket(s3: aios3.S3) -> str:
    assert s3.config.default_bucket
    return s3.config.default_bucket


def _config(server: Server) -> aios3.Config:
    return server.config()


async def test_copy_prefix_over_the_cluster_then_again(
    s3: aios3.S3, bucket: str, server: Server, dask_client: Any
) -> None:
    import asyncio

    names = [f"src/{i:03d}.txt" for i in range(40)] + ["src/deep/big.bin"]
    for name in names[:-1]:
        await s3.upload(name, name.encode())
    await s3.upload("src/deep/big.bin", b"B" * (6 * aios3.MiB))
    run = lambda: aios3.dask.copy_prefix(  # noqa: E731
        f"s3://{bucket}/src", f"s3://{bucket}/dst", config=_config(server), client=dask_client
    )
    first = await asyncio.to_thread(run)
    assert first.ok and first.copied == 41 and first.unchanged == 0
    # Shards of about equal weight (the 6 MiB object weighs as much as 24 small ones),
    # at most 4 per worker; both workers took some.
    assert 2 <= first.shards <= 8 and len(first.workers) == 2
    assert sum(first.workers.values()) == first.shards
    assert first.bytes == sum(len(n) for n in names[:-1]) + 6 * aios3.MiB
    copied = sorted([i.key async for i in s3.list("dst/") if isinstance(i, aios3.ObjectInfo)])
    assert copied == sorted(n.replace("src/", "dst/") for n in names)
    assert await s3.get_bytes("dst/017.txt") == b"src/017.txt"
    second = await asyncio.to_thread(run)  # restart: everything is there already
    assert second.ok and second.copied == 0 and second.unchanged == 41


async def test_upload_and_download_dirs_resume_after_failures(
    s3: aios3.S3, bucket: str, server: Server, dask_client: Any, tmp_path: Path
) -> None:
    import asyncio

    src = tmp_path / "src"
    for i in range(12):
        (src / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 3}" / f"f{i}.txt").write_bytes(f"file {i}".encode())
    config = _config(server)
    up = await asyncio.to_thread(
        aios3.dask.upload_dir, src, f"s3://{bucket}/up", config=config, client=dask_client
    )
    assert up.ok and up.copied == 12
    assert await s3.get_bytes("up/d1/f4.txt") == b"file 4"

    out = tmp_path / "out"
    (out / "d2" / "f5.txt").mkdir(parents=True)  # a folder where a file must go: fails
    down = await asyncio.to_thread(
        aios3.dask.download_dir, f"s3://{bucket}/up", out, config=config, client=dask_client
    )
    assert down.copied == 11 and len(down.failed) == 1
    assert down.failed[0].source == f"s3://{bucket}/up/d2/f5.txt"
    assert isinstance(down.failed[0].error, Exception)
    with pytest.raises(aios3.S3Error, match="1 files failed"):
        down.raise_for_failures()
    assert (out / "d0" / "f3.txt").read_bytes() == b"file 3"

    os.rmdir(out / "d2" / "f5.txt")
    again = await asyncio.to_thread(
        aios3.dask.download_dir, f"s3://{bucket}/up", out, config=config, client=dask_client
    )
    assert again.ok and again.copied == 1 and again.bytes == len(b"file 5")
    assert again.unchanged == 11
    assert (out / "d2" / "f5.txt").read_bytes() == b"file 5"
    up_again = await asyncio.to_thread(
        aios3.dask.upload_dir, src, f"s3://{bucket}/up", config=config, client=dask_client
    )
    assert up_again.copied == 0 and up_again.unchanged == 12


async def test_a_missing_source_is_refused_before_any_task(
    s3: aios3.S3, bucket: str, server: Server, dask_client: Any, tmp_path: Path
) -> None:
    import asyncio

    with pytest.raises(aios3.SourceNotFound):
        await asyncio.to_thread(
            aios3.dask.copy_prefix,
            f"s3://{bucket}/nothing",
            f"s3://{bucket}/dst",
            config=_config(server),
            client=dask_client,
        )
    with pytest.raises(aios3.SourceNotFound):
        await asyncio.to_thread(
            aios3.dask.upload_dir,
            tmp_path / "absent",
            f"s3://{bucket}/dst",
            config=_config(server),
            client=dask_client,
        )
    assert [i async for i in s3.list("dst/")] == []
