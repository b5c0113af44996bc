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

# --cgroups disabled: none at all.
run "$STRATA" run --rm --cgroups disabled bb:1 cat /proc/self/cgroup
assert_false "--cgroups disabled: no group of its own" grep -q strata "$T/out"

# ---- --memory: an OOM kill is 137 and OOMKilled ----

# tail keeps its one line, 100 MiB long, in memory: past 32m (and past the
# 64m of memory and swap --memory-swap defaults to).  Before the OOM kill,
# the kernel reclaims the group's file pages, which its processes fault
# back in: 14 s here, 85 s with strata built with ASan (the init's text is
# large), so this one command gets more than the usual 60 s.
STRATA_TIMEOUT=240 run "$STRATA" run --name "${P}oom" --memory 32m bb:1 \
	sh -c 'head -c 100m /dev/zero | tail >/dev/null'
assert_eq "--memory 32m, 100 MiB: killed, 137" 137 "$RC"
run "$STRATA" ps
assert_true "ps: OOMKilled" grep -Eq "^${P}oom .*Exited \(137, OOMKilled\)" "$T/out"
run "$STRATA" ps --json
assert_eq "ps --json: OOMKilled" true "$(python3 -c 'import json,sys
print(str([c for c in json.load(open(sys.argv[1])) if c["name"] == sys.argv[2]][0]["OOMKilled"]).lower())' \
	"$T/out" "${P}oom")"
run "$STRATA" inspect "${P}oom"
assert_eq "inspect of the container: OOMKilled, 137" "True 137" "$(python3 -c 'import json,sys
s = json.load(open(sys.argv[1])); print(s["OOMKilled"], s["exit_code"])' "$T/out")"
assert_true "after the OOM kill, no group left" no_groups "${P}oom"
run "$STRATA" run --name "${P}oom" --memory 32m bb:1 sh -c 'head -c 8m /dev/zero | tail | wc -c'
assert_eq "--memory 32m, 8 MiB: finishes" "0 8388608" "$RC $(cat "$T/out")"
run "$STRATA" ps
assert_true "ps: a run under the limit is no OOMKilled" grep -Eq "^${P}oom .*Exited \(0\) " "$T/out"
run "$STRATA" rm "${P}oom"

# ---- --pids-limit ----

# A shell forks sleeps until fork fails (and it dies), leaving them
# behind; the container counts its processes (init, exec server, the
# shell, sleeps).
# Then, with the sleeps gone, it forks again: it stays usable.
cat >"$T/pids.sh" <<'SH'
count() { n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; }
sh -c 'i=0; while [ $i -lt 40 ]; do sleep 2 & i=$((i+1)); done' 2>/dev/null
count; echo "procs=$n"
i=0
while [ "$n" -gt 3 ] && [ $i -lt 200000 ]; do count; i=$((i+1)); done
echo "usable $(echo forked)"
SH
run "$STRATA" run --rm --pids-limit 20 -v "$T/pids.sh:/pids.sh:ro" bb:1 sh /pids.sh
PROCS=$(sed -n 's/^procs=//p' "$T/out")
assert_true "--pids-limit 20: at most 20 processes (had ${PROCS:-?})" test "${PROCS:-99}" -le 20
assert_true "--pids-limit 20: the fork loop reached it (had ${PROCS:-?})" test "${PROCS:-0}" -ge 15
assert_true "--pids-limit 20: the container stays usable" grep -qx 'usable forked' "$T/out"
run "$STRATA" run --rm --pids-limit 0 -v "$T/pids.sh:/pids.sh:ro" bb:1 sh /pids.sh
# 40 sleeps, sh, the init and the exec server (tools/run_forker.c).
assert_eq "--pids-limit 0: no limit, all 40 sleeps" procs=43 "$(head -1 "$T/out")"

# ---- --cpus, measured from the group's own usage counter; stats ----

# A busy loop (bounded: it ends by itself in well under a minute at full
# speed) under --cpus 0.5; rm -f stops it.
"$STRATA" run --name "${P}cpu" --cpus 0.5 --memory 64m bb:1 \
	sh -c 'i=0; while [ $i -lt 30000000 ]; do i=$((i+1)); done' >/dev/null 2>&1 &
