"""`make audit`: known vulnerabilities in the Python pins and the npm tools, against a reviewed
allow-list (audit-allowlist.toml).

python tools/audit.py            # fail on a known vulnerability; warn when the advisories can't be read
python tools/audit.py --strict   # also fail when some package could not be checked (AUDIT_STRICT=1 too)

Python: pip-audit over requirements/runtime.txt, requirements/dev.txt and whatever else is installed
in .venv (the dev tools' own dependencies are not pinned). pip-audit's PyPI service asks
pypi.org/pypi/NAME/VERSION/json; where that answers 404 (it does on this project's machines, whose
network reaches PyPI through a proxy) pip-audit "skips" the package and still says "No known
vulnerabilities found". Every package it skipped is checked again here on pypi.org/pypi/NAME/json,
which answers and carries the vulnerabilities of the newest release: a pin that is the newest
release is checked that way; an older pin stays unchecked, and is named in the warning.

npm: `npm audit --json` over package-lock.json (every package: all of ours are devDependencies).
Its advisory endpoint is a POST that this network refuses (405), so here it warns.

Exit status: 1 for a vulnerability that the allow-list does not cover, or an allow-list entry past
its review date; 0 otherwise, with a loud warning for anything that could not be checked.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ALLOWLIST = ROOT / "audit-allowlist.toml"
LOCKS = (ROOT / "requirements" / "runtime.txt", ROOT / "requirements" / "dev.txt")
PYPI_JSON = "https://pypi.org/pypi/{name}/json"
TIMEOUT = 10.0


@dataclass(frozen=True)
class Finding:
    ecosystem: str  # "pypi" or "npm"
    package: str
    version: str
    id: str
    aliases: tuple[str, ...] = ()
    fixed_in: tuple[str, ...] = ()
    title: str = ""

    def ids(self) -> set[str]:
        return {self.id.upper(), *(alias.upper() for alias in self.aliases)}

    def describe(self) -> str:
        fix = f"; fixed in {', '.join(self.fixed_in)}" if self.fixed_in else "; no fixed version"
        aliases = f" ({', '.join(self.aliases)})" if self.aliases else ""
        title = f": {self.title}" if self.title else ""
        return f"{self.ecosystem} {self.package} {self.version}: {self.id}{aliases}{fix}{title}"


@dataclass(frozen=True)
class Allowed:
    id: str
    ecosystem: str
    package: str
    reason: str
    review_by: date

    def covers(self, finding: Finding) -> bool:
        return (
            finding.ecosystem == self.ecosystem
            and canonical(finding.package) == canonical(self.package)
            and self.id.upper() in finding.ids()
        )


@dataclass
class Outcome:
    findings: list[Finding] = field(default_factory=list)
    # What could not be checked, and why (one line each).
    unchecked: list[str] = field(default_factory=list)
    checked: int = 0


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def load_allowlist(path: Path) -> list[Allowed]:
    data = tomllib.loads(path.read_text()) if path.exists() else {}
    entries = []
    for raw in data.get("ignore", []):
        missing = {"id", "ecosystem", "package", "reason", "review_by"} - raw.keys()
        if missing:
            raise SystemExit(f"{path.name}: an entry lacks {', '.join(sorted(missing))}: {raw}")
        if raw["ecosystem"] not in ("pypi", "npm") or not isinstance(raw["review_by"], date):
            raise SystemExit(f"{path.name}: ecosystem is pypi or npm, review_by a date (2027-03-01): {raw}")
        if not str(raw["reason"]).strip():
            raise SystemExit(f"{path.name}: {raw['id']} needs a reason")
        entries.append(Allowed(raw["id"], raw["ecosystem"], raw["package"], raw["reason"], raw["review_by"]))
    return entries


# Python ---------------------------------------------------------------------------------------------


def pins(lines: Iterable[str]) -> dict[str, tuple[str, str]]:
    """name==version lines → {canonical name: (name, version)}; other lines are ignored."""
    found = {}
    for line in lines:
        match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)", line)
        if match:
            found[canonical(match.group(1))] = (match.group(1), match.group(2))
    return found


def python_pins() -> dict[str, tuple[str, str]]:
    """The lock files' pins, plus what else is installed in the venv (never a different version of
    a locked package: the lock wins)."""
    installed = subprocess.run(
        [str(BIN / "python"), "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    locked: dict[str, tuple[str, str]] = {}
    for lock in LOCKS:
        locked.update(pins(lock.read_text().splitlines()))
    return {**pins(installed), **locked}


def run_pip_audit(requirements: Path) -> dict[str, Any] | None:
    """pip-audit's JSON report, or None when it failed outright (no network, no DNS)."""
    result = subprocess.run(
        [
            str(BIN / "pip-audit"), "--disable-pip", "--no-deps", "-r", str(requirements),
            "--format", "json", "--progress-spinner", "off", "--timeout", str(int(TIMEOUT)),
        ],
        capture_output=True,
        text=True,
    )  # fmt: skip
    try:
        report: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError:
        print(f"pip-audit failed (exit {result.returncode}): {result.stderr.strip()[-600:]}", file=sys.stderr)
        return None
    return report


