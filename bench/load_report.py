"""Render bench/load_results.json (from bench.load_bench) into BENCHMARKS.md, between its markers.

.venv/bin/python -m bench.load_report
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench.sections import replace_section
from tests.support.processes import ROOT

BEGIN, END = "<!-- load:begin -->", "<!-- load:end -->"
PROCESSES = ("query", "collector", "envoy")


def _errors(run: dict[str, Any]) -> int:
    non_2xx = sum(int(n) for status, n in run["statuses"].items() if not status.startswith("2"))
    failures = sum(int(n) for n in run["failures"].values())
    return non_2xx + failures + int(run["requests"]) - int(run["completed"])


def _n(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _row(name: str, run: dict[str, Any]) -> str:
    due = " · ".join(_n(run[k]) for k in ("p50_ms", "p99_ms", "p999_ms", "max_ms"))
    sent = " · ".join(_n(run[k]) for k in ("service_p50_ms", "service_p99_ms", "service_p999_ms"))
    return (
        f"| {name} | {run['requests']:,} in {run['seconds']:.1f} s: {run['achieved_rate']:,.0f}/s answered "
        f"| {_errors(run)} | {due} | {sent} | {_n(run['dispatch_late_ms_max'])} "
        f"| {run['cpu_seconds']:.1f} s |"
    )


def render(report: dict[str, Any]) -> str:
    machine, load, fuzz = report["machine"], report["load"], report["fuzz"]
    statuses = ", ".join(f"{status}: {n:,}" for status, n in fuzz["statuses"].items())
    failures = ", ".join(f"{kind}: {n}" for kind, n in fuzz["failures"].items()) or "none"
    near = report["near_cache"]
    peak = {name: max(sample[name] for sample in report["fuzz_rss_samples"]) for name in PROCESSES}
    lines = [
        BEGIN,
        "# Benchmarks: load and memory",
        "",
        f"Run {machine['date']} at commit `{machine['commit']}`: {machine['cpu']}, {machine['memory']} RAM, "
        f"Python {machine['python']}; load average {machine['load_before']} when it started (the machine "
        "is shared with other engineers' builds and tests). `python -m bench.load_bench` then "
        "`python -m bench.load_report`; the stack and data are the query benchmark's, "
        f"{report['posts']:,} posts, with Redis.",
        "",
        f"Constant rate, open loop ({report['rate']:,.0f} requests/s whatever the answers' pace; "
        "latency counted from each request's due time, as wrk2 does). Latency in ms.",
        "",
        "| run | requests | errors | p50 · p99 · p99.9 · max, from due time | p50 · p99 · p99.9, from send "
        "| generator late by, max (ms) | generator CPU |",
        "|---|---|---:|---|---|---:|---:|",
        _row("floor: Envoy's `/envoy/ping`, 10 s", report["floor"]),
        _row(f"the six summary routes in turn, {load['rate']:,.0f}/s", load),
        *(_row(f"the same, {run['rate']:,.0f}/s", run) for run in report.get("load_other_rates", [])),
        "",
        f"Errors on the summary routes (non-2xx, timeouts, resets, requests never answered) at "
        f"{load['rate']:,.0f}/s: **{_errors(load)}** of {load['requests']:,}.",
        "",
        "### Memory across fuzzed requests",
        "",
        f"{fuzz['requests']:,} requests at {report['rate']:,.0f}/s with random and hostile query strings "
        "(bench/fuzz.py) on the summary and list routes: "
        + ", ".join(f"`{route}` {n:,}" for route, n in report["fuzz_kinds"].items())
        + f". Answers: {statuses}; failures: {failures}."
        + (
            f" The query service logged {report.get('fuzz_query_errors', {}).get('Traceback', 0)} tracebacks"
            + (
                ", a protobuf DecodeError (a string field with invalid UTF-8)"
                if "DecodeError" in report.get("fuzz_query_errors", {})
                else ""
            )
            + "; one such request: `"
            + next(iter(fuzz["server_error_samples"].values()))[0][:100]
            + "`."
            if fuzz.get("server_error_samples")
            else ""
        ),
        "",
        "| process | RSS at start (MiB) | after 60 s of load | after the fuzzing | peak while fuzzing |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in PROCESSES:
        lines.append(
            f"| {name} | {report['rss_started_mib'][name]:.1f} | {report['rss_before_fuzz_mib'][name]:.1f} "
            f"| {report['rss_after_fuzz_mib'][name]:.1f} | {peak[name]:.1f} |"
        )
    samples = report["fuzz_rss_samples"]
    step = max(1, len(samples) // 10)
    lines += [
        "",
        "The query service's RSS (MiB) during the fuzzed requests, about every "
        f"{step} s: " + ", ".join(f"{s['query']:.0f}" for s in samples[::step]) + ".",
        "",
        "The query service's near cache (`tagpulse_query.cache.NearCache`, measured in the benchmark's "
        "own process with 50,000 entries): an empty answer is counted as "
        f"{near['counted_bytes_per_entry']:.0f} "
        f"bytes against its {near['bound_mib']:.0f} MiB bound, but takes {near['real_bytes_per_entry']:.0f} "
        f"bytes of the process's RSS ({near['traced_bytes_per_entry']:.0f} of them Python objects), so the "
        f"bound admits {near['entries_within_bound']:,} such entries, "
        f"about {near['real_mib_at_bound']:,.0f} MiB, "
        "each kept for the cache TTL (`TAGPULSE_CACHE_TTL_SECONDS`, an hour by default).",
        END,
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "load_results.json")
    parser.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    replace_section(args.markdown, BEGIN, END, render(json.loads(args.json.read_text())))


if __name__ == "__main__":
    main()
