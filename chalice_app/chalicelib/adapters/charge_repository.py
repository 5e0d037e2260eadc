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
from collections.abc import Mapping
from typing import Any

from chalicelib.adapters.dynamo import (
    FirstRead,
    ItemKey,
    WriteConflict,
    WriteEntry,
    from_item,
    newest_first_page,
    to_item,
    to_values,
    transact,
)
from chalicelib.domain.charges import (
    CardSummary,
    Charge,
    ChargeId,
    ObjectRef,
    Pending,
    Refund,
    RefundId,
    TokenId,
)
from chalicelib.domain.lifecycle import (
    AUTHORIZE,
    AUTHORIZED,
    CAPTURE,
    PENDING,
    SUCCEEDED,
    Decision,
)
from chalicelib.domain.refunds import MAX_REFUNDS_PER_CHARGE
from chalicelib.tables import CHARGES_LIST_INDEX, PENDING_INDEX

CHARGE_SK = "charge"
_REFUND_PREFIX = "refund#"
PENDING_SHARDS = 8

# A pending-index entry: its position in the shard (the sweep's cursor) and the item.
Positioned = tuple[str, Pending]


def charge_pk(merchant_id: str, charge_id: str) -> str:
    return f"{merchant_id}#{charge_id}"


def refund_sk(refund_id: str) -> str:
    return f"{_REFUND_PREFIX}{refund_id}"


def pending_shard(object_id: str) -> str:
    return f"pending#{zlib.crc32(object_id.encode()) % PENDING_SHARDS}"


# ---- keys of a reference ---------------------------------------------------------------------


def ref_keys(ref: ObjectRef) -> tuple[str, str]:
    """The item's ``pk`` and ``sk``."""
    sk = CHARGE_SK if ref.refund_id is None else refund_sk(ref.refund_id)
    return charge_pk(ref.merchant_id, ref.charge_id), sk


def ref_of_keys(pk: str, sk: str) -> ObjectRef:
    """The reference ``ref_keys`` made these keys of (ids never hold a ``#``)."""
    merchant_id, _, charge_id = pk.rpartition("#")
    refund_id = RefundId(sk.removeprefix(_REFUND_PREFIX)) if sk != CHARGE_SK else None
    return ObjectRef(merchant_id=merchant_id, charge_id=ChargeId(charge_id), refund_id=refund_id)


def _key(ref: ObjectRef) -> ItemKey:
    pk, sk = ref_keys(ref)
    return ItemKey({"pk": {"S": pk}, "sk": {"S": sk}})


# ---- records <-> items: the only code that knows the stored shape ---------------------------


def _pending_sk(stamp: str, object_id: str) -> str:
    return f"{stamp}#{object_id}"


def _list_sk(charge: Charge) -> str:
    return f"{charge.created_at}#{charge.id}"


def charge_values(charge: Charge) -> dict[str, object]:
    """The stored attributes of a charge (``None``: left out), with its keys and index keys.

    A pending charge is in the pending index by ``bank_requested_at``; an authorized one
    stays there, ordered by ``capture_before``: the reconcile sweep finds it once its window
    is over, and voids it. A final charge is out of the (sparse) index.
    """
    pk, sk = ref_keys(charge.ref)
    values: dict[str, object] = {
        "pk": pk,
        "sk": sk,
        "list_pk": charge.merchant_id,
        "list_sk": _list_sk(charge),
        "charge_id": charge.id,
        "merchant_id": charge.merchant_id,
        "status": charge.status,
        "amount": charge.amount,
        "currency": charge.currency,
        "captures": charge.captures,
        "capture_before": charge.capture_before,
        "operation": charge.operation,
        "capture_amount": charge.capture_amount,
        "amount_captured": charge.amount_captured,
        "amount_refunded": charge.amount_refunded,
        "amount_reserved": charge.amount_reserved,
        "refundable": charge.refundable,
        "refund_count": charge.refund_count,
        "card": {
            "brand": charge.card.brand,
            "last4": charge.card.last4,
            "exp_month": charge.card.exp_month,
            "exp_year": charge.card.exp_year,
        },
        "description": charge.description,
        "metadata": dict(charge.metadata),
        "token_id": charge.token_id,
        "created_at": charge.created_at,
        "updated_at": charge.updated_at,
        "bank_requested_at": charge.bank_requested_at,
        "authorization_code": charge.authorization_code,
        "failure_code": charge.failure_code,
        "failure_message": charge.failure_message,
        "checked_at": charge.checked_at,
        "reversing_at": charge.reversing_at,
    }
    if charge.status == PENDING:
        values["pending_pk"] = pending_shard(charge.id)
        values["pending_sk"] = _pending_sk(charge.bank_requested_at, charge.id)
    elif charge.status == AUTHORIZED and charge.capture_before is not None:
        values["pending_pk"] = pending_shard(charge.id)
        values["pending_sk"] = _pending_sk(charge.capture_before, charge.id)
    return values


