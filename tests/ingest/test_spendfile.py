import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from budget_pipeline.ingest.spendfile import SpendFileError, read_spend_file
from budget_pipeline.ingest.validation import AcceptedDates, _parse_instants, amount_micros
from tests.conftest import HEADER, write_csv

ZONES = {"c1": "America/New_York", "c2": "Asia/Kathmandu"}


def read_all(path: Path, chunk_rows: int = 1000) -> tuple[pd.DataFrame, dict[int, str]]:
    chunks = list(read_spend_file(path, ZONES, chunk_rows=chunk_rows))
    valid = pa.concat_tables([c.valid for c in chunks]).to_pandas()
    return valid, {r.line_no: r.reason for c in chunks for r in c.rejections}


@given(st.decimals(min_value=0, max_value=Decimal("999999999.999999"), places=6))
def test_amount_micros_is_exact(amount: Decimal) -> None:
    text = format(amount, "f")
    assert amount_micros(pa.array([text])).to_pylist() == [int(amount * 1_000_000)]


def test_each_bad_row_kind_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "spend.csv",
        [
            "r1,c1,10.50,2026-11-25T10:00:00Z",
            "r2,nope,1,2026-11-25T10:00:00Z",
            "r3,c1,abc,2026-11-25T10:00:00Z",
            "r4,c1,1.1234567,2026-11-25T10:00:00Z",
            "r5,c1,-3,2026-11-25T10:00:00Z",
            "r6,c1,1000000000,2026-11-25T10:00:00Z",
            "r7,c1,1,2026-11-25T10:00:00",
            "r8,c1,1,yesterday",
            "r9,c1,1,2026-02-30T10:00:00Z",
            ",c1,1,2026-11-25T10:00:00Z",
            "r11,c1,,2026-11-25T10:00:00Z",
            "r12,c1,1,2026-11-25T10:00:00Z,extra,fields",
            "r1,c1,10.50,2026-11-25T10:00:00Z",
            "r1,c1,99,2026-11-25T10:00:00Z",
            "x" * 129 + ",c1,1,2026-11-25T10:00:00Z",
            "",
            "r17,c2,0.000001,2026-11-25T18:15:00+00:00",
        ],
    )
    valid, reasons = read_all(path)
    assert reasons == {
        3: "unknown campaign_id 'nope'",
        4: "amount 'abc' is not a decimal number",
        5: "amount '1.1234567' has more than 6 decimals",
        6: "amount '-3' is negative",
        7: "amount '1000000000' is not below 1000000000",
        8: "occurred_at '2026-11-25T10:00:00' has no UTC offset",
        9: "occurred_at 'yesterday' is not an ISO-8601 timestamp",
        10: "occurred_at '2026-02-30T10:00:00Z' is not a valid timestamp",
        11: "missing record_id",
        12: "missing amount",
        13: "malformed row: expected 4 fields, saw 6",
        16: "record_id longer than 128 characters",
    }
    # Lines 14 and 15 repeat r1; whether they are duplicates or conflicts is the store's call.
    assert valid["line_no"].tolist() == [2, 14, 15, 18]
    assert valid["amount_micros"].tolist() == [10_500_000, 10_500_000, 99_000_000, 1]
    # 18:15 UTC is 00:00 the next day in Kathmandu (+05:45).
    assert [str(d) for d in valid["local_date"]] == ["2026-11-25"] * 3 + ["2026-11-26"]


def test_line_numbers_survive_chunking_and_skipped_lines(tmp_path: Path) -> None:
    rows = [f"r{i},c1,1,2026-11-25T10:00:00Z" for i in range(10)]
    rows[3] = "bad,row,with,too,many"
    rows[7] = "r7,c1,x,2026-11-25T10:00:00Z"
    valid, reasons = read_all(write_csv(tmp_path / "s.csv", rows), chunk_rows=3)
    assert sorted(reasons) == [5, 9]
    assert valid["line_no"].tolist() == [2, 3, 4, 6, 7, 8, 10, 11]


