"""A PostgreSQL cluster of a test's own, on a free loopback port, for tests that restart or kill
the database: the shared server (TAGPULSE_TEST_DATABASE_URL) is never touched. The
`private_postgres` fixture (tests/conftest.py) creates one, starts it and removes it after the
test.

`initdb` refuses to run as root, so as root the cluster belongs to an unprivileged system user
(created once) and every `initdb`/`pg_ctl` runs through `runuser`; its folder is made under /tmp,
outside pytest's root-only temporary folders.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import free_port

CLUSTER_USER = "tagpulsetest"


def postgres_bindir() -> Path | None:
    """The folder of initdb and pg_ctl: on PATH, or Debian's /usr/lib/postgresql/N/bin."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _cluster_user() -> str | None:
    """None when not root (the current user owns the cluster); else the system user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(CLUSTER_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", CLUSTER_USER], check=True)
    return CLUSTER_USER


@dataclass
class PrivatePostgres:
    bindir: Path
    port: int = field(default_factory=free_port)
    user: str | None = field(default_factory=_cluster_user)
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tagpulse-pg-")))

    @property
    def datadir(self) -> Path:
        return self.folder / "data"

    @property
    def log_path(self) -> Path:
        return self.folder / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bindir / program), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise AssertionError(
                f"{program} {' '.join(args)} exited with {result.returncode}:\n"
                f"{result.stdout[-2000:]}{result.stderr[-2000:]}\n{self.log()}"
            )

    def create(self) -> PrivatePostgres:
        if self.user is not None:
            shutil.chown(self.folder, self.user, self.user)
        self._run(
            "initdb", "-D", str(self.datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
        )
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.folder}'\n"
                # A throwaway cluster: a crash may lose it, a restart may not (fast shutdown
                # writes everything out).
                "fsync = off\n"
            )
        return self

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-l", str(self.log_path), "-w", "start")

    def restart(self) -> None:
        """What an operator's restart does: every session ends, every transaction in flight
        is rolled back, the server is back a moment later."""
        self._run("pg_ctl", "-D", str(self.datadir), "-l", str(self.log_path), "-w", "-m", "fast", "restart")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-w", "-m", "immediate", "stop")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def remove(self) -> None:
        with contextlib.suppress(AssertionError):  # it was not running
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
