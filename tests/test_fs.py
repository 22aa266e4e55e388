"""aios3.fs, the fsspec filesystem: fsspec's own abstract test suite, then what pandas,
pyarrow and Dask do with it, then the behaviour this module promises (ETag-pinned
reads, aborted writes, one client per loop, clean shutdown), on both servers."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import fsspec.tests.abstract as abstract
import pytest
from faultproxy import FaultProxy
from fsspec.asyn import get_loop
from test_roundtrip import blob

import aios3
from aios3 import SSECustomerKey
from aios3.fs import S3FileSystem
from aios3.testing import Server


def storage_options(server: Server) -> dict[str, Any]:
    """How a user names the server: s3fs's spellings, as pandas users pass them."""
    return {
        "endpoint_url": server.endpoint,
        "key": server.access_key_id,
        "secret": server.secret_access_key,
        "client_kwargs": {"region_name": server.region},
    }


def on_fs_loop(fs: S3FileSystem, make: Any) -> Any:
    """Run ``make(s3)`` (a coroutine) on the filesystem's loop with its own client."""

    async def run() -> Any:
        return await make(await fs.set_session())

    return asyncio.run_coroutine_threadsafe(run(), fs.loop).result(60)


@pytest.fixture(scope="module")
def shared_fs(server: Server) -> Iterator[S3FileSystem]:
    fs = S3FileSystem(skip_instance_cache=True, **storage_options(server))
    yield fs
    fs.close()


@pytest.fixture(scope="module")
def fs_bucket(shared_fs: S3FileSystem) -> Iterator[str]:
    bucket = f"fs-{uuid.uuid4().hex[:12]}"
    shared_fs.mkdir(bucket)
    yield bucket
    shared_fs.rm(bucket, recursive=True)  # objects, markers, then the bucket
    assert not shared_fs.exists(bucket)


@pytest.fixture
def fs_root(shared_fs: S3FileSystem, fs_bucket: str) -> Iterator[str]:
    """A fresh folder of the module's bucket; after the test, no upload is left open."""
    root = f"{fs_bucket}/{uuid.uuid4().hex[:8]}"
    yield root

    async def uploads(s3: aios3.S3) -> list[Any]:
        return [u async for u in s3.list_multipart_uploads(root.split("/", 1)[1], bucket=fs_bucket)]

    assert on_fs_loop(shared_fs, uploads) == [], "a multipart upload was left open"


@pytest.fixture(autouse=True)
def _fsspec_loop_idle() -> Iterator[None]:
    """Fail a test that leaves tasks running on fsspec's IO loop (where every
    synchronous call runs)."""
    yield

    async def pending() -> list[asyncio.Task[Any]]:
        for _ in range(3):
            await asyncio.sleep(0)
        me = asyncio.current_task()
        return [t for t in asyncio.all_tasks() if t is not me and not t.done()]

    left = asyncio.run_coroutine_threadsafe(pending(), get_loop()).result(30)
    assert not left, f"tasks left running on fsspec's loop: {left}"


# ------------------------------------------------------------ fsspec's abstract suite


class _Fixtures(abstract.AbstractFixtures):  # type: ignore[misc]
    @pytest.fixture
    def fs(self, shared_fs: S3FileSystem) -> S3FileSystem:
        return shared_fs

    @pytest.fixture
    def fs_path(self, fs_root: str) -> str:
        return fs_root

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        return True  # mkdir makes a folder marker


class TestAbstractCopy(abstract.AbstractCopyTests, _Fixtures):  # type: ignore[misc]
    pass


class TestAbstractGet(abstract.AbstractGetTests, _Fixtures):  # type: ignore[misc]
    pass


class TestAbstractPut(abstract.AbstractPutTests, _Fixtures):  # type: ignore[misc]
    pass


class TestAbstractPipe(abstract.AbstractPipeTests, _Fixtures):  # type: ignore[misc]
    pass


class TestAbstractOpen(abstract.AbstractOpenTests, _Fixtures):  # type: ignore[misc]
    pass


# ------------------------------------------------------------ pandas, pyarrow, Dask

MiB = aios3.MiB


@pytest.fixture
def cached_instances() -> Iterator[None]:
    """pandas and Dask make their filesystems through fsspec's instance cache (one per
    thread): close their clients and forget them after the test."""
    yield
    aios3.fs.close_all()
    S3FileSystem.clear_instance_cache()


def _frame() -> Any:
    import pandas as pd

    return pd.DataFrame(
        {
            "year": [2024, 2024, 2025, 2025, 2026, 2026],
            "city": ["Oslo", "Lima", "Pune", "Oslo", "Lima", "Pune"],
            "value": [1.5, 2.5, 3.5, 4.5, 5.5, 6.5],
        }
    )


def test_pandas_csv_and_parquet(server: Server, fs_root: str, cached_instances: None) -> None:
    import pandas as pd

    options = storage_options(server)
    df = _frame()
    df.to_csv(f"aios3://{fs_root}/t.csv", index=False, storage_options=options)
    df.to_parquet(f"aios3://{fs_root}/t.parquet", storage_options=options)
    back_csv = pd.read_csv(f"aios3://{fs_root}/t.csv", storage_options=options)
    back_pq = pd.read_parquet(f"aios3://{fs_root}/t.parquet", storage_options=options)
    pd.testing.assert_frame_equal(back_csv, df)
    pd.testing.assert_frame_equal(back_pq, df)


