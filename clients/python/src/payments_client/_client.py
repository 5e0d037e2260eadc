"""``Client`` and ``AsyncClient``: the API's routes as resources (``c.charges.create(...)``).

Each route is described once, as a ``Call`` built by a function of ``_calls``; the sync and
the async resources only send it and type the answer.
"""

# The resources have methods named ``list``: ``typing.List`` keeps annotations unambiguous.
# ruff: noqa: UP006, UP035

from __future__ import annotations

import asyncio
import random
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple, Type, TypeVar, Union

import httpx
from pydantic import ValidationError

from payments_client._http import (
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT,
    AsyncRequester,
    Call,
    SyncRequester,
    body_of,
    new_idempotency_key,
    path,
)
from payments_client.errors import APIError
from payments_client.models import (
    Charge,
    Event,
    PaymentsObject,
    Refund,
    ResponseInfo,
    Token,
    WebhookEndpoint,
)
from payments_client.pages import AsyncListing, AsyncPage, Page
from payments_client.retry import RetryPolicy

T = TypeVar("T", bound=PaymentsObject)
Timeout = Union[float, httpx.Timeout]


def _unexpected(cls: type, info: ResponseInfo, problem: object) -> APIError:
    return APIError(
        f"the answer is not a {cls.__name__}: {problem}",
        http_status=info.http_status,
        request_id=info.request_id,
        headers=info.headers,
        idempotency_key=info.idempotency_key,
    )


def _typed(cls: Type[T], data: Any, info: ResponseInfo) -> T:
    try:
        obj = cls.model_validate(data)
    except ValidationError as exc:
        raise _unexpected(cls, info, exc) from None
    obj._last_response = info
    return obj


def _listed(cls: Type[T], data: Any, info: ResponseInfo) -> Tuple[List[T], bool]:
    """A list object's items and ``has_more``."""
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise _unexpected(cls, info, "no list of items")
    try:
        items = [cls.model_validate(item) for item in data["items"]]
    except ValidationError as exc:
        raise _unexpected(cls, info, exc) from None
    return items, data.get("has_more") is True


class _calls:  # noqa: N801 - a namespace of call builders, one per route
    @staticmethod
    def create_token(**fields: Any) -> Call:
        return Call("POST", "/token", body_of(**fields))

    @staticmethod
    def create_charge(key: Optional[str], **fields: Any) -> Call:
        return Call(
            "POST", "/charge", body_of(**fields), idempotency_key=key or new_idempotency_key()
        )

    @staticmethod
    def retrieve_charge(charge_id: str) -> Call:
        return Call("GET", path("/charge/{}", charge_id))

    @staticmethod
    def list_charges(**params: Any) -> Call:
        return Call("GET", "/charges", params=body_of(**params))

    @staticmethod
    def capture_charge(charge_id: str, key: Optional[str], amount: Optional[int]) -> Call:
        return Call(
            "POST",
            path("/charge/{}/capture", charge_id),
            body_of(amount=amount),
            idempotency_key=key or new_idempotency_key(),
        )

    @staticmethod
    def void_charge(charge_id: str, key: Optional[str]) -> Call:
        return Call(
            "POST",
            path("/charge/{}/void", charge_id),
            {},
            idempotency_key=key or new_idempotency_key(),
        )

    @staticmethod
    def create_refund(key: Optional[str], **fields: Any) -> Call:
        return Call(
            "POST", "/refund", body_of(**fields), idempotency_key=key or new_idempotency_key()
        )

    @staticmethod
    def list_events(**params: Any) -> Call:
        return Call("GET", "/events", params=body_of(**params))

    @staticmethod
    def retrieve_event(event_id: str) -> Call:
        return Call("GET", path("/events/{}", event_id))

    @staticmethod
    def create_webhook_endpoint(key: Optional[str], **fields: Any) -> Call:
        return Call(
            "POST",
            "/webhook_endpoints",
            body_of(**fields),
            idempotency_key=key or new_idempotency_key(),
        )

    @staticmethod
    def list_webhook_endpoints() -> Call:
        return Call("GET", "/webhook_endpoints")

    @staticmethod
    def delete_webhook_endpoint(endpoint_id: str) -> Call:
        return Call("DELETE", path("/webhook_endpoints/{}", endpoint_id))

    @staticmethod
    def roll_webhook_secret(endpoint_id: str, expire_old_in_hours: Optional[int]) -> Call:
        return Call(
            "POST",
            path("/webhook_endpoints/{}/roll_secret", endpoint_id),
            body_of(expire_old_in_hours=expire_old_in_hours),
            retryable=False,
        )

    @staticmethod
    def test_webhook_endpoint(endpoint_id: str) -> Call:
        return Call("POST", path("/webhook_endpoints/{}/test", endpoint_id), {})


