"""The catalog file (brands, campaigns, dayparting): reading and validating it, all or nothing,
and writing it."""

from __future__ import annotations

import os
import re
import stat
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import pycountry
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from budget_pipeline.collector import collector_paused
from budget_pipeline.ingest.yamlfile import YamlFileError, load_document, path_text
from budget_pipeline.rules.dayparting import WEEKDAYS, Window, parse_clock
from budget_pipeline.rules.money import parse_amount
from budget_pipeline.rules.zones import check_zone

CAMPAIGN_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode's category Cc
_SEPARATOR = re.compile("[\u2028\u2029]")  # Unicode's line and paragraph separators (Zl, Zp)
# Minutes past midnight of a clock time; a catalog writes the same few times many times over.
_clock = lru_cache(maxsize=4096)(parse_clock)
BUDGET_LIMIT = Decimal(10**12)  # budgets and caps are below this
DEFAULT_CURRENCY = "USD"
DEFAULT_ALERTS = (80, 100)
ALERT_PERCENTS = range(1, 1001)
PAUSE_AHEAD_LIMIT_MINUTES = 24 * 60
_DURATION = re.compile(r"([0-9]{1,5})([mh])")
_CURRENCY_CODE = re.compile(r"[A-Z]{3}")
# ISO 4217 assigns these two to no money: XTS is reserved for tests, XXX means "no currency".
_NOT_MONEY = frozenset({"XTS", "XXX"})


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


def _alert_percent(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in ALERT_PERCENTS:
        raise ValueError(f"{value!r} is not a whole percent from 1 to 1000")
    return value


def _pause_ahead(value: Any) -> int:
    """Minutes of a duration written as minutes or hours: "15m", "90m", "2h"."""
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f'{value!r} is not a duration like "15m" or "2h"')
    minutes = int(match[1]) * (60 if match[2] == "h" else 1)
    if not 0 < minutes <= PAUSE_AHEAD_LIMIT_MINUTES:
        raise ValueError(f"{value!r}: must be more than 0 and at most 24h")
    return minutes


@lru_cache(maxsize=1)
def currency_codes() -> frozenset[str]:
    """The current ISO 4217 codes (pycountry's copy of the standard), less those of no money."""
    return frozenset(currency.alpha_3 for currency in pycountry.currencies) - _NOT_MONEY


Budget = Annotated[Decimal, BeforeValidator(_budget)]
AlertPercent = Annotated[int, BeforeValidator(_alert_percent)]


def _printable_name(value: str) -> str:
    if _CONTROL_CHARACTER.search(value):
        raise ValueError(f"{value!r} contains a control character")
    if _SEPARATOR.search(value):  # a notification's one-line text would break at it
        raise ValueError(f"{value!r} contains a line or paragraph separator")
    return value


Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_printable_name)]


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
        _clock(start, allow_24=False)
        return start

    @field_validator("end")
    @classmethod
    def _end(cls, end: str, info: ValidationInfo) -> str:
        minute = _clock(end, allow_24=True)
        start = info.data.get("start")
        if start is not None and _clock(start, allow_24=False) == minute:
            raise ValueError("equals start; a window needs a length")
        return end

    def window(self) -> Window:
        return Window(
            weekdays=frozenset(WEEKDAYS.index(day) for day in self.days),
            start=_clock(self.start, allow_24=False),
            end=_clock(self.end, allow_24=True),
        )


