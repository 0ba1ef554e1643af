"""Which time-zone names a brand may use: `UTC` and IANA region zones (`Europe/London`), never
a name whose meaning depends on the host or on how its tz database was built.

Accepted: `UTC`, and `Area/Location` names of the tz database (the `tzdata` package's list)
whose area is one of the ten regions below, including old spellings there that the database
keeps as links (`Asia/Calcutta` is `Asia/Kolkata`).
Refused, with the zone to use where the database names one:
- host or build names: `localtime`, `Factory`, `posixrules`, `posix/…`, `right/…`;
- fixed offsets `Etc/…` (whose signs are inverted: `Etc/GMT+5` is UTC-05:00) and UTC's aliases
  (`GMT`, `Etc/UTC`, `Zulu`…): write `UTC`;
- legacy links outside the regions (`US/Eastern`, `Japan`, `EST5EDT`): write their region zone.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = "UTC"
REGIONS = frozenset(
    {"Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific"}
)
HOST_NAMES = frozenset({"localtime", "Factory", "posixrules"})
HOST_TREES = ("posix/", "right/")


@lru_cache(maxsize=1)
def _known_names() -> frozenset[str]:
    """Every zone and link name of the tz database the `tzdata` package ships."""
    text = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


@lru_cache(maxsize=1)
def _link_targets() -> dict[str, str]:
    """Link name -> the zone it stands for, from the database's own source (`tzdata.zi`)."""
    text = resources.files("tzdata").joinpath("zoneinfo", "tzdata.zi").read_text(encoding="utf-8")
    links = {}
    for line in text.splitlines():
        if line.startswith("L "):
            _, target, name = line.split()[:3]
            links[name] = target
    return links


def is_region_zone(name: str) -> bool:
    return name.partition("/")[0] in REGIONS and "/" in name


def check_zone(name: str) -> str:
    """`name` if a brand may use it; else ValueError saying why and what to write instead."""
    if name == UTC:
        return name
    if name in HOST_NAMES or name.startswith(HOST_TREES):
        raise ValueError(f"{name!r} depends on the host; use a region zone like 'Europe/London', or 'UTC'")
    if name not in _known_names():
        raise ValueError(f"unknown IANA time zone {name!r}")
    if is_region_zone(name):
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {name!r}") from exc
        return name
    target = _link_targets().get(name, name)
    if target in ("Etc/UTC", "Etc/GMT") or name in ("Etc/UTC", "Etc/GMT"):
        raise ValueError(f"{name!r} is an alias of UTC; write 'UTC'")
    if name.startswith("Etc/"):
        raise ValueError(
            f"{name!r} is a fixed offset with an inverted sign, not a region zone; "
            "use a region zone like 'America/New_York', or 'UTC'"
        )
    if is_region_zone(target):
        raise ValueError(f"{name!r} is a legacy name; use {target!r}")
    raise ValueError(f"{name!r} is not a region zone; use a region zone like 'Europe/London', or 'UTC'")
