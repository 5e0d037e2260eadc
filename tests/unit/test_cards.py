"""Card rules: examples with real test numbers, and properties with hypothesis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import cards

TEST_NUMBERS = [
    ("4242424242424242", "visa"),
    ("5555555555554444", "mastercard"),
    ("2223003122003222", "mastercard"),
    ("378282246310005", "amex"),
    ("6011111111111117", "discover"),
    ("30569309025904", "diners"),
    ("36227206271667", "diners"),
    ("3566002020360505", "jcb"),
]


@pytest.mark.parametrize(("number", "brand"), TEST_NUMBERS)
def test_test_numbers_are_valid_and_branded(number: str, brand: str) -> None:
    assert cards.digits_only(number) == number
    assert cards.luhn_valid(number)
    assert cards.detect_brand(number) == brand


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("5100000000000000", "mastercard"),
        ("2221000000000000", "mastercard"),
        ("2720990000000000", "mastercard"),
        ("2721000000000000", "unknown"),
        ("2220990000000000", "unknown"),
        ("5600000000000000", "unknown"),
        ("340000000000000", "amex"),
        ("350000000000000", "unknown"),
        ("6440000000000000", "discover"),
        ("6490000000000000", "discover"),
        ("6500000000000000", "discover"),
        ("6221260000000000", "discover"),
        ("6229250000000000", "discover"),
        ("6221250000000000", "unknown"),
        ("6229260000000000", "unknown"),
        ("6012000000000000", "unknown"),
        ("30000000000000", "diners"),
        ("30500000000000", "diners"),
        ("30600000000000", "unknown"),
        ("30950000000000", "diners"),
        ("38000000000000", "diners"),
        ("39000000000000", "diners"),
        ("3528000000000000", "jcb"),
        ("3589000000000000", "jcb"),
        ("3527000000000000", "unknown"),
        ("3590000000000000", "unknown"),
        ("1234567890123", "unknown"),
    ],
)
def test_range_edges(number: str, brand: str) -> None:
    assert cards.detect_brand(number) == brand


def test_brand_of_non_digits_is_unknown() -> None:
    assert cards.detect_brand("") == "unknown"
    assert cards.detect_brand("4x42") == "unknown"


def test_spaces_are_removed() -> None:
    assert cards.digits_only("4242 4242 4242 4242") == "4242424242424242"
    assert cards.digits_only(" 3782 822463 10005 ") == "378282246310005"


@pytest.mark.parametrize(
    "raw",
    [
        "4242-4242-4242-4242",
        "4242\t4242424242424",
        "42424242424242a2",
        "\u0664\u0662\u0664\u0662424242424242",  # Arabic-Indic digits are not ASCII
        "",
        "   ",
    ],
)
def test_non_digits_are_rejected(raw: str) -> None:
    assert cards.digits_only(raw) is None


@pytest.mark.parametrize(("length", "ok"), [(11, False), (12, True), (19, True), (20, False)])
def test_length_bounds(length: int, ok: bool) -> None:
    assert (cards.digits_only("4" * length) is not None) is ok


def test_luhn_rejects_a_typo_and_non_digits() -> None:
    assert not cards.luhn_valid("4242424242424241")
    assert not cards.luhn_valid("")
    assert not cards.luhn_valid("42424242x4242424")


@pytest.mark.parametrize(("brand", "length"), [("amex", 4), ("visa", 3), ("unknown", 3)])
def test_cvv_length(brand: str, length: int) -> None:
    assert cards.cvv_length(brand) == length


def test_last4() -> None:
    assert cards.last4("4242424242424242") == "4242"
    assert cards.last4("378282246310005") == "0005"


def test_valid_through_last_second_of_month() -> None:
    assert not cards.is_expired(2, 2028, datetime(2028, 2, 29, 23, 59, 59, 999999, tzinfo=UTC))
    assert cards.is_expired(2, 2028, datetime(2028, 3, 1, 0, 0, 0, tzinfo=UTC))


def test_december_rolls_over_to_next_year() -> None:
    assert not cards.is_expired(12, 2030, datetime(2030, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert cards.is_expired(12, 2030, datetime(2031, 1, 1, tzinfo=UTC))


def test_future_and_past_years() -> None:
    now = datetime(2030, 6, 15, tzinfo=UTC)
    assert not cards.is_expired(1, 2031, now)
    assert not cards.is_expired(6, 2030, now)
    assert cards.is_expired(5, 2030, now)
    assert cards.is_expired(12, 2029, now)


def test_expiry_is_judged_in_utc() -> None:
    # 2031-01-01 01:00 in UTC+05:00 is still 2030-12-31 in UTC.
    plus5 = timezone(timedelta(hours=5))
    assert not cards.is_expired(12, 2030, datetime(2031, 1, 1, 1, 0, tzinfo=plus5))
    # 2030-12-31 20:00 in UTC-05:00 is already 2031-01-01 in UTC.
    minus5 = timezone(timedelta(hours=-5))
    assert cards.is_expired(12, 2030, datetime(2030, 12, 31, 20, 0, tzinfo=minus5))


def test_naive_now_is_read_as_utc() -> None:
    assert not cards.is_expired(12, 2030, datetime(2030, 12, 31, 23, 59, 59))
    assert cards.is_expired(12, 2030, datetime(2031, 1, 1))


@pytest.mark.parametrize("month", [0, 13])
def test_month_out_of_range_is_refused(month: int) -> None:
    with pytest.raises(ValueError):
        cards.is_expired(month, 2030, datetime(2030, 1, 1, tzinfo=UTC))


# --- properties --------------------------------------------------------------------------


def _check_digit(body: str) -> str:
    """Luhn check digit by a different route: double from the right via a lookup table."""
    doubled = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9]
    total = sum(doubled[int(d)] if i % 2 == 0 else int(d) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


digit_bodies = st.text(alphabet="0123456789", min_size=11, max_size=18)


@given(digit_bodies)
def test_computed_check_digit_validates(body: str) -> None:
    assert cards.luhn_valid(body + _check_digit(body))


@given(digit_bodies, st.data())
def test_changing_any_single_digit_breaks_luhn(body: str, data: st.DataObject) -> None:
    number = body + _check_digit(body)
    position = data.draw(st.integers(min_value=0, max_value=len(number) - 1))
    replacement = data.draw(st.sampled_from("0123456789").filter(lambda d: d != number[position]))
    mutated = number[:position] + replacement + number[position + 1 :]
    assert not cards.luhn_valid(mutated)


@given(st.text(max_size=25))
def test_brand_is_always_a_member_of_brands(raw: str) -> None:
    assert cards.detect_brand(raw) in cards.BRANDS


# (brand, prefix length, low, high), restated here so the test does not read the table
# it is checking.
RANGES = [
    ("visa", 1, 4, 4),
    ("mastercard", 2, 51, 55),
    ("mastercard", 4, 2221, 2720),
    ("amex", 2, 34, 34),
    ("amex", 2, 37, 37),
    ("discover", 4, 6011, 6011),
    ("discover", 3, 644, 649),
    ("discover", 2, 65, 65),
    ("discover", 6, 622126, 622925),
    ("diners", 3, 300, 305),
    ("diners", 4, 3095, 3095),
    ("diners", 2, 36, 36),
    ("diners", 2, 38, 39),
    ("jcb", 4, 3528, 3589),
]


@st.composite
def number_in_range(draw: st.DrawFn) -> tuple[str, str]:
    brand, length, low, high = draw(st.sampled_from(RANGES))
    prefix = str(draw(st.integers(min_value=low, max_value=high))).zfill(length)
    rest = draw(st.text(alphabet="0123456789", min_size=12 - length, max_size=19 - length))
    return brand, prefix + rest


@given(number_in_range())
def test_brand_follows_the_prefix(case: tuple[str, str]) -> None:
    brand, number = case
    assert cards.detect_brand(number) == brand


@given(st.text(alphabet="0123456789", min_size=12, max_size=19))
def test_brand_of_any_number_has_a_matching_prefix(number: str) -> None:
    brand = cards.detect_brand(number)
    matching = [b for b, length, low, high in RANGES if low <= int(number[:length]) <= high]
    assert [brand] == matching or (brand == "unknown" and not matching)
