"""The Postman collection, run by newman against a freshly started stack."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.support.processes import ROOT, Stack

NEWMAN = ROOT / "node_modules" / ".bin" / "newman"


def test_postman_collection_passes_in_newman(start_stack: Callable[..., Stack], tmp_path: Path) -> None:
    if not NEWMAN.exists():
        message = "newman is not installed: run `make install` (npm install)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    stack = start_stack()
    report = tmp_path / "newman.json"
    result = subprocess.run(
        [
            str(NEWMAN), "run", str(ROOT / "postman" / "tagpulse.postman_collection.json"),
            "-e", str(ROOT / "postman" / "tagpulse.postman_environment.json"),
            "--env-var", f"baseUrl={stack.rest_url}",
            "--env-var", f"apiToken={stack.api_token}",
            "--reporters", "cli,json", "--reporter-json-export", str(report),
            "--color", "off",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    stats = json.loads(report.read_text())["run"]["stats"]
    assert stats["assertions"]["failed"] == 0
    assert stats["requests"]["failed"] == 0
    assert stats["assertions"]["total"] >= 60
