"""Markdown tables for metadata the Dagster UI shows: one shape for every table, cut at a
number of rows with a last row that says how many more there are and where to see them."""

from __future__ import annotations

from collections.abc import Sequence


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, total: int | None = None, more: str = "") -> str:
    """`rows` under `headers`; when `total` (all there are) exceeds the rows shown, a last row
    "… N more `more`"."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    if total is not None and total > len(rows):
        lines.append(
            "| " + " | ".join([f"… {total - len(rows)} more {more}".rstrip(), *[""] * (len(headers) - 1)]) + " |"
        )
    return "\n".join(lines)
