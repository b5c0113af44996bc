# shellcheck shell=bash
# Shared helpers for strata's integration tests.  Source it first thing:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# It gives every test a temp dir ($T) with a cache dir ($CACHE), a trap that
# always unmounts what the test mounted and ends the daemons it started, and
# assertions that print what differed and count failures instead of stopping
# at the first.  A test ends with `finish`.
#
# Environment (set by meson): STRATA, MKLAYER and DIRWALK name the binaries
# (strata itself, and the two test helpers built here).

set -euo pipefail
export LC_ALL=C

: "${STRATA:?STRATA must name the strata binary}"
: "${MKLAYER:?MKLAYER must name the mklayer binary}"

TEST_NAME=$(basename "$0" .sh)
T=$(mktemp -d "${TMPDIR:-/tmp}/strata-it-$TEST_NAME.XXXXXX")
CACHE=$T/cache
mkdir -p "$CACHE"
MOUNTS=()
FAILED=0
CHECKS=0
# Upper bound for one strata command (a hung daemon must not hang the suite).
STRATA_TIMEOUT=${STRATA_TIMEOUT:-60}

log() { printf '%s\n' "$*"; }

fail() {
	FAILED=$((FAILED + 1))
	printf 'FAIL: %s\n' "$*" >&2
}

pass() { CHECKS=$((CHECKS + 1)); }

# Stops the test at once (a precondition failed, nothing after it makes sense).
die() {
	printf 'FATAL: %s\n' "$*" >&2
	FAILED=$((FAILED + 1))
	exit 1
}

# skip REASON: meson counts exit 77 as SKIP.
skip() {
	printf 'SKIP: %s\n' "$*"
	exit 77
}

# ---- mounts ----

