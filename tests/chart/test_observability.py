"""Dashboards and alerts: the JSON parses, every PromQL expression parses, and every metric they
use is one that something really exports — the services (read from the code's registry and from
their live /metrics), Envoy (read live from a running Envoy with gateway/'s configuration), or the
exporters the chart runs (recorded, with their versions pinned). A renamed metric breaks the
build, not the dashboard."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import promql_parser
import pytest
import yaml
from prometheus_client import REGISTRY

from tagpulse.migrate import upgrade
from tests.chart import third_party_metrics
from tests.chart.helm import CHART, NAMESPACE, RELEASE, ROOT, one, render, render_with_prometheus_operator
from tests.support.processes import Stack

DASHBOARDS = sorted((CHART / "dashboards").glob("*.json"))
# Grafana's interval variables, replaced by a duration so the expressions parse.
GRAFANA_INTERVALS = re.compile(r"\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}")
LABEL_VALUES = re.compile(r"^label_values\((.+),\s*\w+\)$")


# --- What the code and the programs we run export --------------------------------------------


def _families_to_series(families: Iterator[Any]) -> set[str]:
    names = set()
    for family in families:
        suffixes = {
            "counter": ["_total"],
            "histogram": ["_bucket", "_sum", "_count"],
            "summary": ["_sum", "_count", ""],
            "info": ["_info"],
        }.get(family.type, [""])
        names.update(family.name + suffix for suffix in suffixes)
    return names


def service_metrics_from_code() -> set[str]:
    """Every metric our packages register: import every module, then read the registry."""
    for package_name in ("tagpulse", "tagpulse_collector", "tagpulse_query"):
        package = importlib.import_module(package_name)
        for module in pkgutil.walk_packages(package.__path__, f"{package_name}."):
            # Alembic's env.py runs migrations on import; __main__ modules run the program.
            if ".migrations" in module.name or module.name.endswith("__main__"):
                continue
            importlib.import_module(module.name)
    return _families_to_series(REGISTRY.collect())


def _names_in_exposition(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.update(_families_to_series(iter([type("F", (), {"name": name, "type": kind})()])))
            if kind == "counter":  # prometheus_client's own text keeps the _total in the TYPE line
                names.add(name)
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


@pytest.fixture(scope="module")
def live_metrics(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Start query, collector and Envoy (gateway/'s config) on SQLite, call every route, read
    Envoy's /stats/prometheus and both services' /metrics."""
    workdir = tmp_path_factory.mktemp("live-metrics")
    database_url = f"sqlite:///{workdir / 'tagpulse.db'}"
    upgrade(database_url)
    token = "live-metrics-token"
    stack = Stack(database_url, None, "live:", token, workdir).start()
    try:
        auth = {"authorization": f"Bearer {token}"}
        with httpx.Client(base_url=stack.rest_url, timeout=60) as client:
            client.post(
                "/v1/collections", json={"hashtags": ["devops"], "maxPostsPerHashtag": 5}, headers=auth
            )
            client.post("/v1/collections", json={})  # no token: 401
            client.post("/v1/streams", json={"rules": [{"value": "sre"}]}, headers=auth)
            for path in ["/v1/users:top", "/v1/posts:countByHour", "/v1/posts:countByHashtag", "/v1/posts",
                         "/v1/posts/1", "/v1/users", "/v1/hashtags", "/v1/stats", "/v1/collections",
                         "/v1/collections/1", "/v1/collections/999999", "/v1/streams", "/v1/streams/1",
                         "/v1/users:top?nope=1", "/no/such/route"]:  # fmt: skip
                client.get(path)
            client.delete("/v1/streams/1", headers=auth)
        with grpc.insecure_channel(stack.query_address) as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
        time.sleep(0.5)
        texts = [
            httpx.get(f"http://127.0.0.1:{stack.admin_port}/stats/prometheus").text,
            httpx.get(f"http://127.0.0.1:{stack.query_metrics_port}/metrics").text,
            httpx.get(f"http://127.0.0.1:{stack.collector_metrics_port}/metrics").text,
        ]
    finally:
        stack.stop()
    return set().union(*(_names_in_exposition(text) for text in texts))


@pytest.fixture(scope="module")
def exported(live_metrics: set[str]) -> set[str]:
    return service_metrics_from_code() | live_metrics | third_party_metrics.ALL


# --- What the dashboards and alerts use -------------------------------------------------------


