"""The control jobs through real Dagster runs on SQLite and PostgreSQL, with `as_of` given in
run config exactly as the contract writes it."""

import datetime as dt
import gc
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance
from sqlalchemy import Engine, event, func, select

from budget_pipeline.control import apply_dayparting, enforce_budgets, pending_dayparting_changes
from budget_pipeline.definitions import defs
from budget_pipeline.defs.schedules import clock_config
from budget_pipeline.ingest.pipeline import ingest_file
from budget_pipeline.report import status_report
from budget_pipeline.store.history import history
from budget_pipeline.store.schema import StatusLog
from budget_pipeline.store.status import campaign_states
from tests.conftest import apply_yaml, write_csv
from tests.defs.conftest import SEED

NOON_UTC = "2026-11-25T12:00:00Z"


def run(job: str, as_of: str) -> str:
    result = defs.resolve_job_def(job).execute_in_process(
        run_config=clock_config(dt.datetime.fromisoformat(as_of)), instance=DagsterInstance.ephemeral()
    )
    assert result.success
    return result.run_id


def states(engine: Engine) -> dict[str, list[str]]:
    with engine.connect() as conn:
        return {cid: sorted(reasons) for cid, (_, _, reasons) in sorted(campaign_states(conn).items())}


def log_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(StatusLog)).scalar_one()


def spend(engine: Engine, tmp_path: Path, rows: list[str], name: str = "s.csv") -> None:
    ingest_file(engine, write_csv(tmp_path / name, rows))


def test_seed_scenario_pauses_every_campaign_of_every_brand(env: Engine, tmp_path: Path) -> None:
    # One campaign spends the brand's whole daily budget, the other $5 less: the old system,
    # comparing one campaign with the brand budget, paused only the first of each pair.
    spend(
        env,
        tmp_path,
        [
            "a1r,a1,50.00,2026-11-25T13:00:00Z",
            "a2r,a2,45.00,2026-11-25T13:00:00Z",
            "b1r,b1,75.00,2026-11-25T11:00:00Z",
            "b2r,b2,70.00,2026-11-25T11:00:00Z",
            "c1r,c1,100.00,2026-11-25T02:00:00Z",
            "c2r,c2,95.00,2026-11-25T02:00:00Z",
        ],
    )
    # 14:00Z is the 25th everywhere here: 09:00 in New York, 14:00 in London, 23:00 in Tokyo.
    run_id = run("enforce_budgets_job", "2026-11-25T14:00:00Z")
    assert states(env) == {cid: ["daily_budget"] for cid in ("a1", "a2", "b1", "b2", "c1", "c2")}
    with env.connect() as conn:
        entries = history(conn)
    assert len(entries) == 6
    assert {(e.active_before, e.active_after, e.changed_reason, e.run_id) for e in entries} == {
        (True, False, "daily_budget", run_id)
    }
    assert all(e.at == dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC) for e in entries)

    run("enforce_budgets_job", "2026-11-25T14:05:00Z")
    assert log_count(env) == 6, "the same evaluation again changes and logs nothing"


def test_late_spend_for_yesterday_counts_toward_its_day_and_month(env: Engine, tmp_path: Path) -> None:
    apply_yaml(env, SEED.replace('monthly_budget: "1000.00"', 'monthly_budget: "60.00"'))
    spend(env, tmp_path, ["t1,a1,30,2026-11-25T15:00:00Z"])
    run("enforce_budgets_job", NOON_UTC.replace("12:00", "16:00"))
    assert states(env)["a1"] == []
    # Late: spend from yesterday afternoon in New York arrives today.
    spend(env, tmp_path, ["late,a2,35,2026-11-24T20:00:00Z"], "late.csv")
    run("enforce_budgets_job", "2026-11-25T16:10:00Z")
    assert states(env)["a1"] == ["monthly_budget"] == states(env)["a2"]
    assert states(env)["b1"] == []


