"""The benchmark's floor: the least a correct charge must do, as a bare Chalice route.

Authenticate with one ``GetItem`` (the API key's hash), write the charge with one
conditional ``PutItem``, ask the bank once. No validation beyond that, no envelope, no
idempotency, no audit: ``make bench`` measures the platform beside this.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from typing import Any

import boto3
import urllib3
from chalice import Chalice, Response

app = Chalice(app_name="floor")

_PREFIX = os.environ.get("PAYMENTS_TABLE_PREFIX", "payments-local-")
# Clients once per process, as the platform's container does.
dynamodb: Any = boto3.session.Session().client("dynamodb")
_bank = urllib3.PoolManager(maxsize=20, retries=False, timeout=urllib3.Timeout(2, 3))
_BANK_URL = os.environ.get("PAYMENTS_BANK_URL", "http://127.0.0.1:4545")


@app.route("/charge", methods=["POST"], content_types=["application/json"])
def charge() -> Response:
    request = app.current_request
    key = (request.headers.get("authorization") or "").removeprefix("Bearer ")
    record = dynamodb.get_item(
        TableName=f"{_PREFIX}ApiKeys",
        Key={"key_hash": {"S": hashlib.sha256(key.encode()).hexdigest()}},
        ConsistentRead=True,
    ).get("Item")
    if record is None or record["status"]["S"] != "active":
        return Response(body="", status_code=401)
    body = json.loads(request.raw_body)
    charge_id = f"ch_{secrets.token_hex(16)}"
    dynamodb.put_item(
        TableName=f"{_PREFIX}Charges",
        Item={
            "pk": {"S": charge_id},
            "sk": {"S": "floor"},
            "merchant_id": record["merchant_id"],
            "amount": {"N": str(body["amount"])},
            "currency": {"S": body["currency"]},
        },
        ConditionExpression="attribute_not_exists(pk)",
    )
    answer = _bank.request(
        "POST",
        f"{_BANK_URL}/authorizations",
        body=json.dumps(
            {
                "reference": charge_id,
                "amount": body["amount"],
                "currency": body["currency"],
                "card": body["card"],
            }
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    status = json.loads(answer.data)["status"]
    return Response(
        body=json.dumps({"id": charge_id, "status": status}),
        status_code=201,
        headers={"Content-Type": "application/json"},
    )
