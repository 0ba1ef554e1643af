"""A yardstick for this machine's speed, printed by every benchmark: the figures of two
sessions compare only once each is read against its own yardstick (the same 2-core class of
machine has measured twice as slow on one day as on another)."""

from __future__ import annotations

import os
import statistics
import time

LOOP = 30_000_000


def python_loop_seconds(runs: int = 3) -> float:
    """Median seconds of a fixed pure-Python loop (sum of 30M integers); lower is faster."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        sum(range(LOOP))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def describe() -> str:
    seconds = python_loop_seconds()
    return f"{os.cpu_count()} cores; yardstick: a 30M-integer Python sum takes {seconds:.2f} s (bench/reference.py)"


if __name__ == "__main__":
    print(describe())