def test_pyarrow_dataset_over_a_partitioned_prefix(shared_fs: S3FileSystem, fs_root: str) -> None:
    import pyarrow as pa
    import pyarrow.dataset as ds
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    pafs = PyFileSystem(FSSpecHandler(shared_fs))
    table = pa.Table.from_pandas(_frame(), preserve_index=False)
    base = f"{fs_root}/dataset"
    ds.write_dataset(
        table,
        base,
        filesystem=pafs,
        format="parquet",
        partitioning=["year"],
        partitioning_flavor="hive",
    )
    assert sorted(shared_fs.ls(base, detail=False)) == [
        f"{base}/year=2024",
        f"{base}/year=2025",
        f"{base}/year=2026",
    ]
    dataset = ds.dataset(base, filesystem=pafs, format="parquet", partitioning="hive")
    assert len(dataset.files) == 3
    got = dataset.to_table().to_pandas().sort_values("value").reset_index(drop=True)
    want = _frame()
    assert got["value"].tolist() == want["value"].tolist()
    assert got["city"].tolist() == want["city"].tolist()
    assert [int(y) for y in got["year"]] == want["year"].tolist()
    only = dataset.to_table(filter=ds.field("year") == 2025).to_pandas()
    assert sorted(only["city"]) == ["Oslo", "Pune"]


@pytest.mark.filterwarnings(
    # dask's own call into pandas 3.1, not ours
    "ignore:The inplace keyword:pandas.errors.Pandas4Warning:dask"
)
def test_dask_parquet_dataset_and_text(
    server: Server, fs_root: str, cached_instances: None
) -> None:
    import dask.bag as db
    import dask.dataframe as dd
    import pandas as pd

    options = storage_options(server)
    url = f"aios3://{fs_root}/dask"
    ddf = dd.from_pandas(_frame(), npartitions=3)
    ddf.to_parquet(url, storage_options=options, partition_on=["year"], write_index=False)
    back = dd.read_parquet(url, storage_options=options).compute()
    back = back.sort_values("value").reset_index(drop=True)
    assert back["value"].tolist() == _frame()["value"].tolist()
    assert sorted({int(y) for y in back["year"]}) == [2024, 2025, 2026]

    fs = S3FileSystem(skip_instance_cache=True, **options)
    try:
        for i in range(3):
            fs.pipe(
                f"{fs_root}/text/part-{i}.txt", "".join(f"{i}-{n}\n" for n in range(4)).encode()
            )
    finally:
        fs.close()
    lines = db.read_text(f"aios3://{fs_root}/text/*.txt", storage_options=options).compute()
    assert sorted(line.strip() for line in lines) == sorted(
        f"{i}-{n}" for i in range(3) for n in range(4)
    )
    assert isinstance(back, pd.DataFrame)


# ------------------------------------------------------------------ registration


def test_entry_point_and_storage_option_spellings(server: Server, fs_root: str) -> None:
    import fsspec

    assert fsspec.get_filesystem_class("aios3") is S3FileSystem  # via the entry point
    aios3_names = {
        "endpoint": server.endpoint,
        "access_key_id": server.access_key_id,
        "secret_access_key": server.secret_access_key,
        "region": server.region,
    }
    for options in (storage_options(server), aios3_names):
        fs = fsspec.filesystem("aios3", skip_instance_cache=True, **options)
        try:
            assert isinstance(fs, S3FileSystem)
            assert fs.config.endpoint == server.endpoint
            assert fs.config.access_key_id == server.access_key_id
            assert fs.config.region == server.region
            fs.pipe(f"{fs_root}/o.txt", b"spelled")
            with fsspec.open(f"aios3://{fs_root}/o.txt", "rb", **options) as f:
                assert f.read() == b"spelled"
        finally:
            fs.close()
    S3FileSystem.clear_instance_cache()


def test_bad_storage_options_are_refused() -> None:
    with pytest.raises(TypeError, match="unknown options"):
        S3FileSystem(skip_instance_cache=True, endpont="http://127.0.0.1:1")
    with pytest.raises(TypeError, match="contradicts"):
        S3FileSystem(skip_instance_cache=True, key="a", secret="b", access_key_id="c")
    with pytest.raises(TypeError, match="client_kwargs"):
        S3FileSystem(skip_instance_cache=True, client_kwargs={"proxies": {}})
    fs = S3FileSystem(
        skip_instance_cache=True,
        endpoint_url="127.0.0.1:9",
        use_ssl=False,
        anon=True,
        config_kwargs={"connect_timeout": 3, "retries": {"max_attempts": 2}},
        transfer={"part_size": 5 * MiB},
        max_concurrency=3,
    )
    assert fs.config.endpoint_url() == "http://127.0.0.1:9"
    assert fs.config.anonymous and fs.config.connect_timeout == 3 and fs.config.max_attempts == 3
    assert fs.transfer.part_size == 5 * MiB and fs.transfer.concurrency == 3


def test_s3_additional_kwargs_are_checked_when_the_filesystem_is_made() -> None:
    """s3fs's s3_additional_kwargs, botocore's names: an unknown one is a TypeError, a
    bad value aios3's InvalidRequest, at construction (so before any request)."""
    raw = os.urandom(32)

    def make(extra: dict[str, Any], **options: Any) -> S3FileSystem:
        return S3FileSystem(
            skip_instance_cache=True,
            endpoint_url="http://127.0.0.1:9",
            anon=True,
            s3_additional_kwargs=extra,
            **options,
        )

    with pytest.raises(TypeError, match=r"s3_additional_kwargs: \['Foo'\] are not supported"):
        make({"Foo": 1})
    with pytest.raises(TypeError, match="object_lock"):
        make({"ObjectLockMode": "GOVERNANCE"})
    with pytest.raises(TypeError, match="contradicts"):
        make({"RequestPayer": "requester"}, request_payer=False)
    with pytest.raises(TypeError, match="mapping"):
        make("ServerSideEncryption=AES256")  # type: ignore[arg-type]
    refused: list[tuple[dict[str, Any], str]] = [
        ({"ServerSideEncryption": "aws:none"}, "choose one of"),
        ({"SSECustomerKey": "short"}, "32 bytes"),
        ({"SSECustomerKey": raw, "SSECustomerAlgorithm": "AES128"}, "AES256"),
        ({"SSECustomerKey": raw, "SSECustomerKeyMD5": "bm90IGl0"}, "not the MD5"),
        ({"SSECustomerAlgorithm": "AES256"}, "need SSECustomerKey"),
        ({"SSECustomerKey": raw, "ServerSideEncryption": "AES256"}, "two encryptions"),
        ({"Tagging": "team"}, "URL-encoded"),
        ({"Tagging": "aws:owner=me"}, "reserved"),
        ({"ACL": "everyone"}, "canned ACL"),
        ({"RequestPayer": "someone"}, "requester"),
        ({"ExpectedBucketOwner": "me"}, "12-digit"),
        ({"SSEKMSEncryptionContext": "not base64 json"}, "base64-encoded JSON"),
    ]
    for extra, message in refused:
        with pytest.raises((aios3.InvalidRequest, aios3.ConfigError), match=message):
            make(extra)
    context = base64.b64encode(json.dumps({"app": "x"}).encode()).decode()
    fs = make(
        {
            "RequestPayer": "requester",
            "ExpectedBucketOwner": "123456789012",
            "SSEKMSKeyId": "alias/k",
            "SSEKMSEncryptionContext": context,
            "BucketKeyEnabled": True,
            "Tagging": "a=1&b=two%20words",
            "CacheControl": "no-cache",
        }
    )
    assert fs.config.request_payer is True
    assert fs.config.expected_bucket_owner == "123456789012"
    # aios3's own names work too, an SSECustomerKey included
    assert make({"sse_c": SSECustomerKey(raw), "tags": {"a": "1"}}).config.request_payer is False


