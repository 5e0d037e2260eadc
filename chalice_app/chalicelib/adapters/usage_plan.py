"""API Gateway: each merchant's usage-plan key, for the deployed per-merchant rate limits.

Deployed, the REST API takes API keys from the authorizer, which names the merchant's
usage identifier; API Gateway answers 403 unless an enabled API key with that value is in
the stack's usage plan. Only operators call this (``payments-admin``), never a function.

Every call is safe to repeat: a key is looked up by its value before it is created, and a
conflict (another operator, or a key created under another name) is resolved by reading
what exists, so re-running attaches what is missing and creates nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_apigateway.type_defs import GetApiKeysRequestPaginateTypeDef


@dataclass(frozen=True)
class PlanKey:
    """Where one usage identifier stands after an attach."""

    value: str
    api_key_id: str
    key_created: bool  # the API key did not exist before
    attached: bool  # the key was added to the usage plan now (False: it already was)
    enabled: bool  # a disabled key (an operator's doing; left so) still gets 403


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayKey:
    """An API Gateway API key, as far as the usage plan is concerned."""

    id: str
    value: str
    enabled: bool

    @classmethod
    def of(cls, answer: Mapping[str, object]) -> GatewayKey:
        """From API Gateway's answer (GetApiKeys item or CreateApiKey response)."""
        return cls(
            id=str(answer["id"]),
            value=str(answer.get("value", "")),
            enabled=bool(answer.get("enabled", True)),
        )


class UsagePlanKeys:
    """API keys named and valued by a usage identifier, in one usage plan."""

    def __init__(self, client: APIGatewayClient, usage_plan_id: str) -> None:
        self._client = client
        self._plan = usage_plan_id

    def attach(self, value: str) -> PlanKey:
        """Ensure an API key of this value exists and is in the plan (one identifier)."""
        key, created = self._find(value, by_name=True), False
        if key is None:
            key, created = self._create(value)
        in_plan = self._in_plan(key.id)
        return self._result(value, key, created, not in_plan and self._add_to_plan(key.id))

    def attach_all(self, values: Iterable[str]) -> list[PlanKey]:
        """``attach`` for many identifiers: two listings, then only the missing writes."""
        keys = {key.value: key for key in self._keys()}
        in_plan = self._plan_key_ids()
        results = []
        for value in values:
            key, created = keys.get(value), False
            if key is None:
                key, created = self._create(value)
            attached = key.id not in in_plan and self._add_to_plan(key.id)
            results.append(self._result(value, key, created, attached))
        return results

    # ---- API Gateway calls ---------------------------------------------------------------

    def _keys(self, name: str | None = None) -> Iterable[GatewayKey]:
        params: GetApiKeysRequestPaginateTypeDef = {"includeValues": True}
        if name is not None:
            params["nameQuery"] = name
        for page in self._client.get_paginator("get_api_keys").paginate(**params):
            yield from (GatewayKey.of(item) for item in page.get("items", []))

    def _find(self, value: str, *, by_name: bool) -> GatewayKey | None:
        """The API key whose value is ``value``; ``by_name`` narrows the listing first."""
        name = value if by_name else None
        return next((key for key in self._keys(name) if key.value == value), None)

    def _create(self, value: str) -> tuple[GatewayKey, bool]:
        """A new enabled key named and valued ``value``, or the one that already has it."""
        try:
            key = self._client.create_api_key(
                name=value,
                value=value,
                enabled=True,
                description="Usage identifier of a merchant (per-merchant rate limits)",
            )
            return GatewayKey.of(key), True
        except self._client.exceptions.ConflictException:
            # Values are unique: created meanwhile, or earlier under another name.
            existing = self._find(value, by_name=True) or self._find(value, by_name=False)
            if existing is None:
                raise
            return existing, False

    def _plan_key_ids(self) -> set[str]:
        pages = self._client.get_paginator("get_usage_plan_keys").paginate(usagePlanId=self._plan)
        return {key["id"] for page in pages for key in page.get("items", [])}

    def _in_plan(self, key_id: str) -> bool:
        try:
            self._client.get_usage_plan_key(usagePlanId=self._plan, keyId=key_id)
        except self._client.exceptions.NotFoundException:
            return False
        return True

    def _add_to_plan(self, key_id: str) -> bool:
        """Add the key to the plan; False if it was there already (added meanwhile)."""
        try:
            self._client.create_usage_plan_key(
                usagePlanId=self._plan, keyId=key_id, keyType="API_KEY"
            )
        except self._client.exceptions.ConflictException:
            return False
        return True

    @staticmethod
    def _result(value: str, key: GatewayKey, created: bool, attached: bool) -> PlanKey:
        return PlanKey(value, key.id, created, attached, key.enabled)
