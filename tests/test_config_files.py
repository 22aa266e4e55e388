"""Configuration files users bring: s3.yaml (flat or under ``s3:``), TOML's ``[s3]``
table, and ``.env`` credential files; each used against a real server, and each mistake
one ConfigError that never quotes a secret."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import aios3
from aios3 import Config, ConfigError
from aios3.testing import Server

SECRET = "s3cr3t-Value-never-shown"
ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_PROFILE",
    "AWS_CA_BUNDLE",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def assert_hidden(err: pytest.ExceptionInfo[ConfigError], *secrets: str) -> None:
    """Neither the message nor anything chained to it holds a secret."""
    texts = [str(err.value), repr(err.value)]
    cause = err.value.__cause__
    if cause is not None or not err.value.__suppress_context__:
        texts.append(repr(cause or err.value.__context__))
    for secret in secrets:
        assert all(secret not in text for text in texts), texts


async def roundtrip(s3: aios3.S3, bucket: str) -> None:
    """The client's credentials, endpoint and default bucket really work."""
    await s3.create_bucket(bucket)
    try:
        await s3.upload("from/config.txt", b"configured")
        assert await s3.get_bytes("from/config.txt") == b"configured"
    finally:
        await s3.delete_bucket(bucket, force=True)


# -- YAML ----------------------------------------------------------------------------


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "s3-section"])
async def test_yaml_file_configures_the_client(
    server: Server, bucket_name: str, tmp_path: Path, nested: bool
) -> None:
    lines = [
        f"access_key_id: {server.access_key_id}",
        f'secret_access_key: "{server.secret_access_key}"',
        f"endpoint: {server.endpoint.removeprefix('http://')}",
        "tls: false",
        f"region: {server.region}",
        f"default_bucket: {bucket_name}",
        "max_attempts: 3",
        "connect_timeout: 2.5",
    ]
    if nested:  # the s3 library's s3.yaml form
        lines = ["---", "s3:", *(f"    {line}" for line in lines)]
    path = tmp_path / "s3.yaml"
    path.write_text("\n".join(lines) + "\n")
    async with aios3.connect(str(path)) as s3:
        assert s3.config.default_bucket == bucket_name and s3.config.tls is False
        assert s3.config.max_attempts == 3 and s3.config.connect_timeout == 2.5
        await roundtrip(s3, bucket_name)
    yml = tmp_path / "s3.yml"
    yml.write_text(path.read_text())
    assert Config.from_yaml(path) == Config.from_file(yml) == aios3.connect(yml).config


def test_yaml_and_toml_read_the_same_fields(tmp_path: Path) -> None:
    toml = tmp_path / "s3.toml"
    toml.write_text(
        f'[s3]\naccess_key_id = "AK"\nsecret_access_key = "{SECRET}"\n'
        'endpoint = "127.0.0.1:9000"\ntls = false\ndefault_bucket = "my-bucket"\n'
    )
    yaml_file = tmp_path / "s3.yaml"
    yaml_file.write_text(
        f"access_key_id: AK\nsecret_access_key: {SECRET}\nendpoint: 127.0.0.1:9000\n"
        "tls: false\ndefault_bucket: my-bucket\n"
    )
    assert Config.from_toml(toml) == Config.from_yaml(yaml_file)
    assert Config.from_yaml(yaml_file).secret_access_key == SECRET
    (tmp_path / "empty.yaml").write_text("# nothing set\n")
    assert Config.from_yaml(tmp_path / "empty.yaml") == Config()


@pytest.mark.parametrize(
    "text",
    [
        f'secret_access_key: "{SECRET}\naccess_key_id: AK\n',  # unclosed quote
        f"access_key_id: AK\n  secret_access_key: {SECRET}\n bad: [\n",  # bad indentation
        f"access_key_id: AK\nsecret_access_key: {SECRET}\n\tendpoint: x\n",  # a tab
        f"secret_access_key: !!python/object:os.system {SECRET}\n",  # tags are refused
    ],
)
def test_bad_yaml_is_one_error_without_the_secret(tmp_path: Path, text: str) -> None:
    path = tmp_path / "s3.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="not valid YAML") as err:
        aios3.connect(path)
    assert_hidden(err, SECRET)
    assert "s3.yaml" in str(err.value) and "line" in str(err.value)


def test_yaml_values_of_the_wrong_shape_or_type(tmp_path: Path) -> None:
    path = tmp_path / "s3.yaml"
    cases = {
        "- a\n- b\n": "mapping of settings",
        "s3: [1, 2]\n": "s3 section",
        f"secret_access_key: 12345\naccess_key_id: {SECRET}\n": "must be a string",
        'tls: "false"\n': "true or false",
        "max_attempts: many\n": "whole number",
        "max_attempts: true\n": "whole number",
        "anonymous:\n": "true or false",
        "bucket: x\n": "unknown configuration keys",
    }
    for text, message in cases.items():
        path.write_text(text)
        with pytest.raises(ConfigError, match=message) as err:
            Config.from_yaml(path)
        assert_hidden(err, SECRET, "12345")
    with pytest.raises(ConfigError, match="cannot read"):
        Config.from_yaml(tmp_path / "missing.yaml")


