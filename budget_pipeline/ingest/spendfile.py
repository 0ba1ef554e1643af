"""Reading a spend CSV: opened safely, its header checked, parsed by Arrow's streaming CSV reader
into string columns in chunks, each row numbered with the file line on which it starts. A
chunk's rows are validated by `ingest.validation`; nothing here touches a database.

A file that is not readable as a whole (not UTF-8 or not CSV anywhere in it, a row megabytes
long, a required column missing or named twice) raises SpendFileError, also part-way through."""

from __future__ import annotations

import codecs
import csv
import errno
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from budget_pipeline import settings
from budget_pipeline.hooks import UNRAISABLEHOOK
from budget_pipeline.ingest.validation import (
    REQUIRED_COLUMNS,
    VALID_SCHEMA,
    AcceptedDates,
    CampaignZones,
    Chunk,
    Rejection,
    mask,
    validate,
)

READ_BLOCK_BYTES = 4 << 20


class SpendFileError(Exception):
    """The file as a whole cannot be ingested (not CSV, a required column missing)."""


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
    chunk_rows: int | None = None,
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
    chunk_rows = chunk_rows or settings.ingest_chunk_rows()
    header, header_only = _check_header(source, name)
    if header_only:  # a header and nothing after it, not even a line break: no records
        return
    known = CampaignZones(zones)
    lines = _LineCounter()

    def on_malformed(row: pacsv.InvalidRow) -> str:
        if "\x00" in row.text:  # binary content: the whole file is refused, as for a well-formed row
            lines.binary = True
            return "error"
        lines.skip(row.number, f"expected {row.expected_columns} fields, saw {row.actual_columns}", row.text)
        return "skip"

    undecodable: list[UnicodeDecodeError] = []
    try:
        yield from _read(source, name, header, known, lines, on_malformed, chunk_rows, accepted, undecodable)
    except UnicodeDecodeError:
        raise SpendFileError(_not_utf8(source, name)) from None
    except pa.ArrowInvalid as exc:
        if lines.binary:
            raise SpendFileError(_binary_late(name)) from None
        if undecodable or "UTF8" in str(exc) or "UTF-8" in str(exc):
            raise SpendFileError(_not_utf8(source, name)) from None
        if "straddl" in str(exc):
            raise SpendFileError(
                f"{name}: not a readable CSV file (a row megabytes long; keep rows under {READ_BLOCK_BYTES >> 20} MiB)"
            ) from None
        raise SpendFileError(f"{name}: not a readable CSV file ({_first_line(exc)})") from None


@contextmanager
def _reading(name: str) -> Iterator[None]:
    """Arrow's reader at work on the file: a failure of its other than ArrowInvalid (which
    read_spend_file tells apart) or a lack of memory is the file's, said in one line."""
    try:
        yield
    except (pa.ArrowInvalid, pa.ArrowMemoryError):
        raise
    except pa.ArrowException as exc:
        raise SpendFileError(f"{name}: not a readable CSV file ({_first_line(exc)})") from None


def _read(
    source: BinaryIO,
    name: str,
    header: list[str],
    known: CampaignZones,
    lines: _LineCounter,
    on_malformed: Callable[[pacsv.InvalidRow], str],
    chunk_rows: int,
    accepted: AcceptedDates | None,
    undecodable: list[UnicodeDecodeError],
) -> Iterator[Chunk]:
    """read_spend_file's chunks, Arrow's errors left to it; a malformed row's text that is not
    UTF-8 goes to `undecodable` while Arrow reads (never while a chunk is out)."""
    with _malformed_rows_not_utf8(undecodable), _reading(name):
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
    if reader.schema.names != header or any(kind != pa.string() for kind in reader.schema.types):
        # Arrow read the header otherwise than the check did: every column must be the text it named.
        raise SpendFileError(f"{name}: not a readable CSV file (its header line could not be read as checked)")
    while True:
        with _malformed_rows_not_utf8(undecodable), _reading(name):
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
        for offset in range(0, batch.num_rows, chunk_rows):
            part = batch.slice(offset, chunk_rows)
            if any(mask(pc.match_substring(column, "\x00")).any() for column in part.columns):
                raise SpendFileError(_binary_late(name))
            numbers = lines.number(part)
            chunk = validate(part, numbers, known, accepted)
            chunk.rejections.extend(lines.malformed())
            yield chunk
    if rest := lines.malformed(at_end=True):
        yield Chunk(VALID_SCHEMA.empty_table(), rest)


def _binary_late(name: str) -> str:
    """The message for a NUL past the header's block, in a row read whole or a malformed one."""
    return f"{name}: not a CSV file (binary content past its first lines)"


