"""The local moto server's shim: transactions roll back by item, queries read one partition.

In-process moto (``mock_aws``) with the shim installed, through a real boto3 client: what a
client sees must be what upstream moto (and DynamoDB) answers, at a cost that does not
depend on the rest of the table. The work the shim does once instead of on every request
(condition trees, the item-size check, plain item JSON, method names, request ids, header
parsing, the direct DynamoDB route) is compared with upstream's own code, kept by
``install()`` in ``moto_server.UPSTREAM`` or in the wrappers' ``__wrapped__``.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import selectors
from collections.abc import Callable, Iterator
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


# ---- work done once instead of on every request: each must answer what upstream answers ----


def _outcome(call: Callable[[], Any]) -> tuple[Any, ...]:
    """What a call gives: its value, or its exception's type and text."""
    try:
        return ("value", call())
    except Exception as error:  # noqa: BLE001 - the exception is the outcome compared
        return ("error", type(error), str(error))


def test_install_keeps_upstreams_code_for_the_comparisons_and_patches_once() -> None:
    """What the comparisons below call "upstream" is moto's own code, even after a second
    ``install()``: no patch wraps itself or saves itself as upstream."""
    import moto.core.responses as moto_responses
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.responses import DynamoHandler

    moto_server.install()
    moto_server.install()
    upstream_parse = moto_server.UPSTREAM["ConditionExpressionParser.parse"]
    assert ConditionExpressionParser.parse is moto_server._parse_condition
    assert upstream_parse.__module__ == "moto.dynamodb.comparisons"
    make_operand = ConditionExpressionParser._make_operand
    assert make_operand.__wrapped__.__module__ == "moto.dynamodb.comparisons"
    assert not hasattr(make_operand.__wrapped__, "__wrapped__")
    assert Item.__init__ is moto_server._item_init
    assert moto_server.UPSTREAM["Item.__init__"].__module__ == "moto.dynamodb.models.dynamo_type"
    for method in (
        DynamoHandler.parse_parameters,
        DynamoHandler.serialized,
        DynamoHandler.transact_write_items,
    ):
        assert method.__wrapped__.__module__ in ("moto.core.responses", "moto.dynamodb.responses")
        assert not hasattr(method.__wrapped__, "__wrapped__")
    assert moto_responses.gen_amzn_requestid_long is moto_server._request_id
    assert moto_server.UPSTREAM["gen_amzn_requestid_long"].__module__ == (
        "moto.utilities.aws_headers"
    )
    names = moto_responses.method_names_from_class
    assert names.__wrapped__.__module__ == "moto.core.utils"
    assert not hasattr(names.__wrapped__, "cache_info")


# -- conditions: one tree per text, this request's values --


def _put_if_n_is(client: Any, expected: str, new: str) -> None:
    client.put_item(
        TableName="Singles",
        Item={"id": {"S": "c"}, "n": {"N": new}},
        ConditionExpression="#n = :v",
        ExpressionAttributeNames={"#n": "n"},
        ExpressionAttributeValues={":v": {"N": expected}},
    )


def test_one_condition_text_is_parsed_once_and_checked_with_each_requests_values(
    ddb: Any,
) -> None:
    """``#n = :v`` accepts the value the item holds and refuses any other, request after
    request, in a Put, a transaction and a Scan filter, while its text is parsed once."""
    moto_server._condition_tree.cache_clear()
    ddb.put_item(TableName="Singles", Item={"id": {"S": "c"}, "n": {"N": "1"}})
    _put_if_n_is(ddb, "1", "2")
    with pytest.raises(ClientError) as refused:
        _put_if_n_is(ddb, "1", "3")  # the item holds 2 now
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    _put_if_n_is(ddb, "2", "3")
    assert _single(ddb, "c") == {"id": {"S": "c"}, "n": {"N": "3"}}

    check = {
        "TableName": "Singles",
        "Key": {"id": {"S": "c"}},
        "ConditionExpression": "#n = :v",
        "ExpressionAttributeNames": {"#n": "n"},
    }
    ddb.transact_write_items(
        TransactItems=[
            {"ConditionCheck": check | {"ExpressionAttributeValues": {":v": {"N": "3"}}}}
        ]
    )
    with pytest.raises(ClientError) as cancelled:
        ddb.transact_write_items(
            TransactItems=[
                {"ConditionCheck": check | {"ExpressionAttributeValues": {":v": {"N": "9"}}}}
            ]
        )
    reasons = cancelled.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["ConditionalCheckFailed"]

    for value, count in (("3", 1), ("1", 0), ("3", 1)):
        found = ddb.scan(
            TableName="Singles",
            FilterExpression="#n = :v",
            ExpressionAttributeNames={"#n": "n"},
            ExpressionAttributeValues={":v": {"N": value}},
        )
        assert found["Count"] == count
    # One text, one set of names and of value placeholders: one parse for all of the above.
    assert moto_server._condition_tree.cache_info().misses == 1