def from_pip_audit(report: dict[str, Any]) -> tuple[list[Finding], int, list[str]]:
    """(findings, packages checked, names pip-audit skipped)."""
    findings, checked, skipped = [], 0, []
    for dep in report.get("dependencies", []):
        if "skip_reason" in dep:
            skipped.append(dep["name"])
            continue
        checked += 1
        for vuln in dep.get("vulns", []):
            findings.append(
                Finding(
                    "pypi",
                    dep["name"],
                    dep["version"],
                    vuln["id"],
                    tuple(vuln.get("aliases", [])),
                    tuple(vuln.get("fix_versions", [])),
                )
            )
    return findings, checked, skipped


def from_project_json(name: str, version: str, project: dict[str, Any]) -> list[Finding] | None:
    """The findings for name==version from pypi.org/pypi/NAME/json, or None when that page cannot
    say (it carries the vulnerabilities of the newest release only)."""
    if project.get("info", {}).get("version") != version:
        return None
    return [
        Finding(
            "pypi",
            name,
            version,
            vuln["id"],
            tuple(vuln.get("aliases") or ()),
            tuple(vuln.get("fixed_in") or ()),
            (vuln.get("summary") or "")[:120],
        )
        for vuln in project.get("vulnerabilities") or []
    ]


def check_newest(skipped: dict[str, tuple[str, str]]) -> Outcome:
    """The fallback for the packages pip-audit could not check."""
    outcome = Outcome()

    def fetch(item: tuple[str, str]) -> tuple[str, str, dict[str, Any] | str]:
        name, version = item
        try:
            response = client.get(PYPI_JSON.format(name=name))
        except httpx.HTTPError as error:
            return name, version, f"{type(error).__name__}"
        if response.status_code != 200:
            return name, version, f"HTTP {response.status_code}"
        project: dict[str, Any] = response.json()
        return name, version, project

    with httpx.Client(timeout=TIMEOUT) as client, ThreadPoolExecutor(16) as pool:
        for name, version, answer in pool.map(fetch, sorted(skipped.values())):
            if isinstance(answer, str):
                outcome.unchecked.append(f"{name} {version}: {answer} from pypi.org")
                continue
            found = from_project_json(name, version, answer)
            if found is None:
                newest = answer.get("info", {}).get("version", "?")
                outcome.unchecked.append(f"{name} {version}: not the newest release ({newest})")
                continue
            outcome.checked += 1
            outcome.findings += found
    return outcome


def audit_python(workdir: Path) -> Outcome:
    locked = python_pins()
    requirements = workdir / "python-pins.txt"
    requirements.write_text("".join(f"{name}=={version}\n" for name, version in sorted(locked.values())))
    report = run_pip_audit(requirements)
    if report is None:
        outcome = check_newest(locked)
    else:
        findings, checked, skipped = from_pip_audit(report)
        outcome = check_newest({canonical(name): locked[canonical(name)] for name in skipped})
        outcome.findings += findings
        outcome.checked += checked
    return outcome