class CampaignSpec(_Strict):
    id: str
    name: Name
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
    name: Name
    timezone: str = "UTC"
    currency: str = DEFAULT_CURRENCY
    daily_budget: Budget
    monthly_budget: Budget
    # Percents of a budget at which an alert fires, sorted; [] for none.
    alerts: tuple[AlertPercent, ...] = DEFAULT_ALERTS
    # Minutes of predictive pause (written "15m" or "2h"); None for none.
    pause_ahead: Annotated[int, BeforeValidator(_pause_ahead)] | None = None
    campaigns: list[CampaignSpec] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not _CURRENCY_CODE.fullmatch(value):
            raise ValueError(f"{value!r} is not an ISO 4217 code of three upper-case letters, like 'USD'")
        if value not in currency_codes():
            raise ValueError(f"{value!r} is not a current ISO 4217 currency code")
        return value

    @field_validator("alerts", mode="before")
    @classmethod
    def _alert_list(cls, value: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError("write a list of percents, like [80, 100]")
        return value

    @field_validator("alerts")
    @classmethod
    def _distinct_alerts(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        repeated = sorted(percent for percent, n in Counter(value).items() if n > 1)
        if repeated:
            raise ValueError(f"{repeated[0]} appears more than once")
        return tuple(sorted(value))


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


def load_catalog(path: Path, progress: Callable[[str, int, int], None] | None = None) -> Catalog:
    """Read and validate a catalog file. `progress(what, done, total)` hears how far it got."""
    with collector_paused():
        return _load_catalog(path, progress)


# The largest catalog file read: several times a catalog of a million campaigns with windows.
# /dev/zero, or a file of gigabytes named by mistake, is one line instead of all the memory.
CATALOG_BYTES = 512 << 20
READ_BYTES = 1 << 20


def _catalog_text(path: Path) -> str:
    """The text of the catalog file `path`: a regular file (a FIFO is never waited on) of UTF-8
    text, at most CATALOG_BYTES long (also if it grows while read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise CatalogFileError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    blocks, size = [], 0
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CatalogFileError(f"{path}: not a regular file")
        if info.st_size > CATALOG_BYTES:
            raise CatalogFileError(f"{path}: {info.st_size:,} bytes, more than a catalog may hold ({CATALOG_BYTES:,})")
        while size <= CATALOG_BYTES and (block := os.read(fd, READ_BYTES)):
            blocks.append(block)
            size += len(block)
    except OSError as exc:
        raise CatalogFileError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > CATALOG_BYTES:
        raise CatalogFileError(f"{path}: more than {CATALOG_BYTES:,} bytes, more than a catalog may hold")
    try:
        return b"".join(blocks).decode("utf-8")
    except UnicodeDecodeError:
        raise CatalogFileError(f"{path}: not a UTF-8 text file") from None


def _load_catalog(path: Path, progress: Callable[[str, int, int], None] | None) -> Catalog:
    text = _catalog_text(path)
    lines = text.count("\n") + 1
    try:
        document = load_document(text, None if progress is None else lambda line: progress("reading", line, lines))
    except YamlFileError as exc:
        raise CatalogFileError(f"{path}: {exc}") from None
    if not isinstance(document.data, dict):
        raise CatalogFileError(f"{path}: expected a mapping with a 'brands' list")
    if progress is not None:
        progress("validating", lines, lines)
    repeated = [
        f"{path_text((*r.mapping, r.key))}: key written twice in one mapping (lines {r.first_line} and {r.line})"
        for r in document.repeated_keys
    ]
    return parse_catalog(document.data, repeated)


class _Quoted(str):
    """A string written in double quotes: money and clock times, as the catalog shows them."""


class _Flow(list[Any]):
    """A list written on one line: `days: [mon, tue]`, `alerts: [80, 100]`."""


class _CatalogDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    pass


_CatalogDumper.add_representer(_Quoted, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", str(v), style='"'))
_CatalogDumper.add_representer(_Flow, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))
_QUOTED = frozenset({"daily_budget", "monthly_budget", "start", "end"})
_FLOW = frozenset({"days", "alerts"})


def _styled(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _styled(v, k) for k, v in value.items()}
    if isinstance(value, list):
        items = [_styled(v) for v in value]
        return _Flow(items) if key in _FLOW else items
    if isinstance(value, str) and key in _QUOTED:
        return _Quoted(value)
    return value


def catalog_yaml(data: dict[str, Any]) -> str:
    """Catalog data (as `store.catalog.read_catalog` gives it) as a catalog file: money and
    times quoted, days and alerts on one line, keys in the contract's order."""
    return yaml.dump(_styled(data), Dumper=_CatalogDumper, sort_keys=False, allow_unicode=True, width=120)
