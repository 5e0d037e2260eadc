"""The local reconcile schedule: what EventBridge does for ``reconcile_pending`` deployed.

Every ``--every`` seconds (``make run``: 30; deployed the schedule is every 5 minutes) it
runs the app's own ``reconcile_pending`` handler once, as the schedule does, so a pending
charge or refund settles, and its event is delivered, without anyone polling.

    python -m payments_admin.reconcile_worker --every 30
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from payments_admin.delivery_worker import schedule_event
from payments_admin.stack import APP_DIR, watch_parent

log = logging.getLogger("platform.reconcile_worker")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between sweeps")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    watch_parent()
    if str(APP_DIR) not in sys.path:
        sys.path.insert(0, str(APP_DIR))
    import app  # the deployed handler, unchanged

    while True:
        started = time.monotonic()
        try:
            report = app.reconcile_pending(schedule_event(), None)
            log.info("sweep: %s", report)
        except Exception:
            # Like a scheduled Lambda: this run failed, the next one comes on schedule.
            log.exception("reconcile run failed")
        time.sleep(max(0.0, args.every - (time.monotonic() - started)))


if __name__ == "__main__":
    main()
