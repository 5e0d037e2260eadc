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


def client_timing_table() -> str:
    """The client timeout and polling interval the guide recommends, from the platform's
    own timeouts (``chalicelib.settings`` defaults), so the advice cannot drift from them."""
    from chalicelib import settings
    from chalicelib.web.pipeline import RETRY_IN_PROGRESS_AFTER_SECONDS
    from payments_admin.stack import RECONCILE_EVERY_SECONDS

    function = settings.DEFAULT_FUNCTION_TIMEOUT_SECONDS
    bank = (
        settings.DEFAULT_BANK_CONNECT_TIMEOUT_SECONDS + settings.DEFAULT_BANK_READ_TIMEOUT_SECONDS
    )
    # A margin past the longest a request can run: a client that gives up earlier only
    # turns an answer it would have had into a retry.
    client_timeout = function + 5
    # A GET of a pending charge asks the bank: once per bank call's worth of time at most.
    poll = bank + 1
    rows = [
        (
            "a charge or refund is answered when the bank answers in time",
            f"within about {bank:g} s",
            "bank connect + read timeouts",
        ),
        ("the longest a request can run", f"{function:g} s", "the API function's timeout"),
        (
            "**recommended client timeout**",
            f"**{client_timeout:g} s**",
            "the function's timeout + 5 s",
        ),
        (
            "409 `request_in_progress`: retry after (`Retry-After`)",
            f"{RETRY_IN_PROGRESS_AFTER_SECONDS} s",
            f"lasts at most {function:g} s",
        ),
        (
            "**polling a `pending` charge** (`GET /charge/{id}`)",
            f"**every {poll:g} s**",
            "each GET asks the bank",
        ),
        (
            "a `pending` item the bank never saw is settled after",
            f"{function:g} s",
            "no request can reach the bank later",
        ),
        (
            "the reconcile job settles what nobody polls",
            f"every 5 min deployed, every {RECONCILE_EVERY_SECONDS:g} s on `make run`",
            "its schedule",
        ),
    ]
    lines = ["| what | time | derived from |", "| --- | --- | --- |"]
    lines += [f"| {what} | {time} | {why} |" for what, time, why in rows]
    return "\n".join(lines)


GENERATED = {
    "error-codes": error_table,
    "test-cards": test_cards_table,
    "client-timing": client_timing_table,
}


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
