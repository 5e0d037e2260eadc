"""The DynamoDB tables, from ``chalicelib.tables.TABLES``, encrypted with the platform's key,
and the dead-letter queue of the stream consumer (stream records it could not process)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import pulumi_aws as aws

import pulumi

tables = importlib.import_module("chalicelib.tables")


@dataclass
class DataStoreArgs:
    name_prefix: str
    kms_key_arn: pulumi.Input[str]  # customer-managed key for encryption at rest
    deletion_protection: bool = True


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

    def __init__(
        self, name: str, args: DataStoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("payments:platform:DataStore", name, None, opts)
        self.tables: dict[str, aws.dynamodb.Table] = {}
        for table in tables.TABLES:
            self.tables[table.name] = aws.dynamodb.Table(
                f"table-{table.name}",
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
                opts=pulumi.ResourceOptions(parent=self, protect=args.deletion_protection),
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
            "delivery-dlq",
            name=f"{args.name_prefix}delivery-dlq",
            message_retention_seconds=14 * 24 * 3600,
            sqs_managed_sse_enabled=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.names = {logical: t.name for logical, t in self.tables.items()}
        self.register_outputs({"table_names": self.names})
