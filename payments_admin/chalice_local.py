"""``chalice local`` with a listen backlog that survives concurrency tests.

The standard library's backlog of 5 resets connections when ~20 clients connect at once;
the class attribute must be raised before Chalice creates its server.
"""

from __future__ import annotations

import sys

import chalice.local
from chalice.cli import main as chalice_main

from payments_admin import local_gateway


def main() -> None:
    chalice.local.ThreadedHTTPServer.request_queue_size = 128
    # Per-merchant rate limits, as API Gateway's usage plans apply them deployed.
    from payments_admin import local_rate_limit

    local_rate_limit.install()
    local_gateway.install()
    sys.exit(chalice_main())


if __name__ == "__main__":
    main()
