"""A fake X API v2 filtered stream on loopback: stateful rules, and scripted stream connections.

- GET /2/tweets/search/stream/rules, POST …/rules (`add`, `delete`): a real rule set with ids.
  A rule whose value contains "REFUSE" is refused like X refuses an invalid rule; a duplicate
  value is refused as a duplicate.
- GET /2/tweets/search/stream: each connection plays the next queued `Connection` (then
  `default`): an error status, or a chunked 200 that sends recorded lines ending in \\r\\n
  (`matching_rules` rewritten to the rules that `match` picks from the current set, as X does),
  then keeps alive, goes silent, cuts a line in half and drops, or ends.
- Every request is recorded; a wrong bearer token gets X's 401.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.support.fake_http import LoopbackServer
from tests.support.fake_x import TOO_MANY_REQUESTS, UNAUTHORIZED

RULES_PATH = "/2/tweets/search/stream/rules"
STREAM_PATH = "/2/tweets/search/stream"
SERVICE_UNAVAILABLE = {
    "title": "Service Unavailable",
    "detail": "Service Unavailable",
    "type": "about:blank",
    "status": 503,
}
OPERATIONAL_DISCONNECT = {
    "errors": [
        {
            "title": "operational-disconnect",
            "disconnect_type": "UpstreamOperationalDisconnect",
            "detail": "This stream has been disconnected upstream for operational reasons.",
            "type": "https://api.twitter.com/2/problems/operational-disconnect",
        }
    ]
}
KEEP_ALIVE = b""


@dataclass
class Connection:
    """What the fake does on one stream connection."""

    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    # Sent one by one, each followed by \r\n; KEEP_ALIVE is an empty line.
    lines: list[bytes] = field(default_factory=list)
    # Then: "keepalive" (a keep-alive every `keepalive_interval` until the client goes), "silence"
    # (nothing, until the client gives up), "cut" (half of `cut_line`, then drop), "end".
    then: str = "keepalive"
    cut_line: bytes = b""
    # Set when the fake has sent every line of this connection.
    sent: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any


class FakeXStream(LoopbackServer):
    def __init__(self, bearer_token: str, keepalive_interval: float = 0.05) -> None:
        self.bearer_token = bearer_token
        self.keepalive_interval = keepalive_interval
        self.rules: dict[str, tuple[str, str]] = {}
        self._ids = itertools.count(1_500_000_000_000_000_001)
        self.queue: list[Connection] = []
        self.default = Connection()
        self.requests: list[Recorded] = []
        self.connections: list[Connection] = []
        # Which current rules a message matched: (message, rules as (id, value, tag)) → those.
        self.match: Callable[[dict[str, Any], list[tuple[str, str, str]]], list[tuple[str, str, str]]] = (
            lambda _message, rules: rules
        )
        self.numeric_rule_ids = True
        # (status, body) every rules request gets instead of the usual answer, when set.
        self.rules_answer: tuple[int, dict[str, Any]] | None = None
        # Stream connections open now, and the most ever open at once.
        self.open_connections = 0
        self.most_open_connections = 0
        self._open_sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        super().__init__()

    def close(self) -> None:
        self._closing.set()
        super().close()

    def stream_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == STREAM_PATH]

    def rule_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == RULES_PATH]

    def add_rule(self, value: str, tag: str = "") -> str:
        rule_id = str(next(self._ids))
        with self._lock:
            self.rules[rule_id] = (value, tag)
        return rule_id

    # --- serving ------------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        request = Recorded(
            handler.command, url.path, dict(parse_qsl(url.query)), json.loads(raw) if raw else None
        )
        with self._lock:
            self.requests.append(request)
        if handler.headers.get("Authorization") != f"Bearer {self.bearer_token}":
            self._json(handler, 401, UNAUTHORIZED)
        elif url.path == RULES_PATH and self.rules_answer is not None:
            self._json(handler, *self.rules_answer)
        elif url.path == RULES_PATH and handler.command == "GET":
            self._json(handler, 200, self._rules_body())
        elif url.path == RULES_PATH:
            self._json(handler, 200, self._change_rules(request.body or {}))
        elif url.path == STREAM_PATH:
            self._stream(handler)
        else:
            self._json(handler, 404, {"title": "Not Found Error", "type": "about:blank", "status": 404})

    def _json(self, handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass

    def _rules_body(self) -> dict[str, Any]:
        with self._lock:
            data = [{"id": i, "value": v, **({"tag": t} if t else {})} for i, (v, t) in self.rules.items()]
        body: dict[str, Any] = {"meta": {"sent": "2026-11-23T00:00:00.000Z", "result_count": len(data)}}
        if data:
            body["data"] = data
        return body

    def _change_rules(self, body: dict[str, Any]) -> dict[str, Any]:
        meta: dict[str, Any] = {"sent": "2026-11-23T00:00:00.000Z"}
        answer: dict[str, Any] = {"meta": meta}
        if "delete" in body:
            ids = body["delete"].get("ids", [])
            with self._lock:
                deleted = [i for i in ids if self.rules.pop(i, None) is not None]
            meta["summary"] = {"deleted": len(deleted), "not_deleted": len(ids) - len(deleted)}
        for rule in body.get("add", []):
            value, tag = rule["value"], rule.get("tag", "")
            with self._lock:
                duplicate = any(v == value for v, _ in self.rules.values())
            if "REFUSE" in value or duplicate:
                answer.setdefault("errors", []).append(
                    {
                        "value": value,
                        "id": "1",
                        "title": "DuplicateRule" if duplicate else "UnprocessableEntity",
                        "details": ["duplicate"]
                        if duplicate
                        else [f"Reference to invalid operator in {value!r}"],
                        "type": "https://api.twitter.com/2/problems/invalid-rules",
                    }
                )
                continue
            rule_id = self.add_rule(value, tag)
            answer.setdefault("data", []).append({"id": rule_id, "value": value, "tag": tag})
        if "add" in body:
            created = len(answer.get("data", []))
            meta["summary"] = {"created": created, "not_created": len(body["add"]) - created}
        return answer

    def _next_connection(self) -> Connection:
        with self._lock:
            connection = self.queue.pop(0) if self.queue else self.default
            self.connections.append(connection)
        return connection

    def _with_rules(self, line: bytes) -> bytes:
        try:
            message = json.loads(line)
        except ValueError:
            return line  # sent as it is: the reader must cope
        if not isinstance(message, dict) or "data" not in message:
            return line
        message.pop("__twarc", None)
        with self._lock:
            rules = [(i, v, t) for i, (v, t) in self.rules.items()]
        message["matching_rules"] = [
            {"id": int(i) if self.numeric_rule_ids else i, "tag": t or None}
            for i, _v, t in self.match(message, rules)
        ]
        return json.dumps(message).encode()

    def _stream(self, handler: BaseHTTPRequestHandler) -> None:
        sock = handler.connection
        with self._lock:
            self.open_connections += 1
            self._open_sockets.add(sock)
            # A connection whose client has closed it is counted open until the fake's next write
            # fails; what matters is whether the client still held it when this one arrived.
            held = [s for s in self._open_sockets if s is sock or not _peer_closed(s)]
            self.most_open_connections = max(self.most_open_connections, len(held))
        try:
            self._play(handler, self._next_connection())
        finally:
            with self._lock:
                self.open_connections -= 1
                self._open_sockets.discard(sock)

    def _play(self, handler: BaseHTTPRequestHandler, connection: Connection) -> None:
        if connection.status != 200:
            body = connection.body or (TOO_MANY_REQUESTS if connection.status == 429 else SERVICE_UNAVAILABLE)
            self._json(handler, connection.status, body)
            connection.sent.set()
            return
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            for line in connection.lines:
                self._chunk(handler, self._with_rules(line) + b"\r\n")
            connection.sent.set()
            if connection.then == "cut":
                line = self._with_rules(connection.cut_line)
                self._chunk(handler, line[: len(line) // 2])
                handler.connection.shutdown(socket.SHUT_RDWR)
                handler.close_connection = True
            elif connection.then == "end":
                handler.wfile.write(b"0\r\n\r\n")
                handler.wfile.flush()
            elif connection.then == "silence":
                # Until the client gives up (its read times out) or the fake closes.
                while not self._closing.wait(0.05):
                    if _peer_closed(handler.connection):
                        break
                handler.close_connection = True
            else:
                while not self._closing.wait(self.keepalive_interval):
                    self._chunk(handler, b"\r\n")
        except OSError:
            handler.close_connection = True

    @staticmethod
    def _chunk(handler: BaseHTTPRequestHandler, data: bytes) -> None:
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        handler.wfile.flush()


def _peer_closed(sock: socket.socket) -> bool:
    """True once the client closed the connection. MSG_DONTWAIT leaves the socket blocking, so
    another thread may look while the handler's thread writes to it."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def recorded_lines(data: bytes) -> list[bytes]:
    """The lines of a recording, keep-alives (empty lines) included, without the line ends."""
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    return lines[:-1] if data.endswith(b"\n") else lines
