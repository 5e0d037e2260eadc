"""A key revoked after POST /charge or /refund judged it in its first read, and before its
write-ahead commit, moves no money: the commit carries the condition on the key's record.

The race is forced deterministically: the key is revoked from a hook on the app's own
DynamoDB client, just before that client sends the write-ahead transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.helpers import HandlerApi, bank_calls, charge_body, tokenize

EVENT = "provide-client-params.dynamodb.TransactWriteItems"


@pytest.fixture
def revoke_before_write_ahead(services: Any) -> Iterator[Callable[[str], None]]:
    """Arms a one-shot revocation of ``key`` before the next write-ahead transaction."""
    armed: list[str] = []

    def hook(params: dict[str, Any], **_: Any) -> None:
        # The write-ahead is the transaction that writes a pending charge or refund.
        if armed and '"pending"' in str(params).replace("'", '"'):
            services.merchant_service.revoke_key(armed.pop())

    services.dynamodb.meta.events.register(EVENT, hook)
    try:
        yield armed.append
    finally:
        services.dynamodb.meta.events.unregister(EVENT, hook)


def test_a_charge_whose_key_is_revoked_before_its_write_ahead_writes_nothing(
    client: Any, services: Any, merchant: Any, bank_url: str, revoke_before_write_ahead: Any
) -> None:
    api = HandlerApi(client)
    token = tokenize(api, merchant.publishable_key)
    revoke_before_write_ahead(merchant.secret_key)
    idem = str(uuid.uuid4())
    response = api.post(
        "/charge", charge_body(token), key=merchant.secret_key, headers={"Idempotency-Key": idem}
    )
    assert response.status == 401, response.text
    assert response.error["code"] == "invalid_api_key"
    # Nothing written: no charge, the token unused, the key not bound, the bank not asked.
    assert services.charges.list_for_merchant(merchant.merchant_id, 10, None) == ([], False)
    assert services.tokens.get(token).used is False
    assert services.idempotency.read(merchant.merchant_id, idem, 0) is None


def test_a_refund_whose_key_is_revoked_before_its_write_ahead_writes_nothing(
    client: Any, services: Any, merchant: Any, bank_url: str, revoke_before_write_ahead: Any
) -> None:
    api = HandlerApi(client)
    token = tokenize(api, merchant.publishable_key)
    charged = api.post("/charge", charge_body(token, amount=3_000), key=merchant.secret_key)
    assert charged.status == 201
    charge_id = charged.data["id"]
    revoke_before_write_ahead(merchant.secret_key)
    response = api.post("/refund", {"charge_id": charge_id}, key=merchant.secret_key)
    assert response.status == 401, response.text
    charge, refunds = services.charges.get_with_refunds(merchant.merchant_id, charge_id)
    assert refunds == []
    assert (charge.refundable, charge.amount_reserved) == (3_000, 0)
    assert bank_calls(bank_url, charge_id).get("POST /refunds", 0) == 0
