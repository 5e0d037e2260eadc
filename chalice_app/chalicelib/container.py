"""The composition root: builds clients, adapters and services once per container.

Everything is built lazily, so a cold start pays only for what the first route uses
(the authorizer never imports the KMS or bank code). Tests build a ``Container`` from
their own ``Settings`` against moto and mountebank; nothing here is replaced by mocks.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from chalicelib import tables
from chalicelib.settings import Settings, get_settings

if TYPE_CHECKING:
    from chalicelib.adapters.api_keys import ApiKeyRepository
    from chalicelib.adapters.audit_log import AuditLog, RejectedAuthLog
    from chalicelib.adapters.bank_client import BankClient
    from chalicelib.adapters.card_vault import CardFingerprinter, CardVault
    from chalicelib.adapters.charge_repository import ChargeRepository
    from chalicelib.adapters.checkout_origins import CheckoutOriginRepository
    from chalicelib.adapters.event_store import EventStore
    from chalicelib.adapters.idempotency import IdempotencyStore
    from chalicelib.adapters.leases import Leases
    from chalicelib.adapters.token_repository import TokenRepository
    from chalicelib.adapters.usage_plan import UsagePlanKeys
    from chalicelib.adapters.webhooks import DeliveryStore, WebhookEndpointStore
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

# boto3's default session is not thread-safe, and chalice local serves requests on threads.
_build_lock = threading.RLock()


class Container:
    """Lazily built dependencies of one stage."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()

    def _client(self, service: Literal["dynamodb", "kms", "ssm", "apigateway"]) -> Any:
        import boto3
        from botocore.config import Config

        with _build_lock:
            return boto3.session.Session().client(
                service,
                config=Config(
                    retries={"mode": "standard", "max_attempts": 3},
                    connect_timeout=2,
                    read_timeout=5,
                    max_pool_connections=50,
                    # Client-side validation re-walks every parameter against the service
                    # model on each call (~12% of a call's CPU); the service validates anyway
                    # and every request here is built by our own adapters.
                    parameter_validation=False,
                ),
            )

    @cached_property
    def dynamodb(self) -> Any:
        return self._client("dynamodb")

    @cached_property
    def kms(self) -> Any:
        return self._client("kms")

    @cached_property
    def ssm(self) -> Any:
        return self._client("ssm")

    @cached_property
    def apigateway(self) -> Any:
        return self._client("apigateway")

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
    def bank(self) -> BankClient:
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