def _upstream_parser() -> type[Any]:
    """``ConditionExpressionParser`` exactly as moto ships it: upstream's ``parse`` and
    ``_make_operand`` (which reads the value from the tree), not the shim's."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    class Upstream(ConditionExpressionParser):
        parse = moto_server.UPSTREAM["ConditionExpressionParser.parse"]
        _make_operand = ConditionExpressionParser._make_operand.__wrapped__  # type: ignore[attr-defined]

    return Upstream


def _items() -> list[Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    def item(attrs: dict[str, Any]) -> Any:
        return Item(DynamoType(attrs["id"]), None, attrs)

    return [
        item(
            {
                "id": {"S": "full"},
                "n": {"N": "3"},
                "s": {"S": "abc"},
                "tags": {"SS": ["ab", "x"]},
                "m": {"M": {"kid": {"N": "3"}}},
                "l": {"L": [{"N": "3"}, {"N": "1"}, {"N": "2"}]},
            }
        ),
        item({"id": {"S": "other"}, "n": {"N": "4"}, "s": {"S": "xyz"}, "l": {"L": [{"N": "9"}]}}),
        item({"id": {"S": "bare"}}),
        None,
    ]


_CONDITIONS = [
    "",
    "#n = :v",
    "#n <> :v AND attribute_exists(id)",
    "NOT (#n < :v) OR begins_with(#s, :p)",
    "(#n >= :lo OR size(#s) > :three) AND attribute_not_exists(gone)",
    "#n BETWEEN :lo AND :hi",
    "#n IN (:v, :lo, :hi)",
    "contains(tags, :p) OR contains(#s, :p)",
    "attribute_type(#s, :t)",
    "m.kid = :v AND l[0] <= :hi",
    "NOT attribute_exists(#n)",
    "size(l) = :three OR (#n = :hi AND #s <> :p)",
]
_NAME_SETS = [{"#n": "n", "#s": "s"}, {"#n": "s", "#s": "n"}]
_VALUE_SETS = [
    {
        ":v": {"N": "3"},
        ":lo": {"N": "1"},
        ":hi": {"N": "5"},
        ":p": {"S": "ab"},
        ":three": {"N": "3"},
        ":t": {"S": "S"},
    },
    {
        ":v": {"N": "4"},
        ":lo": {"N": "4"},
        ":hi": {"N": "4"},
        ":p": {"S": "x"},
        ":three": {"N": "1"},
        ":t": {"S": "N"},
    },
]


def test_a_cached_condition_tree_gives_upstreams_operator_for_any_names_and_values() -> None:
    """For a corpus of conditions (AND, OR, NOT, parentheses, functions, size, BETWEEN, IN,
    nested paths), each parsed again with other names and other values, the shim's operator
    judges every item as upstream's does, and finds the same names and values."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    moto_server.install()
    upstream = _upstream_parser()
    items = _items()
    verdicts: list[list[tuple[Any, ...]]] = []
    for names in _NAME_SETS:
        for values in _VALUE_SETS:
            these: list[tuple[Any, ...]] = []
            for text in _CONDITIONS:
                ours = ConditionExpressionParser(text, names, values)
                theirs = upstream(text, names, values)
                our_op, their_op = ours.parse(), theirs.parse()
                assert ours.expr_attr_names_found == theirs.expr_attr_names_found, text
                assert ours.expr_attr_values_found == theirs.expr_attr_values_found, text
                for item in items:
                    verdict = _outcome(functools.partial(our_op.expr, item))
                    expected = _outcome(functools.partial(their_op.expr, item))
                    assert verdict == expected, (text, names, values, item)
                    these.append(verdict)
            verdicts.append(these)
    # The corpus tells names and values apart: a tree that kept its first values or names
    # would have failed above.
    assert len({tuple(v) for v in verdicts}) == len(verdicts)


_VALUES = _VALUE_SETS[0]


