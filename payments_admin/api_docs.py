"""The API document and the generated parts of the docs, from the code (the one source).

``python -m payments_admin.api_docs`` rewrites docs/openapi.json and the generated tables
of docs/api.md; tests fail when a committed copy is stale.
"""

from __future__ import annotations

import sys

from payments_admin import doc_blocks
from payments_admin.error_docs import markdown_table as error_table
from payments_admin.stack import APP_DIR, ROOT

OPENAPI_PATH = ROOT / "docs" / "openapi.json"
API_GUIDE_PATH = ROOT / "docs" / "api.md"


def openapi_text() -> str:
    """docs/openapi.json as the code generates it (the same text GET /openapi.json serves)."""
    if str(APP_DIR) not in sys.path:
        sys.path.insert(0, str(APP_DIR))
    import app  # noqa: F401 - registers the routes
    from chalicelib.web.openapi import document_text

    return document_text()


def test_cards_table() -> str:
    from chalicelib.web.openapi import TEST_CARDS

    rows = ["| card number | brand | charge | refund |", "| --- | --- | --- | --- |"]
    rows += [f"| {n} | {brand} | {charge} | {refund} |" for n, brand, charge, refund in TEST_CARDS]
    return "\n".join(rows)


GENERATED = {"error-codes": error_table, "test-cards": test_cards_table}


def render(text: str) -> str:
    """``text`` with every generated block it holds rewritten from the code."""
    return doc_blocks.fill(text, {name: make() for name, make in GENERATED.items()})


def main() -> int:
    OPENAPI_PATH.parent.mkdir(exist_ok=True)
    OPENAPI_PATH.write_text(openapi_text())
    API_GUIDE_PATH.write_text(render(API_GUIDE_PATH.read_text()))
    print(f"wrote {OPENAPI_PATH.relative_to(ROOT)}, {API_GUIDE_PATH.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
