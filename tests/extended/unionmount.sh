#!/bin/bash
# unionmount-testsuite: overlay semantics (copy-up, whiteouts, renames of
# lower directories, hard links, symlinks, permissions) through
# `./run --ov --fuse=strata`, each of its 58 scripts (all of its list but
# rename-exdev, the --xdev alternative: strata renames lower directories)
# in its own directories, JOBS at once, in two modes:
#
# - ov=3: `run --ov=3`: after each mkdir, rename and link a remount in
#   which the upper becomes the top lower layer and a new upper is made
#   (three times, then plain remounts); then the ov pass;
# - ov: `run --ov`, one mount per script over one lower directory.  A
#   script that passed ov=3 passed this pass there, and is not run again.
#
# The suite mounts with `mount -t fuse.strata strata MNT
# -olowerdir=…,upperdir=…,workdir=…`: mount(8) runs
# /sbin/mount.fuse.strata, strata's own mount helper (a link to $STRATA,
# which meson install puts in sbindir), which this test puts there for its
# run (under a lock; removed by the EXIT trap).  Each lower directory is a
# directory layer; the helper mounts as root with allow_other, as
# fuse-overlayfs does (the suite also works as uid 1).  The suite unmounts
# with umount(8), which does not wait for the daemon.
#
# A script that exits non-zero fails; the failures are compared with
# unionmount.expected ("MODE SCRIPT REASON" lines), as pjdfstest.sh does.
# Needs root, /dev/fuse, python3.  Environment: STRATA_UNIONMOUNT_MODES
# ("ov=3 ov"), STRATA_UNIONMOUNT_ONLY (a grep -E pattern on script names),
# STRATA_UNIONMOUNT_JOBS (3), STRATA_CONFORMANCE_KEEP (a dir for the
# logs), STRATA_CONFORMANCE.
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
# shellcheck source=conformance.sh
. "$(dirname "${BASH_SOURCE[0]}")/conformance.sh"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
EXPECTED=$HERE/unionmount.expected
MODES=${STRATA_UNIONMOUNT_MODES:-ov=3 ov}
ONLY=${STRATA_UNIONMOUNT_ONLY:-}
JOBS=${STRATA_UNIONMOUNT_JOBS:-3}
# One script runs in 1 to 10 s.
SCRIPT_TIMEOUT=300
HELPER=/sbin/mount.fuse.strata
LOCK=/run/lock/strata-unionmount.lock
t_start=$(date +%s.%N)

[ "$(id -u)" = 0 ] || skip 'needs root'
conformance_dir unionmount-testsuite
command -v python3 >/dev/null || die 'python3 is not installed (.ci/setup installs it)'

since() { awk -v s="$1" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }'; }

# The scripts `run` runs by default with directory renames on: its
# `tests` lists, but the --xdev alternative.
list_scripts() {
	python3 - "$SUITE_DIR/run" <<-'EOF' | if [ -n "$ONLY" ]; then grep -E -- "$ONLY" || true; else cat; fi
		import ast, sys
		for node in ast.walk(ast.parse(open(sys.argv[1]).read())):
		    if isinstance(node, (ast.Assign, ast.AugAssign)) and isinstance(node.value, ast.List):
		        target = node.targets[0] if isinstance(node, ast.Assign) else node.target
		        if isinstance(target, ast.Name) and target.id == "tests":
		            for e in node.value.elts:
		                if e.value != "rename-exdev":
		                    print(e.value)
	EOF
}

# ---- the mount helper, for this run only ----

# One run at a time puts the helper there and takes it away.
exec 9>"$LOCK"
flock -w 1800 9 || die "another unionmount test holds $LOCK"
# A link to a strata build's binary is this test's (one a killed run left).
if [ -e "$HELPER" ] || [ -L "$HELPER" ]; then
	case "$(readlink "$HELPER" || true)" in
	*/tools/strata) ;;
	*) die "$HELPER exists and is not this test's: not replacing it" ;;
	esac
fi
HELPER_OURS=''
unionmount_cleanup() {
	local rc=$?
	[ -z "$HELPER_OURS" ] || rm -f "$HELPER" "$HELPER.tmp" || true
	set +e
	(exit "$rc")
	conformance_cleanup
}
trap unionmount_cleanup EXIT
HELPER_OURS=1
ln -sfn "$STRATA" "$HELPER.tmp"
mv -T "$HELPER.tmp" "$HELPER"

# ---- the runs ----

# The suite also works as uid 1 (seteuid), below $T.
chmod 0755 "$T"

mapfile -t scripts < <(list_scripts)
[ "${#scripts[@]}" -gt 0 ] || die "no script matches STRATA_UNIONMOUNT_ONLY=$ONLY"
for mode in $MODES; do
	case "$mode" in
	ov | ov=[0-9]*) ;;
	*) die "unknown mode $mode in STRATA_UNIONMOUNT_MODES" ;;
	esac
	for s in "${scripts[@]}"; do MOUNTS+=("$T/$mode/$s/mnt"); done