def test_raising_a_budget_clears_its_reason_at_the_next_enforcement(env: Engine, tmp_path: Path) -> None:
    spend(env, tmp_path, ["x,a1,55,2026-11-25T15:00:00Z"])
    run("enforce_budgets_job", "2026-11-25T16:00:00Z")
    assert states(env)["a2"] == ["daily_budget"]
    apply_yaml(env, SEED.replace('daily_budget: "50.00"', 'daily_budget: "80.00"'))
    run("enforce_budgets_job", "2026-11-25T16:01:00Z")
    assert states(env)["a1"] == [] == states(env)["a2"]


def test_manual_pause_survives_resets_and_budget_reasons_reset(env: Engine, tmp_path: Path) -> None:
    apply_yaml(env, SEED.replace("{id: a1, name: A1}", "{id: a1, name: A1, enabled: false}"))
    spend(env, tmp_path, ["x,a2,50,2026-11-25T15:00:00Z"])
    run("daily_reset_job", "2026-11-25T16:00:00Z")  # first reset just records the local day
    run("enforce_budgets_job", "2026-11-25T16:00:00Z")
    assert states(env)["a1"] == ["daily_budget", "manual"]
    assert states(env)["a2"] == ["daily_budget"]
    # New York's next local day starts at 05:00Z.
    run("daily_reset_job", "2026-11-26T04:45:00Z")
    assert states(env)["a2"] == ["daily_budget"], "not midnight in New York yet"
    run("daily_reset_job", "2026-11-26T05:00:00Z")
    assert states(env)["a1"] == ["manual"]
    assert states(env)["a2"] == []


def test_tokyo_resets_at_its_own_midnight(env: Engine, tmp_path: Path) -> None:
    spend(env, tmp_path, ["t,c1,100,2026-11-25T02:00:00Z", "n,a1,50,2026-11-25T15:00:00Z"])
    run("daily_reset_job", "2026-11-25T14:00:00Z")
    run("enforce_budgets_job", "2026-11-25T14:00:00Z")
    assert states(env)["c1"] == ["daily_budget"] == states(env)["a1"]
    run("daily_reset_job", "2026-11-25T15:00:00Z")  # midnight in Tokyo (UTC+9), 10:00 in New York
    assert states(env)["c1"] == [] == states(env)["c2"]
    assert states(env)["a1"] == ["daily_budget"]


def test_campaign_cap_pauses_only_its_campaign(env: Engine, tmp_path: Path) -> None:
    apply_yaml(env, SEED.replace("{id: b1, name: B1}", '{id: b1, name: B1, daily_budget: "20.00"}'))
    spend(env, tmp_path, ["x,b1,20,2026-11-25T11:00:00Z"])
    run("enforce_budgets_job", NOON_UTC)
    assert states(env)["b1"] == ["campaign_daily_budget"]
    assert states(env)["b2"] == []


def test_a_new_day_clears_a_campaigns_daily_cap_and_a_new_month_its_monthly_cap(env: Engine, tmp_path: Path) -> None:
    # b1 (London) may spend 20.00 a day and 30.00 a month of its own; b2 has no cap.
    caps = '{id: b1, name: B1, daily_budget: "20.00", monthly_budget: "30.00"}'
    apply_yaml(env, SEED.replace("{id: b1, name: B1}", caps))
    spend(env, tmp_path, ["d1,b1,20,2026-11-29T11:00:00Z"])
    run("daily_reset_job", "2026-11-29T12:00:00Z")  # the 29th is each brand's last reset
    run("monthly_reset_job", "2026-11-29T12:00:00Z")
    run("enforce_budgets_job", "2026-11-29T12:00:00Z")
    assert states(env)["b1"] == ["campaign_daily_budget"] and states(env)["b2"] == []
    run("daily_reset_job", "2026-11-30T00:00:00Z")  # London's 30th: a new day clears the daily cap
    assert states(env)["b1"] == []
    spend(env, tmp_path, ["d2,b1,10,2026-11-30T11:00:00Z"], name="t.csv")
    run("enforce_budgets_job", "2026-11-30T12:00:00Z")
    assert states(env)["b1"] == ["campaign_monthly_budget"], "10 today, 30 in the month"
    run("daily_reset_job", "2026-12-01T00:00:00Z")  # a new day keeps the month's cap ...
    assert states(env)["b1"] == ["campaign_monthly_budget"]
    run("monthly_reset_job", "2026-12-01T00:00:00Z")  # ... a new month clears it
    assert states(env)["b1"] == [] == states(env)["b2"]


