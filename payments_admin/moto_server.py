"""moto server (DynamoDB and KMS), single-threaded.

One request at a time removes any doubt about moto's own locking when concurrency tests
race conditional writes; the platform's invariants must then hold by its conditions alone.
"""

from __future__ import annotations

import argparse

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, app, threaded=False, use_reloader=False, use_debugger=False)


if __name__ == "__main__":
    main()
