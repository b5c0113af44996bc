#!/usr/bin/env bash
# The main job, end to end: make a two-layer image from Debian's
# busybox-static right now, mount it with strata, run a command inside it,
# unmount.  Run as root (chroot); expects ./build from .ci/setup.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
strata=${STRATA:-$top/build/tools/strata}
work=$(mktemp -d /tmp/strata-demo.XXXXXX)
mnt=$work/mnt
cleanup() {
	mountpoint -q "$mnt" 2>/dev/null && "$strata" umount "$mnt"
	rm -rf "$work"
}
trap cleanup EXIT

# Layer 1: a busybox root filesystem (plain tar).
mkdir -p "$work/base/bin" "$work/base/etc" "$work/base/tmp" "$mnt"
cp /bin/busybox "$work/base/bin/busybox"
for applet in sh ls cat echo uname id wc; do ln -s busybox "$work/base/bin/$applet"; done
echo 'NAME="strata demo"' >"$work/base/etc/os-release"
echo 'welcome to the base layer' >"$work/base/etc/motd"
tar --numeric-owner -C "$work/base" -cf "$work/base.tar" .

# Layer 2: changes one file and deletes another with an OCI whiteout (gzip).
mkdir -p "$work/top/etc"
echo 'welcome from the top layer' >"$work/top/etc/motd"
touch "$work/top/etc/.wh.os-release"
tar --numeric-owner -C "$work/top" -czf "$work/top.tar.gz" .

"$strata" mount --cache-dir "$work/cache" --layer "$work/base.tar" --layer "$work/top.tar.gz" "$mnt"
echo "mounted at $mnt:"
ls -l "$mnt" "$mnt/etc"
echo "running /bin/sh inside the image:"
# shellcheck disable=SC2016 # expanded by the shell inside the image
chroot "$mnt" /bin/sh -c 'cat /etc/motd; ls /etc; echo "busybox says: $(uname -s)"'
