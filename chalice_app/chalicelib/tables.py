"""DynamoDB table definitions: the one source of truth.

The local bootstrap (``payments_admin.bootstrap``) and the Pulumi program both build
their tables from ``TABLES``; the adapters use the attribute and index names below.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Index:
    """A global secondary index (projection ALL)."""

    name: str
    hash_key: str
    range_key: str | None = None


@dataclass(frozen=True)
class Table:
    """One table: logical name (the stage prefix is added), keys, indexes, TTL."""

    name: str
    hash_key: str
    range_key: str | None = None
    indexes: tuple[Index, ...] = ()
    # Every key attribute is a string in this design.
    ttl_attribute: str | None = None
    # A DynamoDB stream of the table (its view type), read by a function of its own.
    stream_view_type: str | None = None

    def key_attributes(self) -> list[str]:
        """Every attribute used as a key by the table or one of its indexes."""
        names = [self.hash_key, *([self.range_key] if self.range_key else [])]
        for index in self.indexes:
            names += [index.hash_key, *([index.range_key] if index.range_key else [])]
        return list(dict.fromkeys(names))


# Charges and their refunds share a partition (pk = charge id) so that
# GET /charge/{id} is one Query. Only charge items carry the list keys, and only
# pending items carry the pending keys, so both indexes are sparse.
CHARGES_LIST_INDEX = Index("by_merchant", hash_key="list_pk", range_key="list_sk")
PENDING_INDEX = Index("pending", hash_key="pending_pk", range_key="pending_sk")
# Events, newest first per merchant, and per merchant and type (``GET /events?type=``).
EVENTS_LIST_INDEX = Index("events_by_merchant", hash_key="list_pk", range_key="list_sk")
EVENTS_TYPE_INDEX = Index("events_by_type", hash_key="type_pk", range_key="list_sk")
# Events not yet handed to delivery (sparse, sharded): the re-driver delivers those the
# stream has not handled after a grace period (a lost record, a batch given up on).
EVENTS_UNDELIVERED_INDEX = Index(
    "events_undelivered", hash_key="undelivered_pk", range_key="undelivered_sk"
)
# Deliveries waiting for their next attempt (sparse, sharded like the pending index).
DELIVERIES_DUE_INDEX = Index("due", hash_key="due_pk", range_key="due_sk")
# A merchant's keys, for the operator's ``payments-admin list-keys`` (never a request path).
API_KEYS_MERCHANT_INDEX = Index("keys_by_merchant", hash_key="merchant_id", range_key="created_at")

TOKENS = Table("Tokens", hash_key="token_id", ttl_attribute="ttl")
CHARGES = Table(
    "Charges",
    hash_key="pk",
    range_key="sk",
    indexes=(CHARGES_LIST_INDEX, PENDING_INDEX),
)
API_KEYS = Table("ApiKeys", hash_key="key_hash", indexes=(API_KEYS_MERCHANT_INDEX,))
IDEMPOTENCY_KEYS = Table("IdempotencyKeys", hash_key="idempotency_key", ttl_attribute="ttl")
AUDIT_LOG = Table("AuditLog", hash_key="partition", range_key="sort")
# Rejected authentications, counted per minute, route and key-hash prefix (one item each,
# in sharded partitions) so that a flood of bad keys costs a bounded number of items. The
# only audit table that is updated (a count); like AuditLog it has no TTL (kept >= 1 year).
AUTH_REJECTIONS = Table("AuthRejections", hash_key="partition", range_key="sort")
# The outbox: an event is written in the transaction of the change it describes; its
# stream feeds the delivery function. Kept 30 days (TTL).
EVENTS = Table(
    "Events",
    hash_key="event_id",
    indexes=(EVENTS_LIST_INDEX, EVENTS_TYPE_INDEX, EVENTS_UNDELIVERED_INDEX),
    ttl_attribute="ttl",
    stream_view_type="NEW_IMAGE",
)
# Webhook endpoints, by merchant; their signing secrets live apart (``WebhookSecrets``),
# readable only by the delivery functions, so no route can ever answer one again.
WEBHOOK_ENDPOINTS = Table("WebhookEndpoints", hash_key="merchant_id", range_key="endpoint_id")
WEBHOOK_SECRETS = Table("WebhookSecrets", hash_key="endpoint_id")
# One item per event and endpoint: its attempts and state (pending, delivered, failed).
# The web origins allowed to embed a merchant's card fields and call POST /token from a
# browser: one item per merchant, its list rewritten whole under a version condition.
CHECKOUT_ORIGINS = Table("CheckoutOrigins", hash_key="merchant_id")
DELIVERIES = Table(
    "Deliveries",
    hash_key="event_id",
    range_key="endpoint_id",
    indexes=(DELIVERIES_DUE_INDEX,),
    ttl_attribute="ttl",
)

# One item per scheduled job that must not overlap itself (the sweep, the re-driver): the
# run holding the job's lease (``chalicelib.adapters.leases``).
LEASES = Table("Leases", hash_key="name")

TABLES: tuple[Table, ...] = (
    TOKENS,
    CHARGES,
    API_KEYS,
    IDEMPOTENCY_KEYS,
    AUDIT_LOG,
    AUTH_REJECTIONS,
    EVENTS,
    WEBHOOK_ENDPOINTS,
    WEBHOOK_SECRETS,
    DELIVERIES,
    LEASES,
    CHECKOUT_ORIGINS,
)


def physical_name(prefix: str, table: Table) -> str:
    """The deployed name of ``table`` for a stage prefix such as ``payments-dev-``."""
    return f"{prefix}{table.name}"


def create_table_params(prefix: str, table: Table) -> dict[str, object]:
    """``CreateTable`` parameters for ``table`` (on-demand billing), for boto3 callers."""

    def key_schema(hash_key: str, range_key: str | None) -> list[dict[str, str]]:
        schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
        if range_key:
            schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
        return schema

    params: dict[str, object] = {
        "TableName": physical_name(prefix, table),
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": key_schema(table.hash_key, table.range_key),
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"} for name in table.key_attributes()
        ],
    }
    if table.indexes:
        params["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": key_schema(index.hash_key, index.range_key),
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in table.indexes
        ]
    if table.stream_view_type:
        params["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": table.stream_view_type,
        }
    return params
