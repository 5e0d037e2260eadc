"""``chalice local``'s API Gateway emulation, made to answer as the deployed gateway does.

Deployed, API Gateway's gateway responses (pulumi/payments_infra/api.py) put its own refusals in the
envelope and pass repeated headers on as ``multiValueHeaders``. ``chalice local`` instead:

* answers an unknown path with 403 and, when an ``Authorization`` header is present, quotes
  that header - the secret key - back in the body;
* answers its own 401/403 (no key, a key type refused) with bodies of its own;
* keeps only the first of two headers of the same name, so the app cannot see the repeat;
* answers an HTTP method it has no handler for (``TRACE``...) with 501, and an unreadable
  ``Content-Length`` by dropping the connection.

``install()`` patches those places; nothing it answers echoes a request header.
"""

from __future__ import annotations

from typing import Any

import chalice.local as local

from chalicelib.errors import ApiError
from chalicelib.ids import new_id
from chalicelib.web.envelope import REQUEST_ID_HEADER, dumps, error_body

# The local server's own refusals of a malformed request -> our code.
_SERVER_ERRORS = {501: "method_not_allowed", 405: "method_not_allowed"}


class GatewayAnswer(local.LocalGatewayException):
    """A refusal the gateway makes itself, in the envelope, with a fresh request id."""

    def __init__(self, code: str) -> None:
        error = ApiError(code)
        request_id = new_id("req")
        super().__init__(
            {"Content-Type": "application/json", REQUEST_ID_HEADER: request_id},
            dumps(error_body(error, request_id)).encode(),
        )
        self.CODE = error.status


class _Headers(dict):  # type: ignore[type-arg]
    """The request's headers as chalice local passes them, plus every value of each."""

    multi_value: dict[str, list[str]]


def _read_request(handler: Any) -> tuple[_Headers, bytes | None]:
    raw_length = handler.headers.get("content-length", "0").strip()
    if not (raw_length.isascii() and raw_length.isdigit()):
        raise GatewayAnswer("invalid_request")
    length = int(raw_length)
    body = handler.rfile.read(length) if length > 0 else None
    headers = _Headers(handler.headers)
    headers.multi_value = {}
    for name in handler.headers:
        headers.multi_value.setdefault(name.lower(), handler.headers.get_all(name))
    return headers, body


def _in_envelope(error: local.LocalGatewayException) -> local.LocalGatewayException:
    if REQUEST_ID_HEADER in (error.headers or {}):
        return error  # already ours (the authorizer's 401)
    if error.CODE == 401:
        return GatewayAnswer("invalid_api_key")
    if error.CODE == 403:
        return GatewayAnswer("secret_key_required")
    return GatewayAnswer("internal_error")


def install() -> None:
    """Patch chalice local's gateway and request handler (once, before the server starts)."""
    gateway = local.LocalGateway
    handler = local.ChaliceRequestHandler
    if getattr(gateway, "_payments_patched", False):
        return
    make_event = gateway._generate_lambda_event
    handle_request = gateway.handle_request

    def generate_lambda_event(self: Any, method: str, path: str, headers: Any, body: Any) -> Any:
        try:
            event = make_event(self, method, path, headers, body)
        except ValueError:  # no route matches: API Gateway's MISSING_AUTHENTICATION_TOKEN
            raise GatewayAnswer("resource_missing") from None
        multi = getattr(headers, "multi_value", None)
        event["multiValueHeaders"] = multi or {k.lower(): [v] for k, v in headers.items()}
        return event

    def handle(self: Any, method: str, path: str, headers: Any, body: Any) -> Any:
        try:
            return handle_request(self, method, path, headers, body)
        except local.LocalGatewayException as error:
            raise _in_envelope(error) from None

    def generic_handle(self: Any) -> None:
        try:
            headers, body = _read_request(self)
            response = self.local_gateway.handle_request(
                method=self.command, path=self.path, headers=headers, body=body
            )
        except local.LocalGatewayException as error:
            self._send_error_response(error)
            return
        out_headers = response["headers"].copy()
        out_headers.update(response["multiValueHeaders"])
        response = self._handle_binary(response)
        self._send_http_response(response["statusCode"], out_headers, response["body"])

    def send_error(
        self: Any, code: int, message: str | None = None, explain: str | None = None
    ) -> None:
        # The HTTP server's own refusals (unknown method, bad request line): no HTML page,
        # nothing of the request quoted back.
        answer = GatewayAnswer(_SERVER_ERRORS.get(code, "invalid_request"))
        self.close_connection = True
        self._send_error_response(answer)

    gateway._generate_lambda_event = generate_lambda_event
    gateway.handle_request = handle
    for name in ("GET", "PUT", "POST", "HEAD", "DELETE", "PATCH", "OPTIONS"):
        setattr(handler, f"do_{name}", generic_handle)
    handler._generic_handle = generic_handle
    handler.send_error = send_error
    gateway._payments_patched = True
