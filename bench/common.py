"""What more than one benchmark needs: ingesting a generated spend file through the public
`ingest_file`, at the benchmark's own instant when ingestion takes one."""

from __future__ import annotations

import datetime as dt
import inspect
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from budget_pipeline.ingest.pipeline import FileResult, ingest_file


def ingest(engine: Engine, path: Path, now: dt.datetime) -> FileResult:
    """`ingest_file(engine, path)`, given `now=` when it takes that keyword. A benchmark's spend
    lies in a fixed month; where ingestion judges a record's date against the moment of
    ingestion, that moment must be the benchmark's, not the wall clock's, or the same command
    would store (and time) less on some days than on others."""
    extra: dict[str, Any] = {}
    if "now" in inspect.signature(ingest_file).parameters:
        extra["now"] = now
    return ingest_file(engine, path, **extra)
