"""Checks beyond mocks: what AWS would refuse, caught before a deployment.

Mocks accept any input, so the documents the program generates are validated here with
real tools: every IAM and key policy linted with parliament, the API body validated as
Swagger 2.0, and every physical name checked against AWS's limits for the longest stage
name the program allows.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from chalice import Chalice
from openapi_spec_validator import OpenAPIV2SpecValidator, validate
from parliament import analyze_policy_string

from payments_infra import app_model, naming
from payments_infra.keys import ADMIN_SID
from tests.infra.conftest import Build, RecordingMocks
from tests.infra.test_program import PUBLIC_ROUTES

LONGEST_STAGE = "s" * naming.MAX_STAGE_LENGTH


def _findings(document: str, *, ignore: frozenset[str] = frozenset()) -> list[tuple[str, Any]]:
    analysis = analyze_policy_string(document, include_community_auditors=True)
    return [(f.issue, f.detail) for f in analysis.findings if f.issue not in ignore]


@pytest.fixture(scope="module")
def longest(build: Build) -> RecordingMocks:
    return build(stage=LONGEST_STAGE)


def _colon_free_stream_labels(document: str) -> str:
    """Parliament splits ARNs on ':', so a stream ARN (its label is a time, with colons)
    never matches its format; the same label without colons must (and does)."""
    return re.sub(
        r"(/stream/)([^\"]+)", lambda m: m.group(1) + m.group(2).replace(":", "."), document
    )


# Parliament's bundled IAM reference lists dynamodb:ListStreams with no resource type; AWS's
# own documentation of stream-only access grants it on the stream ARN, as the program does.
LIST_STREAMS_ON_STREAM = (
    "RESOURCE_MISMATCH",
    [{"action": "dynamodb:ListStreams", "required_format": "*"}],
)


def test_parliament_finds_nothing_in_the_iam_policies(mocks: RecordingMocks) -> None:
    policies = mocks.of_type("aws:iam/rolePolicy:RolePolicy")
    # One per function, and the break-glass role's.
    assert len(policies) == len(app_model.FUNCTIONS) + 1
    for policy in policies:
        findings = _findings(_colon_free_stream_labels(policy["policy"]))
        assert [f for f in findings if f != LIST_STREAMS_ON_STREAM] == [], policy["name"]
    # A trust policy is a resource policy: it has a Principal and no Resource.
    no_resource = ("MALFORMED", "Statement contains neither Resource nor NotResource")
    for role in mocks.of_type("aws:iam/role:Role"):
        findings = _findings(role["assumeRolePolicy"])
        assert [f for f in findings if f != no_resource] == [], role["name"]


def test_parliament_finds_nothing_in_the_key_policies_but_what_they_are_for(
    mocks: RecordingMocks,
) -> None:
    # In a key policy, Resource "*" means "this key"; and administering a key is
    # permissions management by nature, which only the administration statement may do
    # (and DynamoDB's grants for its own table, bound to DynamoDB by their conditions).
    for key in mocks.of_type("aws:kms/key:Key"):
        document = json.loads(key["policy"])
        for statement in document["Statement"]:
            ignore = {"RESOURCE_STAR"}
            if statement["Sid"] in (ADMIN_SID, "DynamoDBCreatesItsGrants"):
                ignore.add("PERMISSIONS_MANAGEMENT_ACTIONS")
            single = json.dumps({**document, "Statement": [statement]})
            assert _findings(single, ignore=frozenset(ignore)) == [], statement["Sid"]


@pytest.mark.parametrize(
    ("action", "resource", "issue"),
    [
        ("dynamodb:GetItem", "arn:aws:kms:eu-west-1:123456789012:key/abc", "RESOURCE_MISMATCH"),
        ("kms:Decrypts", "arn:aws:kms:eu-west-1:123456789012:key/abc", "UNKNOWN_ACTION"),
        ("kms:Decrypt", "*", "RESOURCE_STAR"),
    ],
)
def test_parliament_would_catch_a_broken_grant(action: str, resource: str, issue: str) -> None:
    broken = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": [action], "Resource": resource}],
    }
    assert issue in {found for found, _ in _findings(json.dumps(broken))}


def test_parliament_finds_nothing_in_the_resource_policies(mocks: RecordingMocks) -> None:
    """The audit log's and the alarm topic's: statements with a Principal."""
    documents = [p["policy"] for p in mocks.of_type("aws:dynamodb/resourcePolicy:ResourcePolicy")]
    documents += [p["policy"] for p in mocks.of_type("aws:sns/topicPolicy:TopicPolicy")]
    assert len(documents) == 2
    for document in documents:
        assert _findings(document) == [], document


def test_the_api_body_is_valid_swagger_2(openapi: dict[str, Any]) -> None:
    validate(openapi, cls=OpenAPIV2SpecValidator)
    assert openapi["swagger"] == "2.0"


def test_every_integration_points_at_its_own_functions_invoke_arn(
    openapi: dict[str, Any], mocks: RecordingMocks
) -> None:
    invoke_arns = {
        f["name"]: (
            f"arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/"
            f"arn:aws:lambda:eu-west-1:123456789012:function:{f['name']}/invocations"
        )
        for f in mocks.of_type("aws:lambda/function:Function")
    }
    routes = app_model.route_table(app_model.load_chalice_app())
    for path, methods in openapi["paths"].items():
        for method, operation in methods.items():
            integration = operation["x-amazon-apigateway-integration"]
            key = routes[(method.upper(), path)]
            assert integration["uri"] == invoke_arns[f"payments-dev-{key}"]
            assert (integration["type"], integration["httpMethod"]) == ("aws_proxy", "POST")
            if (method.upper(), path) not in PUBLIC_ROUTES:  # the routes without a key
                assert {"api_key_authorizer": []} in operation["security"]


def test_names_fit_aws_limits_for_the_longest_stage(longest: RecordingMocks) -> None:
    checked = 0
    for typ, _, inputs in longest.resources:
        if typ not in naming.NAME_LIMITS:
            continue
        prop, limit, pattern = naming.NAME_LIMITS[typ]
        name = inputs[prop]
        assert len(name) <= limit, (typ, name)
        assert re.fullmatch(pattern, name), (typ, name)
        checked += 1
    # Every named resource type of the program is covered by a limit.
    named_types = {t for t, _, i in longest.resources if t.startswith("aws:") and "name" in i}
    assert named_types <= set(naming.NAME_LIMITS) | {
        "aws:lambda/permission:Permission",
        "aws:cloudwatch/eventTarget:EventTarget",
    }
    assert {"aws:wafv2/webAcl:WebAcl", "aws:cloudwatch/logMetricFilter:LogMetricFilter"} <= (
        named_types
    )
    assert checked >= 40
    functions = [i["name"] for t, _, i in longest.resources if t == "aws:lambda/function:Function"]
    assert all(LONGEST_STAGE in name for name in functions)


def test_route_table_refuses_an_unmapped_route() -> None:
    app = Chalice(app_name="payments")

    @app.route("/charges", methods=["GET"])
    def listing() -> dict[str, Any]:
        return {}

    @app.route("/disputes", methods=["GET"])
    def disputes() -> dict[str, Any]:
        return {}

    with pytest.raises(LookupError, match=r"\('GET', '/disputes'\)"):
        app_model.route_table(app)


def test_route_table_refuses_a_route_served_twice() -> None:
    app = Chalice(app_name="payments")

    @app.route("/charges", methods=["GET"])
    def listing() -> dict[str, Any]:
        return {}

    twice = (
        app_model.FunctionSpec("reads", "", 128, 3, "", routes=(("GET", "/charges"),)),
        app_model.FunctionSpec("other", "", 128, 3, "", routes=(("GET", "/charges"),)),
    )
    with pytest.raises(ValueError, match="served by both reads and other"):
        app_model.route_table(app, twice)


def test_route_table_maps_exactly_the_real_apps_routes() -> None:
    app = app_model.load_chalice_app()
    table = app_model.route_table(app)
    assert set(table) == app_model.app_routes(app)
    assert set(table.values()) == {s.key for s in app_model.FUNCTIONS if s.serves_api}
