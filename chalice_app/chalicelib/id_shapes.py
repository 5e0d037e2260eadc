"""What can be one of our ids, checked before any lookup.

An id is a type prefix, ``_`` and 1-64 characters of ``[A-Za-z0-9_-]`` (``ids.new_id`` makes
27). A string of any other shape cannot name an object, so it is answered exactly as an
unknown id, without reaching DynamoDB (whose keys refuse empty strings and >2 KiB values).
One annotated type per prefix serves request bodies, query strings and path parameters.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, StrictStr, WithJsonSchema
from pydantic_core import PydanticCustomError

MAX_BODY = 64
_BODY = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_BODY}}}")

# The failure type ``validation._to_api_error`` answers with the model's unknown-id code.
UNKNOWN_ID = "unknown_id"


def has_shape(prefix: str, value: str) -> bool:
    """Whether ``value`` could be an id made with ``prefix``."""
    head = f"{prefix}_"
    return value.startswith(head) and _BODY.fullmatch(value[len(head) :]) is not None


def _checker(prefix: str) -> Any:
    def check(value: str) -> str:
        if not has_shape(prefix, value):
            raise PydanticCustomError(UNKNOWN_ID, "not an id of this type")
        return value

    return check


def id_type(prefix: str, example: str) -> Any:
    """A pydantic string type accepting only ids with ``prefix`` (its schema says so too)."""
    schema = {
        "type": "string",
        "pattern": f"^{prefix}_[A-Za-z0-9_-]{{1,{MAX_BODY}}}$",
        "examples": [example],
    }
    return Annotated[StrictStr, AfterValidator(_checker(prefix)), WithJsonSchema(schema)]


TokenId = id_type("tok", "tok_3Jq9sXb0VwYk2LmN8pQrT4uZa1c")
ChargeId = id_type("ch", "ch_8Hn2KcR5tWq0XzLm3PvB7yDs9eF")
RefundId = id_type("re", "re_1Ab2Cd3Ef4Gh5Ij6Kl7Mn8Op9Qr")
EventId = id_type("evt", "evt_Qm9vZmJhcjEyMzQ1Njc4OTAxMjM0")
WebhookEndpointId = id_type("we", "we_5Tg8Hj2Kl9Qw3Er7Ty1Ui4Op6As")