# True when $1 (an absolute path) is a mount point in this namespace.
is_mounted() {
	awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# Pids of processes whose command line mentions $1 (one of our temp paths,
# so only processes this test started).
pids_of() {
	pgrep -f -- "$1" || true
}

# strata_pids MNT: pids of the strata processes (by argv[0]) whose last
# argument is MNT, i.e. the daemon serving MNT.
strata_pids() {
	local d args
	for d in /proc/[0-9]*; do
		{ mapfile -d '' -t args <"$d/cmdline"; } 2>/dev/null || continue
		[ "${#args[@]}" -ge 2 ] || continue
		[ "${args[0]##*/}" = strata ] || continue
		[ "${args[-1]}" != "$1" ] || printf '%s\n' "${d#/proc/}"
	done
}

not_mounted() { ! is_mounted "$1"; }
no_daemon() { [ -z "$(strata_pids "$1")" ]; }

force_unmount() {
	local m=$1
	is_mounted "$m" || return 0
	fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
}

cleanup() {
	local rc=$? m p i
	trap - EXIT INT TERM
	for m in "${MOUNTS[@]}"; do
		force_unmount "$m"
	done
	# Daemons of this test that outlived their mount: give them a moment.
	for i in 1 2 3 4 5 6 7 8 9 10; do
		[ -n "$(pids_of "$T/")" ] || break
		[ "$i" = 10 ] || { sleep 0.2; continue; }
		for p in $(pids_of "$T/"); do
			kill -KILL "$p" 2>/dev/null || true
		done
	done
	if grep -qF " $T/" /proc/self/mountinfo; then
		printf 'leaving %s: something under it is still mounted\n' "$T" >&2
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run CMD...: runs CMD (with a timeout), never fails; sets RC, and leaves
# stdout in $T/out and stderr in $T/err (stderr also in $ERR).
run() {
	set +e
	timeout -k 5 "$STRATA_TIMEOUT" "$@" >"$T/out" 2>"$T/err"
	RC=$?
	set -e
	ERR=$(cat "$T/err")
}

# smount MNT [strata mount args...]: mounts (the cache dir is added), dies
# when the mount does not come up.  Prints strata's stderr, if any.
smount() {
	local mnt=$1
	shift
	mkdir -p "$mnt"
	MOUNTS+=("$mnt")
	run "$STRATA" mount --cache-dir "$CACHE" "$@" "$mnt"
	[ -z "$ERR" ] || printf 'strata mount stderr: %s\n' "$ERR" >&2
	if [ "$RC" != 0 ]; then
		die "strata mount $* $mnt: exit $RC"
	fi
	is_mounted "$mnt" || die "strata mount $* $mnt: exit 0 but nothing is mounted"
}

# layers FILE...: prints "--layer F1 --layer F2 ..." words into the LAYER_ARGS array.
layer_args() {
	LAYER_ARGS=()
	local f
	for f in "$@"; do
		LAYER_ARGS+=(--layer "$f")
	done
}

# sumount MNT: unmounts with `strata umount`, checks it worked.
sumount() {
	local mnt=$1
	run "$STRATA" umount "$mnt"
	if [ "$RC" != 0 ]; then
		fail "strata umount $mnt: exit $RC, stderr: $ERR"
		force_unmount "$mnt"
	elif is_mounted "$mnt"; then
		fail "strata umount $mnt: exit 0 but still mounted"
		force_unmount "$mnt"
	else
		pass
	fi
}

# wait_until TIMEOUT_S CMD...: polls CMD every 0.1 s.
wait_until() {
	local limit=$(($1 * 10)) i=0
	shift
	while ! "$@"; do
		i=$((i + 1))
		[ "$i" -lt "$limit" ] || return 1
		sleep 0.1
	done
}

# needs_evict: skips the test where the kernel's caches cannot be dropped.
needs_evict() {
	[ -w /proc/sys/vm/drop_caches ] || skip "needs to write /proc/sys/vm/drop_caches"
}

# evict: the kernel forgets every dentry and inode nothing uses (the
# daemon gets FORGET for each), and clean pages.
evict() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# ---- layers ----

# mk OUT [mklayer options] < SPEC
mk() {
	local out=$1
	shift
	"$MKLAYER" "$@" "$out" || die "mklayer $* $out failed"
}

# Prints the mklayer fill pattern: pattern OFF LEN [SEED]
pattern() {
	"$MKLAYER" -p "$1:$2:${3:-0}"
}

# ---- assertions ----

# assert_eq WHAT EXPECTED GOT
assert_eq() {
	if [ "$2" == "$3" ]; then
		pass
	else
		fail "$1: expected '$2', got '$3'"
	fi
}

# assert_ne WHAT UNEXPECTED GOT
assert_ne() {
	if [ "$2" != "$3" ]; then
		pass
	else
		fail "$1: expected anything but '$2'"
	fi
}

# assert_true WHAT CMD...: CMD must succeed (its stdout is dropped).
assert_true() {
	local what=$1
	shift
	if "$@" >/dev/null; then
		pass
	else
		fail "$what: '$*' failed"
	fi
}

# assert_false WHAT CMD...: CMD must fail.
assert_false() {
	local what=$1
	shift
	if "$@" 2>/dev/null; then
		fail "$what: '$*' succeeded"
	else
		pass
	fi
}

# assert_same_file WHAT EXPECTED_FILE GOT_FILE: byte-for-byte (diff shown for text).
assert_same_file() {
	if cmp -s -- "$2" "$3"; then
		pass
	else
		fail "$1: $3 differs from $2"
		if [ "$(stat -c %s -- "$2" 2>/dev/null || echo 0)" -lt 1000000 ]; then
			diff -a -- "$2" "$3" | head -40 | cat -v >&2 || true
		else
			cmp -- "$2" "$3" >&2 || true
		fi
	fi
}

# assert_content WHAT FILE STRING: FILE holds exactly STRING (printf %b escapes).
assert_content() {
	local exp
	exp=$(mktemp "$T/exp.XXXXXX")
	printf '%b' "$3" >"$exp"
	if [ ! -f "$2" ]; then
		fail "$1: $2 is not a regular file (or does not exist)"
	else
		assert_same_file "$1" "$exp" "$2"
	fi
	rm -f "$exp"
}

# assert_fails_with WHAT ERRTEXT CMD...: CMD must fail and say ERRTEXT on stderr.
assert_fails_with() {
	local what=$1 text=$2 rc
	shift 2
	set +e
	timeout -k 5 30 "$@" >"$T/afw.out" 2>"$T/afw.err"
	rc=$?
	set -e
	if [ "$rc" = 0 ]; then
		fail "$what: '$*' succeeded, expected failure with '$text'"
	elif ! grep -qF -- "$text" "$T/afw.err"; then
		fail "$what: '$*' failed (exit $rc) without '$text': $(head -c 300 "$T/afw.err")"
	else
		pass
	fi
}

# assert_stat WHAT FORMAT PATH EXPECTED: `stat -c FORMAT PATH` must print EXPECTED.
assert_stat() {
	local got
	got=$(stat -c "$2" -- "$3" 2>&1) || true
	assert_eq "$1 (stat -c '$2' $3)" "$4" "$got"
}

# assert_one_error_line WHAT EXPECTED_RC [PREFIX]: for the last `run`: exit
# code EXPECTED_RC and exactly one stderr line, starting with PREFIX
# (default "strata: ").
assert_one_error_line() {
	local what=$1 rc=$2 prefix=${3:-"strata: "} n
	assert_eq "$what: exit code" "$rc" "$RC"
	n=$(wc -l <"$T/err")
	# A last line without its newline still counts as a line.
	if [ -s "$T/err" ] && [ "$(tail -c 1 "$T/err" | od -An -c | tr -d ' ')" != '\n' ]; then
		n=$((n + 1))
	fi
	assert_eq "$what: number of stderr lines (stderr: $ERR)" 1 "$n"
	case "$ERR" in
	"$prefix"*) pass ;;
	*) fail "$what: stderr does not start with '$prefix': $ERR" ;;
	esac
}

