"""Configuration as two small objects.

:class:`Config` says *where and who*: endpoint, credentials, region, default bucket, and
the settings S3-compatible stores care about. :class:`TransferConfig` says *how bytes
move*: part size, concurrency, thresholds and retries. Both are frozen dataclasses;
derive variants with :func:`dataclasses.replace`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from ._exceptions import ConfigError
from ._names import validate_bucket

__all__ = ["Config", "TransferConfig", "KiB", "MiB", "GiB"]

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

MIN_PART_SIZE = 5 * MiB
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = MAX_PARTS * MAX_PART_SIZE  # 48.8 TiB

ChecksumMode = Literal["when_supported", "when_required"]
ChecksumAlgorithm = Literal["CRC32", "SHA256", "SHA1", "MD5"]
AddressingStyle = Literal["auto", "path", "virtual"]


@dataclass(frozen=True, slots=True)
class TransferConfig:
    """Tuning knobs for moving bytes. The defaults suit multi-gigabyte objects on a
    small machine: the part buffers of one upload stay within about ``part_size * concurrency``.

    - ``part_size`` (8 MiB): the first part size of multipart uploads and the first range
      size of parallel downloads. Uploads of known size raise it to fit 10,000 parts;
      uploads of unknown size grow it as parts accumulate; a download's ranges double, up
      to 32 MiB, while there would be more than 8 per range in flight (fewer requests;
      a range's memory is its receive buffers whatever its length).
    - ``concurrency`` (8): parts (or ranges) in flight per transfer.
    - ``multipart_threshold`` (16 MiB): uploads larger than this go multipart.
    - ``download_threshold`` (16 MiB): downloads larger than this use parallel ranged GETs.
    - ``direct_io_threshold`` (64 MiB): ranged downloads of at least this size write
      their whole blocks with ``O_DIRECT`` where the system and filesystem take it
      (Linux; not tmpfs): the bytes go from aios3's buffers to the disk with no copy
      into the page cache (0.12 CPU-s per GiB against 0.5-0.9 buffered, on this
      project's test machine), and a large download does not push other files' pages
      out of it. The file's last partial block, and any range the regular path fetches,
      are written buffered. ``None``: every download writes through the page cache.
    - ``chunk_size`` (256 KiB): the largest chunk :meth:`S3.stream` yields.
    - ``checksum_algorithm`` ("CRC32"): the integrity checksum each request body
      carries and the server verifies. "MD5" sends Content-MD5 instead (for stores that
      refuse flexible checksums); ``None`` declares none and reports none: each body
      carries only what botocore puts on it unasked, a CRC32 of its bytes that aios3
      computes as it hashes them (which a store may keep with a single PUT's object),
      or nothing where checksums go only when required (``Config(checksum=
      "when_required")``, ``AWS_REQUEST_CHECKSUM_CALCULATION``, botocore before 1.36).
    - ``full_object_checksum`` (True): with CRC32, multipart objects also record a
      CRC32 of the whole object (ChecksumType FULL_OBJECT), which downloads verify.
    - ``copy_threshold`` (512 MiB): copies larger than this (and every copy above 5 GiB,
      CopyObject's limit) run as concurrent server-side UploadPartCopy parts of
      ``copy_part_size`` (128 MiB, raised to fit 10,000 parts).
    - ``part_retries`` (3): extra attempts of a failed part or range, with exponential
      backoff from ``retry_backoff`` (0.2 s), after botocore's own retries.
    - ``cleanup_timeout`` (30 s): the longest an abort may take while unwinding.
    - ``max_memory`` (128 MiB): the part buffers all uploads of one client hold at once,
      at most (the client's own ``TransferConfig`` sets it): 8 or 100 concurrent uploads
      share it, while one alone can use all of it. A transfer holding no buffer may
      always take one, so none ever waits on another; the bound is ``max_memory`` plus
      a part per upload started while it was spent.
    """

    part_size: int = 8 * MiB
    concurrency: int = 8
    multipart_threshold: int = 16 * MiB
    download_threshold: int = 16 * MiB
    direct_io_threshold: int | None = 64 * MiB
    chunk_size: int = 256 * KiB
    checksum_algorithm: ChecksumAlgorithm | None = "CRC32"
    full_object_checksum: bool = True
    copy_threshold: int = 512 * MiB
    copy_part_size: int = 128 * MiB
    part_retries: int = 3
    retry_backoff: float = 0.2
    cleanup_timeout: float = 30.0
    max_memory: int = 128 * MiB

    def __post_init__(self) -> None:
        if self.max_memory < MIN_PART_SIZE:
            raise ConfigError(f"max_memory={self.max_memory} is below one part (5 MiB)")
        if not MIN_PART_SIZE <= self.part_size <= MAX_PART_SIZE:
            raise ConfigError(f"part_size={self.part_size} is outside S3's range of 5 MiB to 5 GiB")
        if self.concurrency < 1:
            raise ConfigError("concurrency must be at least 1")
        if (
            self.multipart_threshold < 0
            or self.download_threshold < 0
            or (self.direct_io_threshold or 0) < 0
        ):
            raise ConfigError("thresholds must not be negative")
        if not 0 <= self.copy_threshold <= MAX_PART_SIZE:
            raise ConfigError("copy_threshold must be between 0 and 5 GiB (CopyObject's limit)")
        if not MIN_PART_SIZE <= self.copy_part_size <= MAX_PART_SIZE:
            raise ConfigError("copy_part_size is outside S3's range of 5 MiB to 5 GiB")
        if self.chunk_size < 1:
            raise ConfigError("chunk_size must be at least 1")
        if self.checksum_algorithm not in (None, "CRC32", "SHA256", "SHA1", "MD5"):
            raise ConfigError(
                f"checksum_algorithm={self.checksum_algorithm!r}: "
                "choose CRC32, SHA256, SHA1, MD5 or None"
            )
        if self.part_retries < 0 or self.retry_backoff < 0 or self.cleanup_timeout <= 0:
            raise ConfigError("part_retries, retry_backoff and cleanup_timeout must be >= 0")


_FILE_KEYS = {
    "access_key_id",
    "secret_access_key",
    "session_token",
    "region",
    "endpoint",
    "tls",
    "default_bucket",
    "profile",
    "anonymous",
    "addressing_style",
    "checksum",
    "max_attempts",
    "connect_timeout",
    "read_timeout",
    "max_pool_connections",
    "ca_bundle",
    "verify_tls",
    "sign_payload",
    "direct_requests",
    "request_payer",
    "expected_bucket_owner",
}


# The type each configuration key must have in a mapping or file (None: may be left out).
_FILE_TYPES: dict[str, tuple[type, ...]] = {
    **dict.fromkeys(
        (
            "access_key_id",
            "secret_access_key",
            "session_token",
            "region",
            "endpoint",
            "default_bucket",
            "profile",
            "addressing_style",
            "checksum",
            "ca_bundle",
        ),
        (str,),
    ),
    **dict.fromkeys(("tls", "anonymous", "verify_tls", "sign_payload", "direct_requests"), (bool,)),
    **dict.fromkeys(("max_attempts", "max_pool_connections"), (int,)),
    **dict.fromkeys(("connect_timeout", "read_timeout"), (int, float)),
}
_TYPE_NAMES = {str: "a string", bool: "true or false", int: "a whole number", float: "a number"}


def _check_type(key: str, value: Any) -> None:
    """Refuse a mistyped value, naming the key and the type but never the value."""
    kinds = _FILE_TYPES[key]
    if value is None and Config.__dataclass_fields__[key].default is None:
        return  # left unset
    if isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds):
        return
    raise ConfigError(
        f"configuration key {key!r} must be {_TYPE_NAMES[kinds[-1]]}, not {type(value).__name__}"
    )


@dataclass(frozen=True, slots=True)
class Config:
    """Where to connect and as whom. Every field may be left ``None`` to take the
    standard AWS environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
    ``AWS_SESSION_TOKEN``, ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL``,
    ``AWS_PROFILE``) and profiles, as botocore resolves them.

    - ``endpoint``: URL of an S3-compatible store; a bare ``host:port`` takes its scheme
      from ``tls`` (True: https, the default; False: http).
    - ``anonymous``: send unsigned requests (public buckets); no credentials needed.
    - ``default_bucket``: the bucket of calls that name only a key.
    - ``addressing_style``: "path", "virtual" or "auto"; ``None`` picks "path" for a
      custom endpoint (what MinIO, Ceph and SeaweedFS expect) and "auto" for AWS.
    - ``checksum``: botocore's checksum mode, "when_supported" (default) or
      "when_required" for stores that reject checksum headers they did not ask for.
    - ``max_attempts`` (5): tries per request, the first included (botocore standard
      retry mode: connection errors, 5xx, throttling); ``connect_timeout`` (10 s),
      ``read_timeout`` (60 s).
    - ``max_pool_connections``: HTTP connections kept; ``None`` sizes the pool from the
      transfer concurrency (never botocore's 10, which starves concurrent transfers).
    - ``ca_bundle``: a PEM file of CA certificates to trust (self-signed stores);
      ``verify_tls=False`` turns certificate checks off.
    - ``sign_payload``: ``False`` sends bodies as UNSIGNED-PAYLOAD even over http,
      sparing a SHA-256 pass over every byte; the per-request checksum (CRC32 by
      default) still guards the bytes. ``None``: sign over http; over https skip it
      while checksums are on (``checksum`` is not "when_required"), as botocore means
      to when a checksum header is present.
    - ``direct_requests`` (True): send PutObject, UploadPart, GetObject, HeadObject,
      DeleteObject and DeleteObjects of plain S3 buckets (and the listings, a multipart
      upload's requests, and HeadBucket before the client is built) signed by aios3 straight
      through the client's HTTP session, with botocore's endpoint, credentials,
      retries, errors and checksum checks but without its generic per-request
      machinery (~0.9 ms of CPU each).
      ``False`` sends every request through botocore, e.g. for event hooks registered
      on :attr:`S3.client`, which the direct path does not run.
    - ``request_payer`` (False): ``True`` accepts the charges of requester-pays buckets
      on every request that takes ``RequestPayer``; ``expected_bucket_owner``: a
      12-digit account id every request asks S3 to check (``ExpectedBucketOwner``),
      so a bucket name squatted by another account is refused. Calls override both.
    """

    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    region: str | None = None
    endpoint: str | None = None
    tls: bool | None = None
    profile: str | None = None
    default_bucket: str | None = None
    anonymous: bool = False
    addressing_style: AddressingStyle | None = None
    checksum: ChecksumMode | None = None
    max_attempts: int = 5
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_pool_connections: int | None = None
    ca_bundle: str | None = None
    verify_tls: bool = True
    sign_payload: bool | None = None
    direct_requests: bool = True
    request_payer: bool = False
    expected_bucket_owner: str | None = None

    def __post_init__(self) -> None:
        if self.default_bucket is not None:
            validate_bucket(self.default_bucket)
        if self.addressing_style not in (None, "auto", "path", "virtual"):
            raise ConfigError(
                f"addressing_style={self.addressing_style!r}: choose path, virtual or auto"
            )
        if self.checksum not in (None, "when_supported", "when_required"):
            raise ConfigError(f"checksum={self.checksum!r}: choose when_supported or when_required")
        if self.max_attempts < 1:
            raise ConfigError("max_attempts must be at least 1")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ConfigError("timeouts must be positive")
        if self.max_pool_connections is not None and self.max_pool_connections < 1:
            raise ConfigError("max_pool_connections must be at least 1")
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ConfigError("give both access_key_id and secret_access_key, or neither")
        owner = self.expected_bucket_owner
        if owner is not None and not (
            isinstance(owner, str) and owner.isdigit() and len(owner) == 12
        ):
            raise ConfigError(f"expected_bucket_owner={owner!r} must be a 12-digit account id")
        self.endpoint_url()  # validates endpoint and tls together

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Config:
        """Build from a mapping with the keys ``access_key_id``, ``secret_access_key``,
        ``region``, ``endpoint``, ``tls``, ``default_bucket`` (and any other field).
        Each value must have its field's type (``tls = "false"`` is refused, not taken
        as true); errors name the key, never the value."""
        unknown = sorted(set(data) - _FILE_KEYS)
        if unknown:
            raise ConfigError(f"unknown configuration keys {unknown}; known: {sorted(_FILE_KEYS)}")
        for key, value in data.items():
            _check_type(key, value)
        try:
            return cls(**dict(data))
        except TypeError as exc:
            raise ConfigError(f"bad configuration: {exc}") from exc

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Config:
        """Read a TOML file whose top-level keys (or those of its ``[s3]`` table, when
        that is all it holds) are those of :meth:`from_mapping`."""
        from ._config_files import load_toml

        return cls.from_mapping(load_toml(path))

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> Config:
        """Read a YAML file holding the same keys as the TOML file, at the top level or
        under an ``s3:`` section (the form of the ``s3`` library's ``s3.yaml``). Needs
        PyYAML (``pip install 'aios3[yaml]'``); without it, a :class:`ConfigError`
        says so. Invalid YAML raises one :class:`ConfigError` naming the line, never
        quoting it."""
        from ._config_files import load_yaml

        return cls.from_mapping(load_yaml(path))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Config:
        """Read a configuration file: YAML for ``.yaml`` / ``.yml``, else TOML."""
        from ._config_files import YAML_SUFFIXES

        if os.fspath(path).lower().endswith(YAML_SUFFIXES):
            return cls.from_yaml(path)
        return cls.from_toml(path)

    def with_env_file(self, path: str | os.PathLike[str]) -> Config:
        """A copy with unset fields filled from a ``.env`` file (``NAME=value`` lines,
        as tutorials keep credentials), reading ``AWS_ACCESS_KEY_ID``,
        ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION`` /
        ``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``,
        ``AWS_PROFILE`` and ``AWS_CA_BUNDLE``; other lines are ignored.

        A variable already set in the environment is never overridden: the file's value
        is then not used (credentials go as a group, used only when the environment
        sets none of them nor ``AWS_PROFILE``, and this config gives none). Fields this
        config sets win too. The values go to this config only: ``os.environ`` is left
        as it is, and nothing is logged.
        """
        from ._config_files import CREDENTIAL_VARIABLES, ENV_FIELDS, read_env_file

        values = read_env_file(path)
        where = os.fspath(path)
        changes: dict[str, Any] = {}
        env = os.environ
        for variable, field_name in ENV_FIELDS:
            if field_name in ("access_key_id", "secret_access_key", "session_token"):
                continue
            if variable not in values or field_name in changes:
                continue
            if getattr(self, field_name) is not None:
                continue
            shadowed = {v for v, f in ENV_FIELDS if f == field_name}
            if any(env.get(v) for v in shadowed):
                continue  # the environment sets this field already
            changes[field_name] = values[variable]
        given = [v for v in CREDENTIAL_VARIABLES if values.get(v)]
        if given:
            key_id, secret = values.get("AWS_ACCESS_KEY_ID"), values.get("AWS_SECRET_ACCESS_KEY")
            if not key_id or not secret:
                raise ConfigError(
                    f"{where!r} gives {given[0]} without "
                    f"{'AWS_SECRET_ACCESS_KEY' if key_id else 'AWS_ACCESS_KEY_ID'}"
                )
            taken = any(env.get(v) for v in (*CREDENTIAL_VARIABLES, "AWS_PROFILE"))
            if not taken and self.access_key_id is None and self.profile is None:
                changes["access_key_id"] = key_id
                changes["secret_access_key"] = secret
                changes["session_token"] = values.get("AWS_SESSION_TOKEN") or None
        if not changes:
            return self
        try:
            return dataclasses.replace(self, **changes)
        except ConfigError as exc:
            raise ConfigError(f"{where!r}: {exc.message}") from None

    def merged(self, **overrides: Any) -> Config:
        """A copy with the non-``None`` ``overrides`` applied."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(self, **changes) if changes else self

    def endpoint_url(self) -> str | None:
        """The endpoint as a URL, from ``endpoint`` and ``tls`` or the environment."""
        endpoint = (
            self.endpoint
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
        )
        if not endpoint:
            if self.tls is False:
                raise ConfigError("tls=False needs an endpoint (AWS itself is https only)")
            return None
        if "://" not in endpoint:
            scheme = "http" if self.tls is False else "https"
            return f"{scheme}://{endpoint}"
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"endpoint {endpoint!r} is not an http(s) URL")
        if self.tls is not None and (parts.scheme == "https") != self.tls:
            raise ConfigError(f"endpoint {endpoint!r} contradicts tls={self.tls}")
        return endpoint

    def region_name(self) -> str | None:
        """The region from ``region`` or ``AWS_REGION`` / ``AWS_DEFAULT_REGION``."""
        return (
            self.region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or None
        )
