"""Fixtures: one real S3 server per session on 127.0.0.1, a fresh bucket per test, and
guards that turn leaked tasks and event-loop errors into failures.

Every test that talks to a server runs against each of moto and SeaweedFS; narrow it
with ``--server moto|seaweedfs`` or ``AIOS3_TEST_SERVER``. Tests that need something a server lacks are marked ``needs(...)`` and
skipped there with the reason named.
"""

from __future__ import annotations

import asyncio
import gc
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
from faultproxy import FaultProxy

import aios3
from aios3.testing import Server

SERVERS = ("moto", "seaweedfs")

# What each server can't do, by feature name used in @pytest.mark.needs(...).
LACKS: dict[str, dict[str, str]] = {
    "moto": {
        "checksum_verification": "moto does not verify checksums or Content-MD5",
        "auth": "moto accepts any credentials",
        "upload_initiated": "moto reports a fixed Initiated date (2010-11-10) for every upload",
        "conditional_complete": "moto ignores If-Match on CompleteMultipartUpload",
        "bucket_not_empty": "",
        "post_policy": "moto does not enforce a POST policy's conditions (size range, "
        "content type, key prefix)",
        "thousands_of_objects": "moto takes ~2 minutes to serve the 9,000 uploads (a client "
        "property, run on SeaweedFS: ~20 s)",
    },
    "seaweedfs": {
        "bucket_location": "SeaweedFS does not report a bucket's LocationConstraint back",
    },
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--server",
        default=os.environ.get("AIOS3_TEST_SERVER", "all"),
        choices=(*SERVERS, "all"),
        help="the S3 server(s) the suite runs against (default: all: moto and SeaweedFS)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(feature): skip where the server lacks it")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "server_kind" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--server")
        kinds = SERVERS if chosen == "all" else (chosen,)
        metafunc.parametrize("server_kind", kinds, indirect=True, scope="session")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        kind = callspec.params.get("server_kind") if callspec else None
        if kind is None:
            continue
        for mark in item.iter_markers("needs"):
            for feature in mark.args:
                reason = LACKS[kind].get(feature)
                if reason:
                    item.add_marker(pytest.mark.skip(reason=f"{kind}: {reason}"))


@pytest.fixture(scope="session")
def server_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def server(server_kind: str) -> Iterator[Server]:
    if server_kind == "seaweedfs":
        from aios3.testing import seaweedfs_server

        with seaweedfs_server() as srv:
            yield srv
    else:
        from aios3.testing import moto_server

        with moto_server() as srv:
            yield srv


@pytest.fixture(scope="session", autouse=True)
def _model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """botocore's parsed data files (``aios3._model_cache``) go to the session's own
    directory, not to the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIOS3_CACHE_DIR", str(tmp_path_factory.mktemp("aios3-cache")))
        yield


@pytest.fixture(autouse=True)
async def _no_leaks() -> AsyncIterator[None]:
    """Fail a test whose loop logged an error (an exception never retrieved, a task
    destroyed while pending) or that left tasks running behind it.

    What existed before the test is frozen out of the collection that follows it: that
    collection looks at the test's own objects (the ones whose leaks it is there to
    find) and costs milliseconds, where one over the whole heap (moto's store, pandas,
    dask) took up to ~0.5 s a test. What older garbage is left, the whole heap's
    collection at the end of each module finds (:func:`_no_leaks_in_module`)."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    before = asyncio.all_tasks()
    gc.collect(1)  # the last test's young garbage (its loop, closed after its guard ran)
    gc.freeze()
    try:
        yield
        for _ in range(3):
            await asyncio.sleep(0)
        gc.collect()
    finally:
        gc.unfreeze()
    await asyncio.sleep(0)
    current = asyncio.current_task()
    leaked = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
    loop.set_exception_handler(None)
    assert not leaked, f"tasks left running: {leaked}"
    assert not errors, f"event loop errors: {[e.get('message') for e in errors]}"


@pytest.fixture(scope="module", autouse=True)
def _no_leaks_in_module() -> Iterator[None]:
    """A collection over the whole heap once a module's tests are done: what became
    garbage between tests (after one's guard, before the next one's) is found there."""
    yield
    gc.collect()


def new_bucket_name() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def bucket_name() -> str:
    return new_bucket_name()


@pytest.fixture
async def s3(server: Server, bucket_name: str) -> AsyncIterator[aios3.S3]:
    """A client whose default bucket is new and empty."""
    async with aios3.connect(server.config(default_bucket=bucket_name)) as client:
        await client.client.create_bucket(Bucket=bucket_name)
        yield client
        # SeaweedFS gives each bucket its own volumes, from a finite number: free them.
        if await client.bucket_exists(bucket_name):
            await client.delete_bucket(bucket_name, force=True)


async def open_uploads(s3: aios3.S3, bucket: str, prefix: str = "") -> list[dict[str, Any]]:
    """The multipart uploads the server still lists under ``prefix``."""
    resp = await s3.client.list_multipart_uploads(Bucket=bucket, Prefix=prefix)
    return list(resp.get("Uploads", []))


@pytest.fixture
async def proxy(server: Server) -> AsyncIterator[FaultProxy]:
    """A fault-injecting, request-recording proxy in front of the test server."""
    parts = urlsplit(server.endpoint)
    async with FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80) as p:
        yield p


@contextmanager
def collections_heard() -> Iterator[list[int]]:
    """Each cyclic garbage collection that starts within the block, as how many
    ElementTree elements were alive at its start (a fresh collection first)."""
    from xml.etree.ElementTree import Element

    alive: list[int] = []

    def heard(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            alive.append(sum(1 for o in gc.get_objects() if type(o) is Element))

    gc.collect()
    gc.callbacks.append(heard)
    try:
        yield alive
    finally:
        gc.callbacks.remove(heard)
