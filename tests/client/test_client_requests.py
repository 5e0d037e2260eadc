"""The client against a scripted fake API (httpx.MockTransport): what it sends, what it retries
with which Idempotency-Key, and what it returns or raises."""

from __future__ import annotations

import json

import httpx
import pytest
from payments_client import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    CardError,
    Charge,
    Client,
    Event,
    IdempotencyError,
    InvalidRequestError,
    Page,
    PermissionDeniedError,
    RateLimitError,
    Refund,
    Token,
    WebhookEndpoint,
)

from tests.client.conftest import BASE, FakeApi, charge, error, ok, run_async

DROPPED = httpx.RemoteProtocolError("Server disconnected without sending a response.")


def create(client: Client, **kwargs: object) -> Charge:
    return client.charges.create(token="tok_1", amount=2500, currency="USD", **kwargs)  # type: ignore[arg-type]


# ---- what is sent --------------------------------------------------------------------------


def test_a_charge_is_sent_with_the_key_a_generated_idempotency_key_and_only_given_fields(
    client: Client, fake: FakeApi
) -> None:
    fake.answers = [ok(charge(), 201, "req_1")]
    result = create(client, metadata={"order": "1"})
    (request,) = fake.requests
    assert (request.method, str(request.url)) == ("POST", f"{BASE}/charge")
    assert request.headers["authorization"] == "Bearer sk_test_fake"
    assert request.headers["content-type"] == "application/json"
    assert len(request.headers["idempotency-key"]) >= 32
    assert json.loads(request.content) == {
        "token": "tok_1",
        "amount": 2500,
        "currency": "USD",
        "metadata": {"order": "1"},
    }
    assert isinstance(result, Charge) and result.status == "succeeded"
    assert result.last_response is not None
    assert (result.last_response.http_status, result.last_response.request_id) == (201, "req_1")
    assert result.last_response.idempotency_key == request.headers["idempotency-key"]


def test_each_operation_gets_its_own_key_and_a_given_key_is_used(
    client: Client, fake: FakeApi
) -> None:
    fake.answers = [ok(charge("ch_1"), 201), ok(charge("ch_2"), 201), ok(charge("ch_3"), 201)]
    create(client)
    create(client)
    create(client, idempotency_key="order-1001")
    first, second, third = fake.keys()
    assert first != second
    assert third == "order-1001"


def test_reads_and_tokens_carry_no_idempotency_key_and_ids_are_one_path_segment(
    client: Client, fake: FakeApi
) -> None:
    token = {
        "id": "tok_1",
        "object": "token",
        "card": {
            "brand": "visa",
            "last4": "4242",
            "exp_month": 12,
            "exp_year": 2030,
            "fingerprint": "f",
        },
        "created_at": "c",
        "expires_at": "e",
        "used": False,
    }
    fake.answers = [ok(token, 201), error(404, "invalid_request_error", "resource_missing")]
    tok = client.tokens.create(card_number="4242424242424242", exp_month=12, exp_year=2030, cvv="1")
    assert isinstance(tok, Token) and tok.card.last4 == "4242"
    with pytest.raises(InvalidRequestError):
        client.charges.retrieve("ch_../../refund?x=1")
    assert fake.keys() == [None, None]
    assert fake.requests[1].url.raw_path == b"/charge/ch_..%2F..%2Frefund%3Fx%3D1"
    assert json.loads(fake.requests[0].content) == {
        "card_number": "4242424242424242",
        "exp_month": 12,
        "exp_year": 2030,
        "cvv": "1",
    }


def test_a_refund_without_amount_leaves_it_out(client: Client, fake: FakeApi) -> None:
    refund = {
        "id": "re_1",
        "object": "refund",
        "charge_id": "ch_1",
        "amount": 2500,
        "currency": "USD",
        "status": "succeeded",
        "reason": None,
        "created_at": "c",
    }
    fake.answers = [ok(refund, 201)]
    result = client.refunds.create(charge_id="ch_1")
    assert isinstance(result, Refund) and result.amount == 2500
    assert fake.bodies() == [{"charge_id": "ch_1"}]  # never "amount": null
    assert fake.keys()[0] is not None


