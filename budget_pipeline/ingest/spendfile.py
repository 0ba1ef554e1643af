"""Reading a spend CSV in chunks and validating every row with vectorised checks.

The file is parsed by Arrow's streaming CSV reader into string columns, and every check runs
over whole columns (Arrow compute, RE2 regular expressions, NumPy); Python code runs only to
word the message of a row that fails. A chunk comes out as an Arrow table of the rows that
passed, with exact `amount_micros`, UTC `occurred_at` and the brand-local `local_date` added,
plus one `Rejection` per bad row. Nothing here touches a database: repeated record_ids, within
the file or against earlier files, are the store's to judge.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import errno
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from budget_pipeline.rules.calendar import instant_micros, local_date

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

    def local_dates(self, positions: np.ndarray, occurred_at: pa.Array, rows: np.ndarray) -> np.ndarray:
        """The brand-local calendar date of each instant at `rows` (NaT elsewhere), where
        `positions` gives each row's campaign; one conversion per time zone."""
        utc = np.asarray(pc.fill_null(occurred_at.cast(pa.int64()), 0).to_numpy(zero_copy_only=False))
        days = np.full(len(utc), np.datetime64("NaT"), dtype="datetime64[D]")
        if not rows.any():
            return days
        zone = self.codes[positions[rows]]
        chosen = np.flatnonzero(rows)
        for code in np.unique(zone):
            at = chosen[zone == code]
            instants = pd.DatetimeIndex(utc[at].astype("datetime64[us]")).tz_localize("UTC")
            days[at] = instants.tz_convert(self.names[code]).tz_localize(None).to_numpy().astype("datetime64[D]")
        return days


@dataclass(frozen=True)
class AcceptedDates:
    """The brand-local dates a record may fall on: from BUDGET_START_DATE (`first`) to the day
    after the moment of ingestion (`received_at`) in the brand's zone."""

    first: dt.date
    received_at: dt.datetime

    def latest(self, zone: str) -> dt.date:
        return local_date(self.received_at, zone) + dt.timedelta(days=1)


