import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, inspect, text

from budget_pipeline.store.db import StoreError, current_revision, head_revision, make_engine, upgrade
from budget_pipeline.store.schema import raw_table, spend_files_table


def old_acme(engine: Engine) -> None:
    """The ACME catalog written with the columns of migration 0001, for a schema that is not
    yet at head (the current catalog code writes columns an older schema lacks)."""
    money = 1_000_000 if engine.dialect.name == "sqlite" else 1  # SQLite stores micro-units
    with engine.begin() as conn:
        for name, zone, daily, monthly, campaigns in (
            ("Acme", "America/New_York", 100, 2000, ("acme-search", "acme-social")),
            ("Tokyo Foods", "Asia/Tokyo", 50, 1000, ("tokyo-display",)),
        ):
            brand_id = conn.execute(
                text(
                    "INSERT INTO brands (name, timezone, daily_budget, monthly_budget) "
                    "VALUES (:n, :z, :d, :m) RETURNING id"
                ),
                {"n": name, "z": zone, "d": daily * money, "m": monthly * money},
            ).scalar_one()
            for campaign in campaigns:
                conn.execute(
                    text(
                        "INSERT INTO campaigns (id, brand_id, name, enabled, active, pause_reasons) "
                        "VALUES (:c, :b, :c, true, true, '')"
                    ),
                    {"c": campaign, "b": brand_id},
                )


def old_record(engine: Engine) -> None:
    """Record r1 of a file as the first version stored them: the columns of 0001 only (today's
    ingestion writes tables an older schema lacks)."""
    at = dt.datetime(2026, 11, 25, 15, tzinfo=dt.UTC)
    with engine.begin() as conn:
        file_id = conn.execute(
            insert(spend_files_table)
            .values(name="a.csv", file_key="k", started_at=at, accepted=1, duplicate=0, rejected=0)
            .returning(spend_files_table.c.id)
        ).scalar_one()
        conn.execute(
            insert(raw_table).values(
                record_id="r1",
                campaign_id="acme-search",
                amount=Decimal("1.5"),
                occurred_at=at,
                local_date=dt.date(2026, 11, 25),
                file_id=file_id,
                line_no=2,
            )
        )


def test_init_is_idempotent_and_reaches_head(db_url: str) -> None:
    engine = make_engine(db_url)
    assert current_revision(engine) is None
    upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) == tables
    assert {
        "brands",
        "campaigns",
        "dayparting_windows",
        "raw_spend_records",
        "quarantined_rows",
        "spend_files",
        "dirty_spend_days",
        "daily_spend",
        "monthly_spend",
        "campaign_status_log",
    } <= tables


def test_revisions_agree_with_alembic(db_url: str) -> None:
    """`current_revision` and `head_revision` answer without Alembic; Alembic must agree, before
    `init-db`, part way and at head, and every migration's file must start with its revision."""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from budget_pipeline.store.db import ALEMBIC_INI, MIGRATIONS

    scripts = ScriptDirectory.from_config(Config(str(ALEMBIC_INI)))
    assert head_revision() == scripts.get_current_head()
    for script in scripts.walk_revisions():
        assert script.path is not None and MIGRATIONS.joinpath(script.path).name.startswith(f"{script.revision}_")
    engine = make_engine(db_url)
    for target in (None, "0001", "0007", "head"):
        if target is not None:
            upgrade(engine, target)
        with engine.connect() as connection:
            assert current_revision(engine) == MigrationContext.configure(connection).get_current_revision()


def test_a_version_table_with_several_rows_is_one_clear_error(db_url: str) -> None:
    """Alembic refuses several heads; so does the check every command and run makes first."""
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0007')"))
    with pytest.raises(StoreError, match=rf"several schema versions \(0007, {head_revision()}\)"):
        current_revision(engine)


