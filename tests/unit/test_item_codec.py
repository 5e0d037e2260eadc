"""Items written and read by the repositories are exactly what boto3's codec makes of them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from chalicelib.adapters.dynamo import _plain, from_item, to_item, to_values

SAMPLES: dict[str, Any] = {
    "text": "ch_1",
    "empty": "",
    "unicode": "café ☕",
    "yes": True,
    "no": False,
    "zero": 0,
    "negative": -12,
    "large": 2**63,
    "map": {"a": [1, "b", None, {"c": False}], "empty": {}},
    "list": [],
    "bytes": b"\x00\x01",
    "strings": {"a", "b"},
    "decimal": Decimal("5"),
}


def test_to_item_is_boto3s_serialization_without_none() -> None:
    serializer = TypeSerializer()
    expected = {k: serializer.serialize(v) for k, v in SAMPLES.items()}
    assert to_item({**SAMPLES, "absent": None}) == expected
    assert to_values({":a": 5, ":b": None}) == {":a": {"N": "5"}, ":b": {"NULL": True}}


def test_from_item_is_boto3s_deserialization_with_integers() -> None:
    deserializer = TypeDeserializer()
    item = to_item(SAMPLES)
    assert from_item(item) == {k: _plain(deserializer.deserialize(v)) for k, v in item.items()}
    assert from_item({"n": {"N": "-3"}, "b": {"B": b"x"}}) == {"n": -3, "b": b"x"}


@pytest.mark.parametrize("value", [1.5, 10**38, -(10**38), object()])
def test_what_boto3_refuses_is_refused_the_same_way(value: Any) -> None:
    with pytest.raises(Exception) as boto3s:
        TypeSerializer().serialize(value)
    with pytest.raises(type(boto3s.value)):
        to_item({"x": value})
