"""A header reader for ``http.client`` without the e-mail parser.

Every HTTP answer this process reads (DynamoDB, KMS, the bank) goes through
``http.client.parse_headers``, which hands the header block to the stdlib's e-mail parser:
about 40 µs of CPU per answer, a tenth of a DynamoDB call. Services answer one
``Name: value`` per line; such a block is stored here exactly as the e-mail parser's compat32
policy stores it. Any other block (a folded line, a line without a name, a carriage return
other than the line's CRLF, where the e-mail parser ends a line) goes to the stdlib parser
whole, so the result is always the stdlib's.
"""

from __future__ import annotations

import email.parser
import http.client
import re
from typing import Any

_HEADER_NAME = re.compile(r"[!-9;-~]+")  # visible ASCII but ':' (an HTTP token is stricter)
STDLIB_PARSE_HEADERS = http.client.parse_headers


def parse_headers(fp: Any, _class: Any = http.client.HTTPMessage) -> Any:
    """``http.client.parse_headers``, reading ordinary blocks without the e-mail parser."""
    lines = http.client._read_headers(fp)  # the stdlib's line and count limits
    message = _class()
    for raw in lines:
        if raw in (b"\r\n", b"\n", b""):
            break
        name, colon, value = raw.decode("iso-8859-1").partition(":")
        if (
            not colon
            or not _HEADER_NAME.fullmatch(name)
            or raw.count(b"\r") > raw.endswith(b"\r\n")
        ):
            text = b"".join(lines).decode("iso-8859-1")
            return email.parser.Parser(_class=_class).parsestr(text)
        message._headers.append((name, value.lstrip(" \t").rstrip("\r\n")))
    return message


def install() -> None:
    """Make ``http.client`` (so urllib3, botocore) read headers with ``parse_headers``."""
    http.client.parse_headers = parse_headers  # type: ignore[assignment]
