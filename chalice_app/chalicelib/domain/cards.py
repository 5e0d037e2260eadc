"""Card rules: number shape, Luhn, brand from the IIN, CVV length and expiry.

Pure functions, no I/O. Nothing here formats a card number into a message: callers
turn a False/None into a fixed error code.
"""

from __future__ import annotations

from datetime import UTC, datetime

MIN_LENGTH = 12
MAX_LENGTH = 19

BRANDS: tuple[str, ...] = (
    "visa",
    "mastercard",
    "amex",
    "discover",
    "diners",
    "jcb",
    "unknown",
)

# (brand, prefix length, low, high): the leading `prefix length` digits, read as an
# integer, fall in [low, high]. Longer prefixes come first so that a specific range wins
# over a shorter one that overlaps it (none overlap today, but the order keeps it safe).
_IIN_RANGES: tuple[tuple[str, int, int, int], ...] = (
    ("discover", 6, 622126, 622925),
    ("mastercard", 4, 2221, 2720),
    ("discover", 4, 6011, 6011),
    ("diners", 4, 3095, 3095),
    ("jcb", 4, 3528, 3589),
    ("discover", 3, 644, 649),
    ("diners", 3, 300, 305),
    ("mastercard", 2, 51, 55),
    ("amex", 2, 34, 34),
    ("amex", 2, 37, 37),
    ("discover", 2, 65, 65),
    ("diners", 2, 36, 36),
    ("diners", 2, 38, 39),
    ("visa", 1, 4, 4),
)


def _is_ascii_digits(value: str) -> bool:
    # str.isdigit alone accepts e.g. Arabic-Indic or superscript digits.
    return value.isascii() and value.isdigit()


def digits_only(raw: str) -> str | None:
    """The number with spaces removed, or None unless that is 12–19 ASCII digits."""
    digits = raw.replace(" ", "")
    if not MIN_LENGTH <= len(digits) <= MAX_LENGTH or not _is_ascii_digits(digits):
        return None
    return digits


def luhn_valid(digits: str) -> bool:
    """Whether the digit string passes the Luhn (mod 10) check."""
    if not digits or not _is_ascii_digits(digits):
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def detect_brand(digits: str) -> str:
    """The card brand from the number's IIN prefix; "unknown" if no range matches."""
    if not _is_ascii_digits(digits):
        return "unknown"
    for brand, length, low, high in _IIN_RANGES:
        if len(digits) >= length and low <= int(digits[:length]) <= high:
            return brand
    return "unknown"


def cvv_length(brand: str) -> int:
    """How many digits the brand's security code has."""
    return 4 if brand == "amex" else 3


def is_expired(exp_month: int, exp_year: int, now: datetime) -> bool:
    """Whether the card is past its expiry month.

    A card is valid through the last instant of its expiry month in UTC. A naive ``now``
    is read as UTC.
    """
    if not 1 <= exp_month <= 12:
        raise ValueError("exp_month must be from 1 to 12")
    current = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    return (current.year, current.month) > (exp_year, exp_month)


def last4(digits: str) -> str:
    """The last four digits, the only part of a number that may be shown or stored."""
    return digits[-4:]
