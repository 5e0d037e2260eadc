"""The grant table: what each function may do, and nothing else (least privilege).

One row per function (keys of ``app_model.FUNCTIONS``). The IAM policies
(``functions.py``) and the key policies (``keys.py``) are both generated from it, so a
function allowed to use a key by IAM is also the one the key policy names.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib import tables
from chalicelib.tables import Index, Table

GET, PUT, UPDATE, DELETE = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
)
QUERY, CHECK = "dynamodb:Query", "dynamodb:ConditionCheckItem"
# A request's first read: its Idempotency-Key record, its token or charge and (POST /charge,
# POST /refund) the caller's API key record, together.
BATCH_GET = "dynamodb:BatchGetItem"

GENERATE_DATA_KEY, DECRYPT, GENERATE_MAC = "kms:GenerateDataKey", "kms:Decrypt", "kms:GenerateMac"


@dataclass(frozen=True)
class TableAccess:
    """DynamoDB actions on one table, and the indexes that may be queried."""

    table: Table
    actions: tuple[str, ...]
    indexes: tuple[Index, ...] = ()


@dataclass(frozen=True)
class Grant:
    """Everything one function's role may do besides writing its own logs."""

    tables: tuple[TableAccess, ...] = ()
    # On the card-data key; the key policy also requires the merchant/token context.
    card_data_key: tuple[str, ...] = ()
    # On the card-fingerprint (HMAC) key.
    fingerprint_key: tuple[str, ...] = ()
    # Reads the bank URL (SSM SecureString) and so may decrypt it with the secrets key.
    bank: bool = False
    # Reads these tables' streams (as its event source mapping does, with its role).
    streams: tuple[Table, ...] = ()
    # Its event source mapping sends records it cannot process to the dead-letter queue.
    dead_letter_queue: bool = False


AUDIT_APPEND = TableAccess(tables.AUDIT_LOG, (PUT,))
IDEMPOTENT = TableAccess(tables.IDEMPOTENCY_KEYS, (GET, BATCH_GET, PUT, UPDATE, CHECK))
# Settling a pending charge or refund (GET, the sweep, a resumed retry): a charge is written
# whole (PutItem) when final, a refund and the charge's amounts are updated in place, and an
# authorized charge's capture or void (the sweep voids expired ones) starts with an update.
SETTLE = (GET, QUERY, PUT, UPDATE, CHECK)
# Whoever settles writes the event in the same transaction (the outbox).
EMIT_EVENTS = TableAccess(tables.EVENTS, (PUT,))
# AWS's documented set for a DynamoDB stream event source (the mapping reads the stream
# with the function's role), on the stream's ARN.
STREAM_READ = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
)
# The state-changing routes judge the caller's key again (``Authenticator``): POST /charge
# and POST /refund in their first read and with a condition in their write-ahead commit,
# the others with a condition in their commit; a request refused before that reads the
# record on its own. A refusal is counted as the authorizer counts it.
KEY_CONFIRM_BY_READ = (
    TableAccess(tables.API_KEYS, (GET, BATCH_GET, CHECK)),
    TableAccess(tables.AUTH_REJECTIONS, (UPDATE,)),
)
KEY_CONFIRM_IN_COMMIT = (
    TableAccess(tables.API_KEYS, (GET, CHECK)),
    TableAccess(tables.AUTH_REJECTIONS, (UPDATE,)),
)
# A scheduled job that must not overlap itself takes its lease, then gives it back.
HOLD_LEASE = TableAccess(tables.LEASES, (PUT, DELETE))
# Only the delivery functions read signing secrets.
READ_SECRETS = TableAccess(tables.WEBHOOK_SECRETS, (GET, BATCH_GET))