def test_extra_columns_any_order(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "s.csv", ["2026-11-25T10:00:00+01:00,x,7,c1,r1"], "occurred_at,note,amount,campaign_id,record_id"
    )
    valid, reasons = read_all(path)
    assert reasons == {}
    assert valid["occurred_at"].iloc[0] == pd.Timestamp("2026-11-25T09:00:00Z")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "not a CSV file (binary content)"),
        (b"record_id,campaign_id,amount\nr1,c1,1\n", "missing required column occurred_at"),
        (b"", "empty file"),
        (b"record_id,campaign_id,amount,occurred_at\n\xff\xfe,c1,1,2026-11-25T10:00:00Z\n", "not a readable UTF-8 CSV"),
    ],
)
def test_whole_file_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    with pytest.raises(SpendFileError, match=re.escape(message)):
        list(read_spend_file(path, ZONES))


@pytest.mark.parametrize("where", ["after", "before"], ids=["columns first", "columns past 64 KiB"])
def test_a_header_line_longer_than_64_kib_is_a_whole_file_error(tmp_path: Path, where: str) -> None:
    columns, note = "record_id,campaign_id,amount,occurred_at", "note" + "x" * (64 * 1024)
    header = f"{columns},{note}" if where == "after" else f"{note},{columns}"
    path = tmp_path / "f.csv"
    path.write_text(header + "\nr1,c1,1,2026-11-25T10:00:00Z\n")
    with pytest.raises(SpendFileError, match=re.escape("not a spend file (its first line is longer than 64 KiB)")):
        list(read_spend_file(path, ZONES))


@pytest.mark.parametrize("bom", ["", "\ufeff"], ids=["plain", "after a BOM"])
def test_a_header_line_of_64_kib_is_read(tmp_path: Path, bom: str) -> None:
    columns = "record_id,campaign_id,amount,occurred_at,"
    path = tmp_path / "f.csv"
    path.write_text(bom + columns + "n" * (64 * 1024 - len(columns)) + "\nr1,c1,1.50,2026-11-25T10:00:00Z,x\n")
    valid, reasons = read_all(path)
    assert reasons == {} and list(valid["amount"]) == ["1.50"]


