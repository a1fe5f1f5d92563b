"""The insights dashboard in the chart: its ConfigMap, the Grafana datasource it reads (a Secret,
for the read-only role's password), the password the migrations Job sets, and the switches."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tagpulse.db.insights import INSIGHTS_ROLE
from tests.chart.helm import CHART, NAMESPACE, RELEASE, Manifest, one, render, render_failure

DASHBOARD = CHART / "dashboards" / "insights.json"
EXTERNAL_DB = CHART / "ci" / "external-db-values.yaml"
EXISTING_SECRET = CHART / "ci" / "existing-secret-values.yaml"


def datasource(manifests: list[Manifest]) -> dict[str, Any]:
    secret = one(manifests, "Secret", f"{RELEASE}-insights-datasource")
    assert secret["metadata"]["labels"]["grafana_datasource"] == "1"
    (provisioned,) = yaml.safe_load(secret["stringData"]["insights-datasource.yaml"])["datasources"]
    return dict(provisioned)


def job_password_key(manifests: list[Manifest]) -> tuple[str, str]:
    job = one(manifests, "Job", f"{RELEASE}-migrations")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    (env,) = [e for e in container["env"] if e["name"] == "TAGPULSE_INSIGHTS_PASSWORD"]
    reference = env["valueFrom"]["secretKeyRef"]
    return reference["name"], reference["key"]


def dashboard_datasources(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel["datasource"])
        found += [target["datasource"] for target in panel["targets"]]
    found += [v["datasource"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return found


def test_the_dashboard_reads_only_the_provisioned_datasource_and_every_panel_has_sql() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    provisioned = datasource(render())
    assert provisioned["type"] == "grafana-postgresql-datasource"
    assert {(d["type"], d["uid"]) for d in dashboard_datasources(dashboard)} == {
        (provisioned["type"], provisioned["uid"])
    }
    for panel in dashboard["panels"]:
        (target,) = panel["targets"]
        assert target["rawSql"].strip().upper().startswith("SELECT"), panel["title"]
        assert target["rawQuery"], panel["title"]
        assert target["editorMode"] == "code", panel["title"]
    geomap = [p for p in dashboard["panels"] if p["type"] == "geomap"]
    (layer,) = geomap[0]["options"]["layers"]
    assert layer["location"] == {
        "mode": "lookup",
        "lookup": "country_code",
        "gazetteer": "public/gazetteer/countries.json",
    }


def test_the_configmap_carries_the_dashboard_and_the_sidecar_label() -> None:
    config_map = one(render(), "ConfigMap", f"{RELEASE}-dashboard-insights")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["insights.json"]) == json.loads(DASHBOARD.read_text())


def test_grafana_connects_as_the_role_with_the_password_the_migrations_set() -> None:
    manifests = render()
    provisioned = datasource(manifests)
    assert provisioned["user"] == INSIGHTS_ROLE
    assert provisioned["url"] == f"{RELEASE}-postgresql.{NAMESPACE}.svc.cluster.local:5432"
    assert provisioned["jsonData"]["database"] == "tagpulse"
    assert provisioned["jsonData"]["sslmode"] == "disable"
    secret = one(manifests, "Secret", RELEASE)
    password = secret["stringData"]["insights-password"]
    assert len(password) == 32
    assert provisioned["secureJsonData"]["password"] == password
    assert job_password_key(manifests) == (RELEASE, "insights-password")
    assert password not in json.dumps([m for m in manifests if m["kind"] != "Secret"])


def test_an_external_database_gets_the_password_through_the_migrations_hook_secret() -> None:
    manifests = render(EXTERNAL_DB)
    provisioned = datasource(manifests)
    assert provisioned["url"] == "db.example.internal:5432"
    assert provisioned["jsonData"]["database"] == "tagpulse"
    assert provisioned["jsonData"]["sslmode"] == "require"
    # The pre-install Job runs before the release's Secret exists: its hook Secret carries it too.
    name, key = job_password_key(manifests)
    hook = one(manifests, "Secret", name)
    assert name == f"{RELEASE}-migrations"
    assert hook["stringData"][key] == provisioned["secureJsonData"]["password"]
    assert one(manifests, "Secret", RELEASE)["stringData"][key] == hook["stringData"][key]


def test_an_existing_secret_holds_the_password() -> None:
    manifests = render(EXISTING_SECRET)
    assert job_password_key(manifests) == ("tagpulse-credentials", "insights-password")
    assert datasource(manifests)["secureJsonData"]["password"] == "ci-insights-password"
    # helm template cannot read the existing Secret: without the value it says what to do.
    message = render_failure("secrets.existingSecret=tagpulse-credentials")
    assert "must hold insights-password" in message
    assert "insights.password" in message


def test_a_proxy_beside_the_services_is_no_address_for_grafana() -> None:
    message = render_failure(
        "postgresql.enabled=false", "database.url=postgresql://t:p@127.0.0.1:5432/tagpulse"
    )
    assert "Grafana cannot reach 127.0.0.1:5432" in message


@pytest.mark.parametrize("switch", ["insights.enabled=false", "dashboards.enabled=false"])
def test_switched_off_nothing_of_it_is_rendered(switch: str) -> None:
    manifests = render(None, switch)
    names = {(m["kind"], m["metadata"]["name"]) for m in manifests}
    assert ("Secret", f"{RELEASE}-insights-datasource") not in names
    assert ("ConfigMap", f"{RELEASE}-dashboard-insights") not in names
    assert "insights-password" not in one(manifests, "Secret", RELEASE)["stringData"]
    job = one(manifests, "Job", f"{RELEASE}-migrations")
    assert "TAGPULSE_INSIGHTS_PASSWORD" not in json.dumps(job)
    assert "grafana" not in json.dumps(one(manifests, "NetworkPolicy", f"{RELEASE}-postgresql"))
