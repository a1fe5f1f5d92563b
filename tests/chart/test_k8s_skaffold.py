"""k8s/ and skaffold.yaml: the kind cluster, the monitoring stack's values and the skaffold configs
agree with each other and with the chart."""

from __future__ import annotations

import re
import subprocess
from typing import Any
from urllib.parse import urlparse

import yaml

from tests.chart.helm import CHART, ROOT

K8S = ROOT / "k8s"
SEMVER = re.compile(r"\d+\.\d+\.\d+")


def skaffold_configs() -> dict[str, dict[str, Any]]:
    docs = list(yaml.safe_load_all((ROOT / "skaffold.yaml").read_text()))
    return {doc["metadata"]["name"]: doc for doc in docs}


def chart_values() -> dict[str, Any]:
    return dict(yaml.safe_load((CHART / "values.yaml").read_text()))


def k8s_values(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((K8S / name).read_text()))


def test_skaffold_has_the_observability_config_then_the_app() -> None:
    configs = skaffold_configs()
    assert list(configs) == ["observability", "tagpulse"], "skaffold deploys configs in file order"
    for config in configs.values():
        assert config["apiVersion"] == "skaffold/v4beta13"
        assert config["kind"] == "Config"


def test_the_monitoring_charts_are_pinned_and_ordered() -> None:
    releases = skaffold_configs()["observability"]["deploy"]["helm"]["releases"]
    assert [r["name"] for r in releases] == ["kube-prometheus-stack", "loki", "alloy"], (
        "kube-prometheus-stack first (its CRDs), then Loki, then Alloy"
    )
    repos = {r["name"]: r["repo"] for r in releases}
    assert repos == {
        "kube-prometheus-stack": "https://prometheus-community.github.io/helm-charts",
        "loki": "https://grafana-community.github.io/helm-charts",
        "alloy": "https://grafana.github.io/helm-charts",
    }
    for release in releases:
        assert SEMVER.fullmatch(release["version"]), f"{release['name']}: pin an exact chart version"
        assert release["namespace"] == "monitoring"
        for path in release["valuesFiles"]:
            assert (ROOT / path).is_file(), path
    assert releases[0]["wait"] is True, "the CRDs must exist before the next releases"


def test_each_values_file_names_the_chart_version_skaffold_installs() -> None:
    releases = skaffold_configs()["observability"]["deploy"]["helm"]["releases"]
    for release in releases:
        (values_file,) = release["valuesFiles"]
        header = (ROOT / values_file).read_text().splitlines()[0]
        repo_name = {"kube-prometheus-stack": "prometheus-community", "loki": "grafana-community",
                     "alloy": "grafana"}[release["name"]]  # fmt: skip
        assert header.startswith(f"# chart: {repo_name}/{release['remoteChart']} {release['version']} "), (
            f"{values_file}: its first line must name the chart and version skaffold.yaml pins"
        )


def test_the_app_config_builds_both_images_and_deploys_them() -> None:
    config = skaffold_configs()["tagpulse"]
    artifacts = {a["image"]: a for a in config["build"]["artifacts"]}
    assert set(artifacts) == {"tagpulse-query", "tagpulse-collector"}
    for image, artifact in artifacts.items():
        assert artifact["context"] == "."
        assert (ROOT / artifact["docker"]["dockerfile"]).is_file(), image
    (release,) = config["deploy"]["helm"]["releases"]
    assert (ROOT / release["chartPath"] / "Chart.yaml").is_file()
    values = chart_values()
    for key, template in release["setValueTemplates"].items():
        node: Any = values
        for part in key.split("."):
            assert part in node, f"setValueTemplates {key}: no such chart value"
            node = node[part]
        component = key.split(".")[0]
        suffix = "REPO" if key.endswith("repository") else "TAG"
        assert template == f"{{{{.IMAGE_{suffix}_tagpulse_{component}}}}}", key


