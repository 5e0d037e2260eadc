"""The Lambda authorizer: API key -> merchant, and which routes its key type may call."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from chalice.app import AuthRequest, AuthResponse, AuthRoute

from chalicelib.ids import new_id
from chalicelib.services.authentication import Principal, usage_identifier_key
from chalicelib.web import rejections
from chalicelib.web.endpoint import KEY_CONFIRMING_ROUTES, allowed_routes

if TYPE_CHECKING:
    from chalicelib.web.pipeline import PipelineDeps

log = logging.getLogger("platform.authorizer")

_LocalNotAuthorized: type[Exception] | None
try:  # only where Chalice's local server exists (chalice local and the test client)
    from chalice.local import NotAuthorizedError as _LocalNotAuthorized
except ImportError:  # pragma: no cover - deployed Lambda
    _LocalNotAuthorized = None


class Unauthorized(Exception):
    """Raised with the exact message API Gateway turns into a 401."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


class MeteredAuthResponse(AuthResponse):
    """An AuthResponse that also names the usage-plan key, for per-merchant limits."""

    def __init__(
        self,
        usage_identifier: str,
        *,
        routes: Sequence[str | AuthRoute],
        principal_id: str,
        context: dict[str, str],
    ) -> None:
        super().__init__(routes=list(routes), principal_id=principal_id, context=context)
        self.usage_identifier = usage_identifier

    def to_dict(self, request: AuthRequest) -> dict[str, object]:
        return {**super().to_dict(request), "usageIdentifierKey": self.usage_identifier}


def authorize(auth_request: AuthRequest, deps: PipelineDeps) -> AuthResponse:
    """Allow a valid key's routes (403 elsewhere), or raise a 401 and audit the rejection."""
    route = route_of(auth_request.method_arn)
    outcome = deps.authenticator.authenticate(
        auth_request.token, reuse=route in KEY_CONFIRMING_ROUTES
    )
    if isinstance(outcome, Principal):
        return MeteredAuthResponse(
            usage_identifier_key(outcome.merchant_id),
            routes=allowed_routes(outcome.key_type),
            principal_id=outcome.merchant_id,
            context={
                "merchant_id": outcome.merchant_id,
                "key_id": outcome.key_id,
                "key_type": outcome.key_type,
            },
        )
    request_id = new_id("req")
    rejections.record(deps, outcome, route, request_id)
    raise _unauthorized(request_id)


def route_of(method_arn: str) -> str:
    """The route template a method ARN names (``GET /charge/{id}`` -> ``GET /charge/*``).

    Path parameters are folded so a caller cannot mint a new aggregate per request.
    """
    # arn:aws:execute-api:region:account:api-id/stage/METHOD/path...
    parts = (method_arn or "").split("/", 3)
    if len(parts) != 4:
        return "other"
    method, path = parts[2], "/" + parts[3]
    for route_method, pattern, template in _route_patterns():
        if route_method == method and pattern.fullmatch(path):
            return f"{method} {template}"
    return "other"


_patterns: list[tuple[str, re.Pattern[str], str]] = []


def _route_patterns() -> list[tuple[str, re.Pattern[str], str]]:
    if not _patterns:  # routes are all registered once app.py is imported
        for route in allowed_routes("secret") + allowed_routes("publishable"):
            regex = re.compile(re.escape(route.path).replace(r"\*", "[^/]+"))
            _patterns.extend((m, regex, route.path) for m in route.methods)
    return _patterns


def _unauthorized(request_id: str) -> Exception:
    if _LocalNotAuthorized is None:
        return Unauthorized()
    body = {
        "error": {
            "type": "authentication_error",
            "code": "invalid_api_key",
            "message": "Missing, malformed or invalid API key.",
        },
        "request_id": request_id,
    }
    return _LocalNotAuthorized(
        {"Content-Type": "application/json", "X-Request-Id": request_id},
        json.dumps(body).encode(),
    )
