"""The client's retry rules, without I/O: which answers are retried, and how long it waits."""

from __future__ import annotations

import random

import pytest
from payments_client.errors import parse_retry_after
from payments_client.retry import RetryPolicy, should_retry_status


def envelope(type_: str, code: str) -> dict[str, object]:
    return {"error": {"type": type_, "code": code, "message": "m"}, "request_id": "req_1"}


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (409, envelope("idempotency_error", "request_in_progress")),
        (429, envelope("rate_limit_error", "rate_limited")),
        (429, envelope("rate_limit_error", "lock_timeout")),
        (429, None),  # a gateway's throttle
        (500, envelope("api_error", "internal_error")),
        (500, None),
        (503, None),
        (502, {"message": "Internal server error"}),  # a gateway's: the function died
        (502, None),
        (504, {"message": "Endpoint request timed out"}),
    ],
)
def test_unknown_or_temporary_answers_are_retried(status: int, body: object) -> None:
    assert should_retry_status(status, body)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, None),
        (201, None),
        (202, None),  # pending: an answer, not a failure
        (400, envelope("invalid_request_error", "invalid_card_number")),
        (401, None),
        (403, envelope("permission_error", "secret_key_required")),
        (402, envelope("card_error", "card_declined")),
        (404, envelope("invalid_request_error", "resource_missing")),
        (409, envelope("invalid_request_error", "charge_already_refunded")),
        (409, envelope("invalid_request_error", "charge_not_capturable")),
        (409, None),  # a 409 that does not say request_in_progress is a refusal
        (413, envelope("invalid_request_error", "request_too_large")),
        (422, envelope("idempotency_error", "idempotency_key_reused")),
        (502, envelope("api_error", "bank_unavailable")),  # final: the charge is failed
    ],
)
def test_definitive_answers_are_not_retried(status: int, body: object) -> None:
    assert not should_retry_status(status, body)


def test_backoff_grows_exponentially_within_its_jitter_and_cap(seed: int) -> None:
    rng = random.Random(seed)
    policy = RetryPolicy(initial_delay=0.5, max_delay=8.0)
    for retry, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 8.0), (9, 8.0)]:
        for _ in range(50):
            wait = policy.backoff(retry, rng)
            assert ceiling / 2 <= wait <= ceiling, (retry, wait)


def test_jitter_spreads_the_waits(seed: int) -> None:
    rng = random.Random(seed)
    waits = {round(RetryPolicy().backoff(3, rng), 6) for _ in range(20)}
    assert len(waits) > 10


def test_retry_after_is_waited_at_least() -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=8.0, max_retry_after=60)
    assert policy.delay(1, 7.0, random.Random(1)) == 7.0
    # A short Retry-After does not undercut the backoff.
    assert 0.25 <= policy.delay(1, 0.0, random.Random(1)) <= 0.5  # type: ignore[operator]


def test_a_retry_after_beyond_the_limit_is_not_waited_for() -> None:
    assert RetryPolicy(max_retry_after=60).delay(1, 61.0) is None
    assert RetryPolicy(max_retry_after=60).delay(1, 60.0) == 60.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2", 2.0),
        (" 1.5 ", 1.5),
        ("0", 0.0),
        (None, None),
        ("soon", None),
        ("-1", None),
        ("nan", None),
    ],
)
def test_retry_after_header_parsing(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_a_policy_refuses_negative_settings() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError):
        RetryPolicy(initial_delay=-0.1)