LAUNCHER=$!
wait_until 10 has_groups "${P}cpu" || fail "--cpus: the container's groups did not come"
# CPU time used so far, in microseconds: v1's cpuacct.usage (ns), v2's
# cpu.stat usage_usec.
cpu_usec() {
	local ns
	if ns=$(group_file "${P}cpu" cpuacct.usage); then
		echo $((ns / 1000))
	else
		group_file "${P}cpu" cpu.stat | awk '$1 == "usage_usec" { print $2 }'
	fi
}
sleep 0.5
U0=$(cpu_usec) T0=$(date +%s%N)
sleep 2
U1=$(cpu_usec) T1=$(date +%s%N)
SHARE=$(((U1 - U0) * 1000 * 100 / (T1 - T0)))
log "--cpus 0.5: the busy loop had ${SHARE}% of a CPU over $(((T1 - T0) / 1000000)) ms"
assert_true "--cpus 0.5: at most 50% of a CPU, +10 (had ${SHARE}%)" test "$SHARE" -le 60
# At least 40% too, unless the machine is too busy to give it that (other
# tests on the same 2 cores): then the quota must at least have bitten.
if [ "$(awk -v n="$(nproc)" '{ print ($1 < n - 0.5) }' /proc/loadavg)" = 1 ]; then
	assert_true "--cpus 0.5: at least 50% of a CPU, -10 (had ${SHARE}%)" test "$SHARE" -ge 40
	LOW=35
else
	log "--cpus 0.5: the machine is busy (load $(cut -d' ' -f1 /proc/loadavg)): the lower bound is not checked"
	assert_true "--cpus 0.5: throttled" test "$(group_file "${P}cpu" cpu.stat | awk '$1 == "nr_throttled" { print $2 }')" -gt 0
	LOW=0
fi

# stats: the numbers the group's files hold (usage moves a little).
run "$STRATA" stats --no-stream --format json "${P}cpu"
assert_eq "stats --no-stream --format json: exit 0" 0 "$RC"
MEMFILE=memory.limit_in_bytes PIDSFILE=pids.max
[ $LAYOUT != v2 ] || MEMFILE=memory.max
USAGE=$(group_file "${P}cpu" memory.usage_in_bytes || group_file "${P}cpu" memory.current)
python3 - "$T/out" "$LOW" "$(group_file "${P}cpu" $MEMFILE)" "$(group_file "${P}cpu" $PIDSFILE)" \
	"$(group_file "${P}cpu" pids.current)" "$USAGE" >"$T/check" <<'PY' || true
import json, sys
s = json.load(open(sys.argv[1]))[0]
low, lim, plim, pids, use = (int(a) for a in sys.argv[2:7])
print("mem_limit", s["mem_limit"] == lim, s["mem_limit"], lim)
print("pids_limit", s["pids_limit"] == plim == 2048, s["pids_limit"], plim)
print("pids", s["pids"] == pids, s["pids"], pids)
print("mem_usage", abs(s["mem_usage"] - use) <= use / 4, s["mem_usage"], use)
print("cpu_percent", low <= s["cpu_percent"] <= 65, s["cpu_percent"])
PY
while read -r what ok got want; do
	assert_eq "stats: $what is the group's ($got, file: $want)" True "$ok"
done <"$T/check"
assert_eq "stats: five numbers checked" 5 "$(wc -l <"$T/check")"
run "$STRATA" stats --no-stream
assert_true "stats: a table with the container" grep -Eq "^${P}cpu +[0-9.]+% +[0-9.]+ [kMG]?B / 67.1 MB " "$T/out"
run "$STRATA" stats --no-stream "${P}none"
assert_one_error_line "stats of no such container" 1

run "$STRATA" rm "${P}cpu"
assert_one_error_line "rm of a running container" 1
run "$STRATA" rm -f "${P}cpu"
assert_eq "rm -f of a running container: exit 0" 0 "$RC"
wait "$LAUNCHER" 2>/dev/null || true
assert_true "rm -f: no group left" no_groups "${P}cpu"
assert_false "rm -f: the container is gone" test -e "$T/store/strata/containers/${P}cpu"

# ---- a SIGKILLed launcher: the next strata command removes its groups ----

NAP=$((400000 + $$))
"$STRATA" run --name "${P}k9" --memory 64m bb:1 sleep "$NAP" >/dev/null 2>&1 &
LAUNCHER=$!
wait_until 10 has_groups "${P}k9" || fail "kill -9: the container's groups did not come"
wait_until 10 pgrep -f "slee[p] $NAP" >/dev/null || fail "kill -9: the container did not start"
kill -KILL "$LAUNCHER"
wait "$LAUNCHER" 2>/dev/null || true
wait_until 10 eval '! pgrep -f "slee[p] $NAP" >/dev/null' || fail "kill -9: the container lives on"
assert_true "kill -9: the groups stay until a strata command finds the container dead" has_groups "${P}k9"
run "$STRATA" ps
assert_true "kill -9, then ps: no group left" no_groups "${P}k9"
assert_false "kill -9, then ps: the record of its groups is gone" \
	test -e "$T/store/strata/containers/${P}k9/cgroups"
run "$STRATA" rm "${P}k9"
assert_eq "kill -9: rm after" 0 "$RC"

