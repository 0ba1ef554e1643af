"""Parsing money amounts exactly."""

from __future__ import annotations

import re
from decimal import Decimal

# A money amount as written in catalogs and spend files: plain digits, optionally a point and
# more digits (no sign, no exponent, no grouping). The spend file reader applies the same
# pattern to whole columns.
AMOUNT_PATTERN = r"\d+(?:\.\d+)?"
_AMOUNT = re.compile(AMOUNT_PATTERN)


def parse_amount(text: str, *, max_decimals: int) -> Decimal:
    """A non-negative decimal written as plain digits with at most `max_decimals` decimals."""
    text = text.strip()
    if not _AMOUNT.fullmatch(text):
        raise ValueError(f'{text!r} is not a decimal amount like "12.50"')
    decimals = len(text.partition(".")[2])
    if decimals > max_decimals:
        raise ValueError(f"{text!r} has {decimals} decimals, at most {max_decimals} allowed")
    return Decimal(text)


CENTS = Decimal("0.01")


def money_text(amount: Decimal) -> str:
    """An amount for people: two decimals, more only where the value has them (82.08, 0.123456)."""
    normalized = amount.normalize()
    exponent = normalized.as_tuple().exponent
    if isinstance(exponent, int) and -exponent <= 2:
        return str(normalized.quantize(CENTS))
    return format(normalized, "f")
