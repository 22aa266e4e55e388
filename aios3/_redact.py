"""Keep credentials out of DEBUG logs.

Turn botocore's logging up to DEBUG to troubleshoot and it writes out every request it
signs: header dicts (``'X-Amz-Security-Token': b'...'``), the SigV4 ``CanonicalRequest``
(``x-amz-security-token:...``), ``Signature:`` lines, ``Authorization`` headers, the
parameters of each call (``'SSECustomerKey': '...'``) and presigned URLs. aios3 rewrites
those log records before any handler sees them.

What is redacted (replaced by ``<redacted>``), wherever it appears in a message, in its
traceback text and in its stack text:

- the value of ``Authorization`` (and ``Proxy-Authorization``) after its scheme, so
  ``AWS4-HMAC-SHA256 <redacted>``: the credential scope and the ``Signature=`` go;
- ``x-amz-security-token`` / ``X-Amz-Security-Token``, ``session_token``,
  ``SessionToken``, ``token``; ``secret_access_key``, ``SecretAccessKey``,
  ``secret_key``; ``Signature`` and ``X-Amz-Signature`` (presigned URLs, ``Signature:``
  lines of ``botocore.auth``); the SSE-C keys: the headers
  ``x-amz-server-side-encryption-customer-key`` and
  ``x-amz-copy-source-server-side-encryption-customer-key`` and the parameters
  ``SSECustomerKey`` and ``CopySourceSSECustomerKey`` (their ``...-MD5`` digests stay);
- in each of the forms botocore and aiohttp write them: ``name: value`` and
  ``name:value`` lines, ``name=value`` pairs and URL query strings (also ``%3D``-encoded),
  quoted dict, JSON and tuple entries (``'name': b'value'``, ``"name": "value"``,
  ``('name', 'value')``), names matched case-insensitively;
- and, anywhere in the text, the literal secret access key and session token of every
  open aios3 client (also percent-encoded), however they got there. A client registers
  its secrets when it opens and removes them when it closes (or, never closed, when it
  is collected). The registry holds the client only by weak reference and reads its
  credentials as they are at each record, so refreshed ones are covered too.

Only records of the loggers ``aios3``, ``botocore``, ``aiobotocore``, ``boto3``,
``s3transfer``, ``urllib3`` and ``aiohttp`` (and their children) are touched; other
loggers' records pass unchanged. A redacted record's message is rendered once,
redacted, and stored as ``record.msg`` with ``record.args = None``. Redacting never
raises: a record that cannot be rendered or redacted is logged as ``<unloggable>``,
never as it was.

How it is installed: opening an aios3 client wraps the logging *record factory*
(:func:`logging.setLogRecordFactory`), once, before botocore's session is created; later
opens find it in place. The factory sees every record as it is created, before any
logger filter or handler, so it covers botocore's child loggers (a filter on the
``botocore`` logger would not see the records of ``botocore.auth``: filters apply only to
records made on their own logger, not to those propagated from children), loggers
created after the client opened (modules botocore imports lazily), and handlers added
at any time. Records exist only for levels that are enabled, so with DEBUG off the cost
is nothing for DEBUG lines and a name check for the rest. Should other code replace the
record factory later, the next client to open wraps it again (a record is redacted once
however many times it is wrapped).

How to turn it off: ``aios3.log_redaction(False)`` (back on: ``aios3.log_redaction()``),
or ``AIOS3_LOG_REDACTION=0`` in the environment (also ``false``, ``no``, ``off``),
which clients honour when they open unless :func:`log_redaction` was called.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = ["REDACTED", "install", "log_redaction", "protect", "redact"]

#: What a redacted value is replaced with.
REDACTED = "<redacted>"
_UNLOGGABLE = "<unloggable>"

#: Loggers (with their children) whose records are redacted.
_LOGGERS = ("aios3", "botocore", "aiobotocore", "boto3", "s3transfer", "urllib3", "aiohttp")
_CHILDREN = tuple(f"{name}." for name in _LOGGERS)
_ENV = "AIOS3_LOG_REDACTION"
_OFF = frozenset({"0", "false", "no", "off"})
_MIN_SECRET = 6  # a registered secret shorter than this is too common a string to hunt
_MARK = "_aios3_redacted"

# Names whose values are secret. Written for re.IGNORECASE | re.VERBOSE; each must not
# be followed by a word character or "-" (so "...-customer-key-MD5" and
# "SSECustomerKeyMD5", digests of the key, do not match) nor preceded by one
# ("continuation-token" is no secret).
_SECRET_NAMES = r"""
      (?:x-amz-)?security[-_]?token
    | (?:aws[-_]?)?session[-_]?token
    | token
    | (?:aws[-_]?)?secret[-_]?(?:access[-_]?)?key
    | (?:x-amz-)?signature
    | (?:copy[-_]?source[-_]?)?sse[-_]?customer[-_]?key
    | (?:x-amz-)?(?:copy-source-)?server-side-encryption-customer-key
