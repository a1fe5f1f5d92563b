"""The two images, checked without a Docker engine: read the Dockerfiles and .dockerignore, and
build the wheels their pip steps build."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.chart.dockerfiles import Dockerfile
from tests.chart.helm import CHART, ROOT

ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - what the containers must listen on
SERVICES = {
    # service: (module of its entrypoint, default arguments, gRPC port, metrics port)
    "query": ("tagpulse_query", [], 50051, 9101),
    "collector": ("tagpulse_collector", ["serve"], 50052, 9102),
}
PINNED_PYTHON = re.compile(r"python:3\.11\.\d+-slim(-\w+)?")
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|make|build-essential|clang|cc|libc6?-dev|python3?-dev|git)\b")


def dockerfile(service: str) -> Dockerfile:
    return Dockerfile.read(ROOT / "services" / service / "Dockerfile")


@pytest.mark.parametrize("service", SERVICES)
def test_images_are_multi_stage_on_a_pinned_slim_python(service: str) -> None:
    image = dockerfile(service)
    assert len(image.stages) >= 2, "a build stage and a runtime stage"
    for stage in image.stages:
        assert PINNED_PYTHON.fullmatch(stage.base), f"{stage.base}: pin python:3.11.<patch>-slim"
    assert len({stage.base for stage in image.stages}) == 1, "build and run on the same base"
    assert image.final.name is None or image.final.name != image.stages[0].name


@pytest.mark.parametrize("service", SERVICES)
def test_dependencies_come_from_the_pinned_requirements(service: str) -> None:
    image = dockerfile(service)
    build = image.stages[0]
    copies = " ".join(build.all("COPY"))
    assert "requirements/runtime.txt" in copies
    installs = [c for c in image.run_commands(build) if "pip" in c and "install" in c]
    # The service's own dependencies only, at the lock's versions (tests/images checks that every
    # installed distribution is pinned there).
    assert any("--constraint /tmp/runtime.txt" in " ".join(c) for c in installs)
    # Our own packages without their (unpinned) dependency resolution.
    assert any("--no-deps" in c for c in installs)
    for source in re.findall(r"COPY\s+(\S+)\s", " ".join(f"COPY {c}" for c in build.all("COPY"))):
        assert (ROOT / source).exists(), f"COPY {source}: no such path in the repository"


@pytest.mark.parametrize("service", SERVICES)
def test_the_runtime_stage_is_lean_and_unprivileged(service: str) -> None:
    image = dockerfile(service)
    final = image.final
    user = final.last("USER")
    assert user is not None, "the runtime stage needs a USER"
    assert re.fullmatch(r"\d+(:\d+)?", user), "USER must be numeric (runAsNonRoot checks it)"
    assert int(user.split(":")[0]) != 0
    for command in image.run_commands(final):
        text = " ".join(command)
        assert "pip install" not in text, text
        assert "apt-get install" not in text, text
        assert not BUILD_TOOLS.search(text), text
    assert any(c.startswith("--from=") for c in final.all("COPY")), "copy the built virtualenv in"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == int(user.split(":")[0])


@pytest.mark.parametrize("service", SERVICES)
def test_the_entrypoint_is_the_service(service: str) -> None:
    module, default_args, grpc_port, metrics_port = SERVICES[service]
    image = dockerfile(service)
    assert image.entrypoint == ["python", "-m", module]
    assert image.cmd == default_args
    assert (ROOT / "services" / service / module / "__main__.py").exists()
    exposed = {int(port) for line in image.final.all("EXPOSE") for port in line.split()}
    assert exposed == {grpc_port, metrics_port}
    env = " ".join(image.final.all("ENV"))
    assert f"TAGPULSE_GRPC_HOST={ALL_INTERFACES}" in env
    assert f"TAGPULSE_METRICS_HOST={ALL_INTERFACES}" in env


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes; a directory match covers its files."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes) or (
            pattern.startswith("**/") and any(fnmatch.fnmatchcase(p, pattern[3:]) for p in parts)
        ):
            ignored = not negate
    return ignored


def test_dockerignore_sends_only_what_the_images_copy() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    needed = [
        "requirements/runtime.txt",
        "libs/tagpulse/pyproject.toml",
        "libs/tagpulse/tagpulse/migrate.py",
        "libs/tagpulse/tagpulse/v1/query_service_pb2.py",
        "libs/tagpulse/tagpulse/migrations/env.py",
        "services/query/tagpulse_query/__main__.py",
        "services/collector/tagpulse_collector/__main__.py",
    ]
    for path in needed:
        assert not _dockerignored(path, patterns), f"{path} must reach the build context"
    for path in [
        ".venv/bin/python",
        "node_modules/newman/package.json",
        "var/tagpulse.db",
        ".git/HEAD",
        "tests/conftest.py",
        "libs/tagpulse/tagpulse/__pycache__/x.pyc",
        "services/query/build/lib/x.py",
    ]:
        assert _dockerignored(path, patterns), f"{path} must stay out of the build context"  # fmt: skip


def test_the_wheels_the_images_install_carry_migrations_and_stubs(tmp_path: Path) -> None:
    """`pip install --no-deps libs/tagpulse services/…` in the build stage installs these wheels."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path), "libs/tagpulse", "services/query", "services/collector"],
        check=True,
        cwd=ROOT,
        timeout=300,
    )  # fmt: skip
    (library,) = tmp_path.glob("tagpulse-*.whl")
    names = zipfile.ZipFile(library).namelist()
    for required in [
        "tagpulse/migrate.py",
        "tagpulse/migrations/env.py",
        "tagpulse/migrations/script.py.mako",
        "tagpulse/v1/query_service_pb2.py",
        "tagpulse/v1/collector_service_pb2_grpc.py",
    ]:
        assert required in names, f"{required} is missing from the tagpulse wheel"  # fmt: skip
    assert any(n.startswith("tagpulse/migrations/versions/") and n.endswith(".py") for n in names)
    for service, (module, *_) in SERVICES.items():
        (wheel,) = tmp_path.glob(f"tagpulse_{service}-*.whl")
        assert f"{module}/__main__.py" in zipfile.ZipFile(wheel).namelist()
