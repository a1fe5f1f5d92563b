#!/usr/bin/env bash
# Podman without Docker, for the image checks of `make test` (tests/images): podman, runc and
# debootstrap from Debian's packages, podman set up the way it works in these sandboxes, and a
# stand-in for the official Python base image that the Dockerfiles' FROM names, built from
# Debian's own python3 (Docker Hub is out of reach here). Users build with Docker and the real
# base; nothing of this reaches their images.
#
#   tools/container_base.sh            install what is missing, then build the base if missing
#   tools/container_base.sh --check    exit 0 when podman and the base are ready, else 1
set -euo pipefail

BASE_IMAGE=$(sed -n 's/^FROM \([^ ]*\) AS build$/\1/p' services/query/Dockerfile)
ready() {
    command -v podman >/dev/null 2>&1 && podman image exists "$BASE_IMAGE" 2>/dev/null
}
if [ "${1:-}" = "--check" ]; then
    ready
    exit $?
fi
if ready; then
    exit 0
fi
if ! command -v podman >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "container_base: podman and debootstrap are missing and cannot be installed here (needs root and apt-get)" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah runc debootstrap >/dev/null
fi
# crun fails on cgroups here, and podman's default ulimits exceed the shell's hard limits.
if [ "$(id -u)" = 0 ] && ! grep -q tagpulse /etc/containers/containers.conf 2>/dev/null; then
    # One figure for both, no higher than either hard limit (nor 20000: runc was refused more).
    limit=20000
    for hard in "$(ulimit -Hn)" "$(ulimit -Hu)"; do
        if [ "$hard" != unlimited ] && [ "$hard" -lt "$limit" ]; then limit=$hard; fi
    done
    cat >>/etc/containers/containers.conf <<CONF
# tagpulse: tools/container_base.sh
[containers]
default_ulimits = ["nofile=$limit:$limit", "nproc=$limit:$limit"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
fi
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" \
    http://deb.debian.org/debian >/dev/null
# The official image's python is /usr/local/bin/python.
ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
tar -C "$rootfs" -c . | podman import - localhost/tagpulse-python-base >/dev/null
podman tag localhost/tagpulse-python-base "$BASE_IMAGE"
echo "container_base: $BASE_IMAGE is Debian bookworm's python3 (a stand-in for the official image)"
