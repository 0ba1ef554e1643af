"""The catalog file (brands, campaigns, dayparting): reading and validating it, all or nothing."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from budget_pipeline.ingest.yamlfile import YamlFileError, load_document, path_text
from budget_pipeline.rules.dayparting import WEEKDAYS, Window, parse_clock
from budget_pipeline.rules.money import parse_amount
from budget_pipeline.rules.zones import check_zone

CAMPAIGN_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
BUDGET_LIMIT = Decimal(10**12)  # budgets and caps are below this


class CatalogError(Exception):
    """The catalog file is invalid; `errors` holds one "path: message" line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class CatalogFileError(CatalogError):
    """The file as a whole is unusable (unreadable, not YAML, nested beyond reason): one line."""

    def __init__(self, error: str) -> None:
        super().__init__([error])


def _budget(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError('write money as a quoted decimal string, e.g. "100.00"')
    amount = parse_amount(str(value), max_decimals=2)
    if amount <= 0:
        raise ValueError("must be greater than 0")
    if amount >= BUDGET_LIMIT:
        raise ValueError(f"{str(value)!r} is not below 1,000,000,000,000")
    return amount


Budget = Annotated[Decimal, BeforeValidator(_budget)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DaypartingSpec(_Strict):
    days: list[str] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)
    start: str
    end: str

    @field_validator("days")
    @classmethod
    def _known_days(cls, days: list[str]) -> list[str]:
        unknown = [day for day in days if day not in WEEKDAYS]
        if unknown:
            raise ValueError(f"unknown day {unknown[0]!r}; use {', '.join(WEEKDAYS)}")
        return days

    @field_validator("start")
    @classmethod
    def _start(cls, start: str) -> str:
        parse_clock(start, allow_24=False)
        return start

    @field_validator("end")
    @classmethod
    def _end(cls, end: str, info: ValidationInfo) -> str:
        minute = parse_clock(end, allow_24=True)
        start = info.data.get("start")
        if start is not None and parse_clock(start, allow_24=False) == minute:
            raise ValueError("equals start; a window needs a length")
        return end

    def window(self) -> Window:
        return Window(
            weekdays=frozenset(WEEKDAYS.index(day) for day in self.days),
            start=parse_clock(self.start, allow_24=False),
            end=parse_clock(self.end, allow_24=True),
        )


class CampaignSpec(_Strict):
    id: str
    name: str = Field(min_length=1, max_length=200)
    enabled: bool = True
    daily_budget: Budget | None = None
    monthly_budget: Budget | None = None
    dayparting: list[DaypartingSpec] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not CAMPAIGN_ID.fullmatch(value):
            raise ValueError("must match [a-z0-9][a-z0-9_-]{0,63}")
        return value


class BrandSpec(_Strict):
    name: str = Field(min_length=1, max_length=200)
    timezone: str = "UTC"
    daily_budget: Budget
    monthly_budget: Budget
    campaigns: list[CampaignSpec] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)


class Catalog(_Strict):
    brands: list[BrandSpec]


def _message(error: Any) -> str:
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    if error["type"] == "extra_forbidden":
        return "unknown field"
    return str(error["msg"])


def _semantic_errors(catalog: Catalog) -> list[str]:
    errors: list[str] = []
    names = Counter(brand.name for brand in catalog.brands)
    ids = Counter(c.id for brand in catalog.brands for c in brand.campaigns)
    for b, brand in enumerate(catalog.brands):
        if names[brand.name] > 1:
            errors.append(f"brands[{b}].name: brand {brand.name!r} appears more than once")
        for c, campaign in enumerate(brand.campaigns):
            if ids[campaign.id] > 1:
                errors.append(f"brands[{b}].campaigns[{c}].id: campaign id {campaign.id!r} appears more than once")
    return errors


def parse_catalog(data: Any, earlier_errors: list[str] | None = None) -> Catalog:
    """Validate already-loaded YAML data; raise CatalogError listing every problem (after
    `earlier_errors`, those found while reading the file)."""
    errors = list(earlier_errors or [])
    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as exc:
        errors += [f"{path_text(e['loc']) or '(file)'}: {_message(e)}" for e in exc.errors()]
        raise CatalogError(errors) from None
    errors += _semantic_errors(catalog)
    if errors:
        raise CatalogError(errors)
    return catalog


def load_catalog(path: Path, on_line: Callable[[int, int], None] | None = None) -> Catalog:
    """Read and validate a catalog file. `on_line(line, lines)` hears how far reading got."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CatalogFileError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise CatalogFileError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    lines = text.count("\n") + 1
    try:
        document = load_document(text, None if on_line is None else lambda line: on_line(line, lines))
    except YamlFileError as exc:
        raise CatalogFileError(f"{path}: {exc}") from None
    if not isinstance(document.data, dict):
        raise CatalogFileError(f"{path}: expected a mapping with a 'brands' list")
    repeated = [
        f"{path_text((*r.mapping, r.key))}: key written twice in one mapping (lines {r.first_line} and {r.line})"
        for r in document.repeated_keys
    ]
    return parse_catalog(document.data, repeated)