def test_capture_and_void_post_to_the_charge_with_keys(client: Client, fake: FakeApi) -> None:
    fake.answers = [
        ok(charge(status="succeeded", captured=True, amount_captured=1500), 201),
        ok(charge("ch_2", status="voided", captured=False, amount_captured=0)),
    ]
    captured = client.charges.capture("ch_1", amount=1500)
    voided = client.charges.void("ch_2", idempotency_key="void-ch_2")
    assert [(r.method, r.url.path) for r in fake.requests] == [
        ("POST", "/charge/ch_1/capture"),
        ("POST", "/charge/ch_2/void"),
    ]
    assert fake.bodies() == [{"amount": 1500}, {}]
    assert fake.keys()[0] is not None and fake.keys()[1] == "void-ch_2"
    assert (captured.status, captured.captured, captured.amount_captured) == (
        "succeeded",
        True,
        1500,
    )
    assert voided.status == "voided"


def test_a_capture_without_amount_sends_an_empty_body(client: Client, fake: FakeApi) -> None:
    fake.answers = [ok(charge(captured=True, amount_captured=2500), 201)]
    client.charges.capture("ch_1")
    assert fake.bodies() == [{}]


# ---- what is retried, with the same key ------------------------------------------------


def test_a_dropped_answer_is_retried_with_the_same_key_and_the_replay_is_returned(
    client: Client, fake: FakeApi
) -> None:
    fake.answers = [DROPPED, ok(charge(), 201, "req_first", **{"Idempotent-Replayed": "true"})]
    result = create(client)
    first, second = fake.keys()
    assert first == second is not None
    assert fake.bodies()[0] == fake.bodies()[1]
    assert result.last_response is not None and result.last_response.replayed
    assert len(fake.sleeps) == 1


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.ReadError("connection reset by peer"),
        DROPPED,
        error(409, "idempotency_error", "request_in_progress"),
        error(429, "rate_limit_error", "rate_limited", headers={"Retry-After": "1"}),
        error(429, "rate_limit_error", "lock_timeout", headers={"Retry-After": "1"}),
        error(500, "api_error", "internal_error"),
        httpx.Response(503, text="Service Unavailable"),
        httpx.Response(502, json={"message": "Internal server error"}),
        httpx.Response(504, json={"message": "Endpoint request timed out"}),
    ],
    ids=lambda f: type(f).__name__ if isinstance(f, Exception) else str(f.status_code),
)
def test_unknown_outcomes_are_retried_with_the_same_key(
    client: Client, fake: FakeApi, failure: object
) -> None:
    fake.answers = [failure, failure, ok(charge(), 201)]  # type: ignore[list-item]
    assert create(client).id == "ch_1"
    assert len(fake.requests) == 3
    assert len(set(fake.keys())) == 1
    # Exponential backoff: the second wait is drawn from a range twice as high.
    assert len(fake.sleeps) == 2