@pytest.fixture
def fs_proxy(server: Server) -> Iterator[FaultProxy]:
    """The recording proxy, served on fsspec's IO loop (where synchronous calls run)."""
    parts = urlsplit(server.endpoint)
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80)
    asyncio.run_coroutine_threadsafe(proxy.start(), get_loop()).result(30)
    yield proxy
    asyncio.run_coroutine_threadsafe(proxy.close(), get_loop()).result(30)


def test_s3_additional_kwargs_sse_c_and_payer_reach_every_request(
    server: Server,
    shared_fs: S3FileSystem,
    fs_root: str,
    fs_proxy: FaultProxy,
    tmp_path: Path,
) -> None:
    raw = os.urandom(32)
    key = SSECustomerKey(raw)
    fs = S3FileSystem(
        skip_instance_cache=True,
        transfer={"part_size": 5 * MiB, "multipart_threshold": 5 * MiB},
        s3_additional_kwargs={
            "SSECustomerAlgorithm": "AES256",
            "SSECustomerKey": raw,  # the raw key, as botocore (and so s3fs) takes it
            "RequestPayer": "requester",
        },
        **{**storage_options(server), "endpoint_url": fs_proxy.url},
    )
    small, big = b"secret", blob(12 * MiB, seed=16)
    (tmp_path / "local").write_bytes(b"from disk")
    try:
        fs.pipe(f"{fs_root}/small", small)
        with fs.open(f"{fs_root}/big", "wb") as f:
            f.write(big)  # CreateMultipartUpload, 3 parts, Complete
        fs.put_file(str(tmp_path / "local"), f"{fs_root}/put")
        assert fs.info(f"{fs_root}/big")["size"] == len(big)
        assert fs.cat_file(f"{fs_root}/small") == small
        assert fs.cat_file(f"{fs_root}/put") == b"from disk"
        assert fs.cat_file(f"{fs_root}/big", start=MiB, end=MiB + 10) == big[MiB : MiB + 10]
        with fs.open(f"{fs_root}/big", "rb", block_size=4 * MiB) as f:
            f.seek(6 * MiB)
            assert f.read() == big[6 * MiB :]
        fs.get_file(f"{fs_root}/big", str(tmp_path / "big"))
        assert (tmp_path / "big").read_bytes() == big
        fs.cp_file(f"{fs_root}/small", f"{fs_root}/copy")
        assert fs.cat_file(f"{fs_root}/copy") == small
        with fs.open(f"{fs_root}/small", "ab") as f:
            f.write(b" and more")
        assert fs.cat_file(f"{fs_root}/small") == small + b" and more"
        fs.touch(f"{fs_root}/copy", truncate=False)  # a copy onto itself
        fs.mkdir(f"{fs_root}/folder")
        assert fs.isdir(f"{fs_root}/folder")
        assert sorted(fs.ls(fs_root, detail=False)) == [
            f"{fs_root}/{n}" for n in ("big", "copy", "folder", "put", "small")
        ]
        if server.name == "seaweedfs":  # moto stores SSE-C objects, never asks for the key
            with pytest.raises(ValueError, match="Customer provided keys"):
                shared_fs.cat_file(f"{fs_root}/small")  # encrypted: no key, no bytes
        fs.rm(fs_root, recursive=True)
    finally:
        fs.close()
    bucket, prefix = fs_root.split("/", 1)
    sent = list(zip(fs_proxy.log, fs_proxy.headers, strict=True))
    for (method, target), headers in sent:  # lists and deletes too
        if (method, target) == ("HEAD", f"/{bucket}"):
            continue  # HeadBucket takes no RequestPayer
        assert headers.get("x-amz-request-payer") == "requester", f"{method} {target}"
    assert len(sent) > 30
    on_objects = [
        (method, target, headers)
        for (method, target), headers in sent
        if target.startswith(f"/{bucket}/{prefix}/") and method != "DELETE"
    ]
    assert {m for m, _, _ in on_objects} == {"PUT", "POST", "HEAD", "GET"}
    for method, target, headers in on_objects:  # puts, parts, heads, gets, copies
        expected = key.params()["SSECustomerKey"]
        assert headers.get("x-amz-server-side-encryption-customer-key") == expected, (
            f"{method} {target} went without the key"
        )
    parts = [t for m, t, _ in on_objects if m == "PUT" and "/big?" in t and "partNumber=" in t]
    assert len(parts) == 3
    copies = [h for _, _, h in on_objects if "x-amz-copy-source" in h]
    assert len(copies) >= 2  # cp_file and touch
    source_key = "x-amz-copy-source-server-side-encryption-customer-key"
    assert all(h.get(source_key) == key.params()["SSECustomerKey"] for h in copies)


