"""Validating the rows of a spend file with vectorised checks: every check runs over whole
columns (Arrow compute, RE2 regular expressions, NumPy), and Python code runs only to word the
message of a row that fails. A chunk comes out as an Arrow table of the rows that passed, with
exact `amount_micros`, UTC `occurred_at` and the brand-local `local_date` added, plus one
`Rejection` per bad row. Repeated record_ids, within the file or against earlier files, are the
store's to judge."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from budget_pipeline.rules.calendar import instant_micros, local_date, local_dates
from budget_pipeline.rules.money import AMOUNT_PATTERN

REQUIRED_COLUMNS = ("record_id", "campaign_id", "amount", "occurred_at")
MAX_RECORD_ID = 128


_INSTANT = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)"


_NAIVE = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?"


UTC_MICROS = pa.timestamp("us", tz="UTC")


_MICROS_PER_UNIT = pa.scalar(1_000_000, pa.decimal128(7, 0))


VALID_SCHEMA = pa.schema(
    [
        ("line_no", pa.int64()),
        ("record_id", pa.string()),
        ("campaign_id", pa.string()),
        ("amount", pa.string()),
        ("amount_micros", pa.int64()),
        ("occurred_at", UTC_MICROS),
        ("local_date", pa.date32()),
    ]
)


@dataclass(frozen=True)
class Rejection:
    line_no: int
    reason: str
    record_id: str | None
    raw: str


@dataclass
class Chunk:
    valid: pa.Table  # VALID_SCHEMA; `amount` is the validated text as written in the file
    rejections: list[Rejection]


class CampaignZones:
    """The known campaign ids as an Arrow value set, and the time zone of each, for lookups
    over whole columns."""

    def __init__(self, zones: Mapping[str, str]) -> None:
        self.ids = pa.array(list(zones), pa.string())
        self.names = sorted(set(zones.values()))
        code = {name: i for i, name in enumerate(self.names)}
        self.codes = np.fromiter((code[zone] for zone in zones.values()), dtype=np.int32, count=len(zones))

    def positions(self, campaign_ids: pa.Array) -> pa.Array:
        """Each id's position in the value set; null where the campaign is unknown."""
        return pc.index_in(campaign_ids, value_set=self.ids)

    def local_dates(self, positions: np.ndarray, occurred_at: pa.Array, rows: np.ndarray) -> np.ndarray:
        """The brand-local calendar date of each instant at `rows` (NaT elsewhere), where
        `positions` gives each row's campaign; one conversion per time zone."""
        utc = np.asarray(pc.fill_null(occurred_at.cast(pa.int64()), 0).to_numpy(zero_copy_only=False))
        days = np.full(len(utc), np.datetime64("NaT"), dtype="datetime64[D]")
        if rows.any():
            days[rows] = local_dates(utc[rows], self.codes[positions[rows]], self.names)
        return days


@dataclass(frozen=True)
class AcceptedDates:
    """The brand-local dates a record may fall on: from BUDGET_START_DATE (`first`) to the day
    after the moment of ingestion (`received_at`) in the brand's zone."""

    first: dt.date
    received_at: dt.datetime

    def latest(self, zone: str) -> dt.date:
        return local_date(self.received_at, zone) + dt.timedelta(days=1)


def mask(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=bool)


def _fullmatch(values: pa.Array, pattern: str) -> np.ndarray:
    return mask(pc.match_substring_regex(values, f"^(?:{pattern})$"))


def _fullmatch_at(values: pa.Array, pattern: str, rows: np.ndarray) -> np.ndarray:
    """`_fullmatch` of `values` at `rows` only (False elsewhere): a check that only rows failing
    an earlier one can fail runs its pattern over those few."""
    matched = np.zeros(len(values), dtype=bool)
    if rows.any():
        matched[rows] = _fullmatch(values.filter(pa.array(rows)), pattern)
    return matched