def test_a_profile_deploys_the_app_alone() -> None:
    observability = skaffold_configs()["observability"]
    (profile,) = [p for p in observability["profiles"] if p["name"] == "app-only"]
    assert profile["patches"] == [{"op": "replace", "path": "/deploy/helm/releases", "value": []}]


def test_loki_runs_as_a_single_binary_on_its_filesystem() -> None:
    loki = k8s_values("loki-values.yaml")
    assert loki["deploymentMode"] == "SingleBinary"
    assert loki["loki"]["storage"]["type"] == "filesystem"
    assert loki["loki"]["commonConfig"]["replication_factor"] == 1
    assert loki["singleBinary"]["replicas"] == 1
    for target in ("read", "write", "backend"):
        assert loki[target]["replicas"] == 0, target
    assert loki["chunksCache"]["enabled"] is False
    assert loki["resultsCache"]["enabled"] is False
    assert {c["object_store"] for c in loki["loki"]["schemaConfig"]["configs"]} == {"filesystem"}


def test_grafana_sidecars_pick_up_the_charts_configmaps() -> None:
    grafana = k8s_values("kube-prometheus-stack-values.yaml")["grafana"]
    values = chart_values()
    dashboards, datasources = grafana["sidecar"]["dashboards"], grafana["sidecar"]["datasources"]
    assert dashboards["enabled"]
    assert datasources["enabled"]
    assert (dashboards["label"], dashboards["labelValue"]) == (
        values["dashboards"]["label"],
        values["dashboards"]["labelValue"],
    )
    assert (datasources["label"], datasources["labelValue"]) == (
        values["lokiDatasource"]["label"],
        values["lokiDatasource"]["labelValue"],
    )
    assert (datasources["label"], datasources["labelValue"]) == (
        values["insights"]["datasource"]["label"],
        values["insights"]["datasource"]["labelValue"],
    )
    # The insights datasource is a Secret.
    assert datasources["resource"] == "both"
    assert dashboards["searchNamespace"] == datasources["searchNamespace"] == "ALL"


def test_prometheus_selects_the_charts_monitors_and_may_scrape_them() -> None:
    values = chart_values()
    releases = skaffold_configs()["observability"]["deploy"]["helm"]["releases"]
    kps = releases[0]
    assert values["serviceMonitor"]["labels"] == {"release": kps["name"]}
    assert values["prometheusRule"]["additionalLabels"] == {"release": kps["name"]}
    (peer,) = values["networkPolicy"]["metricsFrom"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": kps["namespace"]}
    # The Prometheus Operator labels its Prometheus pods app.kubernetes.io/name=prometheus.
    assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}


def test_alloy_ships_every_pod_log_to_the_loki_the_datasource_reads() -> None:
    alloy = k8s_values("alloy-values.yaml")
    assert alloy["controller"]["type"] == "daemonset"
    config = alloy["alloy"]["configMap"]["content"]
    (push_url,) = re.findall(r'url\s*=\s*"([^"]+)"', config)
    datasource = urlparse(chart_values()["lokiDatasource"]["url"])
    pushed = urlparse(push_url)
    assert (pushed.hostname, pushed.port) == (datasource.hostname, datasource.port)
    assert pushed.path == "/loki/api/v1/push"
    releases = {r["name"]: r for r in skaffold_configs()["observability"]["deploy"]["helm"]["releases"]}
    assert (
        datasource.hostname == f"{releases['loki']['name']}.{releases['loki']['namespace']}.svc.cluster.local"
    )
    assert "loki.source.kubernetes" in config
    assert "spec.nodeName=" in config, "each Alloy pod ships its own node's pods, once"


def test_the_kind_cluster_is_pinned() -> None:
    cluster = k8s_values("kind-cluster.yaml")
    assert cluster["kind"] == "Cluster"
    assert cluster["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    for node in cluster["nodes"]:
        assert re.fullmatch(r"kindest/node:v\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?", node["image"])


def test_kind_up_is_valid_bash() -> None:
    script = ROOT / "tools" / "kind-up.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert "k8s/kind-cluster.yaml" in script.read_text()
    assert "skaffold run" in script.read_text()
