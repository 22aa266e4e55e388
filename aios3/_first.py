"""The first requests: what a client sends before aiobotocore's client is built.

Building aiobotocore's client costs a fresh process about 0.3 s of CPU, most of it
importing aiobotocore, botocore and aiohttp: three times what signing and sending one
small request costs. A program that makes a few requests and exits (a cron job, a CLI
call, a lambda) pays it for nothing when those requests succeed at the first try, and
a process that uploads one large file pays it on top of the transfer. So, where
nothing about the client needs botocore to decide it, ``open()`` leaves the client
unbuilt, and the first GetObject read whole, HeadObject, HeadBucket, PutObject,
DeleteObject, ListObjectsV2, DeleteObjects (a batch of ``delete_many``) and the requests of a
multipart upload (CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
AbortMultipartUpload, ListParts) go over the direct path (:mod:`._direct`) on aios3's
own connections. The client is built by the first call that needs it, and from then
on every request goes the regular way:

- any call outside those, or with a parameter the direct path does not write;
- a first request not answered 2xx at the first try: an error answer, a redirect, a
  connection that fails. This is no error yet: the client is built and the regular path
  takes that try as its own first attempt, with botocore's parsing of the error and its
  retries (so the request is asked ``max_attempts`` times at most, as any other). But a
  404, which botocore neither retries nor redirects, is read as its parser reads it (a
  HEAD's bare status, S3's plain ``<Error>`` body) and raised as the regular path
  raises it: ``exists()`` of a missing key costs 9 ms of CPU, not 230;
- reading :attr:`S3.client <aios3.S3.client>`.

Where nothing needs botocore to decide: a plain ``http://`` endpoint named outright (no
path), path-style addressing, the credentials given to aios3 or in
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (or anonymous), no profile, no AWS
config file (``~/.aws/config`` or ``AWS_CONFIG_FILE``) or local models (``~/.aws/models``),
no ``AWS_*`` variable in the environment but those of credentials, region, endpoint and
files, no http proxy (nor one in the system's settings, where urllib reads them), a region
botocore signs for as named (not ``aws-global``, no ``fips``). Anything else, and
``open()`` builds the client as before; so do tables of another layout. The client built
later reads the environment again, as botocore does, when it is built.

What the direct path knows of each operation (which parameter is which header, which
response header is which member, how to read an XML body) it reads from botocore's model
once the client is built; the first requests read the same, kept in aios3's cache directory
(:mod:`._model_cache`) for this botocore and this Python by the first client built
after an install or an upgrade. Without that entry, ``open()`` builds the client.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FIRST_OPERATIONS", "FirstRequests", "StaticCredentials", "first_requests", "keep"]

# the operations of the first requests, each with the HTTP method S3's model sends it by
FIRST_OPERATIONS = {
    "get_object": "GET",
    "head_object": "HEAD",
    "head_bucket": "HEAD",
    "put_object": "PUT",
    "delete_object": "DELETE",
    "list_objects_v2": "GET",
    "create_multipart_upload": "POST",
    "upload_part": "PUT",
    "complete_multipart_upload": "POST",
    "abort_multipart_upload": "DELETE",
    "list_parts": "GET",
    "delete_objects": "POST",
}
_FORMAT = b"aios3-first-requests-5|"
# what may be in the environment: the credentials, region and endpoint, the CA bundle
# (for https alone), the credentials file (read after the credentials given outright or
# in the environment), the config file (looked for); any other AWS_* variable may change
# how botocore builds or sends a request
_ENVIRONMENT = frozenset(
    {
        "AWS_CA_BUNDLE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
    }
)
_PROXIES = frozenset({"http_proxy", "all_proxy"})
_SYSTEM_PROXY_SETTINGS = sys.platform in ("darwin", "win32")
# a bucket that botocore's ruleset puts at {endpoint}/{bucket} in path style as it is
# (no ARN, no S3 Express or Outposts suffix, nothing its URI encoding would change)
_PLAIN_BUCKET = re.compile(r"[A-Za-z0-9._-]{1,255}")
_SPECIAL_SUFFIXES = ("--x-s3", "--xa-s3", "--op-s3")
# what botocore takes as a region and an endpoint's host name (validate_region_name,
# is_valid_endpoint_url): anything else, and building its client raises, as it should
_REGION = re.compile(r"(?![0-9]+$)(?!-)[a-zA-Z0-9-]{,63}(?<!-)")
_HOST = re.compile(r"((?!-)[A-Z\d-]{1,63}(?<!-)\.)*((?!-)[A-Z\d-]{1,63}(?<!-))", re.IGNORECASE)


@dataclass(frozen=True)
class StaticCredentials:
    """Credentials that never change, as botocore's frozen ones (the names it uses,
    in the instance's ``__dict__``, where log redaction finds them)."""

    access_key: str
    secret_key: str
    token: str | None

    def __repr__(self) -> str:
        return f"StaticCredentials(access_key={self.access_key!r})"

    async def get_frozen_credentials(self) -> StaticCredentials:
        return self


