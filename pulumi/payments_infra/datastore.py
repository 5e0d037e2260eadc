"""The DynamoDB tables, from ``chalicelib.tables.TABLES``, encrypted with the platform's key,
the dead-letter queue of the stream consumer (stream records it could not process), and
the audit log's own protection.

The audit log is append-only for everyone, not only for the functions: a resource policy
on the table denies changing or deleting records to every principal but the break-glass
role, and putting records to every principal but the appenders (the functions the grant
table lets append, the configured operators) and that role. The appenders write each
record with ``attribute_not_exists``, so an append never replaces one either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi_aws as aws

import pulumi
from chalicelib import tables

from . import grants
from .keys import key_admin_trust_policy

# Changes no principal but the break-glass role may make to the audit log.
AUDIT_CHANGES = (
    grants.UPDATE,
    grants.DELETE,
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
    "dynamodb:DeleteTable",
)
AUDIT_APPENDS = (grants.PUT, "dynamodb:PartiQLInsert")


@dataclass(frozen=True)
class DataStoreArgs:
    name_prefix: str
    kms_key_arn: pulumi.Input[str]  # customer-managed key for encryption at rest
    deletion_protection: bool = True
    account_id: str = ""
    # Function key -> its role's ARN (the audit appenders among them may put records).
    role_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    operator_arns: tuple[str, ...] = ()  # who runs payments-admin (key events are audited)
    break_glass_trusted_arns: tuple[str, ...] = ()


def audit_appenders() -> list[str]:
    """Function keys whose grant lets them put audit records."""
    return [
        key
        for key, grant in grants.GRANTS.items()
        if any(a.table == tables.AUDIT_LOG and grants.PUT in a.actions for a in grant.tables)
    ]


def audit_log_policy(table_arn: str, break_glass_arn: str, appenders: list[str]) -> dict[str, Any]:
    """The audit table's resource policy: only appends, and only by the appenders."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "NoChangeButBreakGlass",
                "Effect": "Deny",
                "Principal": "*",
                "Action": list(AUDIT_CHANGES),
                "Resource": table_arn,
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": break_glass_arn}},
            },
            {
                "Sid": "OnlyAppendersPut",
                "Effect": "Deny",
                "Principal": "*",
                "Action": list(AUDIT_APPENDS),
                "Resource": table_arn,
                "Condition": {
                    "ArnNotEquals": {"aws:PrincipalArn": sorted({*appenders, break_glass_arn})}
                },
            },
        ],
    }


def _key_schema(
    hash_key: str, range_key: str | None
) -> list[aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs]:
    schema = [
        aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(
            attribute_name=hash_key, key_type="HASH"
        )
    ]
    if range_key:
        schema.append(
            aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(
                attribute_name=range_key, key_type="RANGE"
            )
        )
    return schema


class DataStore(pulumi.ComponentResource):
    """One table per definition, point-in-time recovery on, CMK encryption."""

    # Each keyed by the table's logical name (``chalicelib.tables``).
    tables: dict[str, aws.dynamodb.Table]
    arns: dict[str, pulumi.Output[str]]
    names: dict[str, pulumi.Output[str]]
    stream_arns: dict[str, pulumi.Output[str]]  # the tables with a stream only
    audit_log_arn: pulumi.Output[str]
    dead_letter_queue: aws.sqs.Queue
    break_glass_role: aws.iam.Role
    audit_log_policy: pulumi.Output[dict[str, Any]]

    def __init__(
        self, name: str, args: DataStoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("payments:platform:DataStore", name, None, opts)
        self.tables = {}
        for table in tables.TABLES:
            self.tables[table.name] = aws.dynamodb.Table(
                f"{name}-table-{table.name}",
                name=tables.physical_name(args.name_prefix, table),
                billing_mode="PAY_PER_REQUEST",
                hash_key=table.hash_key,
                range_key=table.range_key,
                attributes=[
                    aws.dynamodb.TableAttributeArgs(name=attr, type="S")
                    for attr in table.key_attributes()
                ],
                global_secondary_indexes=[
                    aws.dynamodb.TableGlobalSecondaryIndexArgs(
                        name=index.name,
                        projection_type="ALL",
                        key_schemas=_key_schema(index.hash_key, index.range_key),
                    )
                    for index in table.indexes
                ]
                or None,
                ttl=(
                    aws.dynamodb.TableTtlArgs(attribute_name=table.ttl_attribute, enabled=True)
                    if table.ttl_attribute
                    else None
                ),
                stream_enabled=bool(table.stream_view_type) or None,
                stream_view_type=table.stream_view_type,
                point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
                server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(
                    enabled=True, kms_key_arn=args.kms_key_arn
                ),
                deletion_protection_enabled=args.deletion_protection,
                opts=pulumi.ResourceOptions(
                    parent=self,
                    protect=args.deletion_protection,
                    retain_on_delete=args.deletion_protection,
                ),
            )
        self.arns = {logical: t.arn for logical, t in self.tables.items()}
        self.stream_arns = {
            table.name: self.tables[table.name].stream_arn
            for table in tables.TABLES
            if table.stream_view_type
        }
        # What lands here is the batch's metadata (shard, sequence numbers), never an event
        # body: an operator re-reads the records from the stream (24 h) or resends events.
        self.dead_letter_queue = aws.sqs.Queue(
            f"{name}-delivery-dlq",
            name=f"{args.name_prefix}delivery-dlq",
            message_retention_seconds=14 * 24 * 3600,
            sqs_managed_sse_enabled=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.names = {logical: t.name for logical, t in self.tables.items()}
        self._protect_audit_log(name, args)
        self.register_outputs(
            {
                "table_arns": self.arns,
                "table_names": self.names,
                "stream_arns": self.stream_arns,
                "audit_log_arn": self.audit_log_arn,
                "dead_letter_queue_arn": self.dead_letter_queue.arn,
                "dead_letter_queue_name": self.dead_letter_queue.name,
                "break_glass_role_arn": self.break_glass_role.arn,
            }
        )

    def _protect_audit_log(self, name: str, args: DataStoreArgs) -> None:
        table = self.tables[tables.AUDIT_LOG.name]
        self.audit_log_arn = table.arn
        self.break_glass_role = aws.iam.Role(
            f"{name}-audit-break-glass-role",
            name=f"{args.name_prefix}audit-break-glass",
            description="The only principal that may change or delete audit records",
            assume_role_policy=json.dumps(
                key_admin_trust_policy(args.account_id, args.break_glass_trusted_arns)
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(
            f"{name}-audit-break-glass-policy",
            name=f"{args.name_prefix}audit-break-glass",
            role=self.break_glass_role.id,
            policy=table.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "ChangeAuditRecords",
                                "Effect": "Allow",
                                "Action": [grants.GET, grants.QUERY, grants.PUT, *AUDIT_CHANGES],
                                "Resource": arn,
                            }
                        ],
                    }
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        appenders = pulumi.Output.all(*[args.role_arns[key] for key in audit_appenders()])
        self.audit_log_policy = pulumi.Output.all(
            table=table.arn, break_glass=self.break_glass_role.arn, roles=appenders
        ).apply(
            lambda r: audit_log_policy(
                r["table"], r["break_glass"], [*r["roles"], *args.operator_arns]
            )
        )
        aws.dynamodb.ResourcePolicy(
            f"{name}-audit-log-policy",
            resource_arn=table.arn,
            policy=self.audit_log_policy.apply(lambda doc: json.dumps(doc, sort_keys=True)),
            opts=pulumi.ResourceOptions(parent=self),
        )