def test_yaml_without_pyyaml_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s3.yaml"
    path.write_text("region: eu-west-1\n")
    monkeypatch.setitem(sys.modules, "yaml", None)  # as if PyYAML were not installed
    with pytest.raises(ConfigError, match=r"needs PyYAML: pip install 'aios3\[yaml\]'"):
        aios3.connect(path)
    (tmp_path / "s3.toml").write_text('region = "eu-west-1"\n')
    assert aios3.connect(tmp_path / "s3.toml").config.region == "eu-west-1"  # TOML still


# -- .env files ------------------------------------------------------------------------


def write_env(path: Path, server: Server, *extra: str) -> None:
    path.write_text(
        "\n".join(
            [
                "# credentials for the demo, as tutorials keep them",
                f"export AWS_ACCESS_KEY_ID={server.access_key_id}",
                f"AWS_SECRET_ACCESS_KEY='{server.secret_access_key}'",
                f'AWS_ENDPOINT_URL="{server.endpoint}"  # the local server',
                f"AWS_REGION = {server.region}",
                "",
                "DATABASE_URL=postgres://app@db/app",
                *extra,
            ]
        )
        + "\n"
    )


async def test_env_file_supplies_credentials_and_endpoint(
    server: Server, bucket_name: str, tmp_path: Path
) -> None:
    env_file = tmp_path / ".env"
    write_env(env_file, server)
    before = dict(os.environ)
    async with aios3.connect(env_file=env_file, default_bucket=bucket_name) as s3:
        assert s3.config.access_key_id == server.access_key_id
        assert s3.config.endpoint == server.endpoint and s3.config.region == server.region
        await roundtrip(s3, bucket_name)
    assert dict(os.environ) == before  # the file's values went to this client only
    assert "secret_access_key=" not in repr(s3.config)


@pytest.mark.needs("auth")
async def test_env_file_never_overrides_the_environment(
    server: Server, bucket_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    write_env(env_file, server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-the-environment")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    s3 = aios3.connect(env_file=env_file, default_bucket=bucket_name)
    assert s3.config.access_key_id is None  # botocore takes the environment's
    assert s3.config.region is None and s3.config.region_name() == "eu-west-3"
    assert s3.config.endpoint == server.endpoint  # not set in the environment: the file's
    async with s3:  # the environment's (wrong) credentials are used, and refused
        with pytest.raises(aios3.AccessDenied):
            await s3.create_bucket(bucket_name)


def test_env_file_keeps_what_the_config_sets(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        f"AWS_ACCESS_KEY_ID=FILEKEY\nAWS_SECRET_ACCESS_KEY={SECRET}\nAWS_REGION=eu-north-1\n"
        'AWS_PROFILE=file-profile\nAWS_SESSION_TOKEN="tok\\"en"\n'
    )
    cfg = Config(access_key_id="MINE", secret_access_key="mine", region="us-west-2")
    filled = cfg.with_env_file(env_file)
    assert (filled.access_key_id, filled.region) == ("MINE", "us-west-2")
    assert filled.profile == "file-profile"
    fresh = Config().with_env_file(env_file)
    assert (fresh.access_key_id, fresh.secret_access_key) == ("FILEKEY", SECRET)
    assert fresh.session_token == 'tok"en'
    explicit = aios3.connect(env_file=env_file, region="ap-south-1").config
    assert explicit.region == "ap-south-1"  # keywords win over the file


def test_bad_env_files_are_one_error_without_the_secret(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    cases = {
        f"AWS_SECRET_ACCESS_KEY={SECRET}\n": "without AWS_ACCESS_KEY_ID",
        f"AWS_ACCESS_KEY_ID=AK\nthis line {SECRET}\n": "line 2: expected NAME=value",
        f'AWS_SECRET_ACCESS_KEY="{SECRET}\nAWS_ACCESS_KEY_ID=AK\n': "not closed",
        f"AWS_ENDPOINT_URL=ftp://{SECRET}\n": "not an http",
    }
    for text, message in cases.items():
        env_file.write_text(text)
        with pytest.raises(ConfigError, match=message) as err:
            aios3.connect(env_file=env_file)
        if message != "not an http":  # an endpoint is not a secret: it is named
            assert_hidden(err, SECRET)
    with pytest.raises(ConfigError, match="cannot read"):
        aios3.connect(env_file=tmp_path / "missing.env")
