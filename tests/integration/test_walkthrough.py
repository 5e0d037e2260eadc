"""The README's walk-through, extracted from README.md and run verbatim (twice in a row)
against the session's stack, so the README cannot drift from the API."""

from __future__ import annotations

import json
import os
import re
import subprocess
from typing import Any

import pytest

from payments_admin.stack import ROOT

pytestmark = pytest.mark.integration

START, END = "<!-- walkthrough:start -->", "<!-- walkthrough:end -->"


def walkthrough() -> str:
    text = (ROOT / "README.md").read_text()
    block = text[text.index(START) + len(START) : text.index(END)].strip()
    assert block.startswith("```sh\n") and block.endswith("\n```"), "one sh code block"
    return block.removeprefix("```sh\n").removesuffix("```")


def documents(output: str) -> list[dict[str, Any]]:
    """The JSON answers in ``output`` (curl prints them without newlines between)."""
    decoder, found, index = json.JSONDecoder(), [], 0
    while (index := output.find("{", index)) != -1:
        value, index = decoder.raw_decode(output, index)
        found.append(value)
    return found


def run(api_url: str) -> tuple[list[dict[str, Any]], str]:
    result = subprocess.run(
        ["sh", "-e"],
        input=walkthrough(),
        env={**os.environ, "API": api_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # stderr: the token and the charge (tee); stdout: the refunds, the charge, the list.
    return documents(result.stderr) + documents(result.stdout), result.stdout


def test_the_readme_walkthrough_runs_twice_in_a_row(api_url: str) -> None:
    charges = []
    for _ in range(2):
        answers, stdout = run(api_url)
        assert not [a for a in answers if "error" in a], answers
        token, charge, first_refund, second_refund, status, listing = answers
        assert token["data"]["object"] == "token"
        assert (charge["data"]["status"], charge["data"]["amount"]) == ("succeeded", 2500)
        assert [r["data"]["amount"] for r in (first_refund, second_refund)] == [1000, 1500]
        assert status["data"]["id"] == charge["data"]["id"]
        assert (status["data"]["refunded"], status["data"]["amount_refunded"]) == (True, 2500)
        assert listing["data"]["items"][0]["id"] == charge["data"]["id"]
        assert re.search(r'"refunded":true', stdout)
        charges.append(charge["data"]["id"])
    assert charges[0] != charges[1]
