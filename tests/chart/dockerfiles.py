"""A small Dockerfile reader: stages and their instructions, enough to check our two images."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str | None:
        found = self.all(keyword)
        return found[-1] if found else None


@dataclass
class Dockerfile:
    path: Path
    stages: list[Stage]

    @classmethod
    def read(cls, path: Path) -> Dockerfile:
        lines: list[str] = []
        pending = ""
        for raw in path.read_text().splitlines():
            stripped = raw.strip()
            if not pending and (not stripped or stripped.startswith("#")):
                continue
            if stripped.endswith("\\"):
                pending += stripped[:-1] + " "
                continue
            lines.append(pending + stripped)
            pending = ""
        stages: list[Stage] = []
        for line in lines:
            keyword, _, args = line.partition(" ")
            keyword, args = keyword.upper(), args.strip()
            if keyword == "FROM":
                parts = args.split()
                alias = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
                stages.append(Stage(parts[0], alias))
            else:
                assert stages, f"{path}: {keyword} before FROM"
                stages[-1].instructions.append((keyword, args))
        return cls(path, stages)

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    @property
    def entrypoint(self) -> list[str]:
        value = self.final.last("ENTRYPOINT")
        assert value is not None, f"{self.path}: no ENTRYPOINT"
        assert value.startswith("["), f"{self.path}: ENTRYPOINT must be in exec form"
        return list(json.loads(value))

    @property
    def cmd(self) -> list[str]:
        value = self.final.last("CMD")
        return list(json.loads(value)) if value else []

    def run_commands(self, stage: Stage) -> list[list[str]]:
        return [shlex.split(command) for command in stage.all("RUN")]