@pytest.mark.parametrize(
    ("text", "names", "values"),
    [
        ("#n = :missing", _NAME_SETS[0], _VALUES),
        ("#missing = :v", _NAME_SETS[0], _VALUES),
        ("#n = :v", None, _VALUES),
        ("#n = :v", _NAME_SETS[0], None),
        ("#n = :v", _NAME_SETS[0], {}),
        ("#n = = :v", _NAME_SETS[0], _VALUES),
        ("(#n = :v", _NAME_SETS[0], _VALUES),
        ("#n = :v)", _NAME_SETS[0], _VALUES),
        ("((#n = :v))", _NAME_SETS[0], _VALUES),
        ("status = :v", _NAME_SETS[0], _VALUES),
        ("attribute_exists(:v)", _NAME_SETS[0], _VALUES),
        ("begins_with(#s)", _NAME_SETS[0], _VALUES),
        ("#n = :v AND", _NAME_SETS[0], _VALUES),
        ("#n ~ :v", _NAME_SETS[0], _VALUES),
        ("#n BETWEEN :lo", _NAME_SETS[0], _VALUES),
        ("#n IN :v", _NAME_SETS[0], _VALUES),
    ],
)
def test_a_bad_condition_raises_what_upstream_raises(
    text: str, names: dict[str, str] | None, values: dict[str, Any] | None
) -> None:
    """A missing value or name, no names or values at all, bad syntax, a reserved word:
    the same exception type and message as upstream's parse, every time (none is cached)."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    moto_server.install()
    expected = _outcome(lambda: _upstream_parser()(text, names, values).parse())
    assert expected[0] == "error"
    for _ in range(2):
        assert _outcome(lambda: ConditionExpressionParser(text, names, values).parse()) == expected


# -- the item-size limit, checked once --

_LIMIT = 405000  # upstream's, in LimitedSizeDict


def _attrs_of_size(total: int) -> dict[str, Any]:
    """An item of every kind of attribute whose size, as moto counts it, is ``total``."""
    from moto.dynamodb.models.dynamo_type import DynamoType, bytesize

    attrs: dict[str, Any] = {
        "id": {"S": "big"},
        "n": {"N": "12.5"},
        "tags": {"SS": ["a", "b"]},
        "m": {"M": {"x": {"L": [{"BOOL": True}, {"B": b"\x00\x01"}, {"NULL": True}]}}},
        "pad": {"S": ""},
    }
    size = sum(bytesize(key) + DynamoType(value).size() for key, value in attrs.items())
    attrs["pad"] = {"S": "x" * (total - size)}
    return attrs


def _built_with(init: Callable[..., None], attrs: dict[str, Any]) -> tuple[Any, ...]:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    item = Item.__new__(Item)
    init(item, DynamoType(attrs["id"]), None, attrs)
    return item.hash_key, item.range_key, type(item.attrs), dict(item.attrs)


def test_the_item_size_limit_is_upstreams_to_the_byte() -> None:
    """An item exactly at the limit is built as upstream builds it; one byte over is refused
    with upstream's error; and a built item still refuses an attribute that overflows it."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    moto_server.install()
    upstream_init = moto_server.UPSTREAM["Item.__init__"]
    at_limit = _attrs_of_size(_LIMIT)
    built = _outcome(lambda: _built_with(moto_server._item_init, at_limit))
    assert built[0] == "value"
    assert built == _outcome(lambda: _built_with(upstream_init, at_limit))
    over = _attrs_of_size(_LIMIT + 1)
    refused = _outcome(lambda: _built_with(moto_server._item_init, over))
    assert refused[0] == "error"
    assert refused == _outcome(lambda: _built_with(upstream_init, over))
    assert refused[1] is ItemSizeTooLarge

    item = Item(DynamoType(at_limit["id"]), None, at_limit)
    with pytest.raises(ItemSizeTooLarge) as overflow:
        item.attrs["more"] = DynamoType({"S": "x"})
    assert str(overflow.value) == refused[2]


