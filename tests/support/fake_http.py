"""A real HTTP server on loopback for fake platform APIs, with faults to inject.

Each fake subclasses `FakeApi` and answers `handle(request)`; a test queues `Fault`s that
match requests and change the answer (a status with its body and headers, a delay, a body cut
in half, or a hang until the test releases it). Every request is recorded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qsl, unquote, urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    # Every query parameter in order, repeated names too (`query` keeps the last of each).
    params: tuple[tuple[str, str], ...] = ()


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """Changes the answer to the requests it matches, `times` times (None: always)."""

    match: Callable[[Request], bool] = lambda _request: True
    times: int | None = 1
    status: int | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds to wait before answering (a slow server).
    delay: float = 0.0
    # Send only the first half of the normal body (valid HTTP, truncated JSON).
    truncate: bool = False
    # Wait until the test sets this event before answering (at most `hang_limit` seconds).
    hang: threading.Event | None = None
    hang_limit: float = 60.0
    # Requests this fault changed, for the test to check.
    hits: int = 0


class LoopbackServer:
    """A threading HTTP/1.1 server on 127.0.0.1 (a free port) that hands each GET, POST and PUT to
    `_serve`; `start` serves in a thread, `close` stops it."""

    def __init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                owner._serve(self)

            def do_POST(self) -> None:
                owner._serve(self)

            def do_PUT(self) -> None:
                owner._serve(self)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Self:
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError


class FakeApi(LoopbackServer):
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        super().__init__()

    def close(self) -> None:
        for fault in self.faults:
            if fault.hang is not None:
                fault.hang.set()
        super().close()

    def add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def _fault_for(self, request: Request) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if (fault.times is None or fault.hits < fault.times) and fault.match(request):
                    fault.hits += 1
                    return fault
        return None

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        params = tuple(parse_qsl(url.query, keep_blank_values=True))
        request = Request(
            method=handler.command,
            path=unquote(url.path),
            query=dict(params),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=handler.rfile.read(length) if length else b"",
            params=params,
        )
        with self._lock:
            self.requests.append(request)
        fault = self._fault_for(request)
        if fault is not None and fault.hang is not None:
            fault.hang.wait(fault.hang_limit)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.status is not None:
            response = Response(fault.status, fault.body, dict(fault.headers))
        else:
            response = self.handle(request)
            if fault is not None:
                response.headers.update(fault.headers)
                if fault.truncate:
                    response.body = response.body[: len(response.body) // 2]
        try:
            handler.send_response(response.status)
            headers = {"Content-Type": "application/json; charset=utf-8", **response.headers}
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(response.body)))
            handler.end_headers()
            handler.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout under test)
