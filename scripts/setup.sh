#!/bin/sh
# Prepare a fresh Debian 12 machine for freight: the Debian packages the demo
# and the tests use, and a virtual environment with freight and its pinned
# dependencies in .venv. Safe to run again: it only installs what is missing.
set -eu
cd "$(dirname "$0")/.."
packages="busybox-static skopeo umoci docker-registry mmdebstrap podman buildah crun runc docker.io tmux uidmap git libseccomp2 gcc libc6-dev qemu-user tini"
missing=""
for p in $packages; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup: installing Debian packages:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' --config-settings editable_mode=compat
