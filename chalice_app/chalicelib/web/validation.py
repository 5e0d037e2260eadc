"""Request bodies and query strings into models, failures into exact error codes."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import ValidationError

from chalicelib.errors import ApiError
from chalicelib.id_shapes import UNKNOWN_ID
from chalicelib.models import RequestModel

M = TypeVar("M", bound=RequestModel)

# Deeper than any request of this API; checked before json recurses (a few thousand
# brackets would otherwise raise RecursionError).
MAX_NESTING = 32
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def nesting_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in ``raw`` (brackets inside strings do not count)."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub(b"", raw)):
        if bracket in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python extensions, not JSON


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which of two equal keys wins; a body that says two things is refused.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key")
    return obj


def parse_json_object(raw_body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or 400 ``invalid_json``."""
    raw = raw_body or b"null"
    if nesting_depth(raw) > MAX_NESTING:
        raise ApiError("invalid_json")
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError("invalid_json") from None
    if not isinstance(value, dict):
        raise ApiError("invalid_json")
    return value


def validate(model: type[M], values: dict[str, Any]) -> M:
    """``values`` as ``model``, or the ApiError of the first problem.

    Unknown fields are reported first, then fields in their declared order.
    """
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise _to_api_error(model, exc.errors(include_input=False)) from None


def _to_api_error(model: type[RequestModel], errors: list[Any]) -> ApiError:
    order = list(model.model_fields)

    def rank(error: Any) -> tuple[int, int]:
        field = str(error["loc"][0]) if error["loc"] else ""
        if error["type"] == "extra_forbidden":
            return (0, 0)
        return (1, order.index(field) if field in order else len(order))

    first = sorted(errors, key=rank)[0]
    field = str(first["loc"][0]) if first["loc"] else None
    kind = first["type"]
    if kind == "extra_forbidden":
        return ApiError("unknown_parameter", param=_printable(field))
    if kind == "missing":
        return ApiError("missing_parameter", param=field)
    ctx = first.get("ctx") or {}
    if "param" in ctx:  # a custom failure from one of the model's validators
        return ApiError(kind, param=ctx["param"])
    param = model.param_for.get(field, field) if field else None
    if kind == UNKNOWN_ID and field in model.unknown_id_code:
        return ApiError(model.unknown_id_code[field], param=param)
    return (
        ApiError(model.code_for[field], param=param)
        if field in model.code_for
        else ApiError("invalid_json")
    )


def _printable(field: str | None) -> str | None:
    # The unknown name is the caller's own input: answer it only when it is plain text.
    if field is None or len(field) > 100 or not field.isprintable():
        return None
    try:
        field.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return field
