"""Python's process-wide error hooks (`sys.excepthook`, `sys.unraisablehook`) taken over for a
while: what a library prints through them from C code, where it cannot raise, is given to the
holder's handler instead. Every report a handler does not take goes to the hook as it was."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Handler = Callable[..., bool]  # takes a hook's arguments; True when it took the report


class HeldHook:
    """The hook `sys.<name>` while someone holds it. With `per_thread`, a report goes to the
    handler of the thread that makes it (if that thread holds one); without (for reports made
    on threads the holder does not own, as Arrow's reader threads), to each holder's handler,
    the latest first, until one takes it. Installed when the first holder comes, put back when
    the last one leaves (unless someone installed another hook meanwhile)."""

    def __init__(self, name: str, *, per_thread: bool) -> None:
        self.name, self.per_thread = name, per_thread
        self.lock = threading.Lock()
        self.holders: list[Handler] = []
        self.previous: Callable[..., Any] = getattr(sys, name)
        self.local = threading.local()

    def _call(self, *args: Any) -> None:
        if self.per_thread:
            handlers = [handler] if (handler := getattr(self.local, "handler", None)) else []
        else:
            with self.lock:
                handlers = self.holders[::-1]
        if not any(handler(*args) for handler in handlers):
            self.previous(*args)

    @contextmanager
    def held(self, handler: Handler) -> Iterator[None]:
        with self.lock:
            if not self.holders:
                self.previous = getattr(sys, self.name)
                setattr(sys, self.name, self._call)
            self.holders.append(handler)
        outer, self.local.handler = getattr(self.local, "handler", None), handler
        try:
            yield
        finally:
            self.local.handler = outer
            with self.lock:
                self.holders.remove(handler)
                if not self.holders and getattr(sys, self.name) == self._call:
                    setattr(sys, self.name, self.previous)


# psycopg2 prints from the thread that runs the COPY; Arrow calls a CSV reader's handlers from its own.
EXCEPTHOOK = HeldHook("excepthook", per_thread=True)
UNRAISABLEHOOK = HeldHook("unraisablehook", per_thread=False)
