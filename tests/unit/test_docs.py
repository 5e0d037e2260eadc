"""The public contract (docs/openapi.json) and the docs' generated tables come from the
code; they must not drift, and the README points only at files of this repository."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from chalicelib.errors import CATALOGUE
from payments_admin import api_docs

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "docs" / "api.md"]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_generated_tables_match_the_code(path: Path) -> None:
    text = path.read_text()
    assert "<!-- error-codes:start -->" in text or "<!-- test-cards:start -->" in text
    assert text == api_docs.render(text), "run: .venv/bin/python -m payments_admin.api_docs"


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
                schema = response["content"]["application/json"]["schema"]
                error = schema.get("properties", {}).get("error", {})
                for code in error.get("properties", {}).get("code", {}).get("enum", []):
                    assert CATALOGUE[code].status == int(status), (method, path, code)
                    seen.add(code)
    assert {"card_declined", "idempotency_key_reused", "refund_failed"} <= seen


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_docs_link_only_to_files_in_the_repository(path: Path) -> None:
    for target in re.findall(r"\]\(([^)#\s]+)", path.read_text()):
        if re.match(r"[a-z]+://", target):
            continue  # a public web page, not a file
        resolved = (path.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{path.name} links outside the repo: {target}"
        assert resolved.exists(), f"{path.name} links to a missing file: {target}"
