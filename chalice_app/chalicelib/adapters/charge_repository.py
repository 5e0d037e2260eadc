"""Charges table: a charge and its refunds share a partition keyed by merchant and charge.

Item kinds, told apart by the sort key:

* ``sk = "charge"``: the charge. ``refundable`` is what is neither refunded nor reserved by
  a refund in flight, and ``refund_count`` counts refund objects; conditions on them keep
  refunds within the charge under concurrency (DynamoDB conditions cannot add).
* ``sk = "refund#<refund id>"``: a refund.

The partition key holds the merchant id, so another merchant's charge is read exactly like
an unknown one: an empty partition, whatever it holds.

Only charges carry ``list_pk``/``list_sk`` (merchant listing) and only pending items carry
``pending_pk``/``pending_sk`` (the reconcile sweep, spread over ``PENDING_SHARDS``
partitions): both indexes stay sparse. The state rules come from ``domain.lifecycle``; this
module turns them into conditional writes.

A pending item may carry ``reversing_at``: whoever reverses its reference with the bank
marks it first (``mark_reversing``), and no success is committed over that mark, so an
approval that the reversal voids is never recorded as money moved.
"""

from __future__ import annotations

import zlib
from typing import Any

from chalicelib.adapters.dynamo import (
    WriteConflict,
    from_item,
    newest_first_page,
    to_item,
    to_values,
    transact,
)
from chalicelib.domain.lifecycle import (
    AUTHORIZE,
    AUTHORIZED,
    CAPTURE,
    PENDING,
    SUCCEEDED,
    VOID,
    VOIDED,
    Decision,
    can_transition,
    final_status,
)
from chalicelib.domain.refunds import MAX_REFUNDS_PER_CHARGE
from chalicelib.tables import CHARGES_LIST_INDEX, PENDING_INDEX

CHARGE_SK = "charge"
PENDING_SHARDS = 8


def charge_pk(merchant_id: str, charge_id: str) -> str:
    return f"{merchant_id}#{charge_id}"


def refund_sk(refund_id: str) -> str:
    return f"refund#{refund_id}"


def pending_shard(object_id: str) -> str:
    return f"pending#{zlib.crc32(object_id.encode()) % PENDING_SHARDS}"


def _pending_keys(item: dict[str, Any], object_id: str) -> dict[str, str]:
    return {
        "pending_pk": pending_shard(object_id),
        "pending_sk": f"{item['bank_requested_at']}#{object_id}",
    }


def expiry_keys(charge: dict[str, Any]) -> dict[str, str]:
    """An authorized charge stays in the pending index, ordered by ``capture_before``: the
    reconcile sweep finds it there once its window is over, and voids it."""
    return {
        "pending_pk": pending_shard(charge["charge_id"]),
        "pending_sk": f"{charge['capture_before']}#{charge['charge_id']}",
    }


def _final_condition(decision: Decision) -> str:
    """Still pending; for a success also not marked for reversal."""
    if decision.status == SUCCEEDED:
        return "#s = :pending AND attribute_not_exists(reversing_at)"
    return "#s = :pending"


