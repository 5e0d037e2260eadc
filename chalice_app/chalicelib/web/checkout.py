"""Browser checkout over HTTP: payments.js, the card-fields page, and CORS for POST /token.

The files live in ``chalicelib/static`` (bundled by ``chalice package`` with the rest of
chalicelib). Which origins may embed the card fields or call ``POST /token`` from a
browser is the merchant's registered list (``services.checkout``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from chalice import Chalice, Response
from chalice.app import Request

from chalicelib.errors import ApiError
from chalicelib.services.authentication import Principal
from chalicelib.web import context, rejections
from chalicelib.web.envelope import error_response

if TYPE_CHECKING:
    from chalicelib.container import Services
    from chalicelib.web.pipeline import PipelineDeps

STATIC = Path(__file__).resolve().parent.parent / "static"

CARD_PAGE_ROUTE = "GET /elements/card"
# The library's path carries its major version, so a file may be cached for a year.
LIBRARY_CACHE_CONTROL = "public, max-age=31536000, immutable"
# Appended to payments.js to make the ES module (the same code, plus its exports).
_MODULE_EXPORTS = (
    "\nPayments.scriptUrl = import.meta.url;\nexport { Payments };\nexport default Payments;\n"
)
ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key"
PREFLIGHT_MAX_AGE = "600"


@cache
def _static(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def library(*, module: bool) -> Response:
    """payments.js (classic script) or payments.mjs (ES module).

    A browser fetches a module script with CORS (a classic script without), so only the
    module carries ``Access-Control-Allow-Origin: *``: a public file, no credentials, no
    API data.
    """
    headers: dict[str, str | list[str]] = {
        "Content-Type": "text/javascript; charset=utf-8",
        "Cache-Control": LIBRARY_CACHE_CONTROL,
        "X-Content-Type-Options": "nosniff",
    }
    if module:
        headers["Access-Control-Allow-Origin"] = "*"
        return Response(body=_static("payments.js") + _MODULE_EXPORTS, headers=headers)
    return Response(body=_static("payments.js"), headers=headers)


def preflight() -> Response:
    """The answer to a browser's preflight (OPTIONS) of POST /token, for any origin.

    The preflight carries no key, so it cannot know the merchant: it allows the method and
    headers for every origin (``*``, nothing of the request echoed back); the POST itself
    then carries ``Access-Control-Allow-Origin`` only for the key's registered origins.
    """
    return Response(
        body="",
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
            "Vary": "Origin",
        },
    )


def own_origin(request: Request) -> str | None:
    """The origin the API itself is served from (the card-fields page's own requests)."""
    headers = request.headers
    host = headers.get("host")
    if not host:
        return None
    # API Gateway terminates TLS and says so; chalice local serves plain HTTP.
    scheme = headers.get("x-forwarded-proto") or "http"
    return f"{scheme}://{host}"


def browser_origin(
    request: Request, ctx: context.RequestContext, services: Services, *, browser_route: bool
) -> str | None:
    """Judge a request's ``Origin`` header: the origin to allow in CORS headers, or None.

    A secret key never comes from a browser (403 ``secret_key_in_browser``); a browser's
    call of a browser route must come from an origin the key's merchant registered (403
    ``origin_not_allowed``) or from the card-fields page itself (the API's own origin).
    """
    origin: str | None = request.headers.get("origin")
    if origin is None or ctx.key_type is None:
        return None
    if ctx.key_type == "secret":
        raise ApiError("secret_key_in_browser")
    if not browser_route or origin == own_origin(request):
        return None
    if ctx.merchant_id and services.checkout.is_allowed(ctx.merchant_id, origin):
        return origin
    raise ApiError("origin_not_allowed")


def cors_headers(origin: str | None) -> dict[str, str]:
    """Headers of a browser route's answer: the origin allowed only when registered."""
    headers = {"Vary": "Origin"}
    if origin is not None:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = "X-Request-Id"
    return headers


def card_page(app: Chalice, services: Services, deps: PipelineDeps) -> Response:
    """The hosted card fields for ``?key=pk_...&origin=<parent page origin>[&name=1]``.

    Framed only by the merchant's registered origins (``frame-ancestors``); the page
    talks only to ``origin``, which must be one of them.
    """
    ctx = context.current()
    request = app.current_request
    assert request is not None  # chalice sets it before calling a view
    query: Mapping[str, str] = request.query_params or {}
    unknown = sorted(set(query) - {"key", "origin", "name"})
    if unknown:
        return error_response(ApiError("unknown_parameter", param=unknown[0][:100]), ctx.request_id)
    key = query.get("key")
    if not key:
        return error_response(ApiError("missing_parameter", param="key"), ctx.request_id)
    outcome = deps.authenticator.authenticate(f"Bearer {key}")
    if not isinstance(outcome, Principal):
        ctx.error_code = "invalid_api_key"
        rejections.record(deps, outcome, CARD_PAGE_ROUTE, ctx.request_id)
        return error_response(ApiError("invalid_api_key"), ctx.request_id)
    if outcome.key_type == "secret":
        return error_response(ApiError("secret_key_in_browser"), ctx.request_id)
    ctx.merchant_id = outcome.merchant_id
    allowed = services.checkout.allowed_origins(outcome.merchant_id)
    parent = query.get("origin")
    if parent not in allowed:
        error = ApiError("origin_not_allowed", param="origin")
        return error_response(error, ctx.request_id)
    nonce = secrets.token_urlsafe(18)
    config = {
        "key": key,
        "parent_origin": parent,
        "allowed_origins": list(allowed),
        "name": query.get("name") in ("1", "true"),
    }
    # JSON inside <script>: "<" escaped so no value can close the element.
    config_text = json.dumps(config).replace("<", "\\u003c")
    html = _static("card.html").replace("__NONCE__", nonce).replace("__CONFIG__", config_text)
    return Response(
        body=html,
        status_code=200,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": card_page_policy(allowed, nonce),
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )


def card_page_policy(allowed: tuple[str, ...], nonce: str) -> str:
    """The page's CSP: its own inline code only, requests to its own origin only, and
    framed by exactly the merchant's registered origins."""
    ancestors = " ".join(allowed) if allowed else "'none'"
    return (
        "default-src 'none'; "
        f"script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        f"frame-ancestors {ancestors}"
    )
