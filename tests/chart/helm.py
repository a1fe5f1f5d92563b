"""Render the chart with the project's helm and read the manifests back."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "tagpulse"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
BIN = Path(sys.executable).parent
HELM = BIN / "helm"
RELEASE = "tagpulse"
NAMESPACE = "tagpulse"

Manifest = dict[str, Any]


class _StrictLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys (PyYAML keeps the last one silently)."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys = [loader.construct_object(key) for key, _ in node.value]
    duplicates = {key for key in keys if keys.count(key) > 1}
    if duplicates:
        raise yaml.constructor.ConstructorError(None, None, f"duplicate keys {duplicates}", node.start_mark)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def load_yaml_documents(text: str) -> list[Any]:
    return [doc for doc in yaml.load_all(text, Loader=_StrictLoader) if doc is not None]


def helm_env() -> dict[str, str]:
    home = ROOT / "var" / "helm"
    return {
        **os.environ,
        "HELM_CONFIG_HOME": os.environ.get("HELM_CONFIG_HOME", str(home / "config")),
        "HELM_CACHE_HOME": os.environ.get("HELM_CACHE_HOME", str(home / "cache")),
        "HELM_DATA_HOME": os.environ.get("HELM_DATA_HOME", str(home / "data")),
    }


def require_helm() -> None:
    if not HELM.exists():
        message = f"{HELM} is missing: run `make install`"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message, allow_module_level=True)


PROMETHEUS_OPERATOR_API = "monitoring.coreos.com/v1"


@functools.cache
def _render(
    values: tuple[str, ...],
    settings: tuple[str, ...],
    release: str,
    namespace: str,
    api_versions: tuple[str, ...],
) -> str:
    command = [str(HELM), "template", release, str(CHART), "--namespace", namespace]
    for path in values:
        command += ["--values", path]
    for setting in settings:
        command += ["--set", setting]
    for api_version in api_versions:
        command += ["--api-versions", api_version]
    result = subprocess.run(command, capture_output=True, text=True, env=helm_env(), check=False)
    if result.returncode != 0:
        raise AssertionError(f"helm template failed:\n{result.stderr}")
    return result.stdout


def render(
    values: Path | None = None,
    *settings: str,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
    api_versions: tuple[str, ...] = (),
) -> list[Manifest]:
    """The chart's manifests for a values file (None: the defaults) and --set overrides, on a
    cluster that serves the built-in APIs and `api_versions` (helm template's --api-versions)."""
    require_helm()
    text = _render((str(values),) if values else (), settings, release, namespace, api_versions)
    return load_yaml_documents(text)


def render_with_prometheus_operator(values: Path | None = None, *settings: str) -> list[Manifest]:
    """The manifests on a cluster that serves the Prometheus Operator's API."""
    return render(values, *settings, api_versions=(PROMETHEUS_OPERATOR_API,))


def render_failure(*settings: str) -> str:
    """helm template's error message for settings the chart must refuse."""
    require_helm()
    command = [str(HELM), "template", RELEASE, str(CHART)]
    for setting in settings:
        command += ["--set", setting]
    result = subprocess.run(command, capture_output=True, text=True, env=helm_env(), check=False)
    assert result.returncode != 0, f"helm template accepted {settings}"
    return result.stderr


def notes(*settings: str) -> str:
    """NOTES.txt as `helm install` prints it (a client-side dry run: no cluster is asked)."""
    require_helm()
    command = [str(HELM), "install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client"]
    for setting in settings:
        command += ["--set", setting]
    env = {**helm_env(), "KUBECONFIG": os.devnull}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.split("\nNOTES:\n", 1)[1]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_templates(manifests: list[Manifest]) -> Iterator[tuple[Manifest, dict[str, Any]]]:
    """(workload, pod template) for every Deployment, StatefulSet, Job and CronJob."""
    for manifest in manifests:
        kind = manifest["kind"]
        if kind in ("Deployment", "StatefulSet", "Job"):
            yield manifest, manifest["spec"]["template"]
        elif kind == "CronJob":
            yield manifest, manifest["spec"]["jobTemplate"]["spec"]["template"]


def containers(pod_template: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_template["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def values_id(path: Path | None) -> str:
    return path.name if path else "defaults"


ALL_VALUES: list[Path | None] = [None, *CI_VALUES]