def test_a_client_may_put_an_item_at_the_size_limit_but_not_over(ddb: Any) -> None:
    """Through boto3: at the limit the item is stored whole; one byte over, DynamoDB's
    ValidationException with upstream's message, and nothing stored."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge

    at_limit = _attrs_of_size(_LIMIT)
    ddb.put_item(TableName="Singles", Item=at_limit)
    assert _single(ddb, "big") == at_limit
    ddb.delete_item(TableName="Singles", Key={"id": {"S": "big"}})
    with pytest.raises(ClientError) as refused:
        ddb.put_item(TableName="Singles", Item=_attrs_of_size(_LIMIT + 1))
    error = refused.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"] == ItemSizeTooLarge().message
    assert _single(ddb, "big") is None


def test_the_items_json_text_bounds_its_size_as_upstream_counts_it() -> None:
    """The shim counts an item exactly only when its JSON text is over the limit: that text
    is never shorter than upstream's count, whatever the types (here every one, with
    multi-byte and escaped characters); values already typed give no bound."""
    from moto.dynamodb.models.dynamo_type import DynamoType, bytesize

    for attrs in (
        _EVERY_TYPE,
        {"id": {"S": "𝄞" * 50 + "é\x01\n"}, "n": {"N": "1"}, "t": {"BOOL": True}},
        {"id": {"S": "x"}, "b": {"B": b"\x00" * 1000}, "bs": {"BS": [b"", b"\xff"]}},
    ):
        exact = sum(bytesize(k) + DynamoType(v).size() for k, v in attrs.items())
        assert exact <= moto_server._json_length(attrs)
    typed = {"id": DynamoType({"S": "x"})}
    assert moto_server._json_length(typed) == float("inf")


def test_a_puts_rollback_puts_back_the_very_item_it_replaced(ddb: Any) -> None:
    """A put replaces the stored object and never changes it, so the journal keeps it rather
    than a copy; an update changes it in place, so its state is copied (see the test of a
    cancelled transaction above)."""
    ddb.put_item(TableName="Singles", Item={"id": {"S": "kept"}, "v": {"S": "before"}})
    table = _backend().tables["Singles"]
    before = next(v for v in table.items.values() if v.attrs["id"].value == "kept")
    with pytest.raises(ClientError):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "Singles", "Item": {"id": {"S": "kept"}, "v": {"S": "x"}}}},
                {
                    "Put": {
                        "TableName": "Singles",
                        "Item": {"id": {"S": "never"}},
                        "ConditionExpression": "attribute_exists(id)",
                    }
                },
            ]
        )
    after = next(v for v in table.items.values() if v.attrs["id"].value == "kept")
    assert after is before
    assert _single(ddb, "kept") == {"id": {"S": "kept"}, "v": {"S": "before"}}


# -- plain JSON in and out --

_EVERY_TYPE: dict[str, Any] = {
    "id": {"S": "every"},
    "s": {"S": 'héllo ✓ 漢字 "quoted" \\ \n'},
    "empty": {"S": ""},
    "n": {"N": "-12.50"},
    "b": {"B": b"\x00\xffbin"},
    "ss": {"SS": ["a", "é"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"x", b"\x01\x02"]},
    "m": {
        "M": {
            "k": {"S": "v"},
            "bin": {"B": b"\x10"},
            "nil": {"NULL": True},
            "deep": {"M": {"l": {"L": [{"N": "1"}, {"BS": [b"z"]}]}}},
        }
    },
    "l": {"L": [{"BOOL": False}, {"S": ""}, {"B": b"q"}, {"L": []}, {"M": {}}]},
    "null": {"NULL": True},
    "yes": {"BOOL": True},
    "no": {"BOOL": False},
}
# The same without binary attributes: its requests take the shim's ``json.loads``.
_NO_BINARY: dict[str, Any] = {
    "id": {"S": "plain"},
    "s": {"S": 'héllo ✓ 漢字 "quoted" \\ \n'},
    "empty": {"S": ""},
    "n": {"N": "-12.50"},
    "ss": {"SS": ["a", "é"]},
    "ns": {"NS": ["1", "2.5"]},
    "m": {"M": {"k": {"S": "v"}, "nil": {"NULL": True}, "deep": {"M": {"l": {"L": []}}}}},
    "l": {"L": [{"BOOL": False}, {"S": ""}, {"N": "7"}, {"M": {}}]},
    "null": {"NULL": True},
    "yes": {"BOOL": True},
}


def _canonical(body: str | bytes) -> str:
    """A JSON document with its keys sorted: order and escapes aside, the same text means
    the same document, numbers' types included (``2`` is not ``2.0``)."""
    return json.dumps(json.loads(body), sort_keys=True)


@pytest.fixture
def both_ways(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, Any, Any]]:
    """Every request is parsed, and every answer written, by the shim and by upstream:
    (what, action, shim's, upstream's) for each, what being "request", "binary request"
    (upstream's parser for both) or "answer". The client gets the shim's."""
    from moto.dynamodb.responses import DynamoHandler

    seen: list[tuple[str, str, Any, Any]] = []
    parse = DynamoHandler.parse_parameters
    serialized = DynamoHandler.serialized

    def parse_both(self: Any, request: Any) -> None:
        parse.__wrapped__(self, request)  # type: ignore[attr-defined]
        upstream = self.params
        parse(self, request)
        binary = '"B"' in self.body or '"BS"' in self.body
        what = "binary request" if binary else "request"
        seen.append((what, self._get_action(), self.params, upstream))

    def serialized_both(self: Any, action_result: Any) -> Any:
        if not isinstance(action_result.result, dict):
            return serialized(self, action_result)
        pristine = copy.deepcopy(action_result)
        status, headers, body = serialized(self, action_result)
        their_status, their_headers, their_body = serialized.__wrapped__(self, pristine)  # type: ignore[attr-defined]
        seen.append(
            (
                "answer",
                self._get_action(),
                (status, dict(headers), _canonical(body)),
                (their_status, their_headers, _canonical(their_body)),
            )
        )
        return status, headers, body

    monkeypatch.setattr(DynamoHandler, "parse_parameters", parse_both)
    monkeypatch.setattr(DynamoHandler, "serialized", serialized_both)
    return seen


