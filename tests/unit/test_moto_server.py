"""The local moto server's shim: transactions roll back by item, queries read one partition.

In-process moto (``mock_aws``) with the shim installed, through a real boto3 client: what a
client sees must be what upstream moto (and DynamoDB) answers, at a cost that does not
depend on the rest of the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from payments_admin import moto_server

moto = pytest.importorskip("moto")


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    moto_server.install()
    with moto.mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="Pairs",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
                {"AttributeName": "owner", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by_owner",
                    "KeySchema": [
                        {"AttributeName": "owner", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        client.create_table(
            TableName="Singles",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def _backend() -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends["123456789012"]["us-east-1"]


def _add_one(item_id: str, **extra: Any) -> dict[str, Any]:
    """A transaction entry adding 1 to ``n`` of a Singles item."""
    update = {
        "TableName": "Singles",
        "Key": {"id": {"S": item_id}},
        "UpdateExpression": "SET n = n + :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    }
    return {"Update": update | extra}


def _single(client: Any, item_id: str) -> dict[str, Any] | None:
    return client.get_item(TableName="Singles", Key={"id": {"S": item_id}}).get("Item")


def _pair(client: Any, pk: str, sk: str) -> dict[str, Any] | None:
    key = {"pk": {"S": pk}, "sk": {"S": sk}}
    return client.get_item(TableName="Pairs", Key=key).get("Item")


def test_a_cancelled_transaction_puts_back_every_item_it_touched(ddb: Any) -> None:
    ddb.put_item(TableName="Singles", Item={"id": {"S": "a"}, "n": {"N": "1"}})
    ddb.put_item(TableName="Singles", Item={"id": {"S": "gone"}, "n": {"N": "7"}})
    ddb.put_item(TableName="Pairs", Item={"pk": {"S": "p"}, "sk": {"S": "1"}, "v": {"S": "x"}})
    with pytest.raises(ClientError) as raised:
        ddb.transact_write_items(
            TransactItems=[
                _add_one("a"),
                {"Put": {"TableName": "Singles", "Item": {"id": {"S": "new"}}}},
                {"Delete": {"TableName": "Singles", "Key": {"id": {"S": "gone"}}}},
                {
                    "Put": {
                        "TableName": "Pairs",
                        "Item": {"pk": {"S": "p"}, "sk": {"S": "2"}, "v": {"S": "y"}},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": "Pairs",
                        "Key": {"pk": {"S": "p"}, "sk": {"S": "1"}},
                        "ConditionExpression": "v = :other",
                        "ExpressionAttributeValues": {":other": {"S": "not x"}},
                    }
                },
            ]
        )
    reasons = [r["Code"] for r in raised.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "None", "ConditionalCheckFailed"]
    assert _single(ddb, "a") == {"id": {"S": "a"}, "n": {"N": "1"}}
    assert _single(ddb, "new") is None
    assert _single(ddb, "gone") == {"id": {"S": "gone"}, "n": {"N": "7"}}
    assert _pair(ddb, "p", "2") is None
    assert _pair(ddb, "p", "1") == {"pk": {"S": "p"}, "sk": {"S": "1"}, "v": {"S": "x"}}


def test_a_successful_transaction_applies_every_item(ddb: Any) -> None:
    ddb.put_item(TableName="Singles", Item={"id": {"S": "a"}, "n": {"N": "1"}})
    ddb.transact_write_items(
        TransactItems=[
            _add_one("a", ConditionExpression="n = :one"),
            {"Put": {"TableName": "Pairs", "Item": {"pk": {"S": "q"}, "sk": {"S": "1"}}}},
        ]
    )
    assert _single(ddb, "a") == {"id": {"S": "a"}, "n": {"N": "2"}}
    assert _pair(ddb, "q", "1") == {"pk": {"S": "q"}, "sk": {"S": "1"}}


def test_a_rollback_keeps_the_table_and_copies_no_other_item(ddb: Any) -> None:
    for i in range(50):
        ddb.put_item(TableName="Singles", Item={"id": {"S": f"other{i}"}})
    ddb.put_item(TableName="Singles", Item={"id": {"S": "a"}})
    table = _backend().tables["Singles"]
    others = {k: v for k, v in table.items.items() if v.attrs["id"].value != "a"}
    with pytest.raises(ClientError):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "Singles", "Item": {"id": {"S": "b"}}}},
                {
                    "Put": {
                        "TableName": "Singles",
                        "Item": {"id": {"S": "a"}},
                        "ConditionExpression": "attribute_not_exists(id)",
                    }
                },
            ]
        )
    # Upstream moto swaps in a deep copy of the whole table; the journal restores in place,
    # so the table and every untouched item are the very same objects.
    assert _backend().tables["Singles"] is table
    assert all(table.items[k] is v for k, v in others.items())
    assert _single(ddb, "b") is None


def test_a_transaction_naming_one_item_twice_is_refused_and_undone(ddb: Any) -> None:
    with pytest.raises(ClientError) as raised:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "Singles", "Item": {"id": {"S": "twice"}}}},
                {"Delete": {"TableName": "Singles", "Key": {"id": {"S": "twice"}}}},
            ]
        )
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert _single(ddb, "twice") is None


def _put_pairs(client: Any) -> None:
    for pk in ("a", "b", "c"):
        for sk in ("3", "1", "2"):
            client.put_item(
                TableName="Pairs",
                Item={"pk": {"S": pk}, "sk": {"S": sk}, "owner": {"S": "o" if pk != "b" else "z"}},
            )


def test_a_partition_query_sees_its_partition_in_key_order_and_pages(ddb: Any) -> None:
    _put_pairs(ddb)
    page = ddb.query(
        TableName="Pairs",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "b"}},
        Limit=2,
    )
    assert [(i["pk"]["S"], i["sk"]["S"]) for i in page["Items"]] == [("b", "1"), ("b", "2")]
    rest = ddb.query(
        TableName="Pairs",
        KeyConditionExpression="pk = :pk AND sk > :sk",
        ExpressionAttributeValues={":pk": {"S": "b"}, ":sk": {"S": "1"}},
        ExclusiveStartKey=page["LastEvaluatedKey"],
        ScanIndexForward=False,
    )
    assert [i["sk"]["S"] for i in rest["Items"]] == ["3", "2"][: len(rest["Items"])]
    missing = ddb.query(
        TableName="Pairs",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "nobody"}},
    )
    assert missing["Items"] == []
    # The table is whole again after the query.
    assert len(ddb.scan(TableName="Pairs")["Items"]) == 9


def test_an_index_query_is_in_index_order_without_the_table_wide_sort(ddb: Any) -> None:
    _put_pairs(ddb)
    found = ddb.query(
        TableName="Pairs",
        IndexName="by_owner",
        KeyConditionExpression="#o = :o",
        ExpressionAttributeNames={"#o": "owner"},
        ExpressionAttributeValues={":o": {"S": "o"}},
        ScanIndexForward=False,
    )
    keys = [(i["sk"]["S"], i["pk"]["S"]) for i in found["Items"]]
    assert keys == sorted(keys, reverse=True)
    assert {pk for _, pk in keys} == {"a", "c"} and len(keys) == 6
    assert "all_items" not in vars(_backend().tables["Pairs"])


def test_install_refuses_a_moto_version_it_was_not_written_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(moto, "__version__", "9.9.9")
    with pytest.raises(RuntimeError, match="5.2.5"):
        moto_server.install()