# ---- stats, streaming: a table a second, until the container ends ----

"$STRATA" run --name "${P}st" bb:1 sleep 3 >/dev/null 2>&1 &
LAUNCHER=$!
wait_until 10 has_groups "${P}st" || fail "stats: the container's groups did not come"
run "$STRATA" stats "${P}st"
wait "$LAUNCHER" 2>/dev/null || true
assert_eq "stats (streaming): ends by itself when the container does" 0 "$RC"
assert_true "stats (streaming): a table every second (got $(grep -c '^NAME' "$T/out"))" \
	test "$(grep -c '^NAME' "$T/out")" -ge 2
run "$STRATA" rm "${P}st"

# ---- the other limits, as the group's files say (cgroup v1 as root) ----

if [ $LAYOUT != v2 ]; then
	# The container reads its own groups through a bind of the host's.
	cat >"$T/files.sh" <<'SH'
g() { sed -n "s,^[0-9]*:$1:,/cg/$1,p" /proc/self/cgroup; }
cat "$(g cpu)/cpu.shares" "$(g memory)/memory.soft_limit_in_bytes"
cat "$(g memory)/memory.memsw.limit_in_bytes" 2>/dev/null || echo no-swap-accounting
grep Cpus_allowed_list /proc/self/status
SH
	run "$STRATA" run --rm --cpu-shares 512 --memory 64m --memory-reservation 32m \
		--memory-swap 96m --cpuset-cpus 0 -v /sys/fs/cgroup:/cg:ro -v "$T/files.sh:/files.sh:ro" \
		bb:1 sh /files.sh
	assert_eq "v1: cpu.shares, soft limit, memsw, cpuset" \
		"512 33554432 100663296 Cpus_allowed_list: 0" "$(tr '\n\t' '  ' <"$T/out" | sed 's/ *$//')"
	run "$STRATA" run --rm --cpu-weight 100 -v /sys/fs/cgroup:/cg:ro -v "$T/files.sh:/files.sh:ro" \
		bb:1 sh /files.sh
	assert_eq "v1: --cpu-weight 100 is cpu.shares 2597 (crun's mapping, inverted)" 2597 "$(head -1 "$T/out")"
fi
# --blkio-weight: applied where the disks' scheduler has weights, else
# one line saying so.
run "$STRATA" run --rm --blkio-weight 500 bb:1 true
if [ "$RC" != 0 ]; then
	assert_one_error_line "--blkio-weight without weights here" 1
	assert_true "--blkio-weight: says why" grep -q 'weight' "$T/err"
fi

# ---- what the options refuse ----

for args in "--memory-swap 64m" "--memory 64m --memory-swap 32m" "--cpus 0" "--cpus x" \
	"--pids-limit x" "--blkio-weight 5" "--cpu-shares 1" "--cpu-weight 10001" \
	"--cpuset-cpus a" "--memory 1q" "--cgroups no" "--cgroups disabled --memory 64m"; do
	# shellcheck disable=SC2086 # one option and its value, split
	run "$STRATA" run --rm $args bb:1 true
	assert_one_error_line "run $args: a usage error" 2
done

# ---- rootless ----

chmod 0666 /dev/fuse # as distributions ship it; the unprivileged run needs it
chmod 0755 "$T"
mkdir -p "$T/store-user" "$T/home"
chown 65534:65534 "$T/store-user" "$T/home"
as_user() {
	run setpriv --reuid 65534 --regid 65534 --clear-groups \
		env HOME="$T/home" STRATA_ROOT="$T/store-user" "$STRATA" "$@"
}
as_user import -q -t bb:1 "$T/bb.tar"
as_user_running() {
	as_user ps
	grep -Eq "^${P}u .* Up " "$T/out"
}
as_user run --rm bb:1 true
assert_eq "rootless, no limit asked: runs" 0 "$RC"
if [ $LAYOUT != v2 ]; then
	# Without groups, stats has nothing to read: dashes, and no wait.
	setpriv --reuid 65534 --regid 65534 --clear-groups env HOME="$T/home" \
		STRATA_ROOT="$T/store-user" "$STRATA" run --name "${P}u" bb:1 sleep 3 >/dev/null 2>&1 &
	LAUNCHER=$!
	wait_until 10 test -d "$T/store-user/strata/containers/${P}u" || true
	wait_until 10 as_user_running || fail "rootless: the container did not start"
	as_user stats "${P}u"
	assert_true "rootless on v1, stats: no numbers" grep -Eq "^${P}u +-- +-- / " "$T/out"
	wait "$LAUNCHER" 2>/dev/null || true
	as_user rm "${P}u"
fi
as_user run --rm --memory 32m bb:1 true
if [ $LAYOUT != v2 ]; then
	assert_one_error_line "rootless on cgroup v1, --memory: an error" 1
	assert_true "rootless on cgroup v1: says why" grep -q 'cannot be delegated safely' "$T/err"
