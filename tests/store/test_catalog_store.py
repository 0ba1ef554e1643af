import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, select, text

from budget_pipeline.ingest.catalog import catalog_yaml, parse_catalog
from budget_pipeline.ingest.pipeline import ingest_file
from budget_pipeline.rules.calendar import local_date
from budget_pipeline.rules.dayparting import WEEKDAYS, Window, weekdays_from_mask, windows_from_key
from budget_pipeline.store.catalog import apply_catalog
from budget_pipeline.store.catalog_export import export_catalog
from budget_pipeline.store.schema import Brand, Campaign, DaypartingWindow, RawSpendRecord
from budget_pipeline.store.upkeep import dirty_days
from tests.conftest import ACME, apply_yaml, write_csv


def windows(conn: Connection) -> dict[str, tuple[Window, ...]]:
    """Each campaign's windows as the dayparting rule reads them (`campaigns.window_key`), after
    checking that they are the `dayparting_windows` rows written beside them."""
    keyed = {cid: windows_from_key(key) for cid, key in conn.execute(select(Campaign.id, Campaign.window_key)) if key}
    w = DaypartingWindow
    rows: dict[str, list[Window]] = {}
    query = select(w.campaign_id, w.weekdays, w.start_minute, w.end_minute).order_by(w.campaign_id, w.position)
    for cid, mask, start, end in conn.execute(query):
        rows.setdefault(cid, []).append(Window(weekdays_from_mask(mask), start, end))
    assert keyed == {cid: tuple(ws) for cid, ws in rows.items()}, "window_key and dayparting_windows disagree"
    return keyed


def test_apply_creates_then_updates_and_leaves_missing_campaigns(engine: Engine) -> None:
    apply_yaml(engine, ACME)
    apply_yaml(
        engine,
        """
brands:
  - name: Acme
    timezone: America/New_York
    daily_budget: "150.00"
    monthly_budget: "2000.00"
    campaigns:
      - id: acme-search
        name: Acme Search v2
        enabled: false
        dayparting:
          - days: [sat]
            start: "22:00"
            end: "02:00"
""",
    )
    with engine.connect() as conn:
        brands = dict(conn.execute(select(Brand.name, Brand.daily_budget)).all())
        campaigns = {r.id: r for r in conn.execute(select(Campaign.id, Campaign.name, Campaign.enabled))}
        campaign_windows = windows(conn)
    assert str(brands["Acme"]) == "150.000000"
    assert campaigns["acme-search"].name == "Acme Search v2"
    assert campaigns["acme-search"].enabled is False
    assert campaigns["acme-social"].enabled is True, "a campaign missing from the file is left alone"
    assert set(campaigns) == {"acme-search", "acme-social", "tokyo-display"}
    [window] = campaign_windows["acme-search"]
    assert (window.weekdays, window.start, window.end) == (frozenset({5}), 1320, 120)


