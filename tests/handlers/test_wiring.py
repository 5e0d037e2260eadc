"""The composition root's overrides: a port handed to ``Container`` is the one the use cases
behind the routes call (wired by hand, no patching)."""

from __future__ import annotations

from typing import Any

from chalicelib.container import Container, reset_container
from tests.fakes import FakeBank
from tests.helpers import HandlerApi, bank_record, charge_body, tokenize


def test_the_bank_given_to_the_container_is_the_one_a_charge_asks(
    client: Any, services: Container, merchant: Any, bank_url: str
) -> None:
    bank = FakeBank()
    reset_container(Container(services.settings, bank=bank))
    try:
        api = HandlerApi(client)
        token = tokenize(api, merchant.secret_key)
        response = api.post("/charge", charge_body(token, amount=1234), key=merchant.secret_key)
    finally:
        reset_container(services)
    assert response.status == 201, response.text
    charge = response.data
    assert bank.calls == [("authorize", charge["id"])]
    at_bank = bank.authorizations[charge["id"]]
    assert (at_bank.amount, at_bank.authorization_code) == (1234, charge["authorization_code"])
    # The session's mock bank was never asked.
    assert bank_record(bank_url, "authorizations", charge["id"]) is None