def validate(
    batch: pa.RecordBatch, lines: np.ndarray, known: CampaignZones, accepted: AcceptedDates | None = None
) -> Chunk:
    """Split one chunk into valid rows and rejections. Each check marks, over whole columns,
    the rows that fail it and passed every earlier check; a message is worded only for them."""
    names = batch.schema.names
    record_id, campaign, amount, occurred = (batch.column(names.index(c)) for c in REQUIRED_COLUMNS)
    failed = np.zeros(batch.num_rows, dtype=np.int16)  # 0, or 1 + the index of the failed check
    checks: list[Callable[[int], str]] = []

    def check(mask: np.ndarray, message: Callable[[int], str]) -> None:
        checks.append(message)
        failed[(failed == 0) & mask] = len(checks)

    def fixed(message: str) -> Callable[[int], str]:
        return lambda _: message

    for name, column in zip(REQUIRED_COLUMNS, (record_id, campaign, amount, occurred), strict=True):
        check(mask(pc.equal(column, "")), fixed(f"missing {name}"))
    check(
        mask(pc.greater(pc.utf8_length(record_id), MAX_RECORD_ID)),
        fixed(f"record_id longer than {MAX_RECORD_ID} characters"),
    )
    positions = known.positions(campaign)
    check(mask(pc.is_null(positions)), lambda i: f"unknown campaign_id '{campaign[i]}'")

    def amount_is(what: str) -> Callable[[int], str]:
        return lambda i: f"amount '{amount[i]}' {what}"

    decimal = _fullmatch(amount, AMOUNT_PATTERN)
    check(_fullmatch_at(amount, "-" + AMOUNT_PATTERN, ~decimal), amount_is("is negative"))
    check(~decimal, amount_is("is not a decimal number"))
    check(mask(pc.match_substring_regex(amount, r"\.\d{7,}$")), amount_is("has more than 6 decimals"))
    check(mask(pc.match_substring_regex(amount, r"^0*[1-9]\d{9,}")), amount_is("is not below 1000000000"))

    def occurred_at_is(what: str) -> Callable[[int], str]:
        return lambda i: f"occurred_at '{occurred[i]}' {what}"

    instant = _fullmatch(occurred, _INSTANT)
    check(_fullmatch_at(occurred, _NAIVE, ~instant), occurred_at_is("has no UTC offset"))
    check(~instant, occurred_at_is("is not an ISO-8601 timestamp"))
    instants = _parse_instants(occurred, failed == 0)
    check(mask(pc.is_null(instants)) & (failed == 0), occurred_at_is("is not a valid timestamp"))
    where = np.asarray(pc.fill_null(positions, 0).to_numpy(zero_copy_only=False))
    if accepted is not None:
        dates = _check_dates(instants, where, failed == 0, known, accepted, check, occurred_at_is)
    else:
        dates = known.local_dates(where, instants, failed == 0)

    blank = np.ones(batch.num_rows, dtype=bool)
    for column in batch.columns:
        blank &= mask(pc.equal(column, ""))
    good = pa.array((failed == 0) & ~blank)
    valid_amount = amount.filter(good)
    valid_instants = instants.filter(good)
    valid = pa.table(
        [
            pa.array(lines).filter(good),
            record_id.filter(good),
            campaign.filter(good),
            valid_amount,
            amount_micros(valid_amount),
            valid_instants,
            pa.array(dates, pa.date32()).filter(good),
        ],
        schema=VALID_SCHEMA,
    )
    bad = np.flatnonzero((failed != 0) & ~blank)
    rejections = [
        Rejection(int(lines[i]), checks[failed[i] - 1](i), str(record_id[i]) or None, _raw_row(batch, i))
        for i in bad.tolist()
    ]
    return Chunk(valid, rejections)


def _check_dates(
    instants: pa.Array,
    where: np.ndarray,
    candidates: np.ndarray,
    known: CampaignZones,
    accepted: AcceptedDates,
    check: Callable[[np.ndarray, Callable[[int], str]], None],
    occurred_at_is: Callable[[str], Callable[[int], str]],
) -> np.ndarray:
    """Reject the `candidates` whose brand-local date is outside `accepted`; the local dates of
    the rest. A local date is never two days from the UTC date, so an instant far outside (a
    9999-12-31 placeholder, year 1) is rejected on its UTC value and never converted to a zone,
    where it would leave the calendar."""
    utc = np.asarray(pc.fill_null(instants.cast(pa.int64()), 0).to_numpy(zero_copy_only=False))
    first = _micros(dt.datetime.combine(accepted.first - dt.timedelta(days=2), dt.time(), dt.UTC))
    stop = _micros(accepted.received_at + dt.timedelta(days=3))
    early = candidates & (utc < first)
    late = candidates & (utc >= stop)
    inside = candidates & ~early & ~late
    dates = known.local_dates(where, instants, inside)
    latest = np.array([accepted.latest(zone) for zone in known.names], dtype="datetime64[D]")
    row_latest = latest[known.codes[where]] if len(known.names) else np.zeros(len(utc), dtype="datetime64[D]")
    early |= inside & (dates < np.datetime64(accepted.first))
    late |= inside & (dates > row_latest)
    check(early, occurred_at_is(f"is before BUDGET_START_DATE ({accepted.first}) in its brand's time zone"))
    received = f"{accepted.received_at:%Y-%m-%dT%H:%M:%SZ}"
    check(late, occurred_at_is(f"is later than the day after its ingestion at {received} in its brand's time zone"))
    return dates


def _micros(instant: dt.datetime) -> int:
    return (instant - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def _raw_row(batch: pa.RecordBatch, row: int) -> str:
    return ",".join(str(column[row]) for column in batch.columns)


def _parse_instants(occurred: pa.Array, candidates: np.ndarray) -> pa.Array:
    """UTC instants of the ISO-8601 strings at `candidates` (null elsewhere and where a string
    names no real instant). Arrow's parser takes the common forms over the whole column; a
    chunk holding one it does not (a comma before the fraction, nanoseconds, an impossible
    date) is read string by string as `--as-of` is (`rules.calendar.instant_micros`)."""
    chosen = pa.array(candidates)
    try:
        parsed = pc.if_else(chosen, occurred, "1970-01-01T00:00:00Z").cast(UTC_MICROS)
    except pa.ArrowInvalid:
        texts = occurred.to_pylist()
        micros = [instant_micros(texts[i]) if candidates[i] else None for i in range(len(texts))]
        parsed = pa.array(micros, pa.int64()).cast(UTC_MICROS)
    return pc.if_else(chosen, parsed, pa.scalar(None, UTC_MICROS))


def amount_micros(amounts: pa.Array) -> pa.Array:
    """Exact integer micro-units of validated amount strings ("12", "12.5", "0.000001")."""
    exact = pc.cast(amounts, pa.decimal128(15, 6))
    return pc.multiply(exact, _MICROS_PER_UNIT).cast(pa.int64())
