"""A real webhook receiver for tests: the standard library's HTTP server in a thread, on a free
port, answering each POST with the next of a list of statuses (or hanging), and keeping what it got."""

from __future__ import annotations

import json
import socket
import socketserver
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
    client: tuple[str, int] = ("", 0)  # the address it came from: one per connection

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
            got = Received({k: v for k, v in self.headers.items()}, body, self.client_address)
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

    with _serving(Server(("127.0.0.1", 0), Handler)) as state.url:
        yield state


def closed_port_url() -> str:
    """A URL on which nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


# A receiver that answers as no well-behaved server does (misbehaving):
TRICKLE_BODY = "trickle body"  # 200 and a body of 1,000 bytes, one byte each 0.2 s
ENDLESS_BODY = "endless body"  # 200 and a chunked body that never ends, as fast as it goes
TRICKLE_HEADERS = "trickle headers"  # a status line, then a header one byte each 0.2 s, for ever


@dataclass
class Misbehaving:
    url: str
    requests: int = 0  # POSTs read whole
    sent: int = 0  # bytes of answers sent, until the client went away


@contextmanager
def misbehaving(mode: str) -> Iterator[Misbehaving]:
    """A receiver on a free port that reads each POST, then answers it the way `mode` says until
    the client goes away; the server's threads end with the block."""
    state = Misbehaving("")
    lock, stopping = threading.Lock(), threading.Event()

    def send(conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        with lock:
            state.sent += len(data)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            conn, buffer = self.request, b""
            while b"\r\n\r\n" not in buffer:
                if not (got := conn.recv(65536)):
                    return
                buffer += got
            head, _, rest = buffer.partition(b"\r\n\r\n")
            fields = dict(line.lower().split(b":", 1) for line in head.split(b"\r\n")[1:])
            while len(rest) < int(fields[b"content-length"]):
                if not (got := conn.recv(65536)):
                    return
                rest += got
            with lock:
                state.requests += 1
            try:
                if mode == TRICKLE_BODY:
                    send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
                    for _ in range(1000):
                        if stopping.wait(0.2):
                            return
                        send(conn, b"x")
                elif mode == ENDLESS_BODY:
                    send(conn, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
                    while not stopping.is_set():
                        send(conn, chunk)
                else:
                    send(conn, b"HTTP/1.1 200 OK\r\nX-Slow: ")
                    while not stopping.wait(0.2):
                        send(conn, b"x")
            except OSError:
                pass  # the client went away: what this receiver waits for

    with _serving(socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler), stopping) as state.url:
        yield state


@contextmanager
def _serving(server: socketserver.ThreadingMixIn, stopping: threading.Event | None = None) -> Iterator[str]:
    """`server` answering on a thread of its own while the block runs, each request on a daemon
    thread; its URL. At the end `stopping` is set (for handlers that answer until told), then the
    server is shut down."""
    assert isinstance(server, socketserver.TCPServer)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        if stopping is not None:
            stopping.set()
        server.shutdown()
        server.server_close()
