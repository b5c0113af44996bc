#!/usr/bin/env bash
# podman: Debian's podman with strata as its FUSE overlay
# (--storage-opt overlay.mount_program=...), as root and as an ordinary
# user (uid 65534, rootless, one id mapped): podman load of a busybox
# image, run, diff, commit, and build of a small Containerfile on the
# committed image; the mount_program is a wrapper that logs each call and
# execs strata, so that the test sees strata was used.
#
# Each podman runs with its own --root/--runroot under $T (nothing of the
# machine's podman state is touched) and a containers.conf that leaves the
# ulimits alone (podman's raised defaults fail with EPERM here), in a
# mount namespace of its own where /sys/fs/cgroup/unified is unmounted
# (crun refuses the hybrid cgroup layout otherwise).  --network none: no
# network.  Needs root, /dev/fuse, podman (.ci/setup installs it).
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

[ "$(id -u)" = 0 ] || skip 'needs root'
command -v podman >/dev/null || skip 'podman is not installed (.ci/setup installs it)'
if ! command -v unshare >/dev/null || ! command -v setpriv >/dev/null; then
	skip 'needs unshare and setpriv'
fi

chmod 0755 "$T"
busybox_layer "$T/bb.tar" sh cat echo ls rm mkdir id test
oci_layout "$T/oci" "$T/bb.tar" localhost/bb:1 '{"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]}' \
	'[{"created_by": "strata tests/extended/podman.sh"}]'
tar -C "$T/oci" -cf "$T/bb-oci.tar" .
cat >"$T/containers.conf" <<-'CONF'
	[containers]
	default_ulimits = []
	log_driver = "k8s-file"
	[engine]
	cgroup_manager = "cgroupfs"
	events_logger = "file"
CONF
# The mount_program: logs its arguments, then is strata.
cat >"$T/mount_program" <<-PROG
	#!/bin/sh
	printf '%s\n' "\$*" >>"\$(dirname "\$0")/mount_program.log"
	exec '$STRATA' "\$@"
PROG
chmod 0755 "$T/mount_program"
: >"$T/mount_program.log"
chmod 0666 "$T/mount_program.log" /dev/fuse

# The steps, run by root or by the user in the namespace podman_ns makes;
# $1 is the directory for podman's state.  Each step's output follows a
# "== STEP" line.
cat >"$T/steps.sh" <<-'STEPS'
	set -u
	D=$1
	T=$(dirname "$D")
	export CONTAINERS_CONF=$T/containers.conf HOME=$D/home XDG_RUNTIME_DIR=$D/xdg
	mkdir -p "$HOME" "$XDG_RUNTIME_DIR"
	chmod 0700 "$XDG_RUNTIME_DIR"
	pod() {
		timeout -k 5 120 podman --root "$D/storage" --runroot "$D/run" --storage-driver overlay \
			--storage-opt overlay.mount_program="$T/mount_program" \
			--storage-opt overlay.ignore_chown_errors=true \
			--cgroup-manager cgroupfs --events-backend file "$@" 2>&1 |
			grep -v 'level=\(warning\|error\) msg="\(.* is not a shared mount\|cannot find UID/GID\|Using rootless single mapping\)'
	}
	echo '== load'; pod load -q -i "$T/bb-oci.tar"
	echo '== run'; pod run --name c1 --network none localhost/bb:1 \
		sh -c 'echo hi >/tmp/new; rm /bin/ls; mkdir /d; echo x >/d/f; echo ran'
	echo '== diff'; pod diff c1 | sort
	echo '== commit'; pod commit -q c1 localhost/bb:2 >/dev/null && echo committed
	echo '== committed'; pod run --rm --network none localhost/bb:2 \
		sh -c 'cat /tmp/new /d/f; test -e /bin/ls && echo ls-there || echo ls-gone'
	mkdir -p "$D/ctx"
	printf 'FROM localhost/bb:2\nRUN echo built >/built && rm /tmp/new\n' >"$D/ctx/Containerfile"
	echo '== build'; pod build -q --network none -t localhost/bb:3 "$D/ctx" >/dev/null && echo built
	echo '== built'; pod run --rm --network none localhost/bb:3 \
		sh -c 'cat /built /d/f; test -e /tmp/new && echo new-there || echo new-gone'
	echo '== clean'; pod rm c1 >/dev/null; pod rmi -a -f >/dev/null; echo cleaned
	# A rootless podman leaves a pause process holding its namespaces.
	p=$(cat "$XDG_RUNTIME_DIR/libpod/tmp/pause.pid" 2>/dev/null || true)
	[ -z "$p" ] || kill "$p" 2>/dev/null || true
STEPS

# podman_ns WHO: the steps as WHO (root or user) in a private mount
# namespace without the cgroup v2 hierarchy of a hybrid host.
podman_ns() {
	local d=$T/$1 as=()
	mkdir -p "$d"
	if [ "$1" = user ]; then
		chown 65534:65534 "$d"
		as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	fi
	timeout -k 5 600 unshare -m --propagation private bash -c '
		! mountpoint -q /sys/fs/cgroup/unified || umount /sys/fs/cgroup/unified
		exec "$@"' _ "${as[@]}" bash "$T/steps.sh" "$d" 2>&1 || true
}

want=$(
	cat <<-'OUT'
		== load
		Loaded image: localhost/bb:1
		== run
		ran
		== diff
		A /d
		A /d/f
		A /tmp/new
		C /bin
		C /tmp
		D /bin/ls
		== commit
		committed
		== committed
		hi
		x
		ls-gone
		== build
		built
		== built
		built
		x
		new-gone
		== clean
		cleaned
	OUT
)
for who in root user; do
	: >"$T/mount_program.log"
	got=$(podman_ns "$who")
	# diff also lists /etc (podman's /etc/hosts and resolv.conf mount points).
	got=$(grep -vx 'C /etc' <<<"$got")
	assert_same_text "podman as $who: load, run, diff, commit, build" "$want" "$got"
	assert_true "podman as $who: strata was its mount_program" \
		grep -q '^-o lowerdir=.*upperdir=.*workdir=' "$T/mount_program.log"
	assert_true "podman as $who: diff and commit mounted without an upper" \
		grep -q '^-o lowerdir=[^,]*/diff:[^,]*/empty ' "$T/mount_program.log"
	assert_eq "podman as $who: nothing left mounted" '' \
		"$(awk -v t="$T/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo)"
done
finish