def test_raising_a_campaigns_cap_above_its_spend_clears_its_reason_at_the_next_evaluation(
    env: Engine, tmp_path: Path
) -> None:
    apply_yaml(env, SEED.replace("{id: b1, name: B1}", '{id: b1, name: B1, daily_budget: "20.00"}'))
    spend(env, tmp_path, ["x,b1,20,2026-11-25T11:00:00Z"])
    run("enforce_budgets_job", NOON_UTC)
    assert states(env)["b1"] == ["campaign_daily_budget"]
    apply_yaml(env, SEED.replace("{id: b1, name: B1}", '{id: b1, name: B1, daily_budget: "20.01"}'))
    run("enforce_budgets_job", "2026-11-25T12:01:00Z")
    assert states(env)["b1"] == []


def test_history_is_newest_first(env: Engine, tmp_path: Path) -> None:
    windows = '{id: a1, name: A1, dayparting: [{start: "09:00", end: "17:00"}]}'
    apply_yaml(env, SEED.replace("{id: a1, name: A1}", windows))
    run("dayparting_job", "2026-11-25T12:00:00Z")  # 07:00 in New York: closed
    spend(env, tmp_path, ["x,a2,50,2026-11-25T12:30:00Z"])
    run("enforce_budgets_job", "2026-11-25T13:00:00Z")  # the budget too
    run("dayparting_job", "2026-11-25T14:00:00Z")  # open: the budget pause stays
    run("daily_reset_job", "2026-11-26T05:00:00Z")  # New York's next day: active
    with env.connect() as conn:
        entries = history(conn, "a1")
    assert [(e.at.isoformat(), e.changed_reason, e.reasons_after) for e in entries] == [
        ("2026-11-26T05:00:00+00:00", "daily_budget", []),
        ("2026-11-25T14:00:00+00:00", "dayparting", ["daily_budget"]),
        ("2026-11-25T13:00:00+00:00", "daily_budget", ["daily_budget", "dayparting"]),
        ("2026-11-25T12:00:00+00:00", "dayparting", ["dayparting"]),
    ]


def status_reported(job: str, as_of: str) -> dict[str, object]:
    """The campaign_status materialization a run of `job` reported: its metadata's values."""
    result = defs.resolve_job_def(job).execute_in_process(
        run_config=clock_config(dt.datetime.fromisoformat(as_of)), instance=DagsterInstance.ephemeral()
    )
    assert result.success
    [status] = [m for m in result.get_asset_materialization_events() if m.asset_key.path == ["campaign_status"]]
    return {key: value.value for key, value in status.materialization.metadata.items()}


def test_the_dayparting_and_reset_runs_report_campaign_status_with_their_changes(env: Engine, tmp_path: Path) -> None:
    windows = '{id: a1, name: A1, dayparting: [{start: "09:00", end: "17:00"}]}'
    apply_yaml(env, SEED.replace("{id: a1, name: A1}", windows))
    closed = status_reported("dayparting_job", "2026-11-25T12:00:00Z")  # 07:00 in New York
    assert (closed["step"], closed["paused"], closed["paused_dayparting"], closed["active"]) == ("dayparting", 1, 1, 5)
    assert (closed["changed_in_this_run"], closed["paused_in_this_run"]) == (1, 1)
    assert "| a1 | Brand A | active | dayparting | dayparting | outside its hours |" in str(closed["changes"])
    # Brand B reaches its day's and month's budget (75.00 of 75.00, and of a 75.00 month).
    apply_yaml(env, SEED.replace("{id: a1, name: A1}", windows).replace('"1500.00"', '"75.00"'))
    spend(env, tmp_path, ["x,b2,75,2026-11-25T11:00:00Z"])
    run("enforce_budgets_job", "2026-11-25T12:00:00Z")
    day = status_reported("daily_reset_job", "2026-11-26T00:00:00Z")  # London's next day
    assert (day["step"], day["changed_in_this_run"], day["resumed_in_this_run"], day["paused_daily_budget"]) == (
        "daily reset",
        2,
        0,
        0,
    )
    assert day["paused_monthly_budget"] == 2, "the month's budget stays reached"
    assert "| b1 | Brand B | daily_budget,monthly_budget | monthly_budget | daily_budget |" in str(day["changes"])
    month = status_reported("monthly_reset_job", "2026-12-01T00:00:00Z")  # London's next month
    assert (month["step"], month["changed_in_this_run"], month["resumed_in_this_run"]) == ("monthly reset", 2, 2)
    assert (month["paused_monthly_budget"], month["paused"]) == (0, 1)
    assert "| b2 | Brand B | monthly_budget | active | monthly_budget |" in str(month["changes"])


