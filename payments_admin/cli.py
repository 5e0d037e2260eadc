"""``payments-admin``: operator commands.

With no extra environment it talks to the local stack ``make run`` serves on its default
ports; a stack on other ports is found with the variables ``make run`` prints
(``PAYMENTS_AWS_PORT``, ``PAYMENTS_BANK_PORT``, ...). To reach a deployed stage, set
``PAYMENTS_STAGE`` (and ``PAYMENTS_TABLE_PREFIX``/KMS ids if they differ from the defaults)
with real AWS credentials, or pass ``--stage``; endpoints then come from AWS itself.
Deployed, ``create-merchant`` and ``sync-usage-plan`` also need ``PAYMENTS_USAGE_PLAN_ID``
(the stack's ``usage_plan_id`` output).

Every command first checks that the stack's DynamoDB answers (and, for ``reconcile``, its
bank); otherwise it exits 2 with one line saying what it could not reach.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from datetime import timedelta
from typing import Any

from payments_admin.stack import Ports, local_env


def _point_at_stage(stage: str | None) -> None:
    if stage:
        os.environ["PAYMENTS_STAGE"] = stage
    if os.environ.get("PAYMENTS_STAGE", "local") == "local":
        for name, value in local_env(Ports.from_env()).items():
            os.environ.setdefault(name, value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="payments-admin", description=__doc__)
    parser.add_argument("--stage", help="stage to act on (default: $PAYMENTS_STAGE or local)")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-merchant", help="create a merchant and its two keys")
    create.add_argument("name")
    revoke = commands.add_parser("revoke-key", help="revoke an API key (the key itself)")
    revoke.add_argument("key")
    roll = commands.add_parser(
        "roll-key",
        help="issue a new key for a key's merchant; the old key stops working after a grace period",
    )
    roll.add_argument("key", help="the key to replace, as its holder has it")
    roll.add_argument(
        "--expire-old-in",
        type=_hours,
        default=24.0,
        metavar="HOURS",
        help="hours the old key keeps working (default 24, 0 = now, at most 168)",
    )
    listing = commands.add_parser(
        "list-keys", help="a merchant's keys: id, type, dates, status, last 4 characters"
    )
    listing.add_argument("merchant_id")
    allow = commands.add_parser(
        "allow-origin",
        help="let a web origin embed the merchant's card fields and tokenize from browsers",
    )
    allow.add_argument("merchant_id")
    allow.add_argument("origin", help="https://host[:port] (locally also http://127.0.0.1:PORT)")
    remove = commands.add_parser("remove-origin", help="stop allowing a checkout origin")
    remove.add_argument("merchant_id")
    remove.add_argument("origin")
    origins = commands.add_parser("list-origins", help="a merchant's checkout origins")
    origins.add_argument("merchant_id")
    commands.add_parser(
        "sync-usage-plan",
        help="put every merchant's API Gateway key in the usage plan (deployed stages)",
    )
    commands.add_parser("reconcile", help="settle pending charges and refunds now")
    events = commands.add_parser("events", help="webhook events: resend one, show its deliveries")
    event_commands = events.add_subparsers(dest="events_command", required=True)
    resend = event_commands.add_parser(
        "resend", help="deliver an event again (same id) to the endpoints subscribed now"
    )
    resend.add_argument("event_id")
    show = event_commands.add_parser(
        "show", help="an event's deliveries: per endpoint, state, attempts, last answer"
    )
    show.add_argument("event_id")
    commands.add_parser("bootstrap", help="create tables, KMS keys and the demo merchant")
    args = parser.parse_args(argv)

    _point_at_stage(args.stage)
    from botocore.exceptions import BotoCoreError

    from chalicelib.container import get_container
    from payments_admin.reachability import Unreachable, check_bank, check_dynamodb

    services = get_container()
    try:
        check_dynamodb(services, tables_may_be_missing=args.command == "bootstrap")
        if args.command in BANK_COMMANDS:
            check_bank(services)
        return _run(services, args)
    except Unreachable as unreachable:
        print(f"payments-admin: {unreachable}", file=sys.stderr)
        return 2
    except BotoCoreError as error:
        # The stack went away meanwhile (or credentials are missing): one line, no traceback.
        print(f"payments-admin: {error}", file=sys.stderr)
        return 2


# Commands that call the bank: they also need the stack's bank to answer.
BANK_COMMANDS = ("reconcile",)


def _run(services: Any, args: argparse.Namespace) -> int:
    if args.command in ("create-merchant", "sync-usage-plan") and _missing_usage_plan(services):
        return 2
    if args.command == "create-merchant":
        merchant = services.merchant_service.create_merchant(args.name)
        print(json.dumps(vars(merchant)))
    elif args.command == "revoke-key":
        record = services.merchant_service.revoke_key(args.key)
        if record is None:
            print("no such key", file=sys.stderr)
            return 1
        print(json.dumps({"key_id": record.key_id, "status": "revoked"}))
    elif args.command == "roll-key":
        return _roll_key(services, args.key, args.expire_old_in)
    elif args.command == "list-keys":
        keys = services.merchant_service.list_keys(args.merchant_id)
        if not keys:
            print(f"no keys for merchant {args.merchant_id}", file=sys.stderr)
            return 1
        for key in keys:
            print(json.dumps(dataclasses.asdict(key)))
    elif args.command in ("allow-origin", "remove-origin", "list-origins"):
        return _origins(services, args)
    elif args.command == "sync-usage-plan":
        return _sync_usage_plan(services)
    elif args.command == "events":
        return _events(services, args.events_command, args.event_id)
    elif args.command == "reconcile":
        print(json.dumps(vars(services.settlement.sweep())))
    elif args.command == "bootstrap":
        from payments_admin.bootstrap import NotLocalStage, bootstrap

        try:
            bootstrap(services)
        except NotLocalStage as refused:
            print(f"payments-admin: {refused}", file=sys.stderr)
            return 2
        print(json.dumps({"status": "ok"}))
    return 0


def _missing_usage_plan(services: Any) -> bool:
    """A deployed stage without its usage plan would create merchants that get 403."""
    settings = services.settings
    if settings.usage_plan_id or settings.stage == "local":
        return False
    print(
        f"payments-admin: stage {settings.stage!r} needs PAYMENTS_USAGE_PLAN_ID (the stack's "
        "usage_plan_id output): deployed, API Gateway answers 403 to a merchant whose API "
        "key is not in the usage plan",
        file=sys.stderr,
    )
    return True


def _sync_usage_plan(services: Any) -> int:
    if services.usage_plan is None:
        print(
            "no usage plan on the local stage (the local gateway emulation enforces the "
            "limits itself): nothing to do",
            file=sys.stderr,
        )
        return 0
    results = services.merchant_service.sync_usage_plan()
    disabled = [r.value for r in results if not r.enabled]
    print(
        json.dumps(
            {
                "usage_plan_id": services.settings.usage_plan_id,
                "merchants": len(results),
                "keys_created": sum(r.key_created for r in results),
                "keys_attached": sum(r.attached for r in results),
                # Left disabled (an operator's choice); these merchants get 403 deployed.
                "disabled": disabled,
            }
        )
    )
    return 0


def _origins(services: Any, args: argparse.Namespace) -> int:
    from chalicelib.domain.origins import MAX_ORIGINS, TooManyOrigins
    from chalicelib.services.checkout import InvalidOrigin, OriginNotRegistered, UnknownMerchant

    checkout = services.checkout
    try:
        if args.command == "allow-origin":
            origins = checkout.allow(args.merchant_id, args.origin)
        elif args.command == "remove-origin":
            origins = checkout.remove(args.merchant_id, args.origin)
        else:
            origins = checkout.allowed_origins(args.merchant_id)
    except InvalidOrigin:
        local = " (or, on the local stack, http://127.0.0.1:PORT / http://localhost:PORT)"
        print(
            "payments-admin: an origin is exactly https://host[:port], lower case, no path"
            + (local if services.settings.local_checkout_origins else ""),
            file=sys.stderr,
        )
        return 2
    except UnknownMerchant:
        print(f"no merchant {args.merchant_id}", file=sys.stderr)
        return 1
    except TooManyOrigins:
        print(f"a merchant has at most {MAX_ORIGINS} origins: remove one first", file=sys.stderr)
        return 1
    except OriginNotRegistered:
        print(f"{args.origin} is not an origin of {args.merchant_id}", file=sys.stderr)
        return 1
    print(json.dumps({"merchant_id": args.merchant_id, "origins": list(origins)}))
    return 0


def _hours(text: str) -> float:
    try:
        hours = float(text)
    except ValueError:
        hours = -1.0
    if not 0 <= hours <= 168:
        raise argparse.ArgumentTypeError("HOURS must be a number from 0 to 168")
    return hours


def _events(services: Any, command: str, event_id: str) -> int:
    if command == "resend":
        outcomes = services.delivery.resend(event_id)
        if outcomes is None:
            print(f"no such event {event_id}", file=sys.stderr)
            return 1
        for outcome in outcomes:
            print(json.dumps(dataclasses.asdict(outcome)))
        if not outcomes:
            print("no endpoint to resend to (none subscribed, or a delivery is still pending)")
        return 0
    if services.events.get(event_id) is None:
        print(f"no such event {event_id}", file=sys.stderr)
        return 1
    for delivery in services.delivery.deliveries(event_id):
        shown = ("endpoint_id", "url", "status", "attempts", "last_status_code", "last_error")
        print(json.dumps({k: getattr(delivery, k) for k in shown}))
    return 0


def _roll_key(services: Any, key: str, hours: float) -> int:
    from chalicelib.services.merchants import KeyAlreadyRolled, KeyNotFound

    try:
        rolled = services.merchant_service.roll_key(key, timedelta(hours=hours))
    except KeyNotFound:
        print("no such key", file=sys.stderr)
        return 1
    except KeyAlreadyRolled as already:
        where = f" to {already.rolled_to}" if already.rolled_to else " (or revoked) meanwhile"
        print(
            f"this key was already rolled{where}; roll the newer key instead, or revoke-key "
            "to end the old one now",
            file=sys.stderr,
        )
        return 1
    # The one and only time the new key is shown.
    print(
        json.dumps(
            {
                "merchant_id": rolled.merchant_id,
                "key_id": rolled.key_id,
                "key": rolled.key,
                "old_key_id": rolled.old_key_id,
                "old_key_expires_at": rolled.old_key_expires_at,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
