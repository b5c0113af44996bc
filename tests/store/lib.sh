# shellcheck shell=bash
# Helpers for the layer store's tests, on top of the integration tests'
# lib.sh (temp dir $T, mounts cleaned up, assertions, `finish`).  Source it
# first thing:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Every test keeps its store in $R (or another dir it names) and never
# touches the default store: STRATA_ROOT points into $T.
#
# Environment (set by meson): STRATA, MKLAYER, and MKIMAGE (mkimage.py here).

# shellcheck source=../integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

: "${MKIMAGE:=$(dirname "${BASH_SOURCE[0]}")/mkimage.py}"
command -v python3 >/dev/null || skip 'python3 is not installed'
[ "$(id -u)" = 0 ] || skip 'the store tests mount FUSE file systems: run them as root'
[ -c /dev/fuse ] || skip 'no /dev/fuse'

R=$T/store
export STRATA_ROOT=$T/default-store-never-used
KNOWN=0

mkimage() { python3 "$MKIMAGE" "$@" || die "mkimage.py $* failed"; }

# sr CMD [ARGS...]: `strata CMD --root $R ARGS...` through `run` (RC, $T/out,
# $T/err, $ERR).  SR_ROOT overrides the store for one call.
sr() {
	local cmd=$1
	shift
	run "$STRATA" "$cmd" --root "${SR_ROOT:-$R}" "$@"
}

# ok WHAT CMD [ARGS...]: `sr`, which must exit 0 with nothing on stderr.
# Returns non-zero (after counting the failure) when it did not.
ok() {
	local what=$1
	shift
	sr "$@"
	if [ "$RC" != 0 ] || [ -n "$ERR" ]; then
		fail "$what: strata $1 exited $RC, stderr: $ERR"
		return 1
	fi
	pass
}

# layer_key TAR [BLOB]: the name of a layer's cache entries in
# strata/layers: the uncompressed tar's sha256, and for a layer served from
# a compressed BLOB, "-" and the first 16 hex digits of the blob's.
layer_key() {
	if [ -n "${2:-}" ] && [ "$2" != "$1" ]; then
		printf '%s-%s\n' "$(sha "$1")" "$(sha "$2" | cut -c1-16)"
	else
		sha "$1"
	fi
}

# known_bug WHAT DESCRIPTION: a check that failed because of a strata bug
# reported but not fixed yet.  Printed, counted apart, never fails the test.
known_bug() {
	KNOWN=$((KNOWN + 1))
	printf 'KNOWN BUG (not counted as a failure): %s: %s\n' "$1" "$2" >&2
}

# known_fixed WHAT: the check of a known bug passed; the note may go.
known_fixed() {
	printf 'note: known bug no longer reproduces (fixed? update the test): %s\n' "$1"
}

# known WHAT BUG CMD...: CMD checks for the right behaviour; while BUG (a
# reported strata bug) makes it fail, that is a known bug, not a failure.
known() {
	local what=$1 bug=$2
	shift 2
	if "$@" >/dev/null 2>&1; then
		pass
		known_fixed "$what ($bug)"
	else
		known_bug "$what" "$bug"
	fi
}

# fsck_clean [ROOT]: true when `strata fsck` finds nothing.
fsck_clean() {
	"$STRATA" fsck --root "${1:-$R}" >"$T/fsck.out" 2>&1 && [ ! -s "$T/fsck.out" ]
}

# cache_stamps [ROOT]: inode, mtime (ns) and size of every file in
# strata/layers: rebuilding an index or a copy changes them.
cache_stamps() {
	(cd "${1:-$R}/strata/layers" && find . -type f -printf '%f %i %T@ %s\n' | sort)
}

# Prints the manifest digests the import printed ("sha256:... NAME" lines).
imported_digest() { awk 'NR == 1 { print $1 }' "$T/out"; }

sha() { sha256sum "$1" | cut -c 1-64; }

# ---- the store on disk ----

blob_count() { find "${1:-$R}/blobs/sha256" -mindepth 1 | wc -l; }

