"""The public contract (docs/openapi.json) and the docs' generated tables come from the
code; they must not drift, and the README points only at files of this repository."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from chalicelib.errors import CATALOGUE
from payments_admin import api_docs

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted(
    [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), ROOT / "mountebank" / "README.md"]
)
README_MAX_LINES = 200


def test_generated_tables_match_the_code() -> None:
    text = api_docs.API_GUIDE_PATH.read_text()
    assert "<!-- error-codes:start -->" in text and "<!-- test-cards:start -->" in text
    assert text == api_docs.render(text), "run: .venv/bin/python -m payments_admin.api_docs"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_generated_table_is_written_once(path: Path) -> None:
    if path != api_docs.API_GUIDE_PATH:
        assert "<!-- error-codes:start -->" not in path.read_text()
        assert "<!-- test-cards:start -->" not in path.read_text()


def test_readme_stays_short() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= README_MAX_LINES


# Code, comments and docs say what is; how it got there belongs in commit messages.
HISTORY = re.compile(r"\bissues? #?\d+|\bbefore: (?!str\b)|\bthe old design\b", re.IGNORECASE)


def test_code_and_docs_describe_what_is_not_its_history() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    offenders = []
    for name in tracked:
        if Path(name).suffix not in {".py", ".md", ".js", ".html", ".toml", ".yaml"}:
            continue
        for number, line in enumerate((ROOT / name).read_text().splitlines(), 1):
            if HISTORY.search(line):
                offenders.append(f"{name}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_committed_openapi_document_is_current() -> None:
    committed = api_docs.OPENAPI_PATH.read_text()
    assert committed == api_docs.openapi_text(), (
        "docs/openapi.json is stale: run .venv/bin/python -m payments_admin.api_docs"
    )


def test_openapi_document_validates() -> None:
    validate(json.loads(api_docs.openapi_text()))


def test_every_route_answers_its_codes_with_the_catalogue_status() -> None:
    document = json.loads(api_docs.openapi_text())
    seen = set()
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for status, response in operation["responses"].items():
                for code in response.get("x-error-codes", []):
                    assert CATALOGUE[code].status == int(status), (method, path, code)
                    seen.add(code)
                if int(status) >= 400:
                    assert response["x-error-codes"], (method, path, status)
    assert {"card_declined", "idempotency_key_reused", "refund_failed"} <= seen


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def test_every_answer_references_one_shared_envelope() -> None:
    """A generated client gets one error type and one envelope type per object, not one
    class per route and status: every response's body is a reference to a component."""
    document = json.loads(api_docs.openapi_text())
    schemas = document["components"]["schemas"]
    envelope_refs = set()
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            if path == "/openapi.json" and status == "200":
                continue  # the document itself: any JSON object
            schema = response["content"]["application/json"]["schema"]
            assert set(schema) == {"$ref"}, (method, path, status)
            name = schema["$ref"].removeprefix("#/components/schemas/")
            if int(status) >= 400:
                assert name == "ErrorEnvelope", (method, path, status)
            else:
                assert name.endswith("Envelope") and name != "ErrorEnvelope", (method, path)
                data = schemas[name]["properties"]["data"]["$ref"]
                assert name == data.removeprefix("#/components/schemas/") + "Envelope"
            envelope_refs.add(name)
    assert schemas["ErrorEnvelope"]["properties"]["error"] == {"$ref": "#/components/schemas/Error"}
    assert envelope_refs == {name for name in schemas if name.endswith("Envelope")}


def test_the_document_is_ready_for_generators_and_linters() -> None:
    document = json.loads(api_docs.openapi_text())
    assert document["info"]["contact"]["name"]
    assert any(s["url"].startswith("http://127.0.0.1:") for s in document["servers"])
    declared = {tag["name"] for tag in document["tags"]}
    assert all(tag["description"] for tag in document["tags"])
    used = set()
    for method, path, operation in _operations(document):
        assert operation["summary"] and operation["description"], (method, path)
        assert len(operation["tags"]) == 1 and operation["tags"][0] in declared, (method, path)
        used.add(operation["tags"][0])
    assert used == declared


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_link_only_to_files_in_the_repository(path: Path) -> None:
    for target in re.findall(r"\]\(([^)#\s]+)", path.read_text()):
        if re.match(r"[a-z]+://", target):
            continue  # a public web page, not a file
        resolved = (path.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{path.name} links outside the repo: {target}"
        assert resolved.exists(), f"{path.name} links to a missing file: {target}"