def test_time_zone_change_redates_spend(engine: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    apply_yaml(engine, ACME)
    ingest_file(engine, write_csv(tmp_path / "s.csv", ["r1,acme-search,1,2026-11-25T03:00:00Z"]))
    apply_yaml(engine, ACME.replace("America/New_York", "Europe/Berlin"))
    with engine.connect() as conn:
        assert conn.execute(select(RawSpendRecord.local_date)).scalar_one() == dt.date(2026, 11, 25)
        assert dt.date(2026, 11, 24) in dirty_days(conn)


def persistent_state(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of the catalog's and spend's tables, with each row's version on PostgreSQL
    (xmin: an UPDATE to the same values still makes a new row version)."""
    version = ", xmin::text" if engine.dialect.name == "postgresql" else ""
    tables = (
        "brands",
        "campaigns",
        "dayparting_windows",
        "raw_spend_records",
        "dirty_spend_days",
        "campaign_status_log",
    )
    with engine.connect() as conn:
        return {t: sorted(map(tuple, conn.execute(text(f"SELECT *{version} FROM {t}")))) for t in tables}


@contextmanager
def writes_nothing(engine: Engine) -> Iterator[None]:
    """Fails unless the block leaves every table as it was; on SQLite, unless it commits no
    change to the database file at all (PRAGMA data_version, seen from another connection)."""
    before = persistent_state(engine)
    watcher = sqlite3.connect(engine.url.database) if engine.dialect.name == "sqlite" else None
    version = watcher.execute("PRAGMA data_version").fetchone() if watcher else None
    yield
    if watcher:
        assert watcher.execute("PRAGMA data_version").fetchone() == version, "the database file changed"
        watcher.close()
    assert persistent_state(engine) == before


def test_applying_the_same_catalog_again_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    apply_yaml(engine, ACME_WITH_WINDOWS)
    ingest_file(engine, write_csv(tmp_path / "s.csv", ["r1,acme-search,1,2026-11-25T03:00:00Z"]))
    with writes_nothing(engine):
        summary = apply_catalog(engine, parse_catalog(yaml.safe_load(ACME_WITH_WINDOWS)))
    assert str(summary) == "brands: 0 created, 0 updated; campaigns: 0 created, 0 updated"


ACME_WITH_WINDOWS = ACME.replace(
    "        name: Acme Search\n",
    "        name: Acme Search\n"
    '        daily_budget: "5.00"\n'
    "        dayparting:\n"
    '          - {days: [sat], start: "22:00", end: "02:00"}\n'
    '          - {start: "09:00", end: "24:00"}\n',
).replace(
    "        name: Acme Social\n", '        name: Acme Social\n        dayparting: [{start: "06:00", end: "07:00"}]\n'
)


def test_only_what_differs_is_written(engine: Engine) -> None:
    apply_yaml(engine, ACME_WITH_WINDOWS)
    with engine.connect() as conn:
        social_windows = conn.execute(
            select(DaypartingWindow.id).where(DaypartingWindow.campaign_id == "acme-social")
        ).all()
    changed = ACME_WITH_WINDOWS.replace('end: "02:00"', 'end: "03:00"').replace(
        "        name: Tokyo Display\n",
        '        name: Tokyo Display\n        dayparting: [{days: [mon], start: "10:00", end: "11:00"}]\n',
    )
    summary = apply_catalog(engine, parse_catalog(yaml.safe_load(changed)))
    assert (summary.campaigns_created, summary.campaigns_updated, summary.brands_updated) == (0, 2, 0)
    with engine.connect() as conn:
        after = {cid: wins for cid, wins in windows(conn).items()}
        social_after = conn.execute(
            select(DaypartingWindow.id).where(DaypartingWindow.campaign_id == "acme-social")
        ).all()
    assert [(w.start, w.end) for w in after["acme-search"]] == [(1320, 180), (540, 1440)]
    assert [(w.weekdays, w.start, w.end) for w in after["tokyo-display"]] == [(frozenset({0}), 600, 660)]
    assert social_after == social_windows, "the windows of a campaign whose windows match are left alone"
    gone = ACME_WITH_WINDOWS.replace(
        '          - {days: [sat], start: "22:00", end: "02:00"}\n          - {start: "09:00", end: "24:00"}\n', ""
    ).replace("        dayparting:\n", "")
    summary = apply_catalog(engine, parse_catalog(yaml.safe_load(gone)))
    assert (summary.campaigns_updated, summary.brands_updated) == (2, 0)
    with engine.connect() as conn:
        assert set(windows(conn)) == {"acme-social"}, "a campaign whose windows the file dropped has none"


def test_a_campaign_that_moves_brand_dirties_its_days_and_takes_its_new_zone(engine: Engine, tmp_path: Path) -> None:
    apply_yaml(engine, ACME)
    ingest_file(engine, write_csv(tmp_path / "s.csv", ["r1,acme-search,1,2026-11-25T03:00:00Z"]))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM dirty_spend_days"))
    moved = (
        ACME.replace("        name: Acme Search\n", "")
        .replace("      - id: acme-search\n", "")
        .replace(
            "        name: Tokyo Display\n",
            "        name: Tokyo Display\n      - id: acme-search\n        name: Acme Search\n",
        )
    )
    summary = apply_catalog(engine, parse_catalog(yaml.safe_load(moved)))
    assert (summary.campaigns_updated, summary.records_relocalized) == (1, 1)
    with engine.connect() as conn:
        assert conn.execute(select(RawSpendRecord.local_date)).scalar_one() == dt.date(2026, 11, 25)  # Tokyo
        assert set(dirty_days(conn)) == {dt.date(2026, 11, 24), dt.date(2026, 11, 25)}
        brand_of = dict(conn.execute(select(Campaign.id, Brand.name).join(Brand, Brand.id == Campaign.brand_id)).all())
    assert brand_of["acme-search"] == "Tokyo Foods"


ZONES = ["UTC", "America/New_York", "Europe/London", "Asia/Kathmandu", "Pacific/Chatham", "Australia/Lord_Howe"]


def test_re_dating_matches_the_local_calendar_across_dst(engine: Engine, tmp_path: Path) -> None:
    """Every record of a brand whose zone changes takes exactly its instant's date in the new
    zone (instants every 37 minutes over a year, crossing each zone's DST changes)."""
    apply_yaml(engine, ACME)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    instants = [start + dt.timedelta(minutes=37 * n) for n in range(0, 14_000)]
    rows = [f"r{n},acme-search,1,{at.isoformat()}" for n, at in enumerate(instants)]
    ingest_file(engine, write_csv(tmp_path / "s.csv", rows), now=instants[-1])
    for zone in ZONES[1:]:
        apply_yaml(engine, ACME.replace("America/New_York", zone))
        with engine.connect() as conn:
            stored = dict(conn.execute(select(RawSpendRecord.record_id, RawSpendRecord.local_date)).all())
        assert stored == {f"r{n}": local_date(at, zone) for n, at in enumerate(instants)}, zone


REGION_ZONES = [*ZONES, "America/Argentina/Buenos_Aires", "Asia/Calcutta", "America/St_Johns"]
times = st.integers(0, 24 * 60 - 1)
# Every name the catalog takes: no control character, no line or paragraph separator, no lone surrogate.
name_texts = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=30)


@st.composite
def catalogs(draw: st.DrawFn) -> dict:
    """Catalogs with caps or none, windows that cross midnight, end at 24:00 or run on some
    days only, every kind of zone a brand may have, alerts and predictive pause."""
    brands = []
    for b in range(draw(st.integers(1, 3))):
        campaigns = []
        for c in range(draw(st.integers(0, 3))):
            campaign: dict = {
                "id": f"b{b}-c{c}-{draw(st.integers(0, 3))}",
                "name": draw(name_texts),
            }
            if draw(st.booleans()):
                campaign["enabled"] = draw(st.booleans())
            for cap in ("daily_budget", "monthly_budget"):
                if draw(st.booleans()):
                    campaign[cap] = str(draw(st.decimals("0.01", "999999999999.99", places=2)))
            windows_ = []
            for _ in range(draw(st.integers(0, 3))):
                start = draw(times)
                end = draw(st.one_of(times, st.just(24 * 60)).filter(lambda e, s=start: e != s))
                window: dict = {
                    "start": f"{start // 60:02d}:{start % 60:02d}",
                    "end": f"{end // 60:02d}:{end % 60:02d}",
                }
                if draw(st.booleans()):
                    window["days"] = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True))
                windows_.append(window)
            if windows_:
                campaign["dayparting"] = windows_
            campaigns.append(campaign)
        brand: dict = {
            "name": draw(name_texts),
            "daily_budget": str(draw(st.decimals("0.01", "999999999999.99", places=2))),
            "monthly_budget": str(draw(st.decimals("0.01", "999999999999.99", places=2))),
            "campaigns": campaigns,
        }
        if draw(st.booleans()):
            brand["timezone"] = draw(st.sampled_from(REGION_ZONES))
        if draw(st.booleans()):
            brand["currency"] = draw(st.sampled_from(["USD", "EUR", "JPY", "NPR", "CHF"]))
        if draw(st.booleans()):
            brand["alerts"] = draw(st.lists(st.integers(1, 1000), max_size=4, unique=True))
        if draw(st.booleans()):
            brand["pause_ahead"] = draw(st.sampled_from(["1m", "15m", "90m", "2h", "24h", "1440m"]))
        brands.append(brand)
    names = [b["name"] for b in brands]
    ids = [c["id"] for b in brands for c in b["campaigns"]]
    assume(len(set(names)) == len(names) and len(set(ids)) == len(ids))
    return {"brands": brands}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(catalog=catalogs())
