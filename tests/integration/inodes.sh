#!/bin/bash
# inodes: st_ino is stable across remounts (and re-indexing) of the same
# layers; the index cache is reused on a second mount and by `strata
# index`; a layer changed after indexing gets a new index and is served
# right; a corrupted or truncated index file (or a lost decompressed copy)
# is rebuilt, never trusted.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

spec1=$(cat <<'EOF'
dir etc
file etc/a content=alpha
file etc/b size=200000 seed=4
hardlink etc/a2 target=etc/a
dir usr
dir usr/lib
file usr/lib/x content=x
symlink usr/l target=lib/x
dir merged
file merged/one content=1
EOF
)
mk "$T/l1.tar" <<<"$spec1"
spec2=$(cat <<'EOF'
dir merged
file merged/two content=2
file etc/b content=replaced
dir opt
file opt/y size=70000 seed=8
EOF
)
mk "$T/l2.tar.gz" -z gzip <<<"$spec2"
# The same as zstd: a layer served from a decompressed copy (gzip is read
# in place, with none).
mk "$T/l2.tar.zst" -z zstd <<<"$spec2"
LAYERS=(--layer "$T/l1.tar" --layer "$T/l2.tar.gz")
M=$T/mnt

inodes() { (cd "$1" && find . -printf '%p %i\n' | sort); }
state() { tree_listing "$1"; content_sums "$1"; }
# The index files in a cache dir: the files that start with the index magic.
index_files() {
	local f
	find "$1" -type f | sort | while IFS= read -r f; do
		[ "$(head -c 8 "$f" | tr -d '\0')" != STRATAIX ] || printf '%s\n' "$f"
	done
}
# Identity of every file in a cache dir: a rewrite changes it.
snapshot() { find "$1" -type f -printf '%p %i %TY-%Tm-%Td+%TT %s\n' | sort; }
flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf '%b' "\\x$(printf %02x $((b ^ 0xff)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

smount "$M" "${LAYERS[@]}"
want_inodes=$(inodes "$M")
want_state=$(state "$M")
assert_content 'layer 2 wins' "$M/etc/b" 'replaced'
assert_eq 'the hard link shares its inode' "$(stat -c %i "$M/etc/a")" "$(stat -c %i "$M/etc/a2")"
assert_eq 'no other inode number used twice' 1 "$(find "$M" -printf '%i\n' | sort | uniq -d | wc -l | tr -d ' ')"
sumount "$M"
mapfile -t idx < <(index_files "$CACHE")
assert_eq 'one index file per layer in the cache dir' 2 "${#idx[@]}"
snap=$(snapshot "$CACHE")

# Second mount: same inodes, the cache is reused as it is.
smount "$M" "${LAYERS[@]}"
assert_same_text 'second mount: inodes' "$want_inodes" "$(inodes "$M")"
assert_same_text 'second mount: tree' "$want_state" "$(state "$M")"
sumount "$M"
assert_same_text 'second mount: cache files untouched (index reused)' "$snap" "$(snapshot "$CACHE")"

# Two mounts of the same layers at once agree on inode numbers.
smount "$M" "${LAYERS[@]}"
smount "$T/mnt2" "${LAYERS[@]}"
assert_same_text 'two mounts at once: inodes' "$(inodes "$M")" "$(inodes "$T/mnt2")"
sumount "$T/mnt2"
sumount "$M"

# strata index reuses them too, one line per layer.
run "$STRATA" index --cache-dir "$CACHE" "$T/l1.tar" "$T/l2.tar.gz"
assert_eq 'strata index: exit code' 0 "$RC"
assert_eq 'strata index: lines printed' 2 "$(grep -c . "$T/out" || true)"
assert_eq 'strata index: stderr' '' "$ERR"
assert_same_text 'strata index: cache files untouched' "$snap" "$(snapshot "$CACHE")"

# --reindex rebuilds every index, and changes no inode number.
smount "$M" --reindex "${LAYERS[@]}"
assert_same_text '--reindex: inodes' "$want_inodes" "$(inodes "$M")"
assert_same_text '--reindex: tree' "$want_state" "$(state "$M")"
sumount "$M"
for f in "${idx[@]}"; do
	assert_ne "--reindex rewrote $(basename "$f")" "$(grep -F "$f " <<<"$snap")" \
		"$(snapshot "$CACHE" | grep -F "$f ")"
done
run "$STRATA" index --reindex --cache-dir "$CACHE" "$T/l1.tar"
assert_eq 'strata index --reindex: exit code' 0 "$RC"
assert_eq 'strata index --reindex: lines printed' 1 "$(grep -c . "$T/out" || true)"

# ---- a layer changed after indexing ----
# Only its mtime: the index is rebuilt, the content is the same.
snap=$(snapshot "$CACHE")
touch -d '2001-02-03 04:05:06' "$T/l1.tar"
smount "$M" "${LAYERS[@]}"
assert_same_text 'touched layer: tree' "$want_state" "$(state "$M")"
sumount "$M"
assert_ne 'touched layer: its index was rebuilt' "$snap" "$(snapshot "$CACHE")"

