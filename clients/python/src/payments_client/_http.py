"""Sending one API call, with its retries, over httpx: ``SyncRequester`` and ``AsyncRequester``.

Both share ``_Sender``: how a call becomes an HTTP request, how an answer becomes data or an
exception, and (from ``retry``) whether and when to send it again. Only the sending and the
sleeping differ.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Callable, Optional
from urllib.parse import quote

import httpx

from payments_client.errors import (
    APIConnectionError,
    APIError,
    error_from_response,
    parse_retry_after,
)
from payments_client.models import ResponseInfo
from payments_client.retry import RetryPolicy, should_retry_status

VERSION = "0.1.0"
USER_AGENT = f"payments-client-python/{VERSION}"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 30.0

# No answer came: the request may or may not have reached the server (a retry with the
# same Idempotency-Key is safe either way).
_NO_ANSWER = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def new_idempotency_key() -> str:
    """A fresh key for one operation (random, 128 bits)."""
    return str(uuid.uuid4())


def path(template: str, *ids: str) -> str:
    """``template`` with each ``{}`` replaced by an id, percent-encoded as one segment."""
    return template.format(*(quote(str(i), safe="") for i in ids))


@dataclass(frozen=True)
class Call:
    """One API call: the same for every attempt, Idempotency-Key included."""

    method: str
    path: str
    body: Optional[dict[str, Any]] = None
    params: Optional[dict[str, Any]] = None
    idempotency_key: Optional[str] = None
    # False for a POST that a repeat would apply again and no key de-duplicates
    # (rolling a webhook secret twice would replace the secret the caller never saw).
    retryable: bool = True


def body_of(**fields: Any) -> dict[str, Any]:
    """A request body of the fields given (None means "left out", never JSON null)."""
    return {name: value for name, value in fields.items() if value is not None}


class _Sender:
    def __init__(
        self,
        api_key: str,
        base_url: str,
        retry: RetryPolicy,
        rng: Optional[random.Random],
    ) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key is required")
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self._rng = rng

    def _headers(self, call: Call) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if call.body is not None:
            headers["Content-Type"] = "application/json"
        if call.idempotency_key is not None:
            headers["Idempotency-Key"] = call.idempotency_key
        return headers

    def _build(self, http: Any, call: Call) -> httpx.Request:
        content = None if call.body is None else json.dumps(call.body).encode()
        return http.build_request(
            call.method,
            self.base_url + call.path,
            content=content,
            params=call.params or None,
            headers=self._headers(call),
        )

    def _max_retries(self, call: Call) -> int:
        return self.retry.max_retries if call.retryable else 0

    def _wait_after_no_answer(self, call: Call, retries: int) -> Optional[float]:
        if retries >= self._max_retries(call):
            return None
        return self.retry.delay(retries + 1, None, self._rng)

    def _outcome(
        self, call: Call, response: httpx.Response, retries: int
    ) -> tuple[Optional[tuple[Any, ResponseInfo]], Optional[float], Optional[Exception]]:
        """(data and info) for a success, else (None, wait, None) to retry, else the error."""
        headers = {k.lower(): v for k, v in response.headers.items()}
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        status = response.status_code
        if 200 <= status < 300:
            if not isinstance(body, dict) or "data" not in body:
                # Cut or garbled on the way: the outcome is unknown, and a retry with the same
                # key (or of a read) answers it again.
                if retries < self._max_retries(call):
                    return None, self.retry.delay(retries + 1, None, self._rng), None
                return (
                    None,
                    None,
                    APIError(
                        f"HTTP {status} without the API's envelope",
                        http_status=status,
                        request_id=headers.get("x-request-id"),
                        headers=headers,
                        idempotency_key=call.idempotency_key,
                    ),
                )
            request_id = body.get("request_id") or headers.get("x-request-id")
            info = ResponseInfo(status, request_id, headers, call.idempotency_key)
            return (body["data"], info), None, None
        if retries < self._max_retries(call) and should_retry_status(status, body):
            retry_after = parse_retry_after(headers.get("retry-after"))
            wait = self.retry.delay(retries + 1, retry_after, self._rng)
            if wait is not None:
                return None, wait, None
        return None, None, error_from_response(status, body, headers, call.idempotency_key)

    @staticmethod
    def _connection_error(call: Call, exc: Exception, retries: int) -> APIConnectionError:
        attempts = "1 attempt" if retries == 0 else f"{retries + 1} attempts"
        return APIConnectionError(
            f"no answer from the API after {attempts}: {type(exc).__name__}: {exc}",
            idempotency_key=call.idempotency_key,
        )


class SyncRequester(_Sender):
    def __init__(
        self,
        api_key: str,
        base_url: str,
        retry: RetryPolicy,
        http: httpx.Client,
        sleep: Callable[[float], None] = time.sleep,
        rng: Optional[random.Random] = None,
    ) -> None:
        super().__init__(api_key, base_url, retry, rng)
        self.http = http
        self._sleep = sleep

    def request(self, call: Call) -> tuple[Any, ResponseInfo]:
        retries = 0
        while True:
            try:
                response = self.http.send(self._build(self.http, call))
            except _NO_ANSWER as exc:
                wait = self._wait_after_no_answer(call, retries)
                if wait is None:
                    raise self._connection_error(call, exc, retries) from exc
            else:
                result, wait, error = self._outcome(call, response, retries)
                if result is not None:
                    return result
                if error is not None:
                    raise error
            assert wait is not None
            self._sleep(wait)
            retries += 1


class AsyncRequester(_Sender):
    def __init__(
        self,
        api_key: str,
        base_url: str,
        retry: RetryPolicy,
        http: httpx.AsyncClient,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Optional[random.Random] = None,
    ) -> None:
        super().__init__(api_key, base_url, retry, rng)
        self.http = http
        self._sleep = sleep

    async def request(self, call: Call) -> tuple[Any, ResponseInfo]:
        retries = 0
        while True:
            try:
                response = await self.http.send(self._build(self.http, call))
            except _NO_ANSWER as exc:
                wait = self._wait_after_no_answer(call, retries)
                if wait is None:
                    raise self._connection_error(call, exc, retries) from exc
            else:
                result, wait, error = self._outcome(call, response, retries)
                if result is not None:
                    return result
                if error is not None:
                    raise error
            assert wait is not None
            await self._sleep(wait)
            retries += 1
