"""The chart's alerts under `promtool test rules`: every alert fires on the series that should fire
it, a fresh series (a pod just started) included, and stays quiet otherwise. The cases are in
alert_cases.yaml; an alert without them fails here."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.helm import (
    ALL_VALUES,
    CHART,
    HELM,
    NAMESPACE,
    RELEASE,
    helm_env,
    load_yaml_documents,
    of_kind,
    one,
    render_with_prometheus_operator,
    require_helm,
    values_id,
)
from tests.conftest import missing

CASES = Path(__file__).with_name("alert_cases.yaml")


def rule_groups() -> list[dict[str, Any]]:
    """The PrometheusRule's groups as the defaults render them, with the Prometheus Operator's API."""
    require_helm()
    command = [
        str(HELM), "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
        "--api-versions", "monitoring.coreos.com/v1", "--show-only", "templates/prometheusrule.yaml",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, env=helm_env(), check=False)
    assert result.returncode == 0, result.stderr
    (rule,) = load_yaml_documents(result.stdout)
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


@functools.cache  # one render for every parametrized case
def alert_expressions() -> dict[str, str]:
    return {
        rule["alert"]: rule["expr"] for group in rule_groups() for rule in group["rules"] if "alert" in rule
    }


def alert_names() -> set[str]:
    return set(alert_expressions())


def reads(expr: str, series: str) -> bool:
    """Whether `expr` reads the metric of `series` (a promtool series: `name{labels}`)."""
    return re.search(rf"\b{re.escape(series.partition('{')[0])}\b", expr) is not None


def cases() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CASES.read_text())
    return loaded


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        missing("promtool is not installed: Debian's `prometheus` package ships it (see DEVELOPERS.md)")
    return path


def without_annotations(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**group, "rules": [{k: v for k, v in rule.items() if k != "annotations"} for rule in group["rules"]]}
        for group in groups
    ]


@pytest.mark.parametrize("values", ALL_VALUES, ids=values_id)
def test_the_rules_pass_promtool_check(values: Path | None, tmp_path: Path) -> None:
    """Each values file renders its own expressions (no CronJob, no in-chart exporters): each must parse."""
    for rule in of_kind(render_with_prometheus_operator(values), "PrometheusRule"):
        rules = tmp_path / "rules.yaml"
        rules.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
        result = subprocess.run([promtool(), "check", "rules", str(rules)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_passes_its_promtool_cases(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": without_annotations(rule_groups())}))
    tests = tmp_path / "alert_cases.yaml"
    tests.write_text(yaml.safe_dump({**cases(), "rule_files": [str(rules)]}))
    result = subprocess.run(
        [promtool(), "test", "rules", str(tests)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("alert", sorted(alert_names()))
def test_every_alert_has_cases_that_fire_stay_quiet_and_use_a_fresh_series(alert: str) -> None:
    expr = alert_expressions()[alert]
    fires = quiet = fresh = False
    for group in cases()["tests"]:
        checks = [check for check in group.get("alert_rule_test", []) if check["alertname"] == alert]
        if not checks:
            continue
        fires = fires or any(check["exp_alerts"] for check in checks)
        quiet = quiet or any(not check["exp_alerts"] for check in checks)
        # A series the alert reads, absent at first, then there: a pod that has just started.
        fresh = fresh or any(
            series["values"].startswith("_") and reads(expr, series["series"])
            for series in group["input_series"]
        )
    assert fires, f"{CASES.name}: no case where {alert} fires"
    assert quiet, f"{CASES.name}: no case where {alert} stays quiet"
    assert fresh, f"{CASES.name}: no case of {alert} with a fresh series it reads (values starting with `_`)"


def test_the_cases_name_only_alerts_the_chart_has() -> None:
    named = {check["alertname"] for group in cases()["tests"] for check in group.get("alert_rule_test", [])}
    assert named <= alert_names(), f"cases for alerts the chart does not render: {named - alert_names()}"


def test_without_in_chart_exporters_the_database_alerts_read_only_what_users_scrape() -> None:
    """With managed databases no target of the chart's can be missing: an absent() clause would
    fire for ever. The alerts then read only pg_up and redis_up, from the users' own exporters."""
    rule = one(
        render_with_prometheus_operator(CHART / "ci" / "external-db-values.yaml"), "PrometheusRule", RELEASE
    )
    alerts = {r["alert"]: r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]}
    for alert, up in (("TagpulsePostgresqlDown", "pg_up"), ("TagpulseRedisDown", "redis_up")):
        assert up in alerts[alert]
        assert "absent(" not in alerts[alert], alert
        assert "up{" not in alerts[alert].replace(f"{up}{{", ""), alert
    defaults = {r["alert"]: r["expr"] for g in rule_groups() for r in g["rules"]}
    assert (
        'absent(up{namespace="tagpulse", service="tagpulse-postgresql"})'
        in defaults["TagpulsePostgresqlDown"]
    )
    assert 'absent(up{namespace="tagpulse", service="tagpulse-redis"})' in defaults["TagpulseRedisDown"]
