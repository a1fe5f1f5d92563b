"""The chart's rendered manifests: what each object must say for tagpulse to run on a cluster."""

from __future__ import annotations

import importlib.util
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from tagpulse.settings import Settings
from tagpulse_collector.settings import CollectorSettings
from tests.chart.dockerfiles import Dockerfile
from tests.chart.helm import (
    ALL_VALUES,
    CHART,
    CI_VALUES,
    NAMESPACE,
    RELEASE,
    ROOT,
    Manifest,
    containers,
    notes,
    of_kind,
    one,
    pod_templates,
    render,
    render_failure,
    render_with_prometheus_operator,
    values_id,
)
from tests.chart.network import External, Pod, allowed, isolated

EXTERNAL_DB = CHART / "ci" / "external-db-values.yaml"
APP_ONLY = CHART / "ci" / "app-only-values.yaml"
EXISTING_SECRET = CHART / "ci" / "existing-secret-values.yaml"
EXTERNAL_DB_TLS = CHART / "ci" / "external-db-tls-values.yaml"
CLOUD_SQL_PROXY = CHART / "ci" / "cloud-sql-proxy-values.yaml"
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - what the services must listen on in a pod


def name(component: str) -> str:
    return f"{RELEASE}-{component}"


def component_of(pod_template: dict[str, Any]) -> str:
    return str(pod_template["metadata"]["labels"]["app.kubernetes.io/component"])


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


# --- The CronJob ------------------------------------------------------------------------------


def test_cronjob_runs_trigger_against_the_collector_twice_a_day() -> None:
    cronjob = one(render(), "CronJob", name("collect"))
    spec = cronjob["spec"]
    assert spec["schedule"] == "0 */12 * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["successfulJobsHistoryLimit"] >= 1
    assert spec["failedJobsHistoryLimit"] >= 1
    job = spec["jobTemplate"]["spec"]
    (container,) = job["template"]["spec"]["containers"]
    assert job["template"]["spec"]["restartPolicy"] == "Never"

    # The image's entrypoint plus the chart's arguments is the documented command.
    entrypoint = Dockerfile.read(ROOT / "services" / "collector" / "Dockerfile").entrypoint
    command = entrypoint + container["args"]
    assert command[:4] == ["python", "-m", "tagpulse_collector", "trigger"]
    wait_ready = int(command[command.index("--wait-ready") + 1])
    timeout = int(command[command.index("--timeout") + 1])
    assert wait_ready + timeout < job["activeDeadlineSeconds"], (
        "trigger must give up before the Job's deadline"
    )

    env = env_of(container)
    assert env["TAGPULSE_COLLECTOR_ADDRESS"]["value"] == f"{name('collector')}:50052"
    assert env["TAGPULSE_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": RELEASE, "key": "api-token"}
    collector_service = one(render(), "Service", name("collector"))
    assert 50052 in [port["port"] for port in collector_service["spec"]["ports"]]


def test_cronjob_passes_its_values_to_trigger() -> None:
    cronjob = one(render(EXTERNAL_DB), "CronJob", name("collect"))
    assert cronjob["spec"]["timeZone"] == "Europe/Madrid"
    args = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--max-posts-per-hashtag") + 1] == "500"
    assert args[args.index("--source") + 1] == "x"
    assert [args[i + 1] for i, arg in enumerate(args) if arg == "--hashtag"] == ["devops", "sre"]
    assert (
        one(render(None, "cronjob.schedule=*/30 * * * *"), "CronJob", name("collect"))["spec"]["schedule"]
        == "*/30 * * * *"
    )