def test_s3_additional_kwargs_go_with_every_write(
    shared_fs: S3FileSystem, server: Server, fs_root: str
) -> None:
    fs = S3FileSystem(
        skip_instance_cache=True,
        transfer={"part_size": 5 * MiB},
        s3_additional_kwargs={
            "ServerSideEncryption": "AES256",
            "Tagging": "team=data&tier=hot%20path",
            "ContentType": "text/csv",
        },
        **storage_options(server),
    )
    try:
        fs.pipe(f"{fs_root}/small.csv", b"a,b\n")
        with fs.open(f"{fs_root}/big.csv", "wb") as f:
            f.write(blob(11 * MiB, seed=3))  # multipart
        fs.pipe(f"{fs_root}/own.json", b"{}", ContentType="application/json")  # this call's
        fs.cp_file(f"{fs_root}/small.csv", f"{fs_root}/copy.csv")
        fs.mkdir(f"{fs_root}/folder")
        written = ["small.csv", "big.csv", "own.json", "copy.csv"]
        if server.name != "seaweedfs":  # SeaweedFS keeps a marker as a bare directory
            written.append("folder/")

        async def heads(s3: aios3.S3) -> list[tuple[str | None, dict[str, str]]]:
            bucket, prefix = fs_root.split("/", 1)
            return [
                (
                    (await s3.head(f"{prefix}/{name}", bucket=bucket)).encryption,
                    await s3.get_tags(f"{prefix}/{name}", bucket=bucket),
                )
                for name in written
            ]

        for name, (encryption, tags) in zip(written, on_fs_loop(fs, heads), strict=True):
            assert encryption == "AES256", name
            assert tags == {"team": "data", "tier": "hot path"}, name
        # one write's own options, on a filesystem without any: by either spelling
        shared_fs.pipe(f"{fs_root}/one.txt", b"1", ServerSideEncryption="AES256", Tagging="x=1")
        with shared_fs.open(f"{fs_root}/two.txt", "wb", tags={"y": "2"}, sse="AES256") as f:
            f.write(b"2")
        written = ["one.txt", "two.txt"]
        assert on_fs_loop(fs, heads) == [("AES256", {"x": "1"}), ("AES256", {"y": "2"})]
        with pytest.raises(aios3.InvalidRequest, match="canned ACL"):
            shared_fs.pipe(f"{fs_root}/three.txt", b"3", ACL="everyone")
        with pytest.raises(TypeError, match="contradicts"):
            shared_fs.pipe(f"{fs_root}/three.txt", b"3", ContentType="a/b", content_type="c/d")
        assert not shared_fs.exists(f"{fs_root}/three.txt")
        assert fs.info(f"{fs_root}/small.csv")["ContentType"] == "text/csv"
        assert fs.info(f"{fs_root}/big.csv")["ContentType"] == "text/csv"
        assert fs.info(f"{fs_root}/own.json")["ContentType"] == "application/json"
    finally:
        fs.close()


def test_register_s3_takes_over_s3_urls(
    server: Server, fs_root: str, cached_instances: None
) -> None:
    import sys

    import fsspec
    import pandas as pd

    registry = sys.modules["fsspec.registry"]._registry
    saved = {p: registry.get(p) for p in ("s3", "s3a")}
    try:
        aios3.fs.register_s3()
        assert fsspec.get_filesystem_class("s3") is S3FileSystem
        assert fsspec.get_filesystem_class("s3a") is S3FileSystem
        options = storage_options(server)
        _frame().to_parquet(f"s3://{fs_root}/via-s3.parquet", storage_options=options)
        back = pd.read_parquet(f"s3a://{fs_root}/via-s3.parquet", storage_options=options)
        pd.testing.assert_frame_equal(back, _frame())
    finally:
        for protocol, cls in saved.items():
            if cls is None:
                registry.pop(protocol, None)
            else:
                registry[protocol] = cls


# --------------------------------------------------------- describing and listing


def test_info_ls_find_for_files_prefixes_and_markers(shared_fs: S3FileSystem, fs_root: str) -> None:
    fs = shared_fs
    fs.pipe(f"{fs_root}/a/one.txt", b"1")
    fs.pipe(f"{fs_root}/a/b/two.txt", b"22")
    fs.mkdir(f"{fs_root}/empty")  # a folder marker
    info = fs.info(f"{fs_root}/a/b/two.txt")
    assert info["type"] == "file" and info["size"] == 2
    assert info["name"] == f"{fs_root}/a/b/two.txt"
    assert info["ETag"].startswith('"') and info["LastModified"] == info["mtime"]
    assert fs.info(f"{fs_root}/a") == {
        "name": f"{fs_root}/a",
        "type": "directory",
        "size": 0,
        "StorageClass": "DIRECTORY",
    }
    assert fs.info(f"{fs_root}/empty/")["type"] == "directory"
    assert fs.info(fs_root.split("/")[0])["type"] == "directory"  # the bucket
    assert fs_root.split("/")[0] in fs.ls("", detail=False)  # the root: the buckets
    with pytest.raises(FileNotFoundError):
        fs.info(f"{fs_root}/nothing")
    assert fs.ls(f"{fs_root}/empty") == []  # the marker is no file
    assert fs.ls(fs_root, detail=False) == [f"{fs_root}/a", f"{fs_root}/empty"]
    assert fs.ls(f"aios3://{fs_root}/a", detail=False) == [f"{fs_root}/a/b", f"{fs_root}/a/one.txt"]
    assert fs.ls(f"{fs_root}/a/one.txt", detail=False) == [f"{fs_root}/a/one.txt"]
    with pytest.raises(FileNotFoundError):
        fs.ls(f"{fs_root}/nothing")
    assert fs.find(fs_root) == [f"{fs_root}/a/b/two.txt", f"{fs_root}/a/one.txt"]
    assert fs.find(fs_root, withdirs=True) == [
        fs_root,
        f"{fs_root}/a",
        f"{fs_root}/a/b",
        f"{fs_root}/a/b/two.txt",
        f"{fs_root}/a/one.txt",
        f"{fs_root}/empty",
    ]
    assert fs.find(fs_root, maxdepth=2) == [f"{fs_root}/a/one.txt"]
    assert fs.glob(f"{fs_root}/a/*.txt") == [f"{fs_root}/a/one.txt"]
    assert fs.glob(f"{fs_root}/**/two.*") == [f"{fs_root}/a/b/two.txt"]
    assert fs.du(fs_root) == 3 and fs.size(f"{fs_root}/a/b/two.txt") == 2
    assert fs.isdir(f"{fs_root}/a") and not fs.isfile(f"{fs_root}/a")
    assert not fs.exists("Not_A_Bucket/x")  # a name S3 cannot hold


