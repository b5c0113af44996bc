#!/usr/bin/env bash
# bench/podman.sh: `podman run --rm IMG true` with strata vs fuse-overlayfs
# as podman's mount_program, in one run, alternating, medians.
#
#   sudo bench/podman.sh [--runs N] [--strata PATH]
#
# Root; podman, fuse-overlayfs and busybox-static installed.  Each program
# gets its own podman storage (--root/--runroot in a temp dir) holding a
# busybox image (podman import); podman runs in a private mount namespace
# without /sys/fs/cgroup/unified (crun refuses the hybrid layout) and with
# a containers.conf that leaves the ulimits alone, as tests/extended/
# podman.sh does.  A first, untimed run of each warms the caches.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
runs=11
strata=$here/../build/tools/strata
while [ $# -gt 0 ]; do
	case "$1" in
	--runs) runs=$2; shift 2 ;;
	--strata) strata=$2; shift 2 ;;
	-h | --help) sed -n '2,12p' "$0"; exit 0 ;;
	*) echo "bench/podman.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo 'bench/podman.sh: needs root' >&2; exit 1; }
for p in podman fuse-overlayfs busybox; do
	command -v "$p" >/dev/null || { echo "bench/podman.sh: $p is not installed" >&2; exit 1; }
done

T=$(mktemp -d /tmp/strata-bench-podman.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin"
cp "$strata" "$T/bin/strata" # a rebuild during the run changes nothing
mkdir -p "$T/root/bin"
cp "$(command -v busybox)" "$T/root/bin/busybox"
ln -s busybox "$T/root/bin/true"
ln -s busybox "$T/root/bin/sh"
tar --numeric-owner --owner=0 --group=0 -C "$T/root" -cf "$T/bb.tar" .
printf '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' \
	>"$T/containers.conf"

# The timed loop, inside the namespace: prints one duration (ms) a line,
# for strata then fuse-overlayfs, alternating.
cat >"$T/loop.sh" <<-'LOOP'
	set -eu
	T=$1 runs=$2
	! mountpoint -q /sys/fs/cgroup/unified || umount /sys/fs/cgroup/unified
	export CONTAINERS_CONF=$T/containers.conf
	pod() {
		podman --root "$T/$1/storage" --runroot "$T/$1/run" --storage-driver overlay \
			--storage-opt overlay.mount_program="$2" --cgroup-manager cgroupfs \
			--events-backend file "${@:3}"
	}
	for w in strata fuse-overlayfs; do
		prog=$T/bin/strata
		[ "$w" = strata ] || prog=$(command -v fuse-overlayfs)
		pod "$w" "$prog" import -q "$T/bb.tar" localhost/bb:1 >/dev/null
		pod "$w" "$prog" run --rm --network none localhost/bb:1 true # warm
	done
	for _ in $(seq "$runs"); do
		for w in strata fuse-overlayfs; do
			prog=$T/bin/strata
			[ "$w" = strata ] || prog=$(command -v fuse-overlayfs)
			s=$(date +%s%N)
			pod "$w" "$prog" run --rm --network none localhost/bb:1 true
			e=$(date +%s%N)
			echo "$w $(((e - s) / 1000))"
		done
	done
LOOP
unshare -m --propagation private bash "$T/loop.sh" "$T" "$runs" >"$T/times"
median() {
	awk -v w="$1" '$1 == w { print $2 }' "$T/times" | sort -n |
		awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f", m / 1000 }'
}
s=$(median strata)
f=$(median fuse-overlayfs)
printf 'podman run --rm IMG true, %d runs each, medians (load %s):\n' "$runs" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '  strata          %8s ms\n  fuse-overlayfs  %8s ms\n  ratio           %8s\n' "$s" "$f" \
	"$(awk -v a="$s" -v b="$f" 'BEGIN { printf "%.2fx", a / b }')"
