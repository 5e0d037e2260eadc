"""The header reader the local moto server installs in ``http.client`` (its process only).

Each block is read by the stdlib as well: the two must give the same headers, the same
exception, and ordinary blocks must never reach the e-mail parser.
"""

from __future__ import annotations

import http.client
import io
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.container import Container
from chalicelib.settings import get_settings
from payments_admin import moto_server as http_headers


def _outcome(call: Callable[[], Any]) -> tuple[Any, ...]:
    """What a call gives: its value, or its exception's type and text."""
    try:
        return ("value", call())
    except Exception as error:  # noqa: BLE001 - the exception is the outcome compared
        return ("error", type(error), str(error))


@pytest.mark.parametrize(
    "block",
    [
        b"Host: localhost:8001\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\n\r\n",
        b"Host: a\r\nX-Dup: 1\r\nx-dup: 2\r\nX-Dup: 3\r\n\r\nbody: not a header\r\n",
        b"Empty:\r\nAlso-Empty: \r\nSpaces:   \t v a l \t \r\nTabbed:\tv\r\n\r\n",
        b"Colons: a:b: c\r\nAuthorization: AWS4-HMAC-SHA256 Credential=A/B, Signature=x\r\n\r\n",
        b"Lf-Only: yes\nOther: too\n\n",
        b"Latin: caf\xe9\r\nOdd-Name!#$%&'*+.^_`|~: v\r\n\r\n",
        b"\r\n",
        b"",
        b"No-Blank-Line: at the end",
    ],
)
def test_an_ordinary_header_block_is_read_as_the_stdlib_reads_it_without_its_parser(
    block: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One ``Name: value`` per line (duplicates, empty values, spaces and tabs around values,
    colons inside, LF endings, Latin-1): the same headers as ``http.client.parse_headers``,
    without the e-mail parser."""
    import email.parser

    expected = http.client.parse_headers(io.BytesIO(block))

    def no_email_parser(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the e-mail parser was used for an ordinary block")

    monkeypatch.setattr(email.parser, "Parser", no_email_parser)
    parsed = http_headers.parse_headers(io.BytesIO(block))
    assert isinstance(parsed, http.client.HTTPMessage)
    assert parsed.items() == expected.items()
    for name in expected:
        assert parsed.get_all(name) == expected.get_all(name)


@pytest.mark.parametrize(
    "block",
    [
        b"Host: a\r\nX-Folded: first\r\n  second\r\n\tthird\r\nAfter: b\r\n\r\n",
        b"Host: a\r\nno colon here\r\nAfter: b\r\n\r\n",
        b"Host: a\r\n: no name\r\nAfter: b\r\n\r\n",
        b"Host: a\r\nSpace In Name: v\r\nAfter: b\r\n\r\n",
        b"Space-Before-Colon : v\r\nAfter: b\r\n\r\n",
        b" Leading-Space: v\r\nAfter: b\r\n\r\n",
        b"From someone@example.com\r\nHost: a\r\n\r\n",
        b"Host: a\r\nCr-Inside: a\rInjected: b\r\nAfter: c\r\n\r\n",
        b"Host: a\r\nCr-Before-End: a\r\r\nAfter: c\r\n\r\n",
        b"Host: a\r\nCr-At-End: a\r",
        b"Cr-Then-Text: a\rb",
    ],
)
def test_any_other_header_block_is_read_by_the_stdlib(block: bytes) -> None:
    """Folded lines, a line without a colon or without a valid name, a Unix ``From`` line, a
    carriage return that is not a line's CRLF (the e-mail parser ends a line there): the
    same headers as ``http.client.parse_headers``."""
    expected = http.client.parse_headers(io.BytesIO(block))
    parsed = http_headers.parse_headers(io.BytesIO(block))
    assert isinstance(parsed, http.client.HTTPMessage)
    assert parsed.items() == expected.items()


@pytest.mark.parametrize(
    "block",
    [
        b"".join(b"H%d: v\r\n" % i for i in range(101)) + b"\r\n",
        b"Long: " + b"x" * 70000 + b"\r\n\r\n",
    ],
)
def test_a_header_block_over_the_stdlibs_limits_is_refused_as_the_stdlib_refuses_it(
    block: bytes,
) -> None:
    """More than 100 headers, or a line over 64 KiB: the stdlib's exception and message."""
    expected = _outcome(lambda: http.client.parse_headers(io.BytesIO(block)))
    assert expected[0] == "error"
    assert _outcome(lambda: http_headers.parse_headers(io.BytesIO(block))) == expected


def test_the_app_reads_headers_with_the_standard_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deployed code patches nothing: building the app's clients leaves http.client alone."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for build in (lambda c: c.dynamodb, lambda c: c.bank):
        build(Container(get_settings()))
        assert http.client.parse_headers is http_headers.STDLIB_PARSE_HEADERS
