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

# The largest sum of spend the aggregates hold, on both databases: SQLite's largest integer in
# micro-units. Sums past it are held at it, which is over every budget (each below 10^12), so the
# rules decide as they would on the exact sum; people are told "at least".
MONEY_CEILING = Decimal("9223372036854.775807")


def held(amount: Decimal) -> Decimal:
    """A sum of spend as the aggregates hold it: at most MONEY_CEILING."""
    return min(amount, MONEY_CEILING)


def month_to_date(month: Decimal, later: Decimal) -> Decimal | None:
    """A month-to-date as the month's total less the spend of its days after the date; None when
    the month is held at MONEY_CEILING, whose true total is not known (a held month less a held
    tomorrow is nothing, whatever was spent): it is then summed from its days to the date."""
    return None if month >= MONEY_CEILING else month - later


def at_least(text: str, amount: Decimal) -> str:
    """`text`, the shown form of `amount`, marked as a lower bound when the amount is a sum held
    at MONEY_CEILING. For people only: JSON keeps the decimal string."""
    return f"at least {text}" if amount >= MONEY_CEILING else text


def spend_text(amount: Decimal) -> str:
    """money_text of summed spend, for people."""
    return at_least(money_text(amount), amount)


def money_text(amount: Decimal) -> str:
    """An amount for people: two decimals, more only where the value has them (82.08, 0.123456)."""
    normalized = amount.normalize()
    exponent = normalized.as_tuple().exponent
    if isinstance(exponent, int) and -exponent <= 2:
        return str(normalized.quantize(CENTS))
    return format(normalized, "f")
