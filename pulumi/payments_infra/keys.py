"""KMS keys with explicit key policies, and the bank URL as an SSM SecureString.

* card-data key: envelope encryption of card data. Only the functions the grant table
  names may use it, each for its own action, and only with an encryption context naming
  a merchant and a token (the card vault sends it; CloudTrail records it).
* card-fingerprint key: HMAC of card numbers, GenerateMac (HMAC_SHA_256 only) for the token
  function only.
* tables key: DynamoDB encryption at rest, usable only through DynamoDB in this account.
* secrets key: the SSM SecureString of the bank URL; decrypted through SSM only by the
  functions that call the bank (and by the key administrators, who write it).
* alarms key: the alarm topic's encryption, usable by CloudWatch and EventBridge to publish.

Every key is administered by a named key-administrator role and by the deployer, not by
the account root: a key policy naming the root lets any IAM administrator grant itself
Decrypt through IAM alone. Administration carries no use: neither may decrypt card data.
Every change of a key policy or grant is sent to the alarm topic (``operations.py``).
Keys are ``protect``-ed and retained on delete: deleting one makes every token unreadable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi_aws as aws

import pulumi
from chalicelib.adapters import card_vault as vault

from . import grants

# Administration without use (no Encrypt/Decrypt/GenerateDataKey/GenerateMac).
ADMIN_ACTIONS = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)
# What DynamoDB needs on a customer-managed table key (AWS's documented key policy).
DYNAMODB_USE_ACTIONS = (
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)
# The encryption context the card vault sends: merchant and token ids, nothing else.
CARD_CONTEXT_CONDITION = {
    "StringLike": {
        f"kms:EncryptionContext:{vault.CONTEXT_MERCHANT}": "mer_*",
        f"kms:EncryptionContext:{vault.CONTEXT_TOKEN}": "tok_*",
    },
    "ForAllValues:StringEquals": {
        "kms:EncryptionContextKeys": [vault.CONTEXT_MERCHANT, vault.CONTEXT_TOKEN]
    },
}


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


# The only algorithm the card vault uses (``CardFingerprinter``); any other is refused.
MAC_ALGORITHM_CONDITION = {"StringEquals": {"kms:MacAlgorithm": vault.MAC_ALGORITHM}}
ADMIN_SID = "KeyAdministrators"


def _admin(administrators: list[str]) -> dict[str, Any]:
    return {
        "Sid": ADMIN_SID,
        "Effect": "Allow",
        "Principal": {"AWS": administrators},
        "Action": list(ADMIN_ACTIONS),
        "Resource": "*",
    }


def _use_by_roles(
    kind: str, role_arns: dict[str, str], condition: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """One statement per action of ``kind`` in the grant table, naming its roles."""
    actions = sorted({a for g in grants.GRANTS.values() for a in getattr(g, kind)})
    statements = []
    for action in actions:
        statement: dict[str, Any] = {
            "Sid": "Use" + action.split(":")[1],
            "Effect": "Allow",
            "Principal": {"AWS": [role_arns[k] for k in grants.holders(kind, action)]},
            "Action": action,
            "Resource": "*",
        }
        if condition:
            statement["Condition"] = condition
        statements.append(statement)
    return statements


def card_data_key_policy(administrators: list[str], role_arns: dict[str, str]) -> dict[str, Any]:
    return _policy(
        _admin(administrators),
        *_use_by_roles("card_data_key", role_arns, CARD_CONTEXT_CONDITION),
    )


def fingerprint_key_policy(administrators: list[str], role_arns: dict[str, str]) -> dict[str, Any]:
    return _policy(
        _admin(administrators),
        *_use_by_roles("fingerprint_key", role_arns, MAC_ALGORITHM_CONDITION),
    )


def tables_key_policy(administrators: list[str], account_id: str, region: str) -> dict[str, Any]:
    in_dynamodb = {
        "kms:CallerAccount": account_id,
        "kms:ViaService": f"dynamodb.{region}.amazonaws.com",
    }
    return _policy(
        _admin(administrators),
        {
            # Access to the data is decided by the tables' IAM grants; the key only
            # keeps it unreadable outside DynamoDB and outside this account.
            "Sid": "UseThroughDynamoDBInThisAccount",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": list(DYNAMODB_USE_ACTIONS),
            "Resource": "*",
            "Condition": {"StringEquals": in_dynamodb},
        },
        {
            # DynamoDB holds the table's key through a grant it creates for itself.
            "Sid": "DynamoDBCreatesItsGrants",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {
                "StringEquals": in_dynamodb,
                "Bool": {"kms:GrantIsForAWSResource": "true"},
            },
        },
        {
            "Sid": "DynamoDBDescribesTheKey",
            "Effect": "Allow",
            "Principal": {"Service": "dynamodb.amazonaws.com"},
            "Action": ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:ListGrants"],
            "Resource": "*",
        },
    )


def secrets_key_policy(
    administrators: list[str], region: str, role_arns: dict[str, str], parameter_arn: str
) -> dict[str, Any]:
    via_ssm = {"kms:ViaService": f"ssm.{region}.amazonaws.com"}
    return _policy(
        _admin(administrators),
        {
            # The deployer writes (and the provider reads back) the parameter, through SSM.
            "Sid": "AdministratorsManageSecretsThroughSSM",
            "Effect": "Allow",
            "Principal": {"AWS": administrators},
            "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            "Resource": "*",
            "Condition": {"StringEquals": via_ssm},
        },
        {
            "Sid": "BankCallersReadTheBankUrl",
            "Effect": "Allow",
            "Principal": {"AWS": [role_arns[k] for k in grants.bank_callers()]},
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {
                "StringEquals": {**via_ssm, "kms:EncryptionContext:PARAMETER_ARN": parameter_arn}
            },
        },
    )


# AWS services that publish to the encrypted alarm topic (alarms, EventBridge rules).
ALARM_PUBLISHERS = ("cloudwatch.amazonaws.com", "events.amazonaws.com")


def alarms_key_policy(administrators: list[str]) -> dict[str, Any]:
    """The topic's own key: the publishing services encrypt with it (the topic policy
    limits them to this account's alarms and rules)."""
    return _policy(
        _admin(administrators),
        {
            "Sid": "ServicesPublishToTheAlarmTopic",
            "Effect": "Allow",
            "Principal": {"Service": list(ALARM_PUBLISHERS)},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
        },
    )


