"""Pure webhook rules: which URLs may receive webhooks, event ids, retry timing, signatures."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from chalicelib.domain import events
from chalicelib.domain.webhook_urls import UnsafeUrl, check, is_public
from chalicelib.settings import Settings, get_settings


def resolver(*addresses: str):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


def failing(host: str, port: int) -> list[str]:
    raise OSError("no such name")


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "172.31.255.255",
        "192.168.0.1",
        "127.0.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "fd00:ec2::254",
        "fe80::1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2002:a00:1::",  # 6to4 of 10.0.0.1
        "not-an-ip",
    ],
)
def test_non_public_addresses(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1::1", "8.8.8.8"])
def test_public_addresses(address: str) -> None:
    assert is_public(address)


def test_a_name_is_refused_if_any_address_it_resolves_to_is_not_public() -> None:
    url = "https://hooks.example.com/x"
    target = check(url, allow_local=False, resolve=resolver("93.184.216.34"))
    assert (target.host, target.port, target.path) == ("hooks.example.com", 443, "/x")
    with pytest.raises(UnsafeUrl):
        check(url, allow_local=False, resolve=resolver("93.184.216.34", "10.0.0.7"))
    with pytest.raises(UnsafeUrl):
        check(url, allow_local=False, resolve=resolver("169.254.169.254"))
    with pytest.raises(UnsafeUrl):
        check(url, allow_local=False, resolve=resolver())
    with pytest.raises(UnsafeUrl):
        check(url, allow_local=False, resolve=failing)


def test_the_local_receiver_exception_is_local_only_and_exact() -> None:
    url = "http://127.0.0.1:9000/hooks?x=1"
    target = check(url, allow_local=True, resolve=failing)
    assert (target.scheme, target.port, target.path) == ("http", 9000, "/hooks?x=1")
    for refused in (url, "http://127.0.0.1/hooks", "http://localhost:9000/"):
        with pytest.raises(UnsafeUrl):
            check(refused, allow_local=refused != url, resolve=resolver("127.0.0.1"))


@pytest.mark.parametrize(
    ("environment", "allowed"),
    [
        ({"PAYMENTS_STAGE": "local"}, False),  # a stage name is only a word
        ({"PAYMENTS_STAGE": "prod", "PAYMENTS_LOCAL_WEBHOOKS": "1"}, True),
        ({"PAYMENTS_STAGE": "local", "PAYMENTS_LOCAL_WEBHOOKS": "true"}, False),
        ({"PAYMENTS_STAGE": "local", "PAYMENTS_LOCAL_WEBHOOKS": "1"}, True),
    ],
)
def test_local_receivers_only_by_the_explicit_setting(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], allowed: bool
) -> None:
    monkeypatch.delenv("PAYMENTS_LOCAL_WEBHOOKS", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        assert get_settings().local_webhooks is allowed
    finally:
        get_settings.cache_clear()


def test_the_local_stack_sets_the_loopback_setting() -> None:
    from payments_admin.stack import Ports, local_env

    assert local_env(Ports())["PAYMENTS_LOCAL_WEBHOOKS"] == "1"


def test_event_ids_are_one_per_object_and_type() -> None:
    a = events.event_id("ch_1", "charge.pending")
    assert a == events.event_id("ch_1", "charge.pending")
    assert a != events.event_id("ch_1", "charge.succeeded") != events.event_id("ch_2", "x")
    assert a.startswith("evt_") and len(a) == 31


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    header = events.sign("whsec_k", 1700000000, b'{"a":1}')
    expected = hmac.new(b"whsec_k", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_the_production_schedule_retries_twice_within_two_minutes_for_three_days() -> None:
    schedule = Settings.__dataclass_fields__["webhook_retry_schedule"].default
    assert schedule[1] < 120 and schedule[-1] == 3 * 24 * 3600
    assert list(schedule) == sorted(schedule)


def test_retries_are_due_from_the_first_attempt_and_end_with_the_schedule() -> None:
    schedule = (1.0, 5.0, 20.0)
    assert events.next_attempt_at(100, 1, 100.5, schedule) == 101
    assert events.next_attempt_at(100, 2, 101.2, schedule) == 105
    assert events.next_attempt_at(100, 3, 130, schedule) == 130  # overdue: at once
    assert events.next_attempt_at(100, 4, 130, schedule) is None
