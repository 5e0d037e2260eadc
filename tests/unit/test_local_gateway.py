"""The local gateway's route table: paths matched as API Gateway matches resources."""

from __future__ import annotations

import pytest

from payments_admin.api_docs import openapi_text
from payments_admin.local_gateway import RouteTable, answer


@pytest.fixture(scope="module")
def table() -> RouteTable:
    openapi_text()  # imports app.py: every route registered
    import app
    from chalicelib.web.endpoint import ROUTES

    return RouteTable(app.app, ROUTES)


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/charges", "/charges"),
        ("/charge", "/charge"),
        ("/charge/ch_123", "/charge/{charge_id}"),
        ("/token", "/token"),
        ("/elements/card", "/elements/card"),
        ("/js/v1/payments.js", "/js/v1/payments.js"),
        ("/charge/ch_1/refunds", None),
        ("/charge/", None),
        ("/charges/", None),
        ("/", None),
        ("/js/v1/payments", None),
        ("/%00", None),
    ],
)
def test_paths_match_their_route_or_none(
    table: RouteTable, path: str, template: str | None
) -> None:
    route = table.match(path)
    assert (route.template if route else None) == template


def test_each_method_knows_its_keys_and_idempotency(table: RouteTable) -> None:
    token = table.match("/token")
    assert token is not None
    assert token.methods["POST"] == (frozenset({"secret", "publishable"}), False)
    assert token.methods["OPTIONS"] == (None, False)  # the preflight needs no key
    charge = table.match("/charge")
    assert charge is not None and charge.methods["POST"] == (frozenset({"secret"}), True)
    health = table.match("/health")
    assert health is not None and health.methods == {"GET": (None, False)}


def test_its_own_answers_are_the_envelope_with_a_fresh_request_id() -> None:
    first, second = answer("resource_missing"), answer("resource_missing")
    assert first.status == 404
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]
    assert first.body.startswith(
        b'{"error":{"type":"invalid_request_error","code":"resource_missing"'
    )
