"""Start-up: ``import aios3`` leaves the HTTP stack and botocore unimported until a client
opens (which still sends its bodies through aios3's own aiohttp payload), and botocore's
data files are parsed once, then read from aios3's cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from botocore.loaders import JSONFileLoader

import aios3
from aios3._body import Body
from aios3._model_cache import CachedFileLoader, cache_dir
from aios3.testing import Server

REPO = Path(__file__).resolve().parents[1]

# What the first request needs and ``import aios3`` must not load.
HEAVY = ("aiohttp", "aiobotocore", "botocore", "urllib3", "httpx", "httpx2", "anyio", "yarl")


def _modules_after(code: str, *, whole: bool = False) -> set[str]:
    """The top-level packages in ``sys.modules`` after ``code`` in a fresh interpreter
    (``whole``: the modules' whole names)."""
    probe = (
        f"{code}\nimport sys\nloaded = sorted(sys.modules)\nimport json\nprint(json.dumps(loaded))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {name if whole else name.split(".")[0] for name in json.loads(out)}


def test_import_loads_no_http_stack_or_botocore() -> None:
    loaded = _modules_after("import aios3")
    assert "aios3" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_import_leaves_what_only_some_calls_need_unloaded() -> None:
    """The folder calls' module, and the standard library's modules that a few calls
    need (json for an SSE-KMS context, random for a retry's jitter, email for an HTTP
    date in an odd form, mimetypes for a content type, tempfile to write the model
    cache, xml for a listing): each loads at its first use, not at import (~10 ms)."""
    later = {"aios3._tree", "json", "random", "email", "mimetypes", "tempfile", "xml"}
    loaded = _modules_after("import aios3", whole=True)
    assert not loaded & later, sorted(loaded & later)
    assert "aios3._tree" in _modules_after("from aios3 import TreeResult", whole=True)


def test_a_built_client_loads_them() -> None:  # the probe above can see them
    code = """
import asyncio, aios3
async def main():
    async with aios3.connect(endpoint="http://127.0.0.1:9", access_key_id="a",
                             secret_access_key="b", region="us-east-1") as s3:
        assert s3.client is not None  # built by connect(), or here
asyncio.run(main())
"""
    assert {"aiohttp", "aiobotocore", "botocore"} <= _modules_after(code)


async def test_bodies_go_through_aios3s_payload_once_a_client_opens() -> None:
    async with aios3.connect(
        endpoint="http://127.0.0.1:9", access_key_id="a", secret_access_key="b"
    ):
        from aiohttp import payload

        body = Body(2 * 1024 * 1024)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # aiohttp's bytes payload warns above 1 MB
            sent = payload.get_payload(body)
    assert type(sent).__module__ == "aios3._payload"
    assert sent.size == len(body)


# -- the botocore data cache (aios3._model_cache) -------------------------------------


def _data_file(folder: Path, data: object, mtime_ns: int = 10**18) -> str:
    """A botocore-style data file: ``folder/name.json``; its path without the suffix."""
    path = folder / "data.json"
    path.write_text(json.dumps(data))
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return str(folder / "data")


def _entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.marshal"))


def test_a_cached_file_is_read_from_the_cache_the_second_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _data_file(tmp_path, {"shapes": {"B": [1, "x"], "A": {"z": None}}})
    cache = tmp_path / "cache"
    first = CachedFileLoader(cache).load_file(source)
    assert first == {"shapes": {"B": [1, "x"], "A": {"z": None}}}
    assert len(_entries(cache)) == 1

    def no_json(self: object, path: str) -> None:
        raise AssertionError("read the JSON again")

    monkeypatch.setattr(JSONFileLoader, "load_file", no_json)
    again = CachedFileLoader(cache).load_file(source)
    assert again == first
    assert list(again["shapes"]) == ["B", "A"]  # botocore's order kept


def test_the_prose_is_left_out_of_the_cache(tmp_path: Path) -> None:
    model = {
        "documentation": "<p>Amazon S3 ...</p>",
        "operations": {"GetObject": {"documentation": "<p>Retrieves ...</p>", "x": 1}},
        "shapes": {"S": {"members": {"documentation": {"shape": "D"}}}},  # a member
        "clientContextParams": {"P": {"type": "boolean", "documentation": "..."}},
    }
    source = _data_file(tmp_path, model)
    cache = tmp_path / "cache"
    left_out = "(documentation left out)"
    expected = {
        "documentation": left_out,
        "operations": {"GetObject": {"documentation": left_out, "x": 1}},
        "shapes": {"S": {"members": {"documentation": {"shape": "D"}}}},
        "clientContextParams": {"P": {"type": "boolean", "documentation": left_out}},
    }
    assert CachedFileLoader(cache).load_file(source) == expected  # the first read too
    [entry] = _entries(cache)
    assert b"Retrieves" not in entry.read_bytes()
    assert CachedFileLoader(cache).load_file(source) == expected


def test_a_client_read_through_the_cache_still_writes_its_docstrings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """help(s3.client.put_object) must work: botocore writes a parameter's sections only
    for a non-empty documentation string, and its S3 handlers then look them up."""
    import botocore.session

    from aios3._model_cache import install

    monkeypatch.setenv("AIOS3_CACHE_DIR", str(tmp_path / "cache"))
    for _ in range(2):  # written to the cache, then read from it
        session = botocore.session.get_session()
        install(session)
        client = session.create_client(
            "s3", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
        )
        for method in (client.put_object, client.get_object, client.copy_object):
            assert "Bucket" in str(method.__doc__)
    assert _entries(tmp_path / "cache")


def test_each_entry_format_has_entries_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two releases of aios3 sharing the cache (two venvs) must not overwrite each
    other's entries in turn: the format is part of an entry's name."""
    source = _data_file(tmp_path, {"v": 1})
    cache = tmp_path / "cache"
    CachedFileLoader(cache).load_file(source)
    monkeypatch.setattr("aios3._model_cache._FORMAT", b"aios3-botocore-data-0\n")
    CachedFileLoader(cache).load_file(source)
    assert len(_entries(cache)) == 2


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    source = _data_file(tmp_path, {"v": 1})
    assert CachedFileLoader(cache).load_file(source) == {"v": 1}
    _data_file(tmp_path, {"v": 2}, mtime_ns=2 * 10**18)
    assert CachedFileLoader(cache).load_file(source) == {"v": 2}
    assert len(_entries(cache)) == 2


@pytest.mark.parametrize(
    "damage",
    [
        lambda blob: blob[: len(blob) // 2],  # torn
        lambda blob: blob[:-1] + bytes([blob[-1] ^ 1]),  # a flipped bit: the CRC32 fails
        lambda blob: b"",
        lambda blob: b"\x00" * len(blob),
    ],
)
def test_a_damaged_entry_is_ignored_and_written_again(
    tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    cache = tmp_path / "cache"
    source = _data_file(tmp_path, {"key": "value", "n": list(range(50))})
    CachedFileLoader(cache).load_file(source)
    [entry] = _entries(cache)
    good = entry.read_bytes()
    entry.write_bytes(damage(good))
    assert CachedFileLoader(cache).load_file(source) == {"key": "value", "n": list(range(50))}
    assert entry.read_bytes() == good


def test_an_unwritable_cache_only_costs_the_time(tmp_path: Path) -> None:
    in_the_way = tmp_path / "file"
    in_the_way.write_text("not a directory")
    source = _data_file(tmp_path, {"v": 1})
    assert CachedFileLoader(in_the_way / "cache").load_file(source) == {"v": 1}
    assert CachedFileLoader(tmp_path / "cache").load_file(str(tmp_path / "missing")) is None


def test_old_entries_are_pruned_when_one_is_written(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    old, recent = cache / ("0" * 32 + ".marshal"), cache / ("1" * 32 + ".marshal")
    for path, age_days in ((old, 31), (recent, 1)):
        path.write_bytes(b"x")
        when = time.time() - age_days * 24 * 3600
        os.utime(path, (when, when))
    CachedFileLoader(cache).load_file(_data_file(tmp_path, {"v": 1}))
    assert not old.exists() and recent.exists() and len(_entries(cache)) == 2


def test_cache_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIOS3_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.setenv("AIOS3_CACHE_DIR", "")
    assert cache_dir() is None
    monkeypatch.delenv("AIOS3_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    if sys.platform not in ("win32", "darwin"):
        assert cache_dir() == tmp_path / "aios3"


async def test_a_client_fills_the_cache_and_the_next_one_uses_it(
    server: Server, bucket_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIOS3_CACHE_DIR", str(tmp_path))
    async with aios3.connect(server.config()) as s3:
        await s3.list_buckets()
    written = {p.name: p.stat().st_mtime_ns for p in _entries(tmp_path)}
    assert len(written) >= 3  # the S3 model, its endpoint ruleset, the partitions, ...

    def no_json(self: object, path: str) -> None:
        raise AssertionError(f"read {path} again")

    monkeypatch.setattr(JSONFileLoader, "load_file", no_json)
    async with aios3.connect(server.config(default_bucket=bucket_name)) as s3:
        await s3.create_bucket(bucket_name)  # botocore's path, then the direct one:
        await s3.upload("k", b"cached")  # the model and the ruleset at work
        assert await s3.get_bytes("k") == b"cached"
        await s3.delete_bucket(bucket_name, force=True)
    assert {p.name: p.stat().st_mtime_ns for p in _entries(tmp_path)} == written


async def test_a_processs_second_client_reads_no_data_file_and_changes_nothing_shared(
    server: Server, bucket_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clients of one thread share botocore's loader, as one botocore session's
    clients do: the second client reads no data file. What botocore changes in the
    loaded data as a client uses it (its S3 handler that moves the bucket out of each
    request URI, its endpoint resolver) it changes once: a second client doing the
    same leaves every loaded file as the first one left it. With models of the user's
    own (``AWS_DATA_PATH``, ``~/.aws/models``) nothing is shared."""
    import copy

    from aios3 import _model_cache

    cache = tmp_path / "cache"
    monkeypatch.setenv("AIOS3_CACHE_DIR", str(cache))
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.aws/models
    monkeypatch.delenv("AWS_DATA_PATH", raising=False)
    monkeypatch.setattr(_model_cache, "_THREAD", _model_cache._ThreadLoaders())  # its own

    async def use(s3: aios3.S3, folder: str) -> None:
        key, big, copied = f"{folder}/k", f"{folder}/big", f"{folder}/k2"
        await s3.client.put_object(Bucket=bucket_name, Key=key, Body=b"v", Metadata={"a": "b"})
        multipart = aios3.TransferConfig(part_size=5 * 2**20, multipart_threshold=5 * 2**20)
        await s3.upload(big, b"x" * (6 * 2**20), transfer=multipart)
        assert await s3.get_bytes(key) == b"v"
        source = f"{bucket_name}/{key}"
        await s3.client.copy_object(Bucket=bucket_name, Key=copied, CopySource=source)
        assert [o.key async for o in s3.list(folder)] == [big, key, copied]
        await s3.delete_prefix(folder)

    async with aios3.connect(server.config(default_bucket=bucket_name)) as s3:
        await s3.create_bucket(bucket_name)
        await use(s3, "one")
    [loader] = _model_cache._THREAD.loaders.values()
    used = copy.deepcopy(loader._cache)
    assert any(name == "load_service_model" for name, *_ in used)

    def no_reading(*args: object) -> None:
        raise AssertionError(f"read {args} again")

    with monkeypatch.context() as patched:
        patched.setattr(CachedFileLoader, "load_file", no_reading)
        async with aios3.connect(server.config(default_bucket=bucket_name)) as s3:
            await use(s3, "two")
    assert loader._cache == used
    async with aios3.connect(server.config()) as s3:
        await s3.delete_bucket(bucket_name)

    read: list[str] = []
    load_file = CachedFileLoader.load_file

    def reading(self: CachedFileLoader, path: str) -> object:
        read.append(path)
        return load_file(self, path)

    monkeypatch.setattr(CachedFileLoader, "load_file", reading)
    (tmp_path / "home" / ".aws" / "models").mkdir(parents=True)
    for name, value in (
        ("AWS_DATA_PATH", str(tmp_path / "models")),
        ("HOME", str(tmp_path / "home")),
    ):
        with monkeypatch.context() as patched:
            patched.setenv(name, value)
            read.clear()
            async with aios3.connect(server.config()) as s3:
                await s3.client.list_buckets()
            assert any(path.endswith("service-2") for path in read), name  # its own loader
    assert list(_model_cache._THREAD.loaders.values()) == [loader]


@pytest.mark.timeout(120)
def test_the_startup_benchmark_runs() -> None:
    pytest.importorskip("moto.server")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.startup", "--repeat", "1", "--clients", "aios3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = {line.split("|")[1].strip(): line for line in proc.stdout.splitlines() if "|" in line}
    assert rows["aios3"].count(" s / ") == 6, proc.stdout  # import ... list, missing


def test_http_dates_read_as_the_email_package_reads_them() -> None:
    """The HTTP dates of answers (Last-Modified...) are read without the email package,
    as ``email.utils.parsedate_to_datetime`` reads them; any other form goes to it."""
    import random
    from email.utils import formatdate, parsedate_to_datetime

    from aios3._core import _http_date

    odd = [
        "Mon, 01 Jan 0001 00:00:00 GMT",  # read as 2001 by email
        "Mon, 01 Jan 0099 00:00:00 GMT",
        "Sat, 21 Nov 2026 14:24:41 +0000",
        "Sat, 21 Nov 2026 1:24:41 GMT",
        "21 Nov 2026 14:24:41 GMT",
        "Sat, 21 Nov 26 14:24:41 GMT",
    ]
    rng = random.Random(7)
    usual = [formatdate(rng.randrange(2**35), usegmt=True) for _ in range(2000)]
    for text in odd + usual:
        assert _http_date(text) == parsedate_to_datetime(text), text
    wrong_ones = ["Tue, 30 Feb 2028 23:59:59 GMT", "Sat, 2x Nov 2026 14:24:41 GMT"]
    for wrong in [*wrong_ones, "Sa , 21 Nov 2026 14:24:41 GMT"]:  # (a day name of 2 words)
        with pytest.raises(ValueError):
            parsedate_to_datetime(wrong)
        with pytest.raises(ValueError):
            _http_date(wrong)


HOSTS = [
    "http://127.0.0.1:9000",
    "http://LOCALHOST:80/x",
    "http://[::1]:8333",
    "http://[0:0::1]:80",
    "https://h:443",
    "https://h:80",
    "http://h:0080",
    "http://h:00009000",
    "http://h:65536",
    "http://h:",
    "http://user:pw@h:81",
    "http://bücher.de:81",
    "http://a_b:1",
    "HTTP://h:81/p?q#f",
    "https://minio.ns.svc.cluster.local.:9000",  # a trailing dot: yarl drops it
    "http://h.:80",
    "http://h..:81",
]


@pytest.mark.parametrize("url", HOSTS)
def test_the_host_header_is_the_one_aiohttp_sends(url: str) -> None:
    """The Host header a request is signed for, read without yarl for a plain name or
    address (yarl loads in ~7 ms), is the one aiohttp sends (yarl's), or the same error."""
    from yarl import URL

    from aios3._direct import _host_header

    try:
        expected: object = URL(url, encoded=True).host_port_subcomponent
    except ValueError:
        expected = ValueError
    try:
        got: object = _host_header(url)
    except ValueError:
        got = ValueError
    assert got == expected