def key_admin_trust_policy(account_id: str, trusted: tuple[str, ...]) -> dict[str, Any]:
    """Who may assume an administrative role: the named principals, or else any principal
    of the account that IAM allows to, with MFA (every use is in CloudTrail)."""
    statement: dict[str, Any] = {"Effect": "Allow", "Action": "sts:AssumeRole"}
    if trusted:
        statement["Principal"] = {"AWS": list(trusted)}
    else:
        statement["Principal"] = {"AWS": f"arn:aws:iam::{account_id}:root"}
        statement["Condition"] = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    return _policy(statement)


# The key DynamoDB holds grants on (for its tables); a grant on any other key is news.
TABLES_KEY = "tables"


@dataclass(frozen=True)
class KeysArgs:
    name_prefix: str  # payments-<stage>-
    stage: str
    account_id: str
    region: str
    role_arns: Mapping[str, pulumi.Input[str]]  # function key -> its role's ARN
    bank_url: pulumi.Input[str]
    deployer_arn: str  # keeps administering the keys (Pulumi updates their policies)
    key_admin_trusted_arns: tuple[str, ...] = ()
    deletion_window_days: int = 30


@dataclass
class _Key:
    name: str  # card-data, card-fingerprint, tables, secrets, alarms
    key: aws.kms.Key
    alias: aws.kms.Alias
    policy: pulumi.Output[dict[str, Any]] = field(repr=False)