"""

_PAIR = re.compile(
    rf"""
    (?:(?<![\w-])|(?<=%3F)|(?<=%26))                 # after ?, & also URL-encoded
    (?P<q>['"])?                                    # the name, maybe quoted
    (?: (?P<auth>(?:proxy-)?authorization) | (?:{_SECRET_NAMES}) )
    (?![\w-])
    (?(q)(?P=q))
    (?(q)\s*[:=,]\s*|\s*(?:[:=]|%3D)\s*)            # ': ', ':', '=', '%3D'; quoted: ', '
    (?P<value>
        (?P<vp>b?)(?P<vq>['"])(?P<body>(?:\\.|(?!(?P=vq))[^\\\r\n])*)(?P=vq)
      | (?(auth)[^\r\n'"]+|[^\s&'",;<>(){{}}\[\]]+)  # bare: to the line's end / a delimiter
    )
    """,
    re.IGNORECASE | re.VERBOSE,
)
_SCHEME = re.compile(r"[A-Za-z][\w.-]*[ \t]+")
_FORMATTER = logging.Formatter()

_lock = threading.Lock()
_explicit: bool | None = None  # set by log_redaction(); None: follow the environment
_active = False  # what the installed factory obeys


# -- redacting text -------------------------------------------------------------------


def _replace_pair(match: re.Match[str]) -> str:
    start = match.start()
    head = match.string[start : match.start("value")]
    auth = match.group("auth") is not None
    quote_char = match.group("vq")
    if quote_char is not None:
        scheme = _scheme(match.group("body")) if auth else ""
        return f"{head}{match.group('vp')}{quote_char}{scheme}{REDACTED}{quote_char}"
    scheme = _scheme(match.group("value")) if auth else ""
    return f"{head}{scheme}{REDACTED}"


def _scheme(value: str) -> str:
    """``AWS4-HMAC-SHA256 `` of ``AWS4-HMAC-SHA256 Credential=...``: kept, it says which
    signature it was without saying anything secret."""
    found = _SCHEME.match(value)
    return found.group(0) if found and len(found.group(0)) < len(value) else ""


def redact(text: str) -> str:
    """``text`` with secret header, parameter and query values and the registered
    secrets replaced by :data:`REDACTED`."""
    text = _PAIR.sub(_replace_pair, text)
    for secret in _literals():
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


# -- the secrets of open clients ------------------------------------------------------


class _Secrets:
    """What one client must keep out of logs while it is open: the configured secret
    strings (which its Config holds anyway) and the credentials botocore signs with,
    found through the client, held weakly and read anew for each record, since
    refreshable credentials change."""

    __slots__ = ("_owner", "_values")

    def __init__(self, values: tuple[str | None, ...], owner: Any) -> None:
        self._values = tuple(v for v in values if isinstance(v, str))
        self._owner: weakref.ref[Any] | None = None
        if owner is not None:
            # Not weakly referenceable: keep only the configured values.
            with contextlib.suppress(TypeError):
                self._owner = weakref.ref(owner)

    def values(self) -> Iterator[str]:
        yield from self._values
        owner = self._owner() if self._owner is not None else None
        # An aios3 client (its botocore client, once built) or a botocore client.
        client = getattr(owner, "_client", owner)
        if client is None:  # an aios3 client whose first requests go without it
            credentials = getattr(getattr(owner, "_direct", None), "_credentials", None)
        else:
            credentials = getattr(getattr(client, "_request_signer", None), "_credentials", None)
        # The instance's own attributes, not properties: RefreshableCredentials'
        # properties would refresh (blocking) from inside a logging call.
        fields = getattr(credentials, "__dict__", None) or {}
        for name in ("secret_key", "token", "_secret_key", "_token"):
            value = fields.get(name)
            if isinstance(value, str):
                yield value


_registry: dict[int, _Secrets] = {}
_ids = itertools.count()


def _literals() -> list[str]:
    """Every registered secret in the forms a log may show it in, longest first."""
    if not _registry:
        return []
    found: set[str] = set()
    for entry in list(_registry.values()):
        for value in entry.values():
            if len(value) >= _MIN_SECRET:
                found.update((value, quote(value, safe=""), quote_plus(value)))
                found.add(repr(value)[1:-1])
    return sorted(found, key=len, reverse=True)


def protect(config: Any, client: Any = None) -> Callable[[], None]:
    """Install the redaction (:func:`install`) and register the secrets of a client
    about to open: ``config``'s ``secret_access_key`` and ``session_token``, and the
    credentials ``client`` (an aios3 or a botocore client) signs with once it is open.
    Returns the function that forgets them again, which closing the client calls; a
    client collected without being closed is forgotten too. Never raises."""
    try:
        install()
        values = (
            getattr(config, "secret_access_key", None),
            getattr(config, "session_token", None),
        )
        key = next(_ids)
        _registry[key] = _Secrets(values, client)
        finalizer: weakref.finalize[Any, Any] | None = None
        if client is not None:
            with contextlib.suppress(TypeError):
                finalizer = weakref.finalize(client, _registry.pop, key, None)

        def release() -> None:
            _registry.pop(key, None)
            if finalizer is not None:
                finalizer.detach()

        return release
    except Exception:  # pragma: no cover - a logging aid must never stop a client opening
        return _nothing


def _nothing() -> None:
    pass


# -- log records ----------------------------------------------------------------------


def _redact_record(record: logging.LogRecord) -> None:
    """Render ``record``'s message once, redacted, into ``record.msg``; redact its
    traceback and stack text. Never raises."""
    fields = record.__dict__
    if fields.get(_MARK):
        return
    try:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
    except Exception:
        record.msg, record.args = _UNLOGGABLE, None
        record.exc_info = record.exc_text = record.stack_info = None
    fields[_MARK] = True


class _RedactingFactory:
    """The record factory aios3 installs: the previous factory's record, redacted if it
    comes from one of :data:`_LOGGERS` while redaction is on."""

    def __init__(self, inner: Callable[..., logging.LogRecord]) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        if _active:
            name = record.name
            if name in _LOGGERS or name.startswith(_CHILDREN):
                _redact_record(record)
        return record


def _env_enabled() -> bool:
    return os.environ.get(_ENV, "").strip().lower() not in _OFF


def install() -> None:
    """Turn redaction on as :func:`log_redaction` or ``AIOS3_LOG_REDACTION`` say, and wrap
    the record factory if it is not aios3's already. Idempotent; called by every client
    as it opens."""
    global _active
    with _lock:
        _active = _env_enabled() if _explicit is None else _explicit
        if _active and not isinstance(logging.getLogRecordFactory(), _RedactingFactory):
            logging.setLogRecordFactory(_RedactingFactory(logging.getLogRecordFactory()))


def log_redaction(enabled: bool | None = True) -> bool | None:
    """Turn the redaction of secrets in log records on (the default) or off.

    ``log_redaction(False)`` lets botocore's DEBUG lines through as they are, secrets
    and all; ``log_redaction()`` turns redaction back on (and installs it, even before
    any client opened). ``None`` goes back to what ``AIOS3_LOG_REDACTION`` says
    (``0``, ``false``, ``no`` or ``off``: off). Applies at once, to every client.
    Returns the previous setting, so ``log_redaction(previous)`` restores it.
    """
    global _explicit
    with _lock:
        previous, _explicit = _explicit, enabled
    install()
    return previous
