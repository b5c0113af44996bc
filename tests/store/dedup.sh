#!/bin/bash
# dedup: a blob is stored once however often it is imported, and a layer is
# indexed once however many images share it.  The blobs in blobs/sha256 are
# exactly those index.json reaches; importing again changes nothing (not
# even an index's inode or mtime); two images with the same base layer share
# strata/layers/<diff-id>.idx, which neither the second import nor mounts
# rebuild.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

make_layers
S=$T/src
M=$T/mnt
lay=$T/layout
mkimage oci "$lay" --name multi:1 "$S/base.tar.gz" "$S/l2.tar.zst" "$S/l3.tar" >/dev/null
mkimage docker "$T/two.tar" --image "two/a:1=$S/base.tar,$S/l2.tar" \
	--image "two/b:1,two/b:2=$S/base.tar,$S/l3.tar" >/dev/null
gzip -n <"$T/two.tar" >"$T/two.tar.gz"

# ---- the same inputs twice ----
for input in "$lay" "$T/two.tar" "$T/two.tar.gz" "$S/base.tar.gz" "$S/l2.tar.zst"; do
	ok "import $input" import -q "$input" || continue
	first=$(cat "$T/out")
	n=$(blob_count)
	listing=$(store_listing)
	stamps=$(cache_stamps)
	ok "import $input again" import -q "$input" || continue
	assert_eq "import $input again: same images" "$first" "$(cat "$T/out")"
	assert_eq "import $input again: blob count" "$n" "$(blob_count)"
	assert_same_text "import $input again: store unchanged" "$listing" "$(store_listing)"
	assert_same_text "import $input again: no index or copy rebuilt" "$stamps" "$(cache_stamps)"
done
assert_same_text 'blobs: exactly those index.json reaches' "$(referenced_blobs)" "$(stored_blobs)"
# multi:1: 3 layers, config, manifest; two.tar: base.tar and l2.tar (l3.tar
# is stored already), 2 configs, 2 manifests; two.tar.gz: the same images;
# base.tar.gz and l2.tar.zst: stored already, a config and a manifest each.
assert_eq 'blob count' $((5 + 6 + 0 + 2 + 2)) "$(blob_count)"
# Indexes are keyed by diff-id (plus the blob, when compressed): base, l2,
# l3, however many images.  A layer the store also has uncompressed is
# served from that blob, so gc leaves one index per diff-id.
assert_same_text 'layer indexes: keyed by diff-id' \
	"$(for l in base l2 l3; do sha "$S/$l.tar"; done | sort)" \
	"$(find "$R/strata/layers" -name '*.idx' -printf '%f\n' | sed 's/\.idx$//; s/-.*//' | sort -u)"
ok 'gc' gc
assert_same_text 'layer indexes after gc: one per diff-id' \
	"$(for l in base l2 l3; do sha "$S/$l.tar"; done | sort)" \
	"$(find "$R/strata/layers" -name '*.idx' -printf '%f\n' | sed 's/\.idx$//' | sort)"
assert_fsck_clean 'after the imports'

# A bare uncompressed layer whose blob the store has already (l3.tar, from
# multi:1): nothing new but a config and a manifest, and the index the
# store has stays valid.
stamps=$(cache_stamps)
ok 'import l3.tar (blob stored already)' import -q "$S/l3.tar"
assert_eq 'import l3.tar: blob count' $((15 + 2)) "$(blob_count)"
assert_fsck_clean 'import l3.tar: the stored index stays valid'
assert_same_text 'import l3.tar: no index rebuilt' "$stamps" "$(cache_stamps)"

# ---- a shared base layer: one index, built once ----
R=$T/store2
idx=$R/strata/layers/$(sha "$S/l3.tar").idx
base_key=$(sha "$S/base.tar")-$(sha "$S/base.tar.gz" | cut -c1-16)
base_idx=$R/strata/layers/$base_key.idx
mkimage oci "$T/a" --name a:1 "$S/base.tar.gz" "$S/l3.tar" >/dev/null
mkimage oci "$T/b" --name b:1 "$S/base.tar.gz" "$S/l2.tar" >/dev/null
mkimage oci "$T/c" --name c:1 "$S/base.tar.gz" "$S/l3.tar" "$S/l2.tar" >/dev/null
ok 'import a' import -q "$T/a"
stamp=$(stat -c '%i %.9Y %s' "$base_idx" "$idx") || die 'no index after the first import'
assert_false 'a gzip layer has no decompressed copy' test -e "$R/strata/layers/$base_key.tar"
for img in b c; do
	ok "import $img" import -q "$T/$img"
	assert_eq "import $img: shared index not rebuilt" "$stamp" \
		"$(stat -c '%i %.9Y %s' "$base_idx" "$idx")"
done
for img in a:1 b:1 c:1; do
	smount "$M" --root "$R" "$img"
	assert_same_file "mount $img: busybox" /bin/busybox "$M/bin/busybox"
	sumount "$M"
	assert_eq "mount $img: shared index not rebuilt" "$stamp" \
		"$(stat -c '%i %.9Y %s' "$base_idx" "$idx")"
done
assert_eq 'store2: indexes (base, l2, l3)' 3 "$(find "$R/strata/layers" -name '*.idx' | wc -l)"
assert_eq 'store2: layer blobs (base.tar.gz, l2.tar, l3.tar)' 3 "$(index_names | while read -r _ d; do
	manifest_info "$d" | awk '$1 != "config" { print $1 }'
done | sort -u | wc -l)"
assert_same_text 'store2: blobs are those index.json reaches' "$(referenced_blobs)" "$(stored_blobs)"
assert_fsck_clean 'store2'

# ---- one layer, two compressions, no uncompressed blob ----
# l2 as gzip (image d) and as zstd (image e): one diff-id, one index key.
R=$T/store3
mkimage oci "$T/d" --name d:1 "$S/base.tar.gz" "$S/l2.tar.gz" >/dev/null
mkimage oci "$T/e" --name e:1 "$S/base.tar.gz" "$S/l2.tar.zst" >/dev/null
ok 'import d' import -q "$T/d"
ok 'import e' import -q "$T/e"
for img in d:1 e:1; do
	smount "$M" --root "$R" "$img"
	assert_content "mount $img: etc/motd" "$M/etc/motd" 'layer2\n'
	sumount "$M"
done
stamps=$(cache_stamps)
for img in d:1 e:1; do
	smount "$M" --root "$R" "$img"
	sumount "$M"
done
assert_same_text 'gzip and zstd blobs of one layer: second round of mounts rebuilds nothing' \
	"$stamps" "$(cache_stamps)"
assert_fsck_clean 'gzip and zstd blobs of one layer'
store_finish
