"""Request and response models (pydantic v2).

Each request field names the error code its failures answer with (``code_for``); validators
raise ``PydanticCustomError`` with a catalogue code where one field has several codes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from chalicelib.domain import cards, money

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def fail(code: str, param: str) -> PydanticCustomError:
    """A validation failure with a catalogue code, attributed to ``param``."""
    return PydanticCustomError(code, code, {"param": param})


class RequestModel(BaseModel):
    """A request body: unknown fields refused, no coercion between types."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    # field name -> error code answered when that field is malformed
    code_for: ClassVar[dict[str, str]] = {}


class TokenRequest(RequestModel):
    card_number: StrictStr
    exp_month: StrictInt
    exp_year: StrictInt
    cvv: StrictStr
    cardholder_name: StrictStr | None = Field(default=None, max_length=100)
    email: StrictStr | None = None

    code_for: ClassVar[dict[str, str]] = {
        "card_number": "invalid_card_number",
        "exp_month": "invalid_expiry_month",
        "exp_year": "invalid_expiry_year",
        "cvv": "invalid_cvv",
        "cardholder_name": "invalid_cardholder_name",
        "email": "invalid_email",
    }

    @field_validator("card_number")
    @classmethod
    def _card_number(cls, value: str) -> str:
        digits = cards.digits_only(value)
        if digits is None or not cards.luhn_valid(digits):
            raise fail("invalid_card_number", "card_number")
        return digits

    @field_validator("exp_month")
    @classmethod
    def _exp_month(cls, value: int) -> int:
        if not 1 <= value <= 12:
            raise fail("invalid_expiry_month", "exp_month")
        return value

    @field_validator("exp_year")
    @classmethod
    def _exp_year(cls, value: int) -> int:
        if not 1000 <= value <= 9999:
            raise fail("invalid_expiry_year", "exp_year")
        return value

    @field_validator("cvv")
    @classmethod
    def _cvv(cls, value: str) -> str:
        if not (value.isascii() and value.isdigit() and len(value) in (3, 4)):
            raise fail("invalid_cvv", "cvv")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 254 or not _EMAIL.match(value)):
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


Amount = StrictInt


class ChargeRequest(RequestModel):
    token: StrictStr
    amount: Amount
    currency: StrictStr
    description: StrictStr | None = Field(default=None, max_length=500)
    metadata: dict[StrictStr, StrictStr] | None = None

    code_for: ClassVar[dict[str, str]] = {
        "token": "invalid_token",
        "amount": "invalid_amount",
        "currency": "invalid_currency",
        "description": "invalid_description",
        "metadata": "invalid_metadata",
    }

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: int) -> int:
        if not money.MIN_AMOUNT <= value <= money.MAX_AMOUNT:
            raise fail("invalid_amount", "amount")
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        code = money.normalize_currency(value)
        if code is None:
            raise fail("invalid_currency", "currency")
        return code

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        if len(value) > 20 or any(len(k) > 40 or len(v) > 500 for k, v in value.items()):
            raise fail("invalid_metadata", "metadata")
        return value


RefundReason = Literal["requested_by_customer", "duplicate", "fraudulent"]


class RefundRequest(RequestModel):
    charge_id: StrictStr
    # Left out = refund all that remains; an explicit null is refused.
    amount: StrictInt | None = None
    reason: RefundReason | None = None

    code_for: ClassVar[dict[str, str]] = {
        "charge_id": "invalid_charge_id",
        "amount": "invalid_amount",
        "reason": "invalid_reason",
    }

    @field_validator("amount", mode="before")
    @classmethod
    def _amount_not_null(cls, value: Any) -> Any:
        if value is None:
            raise fail("invalid_amount", "amount")
        return value

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: int | None) -> int | None:
        if value is not None and value < money.MIN_AMOUNT:
            raise fail("invalid_amount", "amount")
        return value


class ListChargesQuery(RequestModel):
    """Query string of GET /charges (values arrive as strings)."""

    limit: StrictStr | None = None
    starting_after: StrictStr | None = None

    code_for: ClassVar[dict[str, str]] = {
        "limit": "invalid_limit",
        "starting_after": "invalid_starting_after",
    }

    @field_validator("limit")
    @classmethod
    def _limit(cls, value: str | None) -> str | None:
        if value is not None and not (
            value.isascii() and value.isdigit() and 1 <= int(value) <= 100
        ):
            raise fail("invalid_limit", "limit")
        return value

    @property
    def page_size(self) -> int:
        return int(self.limit) if self.limit else 10


# ---- responses -------------------------------------------------------------------------


class ResponseModel(BaseModel):
    model_config = ConfigDict(frozen=True)


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
    status: Literal["pending", "succeeded", "failed"]
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
    created_at: str
    updated_at: str


class ChargeList(ResponseModel):
    object: Literal["list"] = "list"
    items: list[Charge]
    has_more: bool


class Health(ResponseModel):
    status: Literal["ok"] = "ok"