@pytest.mark.parametrize("job", ["enforce_budgets_job", "dayparting_job", "daily_reset_job"])
def test_every_campaign_status_comes_with_its_notifications_check(env: Engine, tmp_path: Path, job: str) -> None:
    """Without a webhook no delivery run ever reports notifications_delivered: each status step
    does, naming the campaign_status it reported, so the UI shows the check evaluated for the
    latest one, and says what waits in the outbox."""
    spend(env, tmp_path, ["a1r,a1,50.00,2026-11-25T13:00:00Z"])
    run("enforce_budgets_job", "2026-11-25T14:00:00Z")  # pauses a1 and a2, and alerts at 80 and 100%
    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(job).execute_in_process(
            run_config=clock_config(dt.datetime(2026, 11, 25, 14, 5, tzinfo=dt.UTC)), instance=instance
        )
        assert result.success
        [status] = instance.fetch_materializations(AssetKey("campaign_status"), limit=1).records
    assert status.run_id == result.run_id
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == "notifications_delivered"]
    assert check.passed and check.target_materialization_data is not None
    assert check.target_materialization_data.storage_id == status.storage_id
    assert check.description == (
        "no notification has failed for good; 4 pending, 0 delivered (`budget-pipeline notifications` lists them)"
    )
    assert check.metadata["notifications_pending"].value == 4


@pytest.mark.parametrize("monthly", [False, True], ids=["daily", "monthly"])
def test_a_reset_that_ran_late_does_not_undo_the_next_one(env: Engine, tmp_path: Path, monthly: bool) -> None:
    """A reset whose instant is before the last reset's period (a `tick` begun at 23:59 whose
    reset comes after the midnight one, an old run run again) changes nothing: it re-paused
    every brand over budget the period before."""
    from budget_pipeline.control import brands_due_for_reset, reset_budgets

    apply_yaml(env, SEED.replace('monthly_budget: "1000.00"', 'monthly_budget: "50.00"'))
    spend(env, tmp_path, ["a1r,a1,60.00,2026-11-30T13:00:00Z"])
    enforce_budgets(env, dt.datetime(2026, 11, 30, 14, tzinfo=dt.UTC), "pause")
    paused = states(env)
    assert paused["a1"] == paused["a2"] == ["daily_budget", "monthly_budget"]
    midnight = dt.datetime(2026, 12, 1, 5, tzinfo=dt.UTC)  # the 1st in New York
    reset = reset_budgets(env, midnight, "reset", monthly=monthly)
    assert {ch.campaign_id for ch in reset.changes} >= {"a1", "a2"}
    after = states(env)
    late = reset_budgets(env, midnight - dt.timedelta(minutes=15), "late", monthly=monthly)
    assert late.changes == [] and states(env) == after
    assert 1 not in brands_due_for_reset(env, midnight + dt.timedelta(minutes=15), monthly=monthly)


def test_campaign_status_lists_the_latest_changes_of_any_run(env: Engine, tmp_path: Path) -> None:
    """Most runs (one per spend file) change nothing: campaign_status still says when and why
    the latest campaigns were paused, and by which run."""
    before = status_reported("enforce_budgets_job", "2026-11-25T13:00:00Z")
    assert before["recent_changes"] == "no campaign has changed yet"
    spend(env, tmp_path, ["a1r,a1,50.00,2026-11-25T13:00:00Z"])
    pausing = run("enforce_budgets_job", "2026-11-25T14:00:00Z")
    later = status_reported("enforce_budgets_job", "2026-11-25T14:05:00Z")
    assert later["changes"] == "no campaign changed"
    lines = str(later["recent_changes"]).splitlines()
    assert lines[0] == "| campaign | brand | at | before | after | changed | run |"
    assert sorted(lines[2:]) == [
        f"| {cid} | Brand A | 2026-11-25T14:00:00+00:00 | active | daily_budget | daily_budget | {pausing[:8]} |"
        for cid in ("a1", "a2")
    ]


