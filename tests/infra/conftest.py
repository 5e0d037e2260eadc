"""The Pulumi program under ``pulumi.runtime.set_mocks`` (no CLI, no AWS).

``build`` runs the real ``pulumi/__main__.py`` with a stack configuration, importing the
real ``chalice_app/app.py``; the mocks record every resource with its inputs resolved, so
tests read plain dicts. An import error of the app fails these tests (it is not skipped).
"""

from __future__ import annotations

import json
import runpy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import pulumi

ROOT = Path(__file__).resolve().parents[2]
PROGRAM_DIR = ROOT / "pulumi"
if str(PROGRAM_DIR) not in sys.path:
    sys.path.insert(0, str(PROGRAM_DIR))

REGION, ACCOUNT = "eu-west-1", "123456789012"
BANK_URL = "https://bank.example.test"
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # pulumi's secret-value signature key
EXISTING_ACCOUNT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/apigateway-cloudwatch-logs"


def _unsecret(value: Any) -> Any:
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return _unsecret(value["value"])
        return {k: _unsecret(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unsecret(v) for v in value]
    return value


class RecordingMocks(pulumi.runtime.Mocks):
    """Gives every resource an id and the ARNs AWS would; remembers what was asked."""

    def __init__(self, account_cloudwatch_role: str = EXISTING_ACCOUNT_ROLE) -> None:
        # What a read of the account-wide API Gateway setting finds ("" = never set).
        self.account_cloudwatch_role = account_cloudwatch_role
        self.resources: list[tuple[str, str, dict[str, Any]]] = []
        self.raw: dict[tuple[str, str], dict[str, Any]] = {}
        self.outputs: dict[str, Any] = {}
        self.options: dict[tuple[str, str], dict[str, bool]] = {}

    def remember_options(self, args: pulumi.ResourceTransformationArgs) -> None:
        """A stack transformation: mocks are not told a resource's options, this is."""
        self.options[(args.type_, args.name)] = {
            "protect": bool(args.opts.protect),
            "retain_on_delete": bool(args.opts.retain_on_delete),
        }

    def was_secret(self, typ: str, name: str, key: str) -> bool:
        raw = self.raw[(typ, name)].get(key)
        return isinstance(raw, dict) and SECRET_SIG in raw

    def options_of(self, typ: str) -> dict[str, dict[str, Any]]:
        """Resource name -> the options (protect, retain_on_delete) it was registered with."""
        return {name: opts for (t, name), opts in self.options.items() if t == typ}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        inputs = _unsecret(dict(args.inputs))
        self.resources.append((args.typ, args.name, inputs))
        self.raw[(args.typ, args.name)] = dict(args.inputs)
        name = inputs.get("name", args.name)
        state = dict(inputs)
        rid = f"{args.name}-id"
        arn = f"arn:aws:{args.typ.split(':')[1].split('/')[0]}:{REGION}:{ACCOUNT}:{args.name}"
        if args.typ == "aws:dynamodb/table:Table":
            arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
            if inputs.get("streamEnabled"):
                state["streamArn"] = f"{arn}/stream/2026-01-01T00:00:00.000"
        elif args.typ == "aws:kms/key:Key":
            rid = f"key-{args.name}"
            arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{rid}"
            state["keyId"] = rid
        elif args.typ == "aws:lambda/function:Function":
            arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
            state["invokeArn"] = (
                f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations"
            )
        elif args.typ == "aws:apigateway/restApi:RestApi":
            rid = "abc123"
            state["executionArn"] = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{rid}"
            state["rootResourceId"] = "root"
        elif args.typ == "aws:apigateway/stage:Stage":
            state["invokeUrl"] = (
                f"https://abc123.execute-api.{REGION}.amazonaws.com/{inputs['stageName']}"
            )
            arn = f"arn:aws:apigateway:{REGION}::/restapis/abc123/stages/{inputs['stageName']}"
        elif args.typ == "aws:apigateway/account:Account" and args.resource_id:
            state["cloudwatchRoleArn"] = self.account_cloudwatch_role
        elif args.typ == "aws:wafv2/webAcl:WebAcl":
            arn = f"arn:aws:wafv2:{REGION}:{ACCOUNT}:regional/webacl/{name}/{args.name}-id"
        elif args.typ == "aws:cloudwatch/logGroup:LogGroup":
            arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}"
        elif args.typ == "aws:iam/role:Role":
            arn = f"arn:aws:iam::{ACCOUNT}:role/{name}"
        elif args.typ == "aws:cloudwatch/eventRule:EventRule":
            arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}"
        elif args.typ == "aws:ssm/parameter:Parameter":
            arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{name}"
        elif args.typ == "aws:sqs/queue:Queue":
            arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        elif args.typ == "aws:sns/topic:Topic":
            arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}"
        state.setdefault("arn", arn)
        state.setdefault("name", name)
        return rid, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/deployer",
                "userId": "AIDEXAMPLE",
                "id": ACCOUNT,
            }
        if args.token == "aws:index/getRegion:getRegion":
            return {
                "name": REGION,
                "region": REGION,
                "id": REGION,
                "endpoint": "",
                "description": "",
            }
        return {}

    def of_type(self, typ: str) -> list[dict[str, Any]]:
        return [inputs for t, _, inputs in self.resources if t == typ]

    def named(self, typ: str, name: str) -> dict[str, Any]:
        (found,) = [inputs for t, n, inputs in self.resources if t == typ and n == name]
        return found


