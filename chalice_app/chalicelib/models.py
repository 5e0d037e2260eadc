"""Request and response models (pydantic v2).

Each request field names the error code its failures answer with (``code_for``); validators
raise ``PydanticCustomError`` with a catalogue code where one field has several codes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from chalicelib.domain import cards, money
from chalicelib.domain.events import EVENT_TYPES
from chalicelib.domain.webhook_urls import MAX_URL_LENGTH
from chalicelib.errors import ErrorCode
from chalicelib.id_shapes import ChargeId, EventId, TokenId, WebhookEndpointId

# Matched in full (a ``$`` would accept a trailing newline) and ASCII only.
_EMAIL_PATTERN = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+"
_EMAIL = re.compile(_EMAIL_PATTERN)
# A signed 64-bit integer: the widest number any store or client on the path keeps exactly.
INT64_MAX = 2**63 - 1


def fail(code: str, param: str) -> PydanticCustomError:
    """A validation failure with a catalogue code, attributed to ``param``."""
    return PydanticCustomError(code, code, {"param": param})


def _plain_text(value: str) -> str:
    # NUL ends strings in C and in many log pipelines; a lone surrogate cannot be encoded
    # as UTF-8 (so it could not be stored or answered). pydantic already refuses the latter
    # for str; the check stays so the rule does not hang on that detail.
    if "\x00" in value:
        raise PydanticCustomError("invalid_text", "NUL is not allowed in text")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("invalid_text", "text must be valid Unicode") from None
    return value


def _bounded(max_length: int, min_length: int = 0) -> FieldInfo:
    field: FieldInfo = Field(
        min_length=min_length,
        max_length=max_length,
        json_schema_extra={"pattern": "^[^\\u0000]*$"},
    )
    return field


def _no_default(schema: dict[str, JsonValue]) -> None:
    # An optional field that may be left out but not sent as null has no default to show.
    schema.pop("default", None)


# The free-text strings: bounded length, no NUL, no lone surrogates.
_PLAIN_TEXT = AfterValidator(_plain_text)
MetadataKey = Annotated[StrictStr, _bounded(40, min_length=1), _PLAIN_TEXT]
MetadataValue = Annotated[StrictStr, _bounded(500), _PLAIN_TEXT]
CardholderName = Annotated[StrictStr, _bounded(100), _PLAIN_TEXT]
Description = Annotated[StrictStr, _bounded(500), _PLAIN_TEXT]
Email = Annotated[
    StrictStr,
    Field(max_length=254),
    WithJsonSchema({"type": "string", "maxLength": 254, "pattern": f"^{_EMAIL_PATTERN}$"}),
]
Currency = Annotated[
    StrictStr,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[A-Za-z]{3}$",
            "description": "ISO 4217 code, any case; one of "
            + ", ".join(sorted(money.SUPPORTED_CURRENCIES)),
            "examples": ["USD"],
        }
    ),
]


class RequestModel(BaseModel):
    """A request body: unknown fields refused, no coercion between types."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    # field name -> error code answered when that field is malformed
    code_for: ClassVar[dict[str, ErrorCode]] = {}
    # field name -> code answered when an id field holds a string that cannot be our id
    # (exactly as an unknown id); fields not listed answer with ``code_for``
    unknown_id_code: ClassVar[dict[str, ErrorCode]] = {}
    # the ``param`` an error names for a field, where it is not the field's name
    param_for: ClassVar[dict[str, str]] = {}
    # codes the model's own validators raise besides ``code_for`` (for the API document)
    other_codes: ClassVar[tuple[ErrorCode, ...]] = ()

    @classmethod
    def codes(cls) -> set[ErrorCode]:
        """Every error code validating this model can answer."""
        return {*cls.code_for.values(), *cls.unknown_id_code.values(), *cls.other_codes}


class TokenRequest(RequestModel):
    card_number: Annotated[
        StrictStr, WithJsonSchema({"type": "string", "examples": ["4242424242424242"]})
    ]
    exp_month: Annotated[StrictInt, Field(ge=1, le=12)]
    exp_year: Annotated[StrictInt, Field(ge=1000, le=9999)]
    cvv: Annotated[StrictStr, WithJsonSchema({"type": "string", "pattern": "^[0-9]{3,4}$"})]
    cardholder_name: CardholderName | None = None
    email: Email | None = None

    code_for: ClassVar[dict[str, ErrorCode]] = {
        "card_number": "invalid_card_number",
        "exp_month": "invalid_expiry_month",
        "exp_year": "invalid_expiry_year",
        "cvv": "invalid_cvv",
        "cardholder_name": "invalid_cardholder_name",
        "email": "invalid_email",
    }
    other_codes: ClassVar[tuple[ErrorCode, ...]] = ("expired_card",)

    @field_validator("card_number")
    @classmethod
    def _card_number(cls, value: str) -> str:
        digits = cards.digits_only(value)
        if digits is None or not cards.luhn_valid(digits):
            raise fail("invalid_card_number", "card_number")
        return digits

    @field_validator("cvv")
    @classmethod
    def _cvv(cls, value: str) -> str:
        if not (value.isascii() and value.isdigit() and len(value) in (3, 4)):
            raise fail("invalid_cvv", "cvv")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.fullmatch(value):
            raise fail("invalid_email", "email")
        return value

    @model_validator(mode="after")
    def _card_rules(self) -> TokenRequest:
        if len(self.cvv) != cards.cvv_length(self.brand):
            raise fail("invalid_cvv", "cvv")
        if cards.is_expired(self.exp_month, self.exp_year, datetime.now(UTC)):
            raise fail("expired_card", "exp_year")
        return self

    @property
    def brand(self) -> str:
        return cards.detect_brand(self.card_number)

    def __repr__(self) -> str:  # never show the card number or CVV, even in a debugger
        return f"TokenRequest(brand={self.brand!r}, last4={cards.last4(self.card_number)!r})"

    __str__ = __repr__