def test_an_evicted_trigger_is_retried_and_a_failed_run_is_not() -> None:
    job = one(render(), "CronJob", name("collect"))["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0
    assert job["template"]["spec"]["restartPolicy"] == "Never", "podFailurePolicy requires it"
    (container,) = job["template"]["spec"]["containers"]
    disruption, failure = job["podFailurePolicy"]["rules"]
    # Rules apply in order: a pod the cluster took away is ignored (replaced, not counted) even
    # though its container exited non-zero too.
    assert disruption == {
        "action": "Ignore",
        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
    }
    assert failure == {
        "action": "FailJob",
        "onExitCodes": {"containerName": container["name"], "operator": "NotIn", "values": [0]},
    }


def test_the_trigger_command_parses_and_fails_when_the_run_cannot_start(tmp_path: Path) -> None:
    """Run the CronJob's exact command locally against a collector that is not there."""
    cronjob = one(render(EXTERNAL_DB), "CronJob", name("collect"))
    (container,) = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    args = list(container["args"])
    args[args.index("--wait-ready") + 1] = "0"  # do not wait for a collector that never comes
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    result = subprocess.run(
        [sys.executable, "-m", "tagpulse_collector", *args],
        env={"PATH": "/usr/bin:/bin", "TAGPULSE_COLLECTOR_ADDRESS": f"127.0.0.1:{closed_port}",
             "TAGPULSE_API_TOKEN": "test-token"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "collection failed to start: UNAVAILABLE" in result.stderr


# --- The retention CronJob --------------------------------------------------------------------


def retention_pod(manifests: list[Manifest]) -> dict[str, Any]:
    cronjob = one(manifests, "CronJob", name("retention"))
    return dict(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"])


def test_retention_runs_as_a_cronjob_and_the_collector_pods_timer_is_then_off() -> None:
    manifests = render(EXTERNAL_DB)
    cronjob = one(manifests, "CronJob", name("retention"))
    spec = cronjob["spec"]
    assert (spec["schedule"], spec["timeZone"], spec["concurrencyPolicy"]) == (
        "5 * * * *",
        "Europe/Madrid",
        "Forbid",
    )
    job = spec["jobTemplate"]["spec"]
    (container,) = job["template"]["spec"]["containers"]
    entrypoint = Dockerfile.read(ROOT / "services" / "collector" / "Dockerfile").entrypoint
    assert entrypoint + container["args"] == ["python", "-m", "tagpulse_collector", "retention"]
    # As the collection's: a failed run fails the Job, an evicted pod is replaced.
    collect = one(manifests, "CronJob", name("collect"))["spec"]["jobTemplate"]["spec"]
    rules = job["podFailurePolicy"]["rules"]
    assert rules[0] == collect["podFailurePolicy"]["rules"][0]
    assert rules[1]["onExitCodes"] == {"containerName": "retention", "operator": "NotIn", "values": [0]}
    assert job["template"]["spec"]["restartPolicy"] == "Never"

    # The database and the API token (for the cache invalidation), no platform credentials.
    env = env_of(container)
    assert env["TAGPULSE_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": RELEASE,
        "key": "database-url",
    }
    assert env["TAGPULSE_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": RELEASE, "key": "api-token"}
    assert not {
        "TAGPULSE_X_BEARER_TOKEN",
        "TAGPULSE_MASTODON_ACCESS_TOKEN",
        "TAGPULSE_BLUESKY_APP_PASSWORD",
    } & set(env)
    assert container["envFrom"] == [{"configMapRef": {"name": name("config")}}]
    config = one(manifests, "ConfigMap", name("config"))["data"]
    assert config["TAGPULSE_RETENTION_DAYS"] == "mastodon=90,x=30"
    assert config["TAGPULSE_QUERY_ADDRESS"] == f"{name('query')}:50051"
    # The collector pods read the same ConfigMap: their own timer is off (0), and 0 is a valid setting.
    assert config["TAGPULSE_RETENTION_INTERVAL_MINUTES"] == "0"
    settings = CollectorSettings(
        retention_days=config["TAGPULSE_RETENTION_DAYS"],
        retention_interval_minutes=config["TAGPULSE_RETENTION_INTERVAL_MINUTES"],
    )
    assert (settings.retention_days, settings.retention_interval_minutes) == ({"x": 30, "mastodon": 90}, 0)

    # No retention set, or the CronJob turned off: no CronJob, and the collector pods' timer.
    for manifests in (render(), render(EXTERNAL_DB, "retention.enabled=false")):
        assert not [m for m in of_kind(manifests, "CronJob") if m["metadata"]["name"] == name("retention")]
        assert (
            one(manifests, "ConfigMap", name("config"))["data"]["TAGPULSE_RETENTION_INTERVAL_MINUTES"] == "60"
        )
    assert (
        one(render(None, "config.retentionDays.x=7"), "CronJob", name("retention"))["spec"]["schedule"]
        == "23 * * * *"
    )


def test_retention_reaches_the_in_chart_database_and_a_proxied_one() -> None:
    (container,) = retention_pod(render(None, "config.retentionDays.x=7"))["containers"]
    env = env_of(container)
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": RELEASE,
        "key": "postgres-password",
    }
    assert "$(POSTGRES_PASSWORD)@" in env["TAGPULSE_DATABASE_URL"]["value"]

    proxied = render(CLOUD_SQL_PROXY)
    pod = retention_pod(proxied)
    (proxy,) = pod["initContainers"]
    assert (proxy["name"], proxy["restartPolicy"]) == ("cloud-sql-proxy", "Always")
    assert "cloud-sql-credentials" in {v["name"] for v in pod["volumes"]}
    egress = one(proxied, "NetworkPolicy", name("retention"))["spec"]["egress"]
    assert any({"protocol": "TCP", "port": 443} in rule["ports"] for rule in egress)

    pod = retention_pod(render(EXTERNAL_DB_TLS))
    env = env_of(pod["containers"][0])
    assert env["PGSSLMODE"]["value"] == "verify-full"
    assert "database-ca" in {m["name"] for m in pod["containers"][0]["volumeMounts"]}


def test_the_retention_command_runs_as_the_cronjob_runs_it(tmp_path: Path) -> None:
    """The CronJob's exact command and settings, on a migrated SQLite database with nothing past the
    retention: it deletes nothing and succeeds, without asking the query service."""
    manifests = render(EXTERNAL_DB)
    (container,) = retention_pod(manifests)["containers"]
    config = one(manifests, "ConfigMap", name("config"))["data"]
    env = {
        "PATH": "/usr/bin:/bin",
        "TAGPULSE_DATABASE_URL": f"sqlite:///{tmp_path / 'tagpulse.db'}",
        "TAGPULSE_RETENTION_DAYS": config["TAGPULSE_RETENTION_DAYS"],
        "TAGPULSE_RETENTION_INTERVAL_MINUTES": config["TAGPULSE_RETENTION_INTERVAL_MINUTES"],
        "TAGPULSE_API_TOKEN": "test-token",
    }
    migrate = [sys.executable, "-m", "tagpulse.migrate", "upgrade"]
    subprocess.run(migrate, env=env, check=True, capture_output=True, timeout=120, cwd=tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "tagpulse_collector", *container["args"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == '{"posts_deleted": 0, "users_deleted": 0}'


# --- Migrations -------------------------------------------------------------------------------


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook() -> None:
    job = one(render(EXTERNAL_DB), "Job", name("migrations"))
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "tagpulse.migrate", "upgrade"]
    assert importlib.util.find_spec("tagpulse.migrate") is not None
    assert (
        container["image"]
        == one(render(EXTERNAL_DB), "Deployment", name("collector"))["spec"]["template"]["spec"][
            "containers"
        ][0]["image"]
    )
    # The release's Secret does not exist before pre-install hooks: the URL comes in a hook Secret.
    ref = env_of(container)["TAGPULSE_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    hook_secret = one(render(EXTERNAL_DB), "Secret", ref["name"])
    assert hook_secret["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(hook_secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        annotations["helm.sh/hook-weight"]
    )
    assert ref["key"] in hook_secret["stringData"]


def test_migrations_with_the_in_chart_database_run_once_it_exists() -> None:
    """The in-chart PostgreSQL is part of the release: on first install it comes after pre-install."""
    job = one(render(), "Job", name("migrations"))
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"
    env = env_of(job["spec"]["template"]["spec"]["containers"][0])
    assert env["TAGPULSE_DATABASE_URL"]["value"] == (
        f"postgresql://tagpulse:$(POSTGRES_PASSWORD)@{name('postgresql')}.{NAMESPACE}.svc.cluster.local:5432/tagpulse"
    )
    assert list(env).index("POSTGRES_PASSWORD") < list(env).index("TAGPULSE_DATABASE_URL")


# --- Pods: security, probes, resources --------------------------------------------------------


@pytest.mark.parametrize("values", ALL_VALUES, ids=values_id)
def test_every_container_is_restricted(values: Path | None) -> None:
    workloads = list(pod_templates(render(values)))
    assert workloads
    for workload, template in workloads:
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        spec = template["spec"]
        pod_context = spec["securityContext"]
        assert pod_context["runAsNonRoot"] is True, where
        assert pod_context["runAsUser"] > 0, where
        assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["automountServiceAccountToken"] is False, where
        for container in containers(template):
            context = container["securityContext"]
            where_container = f"{where} container {container['name']}"
            assert context["readOnlyRootFilesystem"] is True, where_container
            assert context["allowPrivilegeEscalation"] is False, where_container
            assert context["capabilities"]["drop"] == ["ALL"], where_container
            assert context.get("runAsUser", pod_context["runAsUser"]) != 0, where_container
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), where_container
            assert "memory" in resources["limits"], where_container


@pytest.mark.parametrize("values", ALL_VALUES, ids=values_id)
def test_long_running_containers_have_probes(values: Path | None) -> None:
    for workload, template in pod_templates(render(values)):
        if workload["kind"] not in ("Deployment", "StatefulSet"):
            continue
        for container in containers(template):
            where = f"{workload['metadata']['name']} container {container['name']}"
            assert "readinessProbe" in container, where
            assert "livenessProbe" in container, where


def test_services_use_native_grpc_probes_and_envoy_its_ready_endpoint() -> None:
    manifests = render()
    for component, port in (("query", 50051), ("collector", 50052)):
        container = one(manifests, "Deployment", name(component))["spec"]["template"]["spec"]["containers"][0]
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert container[probe]["grpc"] == {"port": port}, f"{component} {probe}"
        assert {"name": "grpc", "containerPort": port} in container["ports"]
    envoy = one(manifests, "Deployment", name("envoy"))["spec"]["template"]["spec"]["containers"][0]
    for probe in ("readinessProbe", "livenessProbe"):
        assert envoy[probe]["httpGet"] == {"path": "/ready", "port": "admin"}
    assert {"name": "admin", "containerPort": 9901} in envoy["ports"]


def test_services_listen_on_every_interface_in_pods() -> None:
    manifests = render()
    config = one(manifests, "ConfigMap", name("config"))["data"]
    assert config["TAGPULSE_GRPC_HOST"] == ALL_INTERFACES
    assert config["TAGPULSE_METRICS_HOST"] == ALL_INTERFACES
    assert config["TAGPULSE_QUERY_ADDRESS"] == f"{name('query')}:50051"
    for component, (grpc, metrics) in {"query": (50051, 9101), "collector": (50052, 9102)}.items():
        container = one(manifests, "Deployment", name(component))["spec"]["template"]["spec"]["containers"][0]
        env = env_of(container)
        assert env["TAGPULSE_GRPC_PORT"]["value"] == str(grpc)
        assert env["TAGPULSE_METRICS_PORT"]["value"] == str(metrics)
        assert container["envFrom"] == [{"configMapRef": {"name": name("config")}}]


def test_the_collector_reaches_redis_for_the_keyword_streams() -> None:
    for values in (None, EXTERNAL_DB):
        collector = one(render(values), "Deployment", name("collector"))["spec"]["template"]["spec"]
        env = env_of(collector["containers"][0])
        assert "TAGPULSE_REDIS_URL" in env, values
    redis = one(render(), "StatefulSet", name("redis"))["spec"]["template"]["spec"]["containers"][0]
    args = redis["args"]
    # The stream buffers have no TTL: only keys with one (cached answers) may be evicted.
    assert args[args.index("--maxmemory-policy") + 1] == "volatile-lru"


def test_images_are_pinned() -> None:
    for values in ALL_VALUES:
        for _, template in pod_templates(render(values)):
            for container in containers(template):
                image = container["image"]
                assert re.fullmatch(r"[\w./-]+:[\w.-]+", image), image
                assert not image.endswith(":latest"), image
    query = one(render(), "Deployment", name("query"))["spec"]["template"]["spec"]["containers"][0]
    assert query["image"] == "tagpulse-query:0.1.0", "the app images default to the chart's appVersion"


# --- Scaling and disruption -------------------------------------------------------------------


def test_query_and_envoy_scale_horizontally_and_keep_a_pod_during_disruptions() -> None:
    manifests = render()
    for component in ("query", "envoy"):
        deployment = one(manifests, "Deployment", name(component))
        assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
        hpa = one(manifests, "HorizontalPodAutoscaler", name(component))
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name(component),
        }
        assert hpa["spec"]["minReplicas"] >= 2
        pdb = one(manifests, "PodDisruptionBudget", name(component))
        assert pdb["spec"]["minAvailable"] == 1
        assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    collector = one(manifests, "Deployment", name("collector"))
    assert collector["spec"]["replicas"] == 1
    # Several collectors are safe (advisory locks): the new pod starts before the old one stops,
    # whose runs and streams then resume on it.
    assert collector["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    several = one(render(EXTERNAL_DB_TLS), "Deployment", name("collector"))
    assert several["spec"]["replicas"] == 2
    assert not [
        m for m in of_kind(manifests, "HorizontalPodAutoscaler") if "collector" in m["metadata"]["name"]
    ]


def test_rollouts_drain_before_a_pod_stops() -> None:
    """A stopping query pod keeps serving for the drain (Envoy's health checks take it out
    meanwhile, tests/e2e/test_rollout.py); Envoy sleeps in preStop while its endpoints go; a new
    pod is ready before an old one stops; and the grace period covers drain and grace."""
    manifests = render()
    config = one(manifests, "ConfigMap", name("config"))["data"]
    drain, grace = (
        float(config["TAGPULSE_SHUTDOWN_DRAIN_SECONDS"]),
        float(config["TAGPULSE_SHUTDOWN_GRACE_SECONDS"]),
    )
    assert drain >= 3  # Envoy's health check: two failures a second apart, and a margin
    for component in ("query", "envoy"):
        deployment = one(manifests, "Deployment", name(component))
        assert deployment["spec"]["strategy"] == {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        }
    for component in ("query", "collector"):
        pod = one(manifests, "Deployment", name(component))["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] >= drain + grace + 2
    envoy = one(manifests, "Deployment", name("envoy"))["spec"]["template"]["spec"]
    sleep = envoy["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep"
    assert 0 < float(sleep[1]) < envoy["terminationGracePeriodSeconds"]
    message = render_failure("query.terminationGracePeriodSeconds=10")
    assert "query.terminationGracePeriodSeconds (10) must be at least" in message


def test_services_select_their_pods_and_ports() -> None:
    for values in ALL_VALUES:
        manifests = render(values)
        templates = [template for _, template in pod_templates(manifests)]
        for service in of_kind(manifests, "Service"):
            selector = service["spec"]["selector"]
            matching = [t for t in templates if selector.items() <= t["metadata"]["labels"].items()]
            assert matching, f"Service {service['metadata']['name']} selects no pod"
            port_names = {
                p["name"] for t in matching for c in t["spec"]["containers"] for p in c.get("ports", [])
            }
            for port in service["spec"]["ports"]:
                assert port["targetPort"] in port_names, f"{service['metadata']['name']} {port}"


def test_envoy_balances_over_every_service_pod() -> None:
    """Envoy's STRICT_DNS clusters resolve headless Services, so HTTP/2 is not pinned to one pod."""
    manifests = render()
    for component in ("query", "collector"):
        headless = one(manifests, "Service", name(f"{component}-headless"))
        assert headless["spec"]["clusterIP"] == "None"
        assert headless["spec"]["selector"] == one(manifests, "Service", name(component))["spec"]["selector"]


def test_several_query_replicas_need_redis() -> None:
    """Without Redis each query replica caches in its own memory, and an invalidation reaches
    one of them: the others would answer stale for up to the cache TTL."""
    message = render_failure(
        "redis.enabled=false", "postgresql.enabled=false", "database.url=postgresql://db/x"
    )
    assert "query may run 6 replicas but there is no Redis" in message
    assert "query.cacheTtlSeconds (3600 s)" in message
    fixed = render_failure("redis.enabled=false", "query.autoscaling.enabled=false", "query.replicaCount=2")
    assert "query may run 2 replicas" in fixed
    # One replica, or an external Redis, is fine.
    assert of_kind(render(APP_ONLY), "Deployment")
    assert of_kind(render(None, "redis.enabled=false", "redis.url=redis://cache:6379/0"), "Deployment")
    # With a Secret made outside the chart, its redis-url is required (the pods do not start
    # without it) whenever there may be several replicas; optional for one.
    for settings, optional in (
        ((), False),
        (("query.autoscaling.enabled=false", "query.replicaCount=1"), True),
    ):
        manifests = render(EXISTING_SECRET, "redis.enabled=false", *settings)
        for component in ("query", "collector"):
            container = one(manifests, "Deployment", name(component))["spec"]["template"]["spec"][
                "containers"
            ][0]
            ref = env_of(container)["TAGPULSE_REDIS_URL"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "tagpulse-credentials", "key": "redis-url", "optional": optional}


def test_long_release_names_fit_kubernetes_limits() -> None:
    release = "a-release-name-that-is-quite-long-for-a-cluster-x"
    for manifest in render(None, release=release):
        limit = 52 if manifest["kind"] == "CronJob" else 63
        assert len(manifest["metadata"]["name"]) <= limit, manifest["metadata"]["name"]


# --- Secrets ----------------------------------------------------------------------------------

SENTINELS = {
    "secrets.apiToken": "sentinel-api-token-8f2c",
    "secrets.xBearerToken": "sentinel-x-bearer-9d1e",
    "secrets.mastodonAccessToken": "sentinel-mastodon-4b7a",
    "database.url": "postgresql://u:sentinel-db-password-3c5f@db:5432/tagpulse",
    "redis.url": "redis://:sentinel-redis-password-6a0b@cache:6379/0",
    "postgresql.password": "sentinel-pg-password-1d9e",
    "redis.password": "sentinel-redis-pw-7e2a",
}
SECRET_KEY = re.compile(r"(TOKEN|PASSWORD|SECRET|DATABASE_URL|REDIS_URL|AUTH)", re.IGNORECASE)
URL_PASSWORD = re.compile(r"://[^/@]*:[^/@]+@")
REFERENCE = re.compile(r"\$\((\w+)\)")


@pytest.mark.parametrize("external", [True, False], ids=["external-db", "in-chart-db"])
def test_secrets_never_reach_a_configmap_or_a_plain_env_value(external: bool) -> None:
    settings = [f"{key}={value}" for key, value in SENTINELS.items()]
    if external:
        settings += ["postgresql.enabled=false", "redis.enabled=false"]
    manifests = render(None, *settings)
    sentinels = [value.split("sentinel-", 1)[1].split("@")[0] for value in SENTINELS.values()]

    for config_map in of_kind(manifests, "ConfigMap"):
        text = str(config_map.get("data", {}))
        assert not [s for s in sentinels if s in text], config_map["metadata"]["name"]
        assert not [k for k in config_map.get("data", {}) if SECRET_KEY.search(k)], config_map["metadata"][
            "name"
        ]
    for _, template in pod_templates(manifests):
        for container in containers(template):
            assert not [s for s in sentinels if s in str(container.get("args", []))], container["name"]
            from_secrets = {
                item["name"]
                for item in container.get("env", [])
                if "secretKeyRef" in item.get("valueFrom", {})
            }
            for item in container.get("env", []):
                assert not [s for s in sentinels if s in str(item.get("value", ""))], item
                if SECRET_KEY.search(item["name"]) and "valueFrom" not in item:
                    # Composed in the pod from secretKeyRefs (Kubernetes expands $(NAME)), or a URL
                    # with no credentials in it.
                    value = item["value"]
                    assert set(REFERENCE.findall(value)) <= from_secrets, item
                    assert not URL_PASSWORD.search(REFERENCE.sub("", value)), item
    secret_text = str([s["stringData"] for s in of_kind(manifests, "Secret")])
    expected = ["api-token-8f2c", "x-bearer-9d1e", "mastodon-4b7a"]
    expected += (
        ["db-password-3c5f", "redis-password-6a0b"] if external else ["pg-password-1d9e", "redis-pw-7e2a"]
    )
    assert all(s in secret_text for s in expected)


def test_an_existing_secret_replaces_the_charts() -> None:
    manifests = render(EXISTING_SECRET)
    # Only Grafana's insights datasource, which its sidecar reads (tests/chart/test_insights_chart.py).
    assert [s["metadata"]["name"] for s in of_kind(manifests, "Secret")] == [f"{RELEASE}-insights-datasource"]
    for _, template in pod_templates(manifests):
        for container in containers(template):
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == "tagpulse-credentials", item


def test_the_in_chart_redis_requires_the_password_of_the_secret() -> None:
    manifests = render(None, "redis.password=chosen-redis-pw")
    assert one(manifests, "Secret", RELEASE)["stringData"]["redis-password"] == "chosen-redis-pw"
    password_ref = {"secretKeyRef": {"name": RELEASE, "key": "redis-password"}}
    pod = one(manifests, "StatefulSet", name("redis"))["spec"]["template"]["spec"]
    server, exporter = pod["containers"]
    args, env = server["args"], env_of(server)
    assert args[args.index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    assert env["REDIS_PASSWORD"]["valueFrom"] == password_ref
    # redis-cli reads REDISCLI_AUTH, and exits 0 on NOAUTH too: the probe wants PONG.
    assert env["REDISCLI_AUTH"]["value"] == "$(REDIS_PASSWORD)"
    assert "grep -qx PONG" in server["readinessProbe"]["exec"]["command"][-1]
    assert env_of(exporter)["REDIS_PASSWORD"]["valueFrom"] == password_ref

    expected_url = f"redis://:$(REDIS_PASSWORD)@{name('redis')}.{NAMESPACE}.svc.cluster.local:6379/0"
    for component in ("query", "collector"):
        env = env_of(
            one(manifests, "Deployment", name(component))["spec"]["template"]["spec"]["containers"][0]
        )
        assert env["REDIS_PASSWORD"]["valueFrom"] == password_ref, component
        assert env["TAGPULSE_REDIS_URL"]["value"] == expected_url, component
        assert list(env).index("REDIS_PASSWORD") < list(env).index("TAGPULSE_REDIS_URL"), "expanded in order"

    # The URL Kubernetes composes carries the password to redis-py, and the logs redact it.
    url = expected_url.replace("$(REDIS_PASSWORD)", "chosen-redis-pw")
    assert redis.Redis.from_url(url).connection_pool.connection_kwargs["password"] == "chosen-redis-pw"
    assert "chosen-redis-pw" in Settings(redis_url=url).secret_values()  # type: ignore[arg-type]

    generated = one(render(), "Secret", RELEASE)["stringData"]["redis-password"]
    assert re.fullmatch(r"[A-Za-z0-9]{32}", generated)
    assert "/redis/password" in render_failure("redis.password=a@b"), "it goes into a URL"


def test_the_generated_secret_outlives_uninstall_with_the_postgresql_volume() -> None:
    """Its claims outlive `helm uninstall`, and the database keeps the password it was created
    with: the Secret stays too, so a new install's lookup reads the same passwords back."""
    secret = one(render(), "Secret", RELEASE)
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert one(render(), "StatefulSet", name("postgresql"))["spec"]["volumeClaimTemplates"]
    text = notes()
    assert f"kubectl -n {NAMESPACE} delete secret {RELEASE}" in text
    assert f"delete pvc -l app.kubernetes.io/instance={RELEASE}" in text
    for settings in (
        ("postgresql.persistence.enabled=false",),
        ("postgresql.enabled=false", "database.url=postgresql://db/x"),
    ):
        secret = one(render(None, *settings), "Secret", RELEASE)
        assert "helm.sh/resource-policy" not in secret["metadata"].get("annotations", {}), settings
        assert "delete secret" not in notes(*settings), settings


def test_the_chart_refuses_a_missing_or_unusable_database() -> None:
    assert "database.url is required" in render_failure("postgresql.enabled=false")
    assert "/postgresql/password" in render_failure("postgresql.password=a@b"), "the values schema refuses it"
    assert "activeDeadlineSeconds" in render_failure("cronjob.runTimeoutSeconds=7200")


# --- Prometheus Operator objects --------------------------------------------------------------


PROMETHEUS_OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}
BUILT_IN_API_VERSIONS = {"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1"}


def prometheus_operator_objects(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["apiVersion"].startswith("monitoring.coreos.com/")]


@pytest.mark.parametrize("values", ALL_VALUES, ids=values_id)
def test_a_cluster_without_the_prometheus_operator_gets_none_of_its_kinds(values: Path | None) -> None:
    """The default install works anywhere: kubernetes-validate (make chart-check) accepts every
    other object, and nothing is left that such a cluster would refuse."""
    manifests = render(values)
    forced = values is not None and "force: true" in values.read_text()
    if forced:
        assert {m["kind"] for m in prometheus_operator_objects(manifests)} == PROMETHEUS_OPERATOR_KINDS
    else:
        assert prometheus_operator_objects(manifests) == []
        # Only built-in kinds, every one of which kubernetes-validate checked (it skips unknown ones).
        assert {m["apiVersion"] for m in manifests} <= BUILT_IN_API_VERSIONS
    if values is None:
        assert "no\n   ServiceMonitor or PrometheusRule was installed" in notes()


def test_a_cluster_with_the_prometheus_operator_gets_them_all() -> None:
    manifests = render_with_prometheus_operator()
    assert {m["kind"] for m in prometheus_operator_objects(manifests)} == PROMETHEUS_OPERATOR_KINDS
    assert len(of_kind(manifests, "ServiceMonitor")) == 5
    assert "Metrics, alerts and dashboards go to kube-prometheus-stack" in notes(
        "prometheusOperator.force=true"
    )
    # Without the API, prometheusOperator.force renders the same objects (helm template in CI/GitOps).
    forced = render(None, "prometheusOperator.force=true")
    assert prometheus_operator_objects(forced) == prometheus_operator_objects(manifests)
    # And each can still be switched off.
    off = render_with_prometheus_operator(
        None, "serviceMonitor.enabled=false", "prometheusRule.enabled=false"
    )
    assert prometheus_operator_objects(off) == []


def test_servicemonitors_scrape_every_metrics_port_with_the_release_label() -> None:
    manifests = render_with_prometheus_operator()
    monitors = {m["metadata"]["name"]: m for m in of_kind(manifests, "ServiceMonitor")}
    expected = {
        name("query"): ("metrics", "/metrics"),
        name("collector"): ("metrics", "/metrics"),
        name("envoy-admin"): ("admin", "/stats/prometheus"),
        name("postgresql"): ("metrics", "/metrics"),
        name("redis"): ("metrics", "/metrics"),
    }
    assert set(monitors) == set(expected)
    services = of_kind(manifests, "Service")
    for monitor_name, (port, path) in expected.items():
        monitor = monitors[monitor_name]
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        (endpoint,) = monitor["spec"]["endpoints"]
        assert (endpoint["port"], endpoint["path"], endpoint["interval"]) == (port, path, "30s")
        assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
        selected = [
            s
            for s in services
            if monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
        ]
        assert len(selected) == 1, f"{monitor_name} selects {[s['metadata']['name'] for s in selected]}"
        assert port in [p["name"] for p in selected[0]["spec"]["ports"]]

    relabelled = render_with_prometheus_operator(
        None, "serviceMonitor.labels.release=monitoring", "serviceMonitor.interval=15s"
    )
    for monitor in of_kind(relabelled, "ServiceMonitor"):
        assert monitor["metadata"]["labels"]["release"] == "monitoring"
        assert monitor["spec"]["endpoints"][0]["interval"] == "15s"


def test_prometheusrule_carries_the_release_label_and_the_expected_alerts() -> None:
    rule = one(render_with_prometheus_operator(), "PrometheusRule", RELEASE)
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    alerts = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}
    assert set(alerts) == {
        "TagpulseHighErrorRatio",
        "TagpulseGatewayUpstreamErrors",
        "TagpulseHighLatencyP99",
        "TagpulseNoSuccessfulCollection",
        "TagpulseCollectionRunFailed",
        "TagpulseXComplianceJobsFailing",
        "TagpulseSourceRateLimitExhausted",
        "TagpulseSourceCreditsDepleted",
        "TagpulseDailyBudgetNearlySpent",
        "TagpulseDailyBudgetReached",
        "TagpulseStreamDeadLetters",
        "TagpulseStreamBacklog",
        "TagpulsePostgresqlDown",
        "TagpulsePostgresqlConnectionsNearLimit",
        "TagpulseRedisDown",
        "TagpulseRedisConnectionsNearLimit",
    }
    for alert, body in alerts.items():
        assert body["labels"]["severity"] in ("warning", "critical"), alert
        assert body["annotations"]["summary"], alert
        assert body["annotations"]["description"], alert
        assert f'namespace="{NAMESPACE}"' in body["expr"], f"{alert} must watch its own release's namespace"
    assert "> 13 * 3600" in alerts["TagpulseNoSuccessfulCollection"]["expr"]
    assert f'cronjob="{name("collect")}"' in alerts["TagpulseNoSuccessfulCollection"]["expr"]
    without_cronjob = one(
        render_with_prometheus_operator(None, "cronjob.enabled=false"), "PrometheusRule", RELEASE
    )
    assert "TagpulseNoSuccessfulCollection" not in str(without_cronjob)


# --- NetworkPolicies --------------------------------------------------------------------------


def policies_of(manifests: list[Manifest]) -> list[Manifest]:
    return of_kind(manifests, "NetworkPolicy")


def pod(component: str) -> Pod:
    return Pod(
        {"app.kubernetes.io/name": "tagpulse", "app.kubernetes.io/instance": RELEASE,
         "app.kubernetes.io/component": component},
        NAMESPACE,
    )  # fmt: skip


PROMETHEUS = Pod({"app.kubernetes.io/name": "prometheus"}, "monitoring")
GRAFANA = Pod({"app.kubernetes.io/name": "grafana"}, "monitoring")
CLIENT = Pod({"app.kubernetes.io/name": "ingress-nginx"}, "ingress")
KUBE_DNS = Pod({"k8s-app": "kube-dns"}, "kube-system")
X_API = External("104.244.42.1")


@pytest.mark.parametrize("values", [v for v in ALL_VALUES if v != APP_ONLY], ids=values_id)
def test_network_policies_cover_every_pod(values: Path | None) -> None:
    manifests = render(values)
    policies = policies_of(manifests)
    for workload, template in pod_templates(manifests):
        labels = template["metadata"]["labels"]
        selected = Pod(labels, NAMESPACE)
        assert isolated(policies, selected) == {"Ingress", "Egress"}, workload["metadata"]["name"]
        assert allowed(policies, selected, KUBE_DNS, 53, "UDP"), f"{workload['metadata']['name']} needs DNS"


def test_network_policies_allow_exactly_the_flows_tagpulse_needs() -> None:
    policies = policies_of(render())
    flows_allowed = [
        (CLIENT, pod("envoy"), 8080),
        (pod("envoy"), pod("query"), 50051),
        (pod("envoy"), pod("collector"), 50052),
        (pod("collector"), pod("query"), 50051),
        (pod("collect"), pod("collector"), 50052),
        (pod("query"), pod("postgresql"), 5432),
        (pod("collector"), pod("postgresql"), 5432),
        (pod("migrations"), pod("postgresql"), 5432),
        (pod("query"), pod("redis"), 6379),
        (pod("collector"), pod("redis"), 6379),
        (pod("collector"), X_API, 443),
        (PROMETHEUS, pod("envoy"), 9901),
        (PROMETHEUS, pod("query"), 9101),
        (PROMETHEUS, pod("collector"), 9102),
        (PROMETHEUS, pod("postgresql"), 9187),
        (PROMETHEUS, pod("redis"), 9121),
        (GRAFANA, pod("postgresql"), 5432),
    ]
    flows_denied = [
        (CLIENT, pod("envoy"), 9901),
        (CLIENT, pod("query"), 50051),
        (CLIENT, pod("redis"), 6379),
        (pod("envoy"), pod("postgresql"), 5432),
        (pod("query"), pod("collector"), 50052),
        (pod("collect"), pod("query"), 50051),
        (pod("collect"), pod("postgresql"), 5432),
        (pod("collect"), pod("redis"), 6379),
        (pod("migrations"), pod("redis"), 6379),
        (pod("query"), X_API, 443),
        (pod("collector"), X_API, 80),
        (pod("collector"), External("10.1.2.3"), 443),
        (PROMETHEUS, pod("query"), 50051),
        (Pod({"app.kubernetes.io/name": "prometheus"}, "default"), pod("query"), 9101),
        (GRAFANA, pod("query"), 50051),
        (GRAFANA, pod("redis"), 6379),
        (Pod({"app.kubernetes.io/name": "grafana"}, "default"), pod("postgresql"), 5432),
    ]
    for source, destination, port in flows_allowed:
        assert allowed(policies, source, destination, port), (
            f"{source} → {destination}:{port} must be allowed"
        )
    for source, destination, port in flows_denied:
        assert not allowed(policies, source, destination, port), (
            f"{source} → {destination}:{port} must be denied"
        )


def test_network_policies_let_the_retention_reach_the_database_and_the_query_service_only() -> None:
    policies = policies_of(render(None, "config.retentionDays.x=7"))
    for destination, port in ((pod("query"), 50051), (pod("postgresql"), 5432)):
        assert allowed(policies, pod("retention"), destination, port), destination
    for destination, port in ((pod("collector"), 50052), (pod("redis"), 6379), (X_API, 443)):
        assert not allowed(policies, pod("retention"), destination, port), destination
    # Without the CronJob, nothing of it.
    policies = policies_of(render())
    assert not allowed(policies, pod("retention"), pod("postgresql"), 5432)
    assert not allowed(policies, pod("retention"), pod("query"), 50051)
    database = External("10.20.0.7")
    policies = policies_of(render(EXTERNAL_DB))
    assert allowed(policies, pod("retention"), database, 5432)
    assert not allowed(policies, pod("retention"), External("8.8.8.8"), 5432)


def test_network_policies_reach_an_external_database_only_where_it_lives() -> None:
    policies = policies_of(render(EXTERNAL_DB))
    database, cache = External("10.20.0.7"), External("10.21.0.9")
    for component in ("query", "collector", "migrations"):
        assert allowed(policies, pod(component), database, 5432), component
        assert not allowed(policies, pod(component), External("8.8.8.8"), 5432), component
    # The answer cache and the keyword streams' buffers.
    for component in ("query", "collector"):
        assert allowed(policies, pod(component), cache, 6379), component
    assert not allowed(policies, pod("migrations"), cache, 6379)
    otlp = Pod({"app.kubernetes.io/name": "otel-collector"}, "monitoring")
    assert allowed(policies, pod("query"), otlp, 4317)


# --- Outgrowing the in-chart databases --------------------------------------------------------


def test_an_external_database_is_verified_with_its_ca_certificate() -> None:
    manifests = render(EXTERNAL_DB_TLS)
    workloads = [
        one(manifests, "Deployment", name("query")),
        one(manifests, "Deployment", name("collector")),
        one(manifests, "Job", name("migrations")),
    ]
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        (container,) = [c for c in pod["containers"] if c["name"] != "cloud-sql-proxy"]
        env = env_of(container)
        # libpq reads both: every URL form verifies the server the same way.
        assert env["PGSSLMODE"]["value"] == "verify-full"
        mount = {m["name"]: m for m in container["volumeMounts"]}["database-ca"]
        assert env["PGSSLROOTCERT"]["value"] == f"{mount['mountPath']}/ca.pem"
        assert mount["readOnly"] is True
        volume = {v["name"]: v for v in pod["volumes"]}["database-ca"]
        assert volume["configMap"] == {"name": "db-ca-bundle", "items": [{"key": "ca.pem", "path": "ca.pem"}]}
    secret_ca = render(EXTERNAL_DB, "database.caCertificate.secretName=db-ca")
    pod = one(secret_ca, "Deployment", name("query"))["spec"]["template"]["spec"]
    assert {v["name"]: v for v in pod["volumes"]}["database-ca"]["secret"]["secretName"] == "db-ca"
    # Nothing of it without a certificate, or with the in-chart PostgreSQL.
    for manifests in (render(EXTERNAL_DB), render(None, "database.caCertificate.secretName=db-ca")):
        container = one(manifests, "Deployment", name("query"))["spec"]["template"]["spec"]["containers"][0]
        assert "PGSSLROOTCERT" not in env_of(container)
    both = ("database.caCertificate.secretName=a", "database.caCertificate.configMapName=b")
    assert "/database/caCertificate" in render_failure(*both)


def test_the_connection_pool_size_reaches_the_services() -> None:
    config = one(render(), "ConfigMap", name("config"))["data"]
    assert int(config["TAGPULSE_DATABASE_POOL_SIZE"]) == Settings.model_fields["database_pool_size"].default
    assert (
        one(render(EXTERNAL_DB_TLS), "ConfigMap", name("config"))["data"]["TAGPULSE_DATABASE_POOL_SIZE"]
        == "10"
    )


def test_a_database_proxy_runs_beside_every_database_client() -> None:
    manifests = render(CLOUD_SQL_PROXY)
    for kind, component in (("Deployment", "query"), ("Deployment", "collector"), ("Job", "migrations")):
        pod = one(manifests, kind, name(component))["spec"]["template"]["spec"]
        (proxy,) = pod["initContainers"]
        # A native sidecar: ready before tagpulse connects, and it does not keep the Job running.
        assert (proxy["name"], proxy["restartPolicy"]) == ("cloud-sql-proxy", "Always"), component
        assert "cloud-sql-credentials" in {v["name"] for v in pod["volumes"]}, component
        assert [c["name"] for c in pod["containers"]] == [component if kind == "Deployment" else "migrate"]
        # Under the chart's default-deny policies the proxy still reaches the Admin API over HTTPS.
        egress = one(manifests, "NetworkPolicy", name(component))["spec"]["egress"]
        assert any({"protocol": "TCP", "port": 443} in rule["ports"] for rule in egress), component
    sidecar = {"name": "log-shipper", "image": "busybox:1.37"}
    mount = {"name": "extra", "mountPath": "/extra"}
    pod = one(
        render(
            None,
            "collector.extraContainers[0].name=log-shipper",
            "collector.extraContainers[0].image=busybox:1.37",
            "collector.extraVolumes[0].name=extra",
            "collector.extraVolumes[0].emptyDir.medium=Memory",
            "collector.extraVolumeMounts[0].name=extra",
            "collector.extraVolumeMounts[0].mountPath=/extra",
        ),
        "Deployment",
        name("collector"),
    )["spec"]["template"]["spec"]
    assert pod["containers"][1] == sidecar
    assert mount in pod["containers"][0]["volumeMounts"]
    assert {"name": "extra", "emptyDir": {"medium": "Memory"}} in pod["volumes"]


def test_replicas_spread_over_the_topology() -> None:
    manifests = render(EXTERNAL_DB_TLS)
    for component in ("query", "collector", "envoy"):
        deployment = one(manifests, "Deployment", name(component))
        constraints = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert constraints[0]["topologyKey"] == "topology.kubernetes.io/zone", component
        if component != "envoy":
            # No labelSelector given: the component's own pods.
            selector = deployment["spec"]["selector"]["matchLabels"]
            assert all(c["labelSelector"] == {"matchLabels": selector} for c in constraints), component
    envoy = one(manifests, "Deployment", name("envoy"))["spec"]["template"]["spec"]
    assert "matchExpressions" in envoy["topologySpreadConstraints"][0]["labelSelector"], "a given one is kept"
    assert "matchLabels" not in envoy["topologySpreadConstraints"][0]["labelSelector"]
    for deployment in of_kind(render(), "Deployment"):
        assert "topologySpreadConstraints" not in deployment["spec"]["template"]["spec"]


# --- Values combinations ----------------------------------------------------------------------


def test_app_only_renders_the_app_and_nothing_else() -> None:
    kinds = {m["kind"] for m in render(APP_ONLY)}
    assert kinds == {"ConfigMap", "Deployment", "Secret", "Service", "ServiceAccount"}
    deployments = {m["metadata"]["name"] for m in of_kind(render(APP_ONLY), "Deployment")}
    assert deployments == {name("query"), name("collector"), name("envoy")}


def test_every_ci_values_file_is_rendered_by_chart_check() -> None:
    """make chart-check lints, renders and validates each of these; keep the three the issue names."""
    assert {p.name for p in CI_VALUES} >= {
        "default-values.yaml",
        "external-db-values.yaml",
        "app-only-values.yaml",
    }