Build = Callable[..., RecordingMocks]


def build_stack(
    package: Path, stack: str = "dev", mocks: RecordingMocks | None = None, **config: str
) -> RecordingMocks:
    """Run ``pulumi/__main__.py`` under mocks with ``payments:<key>`` config values."""
    mocks = mocks or RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="payments", stack=stack, preview=False)
    values = {"bankUrl": BANK_URL, "lambdaPackage": str(package), **config}
    pulumi.runtime.set_all_config({f"payments:{k}": v for k, v in values.items()})
    saved_path = list(sys.path)

    @pulumi.runtime.test
    def run() -> None:
        pulumi.runtime.register_stack_transformation(mocks.remember_options)
        namespace = runpy.run_path(str(PROGRAM_DIR / "__main__.py"), run_name="__main__")
        # Resolve the API body too, so tests can read it from the mocks' records.
        return namespace["api"].openapi.apply(lambda doc: mocks.outputs.update(openapi=doc))

    try:
        run()
    finally:
        pulumi.runtime.set_all_config({})
        sys.path[:] = saved_path
    return mocks


@pytest.fixture(scope="session")
def fake_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty zip: mocks receive the archive by path and never open it."""
    package = tmp_path_factory.mktemp("package") / "deployment.zip"
    package.write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    return package


@pytest.fixture(scope="session")
def build(fake_package: Path) -> Build:
    def run(
        stack: str = "dev", mocks: RecordingMocks | None = None, **config: str
    ) -> RecordingMocks:
        return build_stack(fake_package, stack, mocks, **config)

    return run


@pytest.fixture(scope="session")
def mocks(build: Build) -> RecordingMocks:
    return build()


@pytest.fixture(scope="session")
def openapi(mocks: RecordingMocks) -> dict[str, Any]:
    return mocks.outputs["openapi"]


def role_policy(mocks: RecordingMocks, key: str) -> list[dict[str, Any]]:
    policy = mocks.named("aws:iam/rolePolicy:RolePolicy", f"functions-{key}-policy")["policy"]
    return json.loads(policy)["Statement"]


def key_policy(mocks: RecordingMocks, name: str) -> list[dict[str, Any]]:
    return json.loads(mocks.named("aws:kms/key:Key", f"keys-{name}-key")["policy"])["Statement"]
