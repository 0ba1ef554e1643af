import datetime as dt

from sqlalchemy import Engine, select

from budget_pipeline.ingest.pipeline import ingest_file
from budget_pipeline.store.schema import Brand, Campaign, RawSpendRecord
from budget_pipeline.store.spend import dirty_days
from budget_pipeline.store.status import windows
from tests.conftest import ACME, apply_yaml, write_csv


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
