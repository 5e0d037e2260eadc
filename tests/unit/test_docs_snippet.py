"""The signature-checking snippet of docs/api.md, against the platform's own signer.

(tests/integration/test_webhooks.py runs it against real deliveries too.)"""

from __future__ import annotations

import time

from chalicelib.domain.events import sign
from tests.receiver import docs_verify

SECRET = "whsec_test"
BODY = b'{"id":"evt_1","object":"event"}'


def test_the_snippet_accepts_what_the_platform_signs() -> None:
    assert docs_verify()(BODY, sign(SECRET, int(time.time()), BODY), SECRET)


def test_the_snippet_refuses_another_body_secret_or_a_garbled_header() -> None:
    verify, header = docs_verify(), sign(SECRET, int(time.time()), BODY)
    assert not verify(BODY + b" ", header, SECRET)
    assert not verify(BODY, header, "whsec_other")
    assert not verify(BODY, "v1=" + header.split("v1=")[1], SECRET)
    assert not verify(BODY, "t=abc,v1=00", SECRET)


def test_the_snippet_refuses_a_timestamp_outside_the_tolerance() -> None:
    old = int(time.time()) - 301
    assert not docs_verify()(BODY, sign(SECRET, old, BODY), SECRET)
    assert docs_verify()(BODY, sign(SECRET, old, BODY), SECRET, tolerance=600)


def test_the_snippet_accepts_either_signature_of_a_rolled_secret() -> None:
    header = sign("whsec_new", int(time.time()), BODY, "whsec_old")
    assert header.count("v1=") == 2
    assert docs_verify()(BODY, header, "whsec_new")
    assert docs_verify()(BODY, header, "whsec_old")
    assert not docs_verify()(BODY, header, "whsec_other")
    assert not docs_verify()(BODY, "t=1,t=2," + header.split(",", 1)[1], "whsec_new")
