"""The client's core: the aiobotocore session and client it owns, name resolution, and
the one call path that turns botocore's errors into aios3's."""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol

from ._aio import MemoryPool, in_thread
from ._body import Body, FileSpan, Pieces
from ._checksum import checksum_param
from ._config import Config, TransferConfig
from ._direct import Answer, DirectPath, NeedsClient, http_session_class
from ._exceptions import ConfigError, TransferError, translate
from ._first import first_requests
from ._names import Name, resolve
from ._options import RequestOptions, request_options
from ._rawget import RawAnswer, RawConnections
from ._redact import protect as protect_logs
from ._retry import with_retries

__all__ = ["ClientCore", "LiveTransfer", "parse_timestamp"]

log = logging.getLogger("aios3")


def _run_now(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coroutine`` to its end here and now, in this thread, without the event
    loop: for one that never waits (building aiobotocore's client with credentials
    given outright awaits nothing that is not ready; the tests hold it to that)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError(
        "building the aiobotocore client had to wait: make any aios3 call first "
        "(await s3.exists(...)), which builds it asynchronously"
    )


def parse_timestamp(value: Any) -> datetime:
    """S3's timestamps, fast: RFC 1123 in headers ("Sat, 21 Nov 2026 14:24:41 GMT"),
    ISO 8601 in XML ("2026-11-21T14:24:41.000Z"); anything else goes to botocore. A
    listing page repeats the same few seconds: the text of recent ones is remembered."""
    if isinstance(value, str):
        try:
            return _parse_text(value)
        except (TypeError, ValueError):
            pass
    from botocore.utils import parse_timestamp as slow

    parsed: datetime = slow(value)
    return parsed


_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}


@functools.lru_cache(maxsize=1024)
def _parse_text(value: str) -> datetime:
    if value.endswith("GMT"):
        return _http_date(value)
    if value.endswith("Z"):
        return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)
    raise ValueError(value)


def _http_date(value: str) -> datetime:
    """An HTTP date as ``email.utils.parsedate_to_datetime`` reads it; its usual form
    ("Sat, 21 Nov 2026 14:24:41 GMT") read here, without importing the email package
    (~2 ms of every process's first HEAD)."""
    month = _MONTHS.get(value[8:11])
    day_name = value[:3]
    if (
        len(value) == 29
        and value[3:5] == ", "
        and month is not None
        and day_name.split()
        == [
            day_name  # (one word, as email splits it)
        ]
    ):
        fields = value[5:7], value[12:16], value[17:19], value[20:22], value[23:25]
        separators = value[7] + value[11] + value[16] + value[19] + value[22] + value[25:]
        if separators == "   :: GMT" and all(f.isdigit() and f.isascii() for f in fields):
            day, year, hour, minute, second = map(int, fields)
            if year >= 100:  # (email reads 0000-0099 as 1969-2068)
                return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    from email.utils import parsedate_to_datetime

    return parsedate_to_datetime(value)


class LiveTransfer(Protocol):
    """A transfer in progress, which closing the client stops: a multipart upload
    (aborted), a stream (its connection released), a ranged download (its ranges
    cancelled). The task driving it then gets :func:`~aios3._exceptions.closed_error`."""

    async def _abort_for_close(self) -> None: ...


