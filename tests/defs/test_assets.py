"""The spend assets through real Dagster materializations on SQLite and PostgreSQL."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance, materialize
from sqlalchemy import Engine, select, text

from budget_pipeline.defs.assets import daily_spend, monthly_spend, raw_spend_records
from budget_pipeline.defs.checks import reconcile
from budget_pipeline.defs.resources import BudgetDatabase, Clock
from budget_pipeline.ingest.pipeline import ingest_file
from budget_pipeline.rules.money import MONEY_CEILING
from budget_pipeline.store.aggregates import PeriodTotals
from budget_pipeline.store.db import writing
from budget_pipeline.store.schema import DailySpend, MonthlySpend
from tests.conftest import apply_yaml, partition_range, write_csv

ASSETS = [raw_spend_records, daily_spend, monthly_spend]


def run(db_url: str, selection: list, instance: DagsterInstance | None = None, **kwargs):  # type: ignore[no-untyped-def]
    return materialize(
        ASSETS,
        selection=selection,
        resources={"database": BudgetDatabase(url=db_url), "clock": Clock()},
        instance=instance or DagsterInstance.ephemeral(),
        **kwargs,
    )


def daily_rows(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(DailySpend.day, DailySpend.campaign_id, DailySpend.spend, DailySpend.records).order_by(
                    DailySpend.day, DailySpend.campaign_id
                )
            )
        ]


def monthly_total(engine: Engine, month: dt.date) -> Decimal:
    with engine.connect() as conn:
        rows = conn.execute(select(MonthlySpend.spend).where(MonthlySpend.month == month)).scalars().all()
    return sum(rows, Decimal(0))


def checks_of(result) -> dict[str, tuple[bool, AssetCheckSeverity, dict]]:  # type: ignore[no-untyped-def]
    return {e.check_name: (e.passed, e.severity, e.metadata) for e in result.get_asset_check_evaluations()}


def test_daily_partition_sums_by_brand_local_day(acme: Engine, db_url: str, tmp_path: Path) -> None:
    ingest_file(
        acme,
        write_csv(
            tmp_path / "s.csv",
            [
                "r1,acme-search,60.00,2026-11-25T15:00:00Z",
                "r2,acme-social,45.00,2026-11-25T16:00:00Z",
                "r3,acme-search,1.00,2026-11-25T04:00:00Z",  # 23:00 on the 24th in New York
                "r4,tokyo-display,7.25,2026-11-25T16:00:00Z",  # 01:00 on the 26th in Tokyo
            ],
        ),
    )
    result = run(db_url, [daily_spend], partition_key="2026-11-25")
    assert result.success
    assert daily_rows(acme) == [
        (dt.date(2026, 11, 25), "acme-search", Decimal("60.000000"), 1),
        (dt.date(2026, 11, 25), "acme-social", Decimal("45.000000"), 1),
    ]
    [mat, month] = result.asset_materializations_for_node("daily_spend")
    # The day's month is rebuilt with it, and reported: its materialization and checks go stale otherwise.
    assert (month.asset_key, month.partition) == (AssetKey("monthly_spend"), "2026-11-01")
    assert mat.partition == "2026-11-25"
    assert mat.metadata["spend"].value == "105.00 USD"
    assert mat.description == "2026-11-25: 2 records, 105.00 USD spent by 1 brand(s)"
    assert mat.metadata["records"].value == 2
    assert "| Acme | 100.00 USD | 105.00 USD | 105% (reached) |" in mat.metadata["brands_by_budget_use"].value
    checks = checks_of(result)
    passed, severity, metadata = checks["daily_spend_within_budget"]
    assert (passed, severity) == (False, AssetCheckSeverity.WARN)
    assert "| Acme | 100.00 USD | 105.00 USD | 5.00 USD | 105% |" in metadata["overspend"].value
    assert checks["daily_spend_reconciles"][0] is True


def test_range_backfill_is_one_run_and_idempotent(acme: Engine, db_url: str, tmp_path: Path) -> None:
    rows = [f"r{d},acme-search,{d}.50,2026-11-{d:02d}T15:00:00Z" for d in range(1, 11)]
    ingest_file(acme, write_csv(tmp_path / "s.csv", rows))
    tags = partition_range("2026-11-01", "2026-11-10")
    first = run(db_url, [daily_spend], tags=tags)
    assert first.success
    before = daily_rows(acme)
    assert len(before) == 10
    assert run(db_url, [daily_spend], tags=tags).success
    assert daily_rows(acme) == before, "re-materializing a range changes nothing"
    assert run(db_url, [monthly_spend], partition_key="2026-11-01").success
    assert monthly_total(acme, dt.date(2026, 11, 1)) == sum(Decimal(f"{d}.50") for d in range(1, 11))


def test_a_range_backfill_reports_each_day_alone(acme: Engine, db_url: str, tmp_path: Path) -> None:
    # Three days with 1, 3 and 2 records; only the 21st is over Acme's daily budget of 100.
    rows = ["a,acme-search,10,2026-11-20T15:00:00Z"]
    rows += [f"b{i},acme-search,40,2026-11-21T15:00:00Z" for i in range(3)]
    rows += [f"c{i},acme-social,5.25,2026-11-22T15:00:00Z" for i in range(2)]
    ingest_file(acme, write_csv(tmp_path / "s.csv", rows))
    tags = partition_range("2026-11-20", "2026-11-22")
    with DagsterInstance.ephemeral() as instance:
        result = run(db_url, [daily_spend], instance, tags=tags)
        assert result.success
        stored = {
            record.asset_materialization.partition: record.asset_materialization  # type: ignore[union-attr]
            for record in instance.fetch_materializations(AssetKey("daily_spend"), limit=10).records
        }
    assert sorted(stored) == ["2026-11-20", "2026-11-21", "2026-11-22"], "one materialization per day"
    figures = {key: (m.metadata["records"].value, m.metadata["spend"].value) for key, m in stored.items()}
    assert figures == {"2026-11-20": (1, "10.00 USD"), "2026-11-21": (3, "120.00 USD"), "2026-11-22": (2, "10.50 USD")}
    within = {
        e.partition: e for e in result.get_asset_check_evaluations() if e.check_name == "daily_spend_within_budget"
    }
    assert {key: e.passed for key, e in within.items()} == {"2026-11-20": True, "2026-11-21": False, "2026-11-22": True}
    assert (
        within["2026-11-21"].description == "1 brand(s) at or over the daily budget: Acme 120.00 / 100.00 USD, +20.00"
    )
    reconciled = [e.partition for e in result.get_asset_check_evaluations() if e.check_name == "daily_spend_reconciles"]
    assert sorted(reconciled) == ["2026-11-20", "2026-11-21", "2026-11-22"]


def test_a_day_without_spend_says_so(acme: Engine, db_url: str) -> None:
    result = run(db_url, [daily_spend], partition_key="2026-11-19")
    [mat, _] = result.asset_materializations_for_node("daily_spend")
    assert mat.description == "2026-11-19: no spend recorded"
    assert mat.metadata["records"].value == 0


def test_late_record_reopens_its_day_and_month(acme: Engine, db_url: str, tmp_path: Path) -> None:
    ingest_file(acme, write_csv(tmp_path / "a.csv", ["r1,acme-search,10,2026-10-31T15:00:00Z"]))
    assert run(db_url, [daily_spend], partition_key="2026-10-31").success
    assert run(db_url, [monthly_spend], partition_key="2026-10-01").success
    ingest_file(acme, write_csv(tmp_path / "late.csv", ["late,acme-search,2.5,2026-10-31T20:00:00Z"]))
    with acme.connect() as conn:
        assert [str(d) for d in conn.execute(text("SELECT day FROM dirty_spend_days")).scalars()] == ["2026-10-31"]
    assert run(db_url, [daily_spend], partition_key="2026-10-31").success
    assert run(db_url, [monthly_spend], partition_key="2026-10-01").success
    assert monthly_total(acme, dt.date(2026, 10, 1)) == Decimal("12.5")


def test_a_days_backfill_reports_its_month_too_with_the_months_overspend(
    acme: Engine, db_url: str, tmp_path: Path
) -> None:
    """Acme's October is under its 2,000.00 until a late 2,500.00 comes in; backfilling that day
    alone rebuilds October too (and clears the day's marks, so no refresh will): the run says so."""
    ingest_file(acme, write_csv(tmp_path / "a.csv", ["r1,acme-search,10,2026-10-31T15:00:00Z"]))
    assert run(db_url, [daily_spend], partition_key="2026-10-31").success
    ingest_file(acme, write_csv(tmp_path / "late.csv", ["late,acme-search,2500,2026-10-15T15:00:00Z"]))
    result = run(db_url, [daily_spend], partition_key="2026-10-15")
    assert result.success
    months = [
        m for m in result.asset_materializations_for_node("daily_spend") if m.asset_key == AssetKey("monthly_spend")
    ]
    assert [(m.partition, m.metadata["spend"].value) for m in months] == [("2026-10-01", "2510.00 USD")]
    [within] = [e for e in result.get_asset_check_evaluations() if e.check_name == "monthly_spend_within_budget"]
    assert (within.partition, within.passed) == ("2026-10-01", False)
    assert monthly_total(acme, dt.date(2026, 10, 1)) == Decimal("2510")


def test_a_partitions_spend_is_told_in_each_currency_never_added_across(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    """Brands keep budgets and spend in their own currencies: a partition's spend is a total
    per currency (exact text, by currency code), in its metadata and its description alike."""
    apply_yaml(
        engine,
        """
brands:
  - {name: Berlin, timezone: UTC, currency: EUR, daily_budget: "50.00", monthly_budget: "900.00",
     campaigns: [{id: berlin-1, name: B1}]}
  - {name: Boston, timezone: UTC, currency: USD, daily_budget: "80.00", monthly_budget: "900.00",
     campaigns: [{id: boston-1, name: U1}]}
  - {name: Bordeaux, timezone: UTC, currency: EUR, daily_budget: "50.00", monthly_budget: "900.00",
     campaigns: [{id: bordeaux-1, name: F1}]}
""",
    )
    rows = ["r1,berlin-1,10.25,2026-11-25T10:00:00Z", "r2,boston-1,70.10,2026-11-25T11:00:00Z"]
    rows += ["r3,bordeaux-1,0.000001,2026-11-25T12:00:00Z"]
    ingest_file(engine, write_csv(tmp_path / "s.csv", rows))
    result = run(db_url, [daily_spend], partition_key="2026-11-25")
    assert result.success
    day, month = result.asset_materializations_for_node("daily_spend")
    assert day.metadata["spend"].value == "10.250001 EUR + 70.10 USD"
    assert day.description == "2026-11-25: 3 records, 10.250001 EUR + 70.10 USD spent by 3 brand(s)"
    assert month.metadata["spend"].value == "10.250001 EUR + 70.10 USD"
    assert all(not isinstance(value.value, float) for m in (day, month) for value in m.metadata.values())


@pytest.mark.parametrize("asset", ["daily", "monthly"])
def test_a_range_the_wrong_way_round_fails_in_one_line(acme: Engine, db_url: str, asset: str) -> None:
    selection, first, last = (
        ([daily_spend], "2026-11-30", "2026-11-28")
        if asset == "daily"
        else ([monthly_spend], "2026-12-01", "2026-10-01")
    )
    result = run(db_url, selection, tags=partition_range(first, last), raise_on_error=False)
    assert not result.success
    [failure] = [event for event in result.all_events if event.is_step_failure]
    assert failure.step_failure_data.error.message.strip().splitlines() == [
        f"dagster._core.definitions.events.Failure: partition range {first}...{last} ends before it starts; "
        f"write {last}...{first}"
    ]
    assert not result.asset_materializations_for_node(selection[0].op.name)


def test_reconcile_compares_a_day_with_its_raw_totals() -> None:
    day = dt.date(2026, 11, 25)
    raw = {day: (1, Decimal("10.000000"))}
    outcome = reconcile(day, raw, PeriodTotals(rows=1, records=2, spend=Decimal("10.000000")))
    assert (outcome.passed, outcome.severity) == (False, AssetCheckSeverity.ERROR)
    assert outcome.description == (
        "differs from its raw records: 1 records, 10.00 spent in raw; 2 records, 10.00 in the aggregate"
    )
    assert reconcile(day, raw, PeriodTotals(rows=1, records=1, spend=Decimal("10"))).passed
    assert reconcile(day, {}, PeriodTotals()).passed, "a day without records or rows matches"


def test_reconcile_check_fails_when_records_fall_out_of_the_aggregate(
    acme: Engine, db_url: str, tmp_path: Path
) -> None:
    ingest_file(acme, write_csv(tmp_path / "s.csv", ["r1,acme-search,10,2026-11-25T15:00:00Z"]))
    with writing(acme) as conn:  # a record of a campaign the catalog does not hold has no brand to sum under
        conn.execute(
            text(
                "INSERT INTO raw_spend_records "
                "(record_id, campaign_id, amount, occurred_at, local_date, file_id, line_no) "
                "SELECT 'ghost', 'no-such-campaign', amount, occurred_at, local_date, file_id, 3 FROM raw_spend_records"
            )
        )
    result = run(db_url, [daily_spend], partition_key="2026-11-25")
    passed, severity, metadata = checks_of(result)["daily_spend_reconciles"]
    assert (passed, severity) == (False, AssetCheckSeverity.ERROR)
    assert (metadata["raw_records"].value, metadata["aggregate_records"].value) == ("2", "1")


def test_a_day_past_the_largest_sum_is_shown_as_at_least(acme: Engine, db_url: str, tmp_path: Path) -> None:
    """12,000 records of the largest amount in a day: the sum is held at MONEY_CEILING (a plain
    SUM overflowed on SQLite and failed the run), and the UI says "at least", not a total."""
    rows = [f"h{i},acme-search,999999999.999999,2026-11-21T15:00:00Z" for i in range(12_000)]
    ingest_file(acme, write_csv(tmp_path / "s.csv", rows))
    with DagsterInstance.ephemeral() as instance:
        result = run(db_url, [daily_spend], instance, partition_key="2026-11-21")
        assert result.success
        [record] = instance.fetch_materializations(AssetKey("daily_spend"), limit=1).records
    shown = record.asset_materialization.metadata["spend"].value  # type: ignore[union-attr]
    assert shown == f"at least {MONEY_CEILING} USD"
    [within] = [e for e in result.get_asset_check_evaluations() if e.check_name == "daily_spend_within_budget"]
    assert within.description == (
        f"1 brand(s) at or over the daily budget: Acme at least {MONEY_CEILING} / 100.00 USD,"
        f" +at least {MONEY_CEILING - 100}"
    )
    [reconciled] = [e for e in result.get_asset_check_evaluations() if e.check_name == "daily_spend_reconciles"]
    assert reconciled.passed
    assert reconciled.metadata["aggregate_spend"].value == f"at least {MONEY_CEILING}"
