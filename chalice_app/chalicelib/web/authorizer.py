"""The Lambda authorizer: API key -> merchant, and which routes its key type may call."""

from __future__ import annotations

import json
from typing import Any

from chalice.app import AuthRequest, AuthResponse

from chalicelib.container import get_container
from chalicelib.ids import iso, new_id, now_utc
from chalicelib.services.authentication import Principal
from chalicelib.web.endpoint import allowed_routes

try:  # only where Chalice's local server exists (chalice local and the test client)
    from chalice.local import NotAuthorizedError as _LocalNotAuthorized
except ImportError:  # pragma: no cover - deployed Lambda
    _LocalNotAuthorized = None


class Unauthorized(Exception):
    """Raised with the exact message API Gateway turns into a 401."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def usage_identifier_key(merchant_id: str) -> str:
    """The API Gateway API key value that meters ``merchant_id`` (its usage plans' key).

    Deployed, the REST API takes API keys from the authorizer (``AUTHORIZER`` source): the
    merchant never sends it, so it need not be secret, only one per merchant.
    """
    return merchant_id


class MeteredAuthResponse(AuthResponse):
    """An AuthResponse that also names the usage-plan key, for per-merchant limits."""

    def __init__(self, usage_identifier: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.usage_identifier = usage_identifier

    def to_dict(self, request: AuthRequest) -> dict[str, Any]:
        return {**super().to_dict(request), "usageIdentifierKey": self.usage_identifier}


def authorize(auth_request: AuthRequest) -> AuthResponse:
    """Allow a valid key's routes (403 elsewhere), or raise a 401 and audit the rejection."""
    services = get_container()
    outcome = services.authenticator.authenticate(auth_request.token)
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
    services.audit_log.append(
        {
            "at": iso(now_utc()),
            "request_id": request_id,
            "action": "authentication.rejected",
            "route": _route_of(auth_request.method_arn),
            "status": 401,
            "error_code": "invalid_api_key",
            "reason": outcome.reason,
            "key_hash_prefix": outcome.key_hash_prefix,
        }
    )
    raise _unauthorized(request_id)


def _route_of(method_arn: str) -> str:
    # arn:aws:execute-api:region:account:api-id/stage/METHOD/path...
    parts = (method_arn or "").split("/", 3)
    return f"{parts[2]} /{parts[3]}" if len(parts) == 4 else method_arn


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
