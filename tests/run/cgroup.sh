#!/usr/bin/env bash
# Resource limits through cgroups, end to end on this host's layout (v1,
# hybrid or v2): the container's groups, --memory (an OOM kill is 137 and
# OOMKilled), --pids-limit, --cpus measured from the group's own usage
# counter, strata stats against the group's files, and no group left after
# --rm, rm -f or a SIGKILLed launcher.  Limits as root; rootless on v1 is a
# clear error.  And a cgroup2 mounted in a mount namespace of the test's
# own, where that one has controllers to give.
# shellcheck source=../integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

[ "$(id -u)" = 0 ] || skip 'needs root (cgroups, and a user to run as)'
command -v busybox >/dev/null || die 'busybox-static is not installed'

# The image: busybox and its applets, as a bare layer tar.
ROOTFS=$T/rootfs
mkdir -p "$ROOTFS"/{bin,etc,tmp}
cp "$(command -v busybox)" "$ROOTFS/bin/busybox"
for a in sh cat head tail sleep echo true wc grep; do
	ln -s busybox "$ROOTFS/bin/$a"
done
tar --numeric-owner --owner=0 --group=0 -C "$ROOTFS" -cf "$T/bb.tar" .
export STRATA_ROOT=$T/store
run "$STRATA" import -q -t bb:1 "$T/bb.tar"
assert_eq "import" 0 "$RC"

LAYOUT=v1
case "$(stat -fc %T /sys/fs/cgroup)" in
cgroup2fs) LAYOUT=v2 ;;
tmpfs) [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" != cgroup2fs ] || LAYOUT=hybrid ;;
*) skip "no cgroup file system at /sys/fs/cgroup" ;;
esac
log "cgroup layout: $LAYOUT"

# Containers are named after this test's pid: their groups are found, and
# any a failure left behind removed, by that name.
P=cg$$
groups_of() { find /sys/fs/cgroup -maxdepth 8 -type d -name "$1" 2>/dev/null; }
sweep() {
	local d
	for d in $(groups_of "$P*"); do rmdir "$d" 2>/dev/null || true; done
}
trap 'rc=$?; sweep; (exit $rc); cleanup' EXIT

# A group file of container $1: the first of its groups that has file $2.
group_file() {
	local d
	for d in $(groups_of "$1"); do
		[ -e "$d/$2" ] && { cat "$d/$2"; return 0; }
	done
	return 1
}
has_groups() { [ -n "$(groups_of "$1")" ]; }
no_groups() { [ -z "$(groups_of "$1")" ]; }

# ---- where the container runs, and that it goes ----

# The init joins the groups before the command starts: the command is in
# them (v1: strata/<name> under ours in each hierarchy; v2: strata-<name>).
run "$STRATA" run --rm bb:1 cat /proc/self/cgroup
assert_eq "run --rm: exit 0" 0 "$RC"
if [ $LAYOUT = v2 ]; then
	ID=$(sed -n 's,^0::.*/strata-\([^/]*\)$,\1,p' "$T/out")
else
	ID=$(sed -n 's,^[0-9]*:memory:.*/strata/\([^/]*\)$,\1,p' "$T/out")
	assert_true "v1: in a pids group too" grep -Eq "^[0-9]+:pids:.*/strata/$ID\$" "$T/out"
fi
assert_ne "the command runs in the container's group" "" "$ID"
assert_true "--rm: no group left" no_groups "$ID"

# ---- --memory: an OOM kill is 137 and OOMKilled ----

# tail keeps its one line, 100 MiB long, in memory: past 32m (and past the
# 64m of memory and swap --memory-swap defaults to).
run "$STRATA" run --name "${P}oom" --memory 32m bb:1 sh -c 'head -c 100m /dev/zero | tail >/dev/null'
assert_eq "--memory 32m, 100 MiB: killed, 137" 137 "$RC"
run "$STRATA" ps
assert_true "ps: OOMKilled" grep -Eq "^${P}oom .*exited \(137, OOMKilled\)" "$T/out"
run "$STRATA" ps --json
assert_eq "ps --json: OOMKilled" true "$(python3 -c 'import json,sys
print(str([c for c in json.load(open(sys.argv[1])) if c["name"] == sys.argv[2]][0]["OOMKilled"]).lower())' \
	"$T/out" "${P}oom")"
assert_true "after the OOM kill, no group left" no_groups "${P}oom"
run "$STRATA" run --name "${P}oom" --memory 32m bb:1 sh -c 'head -c 8m /dev/zero | tail | wc -c'
assert_eq "--memory 32m, 8 MiB: finishes" "0 8388608" "$RC $(cat "$T/out")"
run "$STRATA" ps
assert_true "ps: a run under the limit is no OOMKilled" grep -Eq "^${P}oom .*exited \(0\) " "$T/out"
run "$STRATA" rm "${P}oom"

# ---- --pids-limit ----

# A shell forks sleeps until fork fails (and it dies), leaving them
# behind; the container counts its processes (init, the shell, sleeps).
# Then, with the sleeps gone, it forks again: it stays usable.
cat >"$T/pids.sh" <<'SH'
count() { n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; }
sh -c 'i=0; while [ $i -lt 40 ]; do sleep 2 & i=$((i+1)); done' 2>/dev/null
count; echo "procs=$n"
i=0
while [ "$n" -gt 2 ] && [ $i -lt 200000 ]; do count; i=$((i+1)); done
echo "usable $(echo forked)"
SH
run "$STRATA" run --rm --pids-limit 20 -v "$T/pids.sh:/pids.sh:ro" bb:1 sh /pids.sh
PROCS=$(sed -n 's/^procs=//p' "$T/out")
assert_true "--pids-limit 20: at most 20 processes (had ${PROCS:-?})" test "${PROCS:-99}" -le 20
assert_true "--pids-limit 20: the fork loop reached it (had ${PROCS:-?})" test "${PROCS:-0}" -ge 15
assert_true "--pids-limit 20: the container stays usable" grep -qx 'usable forked' "$T/out"
run "$STRATA" run --rm --pids-limit 0 -v "$T/pids.sh:/pids.sh:ro" bb:1 sh /pids.sh
assert_eq "--pids-limit 0: no limit, all 40 sleeps" procs=42 "$(head -1 "$T/out")"

finish