def test_dayparting_never_resumes_a_budget_paused_campaign(env: Engine, tmp_path: Path) -> None:
    windows = '{id: a1, name: A1, dayparting: [{start: "09:00", end: "17:00"}]}'
    apply_yaml(env, SEED.replace("{id: a1, name: A1}", windows))
    run("dayparting_job", "2026-11-25T12:00:00Z")  # 07:00 in New York: closed
    assert states(env)["a1"] == ["dayparting"]
    spend(env, tmp_path, ["x,a2,50,2026-11-25T12:30:00Z"])
    run("enforce_budgets_job", "2026-11-25T13:00:00Z")
    assert states(env)["a1"] == ["daily_budget", "dayparting"]
    run("dayparting_job", "2026-11-25T14:00:00Z")  # 09:00 in New York: open
    assert states(env)["a1"] == ["daily_budget"], "the window opened but the budget pause stays"
    with env.connect() as conn:
        assert history(conn, "a1")[0].changed_reason == "dayparting"


def test_a_campaign_moving_brand_takes_its_spend_along(env: Engine, tmp_path: Path) -> None:
    # Brand A (50/day) and Brand D share a zone; a2's 60 pauses A, then a2 moves to D (100/day).
    both = (
        SEED
        + """
  - name: Brand D
    timezone: America/New_York
    daily_budget: "100.00"
    monthly_budget: "2000.00"
    campaigns: [{id: d1, name: D1}]
"""
    )
    apply_yaml(env, both)
    spend(env, tmp_path, ["x,a2,60,2026-11-25T15:00:00Z", "y,d1,45,2026-11-25T15:00:00Z"])
    run("enforce_budgets_job", "2026-11-25T16:00:00Z")
    assert states(env)["a1"] == ["daily_budget"] and states(env)["d1"] == []
    moved = both.replace("campaigns: [{id: a1, name: A1}, {id: a2, name: A2}]", "campaigns: [{id: a1, name: A1}]")
    moved = moved.replace("campaigns: [{id: d1, name: D1}]", "campaigns: [{id: d1, name: D1}, {id: a2, name: A2}]")
    apply_yaml(env, moved)
    run("enforce_budgets_job", "2026-11-25T16:05:00Z")
    assert states(env)["a1"] == [], "Brand A no longer has a2's spend"
    assert states(env)["d1"] == ["daily_budget"] == states(env)["a2"], "Brand D now does: 105 >= 100"


def test_monthly_spend_is_the_month_up_to_the_as_of_date_for_rules_and_status(env: Engine, tmp_path: Path) -> None:
    # Brand A (New York, 1000 a month); b1 has a monthly cap of its own of 100.
    apply_yaml(env, SEED.replace("{id: b1, name: B1}", '{id: b1, name: B1, monthly_budget: "100.00"}'))
    spend(
        env,
        tmp_path,
        [
            "early,a1,600,2026-11-05T15:00:00Z",
            "later,a2,600,2026-11-19T15:00:00Z",
            "b-early,b1,60,2026-11-05T12:00:00Z",
            "b-later,b1,60,2026-11-19T12:00:00Z",
        ],
    )
    tenth = "2026-11-10T17:00:00Z"
    run("enforce_budgets_job", tenth)
    assert states(env)["a1"] == [] == states(env)["b1"], "as of the 10th, A has spent 600 of 1000 and b1 60 of 100"
    brand_a = next(b for b in status_report(env, dt.datetime.fromisoformat(tenth))["brands"] if b["name"] == "Brand A")
    assert (brand_a["monthly_spend"], brand_a["daily_spend"]) == ("600.00", "0.00")
    run("enforce_budgets_job", "2026-11-20T17:00:00Z")
    assert states(env)["a1"] == ["monthly_budget"] == states(env)["a2"]
    assert states(env)["b1"] == ["campaign_monthly_budget"] and states(env)["b2"] == []


