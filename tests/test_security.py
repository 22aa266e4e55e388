"""Security: path containment, redirects, log redaction."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError
from test_cli import aios3_cli
from test_tree import tree

import aios3
from aios3 import MiB, _redact
from aios3.testing import Server

# -- path containment ---------------------------------------------------------------------

# Keys that must never leave the destination (or that do not map one-to-one to a path).
UNSAFE = ["../x", "sub/../../y", "a\\..\\b", "C:/x", "a//b", "m/./n"]
SAFE = {"ok/1": b"one", "ok2": b"two"}


async def put_keys(s3: aios3.S3, server_kind: str, prefix: str, absolute: str) -> list[str]:
    """Store the unsafe keys raw (botocore sends them as given), then the safe ones."""
    if server_kind == "seaweedfs":
        pytest.skip("seaweedfs: refuses keys with '..' or '.' segments and folds '//'")
    names = [prefix + k for k in UNSAFE] + [absolute]
    for key in names:
        await s3.upload(key, b"payload of " + key.encode())
    for key, data in SAFE.items():
        await s3.upload(prefix + key, data)
    return names


def snapshot(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


async def test_download_dir_skips_every_key_that_would_leave_the_destination(
    s3: aios3.S3, server_kind: str, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    # An absolute key: with the bucket root as the source it is "/<tmp>/outside/abs".
    absolute = f"{outside}/abs".lstrip("/")
    await put_keys(s3, server_kind, "", "/" + absolute)
    dest = tmp_path / "deep" / "dest"
    before = snapshot(tmp_path)
    result = await s3.download_dir("", dest)
    assert tree(dest) == SAFE
    assert snapshot(tmp_path) - before == {
        "deep",
        "deep/dest",
        *(f"deep/dest/{k}" for k in ("ok", "ok/1", "ok2")),
    }
    assert len(result.skipped) == len(UNSAFE) + 1 and not result.failed
    assert all("not downloaded" in (i.reason or "") for i in result.skipped)


@pytest.fixture
async def evil_bucket(s3: aios3.S3, server_kind: str, tmp_path: Path) -> aios3.S3:
    await put_keys(s3, server_kind, "p/", f"p//{tmp_path}/escaped")
    return s3


@pytest.mark.parametrize("verb", [["cp", "--recursive"], ["sync"], ["sync", "--delete"]])
def test_cli_skips_unsafe_keys_one_line_each_and_exits_2(
    server: Server, evil_bucket: aios3.S3, tmp_path: Path, verb: list[str]
) -> None:
    bucket = evil_bucket.config.default_bucket
    dest = tmp_path / "dest"
    dest.mkdir()
    # Files an unsafe key could stand for: a sync --delete must never remove them.
    (dest / "a").mkdir()
    (dest / "a" / "b").write_bytes(b"local a/b")
    (dest / "m").mkdir()
    (dest / "m" / "n").write_bytes(b"local m/n")
    before = snapshot(tmp_path)
    done = aios3_cli(server, *verb, f"s3://{bucket}/p", str(dest))
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert err.count("warning: skipping") == len(UNSAFE) + 1, err
    assert "Traceback" not in err
    assert tree(dest) == {**SAFE, "a/b": b"local a/b", "m/n": b"local m/n"}
    assert not (tmp_path / "escaped").exists()
    assert snapshot(tmp_path) - before == {f"dest/{k}" for k in ("ok", "ok/1", "ok2")}


async def test_a_symlinked_folder_inside_the_destination_is_not_followed_out(
    s3: aios3.S3, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(outside, dest / "link")
    (dest / "inner").mkdir()
    os.symlink(dest / "inner", dest / "fine")  # a link that stays inside is followed
    await s3.upload("t/link/pwned", b"evil")
    await s3.upload("t/fine/ok", b"ok")
    await s3.upload("t/plain", b"plain")
    result = await s3.download_dir("t", dest)
    assert list(outside.iterdir()) == []
    assert (dest / "inner" / "ok").read_bytes() == b"ok" and (dest / "plain").exists()
    assert [i.source.rsplit("/", 2)[-2:] for i in result.skipped] == [["link", "pwned"]]
    assert "symbolic link" in (result.skipped[0].reason or "")


async def test_sync_delete_keeps_files_that_non_normal_keys_stand_for(
    s3: aios3.S3, server_kind: str, tmp_path: Path
) -> None:
    if server_kind == "seaweedfs":
        pytest.skip("seaweedfs: folds '//' and refuses '.' segments in keys")
    bucket = s3.config.default_bucket or ""
    await s3.upload("n/a//b", b"ab")
    await s3.upload("n/m/./n", b"mn")
    await s3.upload("n/plain", b"plain")
    dest = tmp_path / "d"
    (dest / "a").mkdir(parents=True)
    (dest / "a" / "b").write_bytes(b"mine")
    (dest / "m").mkdir()
    (dest / "m" / "n").write_bytes(b"mine too")
    for _ in range(2):  # the second run must not undo or delete anything either
        result = await s3.sync(f"s3://{bucket}/n", dest, delete=True)
        assert not result.deleted and len(result.skipped) == 2
        assert tree(dest) == {"a/b": b"mine", "m/n": b"mine too", "plain": b"plain"}


def test_key_parts_is_the_one_mapping() -> None:
    from aios3._tree import key_parts

    assert key_parts("a/b/c.txt") == ["a", "b", "c.txt"]
    assert key_parts("a\\b") == ["a\\b"]  # one file name on POSIX
    for bad in [
        "../x",
        "a/../../x",
        "/abs",
        "\\abs",
        "C:/x",
        "c:x",
        "a//b",
        "m/./n",
        "a\\..\\b",
        "x\0y",
        "a/",
    ]:
        with pytest.raises(aios3.InvalidRequest):
            key_parts(bad)


# -- log redaction ----------------------------------------------------------------------

SESSION_TOKEN = "FAKE-SESSION-TOKEN-1234567890"
SSE_KEY = "sse-c-key-0123456789abcdefghijkl"  # 32 bytes, as SSE-C wants
SSE_KEY_B64 = base64.b64encode(SSE_KEY.encode()).decode()
MOTO_SECRET = "FAKE-SECRET-moto-accepts-any-key"  # moto's own "testing" is its key id too
NO_TOKEN_ON_SEAWEEDFS = (
    "SeaweedFS rejects session tokens (InvalidAccessKeyId): the session-token variant runs on moto"
)
# "Signature=<hex>" (SigV4, X-Amz-Signature), "Signature:\n<hex>" (botocore.auth) or
# "Signature=<base64>" (SigV2 presigned URLs): whatever follows must be the marker.
SIGNATURE = re.compile(r"Signature(?:=|:\s*)(.{0,10})")
HEX_SIGNATURE = re.compile(r"Signature=[0-9a-fA-F]{64}")


class Captured(logging.Handler):
    """Every record that reaches the root logger, formatted as a handler would."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def clear(self) -> None:
        self.records.clear()
        self.lines.clear()


