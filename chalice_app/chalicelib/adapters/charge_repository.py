"""Charges table: a charge and its refunds share a partition (pk = charge id).

Item kinds, told apart by the sort key:

* ``sk = "charge"``: the charge. ``refundable`` is what is neither refunded nor reserved by
  a refund in flight; conditions on it keep refunds within the charge under concurrency
  (DynamoDB conditions cannot add, so the remainder is kept as its own attribute).
* ``sk = "refund#<created_at>#<refund id>"``: a refund, so a Query lists refunds oldest first.

Only charges carry ``list_pk``/``list_sk`` (merchant listing) and only pending items carry
``pending_pk``/``pending_sk`` (the reconcile sweep): both indexes stay sparse.
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamo import from_item, to_item, to_values
from chalicelib.tables import CHARGES_LIST_INDEX, PENDING_INDEX

CHARGE_SK = "charge"
PENDING_PARTITION = "pending"


def refund_sk(created_at: str, refund_id: str) -> str:
    return f"refund#{created_at}#{refund_id}"


class ChargeRepository:
    """Reads and conditional writes of charges and refunds."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # ---- reads ---------------------------------------------------------------------------

    def get_charge(self, charge_id: str) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": charge_id}, "sk": {"S": CHARGE_SK}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def get_with_refunds(
        self, charge_id: str
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The charge and its refunds, oldest first, in one Query."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_values({":pk": charge_id}),
            "ConsistentRead": True,
        }
        while True:
            response = self._client.query(**kwargs)
            items += [from_item(i) for i in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        charge = next((i for i in items if i["sk"] == CHARGE_SK), None)
        return charge, [i for i in items if i["sk"] != CHARGE_SK]

    def list_for_merchant(
        self, merchant_id: str, limit: int, before_list_sk: str | None
    ) -> tuple[list[dict[str, Any]], bool]:
        """A page of the merchant's charges, newest first, and whether more follow."""
        condition = "list_pk = :m"
        values: dict[str, Any] = {":m": merchant_id}
        if before_list_sk is not None:
            condition += " AND list_sk < :cursor"
            values[":cursor"] = before_list_sk
        response = self._client.query(
            TableName=self._table,
            IndexName=CHARGES_LIST_INDEX.name,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=to_values(values),
            ScanIndexForward=False,
            Limit=limit + 1,
        )
        items = [from_item(i) for i in response.get("Items", [])]
        return items[:limit], len(items) > limit

    def pending_before(self, cutoff: str, limit: int = 100) -> list[dict[str, Any]]:
        """Pending charges and refunds created before ``cutoff`` (ISO), oldest first."""
        response = self._client.query(
            TableName=self._table,
            IndexName=PENDING_INDEX.name,
            KeyConditionExpression="pending_pk = :p AND pending_sk < :cutoff",
            ExpressionAttributeValues=to_values({":p": PENDING_PARTITION, ":cutoff": cutoff}),
            Limit=limit,
        )
        return [from_item(i) for i in response.get("Items", [])]

    # ---- write entries (sent through a UnitOfWork or ``write``) --------------------------

    def put_pending_charge_entry(self, charge: dict[str, Any]) -> dict[str, Any]:
        item = {
            **charge,
            "pk": charge["charge_id"],
            "sk": CHARGE_SK,
            "list_pk": charge["merchant_id"],
            "list_sk": f"{charge['created_at']}#{charge['charge_id']}",
            "pending_pk": PENDING_PARTITION,
            "pending_sk": f"{charge['created_at']}#{charge['charge_id']}",
        }
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_item(item),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def finalize_charge_entry(
        self,
        charge_id: str,
        *,
        status: str,
        amount: int,
        updated_at: str,
        authorization_code: str | None = None,
        failure_code: str | None = None,
        failure_message: str | None = None,
    ) -> dict[str, Any]:
        """pending -> succeeded/failed; the condition makes the first finalizer win."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": to_item({"pk": charge_id, "sk": CHARGE_SK}),
                "UpdateExpression": (
                    "SET #s = :status, authorization_code = :auth, failure_code = :fcode, "
                    "failure_message = :fmsg, refundable = :refundable, updated_at = :now "
                    "REMOVE pending_pk, pending_sk"
                ),
                "ConditionExpression": "#s = :pending",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": to_values(
                    {
                        ":status": status,
                        ":auth": authorization_code,
                        ":fcode": failure_code,
                        ":fmsg": failure_message,
                        ":refundable": amount if status == "succeeded" else 0,
                        ":now": updated_at,
                        ":pending": "pending",
                    }
                ),
            }
        }

    def reserve_refund_entry(
        self, charge_id: str, merchant_id: str, amount: int, updated_at: str
    ) -> dict[str, Any]:
        """Move ``amount`` from refundable to reserved, if the charge allows it."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": to_item({"pk": charge_id, "sk": CHARGE_SK}),
                "UpdateExpression": (
                    "SET refundable = refundable - :a, amount_reserved = amount_reserved + :a, "
                    "updated_at = :now"
                ),
                "ConditionExpression": (
                    "merchant_id = :m AND #s = :succeeded AND refundable >= :a"
                ),
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": to_values(
                    {":a": amount, ":m": merchant_id, ":succeeded": "succeeded", ":now": updated_at}
                ),
            }
        }

    def put_pending_refund_entry(self, refund: dict[str, Any]) -> dict[str, Any]:
        item = {
            **refund,
            "pk": refund["charge_id"],
            "sk": refund_sk(refund["created_at"], refund["refund_id"]),
            "pending_pk": PENDING_PARTITION,
            "pending_sk": f"{refund['created_at']}#{refund['refund_id']}",
        }
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_item(item),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def settle_refund_entries(
        self,
        refund: dict[str, Any],
        *,
        succeeded: bool,
        updated_at: str,
        failure_code: str | None = None,
    ) -> list[dict[str, Any]]:
        """Reserved -> refunded (or back to refundable) and the refund final, together.

        Both entries must be sent in one transaction: the refund's condition (still pending)
        is what stops a second settlement from moving the money twice.
        """
        amount = refund["amount"]
        charge_update = (
            "SET amount_reserved = amount_reserved - :a, amount_refunded = amount_refunded + :a, "
            "updated_at = :now"
            if succeeded
            else "SET amount_reserved = amount_reserved - :a, refundable = refundable + :a, "
            "updated_at = :now"
        )
        return [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": to_item({"pk": refund["charge_id"], "sk": CHARGE_SK}),
                    "UpdateExpression": charge_update,
                    "ConditionExpression": "amount_reserved >= :a",
                    "ExpressionAttributeValues": to_values({":a": amount, ":now": updated_at}),
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": to_item({"pk": refund["charge_id"], "sk": refund["sk"]}),
                    "UpdateExpression": (
                        "SET #s = :status, failure_code = :fcode, updated_at = :now "
                        "REMOVE pending_pk, pending_sk"
                    ),
                    "ConditionExpression": "#s = :pending",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": to_values(
                        {
                            ":status": "succeeded" if succeeded else "failed",
                            ":fcode": failure_code,
                            ":now": updated_at,
                            ":pending": "pending",
                        }
                    ),
                }
            },
        ]
