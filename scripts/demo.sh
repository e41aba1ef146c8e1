#!/bin/sh
# The main job, offline: make a busybox base image locally and show it.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
export FREIGHT_ROOT="${FREIGHT_ROOT:-$PWD/.demo-root}"
echo "== making busybox:latest from Debian's busybox-static"
./scripts/make-busybox-image.sh busybox:latest
echo "== freight images"
freight images
