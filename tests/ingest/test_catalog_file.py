from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from budget_pipeline.ingest.catalog import CatalogError, load_catalog, parse_catalog

GOOD = """
brands:
  - name: Acme
    timezone: America/New_York
    daily_budget: "100.00"
    monthly_budget: "2000.00"
    campaigns:
      - id: acme-search
        name: Acme Search
        enabled: true
        daily_budget: "60.00"
        monthly_budget: "900.00"
        dayparting:
          - days: [mon, tue, wed, thu, fri]
            start: "09:00"
            end: "17:30"
          - days: [sat]
            start: "22:00"
            end: "02:00"
  - name: Plain
    daily_budget: "5"
    monthly_budget: "50.5"
"""


def errors_of(data: object) -> list[str]:
    with pytest.raises(CatalogError) as info:
        parse_catalog(data)
    return info.value.errors


def test_contract_example_parses() -> None:
    catalog = parse_catalog(yaml.safe_load(GOOD))
    acme, plain = catalog.brands
    assert acme.daily_budget == Decimal("100.00")
    assert acme.campaigns[0].daily_budget == Decimal("60.00")
    night = acme.campaigns[0].dayparting[1].window()
    assert (night.weekdays, night.start, night.end, night.crosses_midnight) == (frozenset({5}), 22 * 60, 120, True)
    assert plain.timezone == "UTC"
    assert acme.campaigns[0].dayparting[0].window().weekdays == frozenset(range(5))


def test_every_error_has_its_path() -> None:
    data = yaml.safe_load(GOOD)
    campaign = data["brands"][0]["campaigns"][0]
    campaign["dayparting"][0]["end"] = "09:00"
    campaign["dayparting"][1]["start"] = "25:00"
    campaign["id"] = "Acme Search"
    data["brands"][0]["timezone"] = "Mars/Olympus"
    data["brands"][1]["daily_budget"] = "0"
    data["brands"][1]["monthly_budget"] = "1.005"
    assert errors_of(data) == [
        "brands[0].timezone: unknown IANA time zone 'Mars/Olympus'",
        "brands[0].campaigns[0].id: must match [a-z0-9][a-z0-9_-]{0,63}",
        "brands[0].campaigns[0].dayparting[0].end: equals start; a window needs a length",
        "brands[0].campaigns[0].dayparting[1].start: '25:00' is not a time of day",
        "brands[1].daily_budget: must be greater than 0",
        "brands[1].monthly_budget: '1.005' has 3 decimals, at most 2 allowed",
    ]


def test_money_as_float_and_unknown_fields_are_refused() -> None:
    data = yaml.safe_load(GOOD)
    data["brands"][0]["daily_budget"] = 100.1
    data["brands"][0]["campaigns"][0]["dayparting"][0]["day"] = ["mon"]
    assert errors_of(data) == [
        'brands[0].daily_budget: write money as a quoted decimal string, e.g. "100.00"',
        "brands[0].campaigns[0].dayparting[0].day: unknown field",
    ]


def test_duplicates_across_brands() -> None:
    data = yaml.safe_load(GOOD)
    data["brands"][1]["name"] = "Acme"
    data["brands"][1]["campaigns"] = [{"id": "acme-search", "name": "again"}]
    assert errors_of(data) == [
        "brands[0].name: brand 'Acme' appears more than once",
        "brands[0].campaigns[0].id: campaign id 'acme-search' appears more than once",
        "brands[1].name: brand 'Acme' appears more than once",
        "brands[1].campaigns[0].id: campaign id 'acme-search' appears more than once",
    ]


def test_24_00_end_is_allowed_but_not_as_start() -> None:
    data = {
        "brands": [
            {
                "name": "A",
                "daily_budget": "1",
                "monthly_budget": "2",
                "campaigns": [
                    {
                        "id": "a",
                        "name": "a",
                        "dayparting": [{"start": "18:00", "end": "24:00"}, {"start": "24:00", "end": "01:00"}],
                    }
                ],
            }
        ]
    }
    assert errors_of(data) == ["brands[0].campaigns[0].dayparting[1].start: '24:00' is not a time of day"]


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("brands: [\n")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load_catalog(bad)
    bad.write_text("- just a list\n")
    with pytest.raises(CatalogError, match="expected a mapping"):
        load_catalog(bad)