# Rewritten: a new entry first (every offset moves) and new contents.
mk "$T/l1.tar" <<EOF
file aaa-new size=12345 seed=2
$(sed 's/content=alpha/content=ALPHA-2/; s/content=x/content=XX/' <<<"$spec1")
EOF
touch -d '2002-02-03 04:05:06' "$T/l1.tar"
smount "$M" "${LAYERS[@]}"
assert_content 'rewritten layer: changed file' "$M/etc/a" 'ALPHA-2'
assert_content 'rewritten layer: hard link' "$M/etc/a2" 'ALPHA-2'
assert_content 'rewritten layer: other file' "$M/usr/lib/x" 'XX'
assert_content 'rewritten layer: through the symlink' "$M/usr/l" 'XX'
pattern 0 12345 2 >"$T/exp"
assert_same_file 'rewritten layer: new file' "$T/exp" "$M/aaa-new"
assert_content 'rewritten layer: upper layer still wins' "$M/etc/b" 'replaced'
pattern 0 70000 8 >"$T/exp"
assert_same_file 'rewritten layer: upper layer content' "$T/exp" "$M/opt/y"
sumount "$M"
# Back to the original layer, for the corruption checks.
mk "$T/l1.tar" <<<"$spec1"

# ---- corrupted index files ----
# corrupt_case WHAT LAYER ACTION: a fresh cache with LAYER indexed, its
# index damaged by ACTION (a function taking the index path), then a mount
# must serve the layer right and leave a repaired index.
corrupt_case() {
	local what=$1 layer=$2 action=$3 c ix want
	c=$T/cache-$RANDOM$RANDOM
	mkdir "$c"
	run "$STRATA" index --cache-dir "$c" "$layer"
	[ "$RC" = 0 ] || { fail "$what: strata index: exit $RC: $ERR"; return; }
	ix=$(index_files "$c")
	if [ -z "$ix" ] || [ "$(wc -l <<<"$ix")" != 1 ]; then
		fail "$what: no single index file in $c"
		return
	fi
	CACHE=$c smount "$T/cm" --layer "$layer"
	want=$(state "$T/cm")
	want_ino=$(inodes "$T/cm")
	sumount "$T/cm"
	"$action" "$ix"
	cp "$ix" "$T/damaged" 2>/dev/null || : >"$T/damaged"
	CACHE=$c smount "$T/cm" --layer "$layer"
	assert_same_text "$what: tree after the damage" "$want" "$(state "$T/cm")"
	assert_same_text "$what: inodes after the damage" "$want_ino" "$(inodes "$T/cm")"
	sumount "$T/cm"
	ix=$(index_files "$c")
	if [ -n "$ix" ] && ! cmp -s "$ix" "$T/damaged"; then pass; else
		fail "$what: the damaged index was not replaced"
	fi
	rm -rf "$c"
}
size_of() { stat -c %s "$1"; }
at_header() { flip "$1" 12; }
at_magic() { flip "$1" 0; }
at_src_size() { flip "$1" 40; }
at_mid() { flip "$1" $(($(size_of "$1") / 2)); }
at_third() { flip "$1" $(($(size_of "$1") / 3)); }
at_last() { flip "$1" $(($(size_of "$1") - 1)); }
at_first_entry() { flip "$1" 170; }
truncated() { truncate -s $(($(size_of "$1") / 2)) "$1"; }
emptied() { : >"$1"; }
grown() { printf 'junk' >>"$1"; }
for a in at_header at_magic at_src_size at_first_entry at_third at_mid at_last truncated emptied grown; do
	corrupt_case "l1.tar, index $a" "$T/l1.tar" "$a"
done
for a in at_mid at_last; do
	corrupt_case "l2.tar.gz, index $a" "$T/l2.tar.gz" "$a"
done

# The decompressed copy of a zstd layer is a cache too: lost or truncated,
# it is made again.
copy_case() {
	local what=$1 action=$2 c f copies
	c=$T/cache-copy
	rm -rf "$c"
	mkdir "$c"
	CACHE=$c smount "$T/cm" --layer "$T/l2.tar.zst"
	sumount "$T/cm"
	mapfile -t copies < <(comm -23 <(find "$c" -type f | sort) <(index_files "$c"))
	assert_eq "$what: decompressed copies in the cache" 1 "${#copies[@]}"
	for f in "${copies[@]}"; do
		"$action" "$f"
	done
	CACHE=$c smount "$T/cm" --layer "$T/l2.tar.zst"
	assert_content "$what: small file" "$T/cm/merged/two" '2'
	pattern 0 70000 8 >"$T/exp"
	assert_same_file "$what: big file" "$T/exp" "$T/cm/opt/y"
	sumount "$T/cm"
}
removed() { rm -f "$1"; }
copy_case 'decompressed copy removed' removed
copy_case 'decompressed copy truncated' truncated
finish
