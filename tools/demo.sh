#!/usr/bin/env bash
# The main job, end to end: make a two-layer image from Debian's
# busybox-static right now, mount it with strata, run a command inside it,
# unmount; then import it into a store, run containers on it (strata run),
# diff and commit one.  Run as root (chroot); expects ./build from .ci/setup.
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
"$strata" umount "$mnt"

# The same layers as an image in a store of its own: run a container on it
# (new namespaces, the mount as its root), see what it changed, commit that
# as a new image, and run that.
store=$work/store
echo
echo "as an image in a store ($store):"
"$strata" import --root "$store" -q --tag demo:1 "$work/base.tar"
"$strata" images --root "$store"
echo "strata run --rm demo:1 ..."
# shellcheck disable=SC2016 # expanded by the shell inside the container
"$strata" run --root "$store" --rm --hostname demo demo:1 \
	/bin/sh -c 'echo "hello from $(hostname), pid $$, as uid $(id -u)"; cat /etc/motd'
"$strata" run --root "$store" --name dev demo:1 /bin/sh -c 'echo changed >/etc/motd; rm /etc/os-release'
echo "strata diff dev:"
"$strata" diff --root "$store" dev
"$strata" commit --root "$store" -m demo dev demo:2 >/dev/null
echo "strata run --rm demo:2 cat /etc/motd:"
"$strata" run --root "$store" --rm demo:2 /bin/cat /etc/motd
"$strata" layers --root "$store" demo:2