def dashboards() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in DASHBOARDS]


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def promql_in_dashboards() -> list[tuple[str, str]]:
    """(where, expression) for every Prometheus query of every dashboard, variables included."""
    found = []
    for dashboard in dashboards():
        for panel in panels(dashboard):
            if panel.get("datasource", {}).get("type") != "prometheus":
                continue
            for target in panel["targets"]:
                found.append((f"{dashboard['title']} / {panel['title']}", target["expr"]))
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query" and variable["datasource"]["type"] == "prometheus":
                match = LABEL_VALUES.match(variable["definition"])
                assert match, variable["definition"]
                found.append((f"{dashboard['title']} / variable {variable['name']}", match.group(1)))
    return found


def logql_in_dashboards() -> list[tuple[str, str]]:
    return [
        (f"{dashboard['title']} / {panel['title']}", target["expr"])
        for dashboard in dashboards()
        for panel in panels(dashboard)
        if panel.get("datasource", {}).get("type") == "loki"
        for target in panel["targets"]
    ]


def promql_in_rules() -> list[tuple[str, str]]:
    rule = one(render_with_prometheus_operator(), "PrometheusRule", RELEASE)
    return [(r["alert"], r["expr"]) for group in rule["spec"]["groups"] for r in group["rules"]]


def all_promql() -> list[tuple[str, str]]:
    return promql_in_dashboards() + promql_in_rules()


def parse(expression: str) -> Any:
    return promql_parser.parse(GRAFANA_INTERVALS.sub("5m", expression))


def selectors(expression: str) -> list[Any]:
    found: list[Any] = []

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)
        return True

    promql_parser.walk(parse(expression), visit)
    return found


def metric_name(selector: Any) -> str:
    if selector.name:
        return str(selector.name)
    (name,) = [m.value for m in selector.matchers.matchers if m.name == "__name__"]
    return str(name)


# --- Tests ------------------------------------------------------------------------------------


def test_dashboards_are_grafana_json_with_described_panels() -> None:
    assert DASHBOARDS, "charts/tagpulse/dashboards/ has no dashboard"
    for dashboard in dashboards():
        assert dashboard["uid"]
        assert dashboard["title"]
        ids = [panel["id"] for panel in panels(dashboard)]
        assert len(ids) == len(set(ids)), "panel ids must be unique"
        for panel in panels(dashboard):
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, panel["title"]
            if panel["type"] == "row":
                continue
            assert panel["description"], f"{panel['title']}: say what the panel answers"
            assert panel["targets"], panel["title"]


def test_the_operations_dashboard_selects_its_datasources_by_variable() -> None:
    """The insights dashboard (tests/chart/test_insights_chart.py) reads PostgreSQL instead."""
    (dashboard,) = [d for d in dashboards() if d["uid"] == "tagpulse-overview"]
    names = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "loki", "namespace"} <= names
    for panel in panels(dashboard):
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] in ("${datasource}", "${loki}"), panel["title"]


@pytest.mark.parametrize(("where", "expression"), all_promql(), ids=[w for w, _ in all_promql()])
def test_every_promql_expression_parses(where: str, expression: str) -> None:
    assert parse(expression) is not None, where
    assert selectors(expression), f"{where}: no metric in {expression}"


@pytest.mark.e2e
def test_every_metric_used_is_exported(exported: set[str]) -> None:
    missing = {
        f"{where}: {metric_name(selector)}"
        for where, expression in all_promql()
        for selector in selectors(expression)
        if metric_name(selector) not in exported
    }
    assert not missing, "metrics no program exports:\n" + "\n".join(sorted(missing))


def test_status_codes_in_queries_are_real_ones() -> None:
    """grpc_server_handled_total says grpc_code="INTERNAL"; Envoy's gRPC stats say grpc_code="13"."""
    names = {code.name for code in grpc.StatusCode}
    numbers = {str(code.value[0]) for code in grpc.StatusCode}
    for where, expression in all_promql():
        for selector in selectors(expression):
            for matcher in selector.matchers.matchers:
                if matcher.name != "grpc_code":
                    continue
                codes = set(matcher.value.split("|"))
                valid = numbers if metric_name(selector).startswith("envoy_") else names
                assert codes <= valid, f"{where}: {codes - valid}"


