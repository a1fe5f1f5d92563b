"""tools/audit.py's verdict: a vulnerability fails unless the allow-list covers it, an allow-list
entry past its review date fails, and what could not be checked only warns (unless strict)."""

from __future__ import annotations

import importlib.util
import sys
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tagpulse_tools_audit", ROOT / "tools" / "audit.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["tagpulse_tools_audit"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


audit = _audit()
TODAY = date(2026, 12, 4)
FINDING = audit.Finding("pypi", "Some_Package", "1.0", "PYSEC-2026-1", ("CVE-2026-1", "GHSA-aaaa"), ("1.1",))


def _allowed(**changes: Any) -> Any:
    entry = {
        "id": "GHSA-AAAA",
        "ecosystem": "pypi",
        "package": "some-package",
        "reason": "we never parse untrusted input with it",
        "review_by": date(2027, 1, 1),
    } | changes
    return audit.Allowed(**entry)


def test_a_vulnerability_fails_the_audit(capsys: pytest.CaptureFixture[str]) -> None:
    assert audit.verdict({"python": audit.Outcome([FINDING], [], 10)}, [], TODAY, strict=False) == 1
    assert "VULNERABLE pypi Some_Package 1.0: PYSEC-2026-1" in capsys.readouterr().err


def test_an_allowed_vulnerability_passes_by_any_alias_and_normalized_name() -> None:
    outcomes = {"python": audit.Outcome([FINDING], [], 10)}
    assert audit.verdict(outcomes, [_allowed()], TODAY, strict=False) == 0
    assert audit.verdict(outcomes, [_allowed(package="other")], TODAY, strict=False) == 1
    assert audit.verdict(outcomes, [_allowed(ecosystem="npm")], TODAY, strict=False) == 1


def test_an_entry_past_its_review_date_fails(capsys: pytest.CaptureFixture[str]) -> None:
    outcomes = {"python": audit.Outcome([FINDING], [], 10)}
    assert audit.verdict(outcomes, [_allowed(review_by=date(2026, 12, 3))], TODAY, strict=False) == 1
    assert "EXPIRED" in capsys.readouterr().err


def test_what_was_not_checked_warns_and_fails_only_when_strict(
    capsys: pytest.CaptureFixture[str],
) -> None:
    outcomes = {"npm": audit.Outcome([], ["npm audit could not read the advisories: 405"], 0)}
    assert audit.verdict(outcomes, [], TODAY, strict=False) == 0
    assert "AUDIT INCOMPLETE" in capsys.readouterr().err
    assert audit.verdict(outcomes, [], TODAY, strict=True) == 1


def test_the_allowlist_needs_every_field(tmp_path: Path) -> None:
    path = tmp_path / "allow.toml"
    path.write_text('[[ignore]]\nid = "X"\necosystem = "pypi"\npackage = "p"\nreview_by = 2027-01-01\n')
    with pytest.raises(SystemExit, match="reason"):
        audit.load_allowlist(path)
    path.write_text(path.read_text() + 'reason = "r"\n')
    assert audit.load_allowlist(path)[0].review_by == date(2027, 1, 1)


def test_the_committed_allowlist_is_valid_and_current() -> None:
    for entry in audit.load_allowlist(ROOT / "audit-allowlist.toml"):
        assert entry.review_by >= date.today(), f"{entry.id}: review it again"


def test_pip_audit_skips_are_not_passes() -> None:
    """pip-audit says "No known vulnerabilities found" when its service answered nothing: the
    skipped packages must go to the fallback, not count as checked."""
    report = {
        "dependencies": [
            {"name": "a", "version": "1", "vulns": []},
            {
                "name": "b",
                "version": "2",
                "skip_reason": "Dependency not found on PyPI and could not be audited",
            },
            {"name": "c", "version": "3", "vulns": [{"id": "GHSA-c", "fix_versions": ["4"], "aliases": []}]},
        ]
    }
    findings, checked, skipped = audit.from_pip_audit(report)
    assert (checked, skipped) == (2, ["b"])
    assert [(f.package, f.id, f.fixed_in) for f in findings] == [("c", "GHSA-c", ("4",))]


def test_the_project_page_speaks_only_for_the_newest_release() -> None:
    project = {
        "info": {"version": "2.0"},
        "vulnerabilities": [{"id": "GHSA-x", "aliases": ["CVE-1"], "fixed_in": [], "summary": "bad"}],
    }
    assert audit.from_project_json("p", "1.9", project) is None
    assert [f.ids() for f in audit.from_project_json("p", "2.0", project)] == [{"GHSA-X", "CVE-1"}]


def test_pins_reads_name_equals_version_lines_only() -> None:
    lines = ["# comment", "-r runtime.txt", "Foo_Bar==1.2 ; python_version>'3'", "baz==3 # why", "qux>=1"]
    assert audit.pins(lines) == {"foo-bar": ("Foo_Bar", "1.2"), "baz": ("baz", "3")}