class ChargeRepository:
    """Reads and conditional writes of charges and refunds."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self.table = table_name

    # ---- reads ---------------------------------------------------------------------------

    def key(self, pk: str, sk: str = CHARGE_SK) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def charge_key(self, merchant_id: str, charge_id: str) -> dict[str, Any]:
        return self.key(charge_pk(merchant_id, charge_id))

    def get(self, pk: str, sk: str = CHARGE_SK) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=self.table, Key=self.key(pk, sk), ConsistentRead=True
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def get_charge(self, merchant_id: str, charge_id: str) -> dict[str, Any] | None:
        return self.get(charge_pk(merchant_id, charge_id))

    def get_with_refunds(
        self, merchant_id: str, charge_id: str
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The merchant's charge and its refunds, oldest first: one bounded Query."""
        response = self._client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=to_values({":pk": charge_pk(merchant_id, charge_id)}),
            ConsistentRead=True,
            Limit=MAX_REFUNDS_PER_CHARGE + 1,
        )
        items = [from_item(i) for i in response.get("Items", [])]
        charge = next((i for i in items if i["sk"] == CHARGE_SK), None)
        refunds = sorted(
            (i for i in items if i["sk"] != CHARGE_SK),
            key=lambda r: (r["created_at"], r["refund_id"]),
        )
        return charge, refunds

    def list_for_merchant(
        self, merchant_id: str, limit: int, before_list_sk: str | None
    ) -> tuple[list[dict[str, Any]], bool]:
        """A page of the merchant's charges, newest first, and whether more follow."""
        return newest_first_page(
            self._client,
            self.table,
            CHARGES_LIST_INDEX.name,
            ("list_pk", merchant_id),
            limit,
            before_list_sk,
        )

    def pending_page(
        self, shard: int, cutoff: str, after: str | None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of a shard's pending items whose bank call began before ``cutoff``, in
        ``pending_sk`` order after ``after`` (a ``pending_sk``); and whether more may follow."""
        values = {":p": f"pending#{shard}", ":cutoff": cutoff}
        condition = "pending_pk = :p AND pending_sk < :cutoff"
        if after is not None and after + " " > cutoff:
            return [], False  # (a cursor from a clock ahead of this one)
        if after is not None:
            # The smallest key above ``after`` (its ids' characters all sort above a space).
            values[":low"] = after + " "
            condition = "pending_pk = :p AND pending_sk BETWEEN :low AND :cutoff"
        response = self._client.query(
            TableName=self.table,
            IndexName=PENDING_INDEX.name,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=to_values(values),
            Limit=limit,
        )
        items = [from_item(i) for i in response.get("Items", [])]
        return items, "LastEvaluatedKey" in response

    # The reconcile sweep's cursor: where its last run stopped (see SettlementService.sweep).
    _CURSOR_KEY = {"pk": {"S": "sweep"}, "sk": {"S": "cursor"}}

    def sweep_cursor(self) -> tuple[int, str | None]:
        """The shard and the last ``pending_sk`` the previous sweep got to (0, None at first)."""
        response = self._client.get_item(
            TableName=self.table, Key=self._CURSOR_KEY, ConsistentRead=True
        )
        item = from_item(response["Item"]) if "Item" in response else {}
        return int(item.get("shard", 0)) % PENDING_SHARDS, item.get("after")

    def save_sweep_cursor(self, shard: int, after: str | None) -> None:
        # Unconditional: sweeps run one at a time; two at once would only re-examine items.
        self._client.put_item(
            TableName=self.table,
            Item=to_item({**from_item(self._CURSOR_KEY), "shard": shard, "after": after}),
        )

    def claim_bank_check(self, item: dict[str, Any], now: str, not_since: str) -> bool:
        """Take the right to ask the bank about a pending item, at most once per interval."""
        try:
            transact(
                self._client,
                [
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": self.key(item["pk"], item["sk"]),
                            "UpdateExpression": "SET checked_at = :now",
                            "ConditionExpression": (
                                "#s = :pending AND "
                                "(attribute_not_exists(checked_at) OR checked_at < :since)"
                            ),
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": to_values(
                                {":now": now, ":since": not_since, ":pending": PENDING}
                            ),
                        }
                    }
                ],
            )
        except WriteConflict:
            # Refused, or a re-send of our own write whose answer was lost: the item says.
            current = self.get(item["pk"], item["sk"])
            return current is not None and current.get("checked_at") == now
        return True

    def mark_reversing(self, item: dict[str, Any], now: str) -> bool:
        """Mark a pending item as being reversed (keeping the first mark); False if final.

        A plain conditional write whose re-send (a lost answer) holds too: the condition is
        only that the item is still pending.
        """
        try:
            transact(
                self._client,
                [
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": self.key(item["pk"], item["sk"]),
                            "UpdateExpression": (
                                "SET reversing_at = if_not_exists(reversing_at, :now)"
                            ),
                            "ConditionExpression": "#s = :pending",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": to_values(
                                {":now": now, ":pending": PENDING}
                            ),
                        }
                    }
                ],
            )
        except WriteConflict:
            return False
        return True

    def still_pending_entry(self, item: dict[str, Any]) -> dict[str, Any]:
        """A condition, in another commit, that ``item`` is still pending (it writes nothing
        to the item): an answer of "pending" is stored only while that is true."""
        return {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": self.key(item["pk"], item["sk"]),
                "ConditionExpression": "#s = :pending",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": to_values({":pending": PENDING}),
            }
        }

    # ---- write-ahead entries -------------------------------------------------------------

    @staticmethod
    def _charge_item(charge: dict[str, Any]) -> dict[str, Any]:
        """The stored item of a pending charge: its keys and its index keys."""
        return {
            **charge,
            "pk": charge_pk(charge["merchant_id"], charge["charge_id"]),
            "sk": CHARGE_SK,
            "list_pk": charge["merchant_id"],
            "list_sk": f"{charge['created_at']}#{charge['charge_id']}",
            **_pending_keys(charge, charge["charge_id"]),
        }

    def put_pending_charge_entry(self, charge: dict[str, Any]) -> dict[str, Any]:
        return self._put_new(self._charge_item(charge))

    def put_pending_refund_entry(self, refund: dict[str, Any]) -> dict[str, Any]:
        item = {
            **refund,
            "pk": charge_pk(refund["merchant_id"], refund["charge_id"]),
            "sk": refund_sk(refund["refund_id"]),
            **_pending_keys(refund, refund["refund_id"]),
        }
        return self._put_new(item)

    def begin_operation_entry(
        self, charge: dict[str, Any], operation: str, amount: int, stamp: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """authorized -> pending while a capture or void of the hold is with the bank.

        The charge as written and its entry. The condition (still ``authorized``; for a
        capture also before ``capture_before``) makes one capture or void the only one, also
        across containers. A void carries the reversal's mark from the start: it is a
        reversal of the authorization, so no settler may read the hold's approval as final.
        """
        assert operation in (CAPTURE, VOID) and can_transition(AUTHORIZED, PENDING)
        pending = {
            **charge,
            "status": PENDING,
            "operation": operation,
            "capture_amount": amount,
            "bank_requested_at": stamp,
            "updated_at": stamp,
        }
        pending.pop("checked_at", None)
        values: dict[str, Any] = {
            ":pending": PENDING,
            ":authorized": AUTHORIZED,
            ":op": operation,
            ":amount": amount,
            ":now": stamp,
            **{f":{k}": v for k, v in _pending_keys(pending, charge["charge_id"]).items()},
        }
        update = (
            "SET #s = :pending, operation = :op, capture_amount = :amount, "
            "bank_requested_at = :now, updated_at = :now, "
            "pending_pk = :pending_pk, pending_sk = :pending_sk"
        )
        condition = "#s = :authorized"
        if operation == CAPTURE:
            condition += " AND capture_before > :now"
        else:
            pending["reversing_at"] = stamp
            update += ", reversing_at = :now"
        entry = {
            "Update": {
                "TableName": self.table,
                "Key": self.key(charge["pk"]),
                "UpdateExpression": update + " REMOVE checked_at",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": to_values(values),
            }
        }
        return pending, entry

    def _put_new(self, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table,
                "Item": to_item(item),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def reserve_refund_entry(
        self, charge: dict[str, Any], amount: int, updated_at: str
    ) -> dict[str, Any]:
        """Move ``amount`` from refundable to reserved and count one more refund object."""
        return {
            "Update": {
                "TableName": self.table,
                "Key": self.key(charge["pk"]),
                "UpdateExpression": (
                    "SET refundable = refundable - :a, amount_reserved = amount_reserved + :a, "
                    "refund_count = if_not_exists(refund_count, :zero) + :one, updated_at = :now"
                ),
                "ConditionExpression": (
                    "#s = :succeeded AND refundable >= :a AND "
                    "(attribute_not_exists(refund_count) OR refund_count < :max)"
                ),
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": to_values(
                    {
                        ":a": amount,
                        ":succeeded": SUCCEEDED,
                        ":now": updated_at,
                        ":zero": 0,
                        ":one": 1,
                        ":max": MAX_REFUNDS_PER_CHARGE,
                    }
                ),
            }
        }

    # ---- final-state entries -------------------------------------------------------------

    def finalize_charge_entry(
        self, charge: dict[str, Any], decision: Decision, updated_at: str
    ) -> dict[str, Any]:
        """pending -> succeeded/failed; the condition makes the first finalizer the only one,
        and refuses a success over a reversal's mark.

        The charge is written whole (a Put costs the local stack far less than an update
        expression, and the same deployed): while it is pending nothing else changes it but
        a settler's ``checked_at``, which a final charge no longer needs.
        """
        final = {
            k: v
            for k, v in self._charge_item(charge).items()
            if k not in ("pending_pk", "pending_sk", "checked_at", "reversing_at")
        }
        final.update(final_charge_fields(charge, decision, updated_at))
        assert can_transition(PENDING, final["status"])
        if final["status"] == AUTHORIZED:
            final.update(expiry_keys(final))
        return {
            "Put": {
                "TableName": self.table,
                "Item": to_item(final),
                "ConditionExpression": _final_condition(decision),
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": to_values({":pending": PENDING}),
            }
        }

    def settle_refund_entries(
        self, refund: dict[str, Any], decision: Decision, updated_at: str
    ) -> list[dict[str, Any]]:
        """Reserved -> refunded (or back to refundable) and the refund final, together.

        Both entries must be sent in one transaction: the refund's condition (still pending)
        is what stops a second settlement from moving the money twice.
        """
        assert can_transition(PENDING, decision.status)
        if decision.status == SUCCEEDED:
            moves = "amount_refunded = amount_refunded + :a"
        else:
            moves = "refundable = refundable + :a"
        return [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": self.key(refund["pk"]),
                    "UpdateExpression": (
                        f"SET amount_reserved = amount_reserved - :a, {moves}, updated_at = :now"
                    ),
                    "ConditionExpression": "amount_reserved >= :a",
                    "ExpressionAttributeValues": to_values(
                        {":a": refund["amount"], ":now": updated_at}
                    ),
                }
            },
            {
                "Update": {
                    "TableName": self.table,
                    "Key": self.key(refund["pk"], refund["sk"]),
                    "UpdateExpression": (
                        "SET #s = :status, failure_code = :fcode, updated_at = :now "
                        "REMOVE pending_pk, pending_sk, reversing_at"
                    ),
                    "ConditionExpression": _final_condition(decision),
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": to_values(
                        {
                            ":status": decision.status,
                            ":fcode": decision.failure_code,
                            ":now": updated_at,
                            ":pending": PENDING,
                        }
                    ),
                }
            },
        ]


def final_charge_fields(
    charge: dict[str, Any], decision: Decision, updated_at: str
) -> dict[str, Any]:
    """What a decision changes on a pending charge, by the operation it waited for."""
    operation = charge.get("operation", AUTHORIZE)
    status = final_status(operation, charge.get("captures", True), decision.status)
    fields: dict[str, Any] = {"status": status, "updated_at": updated_at}
    if operation == AUTHORIZE:
        fields.update(
            authorization_code=decision.authorization_code,
            failure_code=decision.failure_code,
            failure_message=decision.failure_message,
        )
    elif status != VOIDED and decision.status != SUCCEEDED:
        # A capture the bank declined, or whose reversal it accepted: the hold is gone.
        fields.update(failure_code=decision.failure_code, failure_message=decision.failure_message)
    captured = 0
    if status == SUCCEEDED:
        captured = charge["capture_amount"] if operation == CAPTURE else charge["amount"]
    fields.update(amount_captured=captured, refundable=captured)
    return fields
