"""Money rules: integer minor units and the supported currencies."""

from __future__ import annotations

MIN_AMOUNT = 1
MAX_AMOUNT = 99_999_999

# ISO 4217 codes this platform settles. JPY and CLP have no minor unit; the amount is
# still an integer of the currency's smallest unit, so no code path needs the exponent.
SUPPORTED_CURRENCIES = frozenset({"USD", "EUR", "GBP", "PEN", "COP", "MXN", "CLP", "BRL", "JPY"})


def normalize_currency(code: str) -> str | None:
    """The upper-case code if supported, else None.

    ASCII only: ``str.upper`` maps e.g. U+017F (long s) to ``S``, so ``"uſd"`` would pass.
    """
    if not code.isascii():
        return None
    upper = code.upper()
    return upper if upper in SUPPORTED_CURRENCIES else None
