"""Python client of the Payment Platform API.

    from payments_client import Client
    c = Client(api_key="sk_test_...", base_url="http://127.0.0.1:8000")
    tok = c.tokens.create(card_number="4242424242424242", exp_month=12, exp_year=2030, cvv="123")
    ch = c.charges.create(token=tok.id, amount=2500, currency="USD")

See docs/clients.md in the repository for the walk-through, retries and webhooks.
"""

from payments_client import webhooks
from payments_client._client import AsyncClient, Client
from payments_client._http import VERSION as __version__
from payments_client.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    CardError,
    IdempotencyError,
    InvalidRequestError,
    PaymentsError,
    PermissionDeniedError,
    RateLimitError,
    SignatureError,
)
from payments_client.models import (
    Charge,
    ChargeCard,
    Event,
    EventData,
    PaymentsObject,
    Refund,
    ResponseInfo,
    Token,
    TokenCard,
    WebhookEndpoint,
)
from payments_client.pages import AsyncListing, AsyncPage, Page
from payments_client.retry import RetryPolicy

__all__ = [
    "__version__",
    "APIConnectionError",
    "APIError",
    "AsyncClient",
    "AsyncListing",
    "AsyncPage",
    "AuthenticationError",
    "CardError",
    "Charge",
    "ChargeCard",
    "Client",
    "Event",
    "EventData",
    "IdempotencyError",
    "InvalidRequestError",
    "Page",
    "PaymentsError",
    "PaymentsObject",
    "PermissionDeniedError",
    "RateLimitError",
    "Refund",
    "ResponseInfo",
    "RetryPolicy",
    "SignatureError",
    "Token",
    "TokenCard",
    "WebhookEndpoint",
    "webhooks",
]
