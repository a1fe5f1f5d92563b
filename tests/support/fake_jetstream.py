"""A fake Jetstream v1 on loopback (a real websocket server) replaying the recorded events.

`/subscribe?wantedCollections=…&cursor=…` sends, as Jetstream does, the commits of the wanted
collections and every identity and account event. Without a cursor it plays the recording in its
own order (real captures: time_us is not strictly increasing); with one, it replays from its log
the events with time_us at or after the cursor, in time_us order, as Jetstream's store keeps
them. After the recording it keeps the connection open, silent. `cut_after` closes a connection
after that many events (the first one only), as a dropped connection would.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bluesky" / "jetstream"


def recorded_events(name: str = "expected_v1.jsonl") -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


class FakeJetstream:
    def __init__(self, events: list[dict[str, Any]] | None = None, cut_after: int | None = None) -> None:
        self.events = events if events is not None else recorded_events()
        self.cut_after = cut_after
        # The query of every connection, in order.
        self.connections: list[dict[str, list[str]]] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.server: Server = serve(self._serve, "127.0.0.1", 0)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}/subscribe"

    def start(self) -> FakeJetstream:
        self.thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        self.server.shutdown()

    def _chosen(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        wanted = set(query.get("wantedCollections", []))
        events = [
            e
            for e in self.events
            if e["kind"] != "commit" or not wanted or e["commit"]["collection"] in wanted
        ]
        if "cursor" in query:
            cursor = int(query["cursor"][0])
            events = sorted((e for e in events if e["time_us"] >= cursor), key=lambda e: e["time_us"])
        return events

    def _serve(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        query = parse_qs(urlsplit(connection.request.path).query)
        with self._lock:
            first = not self.connections
            self.connections.append(query)
        try:
            for number, event in enumerate(self._chosen(query), 1):
                connection.send(json.dumps(event))
                if first and self.cut_after is not None and number >= self.cut_after:
                    return  # the connection drops
            while not self._closing.wait(0.05):
                pass
        except ConnectionClosed:
            return
