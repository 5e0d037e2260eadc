"""Before an operator command acts: is the stack it points at there?

``payments-admin`` talks to whatever its environment names (the local stack's ports, or a
deployed stage). Pointed at a stack that is not there, it must say so in one line instead
of printing a traceback, and it must not act on half a stack: ``reconcile`` with a bank it
cannot reach would only find every pending item unanswerable.
"""

from __future__ import annotations

from typing import Any

from chalicelib import tables
from chalicelib.adapters.dynamo import error_code


class Unreachable(Exception):
    """A part of the stack did not answer; the message is one line for the operator."""


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def check_dynamodb(services: Any, tables_may_be_missing: bool = False) -> None:
    """DynamoDB answers and holds this stage's tables (or may not yet, for ``bootstrap``)."""
    table = services.settings.table(tables.API_KEYS.name)
    endpoint = services.dynamodb.meta.endpoint_url
    try:
        services.dynamodb.describe_table(TableName=table)
    except Exception as error:
        if tables_may_be_missing and error_code(error) == "ResourceNotFoundException":
            return
        missing = error_code(error) == "ResourceNotFoundException"
        what = f"no table {table} there" if missing else _reason(error)
        raise Unreachable(
            f"cannot reach DynamoDB of stage {services.settings.stage!r} at {endpoint} "
            f"({what}); is the stack running, and are PAYMENTS_AWS_PORT / "
            "AWS_ENDPOINT_URL_DYNAMODB the ones `make run` printed?"
        ) from None


def check_bank(services: Any) -> None:
    """The bank answers HTTP at the stage's bank URL (any status: it is there)."""
    import urllib3

    try:
        url = services.bank_url
    except Exception as error:
        raise Unreachable(f"cannot read the bank URL of the stage: {_reason(error)}") from None
    timeout = urllib3.Timeout(connect=services.settings.bank_connect_timeout, read=5)
    try:
        urllib3.PoolManager(retries=False, timeout=timeout).request("GET", f"{url}/")
    except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
        raise Unreachable(
            f"cannot reach the bank at {url} ({_reason(error)}); is the stack running, and "
            "are PAYMENTS_BANK_PORT / PAYMENTS_BANK_URL the ones `make run` printed?"
        ) from None
