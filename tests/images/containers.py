"""Run a container of the rendered chart with podman, the way Kubernetes would run it.

`PodmanRun.of(manifests, container)` turns a Deployment's, Job's or CronJob's container into a
`podman run`: the same command (entrypoint) and args, the env with every ConfigMap and Secret
value resolved, the pod's user and group, a read-only root filesystem, every capability
dropped, no privilege escalation, an emptyDir as a tmpfs, and the chart's Service names
resolving to this host (the containers share the host's network; there is no cluster DNS).
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Manifest = dict[str, Any]


def pod_spec(workload: Manifest) -> Manifest:
    if workload["kind"] == "CronJob":
        spec: Manifest = workload["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    else:
        spec = workload["spec"]["template"]["spec"]
    return spec


def _named(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def _secret_data(secret: Manifest) -> dict[str, str]:
    plain = dict(secret.get("stringData", {}))
    plain.update({k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()})
    return plain


def resolved_env(manifests: list[Manifest], container: Manifest) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom first, then env (later
    entries win), every reference resolved; a missing optional reference is left out."""
    config_maps = {n: m.get("data", {}) for n, m in _named(manifests, "ConfigMap").items()}
    secrets = {n: _secret_data(m) for n, m in _named(manifests, "Secret").items()}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_maps[source["configMapRef"]["name"]])
        if "secretRef" in source:
            env.update(secrets[source["secretRef"]["name"]])
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = str(variable["value"])
            continue
        reference = variable["valueFrom"]
        kind, store = (
            ("configMapKeyRef", config_maps) if "configMapKeyRef" in reference else ("secretKeyRef", secrets)
        )
        ref = reference[kind]
        value = store.get(ref["name"], {}).get(ref["key"])
        if value is None:
            assert ref.get("optional"), f"{variable['name']}: {ref} is missing and not optional"
            continue
        env[variable["name"]] = value
    return env


def service_hosts(manifests: list[Manifest], namespace: str, cluster_domain: str) -> list[str]:
    """Every name a Service answers to inside the cluster."""
    hosts = []
    for name in _named(manifests, "Service"):
        hosts += [
            name,
            f"{name}.{namespace}",
            f"{name}.{namespace}.svc",
            f"{name}.{namespace}.svc.{cluster_domain}",
        ]
    return hosts


@dataclass
class PodmanRun:
    image: str
    command: list[str] | None
    args: list[str]
    env: Mapping[str, str]
    user: str
    tmpfs: list[str]
    hosts: list[str]
    grace_seconds: int = 30
    options: list[str] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        manifests: list[Manifest],
        workload: Manifest,
        namespace: str,
        cluster_domain: str = "cluster.local",
    ) -> PodmanRun:
        spec = pod_spec(workload)
        (container,) = spec["containers"]
        pod_security, security = spec.get("securityContext", {}), container.get("securityContext", {})
        assert security.get("readOnlyRootFilesystem") is True
        assert security.get("allowPrivilegeEscalation") is False
        assert security.get("capabilities", {}).get("drop") == ["ALL"]
        user = security.get("runAsUser", pod_security.get("runAsUser"))
        group = security.get("runAsGroup", pod_security.get("runAsGroup"))
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        tmpfs = []
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            assert "emptyDir" in volume, f"only emptyDir volumes are run here: {volume}"
            size = volume["emptyDir"].get("sizeLimit", "64Mi").replace("Mi", "m")
            tmpfs.append(f"{mount['mountPath']}:rw,size={size},mode=1777")
        return cls(
            image=container["image"],
            command=container.get("command"),
            args=[str(a) for a in container.get("args", [])],
            env=resolved_env(manifests, container),
            user=f"{user}:{group}",
            tmpfs=tmpfs,
            hosts=service_hosts(manifests, namespace, cluster_domain),
            grace_seconds=int(spec.get("terminationGracePeriodSeconds", 30)),
        )

    def argv(self, name: str, detach: bool) -> list[str]:
        argv = ["podman", "run", "--name", name, "--network", "host", "--read-only"]
        argv += ["--user", self.user, "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
        for mount in self.tmpfs:
            argv += ["--tmpfs", mount]
        for host in self.hosts:
            argv += ["--add-host", f"{host}:127.0.0.1"]
        for key, value in sorted(self.env.items()):
            argv += ["--env", f"{key}={value}"]
        if self.command is not None:
            argv += ["--entrypoint", json.dumps(self.command)]
        argv += ["--detach"] if detach else []
        return [*argv, *self.options, self.image, *self.args]


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=check)


def logs(name: str) -> str:
    result = podman("logs", name, check=False)
    return (result.stdout + result.stderr)[-4000:]


def exit_code(name: str) -> int:
    return int(podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip())