def test_checksum_ukey_modified_follow_the_object(shared_fs: S3FileSystem, fs_root: str) -> None:
    fs = shared_fs
    path = f"{fs_root}/c.bin"
    fs.pipe(path, b"first")
    checksum, ukey, modified = fs.checksum(path), fs.ukey(path), fs.modified(path)
    assert modified.tzinfo is not None
    assert (fs.checksum(path), fs.ukey(path)) == (checksum, ukey)  # stable
    fs.pipe(path, b"second!")
    assert fs.checksum(path) != checksum and fs.ukey(path) != ukey
    assert fs.modified(path) >= modified


def test_presigned_url_reads_the_object(shared_fs: S3FileSystem, fs_root: str) -> None:
    import urllib.request

    shared_fs.pipe(f"{fs_root}/signed.txt", b"by link")
    url = shared_fs.sign(f"{fs_root}/signed.txt", expiration=60)
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert resp.read() == b"by link"


def test_put_and_get_report_progress_to_fsspec_callbacks(
    server: Server, fs_root: str, tmp_path: Any
) -> None:
    """fsspec's Callback hears of the bytes as parts are acknowledged, not only at the end."""
    from fsspec.callbacks import Callback

    class Counting(Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.updates: list[int] = []

        def call(self, *args: Any, **kwargs: Any) -> None:
            self.updates.append(self.value)

    size = 12 * MiB + 7
    local = tmp_path / "big.bin"
    local.write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
    small = {"part_size": 5 * MiB, "multipart_threshold": 5 * MiB, "download_threshold": 5 * MiB}
    fs = S3FileSystem(skip_instance_cache=True, transfer=small, **storage_options(server))
    up = Counting()
    fs.put_file(str(local), f"{fs_root}/cb.bin", callback=up)
    assert up.size == size and up.value == size
    down = Counting()
    fs.get_file(f"{fs_root}/cb.bin", str(tmp_path / "back.bin"), callback=down)
    assert down.size == size and down.value == size
    assert (tmp_path / "back.bin").read_bytes() == local.read_bytes()
    assert up.updates == sorted(up.updates) and down.updates == sorted(down.updates)
    assert len(set(up.updates)) >= 2  # during the upload, not only once at its end
    fs.close()


# -------------------------------------------------------------------------- reading


def test_random_access_reads_through_the_block_cache(shared_fs: S3FileSystem, fs_root: str) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    path = f"{fs_root}/r.bin"
    shared_fs.pipe(path, data)
    with shared_fs.open(path, "rb", block_size=256 * 1024) as f:
        assert f.cache.name == "readahead" and f.size == len(data)
        f.seek(-1000, 2)
        assert f.read() == data[-1000:]  # a "footer"
        f.seek(10)
        assert f.read(100) == data[10:110]
        buf = bytearray(50)
        assert f.readinto(buf) == 50 and bytes(buf) == data[110:160]
        misses = f.cache.miss_count
        assert f.read(1000) == data[160:1160]  # inside the read-ahead: no request
        assert f.cache.miss_count == misses and f.cache.hit_count >= 1
        f.seek(0)
        assert f.read() == data
        assert f.tell() == len(data) and f.read(10) == b""
    with shared_fs.open(path, "rb") as f:
        assert f.blocksize == 8 * MiB  # the documented default


def test_a_concurrent_overwrite_is_an_error_not_a_mix(
    shared_fs: S3FileSystem, fs_root: str
) -> None:
    path = f"{fs_root}/pinned.bin"
    shared_fs.pipe(path, b"a" * 100_000)
    with shared_fs.open(path, "rb", block_size=1000, cache_type="bytes") as f:
        assert f.read(10) == b"a" * 10
        shared_fs.pipe(path, b"b" * 100_000)
        f.seek(50_000)
        with pytest.raises(aios3.fs.FileExpired, match="changed since it was opened"):
            f.read(10)
    with shared_fs.open(path, "rb") as f:  # reopened: the new object
        assert f.read(3) == b"bbb"
    with shared_fs.open(path, "rb", block_size=1000, cache_type="none") as f:
        shared_fs.rm(path)
        with pytest.raises(FileNotFoundError):
            f.read(10)


def test_cat_file_and_cat_ranges_follow_slice_semantics(
    shared_fs: S3FileSystem, fs_root: str
) -> None:
    data = b"0123456789" * 10
    paths = [f"{fs_root}/x{i}" for i in range(3)]
    shared_fs.pipe({p: data for p in paths})
    assert shared_fs.cat_file(paths[0], 5, 15) == data[5:15]
    assert shared_fs.cat_file(paths[0], -7) == data[-7:]
    assert shared_fs.cat_file(paths[0], 10, -80) == data[10:-80]
    assert shared_fs.cat_file(paths[0], 95, 500) == data[95:]
    assert shared_fs.cat_file(paths[0], 500) == b""
    starts = [0, 10, 99, 40, None, -5]
    ends = [5, 20, None, 10, 3, None]
    got = shared_fs.cat_ranges(paths * 2, starts, ends)
    assert got == [data[s:e] for s, e in zip(starts, ends, strict=True)]
    got = shared_fs.cat_ranges([paths[0], f"{fs_root}/missing"], 0, 5)
    assert got[0] == data[:5] and isinstance(got[1], FileNotFoundError)
    with pytest.raises(FileNotFoundError):
        shared_fs.cat_file(f"{fs_root}/missing")


# -------------------------------------------------------------------------- writing


def _uploads(fs: S3FileSystem, path: str) -> list[Any]:
    bucket, key = path.split("/", 1)

    async def run(s3: aios3.S3) -> list[Any]:
        return [u async for u in s3.list_multipart_uploads(key, bucket=bucket)]

    result: list[Any] = on_fs_loop(fs, run)
    return result


def test_writes_stream_through_a_multipart_upload(shared_fs: S3FileSystem, fs_root: str) -> None:
    chunk = bytes(range(256)) * 4096  # 1 MiB
    path = f"{fs_root}/stream.bin"
    with shared_fs.open(path, "wb", block_size=5 * MiB) as f:
        for _ in range(6):
            f.write(chunk)
        assert len(_uploads(shared_fs, path)) == 1  # started once past one block
        f.write(chunk * 5)  # a big write goes straight to the upload
        assert f.tell() == 11 * MiB
    assert f.info_written is not None and f.info_written.parts == 2
    assert shared_fs.cat(path) == chunk * 11
    assert shared_fs.info(path)["ETag"].endswith('-2"')
    with shared_fs.open(f"{fs_root}/small.txt", "w") as t:  # text mode, one PutObject
        t.write("héllo\n")
    assert shared_fs.cat(f"{fs_root}/small.txt") == "héllo\n".encode()
    assert "-" not in shared_fs.info(f"{fs_root}/small.txt")["ETag"]


def test_an_error_inside_the_block_aborts_the_upload(shared_fs: S3FileSystem, fs_root: str) -> None:
    path = f"{fs_root}/failed.bin"
    with (
        pytest.raises(RuntimeError, match="producer broke"),
        shared_fs.open(path, "wb", block_size=5 * MiB) as f,
    ):
        f.write(b"x" * (6 * MiB))
        assert len(_uploads(shared_fs, path)) == 1
        raise RuntimeError("producer broke")
    assert f.closed
    assert not shared_fs.exists(path) and _uploads(shared_fs, path) == []
    small = f"{fs_root}/failed-small.bin"
    with pytest.raises(RuntimeError), shared_fs.open(small, "wb") as f:
        f.write(b"tiny")
        raise RuntimeError
    assert not shared_fs.exists(small)


def test_a_file_dropped_unclosed_stores_nothing(shared_fs: S3FileSystem, fs_root: str) -> None:
    import gc

    path = f"{fs_root}/dropped.bin"
    f = shared_fs.open(path, "wb", block_size=5 * MiB)
    f.write(b"y" * (6 * MiB))
    assert len(_uploads(shared_fs, path)) == 1
    del f
    gc.collect()
    assert _uploads(shared_fs, path) == [] and not shared_fs.exists(path)
    g = shared_fs.open(path, "wb")
    g.write(b"half")
    g.discard()
    assert g.closed and not shared_fs.exists(path)


def test_exclusive_create_and_append(shared_fs: S3FileSystem, fs_root: str) -> None:
    path = f"{fs_root}/x.txt"
    with shared_fs.open(path, "xb") as f:
        f.write(b"first")
    with pytest.raises(FileExistsError):
        shared_fs.open(path, "xb")
    late = f"{fs_root}/late.txt"
    f = shared_fs.open(late, "xb")
    f.write(b"mine")
    shared_fs.pipe(late, b"theirs")  # created meanwhile: If-None-Match refuses ours
    with pytest.raises(FileExistsError):
        f.close()
    assert shared_fs.cat(late) == b"theirs"
    with shared_fs.open(path, "ab") as f:
        assert f.tell() == 5
        f.write(b"+more")
    assert shared_fs.cat(path) == b"first+more"
    with shared_fs.open(f"{fs_root}/new.txt", "ab") as f:
        f.write(b"fresh")
    assert shared_fs.cat(f"{fs_root}/new.txt") == b"fresh"


def test_transactions_commit_at_the_end_or_not_at_all(
    shared_fs: S3FileSystem, fs_root: str
) -> None:
    big, small = f"{fs_root}/t-big.bin", f"{fs_root}/t-small.txt"
    with shared_fs.transaction:
        with shared_fs.open(big, "wb", block_size=5 * MiB) as f:
            f.write(b"z" * (6 * MiB))
        with shared_fs.open(small, "wb") as f:
            f.write(b"s")
        assert not shared_fs.exists(big) and not shared_fs.exists(small)
    assert shared_fs.size(big) == 6 * MiB and shared_fs.cat(small) == b"s"
    shared_fs.rm([big, small])
    with pytest.raises(RuntimeError), shared_fs.transaction:
        with shared_fs.open(big, "wb", block_size=5 * MiB) as f:
            f.write(b"z" * (6 * MiB))
        raise RuntimeError
    assert not shared_fs.exists(big) and _uploads(shared_fs, big) == []


def test_touch_mv_rm_rmdir_makedirs(shared_fs: S3FileSystem, fs_root: str) -> None:
    fs = shared_fs
    fs.touch(f"{fs_root}/t")
    assert fs.cat(f"{fs_root}/t") == b""
    fs.pipe(f"{fs_root}/t", b"kept")
    fs.touch(f"{fs_root}/t", truncate=False)  # a new LastModified, same bytes
    assert fs.cat(f"{fs_root}/t") == b"kept"
    fs.mv(f"{fs_root}/t", f"{fs_root}/moved")
    assert not fs.exists(f"{fs_root}/t") and fs.cat(f"{fs_root}/moved") == b"kept"
    fs.pipe({f"{fs_root}/d/1": b"1", f"{fs_root}/d/e/2": b"2"})
    fs.mv(f"{fs_root}/d", f"{fs_root}/d2", recursive=True)
    assert fs.find(f"{fs_root}/d2") == [f"{fs_root}/d2/1", f"{fs_root}/d2/e/2"]
    assert not fs.exists(f"{fs_root}/d")
    with pytest.raises(IsADirectoryError):
        fs.rm(f"{fs_root}/d2")
    with pytest.raises(OSError, match="not empty"):
        fs.rmdir(f"{fs_root}/d2")
    fs.rm(f"{fs_root}/d2", recursive=True)
    assert not fs.exists(f"{fs_root}/d2")
    fs.makedirs(f"{fs_root}/m/n")
    fs.makedirs(f"{fs_root}/m/n", exist_ok=True)
    with pytest.raises(FileExistsError):
        fs.makedirs(f"{fs_root}/m/n")
    with pytest.raises(FileExistsError):
        fs.makedirs(f"{fs_root}/moved", exist_ok=True)  # a file
    fs.rmdir(f"{fs_root}/m/n")
    assert not fs.exists(f"{fs_root}/m/n")
    with pytest.raises(FileNotFoundError):
        fs.rm(f"{fs_root}/nothing-here", recursive=True)


@pytest.fixture
def versioned(server: Server) -> Iterator[tuple[S3FileSystem, str]]:
    """A version-aware filesystem and a new bucket with versioning on."""
    fs = S3FileSystem(skip_instance_cache=True, version_aware=True, **storage_options(server))
    bucket = f"fsv-{uuid.uuid4().hex[:12]}"
    fs.mkdir(bucket)
    try:

        async def enable(s3: aios3.S3) -> None:
            await s3.set_versioning(bucket, True)

        on_fs_loop(fs, enable)
        yield fs, bucket
    finally:

        async def drop(s3: aios3.S3) -> None:
            await s3.delete_bucket(bucket, force=True)

        on_fs_loop(fs, drop)
        fs.close()


def server_versions(fs: S3FileSystem, bucket: str, prefix: str) -> list[aios3.VersionInfo]:
    """What the server holds, through aios3's own ``list_versions``."""

    async def listing(s3: aios3.S3) -> list[aios3.VersionInfo]:
        return [v async for v in s3.list_versions(prefix, bucket=bucket)]

    result: list[aios3.VersionInfo] = on_fs_loop(fs, listing)
    return result


def test_version_aware_reads_pin_the_version(versioned: tuple[S3FileSystem, str]) -> None:
    fs, bucket = versioned
    path = f"{bucket}/doc.txt"
    fs.pipe(path, b"version one")
    first = fs.info(path)["VersionId"]
    assert first
    with fs.open(path, "rb", block_size=1000, cache_type="none") as f:
        fs.pipe(path, b"version two")
        assert f.read() == b"version one"  # the version it opened, not an error
    assert fs.cat(path) == b"version two"
    assert fs.cat(f"{path}?versionId={first}") == b"version one"
    assert fs.info(f"aios3://{path}?versionId={first}")["size"] == len(b"version one")
    with fs.open(f"{path}?versionId={first}", "rb") as f:
        assert f.read() == b"version one"


def test_versions_are_listed_as_the_server_holds_them(
    versioned: tuple[S3FileSystem, str], shared_fs: S3FileSystem, fs_root: str
) -> None:
    fs, bucket = versioned
    path = f"{bucket}/d/f.bin"
    bodies = [uuid.uuid4().bytes * (20_000 + i) for i in range(3)]  # ~320 KB each
    written = []
    for body in bodies:
        fs.pipe(path, body)
        written.append(fs.info(path)["VersionId"])
    fs.pipe(f"{bucket}/d/f.bin2", b"a key f.bin is a prefix of")
    fs.pipe(f"{bucket}/d/sub/g", b"deeper")
    fs.pipe(f"{bucket}/d/gone", b"deleted later")
    fs.rm(f"{bucket}/d/gone")  # a delete marker on top of one version
    held = server_versions(fs, bucket, "d/")
    stored = [v for v in held if not v.is_delete_marker]
    assert [v.key for v in held if v.is_delete_marker] == ["d/gone"]
    assert len(stored) == 6 and len(set(written)) == 3

    # object_version_info: that key's versions only, newest first, the latest flagged
    info = fs.object_version_info(path)
    assert [v["VersionId"] for v in info] == written[::-1]
    assert [v["IsLatest"] for v in info] == [True, False, False]
    assert {v["Key"] for v in info} == {"d/f.bin"}
    assert [v["Size"] for v in info] == [len(b) for b in bodies[::-1]]

    # ls(versions=True): every stored version one level down, and the subfolder
    listed = fs.ls(f"aios3://{bucket}/d", detail=True, versions=True)
    files = [e for e in listed if e["type"] == "file"]
    assert [e["name"] for e in listed if e["type"] == "directory"] == [f"{bucket}/d/sub"]
    here = {(v.key, v.version_id, v.is_latest) for v in stored if "/sub/" not in v.key}
    assert {
        (e["name"].split("/", 1)[1].split("?")[0], e["VersionId"], e["IsLatest"]) for e in files
    } == here
    assert len(files) == len(here) == 5
    assert [e["VersionId"] for e in files if e["name"].startswith(f"{path}?")] == written[::-1]
    gone = [e for e in files if "/d/gone?" in e["name"]]
    assert len(gone) == 1 and not gone[0]["IsLatest"]  # listed though deleted
    assert fs.cat(gone[0]["name"]) == b"deleted later"  # the name opens that version
    assert fs.ls(f"{bucket}/d", detail=False) == [
        f"{bucket}/d/f.bin",
        f"{bucket}/d/f.bin2",
        f"{bucket}/d/sub",
    ]  # without versions: the latest of what is not deleted

    # one file's versions, and one version named in the path
    assert [e["VersionId"] for e in fs.ls(path, detail=True, versions=True)] == written[::-1]
    one = fs.ls(f"{path}?versionId={written[0]}", detail=True, versions=True)
    assert [(e["VersionId"], e["IsLatest"], e["size"]) for e in one] == [
        (written[0], False, len(bodies[0]))
    ]
    everything = fs.find(f"{bucket}/d", versions=True, detail=True)
    assert sorted(e["VersionId"] for e in everything.values()) == sorted(
        v.version_id for v in stored
    )
    assert len(fs.find(f"{bucket}/d", versions=True, maxdepth=1)) == 5

    # the oldest version, byte-exact, every way there is to read it
    old = bodies[0]
    assert fs.cat_file(path, version_id=written[0]) == old
    assert fs.cat_file(path, start=100, end=70_000, version_id=written[0]) == old[100:70_000]
    assert fs.info(path, version_id=written[0])["size"] == len(old)
    with fs.open(path, "rb", version_id=written[0], block_size=64 * 1024) as f:
        assert f.read() == old  # several ranged GETs, all of that version
    assert fs.cat(path) == bodies[-1]

    # rm of a path naming a version deletes that version, not the latest
    fs.rm(f"{path}?versionId={written[1]}")
    assert [v["VersionId"] for v in fs.object_version_info(path)] == [written[2], written[0]]
    assert sorted(
        v.version_id for v in server_versions(fs, bucket, "d/f.bin") if v.key == "d/f.bin"
    ) == sorted([written[2], written[0]])
    assert fs.cat(path) == bodies[-1]

    with pytest.raises(FileNotFoundError):
        fs.ls(f"{bucket}/nothing", versions=True)
    # a filesystem that is not version aware refuses
    with pytest.raises(ValueError, match="version_aware=True"):
        shared_fs.ls(fs_root, versions=True)
    with pytest.raises(ValueError, match="version_aware=True"):
        shared_fs.find(fs_root, versions=True)
    with pytest.raises(ValueError, match="version_aware=True"):
        shared_fs.object_version_info(f"{fs_root}/x")


# ------------------------------------------------------------- from an event loop


@pytest.fixture
async def afs(server: Server) -> Any:
    fs = S3FileSystem(skip_instance_cache=True, asynchronous=True, **storage_options(server))
    yield fs
    await fs.close_session()


async def test_asynchronous_use_from_a_running_loop(afs: S3FileSystem, fs_root: str) -> None:
    client = await afs.set_session()
    assert await afs.set_session() is client  # one client for this loop
    await afs._pipe_file(f"{fs_root}/a.txt", b"async bytes")
    assert await afs._cat_file(f"{fs_root}/a.txt", start=6) == b"bytes"
    assert await afs._ls(fs_root, detail=False) == [f"{fs_root}/a.txt"]
    async with await afs.open_async(f"{fs_root}/a.txt", "rb") as f:
        assert await f.read(5) == b"async" and f.size == 11
    async with await afs.open_async(f"{fs_root}/big.bin", "wb", block_size=5 * MiB) as f:
        for _ in range(6):
            await f.write(b"w" * MiB)
    assert (await afs._info(f"{fs_root}/big.bin"))["size"] == 6 * MiB
    with pytest.raises(RuntimeError, match="open_async"):
        afs.open(f"{fs_root}/a.txt", "rb")
    await afs.close_session()
    assert "closed" in repr(client)
    assert await afs._exists(f"{fs_root}/a.txt")  # a new client, made on demand
    assert await afs.set_session() is not client


async def test_asynchronous_write_error_aborts(afs: S3FileSystem, fs_root: str) -> None:
    path = f"{fs_root}/abort.bin"
    with pytest.raises(RuntimeError, match="stop"):
        async with await afs.open_async(path, "wb", block_size=5 * MiB) as f:
            await f.write(b"q" * (6 * MiB))
            raise RuntimeError("stop")
    s3 = await afs.set_session()
    bucket, key = path.split("/", 1)
    assert [u async for u in s3.list_multipart_uploads(key, bucket=bucket)] == []
    assert not await afs._exists(path)
    await afs._pipe_file(f"{fs_root}/x", b"1", mode="create")
    with pytest.raises(FileExistsError):
        await afs._pipe_file(f"{fs_root}/x", b"2", mode="create")
    assert await afs._cat_file(f"{fs_root}/x") == b"1"


def test_each_event_loop_gets_its_own_client_closed_with_the_loop(
    server: Server, fs_root: str
) -> None:
    import threading

    fs = S3FileSystem(skip_instance_cache=True, asynchronous=True, **storage_options(server))
    clients: list[aios3.S3] = []

    async def use(n: int) -> None:
        clients.append(await fs.set_session())
        await fs._pipe_file(f"{fs_root}/loop{n}", b"x")

    threads = [threading.Thread(target=asyncio.run, args=(use(n),)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    asyncio.run(use(2))  # never closed by hand: asyncio.run's shutdown closes it
    assert len({id(c) for c in clients}) == 3
    assert all("closed" in repr(c) for c in clients)
    sync_fs = S3FileSystem(skip_instance_cache=True, **storage_options(server))
    try:
        assert sync_fs.ls(fs_root, detail=False) == [f"{fs_root}/loop{n}" for n in range(3)]
    finally:
        sync_fs.close()


def test_interpreter_exit_closes_clients_and_aborts_open_uploads(
    server: Server, shared_fs: S3FileSystem, fs_root: str
) -> None:
    import subprocess
    import sys
    import textwrap

    path = f"{fs_root}/at-exit.bin"
    script = textwrap.dedent(
        f"""
        import sys, warnings
        warnings.simplefilter("error")
        from aios3.fs import S3FileSystem
        fs = S3FileSystem(**{storage_options(server)!r})
        fs.pipe({fs_root + "/before-exit"!r}, b"ok")
        f = fs.open({path!r}, "wb", block_size=5 * 2**20)
        f.write(b"e" * (6 * 2**20))  # a multipart upload is open now
        print(len(fs.ls({fs_root!r})), flush=True)
        sys.exit(0)  # neither the file nor the filesystem is closed
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"
    for bad in (
        "Unclosed",
        "Exception ignored",
        "Task was destroyed",
        "never retrieved",
        "Traceback",
    ):
        assert bad not in proc.stderr, proc.stderr
    assert _uploads(shared_fs, path) == [] and not shared_fs.exists(path)
