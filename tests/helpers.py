"""One client interface over Chalice's test client and over real HTTP, plus test data."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import urllib3

VISA = "4242424242424242"
# PAYMENTS_FUNCTION_TIMEOUT_SECONDS of the test session's stack: leases and settle windows.
FUNCTION_TIMEOUT = 6
# PAYMENTS_CAPTURE_WINDOW_SECONDS of the test session's stack: capture_before - created_at.
CAPTURE_WINDOW = 20
# PAYMENTS_WEBHOOK_RETRY_SCHEDULE of the test session's stack (seconds after the 1st attempt).
WEBHOOK_RETRY_SCHEDULE = "1,2,3"
# Always in the future: a fixed year would make every tokenization fail once it passes.
FUTURE_YEAR = datetime.now(UTC).year + 5


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def data(self) -> Any:
        return self.json["data"]

    @property
    def error(self) -> Any:
        return self.json["error"]


def _headers(key: str | None, headers: dict[str, str] | None, has_body: bool) -> dict[str, str]:
    merged = {"Content-Type": "application/json"} if has_body else {}
    if key is not None:
        merged["Authorization"] = f"Bearer {key}"
    merged.update(headers or {})
    return merged


def _encode(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    return json.dumps(body).encode()


class HandlerApi:
    """Chalice's test client: the app in-process, authorizer and middleware included."""

    kind = "handler"

    def __init__(self, client: Any) -> None:
        self._client = client

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Resp:
        response = self._client.http.request(
            method, path, headers=_headers(key, headers, body is not None), body=_encode(body)
        )
        text = response.body.decode() if isinstance(response.body, bytes) else response.body
        return Resp(response.status_code, {k.lower(): v for k, v in response.headers.items()}, text)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Resp:
        return self.request("POST", path, body, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Resp:
        return self.request("GET", path, None, **kwargs)


class HttpApi(HandlerApi):
    """Real HTTP against ``chalice local``."""

    kind = "http"
    _pool = urllib3.PoolManager(maxsize=64, retries=False, timeout=urllib3.Timeout(30))

    def __init__(self, base_url: str, *, reuse_connections: bool = True) -> None:
        self._base = base_url
        self._reuse = reuse_connections

    def _pool_for_request(self) -> urllib3.PoolManager:
        # A server that is killed and restarted leaves pooled connections that look alive.
        if self._reuse:
            return self._pool
        return urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(30))

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Resp:
        response = self._pool_for_request().request(
            method,
            self._base + path,
            body=_encode(body) if body is not None else None,
            headers=_headers(key, headers, body is not None),
        )
        return Resp(
            response.status,
            {k.lower(): v for k, v in response.headers.items()},
            response.data.decode(),
        )


def card(number: str = VISA, **overrides: Any) -> dict[str, Any]:
    """A valid tokenization body."""
    cvv = "1234" if number.startswith(("34", "37")) else "123"
    return {
        "card_number": number,
        "exp_month": 12,
        "exp_year": FUTURE_YEAR,
        "cvv": cvv,
        **overrides,
    }


def tokenize(api: HandlerApi, key: str, number: str = VISA) -> str:
    response = api.post("/token", card(number), key=key)
    assert response.status == 201, response.text
    return response.data["id"]


def charge_body(token: str, amount: int = 2500, **overrides: Any) -> dict[str, Any]:
    return {"token": token, "amount": amount, "currency": "USD", **overrides}


def bank_record(bank_url: str, kind: str, reference: str) -> dict[str, Any] | None:
    """What the bank's ledger holds for a reference (None if nothing)."""
    try:
        with urllib.request.urlopen(f"{bank_url}/{kind}/{reference}", timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def rejection_counts(services: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """Every aggregate of rejected authentications, by (partition, sort)."""
    from chalicelib.adapters.dynamo import from_item

    table = services.settings.table("AuthRejections")
    pages = services.dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    return {
        (item["partition"], item["sort"]): item
        for page in pages
        for item in map(from_item, page["Items"])
    }


def bank_calls(bank_url: str, reference: str) -> dict[str, int]:
    """How many operations the bank received for ``reference``, e.g. {"POST /authorizations": 1}."""
    quoted = urllib.parse.quote(reference, safe="")
    with urllib.request.urlopen(f"{bank_url}/_stats/{quoted}", timeout=5) as response:
        return json.loads(response.read())["received"]


def raw_http(
    base_url: str, request_head: bytes, body: bytes = b"", content_length: str | None = None
) -> Resp:
    """Send bytes as written (repeated or odd headers that HTTP clients refuse to send).

    ``request_head`` is the request line and header lines, without the blank line;
    ``Host``, ``Content-Length`` (``content_length`` if given) and ``Connection: close``
    are added.
    """
    length = str(len(body)) if content_length is None else content_length
    parts = urllib.parse.urlsplit(base_url)
    head = (
        request_head.rstrip(b"\r\n")
        + (
            f"\r\nHost: {parts.netloc}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
        ).encode()
    )
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    header_block, _, payload = raw.partition(b"\r\n\r\n")
    lines = header_block.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Resp(status, headers, payload.decode())
