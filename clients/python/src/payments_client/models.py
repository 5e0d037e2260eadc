"""Typed response objects: attribute access, ``.to_dict()``, and the answer they came in.

Field names and types follow the API document's schemas (``docs/openapi.json``); a test in
the repository compares them, so they cannot drift. Fields the server adds later are kept
(``extra="allow"``) and returned by ``to_dict()``; string values such as ``status`` and
``type`` are plain strings, so a new value from the server does not break an installed
client. Annotations use ``typing`` forms because pydantic evaluates them at run time and the
client supports Python 3.9.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional, Union

from pydantic import BaseModel, ConfigDict, PrivateAttr, field_validator


class ResponseInfo:
    """The HTTP answer an object came in (``obj.last_response``)."""

    __slots__ = ("http_status", "request_id", "headers", "idempotency_key")

    def __init__(
        self,
        http_status: int,
        request_id: Optional[str],
        headers: Mapping[str, str],
        idempotency_key: Optional[str],
    ) -> None:
        self.http_status = http_status
        self.request_id = request_id
        self.headers = dict(headers)
        self.idempotency_key = idempotency_key

    @property
    def replayed(self) -> bool:
        """True when the server replayed the first answer to this Idempotency-Key."""
        return self.headers.get("idempotent-replayed") == "true"

    def __repr__(self) -> str:
        return (
            f"ResponseInfo(http_status={self.http_status}, request_id={self.request_id!r}, "
            f"replayed={self.replayed})"
        )


class PaymentsObject(BaseModel):
    """Base of every response object; also what an object of an unknown kind becomes."""

    model_config = ConfigDict(extra="allow", frozen=True)

    _last_response: Optional[ResponseInfo] = PrivateAttr(default=None)

    @property
    def last_response(self) -> Optional[ResponseInfo]:
        """The answer this object came in (None for objects nested in another one)."""
        return self._last_response

    def to_dict(self) -> dict[str, Any]:
        """The object as the API sent it: its fields, unknown ones included (none added)."""
        return self.model_dump(mode="json", exclude_unset=True)


class TokenCard(PaymentsObject):
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str


class Token(PaymentsObject):
    id: str
    object: str = "token"
    card: TokenCard
    created_at: str
    expires_at: str
    used: bool


class ChargeCard(PaymentsObject):
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class Refund(PaymentsObject):
    id: str
    object: str = "refund"
    charge_id: str
    amount: int
    currency: str
    status: str  # pending, succeeded, failed
    reason: Optional[str]
    failure_code: Optional[str] = None
    created_at: str


class Charge(PaymentsObject):
    id: str
    object: str = "charge"
    # pending, succeeded, failed; with capture=False also authorized, voided
    status: str
    amount: int
    currency: str
    amount_refunded: int
    refunded: bool
    authorization_code: Optional[str]
    failure_code: Optional[str]
    failure_message: Optional[str]
    card: ChargeCard
    description: Optional[str]
    metadata: dict[str, str]
    refunds: list[Refund]
    created_at: str
    updated_at: str
    # "Authorize now, capture later": absent from servers that do not capture separately.
    captured: Optional[bool] = None
    amount_captured: Optional[int] = None
    capture_before: Optional[str] = None


class WebhookEndpoint(PaymentsObject):
    id: str
    object: str = "webhook_endpoint"
    url: str
    events: list[str]
    status: str  # enabled, deleted
    created_at: str
    # Only in the answer that creates the endpoint (or rolls its secret).
    secret: Optional[str] = None


class Health(PaymentsObject):
    status: str


# ``object`` -> class, for objects whose kind is known only from their data.
OBJECT_CLASSES: dict[str, type] = {
    "token": Token,
    "charge": Charge,
    "refund": Refund,
    "webhook_endpoint": WebhookEndpoint,
}

AnyObject = Union[Charge, Refund, WebhookEndpoint, Token, PaymentsObject]


def construct_object(data: Any) -> Any:
    """``data`` as the class its ``object`` names (an unknown kind: ``PaymentsObject``)."""
    if isinstance(data, BaseModel) or not isinstance(data, dict):
        return data
    cls = OBJECT_CLASSES.get(str(data.get("object")), PaymentsObject)
    return cls.model_validate(data)


class EventData(PaymentsObject):
    # The charge, refund (or, for test.ping, the endpoint) as it was when the event happened.
    object: AnyObject

    @field_validator("object", mode="before")
    @classmethod
    def _by_kind(cls, value: Any) -> Any:
        return construct_object(value)


class Event(PaymentsObject):
    id: str
    object: str = "event"
    type: str
    created_at: str
    data: EventData
