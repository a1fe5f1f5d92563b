"""A Redis server of a test's own, on a free loopback port, for tests that stop, kill or freeze
Redis: the shared one (TAGPULSE_TEST_REDIS_URL) is never touched. The `private_redis` fixture
(tests/conftest.py) starts one and stops it after the test."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.support.polling import wait_until
from tests.support.processes import free_port


@dataclass
class PrivateRedis:
    binary: str
    log_path: Path
    port: int = field(default_factory=free_port)
    # Keep the data across a restart (append-only file, synced on every write), as a Redis that
    # holds stream buffers should.
    persistent: bool = False
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> PrivateRedis:
        """Start redis-server (no persistence) and wait until it answers PING."""
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    *(
                        ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.log_path.parent)]
                        if self.persistent
                        else ["--appendonly", "no"]
                    ),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(
            self._answers,
            message=lambda: f"redis-server on port {self.port} to answer PING; its log:\n{self.log()}",
            timeout=timeout,
            ignoring=(redis.ConnectionError, redis.TimeoutError),
        )
        return self

    def _answers(self) -> bool:
        assert self.popen is not None
        if self.popen.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.popen.returncode}:\n{self.log()}")
        with redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=1, socket_connect_timeout=1
        ) as client:
            return bool(client.ping())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL, and wait for it to be gone."""
        assert self.popen is not None
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), and wait for it to be gone; `start` brings it back."""
        assert self.popen is not None
        if self.popen.poll() is None:
            self.popen.terminate()
        self.popen.wait(30)

    def send_signal(self, signal: int) -> None:
        assert self.popen is not None
        self.popen.send_signal(signal)


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")