def test_recorded_third_party_metrics_match_the_pinned_versions() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    postgres = values["postgresql"]["exporter"]["image"]
    redis = values["redis"]["exporter"]["image"]
    assert f"{postgres['repository']}:{postgres['tag']}" == third_party_metrics.POSTGRES_EXPORTER_IMAGE
    assert f"{redis['repository']}:{redis['tag']}" == third_party_metrics.REDIS_EXPORTER_IMAGE
    skaffold = list(yaml.safe_load_all((ROOT / "skaffold.yaml").read_text()))
    releases = {
        r["name"]: r for doc in skaffold for r in doc.get("deploy", {}).get("helm", {}).get("releases", [])
    }
    assert releases["kube-prometheus-stack"]["version"] == third_party_metrics.KUBE_PROMETHEUS_STACK_VERSION


def test_rules_and_panels_select_this_release() -> None:
    for alert, expression in promql_in_rules():
        for selector in selectors(expression):
            namespaces = [m.value for m in selector.matchers.matchers if m.name == "namespace"]
            assert namespaces == [NAMESPACE], (
                f"{alert}: {metric_name(selector)} is not limited to the namespace"
            )
    for where, expression in promql_in_dashboards():
        if "variable namespace" in where:
            continue
        for selector in selectors(expression):
            namespaces = [m.value for m in selector.matchers.matchers if m.name == "namespace"]
            assert namespaces == ["$namespace"], f"{where}: {metric_name(selector)}"


# --- Logs -------------------------------------------------------------------------------------


def alloy_labels() -> set[str]:
    values = yaml.safe_load((ROOT / "k8s" / "alloy-values.yaml").read_text())
    return set(re.findall(r'target_label\s*=\s*"(\w+)"', values["alloy"]["configMap"]["content"]))


def test_log_panels_select_on_labels_alloy_sets_and_fields_the_services_write() -> None:
    labels = alloy_labels()
    assert {"namespace", "app", "component"} <= labels
    pod_components = {
        template["metadata"]["labels"]["app.kubernetes.io/component"] for _, template in _pod_templates()
    }
    loggers = set(
        re.findall(
            r'getLogger\("([\w.]+)"\)',
            "".join(p.read_text() for p in (ROOT / "services").rglob("*.py")),
        )
    )
    for where, expression in logql_in_dashboards():
        selector = expression[expression.index("{") + 1 : expression.index("}")]
        for label, _, value in re.findall(r'(\w+)\s*(=~|=|!=)\s*"([^"]*)"', selector):
            assert label in labels, f"{where}: Alloy sets no label {label}"
            if label == "app":
                assert value == "tagpulse", where
            if label == "component":
                assert set(value.split("|")) <= pod_components, f"{where}: {value}"
        assert "| json" in expression, f"{where}: the services log JSON"
        for logger in re.findall(r'logger="([\w.]+)"', expression):
            assert logger in loggers, f"{where}: no logger {logger} in the services"


def _pod_templates() -> Iterator[tuple[Any, Any]]:
    from tests.chart.helm import pod_templates

    return pod_templates(render())


def test_the_operations_guide_describes_every_panel() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text()
    section = guide[guide.index("\n## Dashboards") : guide.index("\n## Logs on Kubernetes")]
    for dashboard in dashboards():
        for panel in panels(dashboard):
            if panel["type"] != "row":
                assert panel["title"] in section, (
                    f"docs/operations.md, Dashboards: describe the panel {panel['title']!r}"
                )


def test_the_dashboards_configmap_carries_the_sidecar_label() -> None:
    manifests = render()
    config_map = one(manifests, "ConfigMap", f"{RELEASE}-dashboard-tagpulse")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    (overview,) = [d for d in dashboards() if d["uid"] == "tagpulse-overview"]
    assert json.loads(config_map["data"]["tagpulse.json"]) == overview
    datasource = one(manifests, "ConfigMap", f"{RELEASE}-loki-datasource")
    assert datasource["metadata"]["labels"]["grafana_datasource"] == "1"
    provisioning = yaml.safe_load(datasource["data"]["loki-datasource.yaml"])
    assert provisioning["datasources"][0]["type"] == "loki"
    relabelled = render(None, "dashboards.label=my_dashboards", "dashboards.labelValue=yes")
    custom = [m for m in relabelled if m["kind"] == "ConfigMap" and "dashboard" in m["metadata"]["name"]]
    assert len(custom) == len(DASHBOARDS)
    assert all(m["metadata"]["labels"]["my_dashboards"] == "yes" for m in custom)


def test_dashboard_files_are_the_ones_in_the_chart() -> None:
    assert all(path.parent == CHART / "dashboards" for path in DASHBOARDS)
    assert Path(CHART / "templates" / "dashboards.yaml").exists()