done

# passed_plain_pass SCRIPT: SCRIPT passed an ov=N mode already run, which
# ends with the --ov pass (sets PLAIN_IN to that mode).
passed_plain_pass() {
	local d
	for d in "$T"/ov=*; do
		[ "$(cat "$d/$1.rc" 2>/dev/null)" = 0 ] || continue
		grep -qE "^\*\*\* .*/run --ov $1\$" "$d/$1.log" || continue
		PLAIN_IN=${d##*/}
		return 0
	done
	return 1
}

# describe_script "MODE SCRIPT": the last line the script printed.
describe_script() {
	local mode s
	read -r mode s <<<"$1"
	tail -n 1 "$T/$mode/$s.log"
}

# run_scripts MODE SCRIPT...: each script with its own lower, base and
# mount point under $T/MODE/SCRIPT; its output in .log, its exit status in
# .rc; what it leaves mounted (`run` leaves a last mount "for further
# playing") is unmounted.
run_scripts() {
	local mode=$1
	shift
	[ $# -gt 0 ] || return 0
	printf '%s\0' "$@" |
		xargs -0 -r -P "$JOBS" -n 1 bash -c '
			d=$1/$2/$5
			mkdir -p "$d/base" "$d/lower" "$d/mnt"
			cd "$d" || exit 1
			UNIONMOUNT_BASEDIR=$d/base UNIONMOUNT_LOWERDIR=$d/lower UNIONMOUNT_MNTPOINT=$d/mnt \
				timeout -k 5 "$4" python3 "$3/run" "--$2" --fuse=strata "$5" >"$d.log" 2>&1
			echo $? >"$d.rc"
			while awk -v m="$d/mnt" '\''$5 == m { f = 1 } END { exit !f }'\'' /proc/self/mountinfo; do
				umount "$d/mnt" || { umount -l "$d/mnt"; break; }
			done' _ "$T" "$mode" "$SUITE_DIR" "$SCRIPT_TIMEOUT" 9>&-
}

: >"$T/all.failed"
for mode in $MODES; do
	t0=$(date +%s.%N)
	todo=()
	mkdir -p "$T/$mode"
	for s in "${scripts[@]}"; do
		if [ "$mode" = ov ] && passed_plain_pass "$s"; then
			echo 0 >"$T/$mode/$s.rc"
			printf 'passed the --ov pass of --%s\n' "$PLAIN_IN" >"$T/$mode/$s.log"
		else
			todo+=("$s")
		fi
	done
	run_scripts "$mode" "${todo[@]}"
	secs=$(since "$t0")
	for s in "${scripts[@]}"; do
		[ "$(cat "$T/$mode/$s.rc" 2>/dev/null)" = 0 ] || printf '%s %s\n' "$mode" "$s"
	done >"$T/$mode.failed"
	n_failed=$(wc -l <"$T/$mode.failed")
	log "$mode: ${#scripts[@]} scripts, $n_failed failed; ${#todo[@]} run in $secs s ($JOBS at once)"
	awk -v mode="$mode" '
		/^[[:space:]]*(#|$)/ { next }
		$1 == mode {
			reason = $0
			sub(/^[^ \t]+[ \t]+[^ \t]+[ \t]+/, "", reason)
			if (NF < 3) { print "line " NR ": no reason" > "/dev/stderr"; exit 1 }
			print $1 " " $2 "\t" reason
		}' "$EXPECTED" >"$T/$mode.expected" || die "bad line in $EXPECTED"
	awk -F '\t' 'NR == FNR { run[$0] = 1; next } { split($1, k, " ") } k[2] in run' \
		<(printf '%s\n' "${scripts[@]}") "$T/$mode.expected" >"$T/$mode.expected.run"
	compare_failures "unionmount-testsuite --$mode" "$T/$mode.failed" "$T/$mode.expected.run" describe_script
	cat "$T/$mode.failed" >>"$T/all.failed"
done
assert_eq 'nothing is left mounted under the runs' '' \
	"$(awk -v t="$T/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo)"

if [ -n "${STRATA_CONFORMANCE_KEEP:-}" ]; then
	mkdir -p "$STRATA_CONFORMANCE_KEEP"
	for mode in $MODES; do
		rm -rf "${STRATA_CONFORMANCE_KEEP:?}/unionmount-$mode"
		mkdir -p "$STRATA_CONFORMANCE_KEEP/unionmount-$mode"
		cp "$T/$mode"/*.log "$STRATA_CONFORMANCE_KEEP/unionmount-$mode/"
	done
	cp "$T/all.failed" "$STRATA_CONFORMANCE_KEEP/unionmount.failed"
	log "logs kept in $STRATA_CONFORMANCE_KEEP"
fi
log "unionmount: done in $(since "$t_start") s"
finish
