#!/bin/sh
# Make the `busybox:latest` base image in the freight store, offline, from
# Debian's busybox-static. Usage: make-busybox-image.sh [TAG]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tag=${1:-busybox:latest}
freight=${FREIGHT:-freight}
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
"$here/busybox-rootfs.sh" "$rootfs"
"$freight" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["sh"]' \
    "$rootfs" "$tag"