# busybox_layer TAR APPLET...: a bare layer TAR of a root made of the static
# busybox (dies without it): bin/ with a link for each APPLET, etc, tmp, and
# www/index.html saying 'served from the container'.
busybox_layer() {
	local tar=$1 root a
	shift
	command -v busybox >/dev/null || die 'busybox-static is not installed'
	root=$(mktemp -d "$T/busybox.XXXXXX")
	mkdir -p "$root"/{bin,etc,tmp,www}
	echo 'served from the container' >"$root/www/index.html"
	cp "$(command -v busybox)" "$root/bin/busybox"
	for a in "$@"; do
		ln -s busybox "$root/bin/$a"
	done
	tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$tar" .
}

# strata_as WHO ARGS...: `run` strata ARGS as WHO, root or user (uid 65534,
# no supplementary groups), each with its own store ($T/store-WHO; the
# user's HOME is $T/home).
strata_as() {
	local who=$1
	shift
	if [ "$who" = root ]; then
		run env STRATA_ROOT="$T/store-root" "$STRATA" "$@"
	else
		run setpriv --reuid 65534 --regid 65534 --clear-groups \
			env HOME="$T/home" STRATA_ROOT="$T/store-user" "$STRATA" "$@"
	fi
}

# assert_nothing_mounted_under WHAT DIR: no mount at or below DIR.
assert_nothing_mounted_under() {
	if awk -v d="$2" '$5 == d || index($5, d "/") == 1 { found = 1 } END { exit !found }' \
		/proc/self/mountinfo; then
		fail "$1: something is mounted at or under $2"
		grep -F " $2" /proc/self/mountinfo >&2 || true
	else
		pass
	fi
}

# ---- listings ----

# tree_listing DIR: one line per entry below DIR (not DIR itself), sorted:
# type path mode uid gid size mtime nlink symlink-target.  Directory sizes and
# link counts are left out (they are filesystem-specific).
tree_listing() {
	(cd "$1" && find . -mindepth 1 \( -type d -printf 'd %p %m %U %G - %T@ - \n' \) \
		-o -printf '%y %p %m %U %G %s %T@ %n %l\n') | sort
}

# content_sums DIR: "sha256 path" for every regular file below DIR, sorted by path.
content_sums() {
	(cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

# assert_same_text WHAT EXPECTED_TEXT GOT_TEXT: multi-line comparison with a diff.
assert_same_text() {
	if [ "$2" == "$3" ]; then
		pass
	else
		fail "$1: differs (- expected, + got):"
		diff -u <(printf '%s\n' "$2") <(printf '%s\n' "$3") | tail -n +3 | head -60 | cut -c 1-300 | cat -v >&2 || true
	fi
}

# finish: the test's verdict.
finish() {
	if [ "$FAILED" -gt 0 ]; then
		printf '%s: %d check(s) failed, %d passed\n' "$TEST_NAME" "$FAILED" "$CHECKS"
		exit 1
	fi
	printf '%s: all %d checks passed\n' "$TEST_NAME" "$CHECKS"
	exit 0
}

# oci_layout DIR LAYER_TAR REF CONFIG [HISTORY]: an OCI image layout at DIR
# holding one image named REF, of the one uncompressed layer LAYER_TAR, with
# the JSON object CONFIG as its config's "config" (Env, Cmd, StopSignal...)
# and the JSON array HISTORY as its "history" (buildah wants one entry a
# layer).
oci_layout() {
	python3 - "$@" <<'PY'
import hashlib, json, os, sys
lay, tar, ref, config = sys.argv[1:5]
history = json.loads(sys.argv[5]) if len(sys.argv) > 5 else None
os.makedirs(os.path.join(lay, "blobs/sha256"))
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open(os.path.join(lay, "blobs/sha256", d), "wb").write(data)
    return "sha256:" + d, len(data)
ld, ls = put(open(tar, "rb").read())
conf = {"architecture": "amd64", "os": "linux", "config": json.loads(config),
        "rootfs": {"type": "layers", "diff_ids": [ld]}}
if history is not None:
    conf["history"] = history
cd, cs = put(json.dumps(conf).encode())
man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": ls}]}
md, ms = put(json.dumps(man).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": man["mediaType"], "digest": md,
           "size": ms, "annotations": {"org.opencontainers.image.ref.name": ref}}]},
          open(os.path.join(lay, "index.json"), "w"))
open(os.path.join(lay, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
}
