"""Test session fixtures.

Tests that need AWS or the bank get the real local stack, started once per session on free
ports (so a running ``make run`` does not collide) and stopped at the end: moto server,
mountebank with the bank imposter, and ``chalice local``. Handler tests drive the same app
in-process with Chalice's test client against that moto server and bank.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from payments_admin.stack import APP_DIR, LocalStack, Ports
from tests.helpers import CAPTURE_WINDOW, FUNCTION_TIMEOUT, WEBHOOK_RETRY_SCHEDULE

# Property tests draw the same examples on every run, so a red run is red again on a rerun
# (hypothesis' example database is not kept between CI runs); print_blob shows how to
# replay a failure's exact example.
hypothesis_settings.register_profile("payments", derandomize=True, print_blob=True)
hypothesis_settings.load_profile("payments")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fuzzing runs last: its hundreds of random requests should not share the stack's
    minutes with tests that time their answers (slow card, leases, webhook retries)."""
    items.sort(key=lambda item: item.get_closest_marker("fuzzing") is not None)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    log_dir = Path(tmp_path_factory.mktemp("stack-logs"))
    local = LocalStack(Ports.free(), log_dir)
    saved = dict(os.environ)
    # A short function timeout (the default is 15 s) so recovery tests need not wait long:
    # leases last 6 s, a bank call may start up to 2 s after its write-ahead (6 - 1 - 3),
    # and pending items the bank never saw are reversed after 6 s.
    os.environ["PAYMENTS_FUNCTION_TIMEOUT_SECONDS"] = str(FUNCTION_TIMEOUT)
    # Webhook retries 1, 2 and 3 s after the first attempt, looked for every 1 s (deployed:
    # 20 s, 1 min, ... up to 3 days, every 5 s).
    os.environ["PAYMENTS_WEBHOOK_RETRY_SCHEDULE"] = WEBHOOK_RETRY_SCHEDULE
    os.environ["PAYMENTS_REDRIVE_POLL_SECONDS"] = "1"
    # Authorizations made with capture=false may be captured for this long (deployed: 7
    # days), so the sweep's voiding of expired holds is seen within a test.
    os.environ["PAYMENTS_CAPTURE_WINDOW_SECONDS"] = str(CAPTURE_WINDOW)
    # Events the change feed has not handed over are delivered by the re-driver after 3 s
    # (deployed: 3 minutes).
    os.environ["PAYMENTS_OUTBOX_GRACE_SECONDS"] = "3"
    local.start()
    os.environ.update(local.env)
    from chalicelib.container import reset_container
    from chalicelib.settings import get_settings

    get_settings.cache_clear()
    reset_container()
    try:
        yield local
    finally:
        local.stop()
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()
        reset_container()


@pytest.fixture(scope="session")
def api_url(stack: LocalStack) -> str:
    return stack.api_url


@pytest.fixture(scope="session")
def bank_url(stack: LocalStack) -> str:
    return f"http://127.0.0.1:{stack.ports.bank}"


@pytest.fixture(scope="session")
def mb_admin_url(stack: LocalStack) -> str:
    return f"http://127.0.0.1:{stack.ports.mb_admin}"


@pytest.fixture(scope="session")
def services(stack: LocalStack) -> Any:
    """The app's own composition root, pointed at the session's stack."""
    from chalicelib.container import get_container

    return get_container()


@pytest.fixture
def merchant(services: Any) -> Any:
    """A fresh merchant per test, so tests never see each other's objects."""
    return services.merchant_service.create_merchant("Test Merchant")


@pytest.fixture(scope="session")
def chalice_app(stack: LocalStack) -> Any:
    return importlib.import_module("app").app


@pytest.fixture
def client(chalice_app: Any) -> Iterator[Any]:
    from chalice.test import Client

    with Client(chalice_app, stage_name="local", project_dir=str(APP_DIR)) as test_client:
        yield test_client


@pytest.fixture(params=["handler", "http"])
def api(request: pytest.FixtureRequest) -> Any:
    """The API through Chalice's test client ("handler") and over HTTP ("http")."""
    from tests.helpers import HandlerApi, HttpApi

    if request.param == "handler":
        return HandlerApi(request.getfixturevalue("client"))
    return HttpApi(request.getfixturevalue("api_url"))


@pytest.fixture
def http_api(api_url: str) -> Any:
    from tests.helpers import HttpApi

    return HttpApi(api_url)
