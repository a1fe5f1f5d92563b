"""Lint and render the Helm chart, and validate what it renders: `make chart-check`.

For the defaults and every charts/tagpulse/ci/*-values.yaml:
  helm lint --strict, then
  helm template … | kubernetes-validate --strict, against Kubernetes 1.30 and the newest
  version kubernetes-validate knows.
kubernetes-validate has no schema for the Prometheus Operator's kinds (ServiceMonitor,
PrometheusRule): tests/chart checks those.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import kubernetes_validate  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "tagpulse"
BIN = Path(sys.executable).parent
OLDEST_KUBERNETES = "1.30.0"
RELEASE, NAMESPACE = "tagpulse", "tagpulse"


def kubernetes_versions() -> list[str]:
    return [OLDEST_KUBERNETES, kubernetes_validate.latest_version()]


def values_files() -> list[Path | None]:
    """None is the chart's defaults."""
    return [None, *sorted((CHART / "ci").glob("*-values.yaml"))]


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "helm"), *args], capture_output=True, text=True, check=False)


def check(values: Path | None) -> list[str]:
    """The problems with one values file; empty when there are none."""
    options = ["-f", str(values)] if values else []
    name = values.name if values else "defaults"
    problems = []
    lint = helm("lint", "--strict", str(CHART), *options)
    if lint.returncode != 0:
        problems.append(f"{name}: helm lint --strict failed:\n{lint.stdout}{lint.stderr}")
    for version in kubernetes_versions():
        rendered = helm(
            "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", version, *options
        )
        if rendered.returncode != 0:
            problems.append(f"{name}: helm template failed:\n{rendered.stderr}")
            break
        validated = subprocess.run(
            [str(BIN / "kubernetes-validate"), "--strict", "--quiet", "--no-warn", "-k", version, "-"],
            input=rendered.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
        if validated.returncode != 0:
            output = validated.stdout + validated.stderr
            problems.append(f"{name}: kubernetes-validate --strict -k {version} failed:\n{output}")
        else:
            print(f"chart-check: {name}: valid for Kubernetes {version}")
    return problems


def main() -> None:
    problems = [problem for values in values_files() for problem in check(values)]
    if problems:
        sys.exit("\n".join(problems))


if __name__ == "__main__":
    main()
