"""The composition root: builds clients, adapters and services once per container.

Everything is built lazily, so a cold start pays only for what the first route uses
(the authorizer never imports the KMS or bank code). Tests build a ``Container`` from
their own ``Settings`` against moto and mountebank, and may hand it their own
implementation of a port (``Container(settings, bank=...)``), wired by hand.

Only the entrypoints in app.py (routes, authorizer, scheduled and stream functions) call
``get_container()``. The web layer gets two narrow views of it: ``Services``, the use cases a
route may call, and ``PipelineDeps``, what the request pipeline itself writes and reads.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING

from chalicelib import tables
from chalicelib.settings import Settings, get_settings

if TYPE_CHECKING:
    from boto3.session import Session
    from botocore.config import Config
    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_ssm import SSMClient

    from chalicelib.adapters.api_keys import ApiKeyRepository
    from chalicelib.adapters.audit_log import AuditLog, RejectedAuthLog
    from chalicelib.adapters.card_vault import CardFingerprinter, CardVault
    from chalicelib.adapters.charge_repository import ChargeRepository
    from chalicelib.adapters.checkout_origins import CheckoutOriginRepository
    from chalicelib.adapters.event_store import EventStore
    from chalicelib.adapters.idempotency import IdempotencyStore
    from chalicelib.adapters.leases import Leases
    from chalicelib.adapters.token_repository import TokenRepository
    from chalicelib.adapters.usage_plan import UsagePlanKeys
    from chalicelib.adapters.webhooks import DeliveryStore, WebhookEndpointStore
    from chalicelib.ports import Bank
    from chalicelib.services.authentication import Authenticator
    from chalicelib.services.charges import ChargeService
    from chalicelib.services.checkout import CheckoutOriginService
    from chalicelib.services.delivery import DeliveryService
    from chalicelib.services.events import EventService
    from chalicelib.services.holds import HoldService
    from chalicelib.services.merchants import MerchantService
    from chalicelib.services.refunds import RefundService
    from chalicelib.services.settlement import SettlementService
    from chalicelib.services.tokens import TokenService
    from chalicelib.web.pipeline import PipelineDeps

# boto3's default session is not thread-safe, and chalice local serves requests on threads.
_build_lock = threading.RLock()


class Container:
    """Lazily built dependencies of one stage.

    A keyword argument replaces what the container would build (a test's own bank); every
    service that needs it then gets that one.
    """

    def __init__(self, settings: Settings | None = None, *, bank: Bank | None = None) -> None:
        self.settings = settings or get_settings()
        self._bank = bank

    # ---- AWS clients ---------------------------------------------------------------------

    @staticmethod
    def _session() -> Session:
        import boto3

        return boto3.session.Session()

    @staticmethod
    def _config() -> Config:
        from botocore.config import Config

        return Config(
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=2,
            read_timeout=5,
            max_pool_connections=50,
            # Client-side validation re-walks every parameter against the service model on
            # each call (~12% of a call's CPU); the service validates anyway and every
            # request here is built by our own adapters.
            parameter_validation=False,
        )

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        with _build_lock:
            return self._session().client("dynamodb", config=self._config())

    @cached_property
    def dynamodb_streams(self) -> DynamoDBStreamsClient:
        """The Events table's change feed (read locally by the delivery worker and tests)."""
        with _build_lock:
            return self._session().client("dynamodbstreams", config=self._config())

    @cached_property
    def kms(self) -> KMSClient:
        with _build_lock:
            return self._session().client("kms", config=self._config())

    @cached_property
    def ssm(self) -> SSMClient:
        with _build_lock:
            return self._session().client("ssm", config=self._config())

    @cached_property
    def apigateway(self) -> APIGatewayClient:
        with _build_lock:
            return self._session().client("apigateway", config=self._config())

    # ---- adapters ------------------------------------------------------------------------

    @cached_property
    def api_keys(self) -> ApiKeyRepository:
        from chalicelib.adapters.api_keys import ApiKeyRepository

        return ApiKeyRepository(self.dynamodb, self.settings.table(tables.API_KEYS.name))

    @cached_property
    def audit_log(self) -> AuditLog:
        from chalicelib.adapters.audit_log import AuditLog

        return AuditLog(self.dynamodb, self.settings.table(tables.AUDIT_LOG.name))

    @cached_property
    def leases(self) -> Leases:
        from chalicelib.adapters.leases import Leases

        return Leases(self.dynamodb, self.settings.table(tables.LEASES.name))

    @cached_property
    def auth_rejections(self) -> RejectedAuthLog:
        from chalicelib.adapters.audit_log import RejectedAuthLog

        return RejectedAuthLog(self.dynamodb, self.settings.table(tables.AUTH_REJECTIONS.name))

    @cached_property
    def usage_plan(self) -> UsagePlanKeys | None:
        """The merchants' usage plan, or None where none is configured (locally)."""
        if not self.settings.usage_plan_id:
            return None
        from chalicelib.adapters.usage_plan import UsagePlanKeys

        return UsagePlanKeys(self.apigateway, self.settings.usage_plan_id)

    @cached_property
    def idempotency(self) -> IdempotencyStore:
        from chalicelib.adapters.idempotency import IdempotencyStore

        return IdempotencyStore(
            self.dynamodb,
            self.settings.table(tables.IDEMPOTENCY_KEYS.name),
            ttl_seconds=self.settings.idempotency_ttl_seconds,
            lease_seconds=self.settings.idempotency_lease_seconds,
        )

    @cached_property
    def tokens(self) -> TokenRepository:
        from chalicelib.adapters.token_repository import TokenRepository

        return TokenRepository(self.dynamodb, self.settings.table(tables.TOKENS.name))

    @cached_property
    def charges(self) -> ChargeRepository:
        from chalicelib.adapters.charge_repository import ChargeRepository

        return ChargeRepository(self.dynamodb, self.settings.table(tables.CHARGES.name))

    @cached_property
    def events(self) -> EventStore:
        from chalicelib.adapters.event_store import EventStore

        return EventStore(self.dynamodb, self.settings.table(tables.EVENTS.name))

    @cached_property
    def webhook_endpoints(self) -> WebhookEndpointStore:
        from chalicelib.adapters.webhooks import WebhookEndpointStore

        return WebhookEndpointStore(
            self.dynamodb,
            self.settings.table(tables.WEBHOOK_ENDPOINTS.name),
            self.settings.table(tables.WEBHOOK_SECRETS.name),
        )

    @cached_property
    def deliveries(self) -> DeliveryStore:
        from chalicelib.adapters.webhooks import DeliveryStore

        return DeliveryStore(self.dynamodb, self.settings.table(tables.DELIVERIES.name))

    @cached_property
    def checkout_origins(self) -> CheckoutOriginRepository:
        from chalicelib.adapters.checkout_origins import CheckoutOriginRepository

        return CheckoutOriginRepository(
            self.dynamodb, self.settings.table(tables.CHECKOUT_ORIGINS.name)
        )

    @cached_property
    def vault(self) -> CardVault:
        from chalicelib.adapters.card_vault import CardVault

        return CardVault(self.kms, self.settings.kms_key_id)

    @cached_property
    def fingerprinter(self) -> CardFingerprinter:
        from chalicelib.adapters.card_vault import CardFingerprinter

        return CardFingerprinter(self.kms, self.settings.hmac_key_id)

    @cached_property
    def bank_url(self) -> str:
        """The bank's base URL: from SSM Parameter Store when deployed, read once."""
        name = self.settings.bank_url_parameter
        if not name:
            return self.settings.bank_url
        response = self.ssm.get_parameter(Name=name, WithDecryption=True)
        return str(response["Parameter"]["Value"]).rstrip("/")

    @cached_property
    def bank(self) -> Bank:
        if self._bank is not None:
            return self._bank
        from chalicelib.adapters.bank_client import BankClient

        return BankClient(
            self.bank_url,
            connect_timeout=self.settings.bank_connect_timeout,
            read_timeout=self.settings.bank_read_timeout,
        )

    # ---- services ------------------------------------------------------------------------

    @cached_property
    def authenticator(self) -> Authenticator:
        from chalicelib.services.authentication import Authenticator

        return Authenticator(self.api_keys)

    @cached_property
    def merchant_service(self) -> MerchantService:
        from chalicelib.services.merchants import MerchantService

        return MerchantService(
            self.api_keys, self.audit_log, self.dynamodb, usage_plan=self.usage_plan
        )

    @cached_property
    def checkout(self) -> CheckoutOriginService:
        from chalicelib.services.checkout import CheckoutOriginService

        return CheckoutOriginService(
            self.checkout_origins,
            self.api_keys,
            self.audit_log,
            self.dynamodb,
            local=self.settings.local_checkout_origins,
        )

    @cached_property
    def token_service(self) -> TokenService:
        from chalicelib.services.tokens import TokenService

        return TokenService(
            self.tokens, self.vault, self.fingerprinter, self.settings.token_ttl_seconds
        )

    @cached_property
    def settlement(self) -> SettlementService:
        from chalicelib.services.settlement import SettlementService

        return SettlementService(
            self.charges,
            self.bank,
            self.settings.settle_after_seconds,
            self.dynamodb,
            item_seconds=2 * (self.settings.bank_connect_timeout + self.settings.bank_read_timeout)
            + 1,
            events=self.events,
        )

    @cached_property
    def charge_service(self) -> ChargeService:
        from chalicelib.services.charges import ChargeService

        return ChargeService(
            self.tokens,
            self.charges,
            self.vault,
            self.bank,
            self.settlement,
            self.settings.bank_call_deadline_seconds,
            self.settings.capture_window_seconds,
        )

    @cached_property
    def hold_service(self) -> HoldService:
        from chalicelib.services.holds import HoldService

        return HoldService(self.charges, self.settlement, self.settings.bank_call_deadline_seconds)

    @cached_property
    def refund_service(self) -> RefundService:
        from chalicelib.services.refunds import RefundService

        return RefundService(
            self.charges, self.bank, self.settlement, self.settings.bank_call_deadline_seconds
        )

    @cached_property
    def event_service(self) -> EventService:
        from chalicelib.adapters.webhook_sender import system_resolve
        from chalicelib.services.events import EventService

        return EventService(
            self.events, self.webhook_endpoints, self.settings.local_webhooks, system_resolve
        )

    @cached_property
    def delivery(self) -> DeliveryService:
        from chalicelib.adapters.webhook_sender import WebhookSender
        from chalicelib.services.delivery import DeliveryService

        settings = self.settings
        return DeliveryService(
            self.events,
            self.webhook_endpoints,
            self.deliveries,
            WebhookSender(settings.webhook_timeout_seconds, settings.local_webhooks),
            settings.webhook_retry_schedule,
            settings.webhook_timeout_seconds,
            settings.redrive_poll_seconds,
            settings.outbox_grace_seconds,
        )

    # ---- what the web layer gets -----------------------------------------------------------

    @cached_property
    def services(self) -> Services:
        return Services(self)

    @cached_property
    def pipeline_deps(self) -> PipelineDeps:
        from chalicelib.web.pipeline import PipelineDeps

        return PipelineDeps(
            dynamodb=self.dynamodb,
            idempotency=self.idempotency,
            api_keys=self.api_keys,
            authenticator=self.authenticator,
            audit_log=self.audit_log,
            rejections=self.auth_rejections,
        )


class Services:
    """The use cases a route may call, and nothing else: no adapter, client or setting.

    Each is the container's own, built on first use (a route pays only for what it calls).
    """

    __slots__ = ("__root",)

    def __init__(self, root: Container) -> None:
        self.__root = root

    @property
    def tokens(self) -> TokenService:
        return self.__root.token_service

    @property
    def charges(self) -> ChargeService:
        return self.__root.charge_service

    @property
    def holds(self) -> HoldService:
        return self.__root.hold_service

    @property
    def refunds(self) -> RefundService:
        return self.__root.refund_service

    @property
    def events(self) -> EventService:
        """Events and webhook endpoints."""
        return self.__root.event_service

    @property
    def checkout(self) -> CheckoutOriginService:
        return self.__root.checkout


_container: Container | None = None


def get_container() -> Container:
    """The container of this Lambda container (or chalice local process)."""
    global _container
    if _container is None:
        with _build_lock:
            if _container is None:
                _container = Container()
    return _container


def reset_container(container: Container | None = None) -> None:
    """Replace the process-wide container (tests point it at their own stack)."""
    global _container
    _container = container