Amount = Annotated[StrictInt, Field(ge=money.MIN_AMOUNT, le=money.MAX_AMOUNT)]


class ChargeRequest(RequestModel):
    token: TokenId
    amount: Amount
    currency: Currency
    description: Description | None = None
    metadata: Annotated[dict[MetadataKey, MetadataValue], Field(max_length=20)] | None = None
    # false: the bank only holds the money (``authorized``) until a capture or a void.
    # Left out or null: captured at once (null = absent, as for the other optional fields).
    capture: StrictBool | None = None

    code_for: ClassVar[dict[str, ErrorCode]] = {
        "token": "invalid_token",
        "amount": "invalid_amount",
        "currency": "invalid_currency",
        "description": "invalid_description",
        "metadata": "invalid_metadata",
        "capture": "invalid_capture",
    }

    @property
    def captures(self) -> bool:
        return self.capture is not False

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        code = money.normalize_currency(value)
        if code is None:
            raise fail("invalid_currency", "currency")
        return code


class CaptureRequest(RequestModel):
    """Body of POST /charge/{id}/capture; ``amount`` left out: the whole authorized amount."""

    amount: (
        Annotated[StrictInt, Field(ge=money.MIN_AMOUNT, le=INT64_MAX)] | SkipJsonSchema[None]
    ) = Field(default=None, json_schema_extra=_no_default)

    code_for: ClassVar[dict[str, ErrorCode]] = {"amount": "invalid_amount"}

    @field_validator("amount", mode="before")
    @classmethod
    def _amount_not_null(cls, value: Any) -> Any:
        if value is None:
            raise fail("invalid_amount", "amount")
        return value


class VoidRequest(RequestModel):
    """Body of POST /charge/{id}/void: empty."""


RefundReason = Literal["requested_by_customer", "duplicate", "fraudulent"]


class RefundRequest(RequestModel):
    charge_id: ChargeId
    # Left out = refund all that remains; an explicit null is refused. Above 64 bits it is
    # malformed (invalid_amount); below, a too-large amount is judged against the charge.
    amount: (
        Annotated[StrictInt, Field(ge=money.MIN_AMOUNT, le=INT64_MAX)] | SkipJsonSchema[None]
    ) = Field(default=None, json_schema_extra=_no_default)
    reason: RefundReason | None = None

    code_for: ClassVar[dict[str, ErrorCode]] = {
        "charge_id": "invalid_charge_id",
        "amount": "invalid_amount",
        "reason": "invalid_reason",
    }
    unknown_id_code: ClassVar[dict[str, ErrorCode]] = {"charge_id": "resource_missing"}

    @field_validator("amount", mode="before")
    @classmethod
    def _amount_not_null(cls, value: Any) -> Any:
        if value is None:
            raise fail("invalid_amount", "amount")
        return value


class PageQuery(RequestModel):
    """``limit`` of a list's query string (values arrive as strings)."""

    limit: (
        Annotated[
            StrictStr,
            WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 100, "default": 10}),
        ]
        | None
    ) = None

    code_for: ClassVar[dict[str, ErrorCode]] = {"limit": "invalid_limit"}

    @field_validator("limit")
    @classmethod
    def _limit(cls, value: str | None) -> str | None:
        if value is not None and not (
            len(value) <= 3 and value.isascii() and value.isdigit() and 1 <= int(value) <= 100
        ):
            raise fail("invalid_limit", "limit")
        return value

    @property
    def page_size(self) -> int:
        return int(self.limit) if self.limit else 10


class ListChargesQuery(PageQuery):
    """Query string of GET /charges."""

    starting_after: ChargeId | None = None

    code_for: ClassVar[dict[str, ErrorCode]] = {
        **PageQuery.code_for,
        "starting_after": "invalid_starting_after",
    }


EventType = Literal[
    "charge.succeeded",
    "charge.failed",
    "charge.pending",
    "refund.succeeded",
    "refund.failed",
    "refund.pending",
    "charge.authorized",
    "charge.voided",
]
assert set(get_args(EventType)) == set(EVENT_TYPES)


class ListEventsQuery(PageQuery):
    """Query string of GET /events."""

    starting_after: EventId | None = None
    type: EventType | None = None

    code_for: ClassVar[dict[str, ErrorCode]] = {
        **PageQuery.code_for,
        "starting_after": "invalid_starting_after",
        "type": "invalid_type",
    }