# ---- sync -------------------------------------------------------------------------------


class _Resource:
    def __init__(self, requester: SyncRequester) -> None:
        self._requester = requester

    def _one(self, cls: Type[T], call: Call) -> T:
        data, info = self._requester.request(call)
        return _typed(cls, data, info)

    def _page(self, cls: Type[T], call: Call, pageable: bool = True) -> Page[T]:
        data, info = self._requester.request(call)

        def fetch_next(last_id: str) -> Page[T]:
            params = {**(call.params or {}), "starting_after": last_id}
            return self._page(cls, Call(call.method, call.path, params=params))

        items, has_more = _listed(cls, data, info)
        return Page(items, has_more, fetch_next if pageable else None, info)


class Tokens(_Resource):
    def create(
        self,
        *,
        card_number: str,
        exp_month: int,
        exp_year: int,
        cvv: str,
        cardholder_name: Optional[str] = None,
        email: Optional[str] = None,
    ) -> Token:
        """Tokenize a card (single use, valid 15 minutes)."""
        call = _calls.create_token(
            card_number=card_number,
            exp_month=exp_month,
            exp_year=exp_year,
            cvv=cvv,
            cardholder_name=cardholder_name,
            email=email,
        )
        return self._one(Token, call)


class Charges(_Resource):
    def create(
        self,
        *,
        token: str,
        amount: int,
        currency: str,
        description: Optional[str] = None,
        metadata: Optional[Dict[str, str]] = None,
        capture: Optional[bool] = None,
        idempotency_key: Optional[str] = None,
    ) -> Charge:
        """Charge a token; ``status`` is ``succeeded``, ``pending`` (202) or ``authorized``."""
        call = _calls.create_charge(
            idempotency_key,
            token=token,
            amount=amount,
            currency=currency,
            description=description,
            metadata=metadata,
            capture=capture,
        )
        return self._one(Charge, call)

    def retrieve(self, charge_id: str) -> Charge:
        return self._one(Charge, _calls.retrieve_charge(charge_id))

    def list(
        self, *, limit: Optional[int] = None, starting_after: Optional[str] = None
    ) -> Page[Charge]:
        """The first page, newest first; iterating the page walks every later one."""
        return self._page(Charge, _calls.list_charges(limit=limit, starting_after=starting_after))

    def capture(
        self, charge_id: str, *, amount: Optional[int] = None, idempotency_key: Optional[str] = None
    ) -> Charge:
        """Capture an authorized charge (all of it, or ``amount``)."""
        return self._one(Charge, _calls.capture_charge(charge_id, idempotency_key, amount))

    def void(self, charge_id: str, *, idempotency_key: Optional[str] = None) -> Charge:
        """Release an authorized charge's hold."""
        return self._one(Charge, _calls.void_charge(charge_id, idempotency_key))


class Refunds(_Resource):
    def create(
        self,
        *,
        charge_id: str,
        amount: Optional[int] = None,
        reason: Optional[str] = None,
        idempotency_key: Optional[str] = None,
    ) -> Refund:
        """Refund ``amount`` of a charge (left out: all that remains refundable)."""
        call = _calls.create_refund(
            idempotency_key, charge_id=charge_id, amount=amount, reason=reason
        )
        return self._one(Refund, call)


class Events(_Resource):
    def list(
        self,
        *,
        type: Optional[str] = None,  # noqa: A002 - the API's parameter name
        limit: Optional[int] = None,
        starting_after: Optional[str] = None,
    ) -> Page[Event]:
        call = _calls.list_events(type=type, limit=limit, starting_after=starting_after)
        return self._page(Event, call)

    def retrieve(self, event_id: str) -> Event:
        return self._one(Event, _calls.retrieve_event(event_id))