@pytest.mark.parametrize(
    ("answer", "exception", "code"),
    [
        (
            error(402, "card_error", "card_declined", decline_code="x", charge="ch_1"),
            CardError,
            "card_declined",
        ),
        (
            error(400, "invalid_request_error", "token_already_used", param="token"),
            InvalidRequestError,
            "token_already_used",
        ),
        (
            error(409, "invalid_request_error", "charge_already_refunded"),
            InvalidRequestError,
            "charge_already_refunded",
        ),
        (
            error(422, "idempotency_error", "idempotency_key_reused"),
            IdempotencyError,
            "idempotency_key_reused",
        ),
        (error(502, "api_error", "bank_unavailable", charge="ch_1"), APIError, "bank_unavailable"),
        (
            error(401, "authentication_error", "invalid_api_key"),
            AuthenticationError,
            "invalid_api_key",
        ),
        (
            error(403, "permission_error", "secret_key_required"),
            PermissionDeniedError,
            "secret_key_required",
        ),
    ],
)
def test_definitive_answers_are_raised_at_once(
    client: Client, fake: FakeApi, answer: httpx.Response, exception: type, code: str
) -> None:
    fake.answers = [answer]
    with pytest.raises(exception) as raised:
        create(client)
    assert raised.value.code == code
    assert raised.value.http_status == answer.status_code
    assert raised.value.request_id == "req_err"
    assert raised.value.idempotency_key == fake.keys()[0]
    assert len(fake.requests) == 1 and fake.sleeps == []


def test_a_pending_charge_is_a_charge_not_an_error(client: Client, fake: FakeApi) -> None:
    fake.answers = [ok(charge(status="pending"), 202)]
    result = create(client)
    assert result.status == "pending"
    assert result.last_response is not None and result.last_response.http_status == 202
    assert len(fake.requests) == 1


def test_retry_after_is_honoured(client: Client, fake: FakeApi) -> None:
    fake.answers = [
        error(429, "rate_limit_error", "rate_limited", headers={"Retry-After": "7"}),
        ok(charge(), 201),
    ]
    create(client)
    assert fake.sleeps == [7.0]


def test_a_retry_after_too_long_to_wait_raises_the_rate_limit_error(
    client: Client, fake: FakeApi
) -> None:
    fake.answers = [error(429, "rate_limit_error", "rate_limited", headers={"Retry-After": "3600"})]
    with pytest.raises(RateLimitError) as raised:
        create(client)
    assert raised.value.retry_after == 3600
    assert fake.sleeps == []


def test_retries_stop_after_max_retries_and_name_the_key_to_retry_with(
    client: Client, fake: FakeApi
) -> None:
    fake.answers = [httpx.ReadTimeout("timed out")] * 4
    with pytest.raises(APIConnectionError) as raised:
        create(client)
    assert len(fake.requests) == 4  # the first attempt and max_retries=3
    assert raised.value.idempotency_key == fake.keys()[0]
    assert raised.value.http_status is None
    assert "4 attempts" in str(raised.value)


def test_the_last_retryable_answer_is_raised_when_retries_run_out(
    client: Client, fake: FakeApi
) -> None:
    fake.answers = [error(500, "api_error", "internal_error")] * 4
    with pytest.raises(APIError) as raised:
        create(client)
    assert raised.value.code == "internal_error" and len(fake.requests) == 4


def test_max_retries_zero_sends_once(fake: FakeApi) -> None:
    client = Client("sk_test_fake", BASE, transport=httpx.MockTransport(fake.handle), max_retries=0)
    fake.answers = [error(500, "api_error", "internal_error")]
    with pytest.raises(APIError):
        create(client)
    assert len(fake.requests) == 1


def test_capture_and_void_retry_with_their_key_and_refuse_at_once(
    client: Client, fake: FakeApi
) -> None:
    fake.answers = [
        DROPPED,
        ok(charge(status="pending"), 202),
        error(409, "invalid_request_error", "charge_not_voidable"),
        error(402, "card_error", "capture_failed", charge="ch_2"),
    ]
    assert client.charges.capture("ch_1").status == "pending"
    with pytest.raises(InvalidRequestError) as not_voidable:
        client.charges.void("ch_1")
    with pytest.raises(CardError) as capture_failed:
        client.charges.capture("ch_2", amount=100)
    keys = fake.keys()
    assert keys[0] == keys[1] and len(set(keys)) == 3
    assert not_voidable.value.code == "charge_not_voidable"
    assert capture_failed.value.charge == "ch_2"