def test_spend_exactly_at_the_budget_pauses_and_warns_alike(env: Engine, tmp_path: Path) -> None:
    spend(env, tmp_path, ["x,a1,50.00,2026-11-25T15:00:00Z"])  # Brand A's daily budget is 50.00
    result = defs.resolve_job_def("enforce_budgets_job").execute_in_process(
        run_config=clock_config(dt.datetime(2026, 11, 25, 16, tzinfo=dt.UTC)), instance=DagsterInstance.ephemeral()
    )
    assert states(env)["a1"] == ["daily_budget"]
    [check] = [
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "daily_spend_within_budget" and e.partition == "2026-11-25"
    ]
    assert not check.passed and "Brand A" in check.metadata["overspend"].value


def test_a_run_without_as_of_resolves_one_instant_and_records_it(env: Engine, tmp_path: Path) -> None:
    spend(env, tmp_path, ["x,a1,55,2026-11-25T15:00:00Z"])
    with DagsterInstance.ephemeral() as instance:
        # Launched with the run tag alone (as a re-execution carries it): every step reads it.
        tagged = defs.resolve_job_def("enforce_budgets_job").execute_in_process(
            instance=instance, tags={"budget_pipeline/as_of": "2026-11-25T16:00:00+00:00"}
        )
        assert states(env)["a1"] == ["daily_budget"], "evaluated on the 25th, not today"
        # Neither config nor tag: the first step reads the clock once and records it for the rest.
        plain = defs.resolve_job_def("enforce_budgets_job").execute_in_process(instance=instance)
        recorded = instance.get_run_by_id(plain.run_id).tags["budget_pipeline/as_of"]
    for result in (tagged, plain):
        instants = {
            event.step_key: event.event_specific_data.metadata["as_of"].value
            for event in result.all_events
            if event.event_type_value == "STEP_OUTPUT"
        }
        assert set(instants) == {"refresh_spend_partitions", "enforce_budgets"}
        assert len(set(instants.values())) == 1
    assert set(instants.values()) == {recorded}


@pytest.mark.parametrize(
    ("as_of", "said"),
    [
        ("9999-12-31T23:59:59Z", "is outside the instants this product can evaluate (0001-02-01 to 9999-11-29)"),
        ("garbage", "is not an ISO-8601 timestamp like 2026-11-25T10:00:00Z"),
        ("2026-11-25T10:00:00", "has no UTC offset; add Z or +HH:MM"),
    ],
)
def test_a_bad_as_of_in_run_config_is_a_one_line_failure(env: Engine, as_of: str, said: str) -> None:
    result = defs.resolve_job_def("enforce_budgets_job").execute_in_process(
        run_config={"resources": {"clock": {"config": {"as_of": as_of}}}},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [event for event in result.all_events if event.is_step_failure]
    error = failure.step_failure_data.error
    assert error is not None and error.cause is None  # a Failure of its own, not an error from inside
    assert error.message.strip().splitlines() == [
        f"dagster._core.definitions.events.Failure: clock as_of: '{as_of}' {said}"
    ]


def test_a_blank_as_of_is_now(env: Engine) -> None:
    result = defs.resolve_job_def("enforce_budgets_job").execute_in_process(
        run_config={"resources": {"clock": {"config": {"as_of": "  "}}}}, instance=DagsterInstance.ephemeral()
    )
    assert result.success


def test_control_steps_pause_the_garbage_collector_and_resume_it(env: Engine) -> None:
    # Seen from inside: the collector's state at every statement a step sends to the database.
    seen: list[bool] = []
    fail = False

    def observe(*_: object) -> None:
        seen.append(gc.isenabled())
        if fail:
            raise RuntimeError("the database went away")

    event.listen(env, "before_cursor_execute", observe)
    as_of = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
    assert gc.isenabled()
    enforce_budgets(env, as_of, "run-1")
    apply_dayparting(env, as_of, "run-2")
    pending_dayparting_changes(env, as_of)
    assert seen and not any(seen), "the collector ran during a step"
    assert gc.isenabled()
    fail = True
    with pytest.raises(RuntimeError):
        enforce_budgets(env, as_of, "run-3")
    assert gc.isenabled(), "a failed step left the collector paused"
