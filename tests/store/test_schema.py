from sqlalchemy import inspect

from budget_pipeline.store.db import current_revision, head_revision, make_engine, upgrade


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


def test_money_columns_are_exact_types(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    column = {c["name"]: c for c in inspect(engine).get_columns("raw_spend_records")}["amount"]
    expected = "BIGINT" if engine.dialect.name == "sqlite" else "NUMERIC(20, 6)"
    assert str(column["type"]) == expected