def test_webhook_endpoint_creation_carries_a_key_and_is_retried_with_it(
    client: Client, fake: FakeApi
) -> None:
    endpoint = {
        "id": "we_1",
        "object": "webhook_endpoint",
        "url": "https://merchant.example/hooks",
        "events": ["charge.succeeded"],
        "status": "enabled",
        "secret": "whsec_x",
        "created_at": "c",
    }
    fake.answers = [
        DROPPED,
        ok(endpoint, 201),
        ok({**endpoint, "status": "deleted", "secret": None}),
    ]
    created = client.webhook_endpoints.create(url=endpoint["url"], events=["charge.succeeded"])
    deleted = client.webhook_endpoints.delete("we_1")
    assert isinstance(created, WebhookEndpoint) and created.secret == "whsec_x"
    assert deleted.status == "deleted"
    assert fake.keys()[0] == fake.keys()[1] is not None and fake.keys()[2] is None
    assert (fake.requests[2].method, fake.requests[2].url.path) == (
        "DELETE",
        "/webhook_endpoints/we_1",
    )


# ---- errors ------------------------------------------------------------------------------


def test_a_card_error_carries_the_decline_and_the_charge(client: Client, fake: FakeApi) -> None:
    fake.answers = [
        error(
            402,
            "card_error",
            "card_declined",
            "req_d",
            decline_code="insufficient_funds",
            charge="ch_9",
        )
    ]
    with pytest.raises(CardError) as raised:
        create(client)
    err = raised.value
    assert (err.code, err.decline_code, err.charge, err.http_status, err.request_id) == (
        "card_declined",
        "insufficient_funds",
        "ch_9",
        402,
        "req_d",
    )
    assert err.type == "card_error" and err.message == "card_declined."


def test_an_invalid_request_names_the_param(client: Client, fake: FakeApi) -> None:
    fake.answers = [error(400, "invalid_request_error", "invalid_card_number", param="card_number")]
    with pytest.raises(InvalidRequestError) as raised:
        client.tokens.create(card_number="1", exp_month=1, exp_year=2030, cvv="123")
    assert raised.value.param == "card_number"


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, InvalidRequestError),
        (422, IdempotencyError),
        (402, CardError),
        (502, APIError),
    ],
)
def test_answers_without_the_envelope_map_by_status(status: int, exception: type) -> None:
    fake = FakeApi(
        [httpx.Response(status, text="<html>gateway</html>", headers={"X-Request-Id": "req_g"})] * 4
    )
    client = Client("sk_test_fake", BASE, transport=httpx.MockTransport(fake.handle), max_retries=0)
    with pytest.raises(exception) as raised:
        client.charges.retrieve("ch_1")
    assert raised.value.http_status == status
    assert raised.value.request_id == "req_g"


def test_a_garbled_success_is_asked_again_with_the_same_key(client: Client, fake: FakeApi) -> None:
    fake.answers = [httpx.Response(201, text='{"data": {"id": "ch_'), ok(charge(), 201)]
    assert create(client).id == "ch_1"
    assert len(fake.requests) == 2 and len(set(fake.keys())) == 1


def test_a_success_that_stays_without_the_envelope_is_an_api_error(
    client: Client, fake: FakeApi
) -> None:
    fake.answers = [httpx.Response(200, text="not json")] * 4
    with pytest.raises(APIError) as raised:
        client.charges.retrieve("ch_1")
    assert raised.value.http_status == 200 and len(fake.requests) == 4


def test_an_answer_of_another_shape_is_an_api_error_not_a_validation_error(
    client: Client, fake: FakeApi
) -> None:
    fake.answers = [ok({"id": "ch_1"}), ok({"object": "list", "items": "none"})]
    with pytest.raises(APIError, match="not a Charge") as raised:
        client.charges.retrieve("ch_1")
    assert raised.value.http_status == 200 and raised.value.request_id == "req_ok"
    with pytest.raises(APIError):
        client.charges.list()