elif [ "$RC" != 0 ]; then
	assert_one_error_line "rootless on cgroup v2 not delegated: an error" 1
fi

# ---- hosts that give less (as containers do) ----

if [ $LAYOUT != v2 ]; then
	# Read-only hierarchies (a container's /sys/fs/cgroup, often): root
	# runs without groups when no limit is asked, and says why when one is.
	RO='for m in /sys/fs/cgroup/*/; do mount -o remount,bind,ro "$m" "$m" 2>/dev/null || true; done; exec "$@"'
	run unshare --mount sh -c "$RO" sh "$STRATA" run --rm bb:1 true
	assert_eq "read-only cgroups, no limit: runs, silent" "0 " "$RC $ERR"
	run unshare --mount sh -c "$RO" sh "$STRATA" run --rm --memory 32m bb:1 true
	assert_one_error_line "read-only cgroups, --memory: an error" 1
	# A hierarchy whose mount shows only our own group (a container
	# without a cgroup namespace): our group is its mount point, not the
	# mount point plus our path.
	mkdir /sys/fs/cgroup/pids/"${P}sub"
	run bash -c 'echo $$ >"$1/cgroup.procs" && exec unshare --mount sh -c \
		"mount --bind \"\$0\" /sys/fs/cgroup/pids && exec \"\$@\"" "$1" "$2" run --rm bb:1 cat /proc/self/cgroup' \
		sh "/sys/fs/cgroup/pids/${P}sub" "$STRATA"
	assert_true "a mount of our own group only: the container's group below it" \
		grep -Eq "^[0-9]+:pids:/${P}sub/strata/[0-9a-f]+\$" "$T/out"
	rmdir /sys/fs/cgroup/pids/"${P}sub"
fi

# ---- a cgroup2 of our own, where it has controllers ----

# On a hybrid host the v1 hierarchies hold memory, cpu and pids; a cgroup2
# mounted in a mount namespace of ours has them only where nothing binds
# them to v1.
in_v2() {
	run unshare --mount sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec "$@"' sh \
		env STRATA_ROOT="$T/store" "$STRATA" "$@"
}
if unshare --mount sh -c 'mount -t cgroup2 none /sys/fs/cgroup &&
	grep -qw memory /sys/fs/cgroup/cgroup.controllers &&
	grep -qw pids /sys/fs/cgroup/cgroup.controllers' 2>/dev/null; then
	STRATA_TIMEOUT=240 in_v2 run --rm --memory 32m bb:1 sh -c 'head -c 100m /dev/zero | tail >/dev/null'
	assert_eq "v2: --memory 32m, 100 MiB: killed, 137" 137 "$RC"
	in_v2 run --rm --pids-limit 20 -v "$T/pids.sh:/pids.sh:ro" bb:1 sh /pids.sh
	assert_true "v2: --pids-limit 20" test "$(sed -n 's/^procs=//p' "$T/out")" -le 20
	assert_true "v2: no group left" no_groups "strata-$P*"
elif unshare --mount sh -c 'mount -t cgroup2 none /sys/fs/cgroup' 2>/dev/null; then
	# Without controllers, still a group of its own, removed after; a
	# limit asked is refused, naming what the group has.
	in_v2 run --rm bb:1 cat /proc/self/cgroup
	ID=$(sed -n 's,^0::/strata-\([^/]*\)$,\1,p' "$T/out")
	assert_ne "v2 without controllers: the container's own group" "" "$ID"
	assert_true "v2 without controllers: removed after" no_groups "strata-$ID"
	in_v2 run --rm --memory 32m bb:1 true
	assert_one_error_line "v2 without the memory controller" 1
	assert_true "v2 without the memory controller: named" \
		grep -q 'has no memory controller (its cgroup.controllers: ' "$T/err"
	# Rootless on that v2, whose root group is not the user's: no group,
	# and it runs as before.
	run unshare --mount sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec "$@"' sh \
		setpriv --reuid 65534 --regid 65534 --clear-groups \
		env HOME="$T/home" STRATA_ROOT="$T/store-user" "$STRATA" run --rm bb:1 cat /proc/self/cgroup
	assert_eq "v2, rootless, not delegated: runs without a group of its own" "0 0::/" \
		"$RC $(grep '^0::' "$T/out")"
	log "not tested: limits on a cgroup2 of our own (its controllers here: $(unshare --mount sh -c \
		'mount -t cgroup2 none /sys/fs/cgroup && cat /sys/fs/cgroup/cgroup.controllers' 2>&1 || true))"
fi

assert_eq "no group of this test left anywhere" "" "$(groups_of "$P*")"
finish
