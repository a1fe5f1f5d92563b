"""Render bench/results.json (from bench.query_bench) into BENCHMARKS.md, between its markers.

.venv/bin/python -m bench.report
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench.query_bench import RESULTS_BEGIN, RESULTS_END
from bench.sections import replace_section
from tests.support.processes import ROOT

# The targets.
SPEEDUP = 100
FLATNESS = 1.3
WARM_P50_MS = 1.0
WARM_RPS = 2000


def _n(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def size_table(size: dict[str, Any]) -> list[str]:
    lines = [
        f"### {size['posts']:,} posts",
        "",
        f"Loaded in {size['load_seconds']} s. Rows: "
        + ", ".join(f"{table} {count:,}" for table, count in size["rows"].items())
        + ".",
        "",
        "| route | answer bytes | warm, 16 clients: req/s · p50 · p99 (ms) "
        "| cold, 16 clients: req/s · p50 · p99 (ms) · computed | warm, 1 client: p50 · p99 (ms) "
        "| cold, 1 client: p50 · p99 (ms) | seeds' way, 16 clients: req/s "
        "| seeds' way, 1 client: p50 · p99 (ms) |",
        "|---|---:|---|---|---|---|---:|---|",
    ]
    floor16, floor1 = size["floor16"], size["floor1"]
    lines.append(
        f"| Envoy floor `/envoy/ping` | 11 | {_n(floor16['requests_per_second'])} · "
        f"{_n(floor16['p50_ms'])} · {_n(floor16['p99_ms'])} | – | {_n(floor1['p50_ms'])} · "
        f"{_n(floor1['p99_ms'])} | – | – | – |"
    )
    for route in size["routes"]:
        w16, c16, w1, c1 = route["warm16"], route["cold16"], route["warm1"], route["cold1"]
        lines.append(
            f"| {route['route']} | {route['response_bytes']:,} "
            f"| {_n(w16['requests_per_second'])} · {_n(w16['p50_ms'])} · {_n(w16['p99_ms'])} "
            f"| {_n(c16['requests_per_second'])} · {_n(c16['p50_ms'])} · {_n(c16['p99_ms'])} · "
            f"{c16['miss_share']:.0%} "
            f"| {_n(w1['p50_ms'])} · {_n(w1['p99_ms'])} | {_n(c1['p50_ms'])} · {_n(c1['p99_ms'])} "
            f"| {_n(route['seeds16_rps'])} | {_n(route['seeds1_p50_ms'])} · {_n(route['seeds1_p99_ms'])} |"
        )
    errors = sum(
        route[k]["errors"] for route in size["routes"] for k in ("warm16", "warm1", "cold16", "cold1")
    )
    lines += ["", f"Non-2xx responses and socket errors over all these runs: {errors}.", ""]
    return lines


def targets_table(small: dict[str, Any], large: dict[str, Any]) -> list[str]:
    lines = [
        f"### Targets, {large['posts']:,} posts against {small['posts']:,}",
        "",
        f"| route | warm vs seeds' way, 1 client (p50) | warm vs seeds' way, 16 clients (req/s) "
        f"| cold vs seeds' way, 1 client (p50) | cold vs seeds' way, 16 clients (req/s) "
        f"| p50 at {large['posts']:,} / at {small['posts']:,}: warm 1 · cold 1 · warm 16 "
        f"| warm p50, 1 client ≤ {WARM_P50_MS} ms | warm req/s, 16 clients ≥ {WARM_RPS:,} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by_route = {route["route"]: route for route in small["routes"]}
    for route in large["routes"]:
        small_route = by_route[route["route"]]
        speed = [
            route["seeds1_p50_ms"] / route["warm1"]["p50_ms"],
            route["warm16"]["requests_per_second"] / route["seeds16_rps"],
            route["seeds1_p50_ms"] / route["cold1"]["p50_ms"],
            route["cold16"]["requests_per_second"] / route["seeds16_rps"],
        ]
        flat = [route[k]["p50_ms"] / small_route[k]["p50_ms"] for k in ("warm1", "cold1", "warm16")]
        lines.append(
            f"| {route['route']} | "
            + " | ".join(f"{x:,.0f}× {_mark(x >= SPEEDUP)}" for x in speed)
            + " | "
            + " · ".join(f"{x:.2f}" for x in flat)
            + f" {_mark(all(x <= FLATNESS for x in flat))}"
            + f" | {_n(route['warm1']['p50_ms'])} {_mark(route['warm1']['p50_ms'] <= WARM_P50_MS)}"
            + f" | {_n(route['warm16']['requests_per_second'])}"
            + f" {_mark(route['warm16']['requests_per_second'] >= WARM_RPS)} |"
        )
    return [*lines, ""]


def render(report: dict[str, Any]) -> str:
    machine = report["machine"]
    lines = [
        RESULTS_BEGIN,
        f"Run {machine['date']} at commit `{machine['commit']}`: {machine['cpu']}, {machine['memory']} RAM, "
        f"Python {machine['python']}; load average {machine['load_before']} when it started "
        "(the machine is shared with other engineers' builds and tests).",
        "",
        f"Each figure is the best of {machine.get('repeat', 1)} wrk runs of {machine.get('seconds', 8)} s "
        "(by requests/s); the seeds' way ran once per size for the same length.",
        "",
    ]
    sizes = sorted(report["sizes"], key=lambda s: s["posts"])
    for size in sizes:
        lines += size_table(size)
    if len(sizes) >= 2:
        lines += targets_table(sizes[0], sizes[-1])
    lines.append(RESULTS_END)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    results = render(json.loads(args.json.read_text()))
    replace_section(args.markdown, RESULTS_BEGIN, RESULTS_END, results)


if __name__ == "__main__":
    main()
