"""The one place that reads the environment.

Deployed, Pulumi sets these variables on every function; locally ``make run`` and
the test session set them. AWS endpoints are boto3's own ``AWS_ENDPOINT_URL_<SERVICE>``
variables and are not read here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


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
    idempotency_lease_seconds: int
    pending_settle_after_seconds: int
    max_body_bytes: int
    log_level: str
    # Per-merchant token buckets (requests/s, burst). Deployed, API Gateway usage plans
    # enforce the stack's own values; locally the gateway emulation enforces these.
    rate_limit: tuple[float, int]
    token_rate_limit: tuple[float, int]

    def table(self, logical_name: str) -> str:
        """Physical table name for a logical one (``Charges`` -> ``payments-dev-Charges``)."""
        return f"{self.table_prefix}{logical_name}"


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
        bank_url=_env("PAYMENTS_BANK_URL", "http://127.0.0.1:4545").rstrip("/"),
        bank_connect_timeout=float(_env("PAYMENTS_BANK_CONNECT_TIMEOUT", "1")),
        bank_read_timeout=float(_env("PAYMENTS_BANK_READ_TIMEOUT", "3")),
        token_ttl_seconds=int(_env("PAYMENTS_TOKEN_TTL_SECONDS", "900")),
        idempotency_ttl_seconds=int(_env("PAYMENTS_IDEMPOTENCY_TTL_SECONDS", str(24 * 3600))),
        # Longer than the API Lambda's timeout, so a live request never loses its lease.
        idempotency_lease_seconds=int(_env("PAYMENTS_IDEMPOTENCY_LEASE_SECONDS", "30")),
        # Older than the bank timeout, so the sweep never races a request still waiting.
        pending_settle_after_seconds=int(_env("PAYMENTS_PENDING_SETTLE_AFTER_SECONDS", "10")),
        max_body_bytes=64 * 1024,
        log_level=_env("PAYMENTS_LOG_LEVEL", "INFO"),
        rate_limit=(
            float(_env("PAYMENTS_RATE_LIMIT_RPS", "100")),
            int(_env("PAYMENTS_RATE_LIMIT_BURST", "200")),
        ),
        token_rate_limit=(
            float(_env("PAYMENTS_TOKEN_RATE_LIMIT_RPS", "20")),
            int(_env("PAYMENTS_TOKEN_RATE_LIMIT_BURST", "40")),
        ),
    )
