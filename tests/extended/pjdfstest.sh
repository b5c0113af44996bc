#!/bin/bash
# pjdfstest: POSIX semantics of every file system call (238 scripts, 8,798
# checks on Linux), run as root inside a directory of a writable mount (a
# one-directory tar layer and an empty --upper), mounted with allow_other
# (the scripts switch to other users):
#
# - root: a daemon run as root;
# - rootless: a daemon run as uid/gid 65534 without a user namespace (so
#   it has no privilege at all), the tests still as root through
#   allow_other (user_allow_other in /etc/fuse.conf while it mounts).
#
# Every failed check (script and test number; a script that prints no
# plan or exits non-zero counts as one failure) is compared with
# pjdfstest.expected: the test fails on a failure not listed there and on
# a listed one that passed.  Each line there gives its reason.
#
# pjdfstest is built from ../shared/conformance/pjdfstest/ (autoconf,
# automake, cc) once and cached in EXTENDED_CACHE, keyed by a hash of its
# source.  Environment: STRATA_PJDFSTEST_MODES ("root rootless"),
# STRATA_PJDFSTEST_ONLY (a grep -E pattern on "chmod/00.t" names: run
# those scripts only), STRATA_PJDFSTEST_JOBS (scripts at once, 4),
# STRATA_CONFORMANCE_KEEP (a dir: the raw TAP and failures are copied
# there, to rewrite the list), STRATA_CONFORMANCE, STRATA_EXTENDED_CACHE.
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
# shellcheck source=conformance.sh
. "$(dirname "${BASH_SOURCE[0]}")/conformance.sh"

: "${EXTENDED_CACHE:?EXTENDED_CACHE must name the cache dir (meson sets it)}"
EXT=${STRATA_EXTENDED_CACHE:-$EXTENDED_CACHE}
EXPECTED=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/pjdfstest.expected
MODES=${STRATA_PJDFSTEST_MODES:-root rootless}
ONLY=${STRATA_PJDFSTEST_ONLY:-}
JOBS=${STRATA_PJDFSTEST_JOBS:-4}
# One script runs in a few seconds (rename/09.t, the longest, in ~40 s).
SCRIPT_TIMEOUT=600
NOBODY=65534
t_start=$(date +%s.%N)

[ "$(id -u)" = 0 ] || skip 'needs root'
conformance_dir pjdfstest
for c in autoreconf automake make cc perl setpriv; do
	command -v "$c" >/dev/null || die "$c is not installed (.ci/setup installs it)"
done
mkdir -p "$EXT"

# since T0: seconds since T0 (a `date +%s.%N`), e.g. 12.3.
since() { awk -v s="$1" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }'; }

# ensure_pjdfstest: sets PJD to the built copy (tests/ and the pjdfstest
# binary), building it the first time for this source.
ensure_pjdfstest() {
	local key old t0
	key=$(tree_hash "$SUITE_DIR")
	PJD=$EXT/pjdfstest-$key
	if [ -x "$PJD/pjdfstest" ] && [ -e "$PJD/.built" ]; then
		log "pjdfstest: cached $PJD"
		return 0
	fi
	log "pjdfstest: building $SUITE_DIR (once; cached in $PJD)"
	t0=$(date +%s.%N)
	for old in "$EXT"/pjdfstest-*; do
		[ ! -e "$old" ] || rm -rf "$old"
	done
	cp -r "$SUITE_DIR" "$PJD.tmp"
	chmod -R u+w "$PJD.tmp"
	if ! (cd "$PJD.tmp" && autoreconf -ifs && ./configure && make pjdfstest) >"$EXT/pjdfstest-build.log" 2>&1; then
		tail -n 20 "$EXT/pjdfstest-build.log" >&2
		die "building pjdfstest failed (log above, in $EXT/pjdfstest-build.log)"
	fi
	mv "$PJD.tmp" "$PJD"
	: >"$PJD/.built"
	log "pjdfstest: built in $(since "$t0") s"
}

# The scripts, as "chmod/00.t" names.
list_scripts() {
	(cd "$PJD/tests" && find . -name '*.t' -printf '%P\n') | sort |
		if [ -n "$ONLY" ]; then grep -E -- "$ONLY" || true; else cat; fi
}

# run_scripts DIR OUT: runs every script (JOBS at once) with DIR as the
# current directory; OUT/chmod_00.t.tap (stdout), .err, .rc for each.
run_scripts() {
	local dir=$1 out=$2
	mkdir -p "$out"
	list_scripts | tr '\n' '\0' |
		xargs -0 -r -P "$JOBS" -n 1 bash -c '
			o=$1/$(printf %s "$5" | tr / _)
			cd "$2" || exit 1
			timeout -k 5 "$4" sh "$3/$5" >"$o.tap" 2>"$o.err"
			echo $? >"$o.rc"' _ "$out" "$dir" "$PJD/tests" "$SCRIPT_TIMEOUT"
}

# failed_checks MODE OUT: "MODE chmod/00.t N" for each check that did not
# pass (a "not ok" with a TODO of pjdfstest's passes, as prove counts
# it); "... plan" for a script without a plan, "... exit" for one that
# exited non-zero (a crash, the timeout).  Sets PLANNED to the sum of the
# plans.
failed_checks() {
	local mode=$1 out=$2 name o rc
	PLANNED=0
	while IFS= read -r name; do
		o=$out/$(printf %s "$name" | tr / _)
		rc=$(cat "$o.rc" 2>/dev/null || echo none)
		awk -v mode="$mode" -v name="$name" -v rc="$rc" -v plans="$out/plans" '
			/^1\.\.[0-9]+/ && !plan { plan = substr($1, 4) + 0 }
			/^ok [0-9]+/ { ok[$2 + 0] = 1 }
			/^not ok [0-9]+/ && /# TODO/ { ok[$3 + 0] = 1 }
			END {
				if (!plan) print mode, name, "plan"
				for (i = 1; i <= plan; i++) if (!(i in ok)) print mode, name, i
				if (rc != "0") print mode, name, "exit"
				print plan >>plans
			}' "$o.tap"
	done < <(list_scripts)
	PLANNED=$(awk '{ s += $1 } END { print s + 0 }' "$out/plans")
}

