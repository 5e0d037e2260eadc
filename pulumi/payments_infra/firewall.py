"""The WAF web ACL in front of the API stage: per-client-address limits before the authorizer.

The stage throttle and the usage plan are shared budgets: the stage's by everyone, a
merchant's by everyone holding its publishable key. Both are spent before (stage) or
regardless of (garbage keys) authentication, so a flood from a few addresses could get
every merchant 429s. WAF evaluates each request first, per client IP:

* AWS's IP-reputation list (known bots, scanners, DDoS sources) and common rule set;
* a per-IP rate limit on every route, high enough for one merchant's server at its whole
  usage-plan rate;
* a tighter per-IP rate limit on ``POST /token``: a browser checkout tokenizes a few cards,
  a card tester thousands.

Blocked by a rate rule: 429 ``rate_limited`` in the API's envelope, with ``Retry-After``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi_aws as aws

# pulumi_aws spells out every level of a rate rule's scope-down byte match in its class names.
from pulumi_aws.wafv2 import (
    WebAclRuleStatementRateBasedStatementScopeDownStatementByteMatchStatementArgs as ByteMatch,
)
from pulumi_aws.wafv2 import (
    WebAclRuleStatementRateBasedStatementScopeDownStatementByteMatchStatementFieldToMatchArgs as FieldToMatch,  # noqa: E501
)
from pulumi_aws.wafv2 import (
    WebAclRuleStatementRateBasedStatementScopeDownStatementByteMatchStatementFieldToMatchUriPathArgs as UriPath,  # noqa: E501
)
from pulumi_aws.wafv2 import (
    WebAclRuleStatementRateBasedStatementScopeDownStatementByteMatchStatementTextTransformationArgs as TextTransformation,  # noqa: E501
)

import pulumi
from chalicelib import errors

from .api import TOKEN_ROUTE

waf = aws.wafv2

RATE_LIMITED_BODY = "rate_limited"
# Rate-based rules count over this window (WAF's default, in seconds); WAF re-evaluates an
# address about once a minute, so a blocked client may try again after that.
RATE_WINDOW_SECONDS = 300
RETRY_AFTER_SECONDS = 60
# AWS managed rule groups; requests failing them are blocked (403).
IP_REPUTATION = "AWSManagedRulesAmazonIpReputationList"
COMMON_RULES = "AWSManagedRulesCommonRuleSet"
# The common rule set blocks bodies over 8 KB; the API accepts up to 64 KiB and answers
# 413 ``request_too_large`` itself past that, so that rule only counts.
COUNTED_COMMON_RULES = ("SizeRestrictions_BODY",)


@dataclass(frozen=True)
class FirewallArgs:
    name_prefix: str
    stage_arn: pulumi.Input[str]
    rate_limit: int  # requests per client IP and 5 minutes, every route
    token_rate_limit: int  # the same, POST /token only


def _visibility(metric: str) -> aws.wafv2.WebAclVisibilityConfigArgs:
    return aws.wafv2.WebAclVisibilityConfigArgs(
        cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
    )


def _rule_visibility(metric: str) -> aws.wafv2.WebAclRuleVisibilityConfigArgs:
    return aws.wafv2.WebAclRuleVisibilityConfigArgs(
        cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
    )


def rate_limited_body() -> str:
    """The API's 429 envelope (``chalicelib.errors``), as WAF sends it."""
    spec = errors.CATALOGUE["rate_limited"]
    return json.dumps({"error": {"type": spec.type, "code": spec.code, "message": spec.message}})


def _rate_rule(
    name: str,
    priority: int,
    limit: int,
    action: aws.wafv2.WebAclRuleActionArgs,
    metric: str,
    path_suffix: str | None = None,
) -> aws.wafv2.WebAclRuleArgs:
    """Block an address past ``limit`` requests per window (to paths ending so, if given)."""
    scope_down = None
    if path_suffix:
        scope_down = waf.WebAclRuleStatementRateBasedStatementScopeDownStatementArgs(
            byte_match_statement=ByteMatch(
                # The stage name (or nothing, on a custom domain) comes first.
                positional_constraint="ENDS_WITH",
                search_string=path_suffix,
                # The generated class of an empty block has an unannotated __init__.
                field_to_match=FieldToMatch(uri_path=UriPath()),  # type: ignore[no-untyped-call]
                text_transformations=[TextTransformation(priority=0, type="LOWERCASE")],
            )
        )
    return waf.WebAclRuleArgs(
        name=name,
        priority=priority,
        action=action,
        statement=waf.WebAclRuleStatementArgs(
            rate_based_statement=waf.WebAclRuleStatementRateBasedStatementArgs(
                limit=limit,
                aggregate_key_type="IP",
                evaluation_window_sec=RATE_WINDOW_SECONDS,
                scope_down_statement=scope_down,
            )
        ),
        visibility_config=_rule_visibility(metric),
    )


