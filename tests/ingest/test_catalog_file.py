from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from budget_pipeline.ingest.catalog import CatalogError, CatalogFileError, load_catalog, parse_catalog

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


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load_errors(path: Path) -> list[str]:
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    return info.value.errors


def test_a_repeated_key_is_an_error_with_the_path_of_its_mapping(tmp_path: Path) -> None:
    text = GOOD.replace("        name: Acme Search\n", "        name: Acme Search\n        name: Acme Search 2\n")
    text += "brands: []\n"
    assert load_errors(write(tmp_path, text)) == [
        "brands[0].campaigns[0].name: key written twice in one mapping (lines 9 and 10)",
        "brands: key written twice in one mapping (lines 2 and 24)",
    ]


def test_repeated_keys_are_reported_beside_the_other_errors(tmp_path: Path) -> None:
    text = GOOD.replace(
        '    daily_budget: "5"\n', '    daily_budget: "5"\n    daily_budget: "6"\n    timezone: Etc/UTC\n'
    )
    assert load_errors(write(tmp_path, text)) == [
        "brands[1].daily_budget: key written twice in one mapping (lines 21 and 22)",
        "brands[1].timezone: 'Etc/UTC' is an alias of UTC; write 'UTC'",
    ]


def test_merge_keys_and_anchors_still_work(tmp_path: Path) -> None:
    text = """
office: &office {days: [mon, tue], start: "09:00", end: "17:00"}
brands:
  - &base
    name: A
    daily_budget: "1"
    monthly_budget: "2"
    campaigns: [{id: a1, name: A1, dayparting: [*office]}]
  - <<: *base
    name: B
    campaigns: []
"""
    with pytest.raises(CatalogError) as info:
        load_catalog(write(tmp_path, text))
    assert info.value.errors == ["office: unknown field"]
    catalog = parse_catalog({"brands": [{"name": "A", "daily_budget": "1", "monthly_budget": "2"}]})
    assert catalog.brands[0].name == "A"
    text = text.replace('office: &office {days: [mon, tue], start: "09:00", end: "17:00"}\n', "").replace(
        "[*office]", '[{days: [mon], start: "09:00", end: "17:00"}]'
    )
    brands = load_catalog(write(tmp_path, text)).brands
    assert [(b.name, b.daily_budget, len(b.campaigns)) for b in brands] == [("A", 1, 1), ("B", 1, 0)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 5000 + "]" * 5000, "nested more than 32 levels deep (line 1)"),
        ("".join("  " * i + "a:\n" for i in range(5000)), "nested more than 32 levels deep (line 33)"),
        ("brands: [\n", "not valid YAML: "),
        ("a: b: c\n", "not valid YAML: mapping values are not allowed in this context (line 1, column 5)"),
        ("brands: []\n---\nbrands: []\n", "more than one YAML document (the second starts on line 2)"),
        ("brands: !!python/object:os.system []\n", "line 1: unsupported tag tag:yaml.org,2002:python/object"),
        ("- just a list\n", "expected a mapping with a 'brands' list"),
        ("", "expected a mapping with a 'brands' list"),
    ],
)
def test_a_file_that_is_not_a_catalog_is_one_error(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CatalogFileError) as info:
        load_catalog(path)
    [error] = info.value.errors
    assert error.startswith(f"{path}: {message}")


def test_a_binary_file_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00\xff\xfe")
    with pytest.raises(CatalogFileError, match="not a UTF-8 text file"):
        load_catalog(path)


def brand(**fields: object) -> dict[str, object]:
    return {"brands": [{"name": "A", "daily_budget": "1", "monthly_budget": "2", **fields}]}


@pytest.mark.parametrize(
    "zone", ["UTC", "Europe/London", "America/New_York", "America/Argentina/Buenos_Aires", "Asia/Calcutta"]
)
def test_region_zones_and_utc_are_accepted(zone: str) -> None:
    assert parse_catalog(brand(timezone=zone)).brands[0].timezone == zone


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        ("localtime", "'localtime' depends on the host; use a region zone like 'Europe/London', or 'UTC'"),
        ("Factory", "'Factory' depends on the host; use a region zone like 'Europe/London', or 'UTC'"),
        ("posixrules", "'posixrules' depends on the host; use a region zone like 'Europe/London', or 'UTC'"),
        ("posix/Europe/London", "'posix/Europe/London' depends on the host"),
        ("right/UTC", "'right/UTC' depends on the host"),
        ("Etc/GMT+5", "'Etc/GMT+5' is a fixed offset with an inverted sign, not a region zone"),
        ("Etc/UTC", "'Etc/UTC' is an alias of UTC; write 'UTC'"),
        ("GMT", "'GMT' is an alias of UTC; write 'UTC'"),
        ("Zulu", "'Zulu' is an alias of UTC; write 'UTC'"),
        ("US/Eastern", "'US/Eastern' is a legacy name; use 'America/New_York'"),
        ("Japan", "'Japan' is a legacy name; use 'Asia/Tokyo'"),
        ("EST5EDT", "'EST5EDT' is not a region zone"),
        ("Mars/Olympus", "unknown IANA time zone 'Mars/Olympus'"),
        ("America/../Europe/London", "unknown IANA time zone"),
    ],
)
def test_host_dependent_technical_and_legacy_zones_are_refused(zone: str, message: str) -> None:
    [error] = errors_of(brand(timezone=zone))
    assert error.startswith(f"brands[0].timezone: {message}")


