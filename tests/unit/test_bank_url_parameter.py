"""Deployed, the bank URL is an SSM SecureString read once per container."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import boto3
import pytest

from chalicelib.container import Container
from chalicelib.settings import get_settings

PARAMETER = "/payments/dev/bank-url"


def test_settings_read_the_parameter_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAYMENTS_BANK_URL", raising=False)
    monkeypatch.setenv("PAYMENTS_BANK_URL_PARAMETER", PARAMETER)
    get_settings.cache_clear()
    try:
        settings = get_settings()
        # No silent fallback to the local bank when the parameter is configured.
        assert (settings.bank_url_parameter, settings.bank_url) == (PARAMETER, "")
    finally:
        get_settings.cache_clear()


def test_container_reads_the_secure_string_once(in_process_aws: None) -> None:
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name=PARAMETER, Value="https://bank.example.test/", Type="SecureString")
    settings = dataclasses.replace(get_settings(), bank_url="", bank_url_parameter=PARAMETER)
    container = Container(settings)
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    container.ssm.meta.events.register("before-call.ssm", count)
    assert container.bank_url == "https://bank.example.test"
    assert container.bank_url == "https://bank.example.test"
    assert calls["GetParameter"] == 1


def test_local_stack_keeps_the_plain_url() -> None:
    settings = dataclasses.replace(get_settings(), bank_url="http://127.0.0.1:4545")
    assert Container(settings).bank_url == "http://127.0.0.1:4545"
