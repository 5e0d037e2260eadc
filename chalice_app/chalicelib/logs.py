"""Structured logs: one JSON object per line, on the ``payments`` logger only."""

from __future__ import annotations

import json
import logging
import sys


class JsonFormatter(logging.Formatter):
    """Access lines are already JSON; other records are wrapped as one JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.name == "platform.access" and not record.exc_info:
            return message
        line: dict[str, str | list[str]] = {
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            line["request_id"] = request_id
        if record.exc_info:
            # Type and stack only: exception messages from boto3 or the bank client could
            # echo request data, so they are not logged.
            exc_type = record.exc_info[0]
            line["error"] = exc_type.__name__ if exc_type else "unknown"
            line["stack"] = self._stack(record)
        return json.dumps(line, separators=(",", ":"))

    @staticmethod
    def _stack(record: logging.LogRecord) -> list[str]:
        tb = record.exc_info[2] if record.exc_info else None
        frames = []
        while tb is not None:
            code = tb.tb_frame.f_code
            frames.append(f"{code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno} {code.co_name}")
            tb = tb.tb_next
        return frames


def configure(level: str = "INFO") -> None:
    """Install the JSON handler once per container."""
    logger = logging.getLogger("platform")
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    # boto's INFO lines (credential and endpoint discovery) are not request logs.
    for noisy in ("boto3", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
