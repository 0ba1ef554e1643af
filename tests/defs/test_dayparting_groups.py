"""The dayparting rule decides once per group of campaigns (time zone, windows, `enabled`,
reasons). What it writes must be what deciding each campaign on its own gives, from its rows in
`dayparting_windows`: hypothesis over catalogs, starting reasons and instants (across both
daylight-saving changes of March 2026), on both databases."""

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select, update

from budget_pipeline import control
from budget_pipeline.ingest.catalog import parse_catalog
from budget_pipeline.rules.dayparting import Window, in_hours, weekdays_from_mask
from budget_pipeline.rules.reasons import (
    ALL_REASONS,
    DAYPARTING_RULE,
    MANUAL_RULE,
    apply_rule,
    dayparting_reasons,
    format_reasons,
    manual_reasons,
)
from budget_pipeline.store.catalog import apply_catalog
from budget_pipeline.store.schema import Brand, Campaign, DaypartingWindow
from budget_pipeline.store.status import campaign_states
from tests.store.test_catalog_store import catalogs

START = dt.datetime(2026, 3, 6, tzinfo=dt.UTC)


def each_alone(engine: Engine, as_of: dt.datetime) -> dict[str, frozenset[str]]:
    """Every campaign's reasons after the rule, decided campaign by campaign from the window rows."""
    w = DaypartingWindow
    with engine.connect() as conn:
        windows: dict[str, list[Window]] = {}
        query = select(w.campaign_id, w.weekdays, w.start_minute, w.end_minute).order_by(w.campaign_id, w.position)
        for cid, mask, start, end in conn.execute(query):
            windows.setdefault(cid, []).append(Window(weekdays_from_mask(mask), start, end))
        zones = dict(conn.execute(select(Brand.id, Brand.timezone)).all())
        expected = {}
        for cid, (brand_id, enabled, reasons) in campaign_states(conn).items():
            allowed = in_hours(windows.get(cid, ()), as_of, zones[brand_id])
            after = apply_rule(reasons, DAYPARTING_RULE, dayparting_reasons(allowed))
            expected[cid] = apply_rule(after, MANUAL_RULE, manual_reasons(enabled))
    return expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(catalog=catalogs(), data=st.data(), minutes=st.integers(0, 30 * 24 * 60))
def test_grouped_dayparting_decides_as_each_campaign_alone(
    engine: Engine, catalog: dict, data: st.DataObject, minutes: int
) -> None:
    apply_catalog(engine, parse_catalog(catalog))  # on top of what earlier examples left
    reasons = st.frozensets(st.sampled_from(ALL_REASONS), max_size=3)
    with engine.begin() as conn:
        for cid in sorted(conn.execute(select(Campaign.id)).scalars()):
            drawn = format_reasons(data.draw(reasons, label=cid))
            conn.execute(update(Campaign).where(Campaign.id == cid).values(pause_reasons=drawn, active=not drawn))
    as_of = START + dt.timedelta(minutes=minutes)
    expected = each_alone(engine, as_of)
    with engine.connect() as conn:
        before = {cid: reasons for cid, (_, _, reasons) in campaign_states(conn).items()}
    pending = control.pending_dayparting_changes(engine, as_of)
    outcome = control.apply_dayparting(engine, as_of, "run")
    with engine.connect() as conn:
        after = {cid: reasons for cid, (_, _, reasons) in campaign_states(conn).items()}
    assert after == expected
    assert {ch.campaign_id: ch.after for ch in outcome.changes} == {
        cid: reasons for cid, reasons in expected.items() if reasons != before[cid]
    }
    assert pending == len(outcome.changes)
    assert outcome.evaluated == len(expected)