def test_export_then_apply_changes_nothing(engine: Engine, catalog: dict) -> None:
    """Whatever was applied (on top of what earlier examples left), the export reads back as
    the same catalog, and applying it writes nothing."""
    applied = parse_catalog(catalog)
    apply_catalog(engine, applied)
    with engine.connect() as conn:
        windows(conn)  # the rule's copy of each campaign's windows is the stored one
    exported = catalog_yaml(export_catalog(engine))
    parsed = load_catalog_text(exported)
    by_name = {b.name: b for b in parsed.brands}
    for brand in applied.brands:
        campaigns = {c.id: c for c in by_name[brand.name].campaigns}
        assert brand.model_copy(update={"campaigns": []}) == by_name[brand.name].model_copy(update={"campaigns": []})
        for campaign in brand.campaigns:
            assert campaigns[campaign.id].model_dump(exclude={"dayparting"}) == campaign.model_dump(
                exclude={"dayparting"}
            )
            assert [d.window() for d in campaigns[campaign.id].dayparting] == [d.window() for d in campaign.dayparting]
    with writes_nothing(engine):
        summary = apply_catalog(engine, parsed)
    assert str(summary) == "brands: 0 created, 0 updated; campaigns: 0 created, 0 updated"


def load_catalog_text(text_: str):  # type: ignore[no-untyped-def]
    import tempfile

    from budget_pipeline.ingest.catalog import load_catalog

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.yaml"
        path.write_text(text_, encoding="utf-8")
        return load_catalog(path)


def test_a_campaign_left_out_of_the_file_follows_its_brand_into_a_new_zone(engine: Engine, tmp_path: Path) -> None:
    apply_yaml(engine, ACME)
    ingest_file(engine, write_csv(tmp_path / "s.csv", ["r1,acme-social,1,2026-11-25T03:00:00Z"]))
    without_social = ACME.replace("      - id: acme-social\n        name: Acme Social\n", "")
    summary = apply_catalog(
        engine, parse_catalog(yaml.safe_load(without_social.replace("America/New_York", "Asia/Tokyo")))
    )
    assert (summary.brands_updated, summary.campaigns_updated, summary.records_relocalized) == (1, 0, 1)
    with engine.connect() as conn:
        assert conn.execute(select(RawSpendRecord.local_date)).scalar_one() == dt.date(2026, 11, 25)
        assert dt.date(2026, 11, 24) in dirty_days(conn)