class ClientCore:
    """Lifecycle and plumbing shared by every group of operations."""

    def __init__(self, config: Config, transfer: TransferConfig | None = None) -> None:
        self.config = config
        self.transfer = transfer or TransferConfig()
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        # Transfers in progress, stopped by close(). Weak: a stream dropped mid-way must
        # still be collected (its __del__ releases the connection).
        self._live: weakref.WeakSet[LiveTransfer] = weakref.WeakSet()
        self._closing = False
        self._direct: DirectPath | None = None
        self._building: asyncio.Lock | None = None  # held while a task builds the client
        # the part buffers of all this client's uploads, together (TransferConfig.max_memory)
        self.memory = MemoryPool(self.transfer.max_memory)
        # what every request carries where its operation takes it (Config's defaults)
        self._options = request_options(
            request_payer=config.request_payer or None,
            expected_bucket_owner=config.expected_bucket_owner,
        )

    def __repr__(self) -> str:
        state = "open" if self._stack is not None else "closed"
        return f"<aios3.S3 {state} endpoint={self.config.endpoint_url() or 'aws'}>"

    # -- lifecycle -----------------------------------------------------------------

    async def __aenter__(self) -> Any:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Get ready to send (``async with`` does this): the aiobotocore session and
        client, unless the first requests can go without them (see :attr:`client`)."""
        if self._stack is not None:
            return
        self._closing = False
        stack = AsyncExitStack()
        stack.callback(protect_logs(self.config, self))  # secrets kept out of logs until closed
        self._stack = stack
        try:
            first = first_requests(self.config)
            if first is not None:  # the client is built by the first call that needs it
                try:
                    self._direct = DirectPath.before_client(
                        first, sign_payload=self._sign_payload(), raw=self._raw_connections()
                    )
                except (TypeError, KeyError, ValueError):  # tables of another layout
                    first = None
            if first is None:
                await self._build()
        except BaseException:
            await self.close()
            raise

    async def _build(self) -> Any:
        """Build the aiobotocore session and client, on the exit stack of :meth:`open`;
        hand the client to the direct path (one the first requests used, or a new one)."""
        stack = self._stack
        if stack is None:
            raise RuntimeError("the S3 client is closed; use 'async with aios3.connect(...)'")
        from aiobotocore.session import AioSession

        from ._body import send_with_aiohttp
        from ._model_cache import install as install_model_cache

        send_with_aiohttp()

        cfg = self.config
        try:
            session = AioSession(profile=cfg.profile)
            install_model_cache(session)  # the S3 model and ruleset, parsed, from disk
            # botocore parses every Last-Modified with dateutil (~0.1-0.3 ms a
            # response): parse the two forms S3 sends directly, the rest as before.
            session.get_component("response_parser_factory").set_parser_defaults(
                timestamp_parser=parse_timestamp
            )
            kwargs: dict[str, Any] = {
                "region_name": cfg.region_name()
                or session.get_config_variable("region")
                or "us-east-1",
                "endpoint_url": cfg.endpoint_url(),
                "config": self._botocore_config(),
            }
            if cfg.access_key_id is not None:
                kwargs["aws_access_key_id"] = cfg.access_key_id
                kwargs["aws_secret_access_key"] = cfg.secret_access_key
                kwargs["aws_session_token"] = cfg.session_token
            if cfg.ca_bundle is not None:
                kwargs["verify"] = cfg.ca_bundle
            elif not cfg.verify_tls:
                kwargs["verify"] = False
            client = await stack.enter_async_context(session.create_client("s3", **kwargs))
        except Exception as exc:
            from botocore.exceptions import BotoCoreError

            if isinstance(exc, BotoCoreError):  # an unknown profile, a broken config file
                raise ConfigError(f"cannot set up the S3 client: {exc}") from exc
            raise
        self._client = client
        http = client._endpoint.http_session
        if isinstance(http, http_session_class()):  # an http:// endpoint needs no TLS
            http.plain_endpoint = client._endpoint.host.lower().startswith("http://")
        from ._retry import bound_connect_retries

        bound_connect_retries(client, cfg.connect_timeout)
        direct, self._direct = self._direct, None
        if direct is not None:  # the first requests' path: its connections stay open
            try:
                direct.attach(client)
                self._direct = direct
            except Exception as exc:  # an aiobotocore whose internals moved
                direct.close()
                log.debug("direct requests disabled: %r", exc)
        elif cfg.direct_requests:
            self._direct = DirectPath.for_client(client, sign_payload=self._sign_payload())
        return client

    def _raw_connections(self) -> RawConnections:
        """aios3's own connections, pooled as botocore's would be (see :meth:`_build`)."""
        cfg = self.config
        return RawConnections(
            limit=self._pool_size(),
            connect_timeout=cfg.connect_timeout,
            read_timeout=cfg.read_timeout,
        )

    def _pool_size(self) -> int:
        return self.config.max_pool_connections or max(64, 4 * self.transfer.concurrency)

    async def close(self) -> None:
        """Close the client and its connections.

        Multipart uploads still in progress (in other tasks) are aborted first, while
        the connection is still there to do it, so closing never orphans an upload;
        the tasks driving them get a :class:`~aios3.TransferError`.
        """
        self._closing = True  # no new multipart upload starts from here on
        live, self._live = list(self._live), weakref.WeakSet()
        for transfer in live:  # multipart uploads, streams, ranged downloads
            await transfer._abort_for_close()
        if self._direct is not None:
            self._direct.close()
        stack, self._stack, self._client, self._direct = self._stack, None, None, None
        self._building = None
        if stack is not None:
            await stack.aclose()

    def _sign_payload(self) -> bool | None:
        """Whether request bodies are SHA-256 signed; ``None``: botocore decides.

        Over https with checksums on, bodies go unsigned: TLS plus the checksum every
        body carries is what botocore itself deems enough, but botocore only notices the
        checksums it computes, not the ones aios3 passes, and would hash every part
        (~0.5 s of CPU per GiB). Over http botocore signs, as it must."""
        cfg = self.config
        if cfg.sign_payload is not None:
            return cfg.sign_payload
        url = cfg.endpoint_url()
        https = url is None or url.startswith("https:")  # AWS itself: https
        if https and cfg.checksum != "when_required":
            return False
        return None

    def _botocore_config(self) -> Any:
        from aiobotocore.config import AioConfig
        from botocore import UNSIGNED

        cfg = self.config
        style = cfg.addressing_style or ("path" if cfg.endpoint_url() else "auto")
        s3: dict[str, Any] = {"addressing_style": style}
        sign_payload = self._sign_payload()
        if sign_payload is not None:
            s3["payload_signing_enabled"] = sign_payload
        options: dict[str, Any] = {
            "s3": s3,
            "retries": {"total_max_attempts": cfg.max_attempts, "mode": "standard"},
            "connect_timeout": cfg.connect_timeout,
            "http_session_cls": http_session_class(),
            "read_timeout": cfg.read_timeout,
            "max_pool_connections": self._pool_size(),
        }
        if cfg.checksum is not None:
            options["request_checksum_calculation"] = cfg.checksum
            options["response_checksum_validation"] = cfg.checksum
        if cfg.anonymous:
            options["signature_version"] = UNSIGNED
        return AioConfig(**options)

    @property
    def client(self) -> Any:
        """The underlying aiobotocore S3 client, for operations aios3 does not wrap
        and for its event hooks.

        A client may leave it unbuilt until a call needs it: its first GETs, HEADs,
        small PUTs and DELETEs can go without (see the README's "Start-up"). Reading
        this builds it there and then, which costs a fresh process about 0.3 s of
        CPU; everything this client sends from then on goes through it."""
        if self._client is not None:
            return self._client
        if self._stack is None:
            raise RuntimeError("the S3 client is closed; use 'async with aios3.connect(...)'")
        return _run_now(self._build())

    async def _built(self) -> Any:
        """:attr:`client`, built here if it is not yet (by one task at a time)."""
        if self._client is not None:
            return self._client
        if self._building is None:
            self._building = asyncio.Lock()
        async with self._building:
            if self._client is not None:
                return self._client
            return await self._build()

    # -- plumbing shared by the operation modules ------------------------------------

    def name(
        self, name: Name, *, bucket: str | None = None, allow_empty_key: bool = False
    ) -> tuple[str, str]:
        """Resolve ``name`` (key, ``s3://`` URL or :class:`S3Name`) to ``(bucket, key)``."""
        return resolve(
            name, self.config.default_bucket, bucket=bucket, allow_empty_key=allow_empty_key
        )

    async def call(
        self,
        operation: str,
        *,
        action: str,
        bucket: str,
        key: str | None = None,
        options: RequestOptions | None = None,
        **params: Any,
    ) -> Any:
        """Call a botocore operation, turning its errors into aios3's. The hot
        single-object operations and the listings take the direct path where it
        applies. ``options`` (and the client's defaults: requester pays, expected bucket
        owner) add the parameters this operation takes; ``params`` given outright win."""

        def fetch() -> Coroutine[Any, Any, Answer]:
            return self.fetch(
                operation, action=action, bucket=bucket, key=key, options=options, **params
            )

        if operation.startswith("list_"):  # read-only: asked for again if it does not read
            return await self.read_listing(
                await fetch(), fetch, action=action, bucket=bucket, key=key
            )
        return self.read(await fetch(), action=action, bucket=bucket, key=key)

    async def fetch(
        self,
        operation: str,
        *,
        action: str,
        bucket: str,
        key: str | None = None,
        options: RequestOptions | None = None,
        whole: bool = False,
        most: int | None = None,
        **params: Any,
    ) -> Answer:
        """:meth:`call`, the XML body of a direct answer left unread until
        :meth:`read` (a listing asks for its next page first: see :class:`Answer`).
        ``whole``: a GetObject whose body the caller reads whole into memory, and
        ``most``: how long that body may be (see :meth:`DirectPath.fetch`)."""
        if self._stack is None:
            raise RuntimeError("the S3 client is closed; use 'async with aios3.connect(...)'")
        params = self._with_options(operation, options, params)
        try:
            direct, tried = self._direct, None
            if self._client is None and direct is not None:  # the first requests
                try:
                    answer = await direct.fetch(
                        operation, bucket, key, params, whole=whole, most=most
                    )
                except NeedsClient as needs:  # its first try is the regular path's
                    answer, tried = None, needs.tried
                if answer is not None:
                    return answer
            client = await self._built()
            direct = self._direct
            if direct is not None:
                answer = await direct.fetch(
                    operation, bucket, key, params, whole=whole, most=most, tried=tried
                )
                if answer is not None:
                    return answer
            if key is not None:
                params["Key"] = key
            body = params.get("Body")
            if isinstance(body, FileSpan):  # botocore takes bytes (a region redirect, say)
                params["Body"] = await in_thread(body.read_whole, on_cancel=body.stop)
            elif isinstance(body, Pieces):
                params["Body"] = body.joined()
            return Answer(await getattr(client, operation)(Bucket=bucket, **params))
        except Exception as exc:
            raise translate(exc, action=action, bucket=bucket, key=key) from exc

    def _body_checksum(self, algorithm: str | None, params: Mapping[str, Any]) -> str | None:
        """The checksum an upload's body carries: ``algorithm``, or where that is
        ``None``, the one botocore would put on it unasked (CRC32, unless checksums go
        only where required), which aios3 then computes in the pass that hashes the
        body rather than leaving the request to botocore (which reads it twice more).
        The upload still declares no algorithm. None where the caller's own ``params``
        (``extra``) name a checksum or an algorithm: botocore then adds none of its own."""
        if algorithm is not None or self._direct is None:
            return algorithm
        if any(name.startswith("Checksum") for name in params):
            return None
        return self._direct.unasked_checksum

    async def _signs_body(
        self,
        operation: str,
        algorithm: str | None,
        data: Any,
        *,
        bucket: str,
        options: RequestOptions | None = None,
        **params: Any,
    ) -> bool:
        """Whether :meth:`call` signs the body ``data`` (carrying its ``algorithm``
        checksum) by a SHA-256 that aios3 computes, and so takes from ``Body.sha256``
        when the body carries one (see :func:`checksummed`). botocore's path hashes
        every body it signs on its own."""
        direct = self._direct
        if direct is None or not isinstance(data, Body | FileSpan | Pieces):
            return False
        param = checksum_param(algorithm)
        if param is not None:
            params[param] = ""  # its value is not known yet; its presence counts
        params = self._with_options(operation, options, {**params, "Body": data})
        return await direct.hashes_body(operation, bucket, params)

    async def _sends_span(
        self,
        operation: str,
        *,
        bucket: str,
        options: RequestOptions | None = None,
        **params: Any,
    ) -> bool:
        """Whether :meth:`call` sends ``operation`` with a :class:`FileSpan` body over
        aios3's own connections (plain http, the direct path, no customer key), which
        alone send a span without reading it into memory."""
        direct = self._direct
        if direct is None:
            return False
        span = FileSpan(-1, 0, int(params.get("ContentLength") or 0), "")
        params = self._with_options(operation, options, {**params, "Body": span})
        return await direct.sends_span(operation, bucket, params)

    async def _raw_range(
        self,
        bucket: str,
        key: str,
        *,
        start: int,
        end: int,
        options: RequestOptions | None = None,
        **params: Any,
    ) -> RawAnswer | None:
        """GetObject of bytes ``start`` to ``end - 1`` with its body read into buffers
        (:meth:`DirectPath.raw_range`); ``None``: ask with :meth:`call`. Errors are
        aios3's (a connection that fails: :class:`~aios3.TransferError`)."""
        direct = self._direct
        if direct is None:
            return None
        params = self._with_options("get_object", options, params)
        try:
            return await direct.raw_range(bucket, key, params, start=start, end=end)
        except (OSError, TimeoutError) as exc:  # ConnectionError is an OSError
            raise TransferError(
                f"get bytes {start}-{end - 1} of s3://{bucket}/{key}: {exc!r}",
                bucket=bucket,
                key=key,
            ) from exc

    def _with_options(
        self, operation: str, options: RequestOptions | None, params: dict[str, Any]
    ) -> dict[str, Any]:
        """``params`` and what ``options`` and the client's defaults add to them."""
        given = self._options.merged(options)
        if given:
            return {**given.for_operation(self.client, operation), **params}
        return params

    @staticmethod
    def read(
        answer: Answer,
        *,
        action: str,
        bucket: str,
        key: str | None = None,
        objects: bool = False,
    ) -> Any:
        """``answer`` read into botocore's dict, a body that is not XML as aios3's error.
        ``objects``: a ListObjectsV2 page, its objects read as ObjectInfo
        (:meth:`Answer.read`)."""
        try:
            return answer.read(bucket if objects else None)
        except Exception as exc:
            raise translate(exc, action=action, bucket=bucket, key=key) from exc

    async def read_listing(
        self,
        answer: Answer,
        again: Callable[[], Awaitable[Answer]],
        *,
        action: str,
        bucket: str,
        key: str | None = None,
        objects: bool = False,
    ) -> Any:
        """A listing page's ``answer`` read (:meth:`read`). One whose body does not read
        (a 200 whose XML breaks off, which botocore's path takes for a 500 and tries
        again) is asked for again with ``again()``, as a body cut short is
        (:func:`~aios3._retry.with_retries`)."""
        answers = [answer]

        async def attempt() -> Any:
            got = answers.pop() if answers else await again()
            return self.read(got, action=action, bucket=bucket, key=key, objects=objects)

        page, _ = await with_retries(
            attempt, transfer=self.transfer, what=f"{action} of s3://{bucket}"
        )
        return page