class WebhookEndpoints(_Resource):
    def create(
        self,
        *,
        url: str,
        events: Optional[List[str]] = None,
        idempotency_key: Optional[str] = None,
    ) -> WebhookEndpoint:
        """Subscribe ``url``; the answer's ``secret`` is shown only here."""
        return self._one(
            WebhookEndpoint, _calls.create_webhook_endpoint(idempotency_key, url=url, events=events)
        )

    def list(self) -> Page[WebhookEndpoint]:
        return self._page(WebhookEndpoint, _calls.list_webhook_endpoints(), pageable=False)

    def delete(self, endpoint_id: str) -> WebhookEndpoint:
        return self._one(WebhookEndpoint, _calls.delete_webhook_endpoint(endpoint_id))

    def roll_secret(
        self, endpoint_id: str, *, expire_old_in_hours: Optional[int] = None
    ) -> WebhookEndpoint:
        """A new signing secret (in the answer only); the old one keeps signing beside it for
        ``expire_old_in_hours`` (the API's default: 24). Never retried: a repeat would roll
        again, replacing the secret of an answer that was lost."""
        call = _calls.roll_webhook_secret(endpoint_id, expire_old_in_hours)
        return self._one(WebhookEndpoint, call)

    def test(self, endpoint_id: str) -> Event:
        """Send a ``test.ping`` event to this endpoint only; answers the event."""
        return self._one(Event, _calls.test_webhook_endpoint(endpoint_id))


def _retry_policy(retry: Optional[RetryPolicy], max_retries: Optional[int]) -> RetryPolicy:
    policy = retry or RetryPolicy()
    if max_retries is not None:
        policy = RetryPolicy(
            max_retries=max_retries,
            initial_delay=policy.initial_delay,
            max_delay=policy.max_delay,
            max_retry_after=policy.max_retry_after,
        )
    return policy


class Client:
    """The API with a secret key: ``Client(api_key="sk_test_...", base_url=...)``.

    ``max_retries`` (or a whole ``retry`` policy) bounds the retries of calls whose outcome
    is unknown or temporary; ``timeout`` is per attempt, in seconds. ``transport`` or
    ``http_client`` replace httpx's defaults (a proxy, a test transport); ``sleep`` and
    ``rng`` replace the waits between retries and their jitter's source (for tests).
    """

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: Timeout = DEFAULT_TIMEOUT,
        max_retries: Optional[int] = None,
        retry: Optional[RetryPolicy] = None,
        transport: Optional[httpx.BaseTransport] = None,
        http_client: Optional[httpx.Client] = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Optional[random.Random] = None,
    ) -> None:
        self._owns_http = http_client is None
        http = http_client or httpx.Client(timeout=timeout, transport=transport)
        self._requester = SyncRequester(
            api_key, base_url, _retry_policy(retry, max_retries), http, sleep, rng
        )
        self.tokens = Tokens(self._requester)
        self.charges = Charges(self._requester)
        self.refunds = Refunds(self._requester)
        self.events = Events(self._requester)
        self.webhook_endpoints = WebhookEndpoints(self._requester)

    @property
    def base_url(self) -> str:
        return self._requester.base_url

    @property
    def retry(self) -> RetryPolicy:
        return self._requester.retry

    def close(self) -> None:
        if self._owns_http:
            self._requester.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---- async ------------------------------------------------------------------------------


class _AsyncResource:
    def __init__(self, requester: AsyncRequester) -> None:
        self._requester = requester

    async def _one(self, cls: Type[T], call: Call) -> T:
        data, info = await self._requester.request(call)
        return _typed(cls, data, info)

    async def _page(self, cls: Type[T], call: Call, pageable: bool = True) -> AsyncPage[T]:
        data, info = await self._requester.request(call)

        def fetch_next(last_id: str) -> Awaitable[AsyncPage[T]]:
            params = {**(call.params or {}), "starting_after": last_id}
            return self._page(cls, Call(call.method, call.path, params=params))

        items, has_more = _listed(cls, data, info)
        return AsyncPage(items, has_more, fetch_next if pageable else None, info)


class AsyncTokens(_AsyncResource):
    async def create(
        self,
        *,
        card_number: str,
        exp_month: int,
        exp_year: int,
        cvv: str,
        cardholder_name: Optional[str] = None,
        email: Optional[str] = None,
    ) -> Token:
        call = _calls.create_token(
            card_number=card_number,
            exp_month=exp_month,
            exp_year=exp_year,
            cvv=cvv,
            cardholder_name=cardholder_name,
            email=email,
        )
        return await self._one(Token, call)