class Keys(pulumi.ComponentResource):
    """The platform's KMS keys and the bank URL parameter."""

    admin_role: aws.iam.Role
    card_data: _Key
    fingerprint: _Key
    tables: _Key
    secrets: _Key
    alarms: _Key
    arns: dict[str, pulumi.Output[str]]  # key name (card-data, tables, ...) -> key ARN
    bank_url_parameter: aws.ssm.Parameter
    bank_url_parameter_name: str

    def __init__(
        self, name: str, args: KeysArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("payments:platform:Keys", name, None, opts)
        self.args = args
        account, region = args.account_id, args.region
        self.admin_role = aws.iam.Role(
            f"{name}-admin-role",
            name=f"{args.name_prefix}key-admin",
            description="Administers the stage's KMS keys (no use of them)",
            assume_role_policy=json.dumps(
                key_admin_trust_policy(account, args.key_admin_trusted_arns)
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._name = name
        admins = pulumi.Output.all(self.admin_role.arn, args.deployer_arn)
        roles = pulumi.Output.all(admins=admins, roles=pulumi.Output.all(**args.role_arns))

        self.bank_url_parameter_name = f"/payments/{args.stage}/bank-url"
        parameter_arn = f"arn:aws:ssm:{region}:{account}:parameter{self.bank_url_parameter_name}"

        self.card_data = self._key(
            "card-data",
            "envelope encryption of card data",
            roles.apply(lambda r: card_data_key_policy(r["admins"], r["roles"])),
            rotation=True,
        )
        self.fingerprint = self._key(
            "card-fingerprint",
            "HMAC of card numbers",
            roles.apply(lambda r: fingerprint_key_policy(r["admins"], r["roles"])),
            usage="GENERATE_VERIFY_MAC",
            spec="HMAC_256",
            rotation=False,  # KMS cannot rotate HMAC keys
        )
        self.tables = self._key(
            TABLES_KEY,
            "DynamoDB encryption at rest",
            admins.apply(lambda a: tables_key_policy(a, account, region)),
            rotation=True,
        )
        self.secrets = self._key(
            "secrets",
            "SSM SecureString parameters (bank URL)",
            roles.apply(
                lambda r: secrets_key_policy(r["admins"], region, r["roles"], parameter_arn)
            ),
            rotation=True,
        )
        self.alarms = self._key(
            "alarms",
            "encryption of the alarm topic",
            admins.apply(alarms_key_policy),
            rotation=True,
        )
        self.bank_url_parameter = aws.ssm.Parameter(
            f"{name}-bank-url",
            name=self.bank_url_parameter_name,
            type="SecureString",
            key_id=self.secrets.key.arn,
            value=args.bank_url,
            description="Base URL of the bank (read once per function container)",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arns = {k.name: k.key.arn for k in self.all()}
        self.register_outputs(
            {
                "key_arns": self.arns,
                "admin_role_arn": self.admin_role.arn,
                "bank_url_parameter_arn": self.bank_url_parameter.arn,
                "bank_url_parameter_name": self.bank_url_parameter.name,
            }
        )

    def all(self) -> list[_Key]:
        return [self.card_data, self.fingerprint, self.tables, self.secrets, self.alarms]

    def _key(
        self,
        name: str,
        purpose: str,
        policy: pulumi.Output[dict[str, Any]],
        *,
        rotation: bool,
        usage: str = "ENCRYPT_DECRYPT",
        spec: str = "SYMMETRIC_DEFAULT",
    ) -> _Key:
        prefix = self.args.name_prefix
        key = aws.kms.Key(
            f"{self._name}-{name}-key",
            description=f"{prefix}{name}: {purpose}",
            key_usage=usage,
            customer_master_key_spec=spec,
            enable_key_rotation=rotation,
            deletion_window_in_days=self.args.deletion_window_days,
            policy=policy.apply(lambda doc: json.dumps(doc, sort_keys=True)),
            opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
        )
        alias = aws.kms.Alias(
            f"{self._name}-{name}-key-alias",
            name=f"alias/{prefix}{name}",
            target_key_id=key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return _Key(name, key, alias, policy)
