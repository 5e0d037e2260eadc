"""``payments-admin``: operator commands.

With no extra environment it talks to the local stack ``make run`` serves. To reach a
deployed stage, set ``PAYMENTS_STAGE`` (and ``PAYMENTS_TABLE_PREFIX``/KMS ids if they differ
from the defaults) with real AWS credentials, or pass ``--stage``; endpoints then come
from AWS itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

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
    commands.add_parser("reconcile", help="settle pending charges and refunds now")
    commands.add_parser("bootstrap", help="create tables, KMS keys and the demo merchant")
    args = parser.parse_args(argv)

    _point_at_stage(args.stage)
    from chalicelib.container import get_container

    services = get_container()
    if args.command == "create-merchant":
        merchant = services.merchant_service.create_merchant(args.name)
        print(json.dumps(vars(merchant)))
    elif args.command == "revoke-key":
        record = services.merchant_service.revoke_key(args.key)
        if record is None:
            print("no such key", file=sys.stderr)
            return 1
        print(json.dumps({"key_id": record["key_id"], "status": "revoked"}))
    elif args.command == "reconcile":
        print(json.dumps(vars(services.settlement.sweep())))
    elif args.command == "bootstrap":
        from payments_admin.bootstrap import bootstrap

        bootstrap(services)
        print(json.dumps({"status": "ok"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
