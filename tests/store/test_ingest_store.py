"""Ingestion into a real database: idempotency, conflicts, quarantine, exact money."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from budget_pipeline.ingest.landing import ingest_landing
from budget_pipeline.ingest.pipeline import FileInFlight, campaign_zones, ingest_file
from budget_pipeline.ingest.spendfile import SpendFileError
from budget_pipeline.store.aggregates import rebuild_daily, rebuild_monthly
from budget_pipeline.store.db import writing
from budget_pipeline.store.schema import QuarantinedRow, RawSpendRecord, brands_table, daily_brand_table
from budget_pipeline.store.upkeep import dirty_days
from tests.conftest import HEADER, write_csv


def raw_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(RawSpendRecord)).scalar_one()


def quarantine(engine: Engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(QuarantinedRow.line_no, QuarantinedRow.reason).order_by(QuarantinedRow.line_no)
            )
        ]


def test_good_rows_kept_bad_rows_quarantined(acme: Engine, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "spend.csv",
        [
            "r1,acme-search,10.00,2026-11-25T15:00:00Z",
            "r2,ghost,1,2026-11-25T15:00:00Z",
            "r3,acme-social,2.5,2026-11-25T15:00:00Z",
        ],
    )
    result = ingest_file(acme, path)
    assert (result.accepted, result.duplicate, result.rejected) == (2, 0, 1)
    assert raw_count(acme) == 2
    assert quarantine(acme) == [(3, "unknown campaign_id 'ghost'")]
    with acme.connect() as conn:
        assert conn.execute(select(QuarantinedRow.file_name, QuarantinedRow.raw)).one() == (
            "spend.csv",
            "r2,ghost,1,2026-11-25T15:00:00Z",
        )


def test_ingesting_again_changes_nothing(acme: Engine, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "spend.csv", ["r1,acme-search,10.00,2026-11-25T15:00:00Z", "bad,acme-search,x,2026-11-25T15:00:00Z"]
    )
    ingest_file(acme, path)
    again = ingest_file(acme, path)
    assert (again.accepted, again.duplicate, again.rejected) == (0, 1, 1)
    assert raw_count(acme) == 1
    assert len(quarantine(acme)) == 1, "the same bad line of the same file is quarantined once"


def test_conflicting_duplicate_across_files(acme: Engine, tmp_path: Path) -> None:
    ingest_file(acme, write_csv(tmp_path / "a.csv", ["r1,acme-search,10.00,2026-11-25T15:00:00Z"]))
    result = ingest_file(
        acme,
        write_csv(
            tmp_path / "b.csv",
            ["r1,acme-search,10.01,2026-11-25T15:00:00Z", "r1,acme-search,10.000,2026-11-25T10:00:00-05:00"],
        ),
    )
    assert (result.accepted, result.duplicate, result.rejected) == (0, 1, 1)
    assert quarantine(acme) == [(2, "conflicting duplicate of record_id 'r1'")]
    with acme.connect() as conn:
        assert conn.execute(select(RawSpendRecord.amount)).scalar_one() == Decimal("10.000000")


def test_money_is_exact_on_both_databases(acme: Engine, tmp_path: Path) -> None:
    rows = [f"r{i},acme-search,0.10,2026-11-25T15:00:00Z" for i in range(3)]
    rows += [f"m{i},acme-search,0.000001,2026-11-25T15:00:00Z" for i in range(7)]
    ingest_file(acme, write_csv(tmp_path / "spend.csv", rows))
    with writing(acme) as conn:
        totals = rebuild_daily(conn, dt.date(2026, 11, 25), dt.date(2026, 11, 26))[dt.date(2026, 11, 25)]
        month = rebuild_monthly(conn, dt.date(2026, 11, 1), dt.date(2026, 12, 1))[dt.date(2026, 11, 1)]
    assert totals.spend == Decimal("0.300007")
    assert str(totals.spend) == "0.300007"
    assert month.spend == Decimal("0.300007")


def test_crash_before_the_move_stores_nothing_twice(acme: Engine, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    path = write_csv(
        landing / "spend.csv", ["r1,acme-search,1,2026-11-25T15:00:00Z", "r2,acme-search,zz,2026-11-25T15:00:00Z"]
    )
    ingest_file(acme, path)  # records written, then the process "dies" before moving the file
    result = ingest_landing(acme, landing, settle_seconds=0)
    assert [r.summary() for r in result.processed] == ["spend.csv: accepted 0, duplicate 1, rejected 1"]
    assert raw_count(acme) == 1
    assert len(quarantine(acme)) == 1
    assert (landing / "processed" / "spend.csv").exists()


def test_landing_moves_bad_files_to_failed_with_a_note(acme: Engine, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    write_csv(landing / "good.csv", ["r1,acme-search,1,2026-11-25T15:00:00Z"])
    (landing / "bad.csv").write_text("record_id,amount\nr1,1\n")
    (landing / ".hidden.csv").write_text("ignored")
    result = ingest_landing(acme, landing, settle_seconds=0)
    assert [r.name for r in result.processed] == ["good.csv"]
    assert [r.name for r in result.failed] == ["bad.csv"]
    assert (landing / "failed" / "bad.csv").exists()
    note = (landing / "failed" / "bad.csv.error").read_text()
    assert "missing required columns campaign_id, occurred_at" in note
    assert (landing / ".hidden.csv").exists()


def test_whole_file_error_writes_nothing(acme: Engine, tmp_path: Path) -> None:
    path = tmp_path / "bin.csv"
    path.write_bytes(b"\x00\x01\x02")
    with pytest.raises(SpendFileError):
        ingest_file(acme, path)
    assert raw_count(acme) == 0
    with acme.connect() as conn:  # only a note of the attempt, with why
        [(accepted, error)] = conn.execute(text("SELECT accepted, error FROM spend_files")).all()
    assert accepted == 0 and "binary content" in error


def test_new_records_mark_their_local_days_dirty(acme: Engine, tmp_path: Path) -> None:
    # 03:00Z is the evening of the 24th in New York and noon of the 25th in Tokyo.
    ingest_file(
        acme,
        write_csv(
            tmp_path / "s.csv", ["r1,acme-search,1,2026-11-25T03:00:00Z", "r2,tokyo-display,1,2026-11-25T03:00:00Z"]
        ),
    )
    with acme.connect() as conn:
        assert dirty_days(conn) == [dt.date(2026, 11, 24), dt.date(2026, 11, 25)]
    with writing(acme) as conn:
        rebuild_daily(conn, dt.date(2026, 11, 24), dt.date(2026, 11, 26))
    with acme.connect() as conn:
        assert dirty_days(conn) == []


def test_repeats_within_one_file(acme: Engine, tmp_path: Path) -> None:
    result = ingest_file(
        acme,
        write_csv(
            tmp_path / "s.csv",
            [
                "r1,acme-search,5,2026-11-25T15:00:00Z",
                "r1,acme-search,5.00,2026-11-25T15:00:00Z",
                "r1,acme-search,6,2026-11-25T15:00:00Z",
            ],
        ),
    )
    assert (result.accepted, result.duplicate, result.rejected) == (1, 1, 1)
    assert quarantine(acme) == [(4, "conflicting duplicate of record_id 'r1'")]


def test_the_first_line_of_a_repeated_record_wins_whatever_its_day_and_campaign(acme: Engine, tmp_path: Path) -> None:
    """Records are stored in (local_date, campaign_id) order, not file order; the version of a
    repeated record_id that is kept is still the one on the earlier line."""
    path = write_csv(
        tmp_path / "s.csv",
        [
            "r1,acme-social,5,2026-11-25T15:00:00Z",
            "r2,acme-search,1,2026-11-20T15:00:00Z",
            "r1,acme-search,6,2026-11-21T15:00:00Z",
        ],
    )
    result = ingest_file(acme, path)
    assert (result.accepted, result.duplicate, result.rejected) == (2, 0, 1)
    with acme.connect() as conn:
        kept = conn.execute(
            select(RawSpendRecord.campaign_id, RawSpendRecord.amount, RawSpendRecord.line_no).where(
                RawSpendRecord.record_id == "r1"
            )
        ).one()
    assert tuple(kept) == ("acme-social", Decimal("5"), 2)
    assert quarantine(acme) == [(4, "conflicting duplicate of record_id 'r1'")]


def test_a_chunk_is_stored_in_day_order(acme: Engine, tmp_path: Path) -> None:
    """A day's records sit together on disk whatever the file's order (rowid on SQLite, the
    tuple's place in the heap on PostgreSQL), so a rebuild of one day reads few pages."""
    campaigns = ["tokyo-display", "acme-social", "acme-search"]
    rows = [f"r{i},{campaigns[i % 3]},1,2026-11-{1 + (i * 11) % 28:02d}T15:00:00Z" for i in range(300)]
    ingest_file(acme, write_csv(tmp_path / "s.csv", rows))
    physical = "rowid" if acme.dialect.name == "sqlite" else "ctid"
    with acme.connect() as conn:
        days = list(conn.execute(text(f"SELECT local_date FROM raw_spend_records ORDER BY {physical}")).scalars())
    assert len(days) == 300 and len(set(days)) >= 28
    assert days == sorted(days)


def test_many_chunks_with_repeats_across_chunks_and_files(acme: Engine, tmp_path: Path) -> None:
    """Small chunks put repeats of one record_id in many chunks and against an earlier file;
    every row is still counted once, as new, duplicate or conflicting, and the stored records
    are exactly the first versions."""
    campaigns = ["acme-search", "acme-social", "tokyo-display"]
    earlier = [f"r{i},{campaigns[i % 3]},{i}.25,2026-11-20T10:00:00Z" for i in range(0, 400, 7)]
    ingest_file(acme, write_csv(tmp_path / "earlier.csv", earlier))
    rows, expected = [], {f"r{i}": (campaigns[i % 3], Decimal(f"{i}.25")) for i in range(0, 400, 7)}
    accepted = duplicate = conflicting = 0
    for line in range(1200):
        i = (line * 37) % 400  # every id three times, far apart in the file
        row = (campaigns[i % 3], Decimal(f"{i}.25") if line % 5 else Decimal(f"{i}.50"))
        if f"r{i}" not in expected:
            expected[f"r{i}"] = row
            accepted += 1
        elif expected[f"r{i}"] == row:
            duplicate += 1
        else:
            conflicting += 1
        rows.append(f"r{i},{row[0]},{row[1]},2026-11-20T10:00:00Z")
    result = ingest_file(acme, write_csv(tmp_path / "spend.csv", rows), chunk_rows=25)
    assert (result.accepted, result.duplicate, result.rejected) == (accepted, duplicate, conflicting)
    assert conflicting > 0 and duplicate > 0
    with acme.connect() as conn:
        stored = conn.execute(select(RawSpendRecord.record_id, RawSpendRecord.campaign_id, RawSpendRecord.amount))
        assert {rid: (campaign, amount) for rid, campaign, amount in stored} == expected
    assert len(quarantine(acme)) == conflicting


def _brand_rows(engine: Engine) -> dict[str, tuple[set[tuple[object, ...]], set[tuple[object, ...]]]]:
    """For daily and monthly: the per-brand table's rows, and the campaign rows summed per brand."""
    pairs = {
        "daily": ("daily_brand_spend", "daily_spend", "day"),
        "monthly": ("monthly_brand_spend", "monthly_spend", "month"),
    }
    out = {}
    with engine.connect() as conn:
        for name, (brand_table, campaign_table, key) in pairs.items():
            stored = conn.execute(text(f"SELECT {key}, brand_id, spend, records FROM {brand_table}"))
            summed = conn.execute(
                text(f"SELECT {key}, brand_id, sum(spend), sum(records) FROM {campaign_table} GROUP BY {key}, brand_id")
            )
            out[name] = ({tuple(r) for r in stored}, {tuple(r) for r in summed})
    return out


def test_brand_aggregates_are_the_sums_of_their_campaigns_after_every_rebuild(acme: Engine, tmp_path: Path) -> None:
    def rebuild() -> None:
        with writing(acme) as conn:
            rebuild_daily(conn, dt.date(2026, 11, 1), dt.date(2026, 12, 1))
            rebuild_monthly(conn, dt.date(2026, 11, 1), dt.date(2026, 12, 1))

    rows = ["r1,acme-search,10.25,2026-11-20T15:00:00Z", "r2,acme-social,1.5,2026-11-20T16:00:00Z"]
    ingest_file(acme, write_csv(tmp_path / "a.csv", [*rows, "r3,tokyo-display,3,2026-11-21T01:00:00Z"]))
    rebuild()
    first = _brand_rows(acme)
    assert first["daily"][0] == first["daily"][1] and len(first["daily"][0]) == 2
    assert first["monthly"][0] == first["monthly"][1] and len(first["monthly"][0]) == 2
    # A late record for the same day, and another brand's new day; then a rebuild again.
    ingest_file(
        acme,
        write_csv(
            tmp_path / "b.csv", ["r4,acme-search,0.75,2026-11-20T20:00:00Z", "r5,tokyo-display,2,2026-11-23T01:00:00Z"]
        ),
    )
    rebuild()
    again = _brand_rows(acme)
    for name in ("daily", "monthly"):
        assert again[name][0] == again[name][1], name
    with acme.connect() as conn:
        acme_day = conn.execute(
            select(daily_brand_table.c.spend, daily_brand_table.c.records)
            .join(brands_table, brands_table.c.id == daily_brand_table.c.brand_id)
            .where(brands_table.c.name == "Acme", daily_brand_table.c.day == dt.date(2026, 11, 20))
        ).one()
    assert tuple(acme_day) == (Decimal("12.50"), 3)


def test_the_first_line_wins_when_repeats_fall_in_neighbouring_chunks(acme: Engine, tmp_path: Path) -> None:
    # With two rows a chunk, each record's second version is in the chunk right after its first.
    rows = []
    for i in range(300):
        rows += [f"r{i},acme-search,{i}.10,2026-11-20T10:00:00Z", f"x{i},acme-social,1,2026-11-20T10:00:00Z"]
        rows += [f"r{i},acme-search,{i}.90,2026-11-20T10:00:00Z", f"y{i},acme-social,1,2026-11-20T10:00:00Z"]
    result = ingest_file(acme, write_csv(tmp_path / "s.csv", rows), chunk_rows=2)
    assert (result.accepted, result.duplicate, result.rejected) == (900, 0, 300)
    with acme.connect() as conn:
        kept = dict(conn.execute(select(RawSpendRecord.record_id, RawSpendRecord.amount)).all())
    assert all(kept[f"r{i}"] == Decimal(f"{i}.10") for i in range(300))
    assert [line for line, _ in quarantine(acme)] == [4 + 4 * i for i in range(300)]


GOOD_ROWS = [f"g{i},acme-search,1.25,2026-11-25T15:00:00Z" for i in range(150_000)]  # ~6 MiB: many chunks


@pytest.mark.parametrize(
    ("tail", "message"),
    [
        (b"bad\xff,acme-search,1,2026-11-25T15:00:00Z\n", "line 150002 is not UTF-8"),
        (b'huge,acme-search,"' + b"9" * (10 << 20) + b'",2026-11-25T15:00:00Z\n', "a row megabytes long"),
    ],
    ids=["not-utf8", "huge-row"],
)
def test_a_file_unreadable_past_its_start_stores_nothing(
    acme: Engine, tmp_path: Path, tail: bytes, message: str
) -> None:
    path = write_csv(tmp_path / "s.csv", GOOD_ROWS)
    with path.open("ab") as handle:
        handle.write(tail)
    with pytest.raises(SpendFileError, match=message):
        ingest_file(acme, path)
    assert raw_count(acme) == 0
    assert quarantine(acme) == []
    with acme.connect() as conn:
        assert dirty_days(conn) == []


def test_a_file_that_changes_while_it_is_read_is_left_with_nothing_stored(acme: Engine, tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(f"{HEADER}\nr1,acme-search,1,2026-11-25T15:00:00Z\nr2,acme-search,12")  # cut mid-row

    class UploadGoesOn(dict):  # the reader looks up campaign zones once it has opened the file
        def values(self):  # type: ignore[no-untyped-def]
            if path.read_text().endswith(",12"):
                with path.open("a") as upload:
                    upload.write("3.45,2026-11-25T15:00:00Z\n")
            return super().values()

    with pytest.raises(FileInFlight):
        ingest_file(acme, path, UploadGoesOn(campaign_zones(acme)))
    assert raw_count(acme) == 0 and quarantine(acme) == []
    result = ingest_file(acme, path)  # once it has settled, read whole
    assert (result.accepted, result.rejected) == (2, 0)
