"""Reading a spend CSV in chunks and validating every row with vectorised checks.

A chunk comes out as the rows that passed (with `amount_micros`, UTC `occurred_at` and the
brand-local `local_date` added) plus one `Rejection` per bad row. Nothing here touches a database:
repeated record_ids, within the file or against earlier files, are the store's to judge.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("record_id", "campaign_id", "amount", "occurred_at")
MAX_RECORD_ID = 128
CHUNK_ROWS = 50_000
_AMOUNT = r"\d+(?:\.\d+)?"
_INSTANT = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)"
_NAIVE = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?"
_SKIPPED = re.compile(r"Skipping line (\d+): (.*)")


class SpendFileError(Exception):
    """The file as a whole cannot be ingested (not CSV, a required column missing)."""


@dataclass(frozen=True)
class Rejection:
    line_no: int
    reason: str
    record_id: str | None
    raw: str


@dataclass
class Chunk:
    valid: pd.DataFrame  # line_no, record_id, campaign_id, amount_micros, occurred_at, local_date
    rejections: list[Rejection]


def read_spend_file(path: Path, zones: Mapping[str, str], chunk_rows: int = CHUNK_ROWS) -> Iterator[Chunk]:
    """Stream `path` in chunks of `chunk_rows`; `zones` maps campaign id to its brand's zone.

    Raises SpendFileError before yielding anything if the file is not a readable CSV with the
    required columns; a bad row never raises, it becomes a Rejection.
    """
    _check_header(path)
    next_line = 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reader = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_values=[],
            skip_blank_lines=False,
            on_bad_lines="warn",
            chunksize=chunk_rows,
            encoding="utf-8",
            encoding_errors="strict",
        )
        try:
            for frame in reader:
                skipped = _skipped_lines(caught)
                caught.clear()
                lines = _line_numbers(next_line, len(frame), skipped)
                next_line = int(lines[-1]) + 1 if len(lines) else next_line + len(skipped)
                chunk = validate(frame, lines, zones)
                chunk.rejections.extend(
                    Rejection(line, f"malformed row: {why}", None, "") for line, why in skipped.items()
                )
                yield chunk
            tail = _skipped_lines(caught)
            if tail:
                yield Chunk(
                    _empty_valid(),
                    [Rejection(n, f"malformed row: {w}", None, "") for n, w in tail.items()],
                )
        except (UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise SpendFileError(f"{path.name}: not a readable UTF-8 CSV file ({_first_line(exc)})") from None


def _check_header(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            head = handle.read(64 * 1024)
    except OSError as exc:
        raise SpendFileError(f"{path}: cannot read the file: {exc.strerror}") from None
    if b"\x00" in head:
        raise SpendFileError(f"{path.name}: not a CSV file (binary content)")
    try:
        header = pd.read_csv(path, dtype=str, nrows=0, encoding="utf-8", encoding_errors="strict")
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise SpendFileError(f"{path.name}: not a readable UTF-8 CSV file ({_first_line(exc)})") from None
    except pd.errors.EmptyDataError:
        raise SpendFileError(f"{path.name}: empty file, expected a CSV header") from None
    missing = [column for column in REQUIRED_COLUMNS if column not in header.columns]
    if missing:
        raise SpendFileError(
            f"{path.name}: missing required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (header has: {', '.join(map(str, header.columns))})"
        )


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _skipped_lines(caught: list[warnings.WarningMessage]) -> dict[int, str]:
    skipped: dict[int, str] = {}
    for message in caught:
        for match in _SKIPPED.finditer(str(message.message)):
            skipped[int(match.group(1))] = match.group(2).strip()
    return skipped


def _line_numbers(first: int, count: int, skipped: Mapping[int, str]) -> np.ndarray:
    """File line numbers of `count` parsed rows starting at line `first`, around skipped lines."""
    candidates = np.arange(first, first + count + len(skipped), dtype=np.int64)
    return np.setdiff1d(candidates, np.fromiter(skipped, dtype=np.int64), assume_unique=True)[:count]


def _empty_valid() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "line_no": pd.Series(dtype="int64"),
            "record_id": pd.Series(dtype="str"),
            "campaign_id": pd.Series(dtype="str"),
            "amount_micros": pd.Series(dtype="int64"),
            "occurred_at": pd.Series(dtype="datetime64[us, UTC]"),
            "local_date": pd.Series(dtype="datetime64[s]"),
        }
    )


def validate(frame: pd.DataFrame, lines: np.ndarray, zones: Mapping[str, str]) -> Chunk:
    """Split one chunk into valid rows and rejections; every check is vectorised, and a
    rejection's message is built only for the rows that fail."""
    frame = frame.reset_index(drop=True)
    record_id, campaign, amount, occurred = (frame[c] for c in REQUIRED_COLUMNS)
    blank_line = (frame == "").all(axis=1)
    reason = pd.Series("", index=frame.index, dtype="str")

    def reject(mask: pd.Series, message: Callable[[pd.Series], pd.Series] | str) -> None:
        target = mask.fillna(False).astype(bool) & (reason == "")
        if target.any():
            reason[target] = message if isinstance(message, str) else message(target)

    for column in REQUIRED_COLUMNS:
        reject(frame[column] == "", f"missing {column}")
    reject(record_id.str.len() > MAX_RECORD_ID, f"record_id longer than {MAX_RECORD_ID} characters")
    reject(~campaign.isin(zones.keys()), lambda t: "unknown campaign_id '" + campaign[t] + "'")

    whole, _, fraction = (part for _, part in amount.str.partition(".").items())
    reject(
        amount.str.startswith("-") & amount.str.fullmatch("-" + _AMOUNT),
        lambda t: "amount '" + amount[t] + "' is negative",
    )
    reject(~amount.str.fullmatch(_AMOUNT), lambda t: "amount '" + amount[t] + "' is not a decimal number")
    reject(fraction.str.len() > 6, lambda t: "amount '" + amount[t] + "' has more than 6 decimals")
    reject(whole.str.lstrip("0").str.len() > 9, lambda t: "amount '" + amount[t] + "' is not below 1000000000")

    reject(
        ~occurred.str.fullmatch(_INSTANT) & occurred.str.fullmatch(_NAIVE),
        lambda t: "occurred_at '" + occurred[t] + "' has no UTC offset",
    )
    reject(
        ~occurred.str.fullmatch(_INSTANT), lambda t: "occurred_at '" + occurred[t] + "' is not an ISO-8601 timestamp"
    )
    instants = pd.to_datetime(occurred.where(reason == "", None), format="ISO8601", utc=True, errors="coerce")
    reject(instants.isna(), lambda t: "occurred_at '" + occurred[t] + "' is not a valid timestamp")

    good = (reason == "") & ~blank_line
    valid = pd.DataFrame(
        {
            "line_no": lines[good.to_numpy()],
            "record_id": record_id[good],
            "campaign_id": campaign[good],
            "amount_micros": _micros(whole[good], fraction[good]),
            "occurred_at": instants[good].astype("datetime64[us, UTC]"),
        }
    )
    valid["local_date"] = local_dates(valid, zones)

    bad = (reason != "") & ~blank_line
    raw_rows = frame[bad].astype(str).agg(",".join, axis=1) if bad.any() else pd.Series(dtype="str")
    rejections = [
        Rejection(int(line), str(why), str(rid) or None, str(raw))
        for line, why, rid, raw in zip(lines[bad.to_numpy()], reason[bad], record_id[bad], raw_rows, strict=True)
    ]
    return Chunk(valid.reset_index(drop=True), rejections)


def _micros(whole: pd.Series, fraction: pd.Series) -> pd.Series:
    """Exact integer micro-units from the validated digits before and after the point."""
    if whole.empty:
        return pd.Series(dtype="int64")
    padded = fraction.str.pad(6, side="right", fillchar="0")
    return whole.astype("int64") * 1_000_000 + padded.astype("int64")


def amount_micros(amounts: pd.Series) -> pd.Series:
    """Exact integer micro-units of validated amount strings ("12", "12.5", "0.000001")."""
    whole, _, fraction = (part for _, part in amounts.str.partition(".").items())
    return _micros(whole, fraction)


def local_dates(valid: pd.DataFrame, zones: Mapping[str, str]) -> pd.Series:
    """Brand-local calendar date of each row, converting once per distinct time zone."""
    out = pd.Series(pd.NaT, index=valid.index, dtype="datetime64[s]")
    zone = valid["campaign_id"].map(zones)
    for name, index in valid.groupby(zone).groups.items():
        local = valid.loc[index, "occurred_at"].dt.tz_convert(str(name)).dt.tz_localize(None)
        out.loc[index] = local.dt.floor("D").astype("datetime64[s]")
    return out