def test_money_columns_are_exact_types(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    column = {c["name"]: c for c in inspect(engine).get_columns("raw_spend_records")}["amount"]
    expected = "BIGINT" if engine.dialect.name == "sqlite" else "NUMERIC(20, 6)"
    assert str(column["type"]) == expected


def test_upgrade_from_an_older_schema_keeps_the_data(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(db_url)
    upgrade(engine, "0001")
    old_acme(engine)
    old_record(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision() != "0001"
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("raw_spend_records")}
    assert "ix_raw_spend_records_local_date" in indexes
    assert "ix_raw_spend_records_day_campaign_amount" not in indexes
    assert "ix_raw_spend_records_file_id" not in indexes
    with engine.connect() as conn:
        assert conn.execute(text("SELECT record_id FROM raw_spend_records")).scalars().all() == ["r1"]


def test_migrations_build_exactly_the_models(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from budget_pipeline.store.schema import Base

    engine = make_engine(db_url)
    upgrade(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_spend_brand_indexes_carry_campaign_and_spend_on_postgresql(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("INCLUDE columns are a PostgreSQL index feature")
    engine = make_engine(db_url)
    upgrade(engine)
    for table, name in (("daily_spend", "ix_daily_spend_day_brand"), ("monthly_spend", "ix_monthly_spend_month_brand")):
        index = {ix["name"]: ix for ix in inspect(engine).get_indexes(table)}[name]
        assert index["dialect_options"]["postgresql_include"] == ["campaign_id", "spend"]


def test_upgrade_to_byte_order_record_ids_keeps_them_matching(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Migration 0005 gives record_id the "C" collation on PostgreSQL (SQLite compares bytes
    already), keeping the records; a repeated record_id still meets the stored one through the
    staging table's join, on both databases."""
    from budget_pipeline.ingest.pipeline import ingest_file
    from tests.conftest import write_csv

    engine = make_engine(db_url)
    upgrade(engine, "0004")
    old_acme(engine)
    old_record(engine)
    upgrade(engine)
    again = ingest_file(
        engine,
        write_csv(
            tmp_path / "b.csv", ["r1,acme-search,1.5,2026-11-25T15:00:00Z", "r1,acme-search,2,2026-11-25T15:00:00Z"]
        ),
    )
    assert (again.accepted, again.duplicate, again.rejected) == (0, 1, 1)
    if engine.dialect.name == "postgresql":  # SQLite has no collation to look at
        with engine.connect() as conn:
            collation = conn.execute(
                text(
                    "SELECT collation_name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = 'raw_spend_records' "
                    "AND column_name = 'record_id'"
                )
            ).scalar_one()
        assert collation == "C"


def test_upgrade_fills_the_brand_aggregates_from_the_campaign_rows(db_url: str) -> None:
    """Migration 0006 sums the daily_spend and monthly_spend rows already built per brand."""
    from decimal import Decimal

    engine = make_engine(db_url)
    upgrade(engine, "0005")
    old_acme(engine)
    with engine.begin() as conn:
        brand = {name: bid for bid, name in conn.execute(text("SELECT id, name FROM brands"))}
        money = 1_000_000 if engine.dialect.name == "sqlite" else 1  # SQLite stores micro-units
        for campaign, brand_name, spend in (
            ("acme-search", "Acme", 2),
            ("acme-social", "Acme", 3),
            ("tokyo-display", "Tokyo Foods", 5),
        ):
            params = {"c": campaign, "b": brand[brand_name], "s": spend * money}
            conn.execute(
                text(
                    "INSERT INTO daily_spend (day, campaign_id, brand_id, spend, records) "
                    "VALUES ('2026-11-20', :c, :b, :s, 1)"
                ),
                params,
            )
            conn.execute(
                text(
                    "INSERT INTO monthly_spend (month, campaign_id, brand_id, spend, records) "
                    "VALUES ('2026-11-01', :c, :b, :s, 1)"
                ),
                params,
            )
    upgrade(engine)
    with engine.connect() as conn:
        for table in ("daily_brand_spend", "monthly_brand_spend"):
            rows = {
                bid: (Decimal(spend) / money, n)
                for bid, spend, n in conn.execute(text(f"SELECT brand_id, spend, records FROM {table}"))
            }
            assert rows == {brand["Acme"]: (Decimal(5), 2), brand["Tokyo Foods"]: (Decimal(5), 1)}, table


def test_upgrade_gives_brands_their_defaults_and_quarantined_rows_a_time(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Migration 0007: brands take USD, alerts 80 and 100 and no predictive pause; a row already
    quarantined takes the start of its ingestion (or the upgrade's time if that is gone)."""
    import datetime as dt

    from budget_pipeline.ingest.pipeline import ingest_file
    from tests.conftest import write_csv

    engine = make_engine(db_url)
    upgrade(engine, "0006")
    old_acme(engine)
    ingest_file(engine, write_csv(tmp_path / "s.csv", ["r1,ghost,1,2026-11-25T15:00:00Z"]))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO quarantined_rows (file_key, file_name, line_no, reason, raw, file_id) "
                "VALUES ('gone:1:1', 'gone.csv', 2, 'unknown campaign_id', 'x', 999)"
            )
        )
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    upgrade(engine)
    with engine.connect() as conn:
        brands = conn.execute(text("SELECT currency, alerts, pause_ahead_minutes FROM brands")).all()
        started = conn.execute(text("SELECT started_at FROM spend_files")).scalar_one()
        rows = dict(conn.execute(text("SELECT file_name, at FROM quarantined_rows")).all())
    assert brands == [("USD", "80,100", None)] * 2
    from budget_pipeline.store.types import UTCDateTime

    def instant(value):  # type: ignore[no-untyped-def]
        return UTCDateTime().process_result_value(
            value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value), engine.dialect
        )

    assert instant(rows["s.csv"]) == instant(started)
    assert instant(rows["gone.csv"]) >= before


def test_upgrade_gives_each_campaign_the_key_of_its_windows(db_url: str) -> None:
    """Migration 0010 writes each campaign's dayparting windows, in their order, into
    `campaigns.window_key`, and "" for a campaign without windows; the rule reads them back."""
    from budget_pipeline.rules.dayparting import Window, windows_from_key

    engine = make_engine(db_url)
    upgrade(engine, "0009")
    old_acme(engine)
    with engine.begin() as conn:
        for position, (campaign, mask, start, end) in enumerate(
            (("acme-search", 0b11111, 540, 1020), ("acme-search", 0b100000, 1320, 120), ("tokyo-display", 1, 0, 1440))
        ):
            conn.execute(
                text(
                    "INSERT INTO dayparting_windows (campaign_id, position, weekdays, start_minute, end_minute) "
                    "VALUES (:c, :p, :w, :s, :e)"
                ),
                {"c": campaign, "p": position, "w": mask, "s": start, "e": end},
            )
    upgrade(engine)
    with engine.connect() as conn:
        keys = dict(conn.execute(text("SELECT id, window_key FROM campaigns")).all())
    assert keys == {"acme-search": "31:540-1020;32:1320-120", "acme-social": "", "tokyo-display": "1:0-1440"}
    assert windows_from_key(keys["acme-search"]) == (
        Window(frozenset(range(5)), 540, 1020),
        Window(frozenset({5}), 1320, 120),
    )


def test_upgrade_to_alerts_and_notifications_keeps_marks_and_starts_empty(db_url: str) -> None:
    """Migration 0011: a brand mark made before it keeps its brand (no first day: enforcement
    then looks at today only); the alerts and the outbox start empty, and downgrading drops them."""
    from alembic import command

    from budget_pipeline.store.db import _alembic_config

    engine = make_engine(db_url)
    upgrade(engine, "0010")
    old_acme(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO brands_to_enforce (brand_id) VALUES (1)"))
    upgrade(engine, "0011")
    assert current_revision(engine) == "0011"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT brand_id, first_day FROM brands_to_enforce")).all() == [(1, None)]
        assert conn.execute(text("SELECT count(*) FROM alerts")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM notifications")).scalar_one() == 0
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0010")
    tables = inspect(engine).get_table_names()
    assert "alerts" not in tables and "notifications" not in tables
    assert "first_day" not in {column["name"] for column in inspect(engine).get_columns("brands_to_enforce")}


def test_a_sqlite_uri_names_its_file_and_leaves_the_working_folder_alone(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """`sqlite:///file:/path?mode=ro&uri=true` (a read-only database) is the file /path: making
    its engine creates no `file:` folder where the command runs."""
    from sqlalchemy.engine import make_url

    from budget_pipeline.store.db import sqlite_file

    database = tmp_path / "data" / "budget.db"
    url = f"sqlite:///file:{database}?mode=ro&uri=true"
    assert sqlite_file(make_url(url)) == database
    assert sqlite_file(make_url(f"sqlite:///{database}")) == database
    assert sqlite_file(make_url("sqlite://")) is None
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    make_engine(f"sqlite:///{database}").dispose()
    make_engine(url).dispose()
    assert list(work.iterdir()) == []


def test_notifications_keep_their_payload_across_migration_0012(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Migration 0012: a notification written before it keeps its own payload; those written
    after (rendered when read from their alert or status-log row) get that same payload written
    into them by a downgrade, so no pending notification loses what it says."""
    from alembic import command

    from budget_pipeline import control
    from budget_pipeline.ingest.pipeline import ingest_file
    from budget_pipeline.store.db import _alembic_config
    from budget_pipeline.store.notifications import outbox
    from tests.conftest import write_csv

    engine = make_engine(db_url)
    upgrade(engine, "0011")
    old_acme(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO notifications (id, type, occurred_at, created_at, brand, data, text) VALUES "
                "('old', 'budget.alert', '2026-11-24 12:00:00', '2026-11-24 12:00:00', 'Acme',"
                " '{\"percent\": 80}', 'Acme reached 80%')"
            )
        )
    upgrade(engine)
    with engine.connect() as conn:
        (old,) = outbox(conn)
    assert (old.id, old.data, old.text) == ("old", '{"percent": 80}', "Acme reached 80%")
    noon = dt.datetime(2026, 11, 25, 17, tzinfo=dt.UTC)
    ingest_file(engine, write_csv(tmp_path / "a.csv", ["r1,acme-search,85.5,2026-11-25T15:00:00Z"]), now=noon)
    assert control.enforce_budgets(engine, noon, "run-1").alerts == 1
    ingest_file(engine, write_csv(tmp_path / "b.csv", ["r2,acme-social,20,2026-11-25T15:01:00Z"]), now=noon)
    assert len(control.enforce_budgets(engine, noon, "run-2").changes) == 2
    with engine.connect() as conn:
        rendered = [row for row in reversed(outbox(conn)) if row.id != "old"]
    assert [row.type for row in rendered] == ["budget.alert", "campaign.paused", "campaign.paused", "budget.alert"]
    assert rendered[1].text == "Acme: campaign acme-search (acme-search) paused (daily_budget)"  # named so by old_acme
    assert rendered[1].payload()["data"] == {
        "active_before": True,
        "active_after": False,
        "reasons_before": [],
        "reasons_after": ["daily_budget"],
        "changed_reason": "daily_budget",
        "predicted": False,
        "as_of": "2026-11-25T17:00:00+00:00",
        "run_id": "run-2",
    }
    assert rendered[0].text == "Acme reached 80% of its daily budget for the day of 2026-11-25: 85.50 of 100.00 USD"
    assert rendered[0].payload()["data"] == {
        "period": "daily",
        "period_start": "2026-11-25",
        "percent": 80,
        "spend": "85.50",
        "budget": "100.00",
        "currency": "USD",
        "as_of": "2026-11-25T17:00:00+00:00",
        "run_id": "run-1",
    }
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0011")
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT id, brand, data, text FROM notifications ORDER BY seq")).all()
    assert [(i, brand, json.loads(d), t) for i, brand, d, t in kept] == [
        ("old", "Acme", {"percent": 80}, "Acme reached 80%"),
        *((row.id, "Acme", row.payload()["data"], row.text) for row in rendered),
    ]


def test_notifications_keep_what_they_say_across_migration_0014(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Migration 0014: a notification written before it keeps its type, brand and line; those
    written after hold none (rendered when read) and get them written in by a downgrade, which
    makes the ids unique again."""
    import re

    from alembic import command
    from sqlalchemy.exc import IntegrityError

    from budget_pipeline import control
    from budget_pipeline.ingest.pipeline import ingest_file
    from budget_pipeline.store.db import _alembic_config
    from budget_pipeline.store.notifications import outbox
    from tests.conftest import ACME, apply_yaml, write_csv

    engine = make_engine(db_url)
    upgrade(engine, "0013")
    old_acme(engine)
    with engine.begin() as conn:
        log_id = conn.execute(
            text(
                "INSERT INTO campaign_status_log (campaign_id, at, active_before, active_after, reasons_before,"
                " reasons_after, changed_reason, run_id, predicted) VALUES ('acme-social', '2026-11-24 12:00:00',"
                " true, false, '', 'manual', 'manual', 'run-0', false) RETURNING id"
            )
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO notifications (id, type, occurred_at, created_at, brand, campaign_id, text, log_id)"
                " VALUES ('old:acme-social', 'campaign.paused', '2026-11-24 12:00:00', '2026-11-24 12:00:00',"
                " 'Acme', 'acme-social', 'Acme: campaign Old Name (acme-social) paused (manual)', :log)"
            ),
            {"log": log_id},
        )
    upgrade(engine)
    noon = dt.datetime(2026, 11, 25, 17, tzinfo=dt.UTC)
    ingest_file(engine, write_csv(tmp_path / "a.csv", ["r1,acme-search,120,2026-11-25T15:00:00Z"]), now=noon)
    control.enforce_budgets(engine, noon, "run-1")
    with engine.connect() as conn:
        rows = list(reversed(outbox(conn)))
        stored = conn.execute(text("SELECT type, brand, text FROM notifications WHERE seq > 1")).all()
    assert [(row.id, row.type, row.text) for row in rows[:1]] == [
        ("old:acme-social", "campaign.paused", "Acme: campaign Old Name (acme-social) paused (manual)")
    ]
    change = next(row for row in rows if row.campaign_id == "acme-search")
    assert re.fullmatch(r"[0-9a-f]{16}:[0-9]+:acme-search", change.id)
    assert (change.type, change.brand) == ("campaign.paused", "Acme")
    assert change.text == "Acme: campaign acme-search (acme-search) paused (daily_budget)"  # named so by old_acme
    assert {t for t, _, _ in stored} == {None, "budget.alert"} and {(b, t) for _, b, t in stored} == {(None, None)}
    # Every kind of change, with several reasons, and a rename (acme-search) whose notifications
    # keep the names of before; tokyo-display's render the names of now.
    apply_yaml(engine, ACME.replace("name: Acme Social\n", "name: Acme Social\n        enabled: false\n"))
    control.enforce_budgets(engine, noon, "run-2")
    ingest_file(engine, write_csv(tmp_path / "b.csv", ["r2,tokyo-display,60,2026-11-25T16:00:00Z"]), now=noon)
    control.enforce_budgets(engine, noon, "run-4")
    control.reset_budgets(engine, noon + dt.timedelta(days=1), "run-5", monthly=False)
    with engine.connect() as conn:
        rows = list(reversed(outbox(conn)))
    kinds = {"campaign.paused", "campaign.resumed", "campaign.reasons_changed", "budget.alert"}
    assert {row.type for row in rows} == kinds
    line = "Acme: campaign Acme Social (acme-social) still paused, now for manual, daily_budget"
    assert line in {row.text for row in rows}
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0013")
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT id, type, brand, text FROM notifications ORDER BY seq")).all()
    assert [tuple(row) for row in kept] == [
        (rows[0].id, rows[0].type, rows[0].brand, rows[0].text),
        *((row.id, row.type, row.brand, row.text if row.campaign_id else None) for row in rows[1:]),
    ]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO notifications (id, type, occurred_at, created_at, brand) "
                "VALUES (:id, 'budget.alert', '2026-11-25 12:00:00', '2026-11-25 12:00:00', 'Acme')"
            ),
            {"id": change.id},
        )


def test_months_checked_starts_empty_and_goes_with_a_downgrade(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Migration 0015: months built by 0014 are not taken as checked (an older version may have
    built their days without them), so a refresh checks each whole once; a downgrade drops it."""
    from alembic import command

    from budget_pipeline.defs.reporting import build_days_and_months
    from budget_pipeline.store.db import _alembic_config

    engine = make_engine(db_url)
    upgrade(engine, "0014")
    old_acme(engine)
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM months_checked")).scalar_one() == 0
    build_days_and_months(engine, [dt.date(2026, 11, 25)], dt.datetime(2026, 11, 25, 17, tzinfo=dt.UTC))
    with engine.connect() as conn:
        assert [str(m) for m in conn.execute(text("SELECT month FROM months_checked")).scalars()] == ["2026-11-01"]
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0014")
    assert "months_checked" not in inspect(engine).get_table_names()


def test_dirty_marks_made_before_0016_stay_whole_day_marks(db_url: str) -> None:
    """Migration 0016: a day marked before it is a whole-day mark (its refresh sums every
    campaign of it); a downgrade drops the campaign marks and the flag."""
    from alembic import command

    from budget_pipeline.store.db import _alembic_config

    engine = make_engine(db_url)
    upgrade(engine, "0015")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO dirty_spend_days (day, file_id) VALUES ('2026-11-25', 3)"))
    upgrade(engine)
    with engine.connect() as conn:
        marks = conn.execute(text("SELECT day, file_id, campaigns_only FROM dirty_spend_days")).all()
        assert [(str(day), file_id, bool(only)) for day, file_id, only in marks] == [("2026-11-25", 3, False)]
        assert conn.execute(text("SELECT count(*) FROM dirty_spend_campaigns")).scalar_one() == 0
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0015")
    assert "dirty_spend_campaigns" not in inspect(engine).get_table_names()
    assert "campaigns_only" not in {column["name"] for column in inspect(engine).get_columns("dirty_spend_days")}


@pytest.mark.parametrize(
    ("url", "opened_in"),
    [("sqlite:///budget.db", "made"), ("sqlite:///file:budget.db?uri=true", "elsewhere")],
    ids=["a path (SQLAlchemy makes it absolute)", "a file: URI (SQLite opens it where the process is)"],
)
def test_a_relative_sqlite_path_is_checked_where_sqlite_opened_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, opened_in: str
) -> None:
    """A write asks whether its SQLite file is still at the path (store.db.writing): the path
    SQLite opened, wherever the process was when the engine was made. Nothing was deleted, so no
    write says so, whatever the folder of the moment; the file deleted, the next write does."""
    from budget_pipeline.store.db import writing

    made, elsewhere = tmp_path / "made", tmp_path / "elsewhere"
    made.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(made)
    engine = make_engine(url)
    monkeypatch.chdir(elsewhere)
    upgrade(engine)
    with writing(engine) as conn:
        conn.exec_driver_sql("DELETE FROM brands_to_enforce")
    monkeypatch.chdir(tmp_path)
    with writing(engine) as conn:
        conn.exec_driver_sql("DELETE FROM brands_to_enforce")
    [database] = [path for path in tmp_path.rglob("budget.db")]
    assert database == tmp_path / opened_in / "budget.db"
    database.unlink()
    with pytest.raises(StoreError, match="was deleted or replaced during this write"), writing(engine) as conn:
        conn.exec_driver_sql("DELETE FROM brands_to_enforce")
    engine.dispose()


def test_a_database_made_anew_at_the_path_during_a_write_keeps_its_own_log(tmp_path: Path) -> None:
    """The files are removed (`rm budget.db*`) while a write runs, and another process makes a new
    database at the path and commits into its own write-ahead log before the write ends: the
    write says its file went, and leaves the new database's log where it is (moved aside, the
    new database lost what it had committed)."""
    import sqlite3

    from budget_pipeline.store.db import writing

    database = tmp_path / "budget.db"
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    with pytest.raises(StoreError) as raised, writing(engine) as conn:
        conn.exec_driver_sql("DELETE FROM brands_to_enforce")
        for suffix in ("", "-wal", "-shm"):
            database.with_name(database.name + suffix).unlink(missing_ok=True)
        newcomer = sqlite3.connect(database)
        newcomer.execute("PRAGMA journal_mode=WAL")
        newcomer.execute("CREATE TABLE kept (n INTEGER)")
        newcomer.executemany("INSERT INTO kept VALUES (?)", [(n,) for n in range(100)])
        newcomer.commit()
    assert "was deleted or replaced during this write" in str(raised.value)
    assert "write-ahead log" not in str(raised.value)  # the log at the path is the newcomer's
    assert list(tmp_path.glob("budget.db-wal.replaced-*")) == []
    reader = sqlite3.connect(database)
    assert reader.execute("SELECT count(*) FROM kept").fetchone() == (100,)
    reader.close()
    newcomer.close()
    engine.dispose()


def test_a_sqlite_path_through_a_symbolic_link_is_the_file_it_names(tmp_path: Path) -> None:
    """BUDGET_DATABASE_URL names a link to the database: SQLite opens (and names its log after)
    the file the link points to, and so does the write's check. Writes through the link raise no
    alarm; the file it points to deleted, the next write says so; the link is never touched."""
    from budget_pipeline.store.db import writing

    (tmp_path / "data").mkdir()
    real, link = tmp_path / "data" / "budget.db", tmp_path / "budget.db"
    link.symlink_to(real)
    engine = make_engine(f"sqlite:///{link}")
    upgrade(engine)
    for _ in range(3):
        with writing(engine) as conn:
            conn.exec_driver_sql("DELETE FROM brands_to_enforce")
    assert real.exists() and not (tmp_path / "budget.db-wal").exists()  # the log is beside the file
    real.unlink()
    with pytest.raises(StoreError, match=f"the SQLite database {real} was deleted"), writing(engine) as conn:
        conn.exec_driver_sql("DELETE FROM brands_to_enforce")
    assert link.is_symlink()
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "in_memory"),
    [
        ("sqlite://", True),
        ("sqlite:///:memory:", True),
        ("sqlite:///file::memory:?uri=true", True),
        ("sqlite:///file:x?mode=memory&uri=true", True),
        ("sqlite:///file:/tmp/a.db?uri=true", False),
        ("sqlite:////tmp/budget.db", False),
    ],
)
def test_only_a_sqlite_file_is_a_budget_database(url: str, in_memory: bool) -> None:
    from budget_pipeline import settings

    if in_memory:
        with pytest.raises(settings.SettingError, match="an in-memory SQLite database keeps nothing"):
            settings.parse_database_url(url)
    else:
        assert settings.parse_database_url(url).get_backend_name() == "sqlite"