# npm ------------------------------------------------------------------------------------------------


def from_npm_audit(report: dict[str, Any]) -> list[Finding]:
    findings = []
    for name, vuln in report.get("vulnerabilities", {}).items():
        for via in vuln.get("via", []):
            if isinstance(via, dict):  # a string names another package whose advisory this inherits
                advisory = str(via.get("url", "")).rsplit("/", 1)[-1] or str(via.get("source"))
                findings.append(
                    Finding("npm", name, vuln.get("range", "?"), advisory, (), (), via.get("title", ""))
                )
    return findings


def audit_npm() -> Outcome:
    outcome = Outcome()
    result = subprocess.run(["npm", "audit", "--json"], capture_output=True, text=True, cwd=ROOT)
    try:
        report: dict[str, Any] = json.loads(result.stdout or "{}")
    except json.JSONDecodeError:
        report = {}
    if "error" in report or "metadata" not in report:
        warnings = [line for line in result.stderr.splitlines() if "audit" in line] or ["no report"]
        reason = report.get("error", {}).get("summary") or warnings[0].strip()
        outcome.unchecked.append(f"npm audit could not read the advisories: {reason}")
        return outcome
    outcome.checked = int(report["metadata"].get("dependencies", {}).get("total", 0))
    outcome.findings = from_npm_audit(report)
    return outcome


# Verdict --------------------------------------------------------------------------------------------


def verdict(outcomes: dict[str, Outcome], allowlist: list[Allowed], today: date, strict: bool) -> int:
    failed = False
    findings = [finding for outcome in outcomes.values() for finding in outcome.findings]
    for finding in findings:
        allowed = next((entry for entry in allowlist if entry.covers(finding)), None)
        if allowed is None:
            print(f"VULNERABLE {finding.describe()}", file=sys.stderr)
            failed = True
        else:
            print(f"allowed    {finding.describe()} — {allowed.reason} (review by {allowed.review_by})")
    for entry in allowlist:
        if entry.review_by < today:
            print(
                f"EXPIRED    audit-allowlist.toml: {entry.id} ({entry.package}) was to be reviewed by "
                f"{entry.review_by}: check it again and move the date, or remove the entry",
                file=sys.stderr,
            )
            failed = True
        elif not any(entry.covers(finding) for finding in findings):
            print(
                f"unused     audit-allowlist.toml: {entry.id} ({entry.package}) matched nothing: remove it?"
            )
    for ecosystem, outcome in outcomes.items():
        print(
            f"{ecosystem}: {outcome.checked} packages checked, {len(outcome.findings)} known vulnerabilities"
        )
    unchecked = [(ecosystem, line) for ecosystem, outcome in outcomes.items() for line in outcome.unchecked]
    if unchecked:
        bar = "!" * 100
        lines = [
            bar,
            f"!! AUDIT INCOMPLETE: {len(unchecked)} item(s) could not be checked against advisories",
            "!! (the audit does not fail on this, unless --strict or AUDIT_STRICT=1):",
        ]
        lines += [f"!!   {ecosystem}: {line}" for ecosystem, line in unchecked]
        print("\n".join([*lines, bar]), file=sys.stderr)
        failed = failed or strict
    if failed:
        print("audit: FAILED (see DEVELOPERS.md, 'Coverage and audits')", file=sys.stderr)
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", default=os.environ.get("AUDIT_STRICT") == "1")
    parser.add_argument("--allowlist", type=Path, default=ALLOWLIST)
    args = parser.parse_args()
    allowlist = load_allowlist(args.allowlist)
    workdir = ROOT / "var" / "audit"
    workdir.mkdir(parents=True, exist_ok=True)
    outcomes = {"python": audit_python(workdir), "npm": audit_npm()}
    sys.exit(verdict(outcomes, allowlist, date.today(), args.strict))


if __name__ == "__main__":
    main()