def _malformed_rows_not_utf8(caught: list[UnicodeDecodeError]) -> AbstractContextManager[None]:
    """The UTF-8 errors Arrow meets while it hands a malformed row's text to the reader's handler,
    in `caught`: it cannot raise them from there, so it reports them as 'Exception ignored',
    with a traceback, on stderr, then fails the read as a parse error; the reader says the file
    is not UTF-8 instead (any other such report, and other threads', goes on as ever)."""

    def take(unraisable: Any) -> bool:
        if isinstance(unraisable.exc_value, UnicodeDecodeError):
            caught.append(unraisable.exc_value)
            return True
        return False

    return UNRAISABLEHOOK.held(take)


_LINE_BREAK = r"\r\n|\r|\n"


class _LineCounter:
    """The file line on which each record starts. Arrow numbers records, not lines: a quoted
    value with line breaks makes one record span several lines, and a malformed record that
    the reader skips (reporting its number and text) still takes its lines."""

    def __init__(self) -> None:
        self.binary = False  # a skipped record held a NUL: the file is not CSV
        self.next_record = 2  # record 1 is the header, on line 1
        self.next_line = 2  # where next_record starts
        self.skipped: dict[int, tuple[str, int, str]] = {}  # record -> (why, line breaks inside it, its text)
        self.pending: list[Rejection] = []  # skipped records already placed, not yet reported

    def skip(self, record: int, why: str, text: str) -> None:
        self.skipped[record] = (why, len(re.findall(_LINE_BREAK, text)), text)

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
            why, _, text = self.skipped.pop(record)
            self.pending.append(Rejection(int(starts[record - first]), f"malformed row: {why}", None, text))
        self.next_line = int(starts[-1] + breaks[-1] + 1)
        self.next_record = int(records[-1]) + 1
        return starts[records - first]

    def malformed(self, *, at_end: bool = False) -> list[Rejection]:
        """The skipped records placed so far; `at_end`, also those after the last row."""
        if at_end:
            for record in sorted(self.skipped):  # consecutive records, all skipped
                why, breaks, text = self.skipped.pop(record)
                self.pending.append(Rejection(self.next_line, f"malformed row: {why}", None, text))
                self.next_line += breaks + 1
        reported, self.pending = self.pending, []
        return reported


def _line_breaks(rows: pa.RecordBatch) -> np.ndarray:
    """How many line breaks each row holds inside its (quoted) values."""
    counts = np.zeros(rows.num_rows, dtype=np.int64)
    for column in rows.columns:
        if mask(pc.match_substring_regex(column, _LINE_BREAK)).any():
            counts += np.asarray(pc.count_substring_regex(column, _LINE_BREAK).to_numpy(zero_copy_only=False))
    return counts


def _not_utf8(source: BinaryIO, name: str) -> str:
    """The message for a file that is not UTF-8 somewhere, naming the first line that is not."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, offset, after_cr = 1, 0, False
    while block := os.pread(source.fileno(), 1 << 20, offset):
        carried = len(decoder.getstate()[0])  # the start of a character cut by the last block
        try:
            decoder.decode(block)
        except UnicodeDecodeError as exc:
            line += _breaks(block[: max(0, exc.start - carried)], after_cr)
            return f"{name}: not a readable UTF-8 CSV file (line {line} is not UTF-8)"
        line += _breaks(block, after_cr)
        after_cr = block.endswith(b"\r")
        offset += len(block)
    return f"{name}: not a readable UTF-8 CSV file"


def _breaks(data: bytes, after_cr: bool) -> int:
    """The line breaks (CR LF, LF or a lone CR) in `data`; `after_cr`: the data before it ended
    in a CR, so an LF first is that CR's."""
    return len(re.findall(_LINE_BREAK.encode(), data)) - (after_cr and data.startswith(b"\n"))


HEADER_BYTES = 64 * 1024  # the longest header line read (after a BOM): a spend file's names a few columns


def _check_header(source: BinaryIO, name: str) -> tuple[list[str], bool]:
    """The file's column names, and whether the file is that header alone (no line break after
    it); raises SpendFileError unless it is a UTF-8 CSV file whose header names every required
    column once, on a first line of at most HEADER_BYTES."""
    try:
        head = os.pread(source.fileno(), len(codecs.BOM_UTF8) + HEADER_BYTES + 1, 0)
    except OSError as exc:
        raise SpendFileError(f"{name}: cannot read the file: {exc.strerror}") from None
    if b"\x00" in head[:HEADER_BYTES]:
        raise SpendFileError(f"{name}: not a CSV file (binary content)")
    if not head.strip():
        raise SpendFileError(f"{name}: empty file, expected a CSV header")
    # Ended by CR LF, LF or a lone CR (Excel's "CSV (Macintosh)"), as the reader ends rows.
    parts = re.split(_LINE_BREAK.encode(), head, maxsplit=1)
    if len(parts[0].removeprefix(codecs.BOM_UTF8)) > HEADER_BYTES:
        raise SpendFileError(f"{name}: not a spend file (its first line is longer than {HEADER_BYTES >> 10} KiB)")
    try:
        first_line = parts[0].decode("utf-8-sig")
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
    return names, len(parts) == 1


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
