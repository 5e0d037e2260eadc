"""What can be one of our ids, checked before any lookup.

An id is a type prefix, ``_`` and 1-64 characters of ``[A-Za-z0-9_-]`` (``ids.new_id`` makes
27). A string of any other shape cannot name an object, so it is answered exactly as an
unknown id, without reaching DynamoDB (whose keys refuse empty strings and >2 KiB values).
One annotated type per prefix serves request bodies, query strings and path parameters.
"""

from __future__ import annotations

import re
from typing import Annotated

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


def _checker(prefix: str) -> AfterValidator:
    def check(value: str) -> str:
        if not has_shape(prefix, value):
            raise PydanticCustomError(UNKNOWN_ID, "not an id of this type")
        return value

    return AfterValidator(check)


def _schema(prefix: str, example: str) -> WithJsonSchema:
    """The id's JSON schema: the same shape ``has_shape`` accepts."""
    return WithJsonSchema(
        {
            "type": "string",
            "pattern": f"^{prefix}_[A-Za-z0-9_-]{{1,{MAX_BODY}}}$",
            "examples": [example],
        }
    )


# Written out per prefix (not built by a function) so the type checker sees ``str``.
TokenId = Annotated[StrictStr, _checker("tok"), _schema("tok", "tok_3Jq9sXb0VwYk2LmN8pQrT4uZa1c")]
ChargeId = Annotated[StrictStr, _checker("ch"), _schema("ch", "ch_8Hn2KcR5tWq0XzLm3PvB7yDs9eF")]
RefundId = Annotated[StrictStr, _checker("re"), _schema("re", "re_1Ab2Cd3Ef4Gh5Ij6Kl7Mn8Op9Qr")]
EventId = Annotated[StrictStr, _checker("evt"), _schema("evt", "evt_Qm9vZmJhcjEyMzQ1Njc4OTAxMjM0")]
WebhookEndpointId = Annotated[
    StrictStr, _checker("we"), _schema("we", "we_5Tg8Hj2Kl9Qw3Er7Ty1Ui4Op6As")
]