def test_every_attribute_type_round_trips_and_requests_and_answers_are_upstreams(
    ddb: Any, both_ways: list[tuple[str, str, Any, Any]]
) -> None:
    """An item of every attribute type (binary or not, empty string, unicode, nested) comes
    back identical from GetItem, BatchGetItem, TransactWriteItems, UpdateItem and DeleteItem;
    each request parses to upstream's parameters and each item answer is upstream's document,
    consumed capacity included."""
    for item in (_EVERY_TYPE, _NO_BINARY):
        key = {"id": item["id"]}
        copy_key = {"id": {"S": item["id"]["S"] + "-copy"}}
        ddb.put_item(TableName="Singles", Item=item, ReturnConsumedCapacity="TOTAL")
        assert ddb.get_item(TableName="Singles", Key=key)["Item"] == item
        got = ddb.get_item(TableName="Singles", Key=key, ReturnConsumedCapacity="INDEXES")
        assert got["Item"] == item
        batch = ddb.batch_get_item(
            RequestItems={"Singles": {"Keys": [key, {"id": {"S": "absent"}}]}},
            ReturnConsumedCapacity="TOTAL",
        )
        assert batch["Responses"]["Singles"] == [item]
        assert batch["UnprocessedKeys"] == {}
        ddb.transact_write_items(
            TransactItems=[{"Put": {"TableName": "Singles", "Item": item | copy_key}}],
            ReturnConsumedCapacity="TOTAL",
        )
        assert _single(ddb, copy_key["id"]["S"]) == item | copy_key
        replaced = ddb.put_item(TableName="Singles", Item=item | copy_key, ReturnValues="ALL_OLD")
        assert replaced["Attributes"] == item | copy_key
        updated = ddb.update_item(
            TableName="Singles",
            Key=copy_key,
            UpdateExpression="SET extra = :e",
            ExpressionAttributeValues={":e": {"S": "more"}},
            ReturnValues="ALL_NEW",
        )
        assert updated["Attributes"] == item | copy_key | {"extra": {"S": "more"}}
        deleted = ddb.delete_item(TableName="Singles", Key=copy_key, ReturnValues="ALL_OLD")
        assert deleted["Attributes"] == item | copy_key | {"extra": {"S": "more"}}
        assert "Attributes" not in ddb.delete_item(TableName="Singles", Key=copy_key)
        assert "Item" not in ddb.get_item(TableName="Singles", Key=copy_key)
    ddb.query(
        TableName="Singles",
        KeyConditionExpression="id = :id",
        FilterExpression="attribute_exists(s)",
        ExpressionAttributeValues={":id": {"S": "plain"}},
    )
    ddb.scan(TableName="Singles", Limit=1)

    mismatches = [
        (what, action, ours, theirs) for what, action, ours, theirs in both_ways if ours != theirs
    ]
    assert mismatches == []
    answered = {action for what, action, _, _ in both_ways if what == "answer"}
    assert answered >= moto_server._PLAIN_JSON_ACTIONS
    # Each action the plain parse serves was asked without binary attributes (the plain parse)
    # and, but for reads and deletes, with them (upstream's parser).
    plain = {action for what, action, _, _ in both_ways if what == "request"}
    assert plain >= moto_server._PLAIN_JSON_REQUESTS
    binary = {action for what, action, _, _ in both_ways if what == "binary request"}
    assert binary >= {"PutItem", "TransactWriteItems"}


# -- method names, request ids --


def test_a_handlers_method_names_are_upstreams_listed_once_per_class() -> None:
    """``method_names_from_class`` answers what the uncached function answers, once per
    class: a subclass gets its own list."""
    import moto.core.responses as moto_responses
    from moto.dynamodb.responses import DynamoHandler

    moto_server.install()
    names = moto_responses.method_names_from_class
    assert names(DynamoHandler) == names.__wrapped__(DynamoHandler)
    assert "get_item" in names(DynamoHandler)
    hits = names.cache_info().hits
    assert names(DynamoHandler) is names(DynamoHandler)
    assert names.cache_info().hits == hits + 2

    class Extended(DynamoHandler):
        def extra_action(self) -> None:
            pass

    assert names(Extended) == names.__wrapped__(Extended)
    assert "extra_action" in names(Extended)
    assert "extra_action" not in names(DynamoHandler)


_REQUEST_ID = re.compile(r"[A-Za-z0-9]{52}")


def test_a_request_id_is_52_letters_and_digits_and_goes_in_the_headers(ddb: Any) -> None:
    """Like upstream's: 52 characters drawn from letters and digits, written to the header
    dict when there is one, and the id a client sees."""
    headers: dict[str, Any] = {"server": "amazon.com"}
    request_id = moto_server._request_id(headers)
    assert _REQUEST_ID.fullmatch(request_id)
    assert headers == {"server": "amazon.com", "x-amzn-requestid": request_id}
    upstream_headers: dict[str, Any] = {}
    upstream_id = moto_server.UPSTREAM["gen_amzn_requestid_long"](upstream_headers)
    assert _REQUEST_ID.fullmatch(upstream_id)
    assert upstream_headers == {"x-amzn-requestid": upstream_id}
    assert _REQUEST_ID.fullmatch(moto_server._request_id())
    assert _REQUEST_ID.fullmatch(moto_server._request_id("not a dict"))  # type: ignore[arg-type]

    many = [moto_server._request_id() for _ in range(50)]
    assert len(set(many)) == 50
    drawn = set("".join(many))
    assert drawn & set("abcdefghijklmnopqrstuvwxyz")
    assert drawn & set("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert drawn & set("0123456789")

    metadata = ddb.list_tables()["ResponseMetadata"]
    assert _REQUEST_ID.fullmatch(metadata["RequestId"])
    assert metadata["HTTPHeaders"]["x-amzn-requestid"] == metadata["RequestId"]


# -- the direct route to DynamoDB's handler --

_AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/dynamodb/"
    "aws4_request, SignedHeaders=host, Signature=x"
)