def test_a_lack_of_memory_is_not_the_files_fault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the reader's failures refuse a file (the landing folder moves it to failed/ for good);
    a lack of memory while a good file is validated is raised as it is."""
    from budget_pipeline.ingest import spendfile

    def no_memory(*args: object) -> None:
        raise pa.ArrowMemoryError("malloc of 64 bytes failed")

    monkeypatch.setattr(spendfile, "validate", no_memory)
    path = tmp_path / "f.csv"
    path.write_text("record_id,campaign_id,amount,occurred_at\nr1,c1,1.50,2026-11-25T10:00:00Z\n")
    with pytest.raises(pa.ArrowMemoryError):
        list(read_spend_file(path, ZONES))


@pytest.mark.parametrize("end", ["", "\n", "\r\n"], ids=["no line break", "LF", "CR LF"])
def test_a_header_alone_is_a_file_of_no_records(tmp_path: Path, end: str) -> None:
    path = tmp_path / "f.csv"
    path.write_text("record_id,campaign_id,amount,occurred_at" + end)
    chunks = list(read_spend_file(path, ZONES))
    assert sum(chunk.valid.num_rows for chunk in chunks) == 0 and not any(chunk.rejections for chunk in chunks)


_instants = st.builds(
    lambda y, mo, d, h, mi, s, frac, sep, fsep, zone: (
        f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}"
        + (f":{s:02d}" if s is not None else "")
        + (f"{fsep}{frac}" if s is not None and frac else "")
        + zone
    ),
    st.integers(1, 9999),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 24),
    st.integers(0, 60),
    st.none() | st.integers(0, 60),
    st.sampled_from(["", "5", "123456", "1234567", "123456789"]),
    st.sampled_from(["T", " "]),
    st.sampled_from([".", ","]),
    st.sampled_from(["Z", "z", "+00:00", "-05:00", "+05:45", "+0545", "+13", "-00:00", "+24:00", "+05:60"]),
)


@given(st.lists(_instants, min_size=1, max_size=5))
def test_timestamps_parse_as_the_standard_library_does(strings: list[str]) -> None:
    """Arrow parses the common ISO-8601 forms and pandas the rest; whatever the reader takes
    must be the instant Python's own `datetime.fromisoformat` reads (to the microsecond, also
    where it lies outside the calendar in UTC), and what Python rejects the reader rejects."""
    parsed = _parse_instants(pa.array(strings), np.ones(len(strings), dtype=bool)).cast(pa.int64()).to_pylist()
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    for text, got in zip(strings, parsed, strict=True):
        try:
            reference = dt.datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            assert got is None, text
            continue
        assert got == (reference - epoch) // dt.timedelta(microseconds=1), text


def test_lines_are_the_file_lines_on_which_rows_start(tmp_path: Path) -> None:
    # A quoted value with line breaks makes a row span lines; so does a malformed row's.
    path = tmp_path / "s.csv"
    path.write_text(
        "record_id,campaign_id,amount,occurred_at,note\n"  # line 1
        'r1,c1,1,2026-11-25T10:00:00Z,"two\nlines"\n'  # lines 2-3
        "r2,c1,x,2026-11-25T10:00:00Z,\n"  # line 4
        'r3,c1,1,"2026-11-25T10:00:00Z",extra,"a\r\nb"\n'  # lines 5-6: malformed
        'r4,nope,1,2026-11-25T10:00:00Z,"\n\n"\n'  # lines 7-9
        "r5,c1,2,2026-11-25T10:00:00Z,\n"  # line 10
        'r6,c1,1,2026-11-25T10:00:00Z,"x",y\n'  # line 11: malformed, the last
    )
    for chunk_rows in (1, 2, 1000):
        valid, reasons = read_all(path, chunk_rows=chunk_rows)
        assert valid["line_no"].tolist() == [2, 10], chunk_rows
        assert reasons == {
            4: "amount 'x' is not a decimal number",
            5: "malformed row: expected 5 fields, saw 6",
            7: "unknown campaign_id 'nope'",
            11: "malformed row: expected 5 fields, saw 6",
        }, chunk_rows


def test_a_malformed_row_is_kept_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(
        HEADER + "\n"
        'r1,c1,1,2026-11-25T10:00:00Z,extra,"a\nb"\n'  # lines 2-3: malformed, its text spans both
        "r2,c1,1,2026-11-25T10:00:00Z\n"
        "r3,c1\n"  # the last: malformed
    )
    rejected = {r.line_no: r.raw for chunk in read_spend_file(path, ZONES) for r in chunk.rejections}
    assert rejected == {2: 'r1,c1,1,2026-11-25T10:00:00Z,extra,"a\nb"', 5: "r3,c1"}


def test_a_required_column_named_twice_is_a_whole_file_error(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "s.csv", ["r1,c1,1,2,2026-11-25T10:00:00Z"], "record_id,campaign_id,amount,amount,occurred_at"
    )
    with pytest.raises(SpendFileError, match="column amount named more than once"):
        list(read_spend_file(path, ZONES))
    # An extra column named twice is ignored like any extra column.
    ok = write_csv(tmp_path / "t.csv", ["r1,c1,1,2026-11-25T10:00:00Z,a,b"], HEADER + ",note,note")
    assert read_all(ok)[0]["record_id"].tolist() == ["r1"]


def test_records_outside_the_accepted_dates_are_bad_rows(tmp_path: Path) -> None:
    accepted = AcceptedDates(dt.date(2025, 1, 1), dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC))
    path = write_csv(
        tmp_path / "s.csv",
        [
            "placeholder,c1,1,9999-12-31T23:59:59Z",
            "year-one,c1,1,0001-01-01T00:00:00Z",  # in year 0 in New York
            "year-one-east,c2,1,0001-01-01T00:00:00+05:45",  # in year 0 in UTC
            "before-start,c1,1,2025-01-01T04:59:59Z",  # 2024-12-31 in New York
            "first-day,c1,1,2025-01-01T05:00:00Z",
            "tomorrow,c1,1,2026-11-27T04:59:59Z",  # 2026-11-26 in New York: the day after
            "day-after-tomorrow,c1,1,2026-11-27T05:00:00Z",
            "kathmandu-tomorrow,c2,1,2026-11-26T18:14:59Z",  # 23:59 on the 26th in Kathmandu
            "kathmandu-later,c2,1,2026-11-26T18:15:00Z",
        ],
    )
    chunks = list(read_spend_file(path, ZONES, accepted=accepted))
    valid = pa.concat_tables([c.valid for c in chunks]).to_pandas()
    reasons = {r.record_id: r.reason for c in chunks for r in c.rejections}
    assert valid["record_id"].tolist() == ["first-day", "tomorrow", "kathmandu-tomorrow"]
    late = "is later than the day after its ingestion at 2026-11-25T12:00:00Z in its brand's time zone"
    early = "is before BUDGET_START_DATE (2025-01-01) in its brand's time zone"
    assert reasons == {
        "placeholder": f"occurred_at '9999-12-31T23:59:59Z' {late}",
        "year-one": f"occurred_at '0001-01-01T00:00:00Z' {early}",
        "year-one-east": f"occurred_at '0001-01-01T00:00:00+05:45' {early}",
        "before-start": f"occurred_at '2025-01-01T04:59:59Z' {early}",
        "day-after-tomorrow": f"occurred_at '2026-11-27T05:00:00Z' {late}",
        "kathmandu-later": f"occurred_at '2026-11-26T18:15:00Z' {late}",
    }


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"], ids=["LF", "CR LF", "lone CR"])
def test_a_file_that_stops_being_utf8_late_names_the_line(tmp_path: Path, end: str) -> None:
    path = tmp_path / "s.csv"
    good = "".join(f"r{i},c1,1,2026-11-25T10:00:00Z{end}" for i in range(200_000))  # ~6 MiB
    text = "pad" + end + good
    # A line end right at the first 1 MiB block's last byte (a CR LF cut in two, with CR LF).
    last = text.rfind(end[0], 0, (1 << 20) - len(HEADER) - len(end))
    padding = (1 << 20) - len(HEADER) - len(end) - 1 - last
    rows = (HEADER + end + "p" * padding + text).encode()
    assert rows[(1 << 20) - 1 : (1 << 20)] == end[0].encode()
    path.write_bytes(rows + b"bad\xff,c1,1,2026-11-25T10:00:00Z" + end.encode())
    with pytest.raises(SpendFileError, match=re.escape("not a readable UTF-8 CSV file (line 200003 is not UTF-8)")):
        list(read_spend_file(path, ZONES))


def test_binary_content_late_in_a_file_is_a_whole_file_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "s.csv", ["r1,c1,1,2026-11-25T10:00:00Z"] * 3 + ["r\x00,c1,1,2026-11-25T10:00:00Z"])
    with pytest.raises(SpendFileError, match="binary content"):
        list(read_spend_file(path, ZONES))


def test_binary_content_in_a_malformed_row_late_in_a_file_is_a_whole_file_error(tmp_path: Path) -> None:
    """Past the first 64 KiB, where only the rows Arrow reads whole were looked at for NULs: a
    malformed row's text is kept as the quarantined row, and PostgreSQL refuses a NUL in text."""
    path = write_csv(tmp_path / "s.csv", [f"r{i},c1,1,2026-11-25T10:00:00Z" for i in range(3000)] + ["rX,c1\x00,1"])
    assert path.stat().st_size > 64 * 1024
    with pytest.raises(SpendFileError, match=re.escape("s.csv: not a CSV file (binary content past its first lines)")):
        list(read_spend_file(path, ZONES))


def test_a_row_longer_than_the_reader_block_is_a_whole_file_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "s.csv", ["r1,c1,1,2026-11-25T10:00:00Z", f'r2,c1,"{"9" * (10 << 20)}",x'])
    with pytest.raises(SpendFileError, match="a row megabytes long"):
        list(read_spend_file(path, ZONES))
