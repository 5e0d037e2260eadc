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

import pulumi

from . import app_model
from .api import TOKEN_ROUTE

RATE_LIMITED_BODY = "rate_limited"
# Rate-based rules count over this window (WAF's default, in seconds); WAF re-evaluates an
# address about once a minute, so a blocked client may try again after that.
RATE_WINDOW_SECONDS = 300
RETRY_AFTER_SECONDS = 60
# AWS managed rule groups: (priority, name). Requests failing them are blocked (403).
MANAGED_RULE_GROUPS = (
    (0, "AWSManagedRulesAmazonIpReputationList"),
    (3, "AWSManagedRulesCommonRuleSet"),
)
# The common rule set blocks bodies over 8 KB; the API accepts up to 64 KiB and answers
# 413 ``request_too_large`` itself past that, so that rule only counts.
COUNTED_COMMON_RULES = ("SizeRestrictions_BODY",)


@dataclass
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
    spec = app_model.errors.CATALOGUE["rate_limited"]
    return json.dumps({"error": {"type": spec.type, "code": spec.code, "message": spec.message}})


class Firewall(pulumi.ComponentResource):
    """A regional web ACL associated with the API stage."""

    def __init__(
        self, name: str, args: FirewallArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("payments:platform:Firewall", name, None, opts)
        block_429 = aws.wafv2.WebAclRuleActionArgs(
            block=aws.wafv2.WebAclRuleActionBlockArgs(
                custom_response=aws.wafv2.WebAclRuleActionBlockCustomResponseArgs(
                    response_code=429,
                    custom_response_body_key=RATE_LIMITED_BODY,
                    response_headers=[
                        aws.wafv2.WebAclRuleActionBlockCustomResponseResponseHeaderArgs(
                            name="Retry-After", value=str(RETRY_AFTER_SECONDS)
                        )
                    ],
                )
            )
        )
        _, token_path = TOKEN_ROUTE
        rules: list[tuple[int, aws.wafv2.WebAclRuleArgs]] = [
            (
                1,
                aws.wafv2.WebAclRuleArgs(
                    name="token-per-ip",
                    priority=1,
                    action=block_429,
                    statement=aws.wafv2.WebAclRuleStatementArgs(
                        rate_based_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
                            limit=args.token_rate_limit,
                            aggregate_key_type="IP",
                            evaluation_window_sec=RATE_WINDOW_SECONDS,
                            scope_down_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementArgs(
                                byte_match_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementByteMatchStatementArgs(
                                    # The stage name (or nothing, on a custom domain) comes first.
                                    positional_constraint="ENDS_WITH",
                                    search_string=token_path,
                                    field_to_match=aws.wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementByteMatchStatementFieldToMatchArgs(
                                        uri_path=aws.wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementByteMatchStatementFieldToMatchUriPathArgs()
                                    ),
                                    text_transformations=[
                                        aws.wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementByteMatchStatementTextTransformationArgs(
                                            priority=0, type="LOWERCASE"
                                        )
                                    ],
                                )
                            ),
                        )
                    ),
                    visibility_config=_rule_visibility(f"{args.name_prefix}token-per-ip"),
                ),
            ),
            (
                2,
                aws.wafv2.WebAclRuleArgs(
                    name="per-ip",
                    priority=2,
                    action=block_429,
                    statement=aws.wafv2.WebAclRuleStatementArgs(
                        rate_based_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
                            limit=args.rate_limit,
                            aggregate_key_type="IP",
                            evaluation_window_sec=RATE_WINDOW_SECONDS,
                        )
                    ),
                    visibility_config=_rule_visibility(f"{args.name_prefix}per-ip"),
                ),
            ),
        ]
        for priority, group in MANAGED_RULE_GROUPS:
            overrides = [
                aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideArgs(
                    name=rule,
                    action_to_use=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseArgs(
                        count=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseCountArgs()
                    ),
                )
                for rule in (
                    COUNTED_COMMON_RULES if group == "AWSManagedRulesCommonRuleSet" else ()
                )
            ]
            rules.append(
                (
                    priority,
                    aws.wafv2.WebAclRuleArgs(
                        name=group,
                        priority=priority,
                        override_action=aws.wafv2.WebAclRuleOverrideActionArgs(
                            none=aws.wafv2.WebAclRuleOverrideActionNoneArgs()
                        ),
                        statement=aws.wafv2.WebAclRuleStatementArgs(
                            managed_rule_group_statement=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs(
                                vendor_name="AWS",
                                name=group,
                                rule_action_overrides=overrides or None,
                            )
                        ),
                        visibility_config=_rule_visibility(f"{args.name_prefix}{group}"),
                    ),
                )
            )
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
            rules=[rule for _, rule in sorted(rules, key=lambda entry: entry[0])],
            visibility_config=_visibility(f"{args.name_prefix}api"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.association = aws.wafv2.WebAclAssociation(
            f"{name}-association",
            resource_arn=args.stage_arn,
            web_acl_arn=self.web_acl.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"web_acl_arn": self.web_acl.arn})
