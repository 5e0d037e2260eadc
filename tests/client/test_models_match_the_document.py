"""The client's typed objects and errors against the API document (docs/openapi.json), so that
neither can change without the other: every object the API answers has a client class whose
fields have the document's names, types and required-ness."""

from __future__ import annotations

import json
import typing
from typing import Any

import pytest
from payments_client import errors, models
from payments_client.pages import Page
from pydantic import BaseModel

from payments_admin.api_docs import OPENAPI_PATH

SCHEMAS: dict[str, Any] = json.loads(OPENAPI_PATH.read_text())["components"]["schemas"]
REF = "#/components/schemas/"

# The document's response objects -> the client's classes.
CLASS_OF: dict[str, type[BaseModel]] = {
    "Token": models.Token,
    "TokenCard": models.TokenCard,
    "Charge": models.Charge,
    "ChargeCard": models.ChargeCard,
    "Refund": models.Refund,
    "Event": models.Event,
    "EventData": models.EventData,
    "WebhookEndpoint": models.WebhookEndpoint,
    # The created endpoint is the endpoint with its secret: one class holds both.
    "NewWebhookEndpoint": models.WebhookEndpoint,
    "Health": models.Health,
}
# List objects: the client's ``Page`` (``object``, ``items``, ``has_more``).
LISTS = {"ChargeList": "Charge", "EventList": "Event", "WebhookEndpointList": "WebhookEndpoint"}
# Fields the contract has that the server does not answer yet ("Authorize now, capture
# later"): the client reads them when present. Once the document has them, they are checked
# like every other field.
AHEAD = {models.Charge: {"captured", "amount_captured", "capture_before"}}


def _answered_objects() -> set[str]:
    """Every schema that is the ``data`` of a success envelope, and what those refer to."""
    names: set[str] = set()
    todo = [
        schema["properties"]["data"]["$ref"].removeprefix(REF)
        for name, schema in SCHEMAS.items()
        if name.endswith("Envelope") and name != "ErrorEnvelope"
    ]
    while todo:
        name = todo.pop()
        if name in names:
            continue
        names.add(name)
        todo += [ref.removeprefix(REF) for ref in _refs(SCHEMAS[name])]
    return names


def _refs(schema: Any) -> list[str]:
    if isinstance(schema, dict):
        found = [schema["$ref"]] if "$ref" in schema else []
        return found + [r for value in schema.values() for r in _refs(value)]
    if isinstance(schema, list):
        return [r for value in schema for r in _refs(value)]
    return []


def _nullable(schema: dict[str, Any]) -> bool:
    return any(option.get("type") == "null" for option in schema.get("anyOf", []))


def _expected(schema: dict[str, Any]) -> Any:
    """The Python type a document schema becomes in the client."""
    if "$ref" in schema:
        return CLASS_OF[schema["$ref"].removeprefix(REF)]
    if "anyOf" in schema:
        options = [o for o in schema["anyOf"] if o.get("type") != "null"]
        (only,) = options
        return typing.Optional[_expected(only)]  # noqa: UP045 - compared with the client's
    if "oneOf" in schema:
        return ("one of", frozenset(_expected(option) for option in schema["oneOf"]))
    kind = schema["type"]
    if kind == "array":
        return list[_expected(schema["items"])]
    if kind == "object":
        return dict[str, _expected(schema["additionalProperties"])]
    return {"string": str, "integer": int, "boolean": bool}[kind]


def _normalise(annotation: Any) -> Any:
    """The client's annotation in the form ``_expected`` builds."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union and type(None) in args:
        (only,) = [a for a in args if a is not type(None)]
        return typing.Optional[_normalise(only)]  # noqa: UP045
    if origin is typing.Union:
        return ("one of", frozenset(_normalise(a) for a in args))
    if origin in (list, typing.List):  # noqa: UP006
        return list[_normalise(args[0])]
    if origin in (dict, typing.Dict):  # noqa: UP006
        return dict[str, _normalise(args[1])]
    return annotation


def test_every_object_the_api_answers_has_a_client_class() -> None:
    assert _answered_objects() == set(CLASS_OF) | set(LISTS)


@pytest.mark.parametrize("name", sorted(LISTS))
def test_lists_are_pages_of_their_items(name: str) -> None:
    schema = SCHEMAS[name]
    assert set(schema["properties"]) == {"object", "items", "has_more"}
    assert schema["properties"]["items"]["items"]["$ref"] == REF + LISTS[name]
    page = Page([], False, None)
    assert page.to_dict() == {"object": "list", "items": [], "has_more": False}


@pytest.mark.parametrize("cls", sorted(set(CLASS_OF.values()), key=lambda c: c.__name__))
def test_each_client_class_has_the_documents_fields(cls: type[BaseModel]) -> None:
    documented = [SCHEMAS[name] for name, mapped in CLASS_OF.items() if mapped is cls]
    fields = cls.model_fields
    union: dict[str, dict[str, Any]] = {}
    for schema in documented:
        union.update(schema["properties"])
    extra = set(fields) - set(union)
    assert extra <= AHEAD.get(cls, set()), f"{cls.__name__} has fields the API lacks: {extra}"
    for name, prop in union.items():
        assert name in fields, f"{cls.__name__} lacks the document's field {name}"
        field = fields[name]
        if "const" in prop:
            assert field.default == prop["const"] or field.is_required(), (cls, name)
            assert field.annotation is str, (cls, name)
            continue
        if "enum" in prop:
            # Open enums are plain strings: a value added later must not break a client.
            assert field.annotation is str, (cls, name)
            continue
        expected = _expected(prop)
        if isinstance(expected, tuple):  # one of several objects, told apart by ``object``
            documented_classes = expected[1]
            actual = _normalise(field.annotation)
            assert documented_classes <= actual[1], (cls, name, actual)
            continue
        actual = _normalise(field.annotation)
        if name in (set(fields) - _required_everywhere(documented)) and not _nullable(prop):
            # Documented by only some of the schemas this class stands for: may be absent.
            assert actual in (expected, typing.Optional[expected]), (cls, name, actual)  # noqa: UP045
        else:
            assert actual == expected, (cls, name, actual, expected)
        if name in _required_everywhere(documented) and not _nullable(prop):
            assert field.is_required(), f"{cls.__name__}.{name} is always present: require it"


def _required_everywhere(schemas: list[dict[str, Any]]) -> set[str]:
    return set.intersection(*(set(s.get("required", [])) for s in schemas))


def test_every_error_type_has_its_exception_and_every_error_field_an_attribute() -> None:
    error = SCHEMAS["Error"]
    assert set(error["properties"]["type"]["enum"]) == set(errors.ERROR_TYPES)
    assert SCHEMAS["ErrorEnvelope"]["properties"]["error"] == {"$ref": REF + "Error"}
    exception = errors.CardError("m", json_body={"error": {"type": "card_error"}})
    for field in error["properties"]:
        assert hasattr(exception, field), f"no attribute for the error field {field}"
    for field in ("charge", "refund"):
        assert hasattr(errors.APIError("m"), field)  # 502 bank_unavailable names them too
