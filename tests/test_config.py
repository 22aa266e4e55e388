"""Configuration and naming: keywords, environment, mappings, TOML; S3Name and rules."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import aios3
from aios3 import Config, ConfigError, InvalidRequest, S3Name, TransferConfig

ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_PROFILE",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_endpoint_scheme_from_tls() -> None:
    assert Config(endpoint="127.0.0.1:9000", tls=False).endpoint_url() == "http://127.0.0.1:9000"
    assert Config(endpoint="s3.example:443").endpoint_url() == "https://s3.example:443"
    assert Config(endpoint="http://127.0.0.1:1").endpoint_url() == "http://127.0.0.1:1"
    with pytest.raises(ConfigError, match="contradicts"):
        Config(endpoint="http://127.0.0.1:1", tls=True)
    with pytest.raises(ConfigError, match="not an http"):
        Config(endpoint="ftp://127.0.0.1:1")


def test_environment_supplies_endpoint_and_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    cfg = Config()
    assert cfg.endpoint_url() == "http://127.0.0.1:9999"
    assert cfg.region_name() == "eu-west-3"
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    assert Config().region_name() == "ap-south-1"
    assert Config(region="us-west-2").region_name() == "us-west-2"


def test_mapping_and_toml(tmp_path: Path) -> None:
    data = {
        "access_key_id": "AK",
        "secret_access_key": "SK",
        "region": "eu-central-1",
        "endpoint": "127.0.0.1:9000",
        "tls": False,
        "default_bucket": "my-bucket",
    }
    cfg = Config.from_mapping(data)
    assert cfg.endpoint_url() == "http://127.0.0.1:9000"
    assert (cfg.default_bucket, cfg.region, cfg.access_key_id) == (
        "my-bucket",
        "eu-central-1",
        "AK",
    )
    toml = tmp_path / "s3.toml"
    toml.write_text(
        'access_key_id = "AK"\nsecret_access_key = "SK"\nregion = "eu-central-1"\n'
        'endpoint = "127.0.0.1:9000"\ntls = false\ndefault_bucket = "my-bucket"\n'
    )
    assert Config.from_toml(toml) == cfg
    assert aios3.connect(toml).config == cfg
    assert (
        aios3.connect(data, default_bucket="other-bucket").config.default_bucket == "other-bucket"
    )
    with pytest.raises(ConfigError, match="unknown configuration keys"):
        Config.from_mapping({"bukket": "x"})
    (tmp_path / "bad.toml").write_text("endpoint = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Config.from_toml(tmp_path / "bad.toml")
    with pytest.raises(ConfigError, match="cannot read"):
        Config.from_toml(tmp_path / "missing.toml")


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="addressing_style"):
        Config(addressing_style="sideways")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="checksum"):
        Config(checksum="always")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="both"):
        Config(access_key_id="AK")
    with pytest.raises(InvalidRequest, match="invalid bucket name"):
        Config(default_bucket="Bad_Bucket")
    with pytest.raises(InvalidRequest, match="unknown settings"):
        aios3.connect(endpont="http://127.0.0.1:1")
    with pytest.raises(ConfigError, match="5 MiB"):
        TransferConfig(part_size=1024)
    with pytest.raises(ConfigError, match="concurrency"):
        TransferConfig(concurrency=0)


def test_secrets_never_in_repr() -> None:
    cfg = Config(
        access_key_id="AKIDEXAMPLE", secret_access_key="s3cr3t-value", session_token="tok3n"
    )
    text = repr(cfg) + str(aios3.connect(cfg))
    assert "s3cr3t-value" not in text and "tok3n" not in text
    assert "AKIDEXAMPLE" in repr(cfg)


def test_pool_is_sized_from_concurrency() -> None:
    s3 = aios3.connect(transfer=TransferConfig(concurrency=40))
    assert s3._botocore_config().max_pool_connections == 160
    s3 = aios3.connect(max_pool_connections=3)
    assert s3._botocore_config().max_pool_connections == 3
    assert aios3.connect()._botocore_config().max_pool_connections >= 64


def test_names_resolve_keys_urls_and_s3name() -> None:
    s3 = aios3.connect(default_bucket="home-bucket")
    assert s3.name("a/b.txt") == ("home-bucket", "a/b.txt")
    assert s3.name("s3://other-bucket/x/y") == ("other-bucket", "x/y")
    assert s3.name(S3Name("k", "third-bucket")) == ("third-bucket", "k")
    assert s3.name(S3Name("k")) == ("home-bucket", "k")
    assert s3.name("s3://other-bucket/x", bucket="forced-bucket") == ("forced-bucket", "x")
    assert str(S3Name("k", "b-b")) == "s3://b-b/k"
    assert S3Name.parse("s3://bkt/a/b/") == S3Name("a/b/", "bkt")


def test_no_bucket_is_a_clear_value_error() -> None:
    s3 = aios3.connect()
    with pytest.raises(ValueError, match="no bucket"):
        s3.name("some/key")


@pytest.mark.parametrize(
    "bucket",
    ["ab", "a" * 64, "UPPER", "under_score", "-lead", "trail-", "a..b", "192.168.1.1", "xn--abc"],
)
def test_invalid_bucket_names(bucket: str) -> None:
    with pytest.raises(InvalidRequest, match="invalid bucket name"):
        aios3.connect().name("k", bucket=bucket)


def test_invalid_keys() -> None:
    s3 = aios3.connect(default_bucket="home-bucket")
    with pytest.raises(InvalidRequest, match="empty"):
        s3.name("")
    with pytest.raises(InvalidRequest, match="1024"):
        s3.name("é" * 513)  # 1,026 bytes in UTF-8
    assert s3.name("é" * 512)[1] == "é" * 512
    with pytest.raises(InvalidRequest, match="s3://"):
        S3Name.parse("http://x/y")
    with pytest.raises(InvalidRequest):
        s3.name(42)  # type: ignore[arg-type]


def test_content_disposition_helper() -> None:
    assert aios3.content_disposition(filename="report.pdf") == 'attachment; filename="report.pdf"'
    value = aios3.content_disposition("inline", filename="résumé 2026.pdf")
    assert value.startswith('inline; filename="resume 2026.pdf"; ')
    assert value.endswith("filename*=UTF-8''r%C3%A9sum%C3%A9%202026.pdf")
    with pytest.raises(InvalidRequest):
        aios3.content_disposition(filename="../etc/passwd")


def test_configs_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().region = "x"  # type: ignore[misc]
