"""The public contract (docs/openapi.json) and the docs' generated tables come from the
code; they must not drift, and the README points only at files of this repository."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

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
                schema = response["content"]["application/json"]["schema"]
                error = schema.get("properties", {}).get("error", {})
                for code in error.get("properties", {}).get("code", {}).get("enum", []):
                    assert CATALOGUE[code].status == int(status), (method, path, code)
                    seen.add(code)
    assert {"card_declined", "idempotency_key_reused", "refund_failed"} <= seen


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_link_only_to_files_in_the_repository(path: Path) -> None:
    for target in re.findall(r"\]\(([^)#\s]+)", path.read_text()):
        if re.match(r"[a-z]+://", target):
            continue  # a public web page, not a file
        resolved = (path.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{path.name} links outside the repo: {target}"
        assert resolved.exists(), f"{path.name} links to a missing file: {target}"
