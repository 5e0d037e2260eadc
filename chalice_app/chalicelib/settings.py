"""The one place that reads the environment.

Deployed, Pulumi sets these variables on every function; locally ``make run`` and
the test session set them. AWS endpoints are boto3's own ``AWS_ENDPOINT_URL_<SERVICE>``
variables and are not read here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import TypedDict

# Defaults of the timeouts every time window derives from (the merchant guide's client
# timeout and polling interval are generated from them: payments_admin/api_docs.py).
DEFAULT_FUNCTION_TIMEOUT_SECONDS = 15.0
DEFAULT_BANK_CONNECT_TIMEOUT_SECONDS = 1.0
DEFAULT_BANK_READ_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class Settings:
    """Runtime configuration of one stage."""

    stage: str
    table_prefix: str
    kms_key_id: str
    hmac_key_id: str
    bank_url: str
    bank_connect_timeout: float
    bank_read_timeout: float
    token_ttl_seconds: int
    idempotency_ttl_seconds: int
    # The API function's timeout: deployed, Lambda kills a request at this age. Every time
    # window of the crash-recovery design is derived from it and the bank timeouts below.
    function_timeout_seconds: float
    max_body_bytes: int
    log_level: str
    # Per-merchant token buckets (requests/s, burst). Deployed, API Gateway usage plans
    # enforce the stack's own values; locally the gateway emulation enforces these.
    rate_limit: tuple[float, int]
    token_rate_limit: tuple[float, int]
    # Per client address, a browser's POST /token (deployed: the WAF's rate rule per IP;
    # locally the gateway emulation). Below the merchant's token limit on purpose.
    token_ip_rate_limit: tuple[float, int] = (10.0, 20)
    # Deployed, the bank URL is an SSM SecureString named here (read once per container,
    # see container.py) instead of a plain ``bank_url``.
    bank_url_parameter: str | None = None
    # The stack's per-merchant usage plan (Pulumi output ``usage_plan_id``), for the
    # operator tooling only: deployed, ``payments-admin`` puts each merchant's API Gateway
    # key in it. Unset locally, where the gateway emulation enforces the limits itself.
    usage_plan_id: str | None = None
    # Webhooks: when each retry is due, in seconds after the first attempt (the last one
    # bounds the whole schedule: 3 days); one attempt's timeout; how often the re-driver
    # looks for due retries while it runs.
    webhook_retry_schedule: tuple[float, ...] = (
        20,
        60,
        300,
        1800,
        7200,
        5 * 3600,
        10 * 3600,
        24 * 3600,
        48 * 3600,
        72 * 3600,
    )
    webhook_timeout_seconds: float = 10.0
    redrive_poll_seconds: float = 5.0
    # How old an event the stream has not handed to delivery must be before the re-driver
    # delivers it itself: well past the stream's normal lag, so it only catches events
    # whose record was lost.
    outbox_grace_seconds: float = 180.0
    # Webhooks may also go to ``http(s)://127.0.0.1:<port>`` (the local stack's test
    # receivers). Only the local stack sets it (``PAYMENTS_LOCAL_WEBHOOKS=1``), never a stage
    # name: on Lambda, 127.0.0.1 serves the runtime API.
    local_webhooks: bool = False
    # How long an authorization made with ``capture: false`` may be captured; the reconcile
    # job voids it after that (``capture_before``). Tests use a short window.
    capture_window_seconds: float = 7 * 24 * 3600.0

    @property
    def local_checkout_origins(self) -> bool:
        """The local stage also accepts ``http://127.0.0.1:<port>`` checkout origins."""
        return self.stage == "local"

    def table(self, logical_name: str) -> str:
        """Physical table name for a logical one (``Charges`` -> ``payments-dev-Charges``)."""
        return f"{self.table_prefix}{logical_name}"

    @property
    def bank_call_deadline_seconds(self) -> float:
        """How long after its write-ahead stamp a request may still start a bank call.

        Late enough that the call's own timeouts still end inside the function's timeout,
        so no request reaches the bank after ``settle_after_seconds`` (also locally, where
        nothing kills a slow request).
        """
        return self.function_timeout_seconds - self.bank_connect_timeout - self.bank_read_timeout

    @property
    def settle_after_seconds(self) -> float:
        """Age (from ``bank_requested_at``) after which no request can reach the bank.

        Only then may a pending item the bank has no record of be reversed and failed.
        """
        return self.function_timeout_seconds

    @property
    def idempotency_lease_seconds(self) -> float:
        """409 ``request_in_progress`` lasts while the first request can be running."""
        return self.function_timeout_seconds


