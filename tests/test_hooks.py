"""A process-wide error hook held by threads (budget_pipeline.hooks): each holder gets its own
thread's reports, everyone else's go where they went, and the hook is put back once."""

from __future__ import annotations

import sys
import threading
from contextlib import ExitStack
from typing import Any

import pytest

from budget_pipeline.hooks import HeldHook


@pytest.fixture
def before(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """sys.unraisablehook replaced by one that records what reaches it, for the test."""
    seen: list[tuple[str, Any]] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda report: seen.append((threading.current_thread().name, report)))
    return seen


def test_holders_overlapping_in_two_threads_each_get_their_own_and_the_hook_is_put_back_once(
    before: list[tuple[str, Any]],
) -> None:
    original = sys.unraisablehook
    hook = HeldHook("unraisablehook", per_thread=True)
    taken: dict[str, list[Any]] = {"a": [], "b": []}
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def holder(
        name: str, entered: threading.Event, wait_for: threading.Event | None, then: threading.Event | None
    ) -> None:
        with hook.held(lambda report: taken[name].append(report) or True):
            entered.set()
            if wait_for is not None:
                wait_for.wait(5)
            sys.unraisablehook(f"{name}'s")
        if then is not None:
            then.set()

    # A enters, B enters, A leaves, B leaves: the order that left a plain swap's hook installed.
    a = threading.Thread(target=holder, args=("a", a_in, b_in, a_out), name="a")
    a.start()
    a_in.wait(5)
    b = threading.Thread(target=holder, args=("b", b_in, a_out, None), name="b")
    b.start()
    a.join(5)
    sys.unraisablehook("the main thread's")  # B still holds it: not the main thread's to take
    b.join(5)
    assert taken == {"a": ["a's"], "b": ["b's"]}
    assert before == [("MainThread", "the main thread's")]
    assert sys.unraisablehook is original


def test_a_holder_inside_another_hands_back_to_it_and_a_handler_may_pass(before: list[tuple[str, Any]]) -> None:
    original = sys.unraisablehook
    hook = HeldHook("unraisablehook", per_thread=True)
    outer: list[Any] = []
    with ExitStack() as stack:
        stack.enter_context(hook.held(lambda report: outer.append(report) or True))
        with hook.held(lambda report: report == "inner's"):  # takes its own, passes the rest on
            sys.unraisablehook("inner's")
            sys.unraisablehook("not the inner's")
        sys.unraisablehook("outer's")
    assert outer == ["outer's"]
    assert [report for _, report in before] == ["not the inner's"]
    assert sys.unraisablehook is original


def test_a_hook_installed_meanwhile_by_someone_else_is_left_in_place(before: list[tuple[str, Any]]) -> None:
    hook = HeldHook("unraisablehook", per_thread=True)

    def theirs(report: Any) -> None:
        pass

    with hook.held(lambda report: True):
        sys.unraisablehook = theirs
    assert sys.unraisablehook is theirs


def test_without_per_thread_a_report_made_on_another_thread_goes_to_the_holders_latest_first(
    before: list[tuple[str, Any]],
) -> None:
    """As Arrow's reader threads call a CSV reader's handler: not the thread that holds the hook."""
    original = sys.unraisablehook
    hook = HeldHook("unraisablehook", per_thread=False)
    first: list[Any] = []
    latest: list[Any] = []

    def report_on_a_thread_of_its_own(report: str) -> None:
        elsewhere = threading.Thread(target=sys.unraisablehook, args=(report,), name="elsewhere")
        elsewhere.start()
        elsewhere.join(5)

    with hook.held(lambda report: first.append(report) or True):
        with hook.held(lambda report: report.startswith("latest") and (latest.append(report) or True)):
            report_on_a_thread_of_its_own("latest's")
            report_on_a_thread_of_its_own("first's")
        report_on_a_thread_of_its_own("first's again")
    report_on_a_thread_of_its_own("nobody's")
    assert (first, latest) == (["first's", "first's again"], ["latest's"])
    assert before == [("elsewhere", "nobody's")]
    assert sys.unraisablehook is original