@dataclass(frozen=True, slots=True)
class FirstRequests:
    """What the first requests of one client go with: where (``scheme://netloc``), the
    region they are signed for, the credentials (``None``: anonymous), whether
    checksums are only for the operations that require them, and the operations'
    tables (from :func:`keep`)."""

    scheme: str
    netloc: str
    region: str
    credentials: StaticCredentials | None
    checksum_required_only: bool
    tables: dict[str, dict[str, Any]]

    def bucket_path(self, bucket: str) -> str | None:
        """The path before a key (``/bucket``), as botocore's ruleset makes it for a
        custom endpoint in path style; ``None`` for a bucket it treats otherwise."""
        if _PLAIN_BUCKET.fullmatch(bucket) is None or bucket.endswith(_SPECIAL_SUFFIXES):
            return None
        return "/" + bucket


def first_requests(config: Any) -> FirstRequests | None:
    """What the first requests of a client with ``config`` go with; ``None`` where
    ``open()`` must build the client (see the module's documentation)."""
    if not config.direct_requests or config.profile is not None:
        return None
    if config.addressing_style not in (None, "path"):
        return None
    if any(_blocks(name) for name in os.environ) or _system_proxy():
        return None
    url = config.endpoint_url()
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    try:
        parts.port  # noqa: B018 - one out of range raises
    except ValueError:
        return None
    host = (parts.hostname or "").removesuffix(".")
    if parts.username is not None or parts.password is not None or not _HOST.fullmatch(host):
        return None
    region = config.region_name() or "us-east-1"
    if not _REGION.fullmatch(region) or region == "aws-global" or "fips" in region:
        return None  # botocore signs for another name (us-east-1, the region less fips)
    credentials = None if config.anonymous else _credentials(config)
    if credentials is None and not config.anonymous:
        return None
    try:
        home = Path.home() / ".aws"
        config_file = Path(os.environ.get("AWS_CONFIG_FILE") or home / "config").expanduser()
        if config_file.exists() or _local_models():
            return None
    except (RuntimeError, OSError):  # no home directory to look in
        return None
    tables = _load()
    if tables is None:
        return None
    return FirstRequests(
        scheme=parts.scheme,
        netloc=parts.netloc,
        region=region,
        credentials=credentials,
        checksum_required_only=config.checksum == "when_required",
        tables=tables,
    )


def _blocks(name: str) -> bool:
    """Whether the environment variable ``name`` may change what botocore does."""
    if name.startswith("AWS_") and name not in _ENVIRONMENT:
        return True
    return name.lower() in _PROXIES


def _system_proxy() -> bool:
    """Whether the system's settings name an http proxy, where urllib (and so botocore)
    reads more than the environment: the registry on Windows, System Configuration on
    macOS. Elsewhere the environment is all, and :func:`_blocks` has looked at it."""
    if not _SYSTEM_PROXY_SETTINGS:
        return False
    from urllib.request import getproxies

    proxies = getproxies()
    return bool(proxies.get("http") or proxies.get("all"))


def _local_models() -> bool:
    """Whether botocore may read a model of its own installation's: from
    ``AWS_DATA_PATH`` or ``~/.aws/models`` (or there is no home to tell)."""
    from ._model_cache import customer_models

    return bool(os.environ.get("AWS_DATA_PATH")) or customer_models()


def _credentials(config: Any) -> StaticCredentials | None:
    """The credentials botocore would sign with, where they are given outright: to
    aios3, else in the environment (botocore's first provider)."""
    if config.access_key_id is not None or config.secret_access_key is not None:
        if config.access_key_id and config.secret_access_key:
            return StaticCredentials(
                config.access_key_id, config.secret_access_key, config.session_token or None
            )
        return None
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return None
    # botocore's EnvProvider takes the older name first
    token = os.environ.get("AWS_SECURITY_TOKEN") or os.environ.get("AWS_SESSION_TOKEN")
    return StaticCredentials(key, secret, token or None)


def _entry() -> tuple[Path, bytes] | None:
    """The cache file of the tables and its key; ``None``: no cache."""
    from importlib.util import find_spec

    from botocore import __version__

    from . import __version__ as version
    from ._model_cache import cache_dir, entry_path

    try:
        directory = cache_dir()
    except RuntimeError:
        return None
    if directory is None:
        return None
    # awscrt, where installed, adds response checksum algorithms botocore checks
    crt = find_spec("awscrt") is not None
    key = _FORMAT + f"{sys.version_info[:2]}|{__version__}|{version}|crt={crt}".encode()
    return entry_path(directory, key), key


def _load() -> dict[str, dict[str, Any]] | None:
    from ._model_cache import read_entry

    where = _entry()
    if where is None:
        return None
    tables = read_entry(*where)
    if not isinstance(tables, dict) or set(tables) != set(FIRST_OPERATIONS):
        return None
    return tables


def keep(tables: dict[str, dict[str, Any]]) -> None:
    """Keep the operations' tables (read from botocore's model by a client just built)
    for the first requests of the clients to come, unless they are kept already."""
    from ._model_cache import write_entry

    where = _entry()
    if where is None or set(tables) != set(FIRST_OPERATIONS):
        return
    try:
        if _local_models():  # tables of another model than the installed one
            return
    except (RuntimeError, OSError):
        return
    entry, key = where
    if _load() != tables:
        write_entry(entry.parent, entry, key, tables)
