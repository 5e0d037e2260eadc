"""The local API gateway: a small reverse proxy in front of a stock ``chalice local``.

Deployed, API Gateway stands between clients and the functions: it answers unknown paths
and methods itself (gateway responses in the envelope, pulumi/payments_infra/api.py),
throttles each merchant (usage plans) and each client address on ``POST /token`` (the WAF
rule), and passes every value of a repeated header on to the function. ``chalice local``
does none of that the same way: it answers an unknown path with a 403 that quotes the
``Authorization`` header back, keeps only the first of two headers of one name, has no
limits, and answers its own 401/403 with bodies of its own.

So the local stack puts this gateway on the API port and ``chalice local`` behind it, on a
port of its own. The gateway:

* answers an unknown path 404 ``resource_missing``, a method the path does not serve 405
  ``method_not_allowed``, an unreadable request 400, all in the envelope, quoting nothing
  of the request;
* refuses a repeated ``Authorization`` (401) or, on an idempotent route, ``Idempotency-Key``
  (400), which the function would see only once;
* applies the rate limits (``local_rate_limit``) to keys the authorizer would accept;
* forwards everything else unchanged (CORS preflights of ``POST /token`` are answered by
  the app's own ``OPTIONS`` route, as deployed) and puts ``chalice local``'s own 401/403
  answers in the envelope.

Nothing here patches Chalice: it uses the app's route table and the app's own key lookup.
"""

from __future__ import annotations

import http.client
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from chalicelib.errors import ApiError
from chalicelib.ids import new_id
from chalicelib.web.envelope import REQUEST_ID_HEADER, dumps, error_body
from payments_admin.local_rate_limit import RateLimiter

# A client that sends less body than it announced (or idles on a keep-alive connection)
# holds a thread; after this long the gateway closes the connection.
READ_TIMEOUT_SECONDS = 10
# API Gateway's own payload cap; the app refuses anything over 64 KiB itself (413).
MAX_BODY_BYTES = 10 * 1024 * 1024
# Longer than any request of the app can take (a slow bank, retried DynamoDB calls).
UPSTREAM_TIMEOUT_SECONDS = 120
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Hop-by-hop headers (RFC 9110 7.6.1) and those the two servers write themselves.
_NOT_FORWARDED = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "host",
}
_NOT_RETURNED = _NOT_FORWARDED - {"host"} | {"server", "date"}


@dataclass(frozen=True)
class Answer:
    """A response the gateway makes itself, in the envelope, with a fresh request id."""

    status: int
    headers: dict[str, str]
    body: bytes


def answer(code: str, headers: dict[str, str] | None = None) -> Answer:
    error = ApiError(code)
    request_id = new_id("req")
    return Answer(
        error.status,
        {"Content-Type": "application/json", REQUEST_ID_HEADER: request_id, **(headers or {})},
        dumps(error_body(error, request_id)).encode(),
    )


def too_many_requests(wait: float) -> Answer:
    """429, as API Gateway answers a throttled request (whole seconds until a token)."""
    return answer("rate_limited", {"Retry-After": str(max(1, math.ceil(wait)))})


@dataclass(frozen=True)
class Route:
    """One path of the app: its template, and per method who may call it."""

    template: str  # as declared in app.py: /charge/{charge_id}
    pattern: re.Pattern[str]
    # method -> key types allowed (None: no key needed), and whether it is idempotent
    methods: dict[str, tuple[frozenset[str] | None, bool]] = field(default_factory=dict)


class RouteTable:
    """The app's routes, matched as API Gateway matches resources (one segment per ``{}``)."""

    def __init__(self, app: Any, specs: list[Any]) -> None:
        declared = {(s.path, s.method): s for s in specs}
        self._routes: list[Route] = []
        for template, methods in app.routes.items():
            regex = re.escape(template)
            regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", regex)
            route = Route(template, re.compile(regex))
            for method, entry in methods.items():
                spec = declared.get((template, method))
                if spec is not None:
                    route.methods[method] = (spec.key_types, spec.idempotent)
                else:
                    keyed = entry.authorizer is not None
                    route.methods[method] = (frozenset({"secret"}) if keyed else None, False)
            self._routes.append(route)
        # Literal paths before templates: /charges must not be read as /charge{...}.
        self._routes.sort(key=lambda r: r.template.count("{"))

    def match(self, path: str) -> Route | None:
        for route in self._routes:
            if route.pattern.fullmatch(path):
                return route
        return None


