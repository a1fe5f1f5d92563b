"""Schema-driven fuzzing: schemathesis sends every operation of gateway/openapi.json, valid and
invalid inputs, through the real Envoy to the real services, and checks each answer.

One schemathesis run per module (its CLI, deterministic, one worker), then one test per
operation and check, so a service bug fails (or is expected to fail) exactly where it is.
Mutating operations carry the API token; tests/support/schemathesis_hooks.py keeps collection
runs small, the collector tracks one hashtag, and every stream left running is deleted.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import BIN, ROOT, Stack

DOCUMENT = ROOT / "gateway" / "openapi.json"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "response_schema_conformance",
    "content_type_conformance",
)
MAX_EXAMPLES = 25

# (operation, check) pairs that fail today, each with the reason (an issue to fix). Strict: when
# the fix lands they pass, and the entry must go. Issue 11's (ids beyond the INTEGER column's
# range answered 500) are fixed.
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


def operations() -> list[str]:
    document = json.loads(DOCUMENT.read_text())
    return [f"{verb.upper()} {path}" for path, item in document["paths"].items() for verb in item]


@dataclass
class FuzzRun:
    failures: dict[tuple[str, str], str]  # (operation, check) → one example
    errors: list[str]  # network errors, timeouts, schemathesis' own errors
    tested: set[str]  # operations schemathesis sent requests to
    output: str
    seconds: float


def _interaction(recorder: dict[str, Any], case_id: str) -> str:
    interaction = recorder.get("interactions", {}).get(case_id) or {}
    request = interaction.get("request") or {}
    response = interaction.get("response") or {}
    body = ""
    content = response.get("content")
    if isinstance(content, dict) and "$base64" in content:
        body = base64.b64decode(content["$base64"]).decode("utf-8", "replace")
    elif isinstance(content, str):
        body = content
    return (
        f"{request.get('method')} {request.get('uri')} body={str(request.get('body'))[:300]!r}"
        f" → {response.get('status_code')} {body[:300]!r}"
    )


def parse(report: Path) -> tuple[dict[tuple[str, str], str], list[str], set[str]]:
    failures: dict[tuple[str, str], str] = {}
    errors: list[str] = []
    tested: set[str] = set()
    for line in report.read_text().splitlines():
        event = json.loads(line)
        (kind, data), *_ = event.items()
        if kind == "ScenarioFinished":
            recorder = data["recorder"]
            label = recorder["label"]
            if recorder.get("interactions"):
                tested.add(label)
            for case_id, checks in recorder.get("checks", {}).items():
                for check in checks:
                    if check["status"] == "failure":
                        failures.setdefault((label, check["name"]), _interaction(recorder, case_id))
        elif kind == "NonFatalError":
            errors.append(json.dumps(data)[:1000])
    return failures, errors, tested


@pytest.fixture(scope="module")
def fuzz_run(
    module_stack: Callable[..., Stack], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzRun]:
    stack = module_stack(TAGPULSE_HASHTAGS="sre")
    reports = tmp_path_factory.mktemp("schemathesis")
    report = reports / "events.ndjson"
    started = time.monotonic()
    result = subprocess.run(
        [
            str(BIN / "schemathesis"), "run", str(DOCUMENT),
            "--url", stack.rest_url,
            "--header", f"Authorization: Bearer {stack.api_token}",
            "--checks", ",".join(CHECKS),
            "--phases", "examples,coverage,fuzzing",
            "--max-examples", str(MAX_EXAMPLES),
            "--generation-deterministic",
            "--workers", "1",
            "--continue-on-failure", "--max-failures", "10000",
            "--request-timeout", "30",
            "--report", "ndjson", "--report-ndjson-path", str(report),
            "--output-sanitize", "false",
        ],
        # Schemathesis keeps a cache of past crashes in .schemathesis/ under its working folder:
        # each run starts from nothing (the test's own folder), so every run finds the same.
        cwd=reports,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_hooks",
            "NO_COLOR": "1",
        },
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )  # fmt: skip
    seconds = time.monotonic() - started
    try:
        failures, errors, tested = parse(report)
        yield FuzzRun(failures, errors, tested, result.stdout + result.stderr, seconds)
    finally:
        _delete_streams(stack)


def _delete_streams(stack: Stack) -> None:
    """Stop every stream the fuzzing created (the sample source would go on generating)."""
    headers = {"Authorization": f"Bearer {stack.api_token}"}
    token = ""
    while True:
        page = httpx.get(
            f"{stack.rest_url}/v1/streams", params={"pageSize": 100, "pageToken": token}, timeout=30
        )
        page.raise_for_status()
        for stream in page.json()["streams"]:
            if stream["state"] == "RUNNING":
                httpx.delete(f"{stack.rest_url}/v1/streams/{stream['id']}", headers=headers, timeout=30)
        token = page.json()["nextPageToken"]
        if not token:
            return


def test_schemathesis_ran_every_operation(fuzz_run: FuzzRun) -> None:
    assert fuzz_run.tested == set(operations()), fuzz_run.output[-4000:]
    assert not fuzz_run.errors, "\n".join(fuzz_run.errors)
    print(f"schemathesis took {fuzz_run.seconds:.1f} s")


@pytest.mark.parametrize(
    ("operation", "check"),
    [
        pytest.param(
            operation,
            check,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[(operation, check)])]
            if (operation, check) in KNOWN_FAILURES
            else [],
        )
        for operation in operations()
        for check in CHECKS
    ],
)
def test_operation_passes_check(fuzz_run: FuzzRun, operation: str, check: str) -> None:
    example = fuzz_run.failures.get((operation, check))
    assert example is None, f"{operation} fails {check}, for example:\n{example}"


def test_known_failures_name_real_operations() -> None:
    assert {operation for operation, _ in KNOWN_FAILURES} <= set(operations())
    assert {check for _, check in KNOWN_FAILURES} <= set(CHECKS)