def open_spend_file(path: Path, *, follow_links: bool = False) -> BinaryIO:
    """`path` opened for reading, if it is a regular file. A symbolic link is followed only
    where the caller says so (a file a user names on the command line); in the landing folder
    it never is, so nothing outside the folder is read. A FIFO is never waited on."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_links else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SpendFileError(f"{path.name}: a symbolic link; only regular files are read") from None
        raise SpendFileError(f"{path.name}: cannot read the file: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SpendFileError(f"{path.name}: not a regular file")
    return os.fdopen(fd, "rb")


def read_spend_file(
    source: Path | BinaryIO,
    zones: Mapping[str, str],
    chunk_rows: int = CHUNK_ROWS,
    accepted: AcceptedDates | None = None,
    name: str | None = None,
) -> Iterator[Chunk]:
    """Stream a spend file in chunks of at most `chunk_rows` rows; `zones` maps campaign id to
    its brand's zone; records outside `accepted` dates are bad rows.

    Raises SpendFileError before yielding anything if the file is not a readable CSV with the
    required columns, and part-way if a later part of it is not UTF-8 or not CSV (the caller's
    transaction then stores nothing of it); a bad row never raises, it becomes a Rejection.
    """
    if isinstance(source, Path):
        with open_spend_file(source) as handle:
            yield from read_spend_file(handle, zones, chunk_rows, accepted, source.name)
        return
    name = name or Path(getattr(source, "name", "spend file")).name
    header = _check_header(source, name)
    known = CampaignZones(zones)
    lines = _LineCounter()

    def on_malformed(row: pacsv.InvalidRow) -> str:
        lines.skip(row.number, f"expected {row.expected_columns} fields, saw {row.actual_columns}", row.text)
        return "skip"

    try:
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=READ_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(
                invalid_row_handler=on_malformed, ignore_empty_lines=False, newlines_in_values=True
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={column: pa.string() for column in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        for batch in reader:
            for offset in range(0, batch.num_rows, chunk_rows):
                part = batch.slice(offset, chunk_rows)
                if any(_mask(pc.match_substring(column, "\x00")).any() for column in part.columns):
                    raise SpendFileError(f"{name}: not a CSV file (binary content past its first lines)")
                numbers = lines.number(part)
                chunk = validate(part, numbers, known, accepted)
                chunk.rejections.extend(lines.malformed())
                yield chunk
        if rest := lines.malformed(at_end=True):
            yield Chunk(VALID_SCHEMA.empty_table(), rest)
    except UnicodeDecodeError:
        raise SpendFileError(_not_utf8(source, name)) from None
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) or "UTF-8" in str(exc):
            raise SpendFileError(_not_utf8(source, name)) from None
        if "straddl" in str(exc):
            raise SpendFileError(
                f"{name}: not a readable CSV file (a row megabytes long; keep rows under {READ_BLOCK_BYTES >> 20} MiB)"
            ) from None
        raise SpendFileError(f"{name}: not a readable CSV file ({_first_line(exc)})") from None


_LINE_BREAK = r"\r\n|\r|\n"


class _LineCounter:
    """The file line on which each record starts. Arrow numbers records, not lines: a quoted
    value with line breaks makes one record span several lines, and a malformed record that
    the reader skips (reporting its number and text) still takes its lines."""

    def __init__(self) -> None:
        self.next_record = 2  # record 1 is the header, on line 1
        self.next_line = 2  # where next_record starts
        self.skipped: dict[int, tuple[str, int]] = {}  # record -> (why, line breaks inside it)
        self.pending: list[Rejection] = []  # skipped records already placed, not yet reported

    def skip(self, record: int, why: str, text: str) -> None:
        self.skipped[record] = (why, len(re.findall(_LINE_BREAK, text)))

    def number(self, rows: pa.RecordBatch) -> np.ndarray:
        """The starting lines of `rows`, the records that follow those numbered so far."""
        first = self.next_record
        skipped = np.fromiter((r for r in self.skipped if r >= first), dtype=np.int64)
        candidates = np.arange(first, first + rows.num_rows + len(skipped), dtype=np.int64)
        records = np.setdiff1d(candidates, skipped, assume_unique=True)[: rows.num_rows]
        if not len(records):
            return records
        # The line breaks inside every record from `first` to the last row: the rows' own and
        # the skipped records'; each record starts on the line after the one before it ends.
        breaks = np.zeros(int(records[-1]) - first + 1, dtype=np.int64)
        breaks[records - first] = _line_breaks(rows)
        placed = sorted(r for r in self.skipped if r <= records[-1])
        for record in placed:
            breaks[record - first] = self.skipped[record][1]
        starts = self.next_line + np.concatenate(([0], np.cumsum(breaks + 1)[:-1]))
        for record in placed:
            why, _ = self.skipped.pop(record)
            self.pending.append(Rejection(int(starts[record - first]), f"malformed row: {why}", None, ""))
        self.next_line = int(starts[-1] + breaks[-1] + 1)
        self.next_record = int(records[-1]) + 1
        return starts[records - first]

    def malformed(self, *, at_end: bool = False) -> list[Rejection]:
        """The skipped records placed so far; `at_end`, also those after the last row."""
        if at_end:
            for record in sorted(self.skipped):  # consecutive records, all skipped
                why, breaks = self.skipped.pop(record)
                self.pending.append(Rejection(self.next_line, f"malformed row: {why}", None, ""))
                self.next_line += breaks + 1
        reported, self.pending = self.pending, []
        return reported


def _line_breaks(rows: pa.RecordBatch) -> np.ndarray:
    """How many line breaks each row holds inside its (quoted) values."""
    counts = np.zeros(rows.num_rows, dtype=np.int64)
    for column in rows.columns:
        if _mask(pc.match_substring_regex(column, _LINE_BREAK)).any():
            counts += np.asarray(pc.count_substring_regex(column, _LINE_BREAK).to_numpy(zero_copy_only=False))
    return counts


def _not_utf8(source: BinaryIO, name: str) -> str:
    """The message for a file that is not UTF-8 somewhere, naming the first line that is not."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, offset = 1, 0
    while block := os.pread(source.fileno(), 1 << 20, offset):
        carried = len(decoder.getstate()[0])  # the start of a character cut by the last block
        try:
            decoder.decode(block)
        except UnicodeDecodeError as exc:
            line += block.count(b"\n", 0, max(0, exc.start - carried))
            return f"{name}: not a readable UTF-8 CSV file (line {line} is not UTF-8)"
        line += block.count(b"\n")
        offset += len(block)
    return f"{name}: not a readable UTF-8 CSV file"


def _check_header(source: BinaryIO, name: str) -> list[str]:
    """The file's column names; raises SpendFileError unless it is a UTF-8 CSV file whose
    header names every required column once."""
    try:
        head = os.pread(source.fileno(), 64 * 1024, 0)
    except OSError as exc:
        raise SpendFileError(f"{name}: cannot read the file: {exc.strerror}") from None
    if b"\x00" in head:
        raise SpendFileError(f"{name}: not a CSV file (binary content)")
    if not head.strip():
        raise SpendFileError(f"{name}: empty file, expected a CSV header")
    try:
        first_line = head.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SpendFileError(f"{name}: not a readable UTF-8 CSV file (line 1 is not UTF-8)") from None
    names = next(csv.reader([first_line]), [])
    missing = [column for column in REQUIRED_COLUMNS if column not in names]
    if missing:
        raise SpendFileError(
            f"{name}: missing required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (header has: {', '.join(names)})"
        )
    repeated = [column for column in REQUIRED_COLUMNS if names.count(column) > 1]
    if repeated:
        raise SpendFileError(f"{name}: column {', '.join(repeated)} named more than once in the header")
    return names


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


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
    where = np.asarray(pc.fill_null(positions, 0).to_numpy(zero_copy_only=False))
    if accepted is not None:
        dates = _check_dates(instants, where, failed == 0, known, accepted, check, occurred_at_is)
    else:
        dates = known.local_dates(where, instants, failed == 0)

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
