"""The local API: a stock ``chalice local`` behind the local gateway, in one process.

``chalice local`` serves the app on a loopback port of its own; the gateway
(``local_gateway``) listens on the API port and forwards to it. One process, so the stack
(and the fault-injection tests) start, watch and kill the API as one.

Invoked as ``chalice local`` is (``--project-dir DIR local --host H --port P --stage S``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import threading

import chalice.local
from chalice.cli import create_local_server
from chalice.cli.factory import CLIFactory

from payments_admin.local_gateway import READ_TIMEOUT_SECONDS, Gateway, GatewayServer, RouteTable
from payments_admin.local_rate_limit import RateLimiter
from payments_admin.stack import watch_parent

__all__ = ["READ_TIMEOUT_SECONDS", "main"]


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--project-dir", required=True)
    parser.add_argument("command", choices=["local"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default="local")
    parser.add_argument("--no-autoreload", action="store_true")
    return parser.parse_args(argv)


def _principal() -> object:
    """The key -> (merchant, key type) lookup the authorizer makes, for the rate limits."""
    from chalicelib.container import get_container
    from chalicelib.services.authentication import Principal

    def principal(header: str | None) -> tuple[str, str] | None:
        # Reuses a record read in the last minute, as the deployed authorizer's cache does.
        outcome = get_container().authenticator.authenticate(header, reuse=True)
        return (outcome.merchant_id, outcome.key_type) if isinstance(outcome, Principal) else None

    return principal


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    watch_parent()
    # As `chalice local` does: the app's log lines (one per request) go to stdout.
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    # Only the gateway connects to it, but up to the gateway's own number of threads at once.
    chalice.local.ThreadedHTTPServer.request_queue_size = 128
    factory = CLIFactory(os.path.abspath(args.project_dir), environ=dict(os.environ))
    inner = create_local_server(factory, args.host, 0, args.stage)
    app = inner.app_object
    sys.path.insert(0, os.path.abspath(args.project_dir))
    from chalicelib.settings import get_settings
    from chalicelib.web.endpoint import ROUTES

    settings = get_settings()
    gateway = Gateway(
        upstream_port=inner.server.server_address[1],
        routes=RouteTable(app, ROUTES),
        limiter=RateLimiter(
            settings.rate_limit,
            settings.token_rate_limit,
            browser_limit=settings.token_ip_rate_limit,
        ),
        principal=_principal(),  # type: ignore[arg-type]
        upstream_host=args.host,
    )
    server = GatewayServer((args.host, args.port), gateway)
    threading.Thread(target=inner.server.serve_forever, name="chalice-local", daemon=True).start()
    print(f"Serving on http://{args.host}:{args.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