def test_budgets_and_caps_are_below_a_trillion() -> None:
    data = brand(
        daily_budget="999999999999.99",
        monthly_budget="1000000000000",
        campaigns=[{"id": "a", "name": "a", "daily_budget": 10**15, "monthly_budget": "1000000000000.00"}],
    )
    assert errors_of(data) == [
        "brands[0].monthly_budget: '1000000000000' is not below 1,000,000,000,000",
        "brands[0].campaigns[0].daily_budget: '1000000000000000' is not below 1,000,000,000,000",
        "brands[0].campaigns[0].monthly_budget: '1000000000000.00' is not below 1,000,000,000,000",
    ]
    data["brands"][0]["monthly_budget"] = "999999999999.99"  # type: ignore[index]
    data["brands"][0]["campaigns"] = []  # type: ignore[index]
    assert parse_catalog(data).brands[0].monthly_budget == Decimal("999999999999.99")


def test_brand_fields_have_the_contract_defaults() -> None:
    [plain] = parse_catalog(brand()).brands
    assert (plain.currency, plain.alerts, plain.pause_ahead) == ("USD", (80, 100), None)


def test_brand_fields_are_read_as_written() -> None:
    [acme] = parse_catalog(brand(currency="EUR", alerts=[100, 50, 75], pause_ahead="90m")).brands
    assert (acme.currency, acme.alerts, acme.pause_ahead) == ("EUR", (50, 75, 100), 90)
    assert parse_catalog(brand(pause_ahead="24h")).brands[0].pause_ahead == 24 * 60
    assert parse_catalog(brand(alerts=[])).brands[0].alerts == ()
    assert parse_catalog(brand(alerts=[1, 1000])).brands[0].alerts == (1, 1000)


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"currency": "usd"}, ["currency: 'usd' is not an ISO 4217 code of three upper-case letters, like 'USD'"]),
        ({"currency": "ABC"}, ["currency: 'ABC' is not a current ISO 4217 currency code"]),
        ({"currency": "XXX"}, ["currency: 'XXX' is not a current ISO 4217 currency code"]),
        ({"currency": "HRK"}, ["currency: 'HRK' is not a current ISO 4217 currency code"]),
        ({"alerts": [80, 80]}, ["alerts: 80 appears more than once"]),
        ({"alerts": "80"}, ["alerts: write a list of percents, like [80, 100]"]),
        (
            {"alerts": [0, 1001, True, 50.5, "80"]},
            [
                "alerts[0]: 0 is not a whole percent from 1 to 1000",
                "alerts[1]: 1001 is not a whole percent from 1 to 1000",
                "alerts[2]: True is not a whole percent from 1 to 1000",
                "alerts[3]: 50.5 is not a whole percent from 1 to 1000",
                "alerts[4]: '80' is not a whole percent from 1 to 1000",
            ],
        ),
        ({"pause_ahead": "25h"}, ["pause_ahead: '25h': must be more than 0 and at most 24h"]),
        ({"pause_ahead": "1441m"}, ["pause_ahead: '1441m': must be more than 0 and at most 24h"]),
        ({"pause_ahead": "0m"}, ["pause_ahead: '0m': must be more than 0 and at most 24h"]),
        ({"pause_ahead": 15}, ['pause_ahead: 15 is not a duration like "15m" or "2h"']),
        ({"pause_ahead": "15 min"}, ['pause_ahead: \'15 min\' is not a duration like "15m" or "2h"']),
    ],
)
def test_bad_brand_fields_are_errors_with_their_paths(fields: dict[str, object], errors: list[str]) -> None:
    assert errors_of(brand(**fields)) == [f"brands[0].{error}" for error in errors]


def test_names_with_control_characters_are_refused() -> None:
    data = brand(name="Acme\x00", campaigns=[{"id": "a", "name": "tab\there"}])
    assert errors_of(data) == [
        "brands[0].name: 'Acme\\x00' contains a control character",
        "brands[0].campaigns[0].name: 'tab\\there' contains a control character",
    ]


def test_names_with_line_or_paragraph_separators_are_refused() -> None:
    """A notification's `text` is one line: str.splitlines() breaks at U+2028 and U+2029 too."""
    data = brand(
        name="Acme\u2028Corp", campaigns=[{"id": "a", "name": "one\u2029two"}, {"id": "b", "name": "Café Noël"}]
    )
    assert errors_of(data) == [
        "brands[0].name: 'Acme\\u2028Corp' contains a line or paragraph separator",
        "brands[0].campaigns[0].name: 'one\\u2029two' contains a line or paragraph separator",
    ]