def _call(
    app: Any, operation: str, body: dict[str, Any], **headers: str
) -> tuple[int, dict[str, str], Any]:
    """A DynamoDB JSON call as botocore makes it, through a WSGI app: status, headers (less
    the random request id), JSON body."""
    from werkzeug.test import Client

    response = Client(app).post(
        "/",
        data=json.dumps(body),
        headers={
            "X-Amz-Target": f"DynamoDB_20120810.{operation}",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": _AUTHORIZATION,
            **headers,
        },
    )
    answer_headers = dict(response.headers)
    assert _REQUEST_ID.fullmatch(answer_headers.pop("x-amzn-requestid"))
    return response.status_code, answer_headers, json.loads(response.get_data())


def _through_flask(answer: tuple[int, dict[str, str], Any]) -> tuple[int, dict[str, str], Any]:
    """An answer of the Flask app less the CORS header flask-cors adds to each: only browsers
    read it, and a browser's call carries ``Origin``, which the dispatcher sends to Flask."""
    status, headers, body = answer
    assert headers.pop("Access-Control-Allow-Origin") == "*"
    return status, headers, body


_TABLE = {
    "TableName": "Direct",
    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}


@pytest.fixture
def apps(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any, list[str]]]:
    """The shim's dispatcher, upstream's (moto's own server app), and the
    route each of the shim's requests took: ``direct`` (the handler) or ``flask``."""
    import moto.dynamodb.urls  # noqa: F401 - Flask's route: the handler this module holds
    from moto.dynamodb.responses import DynamoHandler
    from moto.server import DomainDispatcherApplication, create_backend_app

    moto_server.install()
    routes: list[str] = []
    with moto.mock_aws():  # fresh backends, reset afterwards
        ours = moto_server._dispatcher()
        upstream = DomainDispatcherApplication(create_backend_app)
        flask_call = DomainDispatcherApplication.__call__
        dispatch = DynamoHandler.dispatch

        def counted_flask(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
            if self is ours:
                routes.append("flask")
            return flask_call(self, environ, start_response)

        def counted_dispatch(cls: Any, *args: Any, **kwargs: Any) -> Any:
            routes.append("direct")
            return dispatch(*args, **kwargs)

        monkeypatch.setattr(DomainDispatcherApplication, "__call__", counted_flask)
        # Flask's route calls the handler moto.dynamodb.urls took when imported (above), not
        # this: only the direct route does.
        monkeypatch.setattr(DynamoHandler, "dispatch", classmethod(counted_dispatch))
        yield ours, upstream, routes


def test_a_dynamodb_call_goes_to_the_handler_directly_and_answers_as_flask_does(
    apps: tuple[Any, Any, list[str]],
) -> None:
    """CreateTable, PutItem, GetItem, DescribeTable and errors (no table, a failed
    condition) go straight to ``DynamoHandler.dispatch``, never building moto's Flask app,
    and answer the status, headers and JSON body upstream's Flask route answers."""
    ours, upstream, routes = apps
    status, _, created = _call(ours, "CreateTable", _TABLE)
    assert status == 200
    assert created["TableDescription"]["TableName"] == "Direct"
    item = {"id": {"S": "a"}, "n": {"N": "1"}, "b": {"B": "AAE="}}
    assert _call(ours, "PutItem", {"TableName": "Direct", "Item": item})[::2] == (200, {})
    got = _call(ours, "GetItem", {"TableName": "Direct", "Key": {"id": {"S": "a"}}})
    assert got[::2] == (200, {"Item": item})

    for operation, body in [
        ("GetItem", {"TableName": "Direct", "Key": {"id": {"S": "a"}}}),
        ("GetItem", {"TableName": "Direct", "Key": {"id": {"S": "none"}}}),
        ("BatchGetItem", {"RequestItems": {"Direct": {"Keys": [{"id": {"S": "a"}}]}}}),
        ("DescribeTable", {"TableName": "Direct"}),
        ("GetItem", {"TableName": "Nowhere", "Key": {"id": {"S": "a"}}}),
        (
            "PutItem",
            {
                "TableName": "Direct",
                "Item": {"id": {"S": "a"}},
                "ConditionExpression": "attribute_not_exists(id)",
            },
        ),
    ]:
        answer = _call(ours, operation, body)
        assert answer == _through_flask(_call(upstream, operation, body)), operation
    assert answer[0] == 400
    assert answer[2]["__type"].endswith("#ConditionalCheckFailedException")
    assert routes == ["direct"] * 9
    assert ours.app_instances == {}


def test_any_other_call_takes_motos_flask_app(apps: tuple[Any, Any, list[str]]) -> None:
    """A call carrying ``Origin`` (CORS), a DynamoDB Streams call and another service's call
    go through upstream's dispatcher and Flask app, and answer what upstream answers."""
    from werkzeug.test import Client

    ours, upstream, routes = apps
    _call(ours, "CreateTable", _TABLE)
    routes.clear()
    key = {"TableName": "Direct", "Key": {"id": {"S": "a"}}}
    cors = _call(ours, "GetItem", key, Origin="http://example.com")
    assert cors == _call(upstream, "GetItem", key, Origin="http://example.com")
    assert cors[1]["Access-Control-Allow-Origin"] == "http://example.com"
    assert routes == ["flask"]
    assert "dynamodb" in ours.app_instances

    streams = {
        "X-Amz-Target": "DynamoDBStreams_20120810.ListStreams",
        "Content-Type": "application/x-amz-json-1.0",
        "Authorization": _AUTHORIZATION,
    }
    kms = {
        "X-Amz-Target": "TrentService.ListKeys",
        "Content-Type": "application/x-amz-json-1.1",
        "Authorization": _AUTHORIZATION.replace("/dynamodb/", "/kms/"),
    }
    for headers in (streams, kms):
        mine = Client(ours).post("/", data="{}", headers=headers)
        theirs = Client(upstream).post("/", data="{}", headers=headers)
        assert mine.status_code == theirs.status_code == 200
        assert json.loads(mine.get_data()) == json.loads(theirs.get_data())
    assert routes == ["flask"] * 3
    for host in (None, "moto_api", "dynamodb", "kms.us-east-1.amazonaws.com", "x.example"):
        for _ in range(2):  # found, then remembered
            assert ours.get_backend_for_host(host) == upstream.get_backend_for_host(host)


def test_a_refusal_before_the_action_is_answered_as_flask_answers_it(
    apps: tuple[Any, Any, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With moto's IAM checks on, a call with an unknown key is refused before any action,
    by an answer the handler gives without a content type: the direct route answers it as
    moto's Flask route does, content type included."""
    from moto import settings
    from werkzeug.test import Client

    ours, upstream, routes = apps
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    answers: list[tuple[int, dict[str, str], bytes]] = []
    for app in (ours, upstream):
        response = Client(app).post(
            "/",
            data="{}",
            headers={
                "X-Amz-Target": "DynamoDB_20120810.ListTables",
                "Content-Type": "application/x-amz-json-1.0",
                "Authorization": _AUTHORIZATION,
            },
        )
        headers = dict(response.headers)
        headers.pop("x-amzn-requestid")
        answers.append((response.status_code, headers, response.get_data()))
    assert answers[0] == _through_flask(answers[1])
    assert answers[0][0] == 403
    assert routes == ["direct"]


def test_query_answers_written_directly_are_what_upstream_writes(
    ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Query (with an index, a page limit and LastEvaluatedKey) reads the same either way."""
    from moto.dynamodb.responses import DynamoHandler

    for n in range(5):
        item = {"pk": {"S": "p"}, "sk": {"S": f"s{n}"}, "owner": {"S": "o"}, "b": {"B": b"\x01"}}
        ddb.put_item(TableName="Pairs", Item=item)
    queries: list[dict[str, Any]] = [
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p"}}},
        {
            "IndexName": "by_owner",
            "KeyConditionExpression": "#o = :o",
            "ExpressionAttributeNames": {"#o": "owner"},
            "ExpressionAttributeValues": {":o": {"S": "o"}},
            "Limit": 2,
            "ScanIndexForward": False,
        },
    ]

    def answers() -> list[dict[str, Any]]:
        out = []
        for query in queries:
            answer = ddb.query(TableName="Pairs", **query)
            answer.pop("ResponseMetadata")
            out.append(answer)
        return out

    direct = answers()
    monkeypatch.setattr(DynamoHandler, "serialized", DynamoHandler.serialized.__wrapped__)
    assert direct == answers()
    assert "LastEvaluatedKey" in direct[1] and direct[1]["Items"][0]["b"] == {"B": b"\x01"}


def test_stream_records_written_directly_are_what_upstream_writes(ddb: Any) -> None:
    """GetRecords' records (images with binary values, a creation time) read the same."""
    import json

    from moto.core.responses import ActionContext, ActionResult, get_service_model
    from moto.core.serialize import get_serializer_class

    ddb.create_table(
        TableName="Streamed",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    for n in range(3):
        item = {"id": {"S": f"e{n}"}, "b": {"B": b"\x00"}, "m": {"M": {"x": {"N": "1"}}}}
        ddb.put_item(TableName="Streamed", Item=item)
    shard = _backend().get_table("Streamed").stream_shard
    result = {"NextShardIterator": "arn:next", "Records": [r.record for r in shard.items]}
    model = get_service_model("dynamodbstreams")
    context = ActionContext(
        model,
        model.operation_model("GetRecords"),
        get_serializer_class("dynamodbstreams", "json"),
        None,
    )
    _status, _headers, upstream = ActionResult(result).execute_result(context)
    direct = json.dumps(result, default=moto_server._json_value)
    assert json.loads(direct) == json.loads(upstream)
    assert moto_server._has_none({"a": [1, {"b": None}]}) and not moto_server._has_none(result)


# -- the server's drain after each answer --


def test_the_drain_does_not_wait_for_a_client_that_has_sent_everything() -> None:
    import socket
    import time

    ours, client = socket.socketpair()
    with ours, client:
        selector = moto_server._NoWaitForAClientThatSentAll()
        selector.register(ours, selectors.EVENT_READ)
        started = time.monotonic()
        assert selector.select(timeout=1.0) == []
        assert time.monotonic() - started < 0.5
        selector.close()


def test_data_already_waiting_is_drained_and_later_waits_are_werkzeugs() -> None:
    import socket
    import time

    ours, client = socket.socketpair()
    with ours, client:
        client.sendall(b"an unread body")
        selector = moto_server._NoWaitForAClientThatSentAll()
        selector.register(ours, selectors.EVENT_READ)
        assert len(selector.select(timeout=0.01)) == 1
        assert ours.recv(100) == b"an unread body"
        started = time.monotonic()
        assert selector.select(timeout=0.2) == []
        assert time.monotonic() - started >= 0.15
        selector.close()


def test_the_server_module_drains_with_it_and_keeps_the_rest_of_selectors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import werkzeug.serving

    monkeypatch.setattr(werkzeug.serving, "selectors", selectors)
    moto_server._serve_without_waiting_for_closes()
    patched = werkzeug.serving.selectors
    assert patched.DefaultSelector is moto_server._NoWaitForAClientThatSentAll
    assert patched.EVENT_READ == selectors.EVENT_READ
    assert selectors.DefaultSelector is not moto_server._NoWaitForAClientThatSentAll


# -- TransactWriteItems honours ClientRequestToken, as DynamoDB does --


def _new_pair_and_add_one(pk: str) -> list[dict[str, Any]]:
    put = {
        "TableName": "Pairs",
        "Item": {"pk": {"S": pk}, "sk": {"S": "1"}},
        "ConditionExpression": "attribute_not_exists(pk)",
    }
    return [{"Put": put}, _add_one(pk)]


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_a_transaction_resent_with_its_token_succeeds_without_applying_twice(ddb: Any) -> None:
    ddb.put_item(TableName="Singles", Item={"id": {"S": "tok-a"}, "n": {"N": "1"}})
    entries = _new_pair_and_add_one("tok-a")
    ddb.transact_write_items(TransactItems=entries, ClientRequestToken="token-a")
    # The re-send of a transaction whose answer was lost: the same answer, nothing applied.
    ddb.transact_write_items(TransactItems=entries, ClientRequestToken="token-a")
    assert _single(ddb, "tok-a")["n"] == {"N": "2"}
    # Another token is another request: refused by the condition the first one satisfied.
    with pytest.raises(ClientError) as refused:
        ddb.transact_write_items(TransactItems=entries, ClientRequestToken="token-b")
    assert _code(refused) == "TransactionCanceledException"
    # The same token with another request.
    with pytest.raises(ClientError) as mismatch:
        ddb.transact_write_items(TransactItems=[_add_one("tok-a")], ClientRequestToken="token-a")
    assert _code(mismatch) == "IdempotentParameterMismatchException"
    assert _single(ddb, "tok-a")["n"] == {"N": "2"}


def test_a_cancelled_transaction_is_not_remembered_by_its_token(ddb: Any) -> None:
    entries = [
        _new_pair_and_add_one("tok-c")[0],
        _add_one("tok-c", ConditionExpression="attribute_exists(id)"),  # not yet: refused
    ]
    with pytest.raises(ClientError) as cancelled:
        ddb.transact_write_items(TransactItems=entries, ClientRequestToken="token-c")
    assert _code(cancelled) == "TransactionCanceledException"
    ddb.put_item(TableName="Singles", Item={"id": {"S": "tok-c"}, "n": {"N": "5"}})
    ddb.transact_write_items(TransactItems=entries, ClientRequestToken="token-c")
    assert _single(ddb, "tok-c")["n"] == {"N": "6"}
    assert _pair(ddb, "tok-c", "1") is not None


def test_a_token_is_kept_ten_minutes(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    ddb.put_item(TableName="Singles", Item={"id": {"S": "tok-w"}, "n": {"N": "1"}})
    entries = [_add_one("tok-w")]
    ddb.transact_write_items(TransactItems=entries, ClientRequestToken="token-w")
    start = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: start + 599)
    ddb.transact_write_items(TransactItems=entries, ClientRequestToken="token-w")
    assert _single(ddb, "tok-w")["n"] == {"N": "2"}
    monkeypatch.setattr(time, "monotonic", lambda: start + 601)
    ddb.transact_write_items(TransactItems=entries, ClientRequestToken="token-w")
    assert _single(ddb, "tok-w")["n"] == {"N": "3"}
