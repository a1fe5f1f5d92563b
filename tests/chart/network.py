"""Just enough of the NetworkPolicy semantics to ask "may A reach B on port P?" of a render.

Selectors are matchLabels (what the chart uses); a rule without `from`/`to` admits every
peer, one without `ports` every port; a pod that no policy selects for a direction is open in
that direction. Traffic flows when the sender's egress and the receiver's ingress both allow it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Pod:
    labels: dict[str, str]
    namespace: str
    namespace_labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.namespace_labels.setdefault("kubernetes.io/metadata.name", self.namespace)


@dataclass(frozen=True)
class External:
    ip: str


Peer = Pod | External


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if set(selector) - {"matchLabels"}:
        raise NotImplementedError(f"selector {selector}: only matchLabels is modelled")
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def _peer_matches(rule_peer: dict[str, Any], policy_namespace: str, peer: Peer) -> bool:
    if "ipBlock" in rule_peer:
        if not isinstance(peer, External):
            return False  # pod IPs of the cluster are what ipBlock is not meant for here
        address = ipaddress.ip_address(peer.ip)
        block = rule_peer["ipBlock"]
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(cidr) for cidr in block.get("except", [])
        )
    if not isinstance(peer, Pod):
        return False
    if "namespaceSelector" in rule_peer:
        if not _matches(rule_peer["namespaceSelector"], peer.namespace_labels):
            return False
    elif peer.namespace != policy_namespace:
        return False
    return "podSelector" not in rule_peer or _matches(rule_peer["podSelector"], peer.labels)


def _port_allowed(ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    return any(p.get("port") == port and p.get("protocol", "TCP") == protocol for p in ports)


def _selecting(policies: list[Manifest], pod: Pod, direction: str) -> list[Manifest]:
    return [
        p
        for p in policies
        if p["metadata"].get("namespace", pod.namespace) == pod.namespace
        and direction in p["spec"].get("policyTypes", ["Ingress"])
        and _matches(p["spec"]["podSelector"], pod.labels)
    ]


def _allows(policies: list[Manifest], pod: Pod, peer: Peer, port: int, protocol: str, direction: str) -> bool:
    selecting = _selecting(policies, pod, direction)
    if not selecting:
        return True
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in selecting:
        namespace = policy["metadata"].get("namespace", pod.namespace)
        for rule in policy["spec"].get(key, []):
            peers = rule.get(peers_key)
            if _port_allowed(rule.get("ports"), port, protocol) and (
                peers is None or any(_peer_matches(p, namespace, peer) for p in peers)
            ):
                return True
    return False


def allowed(
    policies: list[Manifest], source: Peer, destination: Peer, port: int, protocol: str = "TCP"
) -> bool:
    """May `source` open a connection to `destination` on `port`?"""
    egress_ok = not isinstance(source, Pod) or _allows(
        policies, source, destination, port, protocol, "Egress"
    )
    ingress_ok = not isinstance(destination, Pod) or _allows(
        policies, destination, source, port, protocol, "Ingress"
    )
    return egress_ok and ingress_ok


def isolated(policies: list[Manifest], pod: Pod) -> set[str]:
    """The directions ("Ingress", "Egress") in which some policy selects the pod."""
    return {d for d in ("Ingress", "Egress") if _selecting(policies, pod, d)}