# expected_checks MODE: the list's lines for MODE (and the scripts run),
# one "MODE chmod/00.t N<TAB>reason" per check.  A line is "MODE SCRIPT
# CHECKS REASON", CHECKS a comma-separated list of numbers, ranges
# (12-20), "plan" or "exit".
expected_checks() {
	awk -v mode="$1" '
		/^[[:space:]]*(#|$)/ { next }
		$1 != mode { next }
		{
			reason = $0
			sub(/^[^ \t]+[ \t]+[^ \t]+[ \t]+[^ \t]+[ \t]+/, "", reason)
			if (NF < 4 || reason == "") { print "line " NR ": no reason" > "/dev/stderr"; exit 1 }
			n = split($3, parts, ",")
			for (i = 1; i <= n; i++) {
				if (split(parts[i], r, "-") == 2)
					for (k = r[1] + 0; k <= r[2] + 0; k++) print $1 " " $2 " " k "\t" reason
				else
					print $1 " " $2 " " parts[i] "\t" reason
			}
		}' "$EXPECTED" |
		awk -F '\t' 'NR == FNR { run[$0] = 1; next } { split($1, k, " ") } k[2] in run' <(list_scripts) -
}

# describe_check "MODE SCRIPT N": what the script said of that check.
describe_check() {
	local mode script n o
	read -r mode script n <<<"$1"
	o=$T/out-$mode/$(printf %s "$script" | tr / _)
	case "$n" in
	plan | exit) printf 'exit %s, stderr: %s' "$(cat "$o.rc" 2>/dev/null)" "$(tail -c 200 "$o.err" | tr '\n' ' ')" ;;
	*) grep -m 1 -E "^not ok $n( |\$)" "$o.tap" || echo '(no line: the script stopped before it)' ;;
	esac
}

# ---- the mounts ----

# The lower layer: one directory, where the scripts run (their files in
# the upper, the directory itself copied up).
mkdir -p "$T/lower/pjd"
chmod 0755 "$T/lower" "$T/lower/pjd"
tar --numeric-owner -C "$T/lower" -cf "$T/lower.tar" .
chmod 0755 "$T"
chmod 0644 "$T/lower.tar"

# mount_root MNT UPPER: a daemon run as root.
mount_root() {
	mkdir -p "$2"
	smount "$1" -o allow_other --layer "$T/lower.tar" --upper "$2"
}

# mount_rootless MNT UPPER: a daemon run as 65534, no user namespace.
mount_rootless() {
	local mnt=$1 up=$2
	mkdir -p "$mnt" "$up" "$T/cache-$NOBODY"
	chown "$NOBODY:$NOBODY" "$mnt" "$up" "$T/cache-$NOBODY"
	MOUNTS+=("$mnt")
	# fusermount3 reads user_allow_other when it mounts, only then.
	allow_other_for_users
	run setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups \
		"$STRATA" mount -o allow_other --cache-dir "$T/cache-$NOBODY" \
		--layer "$T/lower.tar" --upper "$up" "$mnt"
	restore_fuse_conf
	[ "$RC" = 0 ] || die "rootless strata mount: exit $RC: $ERR"
	is_mounted "$mnt" || die 'rootless strata mount: exit 0 but nothing is mounted'
}

# ---- the runs ----

ensure_pjdfstest
n_scripts=$(list_scripts | wc -l)
[ "$n_scripts" -gt 0 ] || die "no script matches STRATA_PJDFSTEST_ONLY=$ONLY"
: >"$T/all.failed"
for mode in $MODES; do
	case "$mode" in
	root | rootless) ;;
	*) die "unknown mode $mode in STRATA_PJDFSTEST_MODES" ;;
	esac
	M=$T/mnt-$mode
	"mount_$mode" "$M" "$T/upper-$mode"
	assert_true "$mode: the layer's directory is there" test -d "$M/pjd"
	t0=$(date +%s.%N)
	run_scripts "$M/pjd" "$T/out-$mode"
	secs=$(since "$t0")
	sumount "$M"
	failed_checks "$mode" "$T/out-$mode" >"$T/$mode.failed"
	n_failed=$(wc -l <"$T/$mode.failed")
	log "$mode: $n_scripts scripts, $PLANNED checks planned, $n_failed failed, in $secs s ($JOBS at once)"
	expected_checks "$mode" >"$T/$mode.expected" || die "bad line in $EXPECTED"
	compare_failures "pjdfstest, $mode daemon" "$T/$mode.failed" "$T/$mode.expected" describe_check
	cat "$T/$mode.failed" >>"$T/all.failed"
done

if [ -n "${STRATA_CONFORMANCE_KEEP:-}" ]; then
	mkdir -p "$STRATA_CONFORMANCE_KEEP"
	for mode in $MODES; do
		rm -rf "${STRATA_CONFORMANCE_KEEP:?}/pjdfstest-$mode"
		cp -r "$T/out-$mode" "$STRATA_CONFORMANCE_KEEP/pjdfstest-$mode"
	done
	cp "$T/all.failed" "$STRATA_CONFORMANCE_KEEP/pjdfstest.failed"
	log "raw TAP and failures kept in $STRATA_CONFORMANCE_KEEP"
fi
log "pjdfstest: done in $(since "$t_start") s"
finish
