#!/bin/bash
# fsck: damage is found and named.  A byte flipped in a layer blob, a blob
# deleted, a manifest rewritten or deleted, a config deleted, a blob under a
# wrong name, a stray file or a symlink in blobs/sha256, a broken
# index.json, a layer index flipped, truncated or replaced, a decompressed
# copy altered: each makes `strata fsck` exit 1 with a line naming the
# damaged thing, and "strata: fsck: N problem(s)" on stderr.  A missing
# index is a cache miss, not damage; mounts rebuild missing and corrupt
# indexes (and --reindex an altered copy), after which fsck is clean.  Each
# case starts from a fresh store (copying a store changes inodes, which
# fsck rightly reports as stale indexes).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

make_layers
S=$T/src
M=$T/mnt
img=$(mkimage oci "$T/lay" --name img:1 "$S/base.tar.gz" "$S/l2.tar" "$S/l3.tar.zst")
base_blob=$(sha "$S/base.tar.gz")
l2_blob=$(sha "$S/l2.tar")
base_diff=$(layer_key "$S/base.tar" "$S/base.tar.gz")
l3_blob=$(sha "$S/l3.tar.zst")
l3_diff=$(layer_key "$S/l3.tar" "$S/l3.tar.zst")

n=0
# fresh: a new store $R with img:1, checked clean.
fresh() {
	n=$((n + 1))
	R=$T/store$n
	ok "case $n: import" import -q "$T/lay"
	assert_fsck_clean "case $n: clean before the damage"
}

# damaged WHAT TEXT...: fsck exits 1; its report (stdout) holds every TEXT;
# stderr is the one-line summary.
damaged() {
	local what=$1 t
	shift
	sr fsck
	assert_eq "$what: fsck exit code" 1 "$RC"
	for t in "$@"; do
		if grep -qF -- "$t" "$T/out"; then
			pass
		else
			fail "$what: the fsck report does not say '$t': $(cat "$T/out")"
		fi
	done
	case "$ERR" in
	'strata: fsck: '[0-9]*' problem'*) pass ;;
	*) fail "$what: fsck stderr: $ERR" ;;
	esac
}

flip() { # FILE OFFSET: inverts the byte at OFFSET
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	py 'import sys; sys.stdout.buffer.write(bytes([int(sys.argv[1]) ^ 0xff]))' "$b" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

fresh
flip "$R/blobs/sha256/$base_blob" 5000
damaged 'a byte flipped in a gzip layer blob' "blob sha256:$base_blob: content has digest"
fresh
flip "$R/blobs/sha256/$l2_blob" 700
damaged 'a byte flipped in a plain layer blob' "blob sha256:$l2_blob: content has digest"
fresh
rm "$R/blobs/sha256/$l2_blob"
damaged 'a layer blob deleted' "blob sha256:$l2_blob: missing"
fresh
config=$(manifest_info "$img" | awk '$1 == "config" { print substr($2, 8) }')
rm "$R/blobs/sha256/$config"
damaged 'the config deleted' "$img"
fresh
rm "$R/blobs/sha256/${img#sha256:}"
damaged 'the manifest deleted' "$img" 'img:1'
fresh
sed -i 's/"schemaVersion":2/"schemaVersion":3/' "$R/blobs/sha256/${img#sha256:}"
damaged 'the manifest rewritten' "blob $img: content has digest"
fresh
cp "$S/l3.tar" "$R/blobs/sha256/$(printf '%064d' 7)"
damaged 'a blob under a wrong name' "blob sha256:$(printf '%064d' 7): content has digest"
fresh
echo stray >"$R/blobs/sha256/stray"
damaged 'a stray file in blobs/sha256' 'blobs/sha256/stray: not named by a digest'
fresh
ln -s "$R/blobs/sha256/$l2_blob" "$R/blobs/sha256/$(printf '%064d' 8)"
damaged 'a symlink in blobs/sha256' "blob sha256:$(printf '%064d' 8): a symlink"
fresh
echo '{"schemaVersion":2,' >"$R/index.json"
damaged 'index.json cut short' 'index.json'

# Layer indexes in strata/layers: flipped, cut, gone, replaced.
fresh
flip "$R/strata/layers/$base_diff.idx" 100
damaged 'a layer index with a flipped byte' "layer sha256:$base_blob: index"
fresh
truncate -s 50 "$R/strata/layers/$base_diff.idx"
damaged 'a truncated layer index' "layer sha256:$base_blob: index"
fresh
cp "$R/strata/layers/$l2_blob.idx" "$R/strata/layers/$base_diff.idx"
damaged 'another layer'"'"'s index in its place' "layer sha256:$base_blob: index"
fresh
# (l3 is zstd: a gzip layer has no copy, it is read in place.)  Byte 512
# is the first of data/hello.
flip "$R/strata/layers/$l3_diff.tar" 512
damaged 'the decompressed copy altered' "layer sha256:$l3_blob: decompressed copy"
smount "$M" --root "$R" img:1
known 'a mount does not serve a damaged decompressed copy' \
	'the mount serves the altered copy as it is (fsck reports it, nothing rebuilds it but --reindex)' \
	cmp "$T/src/expected/data/hello" "$M/data/hello"
sumount "$M"
smount "$M" --root "$R" --reindex img:1
assert_same_file 'mount --reindex: data/hello' "$T/src/expected/data/hello" "$M/data/hello"
sumount "$M"
assert_fsck_clean 'mount --reindex rebuilt the copy'

# A missing index is no damage, only a cache miss: the next mount builds it.
fresh
rm "$R/strata/layers/$base_diff.idx"
assert_fsck_clean 'a layer index removed'
smount "$M" --root "$R" img:1
assert_same_file 'index removed, then mounted: busybox' /bin/busybox "$M/bin/busybox"
sumount "$M"
assert_true 'index removed, then mounted: rebuilt' test -s "$R/strata/layers/$base_diff.idx"
# A corrupt one is rebuilt by a mount too.
fresh
flip "$R/strata/layers/$base_diff.idx" 100
smount "$M" --root "$R" img:1
assert_same_file 'index corrupted, then mounted: busybox' /bin/busybox "$M/bin/busybox"
sumount "$M"
assert_fsck_clean 'index corrupted, then mounted: rebuilt'

# A damaged blob is no secret at mount time either: the mount fails, or
# serves the true bytes (then the damage is in what the index does not use).
fresh
rm "$R/blobs/sha256/$l2_blob"
sr mount img:1 "$M"
assert_one_error_line 'mount with a layer blob deleted' 1
case "$ERR" in *"$l2_blob"*) pass ;; *) fail "mount with a layer blob deleted: $ERR" ;; esac
assert_nothing_mounted_under 'mount with a layer blob deleted' "$M"
store_finish