GRANTS: dict[str, Grant] = {
    # The browser checkout reads the merchant's origins (CORS, the card-fields page's
    # frame-ancestors); the page looks its publishable key up as the authorizer would.
    "token": Grant(
        tables=(
            TableAccess(tables.TOKENS, (PUT,)),
            AUDIT_APPEND,
            *KEY_CONFIRM_IN_COMMIT,
            TableAccess(tables.CHECKOUT_ORIGINS, (GET,)),
        ),
        card_data_key=(GENERATE_DATA_KEY,),
        fingerprint_key=(GENERATE_MAC,),
    ),
    "charge": Grant(
        tables=(
            TableAccess(tables.TOKENS, (GET, BATCH_GET, PUT, CHECK)),
            TableAccess(tables.CHARGES, (*SETTLE, PUT)),
            IDEMPOTENT,
            AUDIT_APPEND,
            EMIT_EVENTS,
            *KEY_CONFIRM_BY_READ,
        ),
        card_data_key=(DECRYPT,),
        bank=True,
    ),
    "refund": Grant(
        tables=(
            TableAccess(tables.CHARGES, (*SETTLE, BATCH_GET, PUT)),
            IDEMPOTENT,
            AUDIT_APPEND,
            EMIT_EVENTS,
            *KEY_CONFIRM_BY_READ,
        ),
        bank=True,
    ),
    # Capture and void: the charge's own three commits, without its token or card key.
    "holds": Grant(
        tables=(
            TableAccess(tables.CHARGES, (*SETTLE, BATCH_GET)),
            IDEMPOTENT,
            AUDIT_APPEND,
            EMIT_EVENTS,
            *KEY_CONFIRM_BY_READ,
        ),
        bank=True,
    ),
    # Reads and the sweep are not audited (only state-changing requests are).
    "reads": Grant(
        tables=(
            TableAccess(tables.CHARGES, SETTLE, indexes=(tables.CHARGES_LIST_INDEX,)),
            EMIT_EVENTS,
        ),
        bank=True,
    ),
    # Reachable without a key: nothing at all besides its logs.
    "public": Grant(),
    # Rejected authentications are counted per minute (one UpdateItem), not appended.
    "authorizer": Grant(
        tables=(
            TableAccess(tables.API_KEYS, (GET,)),
            TableAccess(tables.AUTH_REJECTIONS, (UPDATE,)),
        )
    ),
    "reconciler": Grant(
        tables=(
            TableAccess(tables.CHARGES, SETTLE, indexes=(tables.PENDING_INDEX,)),
            EMIT_EVENTS,
            HOLD_LEASE,
        ),
        bank=True,
    ),
    # Endpoint secrets are written (rolled in place, deleted), never read: no route can
    # answer one.
    "events": Grant(
        tables=(
            # PutItem: a test.ping for one endpoint (its delivery functions sign it).
            TableAccess(
                tables.EVENTS,
                (GET, QUERY, PUT),
                indexes=(tables.EVENTS_LIST_INDEX, tables.EVENTS_TYPE_INDEX),
            ),
            TableAccess(tables.WEBHOOK_ENDPOINTS, (GET, BATCH_GET, QUERY, PUT, UPDATE, DELETE)),
            TableAccess(tables.WEBHOOK_SECRETS, (PUT, UPDATE, DELETE)),
            # POST /webhook_endpoints is idempotent: its key is judged in its first read
            # (with the merchant's endpoint count); the other routes in their commit.
            IDEMPOTENT,
            TableAccess(tables.API_KEYS, (GET, BATCH_GET, CHECK)),
            TableAccess(tables.AUTH_REJECTIONS, (UPDATE,)),
            AUDIT_APPEND,
        )
    ),
    # Nothing of Tokens, Charges or any KMS key: deliveries carry what the event holds.
    # Once an event's deliveries exist, it leaves the undelivered index (an UpdateItem).
    "delivery": Grant(
        tables=(
            TableAccess(tables.EVENTS, (UPDATE,)),
            TableAccess(tables.WEBHOOK_ENDPOINTS, (QUERY,)),
            READ_SECRETS,
            TableAccess(tables.DELIVERIES, (PUT, UPDATE)),
        ),
        streams=(tables.EVENTS,),
        dead_letter_queue=True,
    ),
    # Also delivers events the stream never handed over, as the delivery function does.
    "redriver": Grant(
        tables=(
            TableAccess(
                tables.EVENTS, (GET, QUERY, UPDATE), indexes=(tables.EVENTS_UNDELIVERED_INDEX,)
            ),
            TableAccess(tables.WEBHOOK_ENDPOINTS, (QUERY,)),
            READ_SECRETS,
            TableAccess(tables.DELIVERIES, (PUT, UPDATE), indexes=(tables.DELIVERIES_DUE_INDEX,)),
            HOLD_LEASE,
        ),
    ),
}

# The audit log is append-only for every function, whatever any Allow says.
AUDIT_LOG_DENIED_ACTIONS = (
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
)


def holders(kind: str, action: str) -> list[str]:
    """Function keys granted ``action`` on key ``kind`` (``card_data_key``/``fingerprint_key``)."""
    return [key for key, grant in GRANTS.items() if action in getattr(grant, kind)]


def bank_callers() -> list[str]:
    return [key for key, grant in GRANTS.items() if grant.bank]