# blobs_bad [ROOT]: every blob whose content does not hash to its name (or
# that is not a regular file); prints nothing for a sound store.
blobs_bad() {
	local f
	for f in "${1:-$R}"/blobs/sha256/*; do
		[ -e "$f" ] || [ -L "$f" ] || continue
		if [ -L "$f" ] || [ ! -f "$f" ] || [ "$(sha "$f")" != "${f##*/}" ]; then
			printf '%s\n' "${f##*/}"
		fi
	done
}

# store_listing [ROOT]: what the store holds, for before/after comparisons:
# every path (type, size) except strata/tmp, the mount records in
# strata/mounts (one per mount, stale ones go at gc) and lock files, plus
# the bytes of index.json and oci-layout.
store_listing() {
	local root=${1:-$R}
	(cd "$root" && find . -mindepth 1 \( -path ./strata/tmp -prune -o -path ./strata/mounts -prune \) -o \
		\( ! -name '*.lock' -printf '%y %p %s\n' \) | sed 's/^d \(.*\) [0-9]*$/d \1/' | sort)
	printf -- '--- index.json\n'
	cat "$root/index.json"
	printf -- '--- oci-layout\n'
	cat "$root/oci-layout"
}

# assert_fsck_clean WHAT [ROOT]: `strata fsck` exits 0 and prints nothing.
assert_fsck_clean() {
	SR_ROOT=${2:-$R} sr fsck
	if [ "$RC" = 0 ] && [ ! -s "$T/out" ] && [ -z "$ERR" ]; then
		pass
	else
		fail "$1: fsck exit $RC: $(head -c 600 "$T/out") $ERR"
	fi
}

# assert_blobs_sound WHAT [ROOT]: no blob whose content differs from its name.
assert_blobs_sound() {
	local bad
	bad=$(blobs_bad "${2:-$R}")
	assert_eq "$1: blobs whose content does not match their name" '' "$bad"
}

# py CODE [ARGS...]: runs python3 on CODE (reads the store in $R by default).
py() {
	local code=$1
	shift
	python3 -c "$code" "$@"
}

# The store's images as "NAME DIGEST" lines from index.json itself, sorted.
index_names() {
	py 'import json, sys
for m in json.load(open(sys.argv[1] + "/index.json"))["manifests"]:
    print(m.get("annotations", {}).get("org.opencontainers.image.ref.name", "<none>"), m["digest"])' \
		"${1:-$R}" | sort
}

# images_json_rows [ROOT]: `strata images --json` as "name digest layers"
# lines, sorted (dies when the output is no JSON array).
images_json_rows() {
	SR_ROOT=${1:-$R} sr images --json
	[ "$RC" = 0 ] || { fail "images --json: exit $RC: $ERR"; return 0; }
	py 'import json, sys
rows = json.load(open(sys.argv[1]))
assert isinstance(rows, list)
for r in rows:
    print(r.get("name") or "<none>", r["digest"], r["layers"])' "$T/out" | sort ||
		fail "images --json: not the JSON expected: $(head -c 300 "$T/out")"
}

# manifest_info DIGEST [ROOT]: from the stored blobs themselves, one line per
# layer: "LAYER_DIGEST MEDIA_TYPE DIFF_ID", then "config CONFIG_DIGEST".
manifest_info() {
	py 'import json, sys
root, d = sys.argv[1], sys.argv[2]
blob = lambda d: json.load(open(root + "/blobs/sha256/" + d[7:]))
m = blob(d)
c = blob(m["config"]["digest"])
for l, diff in zip(m["layers"], c["rootfs"]["diff_ids"]):
    print(l["digest"], l["mediaType"], diff)
print("config", m["config"]["digest"])' "${2:-$R}" "$1"
}

# referenced_blobs [ROOT]: every blob index.json reaches (manifests, configs,
# layers), sorted, hex only.
referenced_blobs() {
	py 'import json, sys
root = sys.argv[1]
blob = lambda d: json.load(open(root + "/blobs/sha256/" + d[7:]))
out = set()
for e in json.load(open(root + "/index.json"))["manifests"]:
    m = blob(e["digest"])
    out.add(e["digest"])
    out.add(m["config"]["digest"])
    out.update(l["digest"] for l in m["layers"])
print("\n".join(sorted(d[7:] for d in out)))' "${1:-$R}"
}