@pytest.fixture
def debug_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Captured]:
    """Every logger at DEBUG into a list, redaction as the (unset) environment says and
    the record factory as before any client opened; all of it restored afterwards."""
    monkeypatch.delenv("AIOS3_LOG_REDACTION", raising=False)
    saved_factory = logging.getLogRecordFactory()
    previous = aios3.log_redaction(None)
    logging.setLogRecordFactory(logging.LogRecord)  # opening a client must install it
    root = logging.getLogger()
    named = [logging.getLogger(name) for name in ("botocore", "aiobotocore", "aios3")]
    levels = [(logger, logger.level) for logger in (root, *named)]
    handler = Captured()
    root.addHandler(handler)
    for logger, _ in levels:
        logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for logger, level in levels:
            logger.setLevel(level)
        aios3.log_redaction(previous)
        logging.setLogRecordFactory(saved_factory)


def assert_no_secrets(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text
    assert not HEX_SIGNATURE.search(text)
    followers = SIGNATURE.findall(text)
    assert followers, "no Signature was logged at all"
    assert all(f.startswith(_redact.REDACTED) for f in followers), followers


@pytest.mark.parametrize("with_token", [True, False], ids=["session-token", "keys"])
async def test_debug_logs_carry_no_secrets(
    server: Server,
    server_kind: str,
    bucket_name: str,
    tmp_path: Path,
    debug_logs: Captured,
    with_token: bool,
) -> None:
    if with_token and server_kind == "seaweedfs":
        pytest.skip(NO_TOKEN_ON_SEAWEEDFS)
    overrides: dict[str, Any] = {"default_bucket": bucket_name}
    if server_kind == "moto":
        overrides["secret_access_key"] = MOTO_SECRET
    if with_token:
        overrides["session_token"] = SESSION_TOKEN
    config = server.config(**overrides)
    assert config.secret_access_key is not None
    secrets = [config.secret_access_key, *([SESSION_TOKEN] if with_token else [])]
    transfer = aios3.TransferConfig(part_size=5 * MiB, multipart_threshold=5 * MiB)
    big = bytes(range(256)) * (11 * MiB // 256)  # three parts of at most 5 MiB

    async with aios3.connect(config, transfer=transfer) as s3:
        assert isinstance(logging.getLogRecordFactory(), _redact._RedactingFactory)
        await s3.client.create_bucket(Bucket=bucket_name)
        try:
            await s3.upload("small", b"small object")
            assert (await s3.upload("big", big)).size == len(big)
            await s3.download("big", tmp_path / "big")
            assert (tmp_path / "big").read_bytes() == big
            assert await s3.get_bytes("small") == b"small object"
            assert (await s3.head("small")).size == 12
            assert sorted([o.key async for o in s3.list()]) == ["big", "small"]
            url = await s3.presign("small")
            assert "Signature=" in url
            logging.getLogger("aios3").debug("url %s", url)
            # SSE-C through aios3 and straight through botocore; whether the store
            # takes it over http does not matter, botocore logged the parameters.
            sse = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": SSE_KEY}
            with contextlib.suppress(aios3.S3Error):
                await s3.upload("ssec-upload", b"sse", extra=sse)
            with contextlib.suppress(ClientError, BotoCoreError):
                await s3.client.put_object(Bucket=bucket_name, Key="ssec", Body=b"sse", **sse)
            # The literal secrets, with no name to give them away: the registry's job.
            logging.getLogger("botocore.auth").debug("key material %s %r", *secrets[:1], secrets)
        finally:
            await s3.delete_bucket(bucket_name, force=True)
    assert not set(secrets) & set(_redact._literals()), "secrets outlived the client"

    names = {r.name for r in debug_logs.records}
    assert {"botocore.endpoint", "botocore.auth", "aios3"} <= names, names
    text = debug_logs.text
    assert_no_secrets(text, [*secrets, SSE_KEY, SSE_KEY_B64])
    assert "'Authorization': b'AWS4-HMAC-SHA256 <redacted>'" in text
    assert "'SSECustomerKey': '<redacted>'" in text
    assert "x-amz-server-side-encryption-customer-key:<redacted>" in text  # CanonicalRequest
    assert "key material <redacted> ['<redacted>'" in text
    (url_line,) = [line for line in debug_logs.lines if line.startswith("aios3 DEBUG url ")]
    assert "Signature=<redacted>" in url_line
    if with_token:
        assert "'X-Amz-Security-Token': b'<redacted>'" in text
        assert "x-amz-security-token:<redacted>" in text  # CanonicalRequest
        assert "x-amz-security-token=<redacted>" in url_line.lower()
    for record in debug_logs.records:  # rendered once, arguments gone
        if record.name.startswith(("botocore", "aiobotocore", "aios3")):
            assert record.args is None


async def test_turning_redaction_off_shows_the_token(
    server: Server,
    server_kind: str,
    debug_logs: Captured,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The test above would see a leak: with redaction off the token is logged."""
    if server_kind == "seaweedfs":
        pytest.skip(NO_TOKEN_ON_SEAWEEDFS)
    config = server.config(secret_access_key=MOTO_SECRET, session_token=SESSION_TOKEN)

    async def logged() -> str:
        debug_logs.clear()
        async with aios3.connect(config) as s3:
            await s3.list_buckets()
        return debug_logs.text

    assert aios3.log_redaction(False) is None  # the fixture left it to the environment
    try:
        assert SESSION_TOKEN in await logged()
        aios3.log_redaction()
        text = await logged()
        assert SESSION_TOKEN not in text and _redact.REDACTED in text
        # The environment decides when log_redaction() has not (or None was given).
        aios3.log_redaction(None)
        monkeypatch.setenv("AIOS3_LOG_REDACTION", "0")
        assert SESSION_TOKEN in await logged()
        monkeypatch.setenv("AIOS3_LOG_REDACTION", "1")
        assert SESSION_TOKEN not in await logged()
    finally:
        aios3.log_redaction(None)


# Every form botocore, aiohttp or a user may write a secret in, and what it becomes.
FORMS = [
    (
        "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKID%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Security-Token=IQoJb3JpZ2luX2VjE%2Fabc%3D&X-Amz-Signature=" + "ab" * 32,
        "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKID%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Security-Token=<redacted>&X-Amz-Signature=<redacted>",
    ),
    (
        "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "cd" * 32,
        "Authorization: AWS4-HMAC-SHA256 <redacted>",
    ),
    ("{'authorization': 'Bearer abc.def'}", "{'authorization': 'Bearer <redacted>'}"),
    ("{'Authorization': b'opaque'}", "{'Authorization': b'<redacted>'}"),
    ("Signature:\n" + "ef" * 32, "Signature:\n<redacted>"),
    ("signature=" + "ef" * 32 + ", next", "signature=<redacted>, next"),
    ("X-AMZ-SECURITY-TOKEN: tok/en+1=", "X-AMZ-SECURITY-TOKEN: <redacted>"),
    ("x-amz-security-token:tok\nnext", "x-amz-security-token:<redacted>\nnext"),
    (
        "[('x-amz-security-token', b'tok\\'s'), ('Host', b'h')]",
        "[('x-amz-security-token', b'<redacted>'), ('Host', b'h')]",
    ),
    (
        '{"SessionToken": "tok", "SecretAccessKey": "sk", "AccessKeyId": "AKID"}',
        '{"SessionToken": "<redacted>", "SecretAccessKey": "<redacted>", "AccessKeyId": "AKID"}',
    ),
    (
        "ReadOnlyCredentials(access_key='AKID', secret_key='sk', token='tok')",
        "ReadOnlyCredentials(access_key='AKID', secret_key='<redacted>', token='<redacted>')",
    ),
    ("aws_secret_access_key = sk", "aws_secret_access_key = <redacted>"),
    (
        "{'SSECustomerKey': 'a2V5', 'CopySourceSSECustomerKey': b'a2V5', "
        "'SSECustomerKeyMD5': 'bWQ1'}",
        "{'SSECustomerKey': '<redacted>', 'CopySourceSSECustomerKey': b'<redacted>', "
        "'SSECustomerKeyMD5': 'bWQ1'}",
    ),
    (
        "X-Amz-Server-Side-Encryption-Customer-Key: a2V5\n"
        "x-amz-copy-source-server-side-encryption-customer-key:a2V5\n"
        "x-amz-server-side-encryption-customer-key-md5:bWQ1",
        "X-Amz-Server-Side-Encryption-Customer-Key: <redacted>\n"
        "x-amz-copy-source-server-side-encryption-customer-key:<redacted>\n"
        "x-amz-server-side-encryption-customer-key-md5:bWQ1",
    ),
    (
        "http://h/?u=http%3A%2F%2Fx%2F%3FSignature%3Dabc",
        "http://h/?u=http%3A%2F%2Fx%2F%3FSignature%3D<redacted>",
    ),
    # Not secrets: left as they are.
    (
        "continuation-token=abc&signature_version=s3v4",
        "continuation-token=abc&signature_version=s3v4",
    ),
    ("Calculating signature using v4 auth.", "Calculating signature using v4 auth."),
    ("SignedHeaders=host;x-amz-security-token", "SignedHeaders=host;x-amz-security-token"),
]


@pytest.mark.parametrize(("text", "expected"), FORMS)
def test_redaction_forms(text: str, expected: str) -> None:
    assert _redact.redact(text) == expected
    assert _redact.redact(expected) == expected  # idempotent


def test_records_are_redacted_safely(debug_logs: Captured) -> None:
    """The factory redacts aios3's and botocore's records (message, arguments, traceback)
    and registered secrets; other loggers' records pass as they are; a record that cannot
    be rendered is logged as "<unloggable>", not raised and not leaked."""
    aios3.log_redaction()  # installs it before any client opened
    factory = logging.getLogRecordFactory()
    assert isinstance(factory, _redact._RedactingFactory)
    _redact.install()
    aios3.log_redaction()
    assert logging.getLogRecordFactory() is factory  # installed once
    secret = "s3cr3t/with+chars"
    release = _redact.protect(aios3.Config(access_key_id="AKID", secret_access_key=secret))
    try:
        logging.getLogger("botocore.auth").debug("signing key from %s", secret)
        logging.getLogger("aiobotocore.endpoint").debug("url ?x=%s", "s3cr3t%2Fwith%2Bchars")
        try:
            raise RuntimeError("failed with x-amz-security-token: tok-in-traceback")
        except RuntimeError:
            logging.getLogger("aios3").debug("request failed", exc_info=True)
        logging.getLogger("aios3").debug("%d parts", "not a number")
        logging.getLogger("unrelated.app").debug("token=%s %s", "mine", secret)
    finally:
        release()
    logging.getLogger("botocore").debug("after release: %s", secret)

    lines = debug_logs.lines
    assert lines[0] == "botocore.auth DEBUG signing key from <redacted>"
    assert lines[1] == "aiobotocore.endpoint DEBUG url ?x=<redacted>"
    assert "tok-in-traceback" not in lines[2] and "x-amz-security-token: <redacted>" in lines[2]
    assert "Traceback" in lines[2]
    assert lines[3] == "aios3 DEBUG <unloggable>"
    unrelated = debug_logs.records[4]
    assert unrelated.args == ("mine", secret) and lines[4].endswith(f"token=mine {secret}")
    assert lines[5] == f"botocore DEBUG after release: {secret}"  # forgotten once released
