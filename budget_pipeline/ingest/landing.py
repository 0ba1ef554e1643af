"""The landing folder's protocol: which files are read (regular `*.csv` files directly in the
folder that have stood still for the settle time; never in-progress names), links and special
files refused unopened, each file ingested oldest first and moved to processed/ or failed/."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from budget_pipeline import settings
from budget_pipeline.ingest.names import NAME_NOT_UTF8, one_line, utf8_name
from budget_pipeline.ingest.pipeline import FileInFlight, FileResult, campaign_zones, ingest_file
from budget_pipeline.ingest.spendfile import SpendFileError, open_spend_file


@dataclass
class LandingResult:
    processed: list[FileResult] = field(default_factory=list)
    failed: list[FileResult] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # in flight, or taken by another run meanwhile
    # Names asked for (`names`) that are no spend file in the folder: taken by another run
    # already, or never there (a path, a typing error).
    missing: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(r.accepted for r in self.processed)

    @property
    def duplicate(self) -> int:
        return sum(r.duplicate for r in self.processed)

    @property
    def rejected(self) -> int:
        return sum(r.rejected for r in self.processed)


IN_PROGRESS_PREFIX = "."


IN_PROGRESS_SUFFIXES = (".part", ".tmp")


SPEND_FILE_SUFFIX = ".csv"


# A modification time this far ahead of our clock is a skewed clock, not an upload in progress;
# such a file settles once its size and time stand still between two looks.
CLOCK_SKEW_SECONDS = 60.0


@dataclass(frozen=True)
class LandingScan:
    """What a look into the landing folder found, oldest first."""

    ready: list[Path]  # regular *.csv files that have settled
    refused: list[tuple[Path, str]]  # entries named like spend files that are not regular files, and why
    settling: list[Path]  # files changed within the settle time: left for the next look


def folder_problem(landing: Path) -> str | None:
    """Why no spend file can be read from `landing`, in a few words, or None: it is a folder that
    can be read, or is not there yet (no files)."""
    try:
        if not landing.exists():
            return None
        if not landing.is_dir():
            return "is not a folder: no spend file is read"
    except OSError as exc:
        return f"cannot be looked at: {exc.strerror}"
    if not os.access(landing, os.R_OK | os.X_OK):
        return "cannot be read: no spend file is read"
    for folder in ("processed", "failed"):  # made when first needed; a link would move files outside
        inside = landing / folder
        if inside.is_symlink() or (os.path.lexists(inside) and not inside.is_dir()):
            return f"has a {folder}/ that is not a plain folder: no spend file is read"
    return None


def scan_landing(landing: Path, now: float | None = None, settle_seconds: float | None = None) -> LandingScan:
    """The spend files waiting directly in `landing`: regular `*.csv` files whose size and
    modification time have not changed for `settle_seconds` (default BUDGET_LANDING_SETTLE_SECONDS).
    Names starting with "." or ending in .part or .tmp are uploads in progress and not looked
    at; a symbolic link (never followed) or other non-regular entry named *.csv is refused."""
    now = dt.datetime.now(dt.UTC).timestamp() if now is None else now
    settle = settings.settle_seconds() if settle_seconds is None else settle_seconds
    if not landing.is_dir():
        return LandingScan([], [], [])
    found: list[tuple[int, str, Path, os.stat_result]] = []
    refused: list[tuple[Path, str]] = []
    with os.scandir(landing) as entries:
        for entry in entries:
            name = entry.name
            if name.startswith(IN_PROGRESS_PREFIX) or name.endswith(IN_PROGRESS_SUFFIXES):
                continue
            if not name.endswith(SPEND_FILE_SUFFIX):
                continue
            try:
                seen = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # taken by another run meanwhile
            if not utf8_name(name):
                refused.append((Path(entry.path), NAME_NOT_UTF8))
            elif stat.S_ISLNK(seen.st_mode):
                refused.append((Path(entry.path), "a symbolic link; only regular files are read"))
            elif not stat.S_ISREG(seen.st_mode):
                refused.append((Path(entry.path), "not a regular file"))
            else:
                found.append((seen.st_mtime_ns, name, Path(entry.path), seen))
    ready: list[Path] = []
    settling: list[Path] = []
    for _, _, path, seen in sorted(found):
        age = now - seen.st_mtime_ns / 1e9
        (ready if age >= settle or age < -CLOCK_SKEW_SECONDS else settling).append(path)
    return LandingScan(ready, sorted(refused), settling)


def ingest_landing(
    engine: Engine,
    landing: Path,
    names: Iterable[str] | None = None,
    on_file: Callable[[FileResult], None] | None = None,
    *,
    now: dt.datetime | None = None,
    settle_seconds: float | None = None,
) -> LandingResult:
    """Ingest the settled spend files of `landing` (or just those of `names`), oldest first,
    moving each to processed/ or, if it cannot be read as a whole, to failed/ beside an .error
    note. One bad file never holds back the others; a failure that is not the file's (the
    database is down) raises, leaving this file and those after it in place for the next look."""
    with _landing_turn(landing):
        return _ingest_landing(engine, landing, names, on_file, now, settle_seconds)


LOCK_FILE = ".budget-pipeline-landing.lock"


@contextmanager
def _landing_turn(landing: Path) -> Iterator[None]:
    """This run's turn at the landing folder: an exclusive lock on a file in it (a name starting
    with "." is never read), held while the run reads and moves its files. Two runs at once (a
    sensor's and a `tick`'s) then never read the same file: the second one looks after the
    first has moved its files on. No folder yet: no files, nothing to hold. A lock file that
    cannot be opened as one (a link planted under its name, never followed; a folder that is
    read-only) leaves the run to go on without it, as runs did before they took turns."""
    try:
        fd = os.open(landing / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # and the lock with it


def _ingest_landing(
    engine: Engine,
    landing: Path,
    names: Iterable[str] | None,
    on_file: Callable[[FileResult], None] | None,
    now: dt.datetime | None,
    settle_seconds: float | None,
) -> LandingResult:
    wanted = set(names) if names is not None else None
    moment = now or dt.datetime.now(dt.UTC)
    scan = scan_landing(landing, moment.timestamp(), settle_seconds)
    if scan.ready or scan.refused:
        for folder in ("processed", "failed"):
            _real_folder(landing / folder)
    result = LandingResult(left=[path.name for path in scan.settling])
    if wanted is not None:
        present = {path.name for path in (*scan.ready, *scan.settling)} | {path.name for path, _ in scan.refused}
        result.missing = sorted(wanted - present)
    for path, why in scan.refused:
        if wanted is None or path.name in wanted:
            _refuse(landing, path, f"{path.name}: {why}", result, on_file)
    zones = campaign_zones(engine)
    for path in scan.ready:
        if wanted is not None and path.name not in wanted:
            continue
        try:
            with open_spend_file(path) as handle:
                seen = os.fstat(handle.fileno())
            file_result = ingest_file(engine, path, zones, now=moment)
        except (FileNotFoundError, FileInFlight):
            result.left.append(path.name)
            continue
        except SpendFileError as exc:
            _refuse(landing, path, str(exc), result, on_file)
            continue
        if _move(path, landing / "processed", seen) is None:
            result.left.append(path.name)  # replaced or taken meanwhile: the next look decides
        result.processed.append(file_result)
        if on_file:
            on_file(file_result)
    return result


def _refuse(
    landing: Path, path: Path, why: str, result: LandingResult, on_file: Callable[[FileResult], None] | None
) -> None:
    """Move `path` (a link itself, never its target) to failed/ with an .error note saying why."""
    moved = _move(path, landing / "failed")
    if moved is None:
        result.left.append(path.name)
        return
    _write_note(moved.with_name(moved.name + ".error"), one_line(why) + "\n")
    file_result = FileResult(path.name, error=why)
    result.failed.append(file_result)
    if on_file:
        on_file(file_result)


def _move(path: Path, folder: Path, seen: os.stat_result | None = None) -> Path | None:
    """Move `path` into `folder` under a name free there (its note's name too); None when the
    file is gone, or when `seen` is given and `path` is no longer that file (another run took
    it, or an upload replaced it): a look into the folder later decides what to do with it."""
    _real_folder(folder)
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        return None
    if seen is not None and (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns) != (
        seen.st_dev,
        seen.st_ino,
        seen.st_size,
        seen.st_mtime_ns,
    ):
        return None
    target = folder / path.name
    if os.path.lexists(target) or os.path.lexists(f"{target}.error"):
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        target = folder / f"{path.stem}.{stamp}{path.suffix}"
    try:
        os.rename(path, target)
    except FileNotFoundError:
        return None
    return target


class LandingFolderError(Exception):
    """processed/ or failed/ cannot be used: the files stay where they are, for a later look."""


def _real_folder(folder: Path) -> None:
    """Make `folder` exist as a real directory; one that is a link would move files outside."""
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise LandingFolderError(f"{folder}: cannot be made a folder: {exc.strerror or exc}") from None
    if folder.is_symlink() or not folder.is_dir():
        raise LandingFolderError(f"{folder} is not a plain folder; processed/ and failed/ must not be links")


def _write_note(path: Path, text: str) -> None:
    """Write a new note file; never through a link planted under its name."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as note:
        note.write(text)