class WebhookEndpointRequest(RequestModel):
    """Body of POST /webhook_endpoints; ``events`` left out: every type."""

    url: Annotated[
        StrictStr,
        Field(max_length=MAX_URL_LENGTH),
        WithJsonSchema(
            {
                "type": "string",
                "format": "uri",
                "maxLength": MAX_URL_LENGTH,
                "examples": ["https://merchant.example/webhooks"],
            }
        ),
    ]
    events: Annotated[list[EventType], Field(min_length=1)] | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra=_no_default
    )

    code_for: ClassVar[dict[str, ErrorCode]] = {"url": "invalid_url", "events": "invalid_events"}

    @field_validator("events")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise fail("invalid_events", "events")
        return value


class RollSecretRequest(RequestModel):
    """Body of POST /webhook_endpoints/{endpoint_id}/roll_secret."""

    # Hours the old secret keeps signing deliveries beside the new one (0: none).
    expire_old_in_hours: Annotated[StrictInt, Field(ge=0, le=168)] = 24

    code_for: ClassVar[dict[str, ErrorCode]] = {
        "expire_old_in_hours": "invalid_expire_old_in_hours"
    }


class EventPath(RequestModel):
    """Path parameters of GET /events/{event_id}."""

    event_id: EventId

    code_for: ClassVar[dict[str, ErrorCode]] = {"event_id": "resource_missing"}
    param_for: ClassVar[dict[str, str]] = {"event_id": "id"}


class WebhookEndpointPath(RequestModel):
    """Path parameters of the routes of one webhook endpoint (/webhook_endpoints/{id}...)."""

    endpoint_id: WebhookEndpointId

    code_for: ClassVar[dict[str, ErrorCode]] = {"endpoint_id": "resource_missing"}
    param_for: ClassVar[dict[str, str]] = {"endpoint_id": "id"}


class ChargePath(RequestModel):
    """Path parameters of GET /charge/{charge_id}."""

    charge_id: ChargeId

    code_for: ClassVar[dict[str, ErrorCode]] = {"charge_id": "resource_missing"}
    # as the use case answers an unknown charge, so a malformed id is indistinguishable
    param_for: ClassVar[dict[str, str]] = {"charge_id": "id"}


# ---- responses -------------------------------------------------------------------------


class ResponseModel(BaseModel):
    # The document promises exactly these fields, all present (null where empty).
    model_config = ConfigDict(
        frozen=True, extra="forbid", json_schema_serialization_defaults_required=True
    )


class TokenCard(ResponseModel):
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str


class Token(ResponseModel):
    id: str
    object: Literal["token"] = "token"
    card: TokenCard
    created_at: str
    expires_at: str
    used: bool


class ChargeCard(ResponseModel):
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class Refund(ResponseModel):
    id: str
    object: Literal["refund"] = "refund"
    charge_id: str
    amount: int
    currency: str
    status: Literal["pending", "succeeded", "failed"]
    reason: str | None
    failure_code: str | None = None
    created_at: str


class Charge(ResponseModel):
    id: str
    object: Literal["charge"] = "charge"
    status: Literal["pending", "succeeded", "failed", "authorized", "voided"]
    amount: int
    currency: str
    amount_refunded: int
    refunded: bool
    authorization_code: str | None
    failure_code: str | None
    failure_message: str | None
    card: ChargeCard
    description: str | None
    metadata: dict[str, str]
    refunds: list[Refund]
    # Whether money moved (at once, or by a capture), how much, and until when an
    # ``authorized`` charge may be captured (null once it is not authorized).
    captured: bool
    amount_captured: int
    capture_before: str | None
    created_at: str
    updated_at: str


class ChargeList(ResponseModel):
    object: Literal["list"] = "list"
    items: list[Charge]
    has_more: bool


class Health(ResponseModel):
    status: Literal["ok"] = "ok"


class WebhookEndpoint(ResponseModel):
    id: str
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    url: str
    events: list[EventType]
    status: Literal["enabled", "deleted"]
    created_at: str


class EventData(ResponseModel):
    # The charge or refund as answered then; for a test.ping, the endpoint (without secret).
    object: Annotated[Charge | Refund | WebhookEndpoint, Field(discriminator="object")]


class Event(ResponseModel):
    id: str
    object: Literal["event"] = "event"
    # test.ping: sent on request to one endpoint (POST /webhook_endpoints/{id}/test), never
    # one of the account's events (GET /events does not list it).
    type: Literal[EventType, "test.ping"]
    created_at: str
    data: EventData


class EventList(ResponseModel):
    object: Literal["list"] = "list"
    items: list[Event]
    has_more: bool


class NewWebhookEndpoint(WebhookEndpoint):
    """The endpoint as created (or its secret rolled): the only answers that hold a signing
    secret. A replay (same Idempotency-Key) answers ``secret: null``: secrets are never
    stored where the API can read them; roll the secret to get a new one."""

    secret: str | None


class WebhookEndpointList(ResponseModel):
    object: Literal["list"] = "list"
    items: list[WebhookEndpoint]
    has_more: bool