def charge_to_item(charge: Charge) -> dict[str, Any]:
    return to_item(charge_values(charge))


def charge_of(values: Mapping[str, Any]) -> Charge:
    """A charge from its stored attributes (``from_item``'s plain values).

    Attributes an item may lack are given what they meant when it was written without them:
    a charge captured at once, by its authorization, with nothing refunded; a succeeded
    charge without ``amount_captured`` captured its amount.
    """
    status = values["status"]
    card = values["card"]
    amount_captured = values.get("amount_captured")
    if amount_captured is None:
        amount_captured = values["amount"] if status == SUCCEEDED else 0
    return Charge(
        id=ChargeId(values["charge_id"]),
        merchant_id=values["merchant_id"],
        status=status,
        amount=values["amount"],
        currency=values["currency"],
        card=CardSummary(
            brand=card["brand"],
            last4=card["last4"],
            exp_month=card["exp_month"],
            exp_year=card["exp_year"],
        ),
        token_id=TokenId(values.get("token_id", "")),
        created_at=values["created_at"],
        updated_at=values["updated_at"],
        bank_requested_at=values.get("bank_requested_at", values["created_at"]),
        captures=values.get("captures", True),
        capture_before=values.get("capture_before"),
        operation=values.get("operation", AUTHORIZE),
        capture_amount=values.get("capture_amount"),
        amount_captured=amount_captured,
        amount_refunded=values.get("amount_refunded", 0),
        amount_reserved=values.get("amount_reserved", 0),
        refundable=values.get("refundable", 0),
        refund_count=values.get("refund_count", 0),
        description=values.get("description"),
        metadata=values.get("metadata") or {},
        authorization_code=values.get("authorization_code"),
        failure_code=values.get("failure_code"),
        failure_message=values.get("failure_message"),
        checked_at=values.get("checked_at"),
        reversing_at=values.get("reversing_at"),
    )


def refund_values(refund: Refund) -> dict[str, object]:
    """The stored attributes of a refund, with its keys (and, pending, its index keys)."""
    pk, sk = ref_keys(refund.ref)
    values: dict[str, object] = {
        "pk": pk,
        "sk": sk,
        "refund_id": refund.id,
        "charge_id": refund.charge_id,
        "merchant_id": refund.merchant_id,
        "status": refund.status,
        "amount": refund.amount,
        "currency": refund.currency,
        "reason": refund.reason,
        "failure_code": refund.failure_code,
        "created_at": refund.created_at,
        "updated_at": refund.updated_at,
        "bank_requested_at": refund.bank_requested_at,
        "checked_at": refund.checked_at,
        "reversing_at": refund.reversing_at,
    }
    if refund.status == PENDING:
        values["pending_pk"] = pending_shard(refund.id)
        values["pending_sk"] = _pending_sk(refund.bank_requested_at, refund.id)
    return values


def refund_to_item(refund: Refund) -> dict[str, Any]:
    return to_item(refund_values(refund))


def refund_of(values: Mapping[str, Any]) -> Refund:
    """A refund from its stored attributes (``from_item``'s plain values)."""
    return Refund(
        id=RefundId(values["refund_id"]),
        charge_id=ChargeId(values["charge_id"]),
        merchant_id=values["merchant_id"],
        status=values["status"],
        amount=values["amount"],
        currency=values["currency"],
        created_at=values["created_at"],
        updated_at=values["updated_at"],
        bank_requested_at=values.get("bank_requested_at", values["created_at"]),
        reason=values.get("reason"),
        failure_code=values.get("failure_code"),
        checked_at=values.get("checked_at"),
        reversing_at=values.get("reversing_at"),
    )


