"""The real ``make package`` artifact, built once per session and inspected.

Built exactly as a deployment builds it, then: its size, that no development or
runtime-provided dependency is bundled, and that it imports and serves on its own with
only what the Lambda runtime adds (boto3/botocore), every Pulumi handler resolving.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from payments_infra import app_model
from tests.infra.conftest import ROOT

MAX_BYTES = 10 * 1000 * 1000
# Provided by the Lambda python3.11 runtime, so never bundled.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six")
DEV_ONLY = (
    "moto",
    "pytest",
    "_pytest",
    "hypothesis",
    "pulumi",
    "pulumi_aws",
    "ruff",
    "werkzeug",
    "flask",
    "parliament",
    "openapi_spec_validator",
    "payments_admin",
    "tests",
    "mountebank",
    "pip",
    "setuptools",
)


@pytest.fixture(scope="session")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("package")
    result = subprocess.run(
        ["make", "-s", "package", f"PACKAGE_DIR={out}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out / "deployment.zip"


@pytest.fixture(scope="session")
def names(package: Path) -> set[str]:
    with zipfile.ZipFile(package) as archive:
        return set(archive.namelist())


def _top_level(names: set[str]) -> set[str]:
    return {name.split("/")[0].removesuffix(".py") for name in names}


def test_artifact_is_at_most_10_mb(package: Path) -> None:
    assert package.stat().st_size <= MAX_BYTES, f"{package.stat().st_size / 1e6:.1f} MB"


def test_no_runtime_provided_or_development_dependency(names: set[str]) -> None:
    top = _top_level(names)
    assert not top & set(RUNTIME_PROVIDED), top & set(RUNTIME_PROVIDED)
    assert not top & set(DEV_ONLY), top & set(DEV_ONLY)
    assert not any(n.endswith(".dist-info/") and n.startswith(RUNTIME_PROVIDED) for n in names)


def test_app_and_its_code_are_bundled(names: set[str]) -> None:
    assert "app.py" in names
    source = ROOT / "chalice_app" / "chalicelib"
    expected = {
        "chalicelib/" + str(path.relative_to(source))
        for path in source.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert expected <= names
    # The browser checkout's files, served by the token function.
    assert {"chalicelib/static/payments.js", "chalicelib/static/card.html"} <= names


def test_native_code_matches_the_functions_architecture(names: set[str]) -> None:
    native = [n for n in names if n.endswith(".so")]
    assert native, "cryptography and pydantic-core ship native code"
    assert app_model.ARCHITECTURE == "x86_64"
    assert all("aarch64" not in n and "arm64" not in n for n in native)
    assert any("x86_64" in n for n in native)


def _runtime_dir(tmp_path: Path) -> Path:
    """What the Lambda runtime adds to the artifact: the AWS SDK (from this venv)."""
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    import boto3

    site = Path(boto3.__file__).parent.parent
    for name in RUNTIME_PROVIDED:
        for candidate in (site / name, site / f"{name}.py"):
            if candidate.exists():
                (runtime / candidate.name).symlink_to(candidate)
    return runtime


PROBE = """
import importlib, json, sys
handlers = json.loads(sys.argv[1])
module = importlib.import_module("app")
missing = [h for h in handlers if not callable(getattr(module, h.split(".", 1)[1], None))]
event = {"resource": "/health", "path": "/health", "httpMethod": "GET", "headers": {},
         "multiValueHeaders": {}, "queryStringParameters": None,
         "multiValueQueryStringParameters": None, "pathParameters": None,
         "stageVariables": None, "body": None, "isBase64Encoded": False,
         "requestContext": {"resourcePath": "/health", "httpMethod": "GET", "stage": "api",
                            "requestId": "probe", "identity": {"sourceIp": "127.0.0.1"}}}
response = module.app(event, None)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in {"moto", "pytest", "pulumi"})
print(json.dumps({"missing": missing, "status": response["statusCode"],
                  "body": json.loads(response["body"]), "leaked": leaked}))
"""


def test_artifact_imports_and_serves_with_only_the_runtime_sdk(
    package: Path, tmp_path: Path
) -> None:
    code = tmp_path / "task"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(code)
    app = app_model.load_chalice_app()
    handlers = sorted({app_model.handler_of(app, spec) for spec in app_model.FUNCTIONS})
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": f"{code}{os.pathsep}{_runtime_dir(tmp_path)}",
        "PAYMENTS_STAGE": "dev",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    # -S: no site-packages, so nothing of this venv is importable but the SDK above.
    result = subprocess.run(
        [sys.executable, "-S", "-c", PROBE, json.dumps(handlers)],
        cwd=code,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["missing"] == []
    assert (report["status"], report["body"]["data"]) == (200, {"status": "ok"})
    assert report["leaked"] == []
    assert set(handlers) == {
        "app.app",
        "app.api_key_authorizer",
        "app.reconcile_pending",
        "app.deliver_events",
        "app.redrive_deliveries",
    }


# Libraries whose internals the program, the artifact or the local tools use.
PINNED = ("chalice", "moto", "werkzeug", "pulumi")


def _dependencies() -> list[str]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["dev"]]


def test_libraries_whose_internals_we_use_are_pinned_to_the_tested_version() -> None:
    from importlib.metadata import version

    for name in PINNED:
        (spec,) = [d for d in _dependencies() if re.split(r"[=<>\[ ]", d)[0].lower() == name]
        pinned = spec.split("==")[1].split()[0] if "==" in spec else None
        assert pinned == version(name), (name, spec)


def test_the_artifacts_chalice_runtime_is_the_pinned_version(package: Path) -> None:
    with zipfile.ZipFile(package) as archive:
        source = archive.read("chalice/app.py").decode()
    (bundled,) = re.findall(r"^__version__: str = '([^']+)'", source, re.MULTILINE)
    (spec,) = [d for d in _dependencies() if d.startswith("chalice==")]
    assert bundled == spec.removeprefix("chalice==")


def test_requirements_mirror_pyproject_but_the_runtime_sdk() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    bundled = {
        line.strip()
        for line in (ROOT / "chalice_app" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    # chalice's runtime module is added by `chalice package` itself.
    expected = {d for d in project["dependencies"] if not d.startswith(("boto3", "chalice"))}
    assert bundled == expected
    assert any(d.startswith("boto3>=") for d in project["dependencies"])
