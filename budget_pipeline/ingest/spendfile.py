"""Reading a spend CSV in chunks and validating every row with vectorised checks.

The file is parsed by Arrow's streaming CSV reader into string columns, and every check runs
over whole columns (Arrow compute, RE2 regular expressions, NumPy); Python code runs only to
word the message of a row that fails. A chunk comes out as an Arrow table of the rows that
passed, with exact `amount_micros`, UTC `occurred_at` and the brand-local `local_date` added,
plus one `Rejection` per bad row. Nothing here touches a database: repeated record_ids, within
the file or against earlier files, are the store's to judge.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

REQUIRED_COLUMNS = ("record_id", "campaign_id", "amount", "occurred_at")
MAX_RECORD_ID = 128
# One transaction's worth of rows. At 25k, SQLite ingested ~9% faster than at 50k (12.5k and
# 100k were no better); PostgreSQL was the same either way (bench/ingest_and_aggregate.py).
CHUNK_ROWS = 25_000
READ_BLOCK_BYTES = 4 << 20
_AMOUNT = r"\d+(?:\.\d+)?"
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


class SpendFileError(Exception):
    """The file as a whole cannot be ingested (not CSV, a required column missing)."""


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

    def local_dates(self, positions: np.ndarray, occurred_at: pa.Array) -> pa.Array:
        """The brand-local calendar date of each instant, converting once per time zone."""
        utc = np.asarray(occurred_at.cast(pa.int64()).to_numpy(zero_copy_only=False)).astype("datetime64[us]")
        zone = self.codes[positions]
        days = np.empty(len(utc), dtype="datetime64[D]")
        for code in np.unique(zone):
            rows = zone == code
            local = pd.DatetimeIndex(utc[rows]).tz_localize("UTC").tz_convert(self.names[code]).tz_localize(None)
            days[rows] = local.to_numpy().astype("datetime64[D]")
        return pa.array(days, pa.date32())


def read_spend_file(path: Path, zones: Mapping[str, str], chunk_rows: int = CHUNK_ROWS) -> Iterator[Chunk]:
    """Stream `path` in chunks of at most `chunk_rows` rows; `zones` maps campaign id to its
    brand's zone.

    Raises SpendFileError before yielding anything if the file is not a readable CSV with the
    required columns; a bad row never raises, it becomes a Rejection.
    """
    header = _check_header(path)
    known = CampaignZones(zones)
    skipped: dict[int, str] = {}  # malformed lines the reader left out, not yet reported

    def on_malformed(row: pacsv.InvalidRow) -> str:
        skipped[row.number] = f"expected {row.expected_columns} fields, saw {row.actual_columns}"
        return "skip"

    try:
        # One reading thread keeps the physical line numbers of malformed rows known.
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=READ_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(
                invalid_row_handler=on_malformed, ignore_empty_lines=False, newlines_in_values=True
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        next_line = 2
        for batch in reader:
            for offset in range(0, batch.num_rows, chunk_rows):
                part = batch.slice(offset, chunk_rows)
                lines = _line_numbers(next_line, part.num_rows, skipped)
                next_line = int(lines[-1]) + 1
                chunk = validate(part, lines, known)
                chunk.rejections.extend(_malformed(skipped, through=next_line - 1))
                yield chunk
        if skipped:
            yield Chunk(VALID_SCHEMA.empty_table(), _malformed(skipped, through=None))
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise SpendFileError(f"{path.name}: not a readable UTF-8 CSV file ({_first_line(exc)})") from None


def _check_header(path: Path) -> list[str]:
    """The file's column names; raises SpendFileError unless it is a UTF-8 CSV file whose
    header names every required column."""
    try:
        with path.open("rb") as handle:
            head = handle.read(64 * 1024)
    except OSError as exc:
        raise SpendFileError(f"{path}: cannot read the file: {exc.strerror}") from None
    if b"\x00" in head:
        raise SpendFileError(f"{path.name}: not a CSV file (binary content)")
    if not head.strip():
        raise SpendFileError(f"{path.name}: empty file, expected a CSV header")
    try:
        first_line = head.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpendFileError(f"{path.name}: not a readable UTF-8 CSV file ({_first_line(exc)})") from None
    names = next(csv.reader([first_line]), [])
    missing = [column for column in REQUIRED_COLUMNS if column not in names]
    if missing:
        raise SpendFileError(
            f"{path.name}: missing required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (header has: {', '.join(names)})"
        )
    return names


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _line_numbers(first: int, count: int, skipped: Mapping[int, str]) -> np.ndarray:
    """File line numbers of `count` parsed rows starting at line `first`, around skipped lines."""
    candidates = np.arange(first, first + count + len(skipped), dtype=np.int64)
    return np.setdiff1d(candidates, np.fromiter(skipped, dtype=np.int64), assume_unique=True)[:count]


def _malformed(skipped: dict[int, str], through: int | None) -> list[Rejection]:
    """Reject (and forget) the skipped lines up to line `through` (all of them if None)."""
    lines = sorted(n for n in skipped if through is None or n <= through)
    return [Rejection(n, f"malformed row: {skipped.pop(n)}", None, "") for n in lines]


def _mask(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=bool)


def _fullmatch(values: pa.Array, pattern: str) -> np.ndarray:
    return _mask(pc.match_substring_regex(values, f"^(?:{pattern})$"))


def _fullmatch_at(values: pa.Array, pattern: str, rows: np.ndarray) -> np.ndarray:
    """`_fullmatch` of `values` at `rows` only (False elsewhere): a check that only rows failing
    an earlier one can fail runs its pattern over those few."""
    matched = np.zeros(len(values), dtype=bool)
    if rows.any():
        matched[rows] = _fullmatch(values.filter(pa.array(rows)), pattern)
    return matched


def validate(batch: pa.RecordBatch, lines: np.ndarray, known: CampaignZones) -> Chunk:
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
        check(_mask(pc.equal(column, "")), fixed(f"missing {name}"))
    check(
        _mask(pc.greater(pc.utf8_length(record_id), MAX_RECORD_ID)),
        fixed(f"record_id longer than {MAX_RECORD_ID} characters"),
    )
    positions = known.positions(campaign)
    check(_mask(pc.is_null(positions)), lambda i: f"unknown campaign_id '{campaign[i]}'")

    def amount_is(what: str) -> Callable[[int], str]:
        return lambda i: f"amount '{amount[i]}' {what}"

    decimal = _fullmatch(amount, _AMOUNT)
    check(_fullmatch_at(amount, "-" + _AMOUNT, ~decimal), amount_is("is negative"))
    check(~decimal, amount_is("is not a decimal number"))
    check(_mask(pc.match_substring_regex(amount, r"\.\d{7,}$")), amount_is("has more than 6 decimals"))
    check(_mask(pc.match_substring_regex(amount, r"^0*[1-9]\d{9,}")), amount_is("is not below 1000000000"))

    def occurred_at_is(what: str) -> Callable[[int], str]:
        return lambda i: f"occurred_at '{occurred[i]}' {what}"

    instant = _fullmatch(occurred, _INSTANT)
    check(_fullmatch_at(occurred, _NAIVE, ~instant), occurred_at_is("has no UTC offset"))
    check(~instant, occurred_at_is("is not an ISO-8601 timestamp"))
    instants = _parse_instants(occurred, failed == 0)
    check(_mask(pc.is_null(instants)) & (failed == 0), occurred_at_is("is not a valid timestamp"))

    blank = np.ones(batch.num_rows, dtype=bool)
    for column in batch.columns:
        blank &= _mask(pc.equal(column, ""))
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
            known.local_dates(np.asarray(positions.filter(good).to_numpy(zero_copy_only=False)), valid_instants),
        ],
        schema=VALID_SCHEMA,
    )
    bad = np.flatnonzero((failed != 0) & ~blank)
    rejections = [
        Rejection(int(lines[i]), checks[failed[i] - 1](i), str(record_id[i]) or None, _raw_row(batch, i))
        for i in bad.tolist()
    ]
    return Chunk(valid, rejections)


def _raw_row(batch: pa.RecordBatch, row: int) -> str:
    return ",".join(str(column[row]) for column in batch.columns)


def _parse_instants(occurred: pa.Array, candidates: np.ndarray) -> pa.Array:
    """UTC instants of the ISO-8601 strings at `candidates` (null elsewhere and where a string
    names no real instant). Arrow's parser takes the common forms; a chunk holding one it does
    not (a comma before the fraction, nanoseconds, an impossible date) goes through pandas."""
    chosen = pa.array(candidates)
    try:
        parsed = pc.if_else(chosen, occurred, "1970-01-01T00:00:00Z").cast(UTC_MICROS)
    except pa.ArrowInvalid:
        strings = pd.Series(occurred.to_numpy(zero_copy_only=False), dtype=object).where(candidates, None)
        values = pd.to_datetime(strings, format="ISO8601", utc=True, errors="coerce").astype("datetime64[us, UTC]")
        parsed = pa.array(values, type=UTC_MICROS, from_pandas=True)
    return pc.if_else(chosen, parsed, pa.scalar(None, UTC_MICROS))


def amount_micros(amounts: pa.Array) -> pa.Array:
    """Exact integer micro-units of validated amount strings ("12", "12.5", "0.000001")."""
    exact = pc.cast(amounts, pa.decimal128(15, 6))
    return pc.multiply(exact, _MICROS_PER_UNIT).cast(pa.int64())
