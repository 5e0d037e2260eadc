"""Pure rules of the browser checkout: origins as browsers write them, JSON content types."""

from __future__ import annotations

import pytest

from chalicelib.domain.origins import MAX_ORIGINS, TooManyOrigins, add_origin, parse_origin
from chalicelib.web.checkout import card_page_policy
from chalicelib.web.header_rules import is_json_utf8


@pytest.mark.parametrize(
    ("text", "deployed", "local"),
    [
        ("https://shop.example.com", True, True),
        ("https://shop.example.com:8443", True, True),
        ("https://xn--bcher-kva.example", True, True),
        ("http://127.0.0.1:8010", False, True),
        ("http://localhost:3000", False, True),
        ("https://Shop.example.com", False, False),  # browsers send lower case
        ("https://shop.example.com/", False, False),
        ("https://shop.example.com/pay", False, False),
        ("https://shop.example.com:443", False, False),  # browsers omit the default port
        ("https://shop.example.com:0", False, False),
        ("https://shop.example.com:65536", False, False),
        ("https://user@shop.example.com", False, False),
        ("https://*.example.com", False, False),
        ("https://-shop.example.com", False, False),
        ("https://shop..example.com", False, False),
        ("http://shop.example.com", False, False),
        ("http://127.0.0.1", False, False),
        ("http://10.0.0.1:8080", False, False),
        ("null", False, False),
        ("", False, False),
        ("https://shöp.example", False, False),
    ],
)
def test_an_origin_is_accepted_exactly_as_a_browser_writes_it(
    text: str, deployed: bool, local: bool
) -> None:
    assert (parse_origin(text, local=False) == text) is deployed
    assert (parse_origin(text, local=True) == text) is local
    assert parse_origin(text, local=True) in (None, text)


def test_at_most_ten_origins_and_none_twice() -> None:
    origins: tuple[str, ...] = ()
    for n in range(MAX_ORIGINS):
        origins = add_origin(origins, f"https://s{n}.example.com")
    assert add_origin(origins, "https://s0.example.com") == origins
    with pytest.raises(TooManyOrigins):
        add_origin(origins, "https://eleventh.example.com")


@pytest.mark.parametrize(
    ("content_type", "accepted"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("APPLICATION/JSON;charset=UTF-8", True),
        ('application/json; charset="utf-8"', True),
        ("application/json; charset=latin-1", False),
        ("application/json; boundary=x", False),
        ("application/json, text/plain", False),
        ("text/plain", False),
        ("application/jsonp", False),
        ("*/*", False),
        ("", False),
        (None, False),
    ],
)
def test_a_body_must_be_json_in_utf8(content_type: str | None, accepted: bool) -> None:
    assert is_json_utf8(content_type) is accepted


def test_the_card_page_is_framed_by_exactly_the_registered_origins() -> None:
    policy = card_page_policy(("https://a.example", "https://b.example:8443"), "n0nce")
    assert policy.endswith("frame-ancestors https://a.example https://b.example:8443")
    assert "script-src 'nonce-n0nce'" in policy
    assert card_page_policy((), "n").endswith("frame-ancestors 'none'")
