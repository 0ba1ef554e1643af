"""`budget_use`, the brands a spend partition's report shows, read in SQL: it must equal what
sorting every brand's row in Python gives (the count, the nearest by exact share with names
breaking ties, every reached brand by overspend), on both databases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, insert, select, update

from budget_pipeline.store.aggregates import BrandUse, budget_use
from budget_pipeline.store.schema import brands_table, daily_brand_table, monthly_brand_table
from tests.conftest import apply_yaml

BRANDS = 14
# Names in another order than the ids, so that neither the table's order nor the ids can stand in
# for the names that break ties.
NAMES = [f"Brand {b * 5 % BRANDS:02d}" for b in range(BRANDS)]
DAYS = (dt.date(2026, 11, 24), dt.date(2026, 11, 25))
CATALOG = "brands:\n" + "".join(
    f'  - {{name: "{NAMES[b]}", timezone: UTC, daily_budget: "1", monthly_budget: "1", '
    f"campaigns: [{{id: c{b:02d}, name: C{b:02d}}}]}}\n"
    for b in range(BRANDS)
)

# Few distinct amounts, so that equal shares (ties at the cut) are common.
budget_amounts = st.sampled_from([Decimal(v) for v in ("1", "2", "3")])
brand_days = st.tuples(st.integers(0, BRANDS - 1), st.sampled_from(DAYS))
spend_amounts = st.sampled_from([Decimal(v) for v in ("0.000001", "1", "2", "4", "6", "33.333333")])


def reference(engine: Engine, monthly: bool, nearest: int) -> dict[dt.date, tuple[int, list[str], list[str]]]:
    """Every brand's row read and sorted in Python: (count, nearest names, reached names) per period."""
    table = monthly_brand_table if monthly else daily_brand_table
    key = table.c.month if monthly else table.c.day
    budget = brands_table.c.monthly_budget if monthly else brands_table.c.daily_budget
    with engine.connect() as conn:
        rows = conn.execute(
            select(brands_table.c.name, key, budget, table.c.spend, brands_table.c.currency, brands_table.c.id).join(
                brands_table, brands_table.c.id == table.c.brand_id
            )
        ).all()
    uses = [BrandUse(*row) for row in rows]
    by_period: dict[dt.date, tuple[int, list[str], list[str]]] = {}
    for period in {u.period for u in uses}:
        mine = [u for u in uses if u.period == period]
        near = sorted(mine, key=lambda u: (-u.share, u.brand))[:nearest]
        reached = sorted((u for u in mine if u.spend >= u.budget), key=lambda u: (-u.over, u.brand))
        by_period[period] = (len(mine), [u.brand for u in near], [u.brand for u in reached])
    return by_period


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    budgets=st.lists(budget_amounts, min_size=BRANDS, max_size=BRANDS),
    spend=st.dictionaries(brand_days, spend_amounts, max_size=2 * BRANDS),
    nearest=st.integers(1, 12),
    monthly=st.booleans(),
)
# Equal shares at the cut, the later id first by name ("Brand 01" before "Brand 10").
@example(
    budgets=[Decimal(1)] * BRANDS, spend={(2, DAYS[0]): Decimal(1), (3, DAYS[0]): Decimal(1)}, nearest=1, monthly=False
)
@example(
    budgets=[Decimal(2)] * BRANDS, spend={(2, DAYS[1]): Decimal(4), (3, DAYS[1]): Decimal(4)}, nearest=1, monthly=True
)
# Shares that differ in the 17th digit (0.5453834146338434999 and ...5063), equal as floats: the
# higher one, of the later name ("Brand 05" against "Brand 00"), must still come first.
@example(
    budgets=[Decimal("96645.56"), Decimal("96647.61")] + [Decimal(1)] * (BRANDS - 2),
    spend={(0, DAYS[0]): Decimal("52708.885522"), (1, DAYS[0]): Decimal("52710.003558")},
    nearest=1,
    monthly=False,
)
def test_budget_use_is_every_brand_sorted(
    engine: Engine, budgets: list[Decimal], spend: dict[tuple[int, dt.date], Decimal], nearest: int, monthly: bool
) -> None:
    with engine.begin() as conn:
        if not conn.execute(select(brands_table.c.id).limit(1)).first():
            apply_yaml(engine, CATALOG)
    table = monthly_brand_table if monthly else daily_brand_table
    with engine.begin() as conn:
        ids = dict(conn.execute(select(brands_table.c.name, brands_table.c.id)).all())
        conn.execute(delete(table))
        for b, amount in enumerate(budgets):
            conn.execute(
                update(brands_table)
                .where(brands_table.c.name == NAMES[b])
                .values(daily_budget=amount, monthly_budget=amount)
            )
        rows = [
            {"day" if not monthly else "month": day, "brand_id": ids[NAMES[b]], "spend": amount, "records": 1}
            for (b, day), amount in spend.items()
        ]
        if rows:
            conn.execute(insert(table), rows)
    with engine.connect() as conn:
        got = budget_use(conn, monthly=monthly, first=DAYS[0], stop=DAYS[-1] + dt.timedelta(days=1), nearest=nearest)
    assert {
        period: (use.brands_with_spend, [u.brand for u in use.nearest], [u.brand for u in use.reached])
        for period, use in got.items()
    } == reference(engine, monthly, nearest)