def _managed_rule(priority: int, group: str, metric: str) -> aws.wafv2.WebAclRuleArgs:
    """One of AWS's managed rule groups, its own actions kept (but ``COUNTED_COMMON_RULES``)."""
    override = waf.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideArgs
    use = waf.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseArgs
    count = waf.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseCountArgs
    counted = COUNTED_COMMON_RULES if group == COMMON_RULES else ()
    return waf.WebAclRuleArgs(
        name=group,
        priority=priority,
        override_action=waf.WebAclRuleOverrideActionArgs(
            # The generated class of an empty block has an unannotated __init__.
            none=waf.WebAclRuleOverrideActionNoneArgs()  # type: ignore[no-untyped-call]
        ),
        statement=waf.WebAclRuleStatementArgs(
            managed_rule_group_statement=waf.WebAclRuleStatementManagedRuleGroupStatementArgs(
                vendor_name="AWS",
                name=group,
                rule_action_overrides=[
                    override(name=rule, action_to_use=use(count=count())) for rule in counted
                ]
                or None,
            )
        ),
        visibility_config=_rule_visibility(metric),
    )


class Firewall(pulumi.ComponentResource):
    """A regional web ACL associated with the API stage."""

    web_acl: aws.wafv2.WebAcl
    association: aws.wafv2.WebAclAssociation

    def __init__(
        self, name: str, args: FirewallArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("payments:platform:Firewall", name, None, opts)
        prefix = args.name_prefix
        block_429 = waf.WebAclRuleActionArgs(
            block=waf.WebAclRuleActionBlockArgs(
                custom_response=waf.WebAclRuleActionBlockCustomResponseArgs(
                    response_code=429,
                    custom_response_body_key=RATE_LIMITED_BODY,
                    response_headers=[
                        waf.WebAclRuleActionBlockCustomResponseResponseHeaderArgs(
                            name="Retry-After", value=str(RETRY_AFTER_SECONDS)
                        )
                    ],
                )
            )
        )
        _, token_path = TOKEN_ROUTE
        # Lowest priority first: known-bad addresses, then the rate limits, then the
        # common rules (the costliest to evaluate).
        rules = [
            _managed_rule(0, IP_REPUTATION, f"{prefix}{IP_REPUTATION}"),
            _rate_rule(
                "token-per-ip",
                1,
                args.token_rate_limit,
                block_429,
                f"{prefix}token-per-ip",
                path_suffix=token_path,
            ),
            _rate_rule("per-ip", 2, args.rate_limit, block_429, f"{prefix}per-ip"),
            _managed_rule(3, COMMON_RULES, f"{prefix}{COMMON_RULES}"),
        ]
        self.web_acl = aws.wafv2.WebAcl(
            f"{name}-web-acl",
            name=f"{args.name_prefix}api",
            description="Per-IP limits and AWS managed rules in front of the payment API",
            scope="REGIONAL",
            default_action=aws.wafv2.WebAclDefaultActionArgs(
                allow=aws.wafv2.WebAclDefaultActionAllowArgs()
            ),
            custom_response_bodies=[
                aws.wafv2.WebAclCustomResponseBodyArgs(
                    key=RATE_LIMITED_BODY,
                    content=rate_limited_body(),
                    content_type="APPLICATION_JSON",
                )
            ],
            rules=rules,
            visibility_config=_visibility(f"{args.name_prefix}api"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.association = aws.wafv2.WebAclAssociation(
            f"{name}-association",
            resource_arn=args.stage_arn,
            web_acl_arn=self.web_acl.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(
            {"web_acl_arn": self.web_acl.arn, "association_id": self.association.id}
        )
