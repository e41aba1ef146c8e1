#!/bin/sh
# Prepare a fresh Debian 12 machine for freight: the Debian packages the demo
# and the tests use, and a virtual environment with freight and its pinned
# dependencies in .venv, and an environment an ordinary user can run (see
# user_env below). Safe to run again: it only installs what is missing.
set -eu
cd "$(dirname "$0")/.."
packages="busybox-static skopeo umoci docker-registry mmdebstrap podman buildah crun runc runsc golang-github-opencontainers-specs-dev docker.io tmux uidmap git libseccomp2 gcc libc6-dev qemu-user iproute2 nftables aardvark-dns python3-venv fuse-overlayfs fuse3 slirp4netns docker-compose tini"
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

# The rootless tests run freight as an ordinary user, who can run neither a Python
# installed under a private home (such as pyenv's under /root) nor read a checkout
# there: so Debian's own Python gets a virtual environment in a system path, one per
# checkout, with a copy of freight installed (the tests refresh that copy from the
# checkout before they use it).
user_env=${FREIGHT_USER_ENV:-/usr/local/lib/freight-user-env/$(pwd -P | tr -d "\n" | sha1sum | cut -c1-12)}
wanted=$(sha1sum < pyproject.toml | cut -c1-40)  # reinstalled when the dependencies change
if [ ! -x "$user_env/bin/freight" ] || [ "$(cat "$user_env/.pyproject.sha1" 2>/dev/null)" != "$wanted" ] \
        || ! ls -d "$user_env"/lib/python3*/site-packages/docker >/dev/null 2>&1; then
    echo "setup: making the environment for ordinary users in $user_env"
    [ -x "$user_env/bin/python" ] || /usr/bin/python3 -m venv "$user_env"
    # docker-py (pinned as in the test extra) drives the user's own API service in the tests
    docker_py=$(grep -o '"docker==[^"]*"' pyproject.toml | tr -d '"')
    "$user_env/bin/python" -m pip install -q --disable-pip-version-check . "$docker_py"
    echo "$wanted" > "$user_env/.pyproject.sha1"
fi
chmod -R go+rX "$user_env"