stored_blobs() { (cd "${1:-$R}/blobs/sha256" && find . -mindepth 1 -printf '%f\n' | sort); }

# ---- test images, made from real files ----

# make_layers: in $T/src, a root file system with busybox and the layers
#   base.tar (+ .gz .zst .xz)  GNU tar of bin/busybox, bin/sh, etc/, opt/, data/
#   l2.tar (+ .zst .gz)        whiteout etc/x, opaque opt/, new etc/motd
#   l3.tar (+ .gz .zst)        data/hello
# and $T/src/expected: the merged tree of base+l2+l3, extracted by GNU tar.
make_layers() {
	local s=$T/src
	mkdir -p "$s/root/bin" "$s/root/etc" "$s/root/opt/keep" "$s/root/data"
	cp /bin/busybox "$s/root/bin/busybox"
	ln -s busybox "$s/root/bin/sh"
	printf 'base\n' >"$s/root/etc/motd"
	printf 'x\n' >"$s/root/etc/x"
	printf 'old\n' >"$s/root/opt/keep/old"
	printf 'o2\n' >"$s/root/opt/o2"
	touch -d @1600000000 "$s/root"/* "$s/root"/*/* "$s/root/opt/keep/old" "$s/root"
	tar -C "$s/root" --numeric-owner --sort=name -cf "$s/base.tar" .
	gzip -n -c "$s/base.tar" >"$s/base.tar.gz"
	zstd -q -c "$s/base.tar" >"$s/base.tar.zst"
	xz -T1 -c "$s/base.tar" >"$s/base.tar.xz"
	# An opaque directory comes with its own entry, as docker writes it.
	mk "$s/l2.tar" <<'EOF'
whiteout etc/x
dir opt mode=0750 mtime=1600000100
opaque opt
file opt/new content=new\n mtime=1600000101
file etc/motd content=layer2\n mtime=1600000102
EOF
	mk "$s/l3.tar" <<'EOF'
dir data mode=0755 mtime=1600000200
file data/hello content=hello\n mtime=1600000201
EOF
	zstd -q -c "$s/l2.tar" >"$s/l2.tar.zst"
	gzip -n -c "$s/l2.tar" >"$s/l2.tar.gz"
	gzip -n -c "$s/l3.tar" >"$s/l3.tar.gz"
	zstd -q -c "$s/l3.tar" >"$s/l3.tar.zst"
	mkdir -p "$s/expected"
	for l in base l2 l3; do
		tar -C "$s/expected" --numeric-owner -xpf "$s/$l.tar"
	done
	# GNU tar extracts whiteouts as files; apply them as a runtime does.
	rm -f "$s/expected/etc/x" "$s/expected/etc/.wh.x"
	rm -rf "$s/expected/opt/keep" "$s/expected/opt/o2" "$s/expected/opt/.wh..wh..opq"
	touch -d @1600000100 "$s/expected/opt"
	touch -d @1600000200 "$s/expected/data"
	touch -d @1600000000 "$s/expected/etc"
}

# check_merged WHAT MNT: MNT shows base+l2+l3 exactly as $T/src/expected,
# and busybox runs from it.
check_merged() {
	local what=$1 m=$2 got
	assert_same_text "$what: tree" "$(tree_listing "$T/src/expected")" "$(tree_listing "$m")"
	assert_same_text "$what: contents" "$(content_sums "$T/src/expected")" "$(content_sums "$m")"
	got=$("$m/bin/busybox" sh -c 'echo "$0 runs"' busybox 2>&1) || true
	assert_eq "$what: busybox run from the mount" 'busybox runs' "$got"
}

# finish with the known bugs reported.
store_finish() {
	[ "$KNOWN" = 0 ] || printf '%s: %d known bug(s) seen (see KNOWN BUG lines)\n' "$TEST_NAME" "$KNOWN"
	finish
}