LOCAL_WEBHOOKS = "PAYMENTS_LOCAL_WEBHOOKS"


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, read once per container."""
    stage = _env("PAYMENTS_STAGE", "local")
    prefix = _env("PAYMENTS_TABLE_PREFIX", f"payments-{stage}-")
    return Settings(
        stage=stage,
        table_prefix=prefix,
        kms_key_id=_env("PAYMENTS_KMS_KEY_ID", f"alias/{prefix}card-data"),
        hmac_key_id=_env("PAYMENTS_HMAC_KEY_ID", f"alias/{prefix}card-fingerprint"),
        bank_url=_env(
            "PAYMENTS_BANK_URL",
            "" if os.environ.get("PAYMENTS_BANK_URL_PARAMETER") else "http://127.0.0.1:4545",
        ).rstrip("/"),
        bank_connect_timeout=float(
            _env("PAYMENTS_BANK_CONNECT_TIMEOUT", str(DEFAULT_BANK_CONNECT_TIMEOUT_SECONDS))
        ),
        bank_read_timeout=float(
            _env("PAYMENTS_BANK_READ_TIMEOUT", str(DEFAULT_BANK_READ_TIMEOUT_SECONDS))
        ),
        token_ttl_seconds=int(_env("PAYMENTS_TOKEN_TTL_SECONDS", "900")),
        idempotency_ttl_seconds=int(_env("PAYMENTS_IDEMPOTENCY_TTL_SECONDS", str(24 * 3600))),
        function_timeout_seconds=float(
            _env("PAYMENTS_FUNCTION_TIMEOUT_SECONDS", str(DEFAULT_FUNCTION_TIMEOUT_SECONDS))
        ),
        max_body_bytes=64 * 1024,
        log_level=_env("PAYMENTS_LOG_LEVEL", "INFO"),
        bank_url_parameter=os.environ.get("PAYMENTS_BANK_URL_PARAMETER") or None,
        usage_plan_id=os.environ.get("PAYMENTS_USAGE_PLAN_ID") or None,
        local_webhooks=os.environ.get(LOCAL_WEBHOOKS) == "1",
        rate_limit=(
            float(_env("PAYMENTS_RATE_LIMIT_RPS", "100")),
            int(_env("PAYMENTS_RATE_LIMIT_BURST", "200")),
        ),
        token_rate_limit=(
            float(_env("PAYMENTS_TOKEN_RATE_LIMIT_RPS", "20")),
            int(_env("PAYMENTS_TOKEN_RATE_LIMIT_BURST", "40")),
        ),
        token_ip_rate_limit=(
            float(_env("PAYMENTS_TOKEN_IP_RATE_LIMIT_RPS", "10")),
            int(_env("PAYMENTS_TOKEN_IP_RATE_LIMIT_BURST", "20")),
        ),
        capture_window_seconds=float(_env("PAYMENTS_CAPTURE_WINDOW_SECONDS", str(7 * 24 * 3600))),
        **_webhook_overrides(),
    )


class _WebhookOverrides(TypedDict, total=False):
    webhook_retry_schedule: tuple[float, ...]
    redrive_poll_seconds: float
    outbox_grace_seconds: float


def _webhook_overrides() -> _WebhookOverrides:
    """Shorter webhook timings for tests; deployed stages keep the defaults above."""
    overrides: _WebhookOverrides = {}
    schedule = os.environ.get("PAYMENTS_WEBHOOK_RETRY_SCHEDULE")
    if schedule:
        overrides["webhook_retry_schedule"] = tuple(float(s) for s in schedule.split(","))
    poll = os.environ.get("PAYMENTS_REDRIVE_POLL_SECONDS")
    if poll:
        overrides["redrive_poll_seconds"] = float(poll)
    grace = os.environ.get("PAYMENTS_OUTBOX_GRACE_SECONDS")
    if grace:
        overrides["outbox_grace_seconds"] = float(grace)
    return overrides
