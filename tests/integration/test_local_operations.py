"""The local stack runs its schedules by itself, and ``payments-admin`` finds the stack it
is pointed at (or says in one line that it cannot)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from payments_admin.stack import Ports, free_port, local_env
from tests.helpers import charge_body, tokenize
from tests.integration.test_pending import SLOW
from tests.integration.test_webhooks import subscribe
from tests.receiver import receivers

pytestmark = pytest.mark.integration


def admin(ports: Ports, *args: str) -> subprocess.CompletedProcess[str]:
    """``payments-admin`` in a shell holding only what ``make run`` prints for ``ports``."""
    env = {k: v for k, v in os.environ.items() if k not in local_env(ports)}
    env.update(ports.environment())
    return subprocess.run(
        [sys.executable, "-m", "payments_admin.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_printed_environment_finds_the_stack(stack: Any, merchant: Any) -> None:
    result = admin(stack.ports, "list-keys", merchant.merchant_id)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2  # the secret and the publishable key
    swept = admin(stack.ports, "reconcile")
    assert swept.returncode == 0, swept.stderr


def test_a_stack_that_is_not_there_is_one_line_and_exit_2(stack: Any) -> None:
    nowhere = Ports(api=free_port(), aws=free_port(), bank=free_port(), mb_admin=free_port())
    result = admin(nowhere, "list-keys", "mer_x")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "DynamoDB" in line and f"127.0.0.1:{nowhere.aws}" in line
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_reconcile_refuses_a_bank_it_cannot_reach(stack: Any) -> None:
    """The stack's DynamoDB with a bank port where nothing listens: nothing is swept."""
    ports = Ports(
        api=stack.ports.api, aws=stack.ports.aws, bank=free_port(), mb_admin=stack.ports.mb_admin
    )
    result = admin(ports, "reconcile")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "bank" in line and f"127.0.0.1:{ports.bank}" in line
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_pending_charge_settles_and_is_delivered_without_polling(
    http_api: Any, merchant: Any, stack: Any
) -> None:
    """Nobody GETs the charge or sweeps by hand: the reconcile schedule settles it and the
    delivery worker sends charge.succeeded."""
    reconciler = stack.start_reconciler(every=2)
    try:
        with receivers([]) as (receiver,):
            subscribe(http_api, merchant.secret_key, receiver.url)
            token = tokenize(http_api, merchant.secret_key, SLOW)
            response = http_api.post("/charge", charge_body(token), key=merchant.secret_key)
            assert response.status == 202
            charge_id = response.data["id"]
            pending, succeeded = receiver.wait_for(charge_id, 2, timeout=60)
            assert pending.event["type"] == "charge.pending"
            assert succeeded.event["type"] == "charge.succeeded"
    finally:
        os.killpg(reconciler.pid, signal.SIGTERM)
        reconciler.wait(timeout=10)
