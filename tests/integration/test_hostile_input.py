"""Malformed and hostile requests over HTTP against the local stack: never a 5xx, always the
contract's code, never an echoed header (the contract's cases, then a hand-written abuse list)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.helpers import HttpApi, card, charge_body, raw_http, tokenize

pytestmark = pytest.mark.integration

MAX_BODY = 64 * 1024


def assert_error(response: Any, status: int, code: str, param: str | None = None) -> None:
    assert response.status == status, response.text
    error = response.error
    assert error["code"] == code, response.text
    assert error.get("param") == param, response.text
    assert response.json["request_id"] == response.headers["x-request-id"]


def without_request_id(response: Any) -> tuple[int, Any]:
    return response.status, response.json["error"]


# ---- ids validated by shape ----------------------------------------------------------------


# Each id shape is judged in tests/unit/test_validation_tables.py; over HTTP, one longer than
# DynamoDB accepts in a key shows that no lookup is tried.
@pytest.mark.parametrize("token", ["x" * 3000])
def test_a_token_that_cannot_be_ours_is_an_unknown_token(
    http_api: HttpApi, merchant: Any, token: str
) -> None:
    response = http_api.post("/charge", charge_body(token), key=merchant.secret_key)
    unknown = http_api.post("/charge", charge_body("tok_unknown"), key=merchant.secret_key)
    assert_error(response, 400, "invalid_token", "token")
    assert without_request_id(response) == without_request_id(unknown)


@pytest.mark.parametrize("charge_id", ["ch_" + "a" * 3000])
def test_a_refund_of_an_impossible_charge_id_is_404(
    http_api: HttpApi, merchant: Any, charge_id: str
) -> None:
    response = http_api.post("/refund", {"charge_id": charge_id}, key=merchant.secret_key)
    unknown = http_api.post("/refund", {"charge_id": "ch_unknown"}, key=merchant.secret_key)
    assert_error(response, 404, "resource_missing", "charge_id")
    assert without_request_id(response) == without_request_id(unknown)


@pytest.mark.parametrize("value", ["ch_%00"])  # a NUL once the query string is decoded
def test_an_impossible_starting_after(http_api: HttpApi, merchant: Any, value: str) -> None:
    response = http_api.get(f"/charges?starting_after={value}", key=merchant.secret_key)
    assert_error(response, 400, "invalid_starting_after", "starting_after")


@pytest.mark.parametrize("path_id", ["x", "ch_", "ch_a.b", "ch_" + "a" * 3000, "%00"])
def test_an_impossible_charge_id_in_the_path_is_an_unknown_charge(
    http_api: HttpApi, merchant: Any, path_id: str
) -> None:
    response = http_api.get(f"/charge/{path_id}", key=merchant.secret_key)
    unknown = http_api.get("/charge/ch_unknown", key=merchant.secret_key)
    assert_error(response, 404, "resource_missing", "id")
    assert without_request_id(response) == without_request_id(unknown)


# ---- bodies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"[" * 3000, b'{"a":' * 2000, b'{"token":' + b"[" * 40 + b"]" * 40 + b"}"],
    ids=["3000 arrays", "2000 objects", "41 levels"],
)
def test_deep_nesting_is_invalid_json(http_api: HttpApi, merchant: Any, raw: bytes) -> None:
    response = http_api.post("/charge", raw, key=merchant.secret_key)
    assert_error(response, 400, "invalid_json")


def test_nesting_up_to_32_levels_is_parsed(http_api: HttpApi, merchant: Any) -> None:
    # 1 level for the body + 31 arrays: parsed, then refused by the field's own rule.
    raw = b'{"token":' + b"[" * 31 + b"]" * 31 + b"}"
    response = http_api.post("/charge", raw, key=merchant.secret_key)
    assert_error(response, 400, "invalid_token", "token")


def test_the_poison_metadata_key_cannot_be_stored(http_api: HttpApi, merchant: Any) -> None:
    token = tokenize(http_api, merchant.secret_key)
    refused = http_api.post(
        "/charge", charge_body(token, metadata={"": "x"}), key=merchant.secret_key
    )
    assert_error(refused, 400, "invalid_metadata", "metadata")
    # The token is still unused, and the merchant's list still reads.
    assert http_api.post("/charge", charge_body(token), key=merchant.secret_key).status == 201
    assert http_api.get("/charges?limit=100", key=merchant.secret_key).status == 200


@pytest.mark.parametrize(
    ("fields", "code", "param"),
    # One hostile value per field over the wire; every one is judged in
    # tests/unit/test_validation_tables.py.
    [
        ({"metadata": {"k": "\ud800"}}, "invalid_metadata", "metadata"),
        ({"description": "Order\x001001"}, "invalid_description", "description"),
        ({"currency": "ＵＳＤ"}, "invalid_currency", "currency"),
        ({"amount": 2**63}, "invalid_amount", "amount"),
    ],
)
def test_charge_fields_refused_before_the_token_is_used(
    http_api: HttpApi, merchant: Any, fields: dict[str, Any], code: str, param: str
) -> None:
    token = tokenize(http_api, merchant.secret_key)
    # json.dumps escapes lone surrogates as \udXXX, as a hostile client would send them.
    response = http_api.post("/charge", charge_body(token, **fields), key=merchant.secret_key)
    assert_error(response, 400, code, param)
    assert http_api.post("/charge", charge_body(token), key=merchant.secret_key).status == 201


@pytest.mark.parametrize(
    ("fields", "code", "param"),
    # One hostile value per field over the wire; every one is judged in
    # tests/unit/test_validation_tables.py.
    [
        ({"cardholder_name": "\ud800"}, "invalid_cardholder_name", "cardholder_name"),
        ({"email": "a@x.com\n"}, "invalid_email", "email"),
        ({"card_number": "٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢"}, "invalid_card_number", "card_number"),
        ({"exp_month": 10**30}, "invalid_expiry_month", "exp_month"),
        ({"exp_year": -(10**30)}, "invalid_expiry_year", "exp_year"),
        ({"cvv": "١٢٣"}, "invalid_cvv", "cvv"),
    ],
)
def test_token_fields(
    http_api: HttpApi, merchant: Any, fields: dict[str, Any], code: str, param: str
) -> None:
    response = http_api.post("/token", card(**fields), key=merchant.secret_key)
    assert_error(response, 400, code, param)


@pytest.mark.parametrize(
    ("raw", "code", "param"),
    [
        (b'{"token":"tok_x","amount":1e400,"currency":"USD"}', "invalid_amount", "amount"),
        (b'{"token":"tok_x","amount":1.0,"currency":"USD"}', "invalid_amount", "amount"),
        (b'{"token":"tok_x","amount":' + b"9" * 5000 + b',"currency":"USD"}', "invalid_json", None),
        (b'{"token":"tok_x","amount":NaN,"currency":"USD"}', "invalid_json", None),
        (b'{"token":"tok_x","amount":Infinity,"currency":"USD"}', "invalid_json", None),
        (b'{"token":"tok_x","amount":1,"amount":2,"currency":"USD"}', "invalid_json", None),
        (
            b'{"token":"tok_x","amount":1,"currency":"USD","metadata":{"a":"1","a":"2"}}',
            "invalid_json",
            None,
        ),
        (b'{"token":"tok_x","amount":1,"currency":"USD"}\x00', "invalid_json", None),
        (b'{"token":"tok_x","amount":1,"currency":"USD","\\ud800":1}', "invalid_json", None),
        (b"\xef\xbb\xbf{}", "missing_parameter", "token"),  # a BOM is ignored (RFC 8259)
        (
            b'{"token":"tok_x","amount":1,"currency":"USD","description":"\xed\xa0\x80"}',
            "invalid_description",  # a surrogate encoded in UTF-8 bytes
            "description",
        ),
        (b'{"token":"\xff"}', "invalid_json", None),
    ],
)
def test_raw_bodies(
    http_api: HttpApi, merchant: Any, raw: bytes, code: str, param: str | None
) -> None:
    response = http_api.post("/charge", raw, key=merchant.secret_key)
    assert_error(response, 400, code, param)


def test_a_refund_amount_beyond_64_bits_is_malformed_and_not_stored(
    http_api: HttpApi, merchant: Any
) -> None:
    token = tokenize(http_api, merchant.secret_key)
    charge_id = http_api.post("/charge", charge_body(token), key=merchant.secret_key).data["id"]
    key = {"Idempotency-Key": str(uuid.uuid4())}
    huge = http_api.post(
        "/refund", {"charge_id": charge_id, "amount": 10**30}, key=merchant.secret_key, headers=key
    )
    assert_error(huge, 400, "invalid_amount", "amount")
    # A validation 400 is not stored: the key still works for a well-formed request.
    ok = http_api.post(
        "/refund", {"charge_id": charge_id, "amount": 100}, key=merchant.secret_key, headers=key
    )
    assert ok.status == 201, ok.text


def _sized_token_body(size: int) -> bytes:
    body = card(cardholder_name="")
    base = len(json.dumps(body).encode())
    body["cardholder_name"] = "x" * (size - base)
    raw = json.dumps(body).encode()
    assert len(raw) == size
    return raw


def test_a_body_of_exactly_64_kib_is_read(http_api: HttpApi, merchant: Any) -> None:
    response = http_api.post("/token", _sized_token_body(MAX_BODY), key=merchant.secret_key)
    assert_error(response, 400, "invalid_cardholder_name", "cardholder_name")


def test_a_body_of_64_kib_plus_one_is_413(http_api: HttpApi, merchant: Any) -> None:
    response = http_api.post("/token", _sized_token_body(MAX_BODY + 1), key=merchant.secret_key)
    assert_error(response, 413, "request_too_large")


def test_text_is_answered_in_ascii_json(http_api: HttpApi, merchant: Any) -> None:
    token = tokenize(http_api, merchant.secret_key)
    metadata = {"note": "José ✓ 日本 \U0001f600"}
    response = http_api.post(
        "/charge", charge_body(token, metadata=metadata), key=merchant.secret_key
    )
    assert response.status == 201, response.text
    assert response.text.isascii()
    assert response.data["metadata"] == metadata


# ---- headers --------------------------------------------------------------------------------


def test_the_bearer_scheme_is_case_insensitive(http_api: HttpApi, merchant: Any) -> None:
    for scheme in ("bearer", "BEARER", "Bearer"):
        response = http_api.get(
            "/charges", headers={"Authorization": f"{scheme} {merchant.secret_key}"}
        )
        assert response.status == 200, (scheme, response.text)


def _head(method: str, path: str, *headers: str) -> bytes:
    return "\r\n".join([f"{method} {path} HTTP/1.1", *headers]).encode("latin-1")


def test_two_authorization_headers_are_401(api_url: str, merchant: Any) -> None:
    for second in (merchant.secret_key, "sk_test_someoneElsesKey0000000000000"):
        response = raw_http(
            api_url,
            _head(
                "GET",
                "/charges",
                f"Authorization: Bearer {merchant.secret_key}",
                f"Authorization: Bearer {second}",
            ),
        )
        assert_error(response, 401, "invalid_api_key")
        assert merchant.secret_key not in response.text


def _raw_charge(api_url: str, merchant: Any, body: bytes, *idempotency_keys: str) -> Any:
    """POST /charge with each of ``idempotency_keys`` as its own header line, as written."""
    head = _head(
        "POST",
        "/charge",
        f"Authorization: Bearer {merchant.secret_key}",
        "Content-Type: application/json",
        *(f"Idempotency-Key: {key}" for key in idempotency_keys),
    )
    return raw_http(api_url, head, body)


def test_two_idempotency_keys_are_400(api_url: str, http_api: HttpApi, merchant: Any) -> None:
    token = tokenize(http_api, merchant.secret_key)
    body = json.dumps(charge_body(token)).encode()
    response = _raw_charge(api_url, merchant, body, "first", "second")
    assert_error(response, 400, "invalid_idempotency_key")
    # Refused before anything was done: the token is still unused.
    assert http_api.post("/charge", charge_body(token), key=merchant.secret_key).status == 201


@pytest.mark.parametrize("value", ["a\x01b", "tab\there", "del\x7f", "é", ""])
def test_control_and_non_ascii_characters_in_the_idempotency_key(
    api_url: str, merchant: Any, value: str
) -> None:
    response = _raw_charge(api_url, merchant, json.dumps(charge_body("tok_x")).encode(), value)
    assert_error(response, 400, "invalid_idempotency_key")


@pytest.mark.parametrize("suffix", ["\x01", "\x00", "\x7f", " extra"])
def test_control_characters_in_the_authorization_header(
    api_url: str, merchant: Any, suffix: str
) -> None:
    response = raw_http(
        api_url, _head("GET", "/charges", f"Authorization: Bearer {merchant.secret_key}{suffix}")
    )
    assert_error(response, 401, "invalid_api_key")
    assert merchant.secret_key not in response.text


@pytest.mark.parametrize("path", ["/nope", "/charge/ch_x/refunds", "/", "/%00"])
def test_an_unknown_path_is_404_and_echoes_no_header(
    http_api: HttpApi, merchant: Any, path: str
) -> None:
    response = http_api.get(path, key=merchant.secret_key, headers={"X-Probe": "echo-me"})
    assert_error(response, 404, "resource_missing")
    assert merchant.secret_key not in response.text and "echo-me" not in response.text


def test_no_key_is_401_in_the_envelope(http_api: HttpApi) -> None:
    assert_error(http_api.get("/charges"), 401, "invalid_api_key")


def test_a_publishable_key_on_a_secret_route_is_403_in_the_envelope(
    http_api: HttpApi, merchant: Any
) -> None:
    response = http_api.get("/charges", key=merchant.publishable_key)
    assert_error(response, 403, "secret_key_required")
    assert merchant.publishable_key not in response.text


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "BREW"])
def test_an_unknown_method_is_405_not_5xx(api_url: str, merchant: Any, method: str) -> None:
    response = raw_http(
        api_url, _head(method, "/charges", f"Authorization: Bearer {merchant.secret_key}")
    )
    assert_error(response, 405, "method_not_allowed")
    assert merchant.secret_key not in response.text


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "٣"])
def test_an_unreadable_content_length_is_400(api_url: str, merchant: Any, length: str) -> None:
    response = raw_http(
        api_url,
        _head("POST", "/charge", f"Authorization: Bearer {merchant.secret_key}"),
        b"{}",
        content_length=length,
    )
    assert response.status == 400, response.text
    assert response.json["error"]["type"] == "invalid_request_error"
