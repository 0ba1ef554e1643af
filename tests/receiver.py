"""A real webhook receiver for tests: the standard library's HTTP server in a thread, on a free
port, answering each POST with the next of a list of statuses (or hanging), and keeping what it got."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG = -1  # an "answer" that waits `hang_seconds` before answering 200


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    answers: list[int] = field(default_factory=list)  # consumed in order; 200 once empty
    hang_seconds: float = 2.0
    received: list[Received] = field(default_factory=list)  # every request, answered or not
    delivered: list[Received] = field(default_factory=list)  # those answered 2xx


@contextmanager
def receiver(*answers: int) -> Iterator[Receiver]:
    state = Receiver("", list(answers))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got = Received({k: v for k, v in self.headers.items()}, body)
            with lock:
                state.received.append(got)
                answer = state.answers.pop(0) if state.answers else 200
            if answer == HANG:
                time.sleep(state.hang_seconds)
                answer = 200
            if 200 <= answer < 300:
                with lock:
                    state.delivered.append(got)
            self.send_response(answer)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a client that gave up (a timeout test) closed the socket: not news

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    """A URL on which nothing listens (connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"