@dataclass
class Gateway:
    """What the handler needs: where to forward, the routes, the limits, the key lookup."""

    upstream_port: int
    routes: RouteTable
    limiter: RateLimiter
    # The Authorization header -> (merchant id, key type), or None when the authorizer
    # would refuse the key (never counted against a merchant).
    principal: Callable[[str | None], tuple[str, str] | None]
    upstream_host: str = "127.0.0.1"

    def metered(self, method: str, route: Route, headers: Any, client: str) -> Answer | None:
        """429 when the key's merchant (or this browser's address) is past its limit."""
        key_types, _ = route.methods[method]
        if key_types is None:
            return None  # no key, no merchant: /health, the checkout's files
        principal = self.principal(headers.get("Authorization"))
        if principal is None or principal[1] not in key_types:
            return None  # refused by the authorizer (401/403): counts against no one
        browser = client if headers.get("Origin") is not None else None
        wait = self.limiter.acquire(principal[0], method, route.template, browser)
        return too_many_requests(wait) if wait else None


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    # The standard library's backlog of 5 resets connections when ~20 clients connect at once.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        super().__init__(address, GatewayHandler)
        self.gateway = gateway


class GatewayHandler(BaseHTTPRequestHandler):
    server: GatewayServer
    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT_SECONDS
    # Headers and body leave in two writes; with Nagle the body waits for the client's
    # delayed ACK (~40 ms on Linux).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass  # the app writes one line per request; the gateway's own refusals are below

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The HTTP server's own refusals (unknown method, bad request line, header too long):
        # the envelope, nothing of the request quoted back.
        self.close_connection = True
        self._send(answer("method_not_allowed" if code in (405, 501) else "invalid_request"))

    def _send(self, response: Answer) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _read_body(self) -> bytes | Answer:
        if self.headers.get("Transfer-Encoding") is not None:
            self.close_connection = True  # the body's end cannot be found without decoding it
            return answer("invalid_request")
        raw = (self.headers.get("Content-Length") or "0").strip()
        if not (raw.isascii() and raw.isdigit()):
            self.close_connection = True
            return answer("invalid_request")
        length = int(raw)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            return answer("request_too_large")
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        body = self._read_body()
        if isinstance(body, Answer):
            self._send(body)
            return
        refusal = self._refusal()
        if refusal is not None:
            self._send(refusal)
            return
        try:
            self._forward(body)
        except (OSError, http.client.HTTPException):
            self.close_connection = True
            self._send(answer("internal_error"))

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

    def _refusal(self) -> Answer | None:
        gateway = self.server.gateway
        route = gateway.routes.match(urlsplit(self.path).path)
        if route is None:
            return answer("resource_missing")
        if self.command not in route.methods:
            return answer("method_not_allowed", {"Allow": ", ".join(sorted(route.methods))})
        if len(self.headers.get_all("Authorization") or ()) > 1:
            return answer("invalid_api_key")
        _, idempotent = route.methods[self.command]
        if idempotent and len(self.headers.get_all("Idempotency-Key") or ()) > 1:
            return answer("invalid_idempotency_key")
        return gateway.metered(self.command, route, self.headers, self.client_address[0])

    def _forward(self, body: bytes) -> None:
        gateway = self.server.gateway
        upstream = http.client.HTTPConnection(
            gateway.upstream_host, gateway.upstream_port, timeout=UPSTREAM_TIMEOUT_SECONDS
        )
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in _NOT_FORWARDED:
                    upstream.putheader(name, value)
            upstream.putheader("Host", self.headers.get("Host") or "")
            if body or self.command in ("POST", "PUT", "PATCH"):
                upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body or None)
            response = upstream.getresponse()
            payload = response.read()
            headers = [(k, v) for k, v in response.getheaders() if k.lower() not in _NOT_RETURNED]
        finally:
            upstream.close()
        names = {k.lower() for k, _ in headers}
        if response.status in (401, 403) and REQUEST_ID_HEADER.lower() not in names:
            # chalice local's own refusal (no key, a key type the route refuses).
            self._send(
                answer("invalid_api_key" if response.status == 401 else "secret_key_required")
            )
            return
        self.send_response(response.status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
