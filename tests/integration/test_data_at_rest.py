"""No card number or CVV in plain text in any table or log, after real traffic."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from chalicelib import tables
from tests.helpers import card, charge_body

pytestmark = pytest.mark.integration

CARDS = [
    "4242424242424242",
    "4111111111111111",
    "5555555555554444",
    "378282246310005",
    "6011111111111117",
    "4000000000000002",
    "4000000000005126",
]
CVVS = ["987", "6543"]  # uncommon enough to search for


def _traffic(api: Any, key: str) -> None:
    for number in CARDS:
        cvv = CVVS[1] if number.startswith("37") else CVVS[0]
        token = api.post(
            "/token", card(number, cvv=cvv, cardholder_name="Ana Perez"), key=key
        ).data["id"]
        unused = api.post("/token", card(number, cvv=cvv), key=key)
        assert unused.status == 201
        response = api.post("/charge", charge_body(token), key=key)
        if response.status == 201:
            api.post("/refund", {"charge_id": response.data["id"], "amount": 100}, key=key)


def _dump_tables(services: Any) -> str:
    chunks = []
    for table in tables.TABLES:
        name = tables.physical_name(services.settings.table_prefix, table)
        for page in services.dynamodb.get_paginator("scan").paginate(TableName=name):
            chunks.append(repr(page["Items"]))
    return "\n".join(chunks)


def _bank_admin_dump(mb_admin_url: str) -> str:
    """Everything mountebank's admin API serves, except bank.js itself (which names its own
    test cards as constants)."""

    def get(path: str) -> Any:
        with urllib.request.urlopen(f"{mb_admin_url}{path}", timeout=10) as response:
            return json.loads(response.read())

    chunks = [json.dumps(get("/config")), json.dumps(get("/logs"))]
    for summary in get("/imposters")["imposters"]:
        imposter = get(f"/imposters/{summary['port']}")
        imposter.pop("stubs", None)
        chunks.append(json.dumps(imposter))
    return "\n".join(chunks)


def test_no_card_data_in_any_table_or_log(
    http_api: Any, merchant: Any, services: Any, stack: Any, mb_admin_url: str
) -> None:
    _traffic(http_api, merchant.secret_key)
    stored = _dump_tables(services) + "\n" + _bank_admin_dump(mb_admin_url)
    assert "tok_" in stored and "ch_" in stored  # the scan did read the data
    logs = "\n".join(p.read_text(errors="replace") for p in Path(stack.log_dir).glob("*.log"))
    assert "POST /token" in logs or "/token" in logs
    for number in CARDS:
        assert number not in stored, f"card ending {number[-4:]} stored in plain text"
        assert number not in logs, f"card ending {number[-4:]} in a log"
    for cvv in CVVS:
        assert f"'{cvv}'" not in stored and f'"{cvv}"' not in logs
    assert "Ana Perez" not in stored
    for secret in (merchant.secret_key, merchant.publishable_key):
        assert secret not in stored and secret not in logs
