"""``chalice local`` with a listen backlog that survives concurrency tests.

The standard library's backlog of 5 resets connections when ~20 clients connect at once;
the class attribute must be raised before Chalice creates its server.
"""

from __future__ import annotations

import sys

import chalice.local
from chalice.cli import main as chalice_main

from payments_admin import local_gateway
from payments_admin.stack import watch_parent

# Each connection has its own thread; without a timeout, a client that sends less body than
# its Content-Length (or idles on a keep-alive connection) holds that thread forever.
READ_TIMEOUT_SECONDS = 10


def main() -> None:
    chalice.local.ThreadedHTTPServer.request_queue_size = 128
    chalice.local.ChaliceRequestHandler.timeout = READ_TIMEOUT_SECONDS
    # Headers and body leave in two writes; with Nagle the body waits for the client's
    # delayed ACK (~40 ms on Linux), which dwarfed every request's own time.
    chalice.local.ChaliceRequestHandler.disable_nagle_algorithm = True
    watch_parent()
    # Per-merchant rate limits, as API Gateway's usage plans apply them deployed.
    from payments_admin import local_rate_limit

    local_rate_limit.install()
    local_gateway.install()
    sys.exit(chalice_main())


if __name__ == "__main__":
    main()