def record_of(values: Mapping[str, Any]) -> Pending:
    """A charge or a refund, by its sort key."""
    return charge_of(values) if values["sk"] == CHARGE_SK else refund_of(values)


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

    def charge_key(self, merchant_id: str, charge_id: str) -> ItemKey:
        return _key(ObjectRef(merchant_id=merchant_id, charge_id=ChargeId(charge_id)))

    def charge_read(self, merchant_id: str, charge_id: str) -> FirstRead[Charge]:
        """The charge, as a request's first read."""
        return FirstRead(self.table, self.charge_key(merchant_id, charge_id), charge_of)

    def get(self, ref: ObjectRef) -> Pending | None:
        response = self._client.get_item(TableName=self.table, Key=_key(ref), ConsistentRead=True)
        item = response.get("Item")
        return record_of(from_item(item)) if item else None

    def get_charge(self, merchant_id: str, charge_id: str) -> Charge | None:
        response = self._client.get_item(
            TableName=self.table, Key=self.charge_key(merchant_id, charge_id), ConsistentRead=True
        )
        item = response.get("Item")
        return charge_of(from_item(item)) if item else None

    def get_with_refunds(
        self, merchant_id: str, charge_id: str
    ) -> tuple[Charge | None, list[Refund]]:
        """The merchant's charge and its refunds, oldest first: one bounded Query."""
        response = self._client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=to_values({":pk": charge_pk(merchant_id, charge_id)}),
            ConsistentRead=True,
            Limit=MAX_REFUNDS_PER_CHARGE + 1,
        )
        charge: Charge | None = None
        refunds: list[Refund] = []
        for raw in response.get("Items", []):
            values = from_item(raw)
            if values["sk"] == CHARGE_SK:
                charge = charge_of(values)
            else:
                refunds.append(refund_of(values))
        refunds.sort(key=lambda r: (r.created_at, r.id))
        return charge, refunds

    def list_for_merchant(
        self, merchant_id: str, limit: int, after: Charge | None
    ) -> tuple[list[Charge], bool]:
        """A page of the merchant's charges, newest first (older than ``after``), and whether
        more follow."""
        items, more = newest_first_page(
            self._client,
            self.table,
            CHARGES_LIST_INDEX.name,
            ("list_pk", merchant_id),
            limit,
            _list_sk(after) if after is not None else None,
        )
        return [charge_of(i) for i in items], more

    def pending_page(
        self, shard: int, cutoff: str, after: str | None, limit: int = 100
    ) -> tuple[list[Positioned], bool]:
        """One page of a shard's pending items whose bank call began before ``cutoff`` (and
        authorized charges whose capture window ended before it), in index order after the
        position ``after``; each with its position; and whether more may follow."""
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
        found = [from_item(i) for i in response.get("Items", [])]
        return [(v["pending_sk"], record_of(v)) for v in found], "LastEvaluatedKey" in response

    # The reconcile sweep's cursor: where its last run stopped (see SettlementService.sweep).
    _CURSOR_KEY = {"pk": {"S": "sweep"}, "sk": {"S": "cursor"}}

    def sweep_cursor(self) -> tuple[int, str | None]:
        """The shard and the last position the previous sweep got to (0, None at first)."""
        response = self._client.get_item(
            TableName=self.table, Key=self._CURSOR_KEY, ConsistentRead=True
        )
        item = from_item(response["Item"]) if "Item" in response else {}
        after = item.get("after")
        return int(item.get("shard", 0)) % PENDING_SHARDS, str(after) if after else None

    def save_sweep_cursor(self, shard: int, after: str | None) -> None:
        # Unconditional: sweeps run one at a time; two at once would only re-examine items.
        self._client.put_item(
            TableName=self.table,
            Item=to_item({**from_item(self._CURSOR_KEY), "shard": shard, "after": after}),
        )

    def claim_bank_check(self, item: Pending, now: str, not_since: str) -> bool:
        """Take the right to ask the bank about a pending item, at most once per interval."""
        try:
            transact(
                self._client,
                [
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": _key(item.ref),
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
            current = self.get(item.ref)
            return current is not None and current.checked_at == now
        return True

    def mark_reversing(self, item: Pending, now: str) -> bool:
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
                            "Key": _key(item.ref),
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

    def still_pending_entry(self, item: Pending) -> WriteEntry:
        """A condition, in another commit, that ``item`` is still pending (it writes nothing
        to the item): an answer of "pending" is stored only while that is true."""
        return WriteEntry(
            {
                "ConditionCheck": {
                    "TableName": self.table,
                    "Key": _key(item.ref),
                    "ConditionExpression": "#s = :pending",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": to_values({":pending": PENDING}),
                }
            }
        )

    # ---- write-ahead entries -------------------------------------------------------------

    def put_pending(self, item: Pending) -> WriteEntry:
        """A new pending charge or refund (ids are random; the condition is a safety net)."""
        assert item.status == PENDING
        return WriteEntry(
            {
                "Put": {
                    "TableName": self.table,
                    "Item": charge_to_item(item)
                    if isinstance(item, Charge)
                    else refund_to_item(item),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        )

    def begin_operation_entry(self, pending: Charge) -> WriteEntry:
        """authorized -> ``pending`` (``Charge.begin``) while a capture or void of the hold
        is with the bank.

        The condition (still ``authorized``; for a capture also before ``capture_before``)
        makes one capture or void the only one, also across containers.
        """
        assert pending.status == PENDING and pending.operation != AUTHORIZE
        stamp = pending.bank_requested_at
        values: dict[str, object] = {
            ":pending": PENDING,
            ":authorized": AUTHORIZED,
            ":op": pending.operation,
            ":amount": pending.capture_amount,
            ":now": stamp,
            ":pending_pk": pending_shard(pending.id),
            ":pending_sk": _pending_sk(stamp, pending.id),
        }
        update = (
            "SET #s = :pending, operation = :op, capture_amount = :amount, "
            "bank_requested_at = :now, updated_at = :now, "
            "pending_pk = :pending_pk, pending_sk = :pending_sk"
        )
        condition = "#s = :authorized"
        if pending.operation == CAPTURE:
            condition += " AND capture_before > :now"
        else:
            update += ", reversing_at = :now"
        return WriteEntry(
            {
                "Update": {
                    "TableName": self.table,
                    "Key": _key(pending.ref),
                    "UpdateExpression": update + " REMOVE checked_at",
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": to_values(values),
                }
            }
        )

    def reserve_refund_entry(self, charge: Charge, amount: int, updated_at: str) -> WriteEntry:
        """``Charge.reserve`` as a relative update: concurrent refunds each take their part,
        and the condition refuses any that the charge's state as now stored cannot take."""
        charge.reserve(amount, updated_at)  # the rule, on the state this request read
        return WriteEntry(
            {
                "Update": {
                    "TableName": self.table,
                    "Key": _key(charge.ref),
                    "UpdateExpression": (
                        "SET refundable = refundable - :a, "
                        "amount_reserved = amount_reserved + :a, "
                        "refund_count = if_not_exists(refund_count, :zero) + :one, "
                        "updated_at = :now"
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
        )

    # ---- final-state entries -------------------------------------------------------------

    def finalize_charge_entry(self, final: Charge, decision: Decision) -> WriteEntry:
        """pending -> ``final`` (``Charge.finalized``); the condition makes the first finalizer
        the only one, and refuses a success over a reversal's mark.

        The charge is written whole (a Put costs the local stack far less than an update
        expression, and the same deployed): while it is pending nothing else changes it but
        a settler's ``checked_at``, which a final charge no longer needs.
        """
        return WriteEntry(
            {
                "Put": {
                    "TableName": self.table,
                    "Item": charge_to_item(final),
                    "ConditionExpression": _final_condition(decision),
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": to_values({":pending": PENDING}),
                }
            }
        )

    def settle_refund_entries(
        self, refund: Refund, decision: Decision, updated_at: str
    ) -> list[WriteEntry]:
        """``Charge.settle_refund`` (reserved -> refunded, or back to refundable) and the
        refund final, together.

        Both entries must be sent in one transaction: the refund's condition (still pending)
        is what stops a second settlement from moving the money twice.
        """
        final = refund.finalized(decision, updated_at)
        if final.status == SUCCEEDED:
            moves = "amount_refunded = amount_refunded + :a"
        else:
            moves = "refundable = refundable + :a"
        charge_ref = ObjectRef(merchant_id=refund.merchant_id, charge_id=refund.charge_id)
        return [
            WriteEntry(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": _key(charge_ref),
                        "UpdateExpression": (
                            f"SET amount_reserved = amount_reserved - :a, {moves}, "
                            "updated_at = :now"
                        ),
                        "ConditionExpression": "amount_reserved >= :a",
                        "ExpressionAttributeValues": to_values(
                            {":a": refund.amount, ":now": updated_at}
                        ),
                    }
                }
            ),
            WriteEntry(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": _key(refund.ref),
                        "UpdateExpression": (
                            "SET #s = :status, failure_code = :fcode, updated_at = :now "
                            "REMOVE pending_pk, pending_sk, reversing_at"
                        ),
                        "ConditionExpression": _final_condition(decision),
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": to_values(
                            {
                                ":status": final.status,
                                ":fcode": final.failure_code,
                                ":now": updated_at,
                                ":pending": PENDING,
                            }
                        ),
                    }
                }
            ),
        ]
