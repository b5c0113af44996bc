# shellcheck shell=bash
# What pjdfstest.sh and unionmount.sh share: where the third-party suites
# are, /etc/fuse.conf's user_allow_other for a daemon that is not root,
# and the comparison of the checks that failed with the expected-failures
# list.  Source after ../integration/lib.sh.
#
# The suites are unmodified upstream copies outside the repository, in
# ../shared/conformance/ next to it (README.md there says which commits),
# or in shared/conformance/ of a folder further up (a clone made one level
# deeper, as CI may); STRATA_CONFORMANCE names another copy.  Without them
# the test is skipped.

# conformance_dir NAME: sets SUITE_DIR to the suite's folder (skips the
# test when it is not there).
conformance_dir() {
	local here base dir
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	base=${STRATA_CONFORMANCE:-}
	dir=$here
	while [ -z "$base" ] && [ "$dir" != / ]; do
		dir=$(dirname "$dir")
		[ -d "$dir/shared/conformance" ] && base=$dir/shared/conformance
	done
	base=${base:-$here/../shared/conformance}
	SUITE_DIR=$base/$1
	[ -d "$SUITE_DIR" ] || skip "$1 is not in $base (set STRATA_CONFORMANCE to its folder)"
	SUITE_DIR=$(cd "$SUITE_DIR" && pwd)
}

# tree_hash DIR: one hash of every file's path and content below DIR (the
# key of a build cached from it).
tree_hash() {
	(cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) |
		sha256sum | cut -c 1-16
}

# ---- user_allow_other, for the rootless daemon's allow_other ----

FUSE_CONF=/etc/fuse.conf
FUSE_CONF_SAVED=''

# allow_other_for_users: puts user_allow_other in /etc/fuse.conf if it is
# not there, until restore_fuse_conf (or the EXIT trap) puts the file back
# as it was.  Other tests on the machine may do the same: keep the window
# short.
allow_other_for_users() {
	if grep -qx 'user_allow_other' "$FUSE_CONF" 2>/dev/null; then return 0; fi
	FUSE_CONF_SAVED=$T/fuse.conf.saved
	if [ -e "$FUSE_CONF" ]; then cp -p "$FUSE_CONF" "$FUSE_CONF_SAVED"; else : >"$FUSE_CONF_SAVED.absent"; fi
	printf 'user_allow_other\n' >>"$FUSE_CONF"
}

restore_fuse_conf() {
	[ -n "$FUSE_CONF_SAVED" ] || return 0
	if [ -e "$FUSE_CONF_SAVED.absent" ]; then
		rm -f "$FUSE_CONF"
	else
		# cat, not mv: the file keeps its inode, owner and mode.
		cat "$FUSE_CONF_SAVED" >"$FUSE_CONF"
	fi
	FUSE_CONF_SAVED=''
}

# lib.sh's trap, with /etc/fuse.conf restored first (cleanup reads $?).
conformance_cleanup() {
	local rc=$?
	restore_fuse_conf || printf 'could not restore %s\n' "$FUSE_CONF" >&2
	set +e
	(exit "$rc")
	cleanup
}
trap conformance_cleanup EXIT

# ---- expected failures ----

# compare_failures WHAT GOT EXPECTED [DESCRIBE]: GOT holds the keys of the
# checks that failed, one a line; EXPECTED "key<TAB>reason" lines.  Every
# key in one and not the other is a failure of this test: a new failure,
# or an expected one that now passes (the list must then shrink).  DESCRIBE
# KEY (a function) prints what a new failure said.
compare_failures() {
	local what=$1 got=$2 exp=$3 describe=${4:-} n_got n_new n_fixed key
	sort -u "$got" >"$got.sorted"
	cut -f 1 "$exp" | sort -u >"$exp.keys"
	comm -23 "$got.sorted" "$exp.keys" >"$T/new"
	comm -13 "$got.sorted" "$exp.keys" >"$T/fixed"
	n_got=$(wc -l <"$got.sorted")
	n_new=$(wc -l <"$T/new")
	n_fixed=$(wc -l <"$T/fixed")
	log "$what: $n_got failed, $((n_got - n_new)) of them expected; $n_new unexpected, $n_fixed expected but passed"
	if [ "$n_new" = 0 ]; then pass; else
		fail "$what: $n_new unexpected failure(s):"
		head -n 100 "$T/new" | while IFS= read -r key; do
			printf '  %s%s\n' "$key" "${describe:+: $("$describe" "$key" | cut -c 1-300)}"
		done >&2
	fi
	if [ "$n_fixed" = 0 ]; then pass; else
		fail "$what: $n_fixed expected failure(s) now pass (remove them from the list):"
		head -n 100 "$T/fixed" |
			awk -F '\t' 'NR == FNR { r[$1] = $2; next } { print "  " $0 "  (" r[$0] ")" }' "$exp" - >&2
	fi
}