class AsyncCharges(_AsyncResource):
    async def create(
        self,
        *,
        token: str,
        amount: int,
        currency: str,
        description: Optional[str] = None,
        metadata: Optional[Dict[str, str]] = None,
        capture: Optional[bool] = None,
        idempotency_key: Optional[str] = None,
    ) -> Charge:
        call = _calls.create_charge(
            idempotency_key,
            token=token,
            amount=amount,
            currency=currency,
            description=description,
            metadata=metadata,
            capture=capture,
        )
        return await self._one(Charge, call)

    async def retrieve(self, charge_id: str) -> Charge:
        return await self._one(Charge, _calls.retrieve_charge(charge_id))

    def list(
        self, *, limit: Optional[int] = None, starting_after: Optional[str] = None
    ) -> AsyncListing[Charge]:
        """``await`` it for the first page, or ``async for`` over every charge."""
        call = _calls.list_charges(limit=limit, starting_after=starting_after)
        return AsyncListing(lambda: self._page(Charge, call))

    async def capture(
        self, charge_id: str, *, amount: Optional[int] = None, idempotency_key: Optional[str] = None
    ) -> Charge:
        return await self._one(Charge, _calls.capture_charge(charge_id, idempotency_key, amount))

    async def void(self, charge_id: str, *, idempotency_key: Optional[str] = None) -> Charge:
        return await self._one(Charge, _calls.void_charge(charge_id, idempotency_key))


class AsyncRefunds(_AsyncResource):
    async def create(
        self,
        *,
        charge_id: str,
        amount: Optional[int] = None,
        reason: Optional[str] = None,
        idempotency_key: Optional[str] = None,
    ) -> Refund:
        call = _calls.create_refund(
            idempotency_key, charge_id=charge_id, amount=amount, reason=reason
        )
        return await self._one(Refund, call)


class AsyncEvents(_AsyncResource):
    def list(
        self,
        *,
        type: Optional[str] = None,  # noqa: A002 - the API's parameter name
        limit: Optional[int] = None,
        starting_after: Optional[str] = None,
    ) -> AsyncListing[Event]:
        call = _calls.list_events(type=type, limit=limit, starting_after=starting_after)
        return AsyncListing(lambda: self._page(Event, call))

    async def retrieve(self, event_id: str) -> Event:
        return await self._one(Event, _calls.retrieve_event(event_id))


class AsyncWebhookEndpoints(_AsyncResource):
    async def create(
        self,
        *,
        url: str,
        events: Optional[List[str]] = None,
        idempotency_key: Optional[str] = None,
    ) -> WebhookEndpoint:
        call = _calls.create_webhook_endpoint(idempotency_key, url=url, events=events)
        return await self._one(WebhookEndpoint, call)

    def list(self) -> AsyncListing[WebhookEndpoint]:
        call = _calls.list_webhook_endpoints()
        return AsyncListing(lambda: self._page(WebhookEndpoint, call, pageable=False))

    async def delete(self, endpoint_id: str) -> WebhookEndpoint:
        return await self._one(WebhookEndpoint, _calls.delete_webhook_endpoint(endpoint_id))

    async def roll_secret(
        self, endpoint_id: str, *, expire_old_in_hours: Optional[int] = None
    ) -> WebhookEndpoint:
        call = _calls.roll_webhook_secret(endpoint_id, expire_old_in_hours)
        return await self._one(WebhookEndpoint, call)

    async def test(self, endpoint_id: str) -> Event:
        return await self._one(Event, _calls.test_webhook_endpoint(endpoint_id))


class AsyncClient:
    """``Client`` for asyncio: the same resources, each method a coroutine (``list`` returns
    an ``AsyncListing``: await it for a page, or ``async for`` over every item)."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: Timeout = DEFAULT_TIMEOUT,
        max_retries: Optional[int] = None,
        retry: Optional[RetryPolicy] = None,
        transport: Optional[httpx.AsyncBaseTransport] = None,
        http_client: Optional[httpx.AsyncClient] = None,
        sleep: Optional[Callable[[float], Awaitable[None]]] = None,
        rng: Optional[random.Random] = None,
    ) -> None:
        self._owns_http = http_client is None
        http = http_client or httpx.AsyncClient(timeout=timeout, transport=transport)
        self._requester = AsyncRequester(
            api_key, base_url, _retry_policy(retry, max_retries), http, sleep or asyncio.sleep, rng
        )
        self.tokens = AsyncTokens(self._requester)
        self.charges = AsyncCharges(self._requester)
        self.refunds = AsyncRefunds(self._requester)
        self.events = AsyncEvents(self._requester)
        self.webhook_endpoints = AsyncWebhookEndpoints(self._requester)

    @property
    def base_url(self) -> str:
        return self._requester.base_url

    @property
    def retry(self) -> RetryPolicy:
        return self._requester.retry

    async def aclose(self) -> None:
        if self._owns_http:
            await self._requester.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()