def test_error_reprs_and_messages_never_hold_the_api_key(client: Client, fake: FakeApi) -> None:
    fake.answers = [error(401, "authentication_error", "invalid_api_key")]
    with pytest.raises(AuthenticationError) as raised:
        client.charges.retrieve("ch_1")
    assert "sk_test_fake" not in str(raised.value) + repr(raised.value)


# ---- typed objects and lists -----------------------------------------------------------


def test_objects_keep_unknown_fields_and_turn_back_into_dicts(
    client: Client, fake: FakeApi
) -> None:
    data = charge(
        status="authorized",
        captured=False,
        amount_captured=0,
        capture_before="2026-12-03T00:00:00.000Z",
        new_field={"a": 1},
    )
    fake.answers = [ok(data)]
    result = client.charges.retrieve("ch_1")
    assert result.to_dict() == data
    assert result.card.brand == "visa" and result.capture_before == data["capture_before"]
    with pytest.raises(ValueError):
        result.amount = 1  # type: ignore[misc] - objects are read-only


def test_list_pages_through_starting_after_by_itself(client: Client, fake: FakeApi) -> None:
    ids = [f"ch_{n}" for n in range(5, 0, -1)]  # newest first

    def page(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("starting_after")
        start = 0 if after is None else ids.index(after) + 1
        limit = int(request.url.params["limit"])
        items = [charge(i) for i in ids[start : start + limit]]
        return ok({"object": "list", "items": items, "has_more": start + limit < len(ids)})

    fake.answers = [page] * 3
    listing = client.charges.list(limit=2)
    assert isinstance(listing, Page) and [c.id for c in listing.items] == ids[:2]
    assert [c.id for c in listing] == ids
    assert [r.url.params.get("starting_after") for r in fake.requests] == [None, "ch_4", "ch_2"]
    assert all(r.url.params["limit"] == "2" for r in fake.requests)


def test_events_list_filters_by_type_and_types_each_object(client: Client, fake: FakeApi) -> None:
    event = {
        "id": "evt_1",
        "object": "event",
        "type": "charge.succeeded",
        "created_at": "c",
        "data": {"object": charge()},
    }
    fake.answers = [ok({"object": "list", "items": [event], "has_more": False}), ok(event)]
    (listed,) = list(client.events.list(type="charge.succeeded"))
    assert fake.requests[0].url.params["type"] == "charge.succeeded"
    assert isinstance(listed, Event) and isinstance(listed.data.object, Charge)
    assert client.events.retrieve("evt_1").to_dict() == event


# ---- the async client --------------------------------------------------------------------


async def _async_flow(async_client: object, fake: FakeApi) -> list[str]:
    fake.answers = [
        httpx.ConnectError("refused"),
        ok(charge("ch_9"), 201),
        ok({"object": "list", "items": [charge("ch_9")], "has_more": True}),
        ok({"object": "list", "items": [charge("ch_8")], "has_more": False}),
        error(402, "card_error", "card_declined", decline_code="lost_card", charge="ch_7"),
    ]
    client = async_client
    created = await client.charges.create(token="tok_1", amount=2500, currency="USD")  # type: ignore[attr-defined]
    seen = [created.id]
    async for item in client.charges.list(limit=1):  # type: ignore[attr-defined]
        seen.append(item.id)
    try:
        await client.charges.create(token="tok_2", amount=1, currency="USD")  # type: ignore[attr-defined]
    except CardError as declined:
        seen.append(f"{declined.decline_code}:{declined.charge}")
    await client.aclose()  # type: ignore[attr-defined]
    return seen


def test_the_async_client_retries_pages_and_raises_alike(
    async_client: object, fake: FakeApi
) -> None:
    assert run_async(_async_flow(async_client, fake)) == [
        "ch_9",
        "ch_9",
        "ch_8",
        "lost_card:ch_7",
    ]
    keys = fake.keys()
    assert keys[0] == keys[1] is not None and keys[4] not in (None, keys[0])
    assert len(fake.sleeps) == 1


def test_an_awaited_async_listing_is_its_first_page(async_client: object, fake: FakeApi) -> None:
    fake.answers = [ok({"object": "list", "items": [charge("ch_1")], "has_more": True})]

    async def first() -> object:
        return await async_client.charges.list(limit=1)  # type: ignore[attr-defined]

    page = run_async(first())
    assert [c.id for c in page.items] == ["ch_1"] and page.has_more  # type: ignore[attr-defined]
    assert len(fake.requests) == 1


# ---- webhook endpoint secrets and test pings --------------------------------------------


def endpoint(secret: str | None = None) -> dict[str, object]:
    return {
        "id": "we_1",
        "object": "webhook_endpoint",
        "url": "https://shop.example/hooks",
        "events": ["charge.succeeded"],
        "status": "enabled",
        "secret": secret,
        "created_at": "2026-11-26T23:00:00.123Z",
    }


def test_roll_secret_posts_the_grace_period_and_returns_the_new_secret(
    client: Client, fake: FakeApi
) -> None:
    fake.answers = [ok(endpoint("whsec_new")), ok(endpoint("whsec_newer"))]
    rolled = client.webhook_endpoints.roll_secret("we_1", expire_old_in_hours=0)
    client.webhook_endpoints.roll_secret("we_1")
    assert [(r.method, r.url.path) for r in fake.requests] == [
        ("POST", "/webhook_endpoints/we_1/roll_secret")
    ] * 2
    assert fake.bodies() == [{"expire_old_in_hours": 0}, {}]
    assert isinstance(rolled, WebhookEndpoint) and rolled.secret == "whsec_new"


@pytest.mark.parametrize(
    "first",
    [DROPPED, httpx.ReadTimeout("timed out"), error(500, "api_error", "internal_error")],
    ids=["dropped", "timeout", "500"],
)
def test_roll_secret_is_never_sent_twice(client: Client, fake: FakeApi, first: object) -> None:
    """A repeat would roll again and replace the secret whose answer was lost."""
    fake.answers = [first, ok(endpoint("whsec_second"))]  # type: ignore[list-item]
    with pytest.raises((APIConnectionError, APIError)):
        client.webhook_endpoints.roll_secret("we_1")
    assert len(fake.requests) == 1


def test_test_sends_a_ping_and_returns_its_event(client: Client, fake: FakeApi) -> None:
    ping = {
        "id": "evt_1",
        "object": "event",
        "type": "test.ping",
        "created_at": "2026-11-26T23:00:00.123Z",
        "data": {"object": endpoint()},
    }
    fake.answers = [ok(ping, 202)]
    event = client.webhook_endpoints.test("we_1")
    assert [(r.method, r.url.path) for r in fake.requests] == [
        ("POST", "/webhook_endpoints/we_1/test")
    ]
    assert isinstance(event, Event) and event.type == "test.ping"


def test_the_async_client_rolls_and_pings(async_client: object, fake: FakeApi) -> None:
    from payments_client import AsyncClient

    assert isinstance(async_client, AsyncClient)
    ping = {
        "id": "evt_1",
        "object": "event",
        "type": "test.ping",
        "created_at": "2026-11-26T23:00:00.123Z",
        "data": {"object": endpoint()},
    }
    fake.answers = [ok(endpoint("whsec_new")), ok(ping, 202)]

    async def both() -> tuple[WebhookEndpoint, Event]:
        rolled = await async_client.webhook_endpoints.roll_secret("we_1", expire_old_in_hours=1)
        return rolled, await async_client.webhook_endpoints.test("we_1")

    rolled, event = run_async(both())
    assert (rolled.secret, event.type) == ("whsec_new", "test.ping")
    assert fake.bodies() == [{"expire_old_in_hours": 1}, {}]
