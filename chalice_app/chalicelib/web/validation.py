"""Request bodies and query strings into models, failures into exact error codes."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import ValidationError

from chalicelib.errors import ApiError
from chalicelib.models import RequestModel

M = TypeVar("M", bound=RequestModel)


def parse_json_object(raw_body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or 400 ``invalid_json``."""
    try:
        value = json.loads(raw_body or b"null")
    except (ValueError, UnicodeDecodeError):
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
        return ApiError("unknown_parameter", param=field)
    if kind == "missing":
        return ApiError("missing_parameter", param=field)
    ctx = first.get("ctx") or {}
    if "param" in ctx:  # a custom failure from one of the model's validators
        return ApiError(kind, param=ctx["param"])
    return (
        ApiError(model.code_for[field], param=field)
        if field in model.code_for
        else (ApiError("invalid_json"))
    )
