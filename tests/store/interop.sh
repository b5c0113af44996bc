#!/bin/bash
# interop: the store is an OCI image layout other tools read as it is
# (skopeo inspect oci:, umoci ls, umoci unpack, which gives the tree the
# mount shows); exports load in skopeo (inspect and copy, oci-archive and
# docker-archive); round trips keep digests: import → export oci → import
# gives the same manifest, docker export → import → export → import too,
# and the archives themselves are byte-identical.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v skopeo >/dev/null || skip 'skopeo is not installed'
command -v umoci >/dev/null || skip 'umoci is not installed'

make_layers
S=$T/src
M=$T/mnt
lay=$T/layout
# umoci and docker-archives know no zstd: gzip and plain layers only here,
# and a zstd one in its own image for what does handle it.
img=$(mkimage oci "$lay" --name interop:1 "$S/base.tar.gz" "$S/l2.tar" "$S/l3.tar.gz")
zimg=$(mkimage oci "$lay" --name zstd:1 "$S/base.tar.gz" "$S/l2.tar.zst")
ok 'import' import -q "$lay"
ok 'tag' tag interop:1 other/name:2
before=$(store_listing)
layers=$(manifest_info "$img" | awk '$1 != "config" { print $1 }')

# ---- skopeo and umoci on the store itself ----
inspect() {
	py 'import json, sys
j = json.load(sys.stdin)
print(j["Digest"])
print("\n".join(j["Layers"]))'
}
for name in interop:1 other/name:2; do
	got=$(skopeo inspect "oci:$R:$name" 2>&1 | inspect) || true
	assert_same_text "skopeo inspect oci:\$R:$name" "$img
$layers" "$got"
done
got=$(skopeo inspect "oci:$R:zstd:1" 2>&1 | inspect | head -n 1) || true
assert_eq 'skopeo inspect oci:$R:zstd:1' "$zimg" "$got"
got=$(umoci ls --layout "$R" 2>&1 | sort) || true
assert_same_text 'umoci ls --layout $R' "$(index_names | awk '{ print $1 }')" "$got"

smount "$M" --root "$R" interop:1
check_merged 'mount interop:1' "$M"
mount_tree=$(tree_listing "$M")
mount_sums=$(content_sums "$M")
sumount "$M"
umoci_unpack() {
	local what=$1 image=$2 out=$3
	if umoci unpack --rootless --image "$image" "$out" >"$T/umoci.log" 2>&1; then
		assert_same_text "$what: tree as the mount shows it" "$mount_tree" "$(tree_listing "$out/rootfs")"
		assert_same_text "$what: contents" "$mount_sums" "$(content_sums "$out/rootfs")"
	else
		fail "$what: umoci unpack --image $image failed: $(tail -n 3 "$T/umoci.log")"
	fi
}
umoci_unpack 'umoci unpack of the store' "$R:interop:1" "$T/bundle"
assert_same_text 'skopeo and umoci left the store as it was' "$before" "$(store_listing)"
assert_fsck_clean 'after skopeo and umoci'

# ---- export --format oci ----
ok 'export oci' export --format oci -o "$T/x.oci.tar" interop:1
got=$(skopeo inspect "oci-archive:$T/x.oci.tar" 2>&1 | inspect) || true
assert_same_text 'skopeo inspect oci-archive: of the export' "$img
$layers" "$got"
if skopeo copy -q "oci-archive:$T/x.oci.tar" "oci:$T/copied:c" 2>"$T/skopeo.err"; then
	pass
	umoci_unpack 'umoci unpack of skopeo'"'"'s copy of the export' "$T/copied:c" "$T/bundle2"
else
	fail "skopeo copy oci-archive:export oci:dir: $(cat "$T/skopeo.err")"
fi
# The zstd image exports too, blobs as they are.
ok 'export oci zstd:1' export -o "$T/z.oci.tar" zstd:1
got=$(skopeo inspect "oci-archive:$T/z.oci.tar" 2>&1 | inspect | head -n 1) || true
assert_eq 'skopeo inspect oci-archive: of the zstd export' "$zimg" "$got"
# Export to stdout is the same archive (libarchive pads the last block of
# what is not a regular file with zeros, a valid tar all the same).
"$STRATA" export --root "$R" -o - interop:1 >"$T/stdout.oci.tar" || fail 'export -o -'
size=$(stat -c %s "$T/x.oci.tar")
assert_true 'export -o -: same bytes as -o FILE' cmp -n "$size" "$T/x.oci.tar" "$T/stdout.oci.tar"
assert_eq 'export -o -: then only zeros' '' "$(tail -c +$((size + 1)) "$T/stdout.oci.tar" | tr -d '\0' | head -c 16)"

# ---- export --format docker ----
ok 'export docker' export --format docker -o "$T/x.docker.tar" interop:1
diff_ids=$(manifest_info "$img" | awk '$1 != "config" { print $3 }')
got=$(skopeo inspect "docker-archive:$T/x.docker.tar" 2>&1 | py 'import json, sys
print("\n".join(json.load(sys.stdin)["Layers"]))') || true
# docker-archive layers are uncompressed: their digests are the diff-ids.
assert_same_text 'skopeo inspect docker-archive: of the export' "$diff_ids" "$got"
got=$(tar -xOf "$T/x.docker.tar" manifest.json | py 'import json, sys
print(" ".join(json.load(sys.stdin)[0]["RepoTags"]))') || true
assert_eq 'docker export: RepoTags' interop:1 "$got"
# skopeo finds the image by that name.
if skopeo copy -q "docker-archive:$T/x.docker.tar:interop:1" "oci:$T/copied:d" 2>"$T/skopeo.err"; then
	pass
	umoci_unpack 'umoci unpack of skopeo'"'"'s copy of the docker export' "$T/copied:d" "$T/bundle3"
else
	fail "skopeo copy docker-archive:export oci:dir: $(cat "$T/skopeo.err")"
fi
# skopeo's copy goes back into a store, as an OCI layout directory.
SR_ROOT=$T/from-skopeo ok 'import skopeo'"'"'s copy' import -q "$T/copied"
assert_eq 'import skopeo'"'"'s copy: two images' 2 "$(wc -l <"$T/out")"

# ---- round trips ----
# oci: import the export into a fresh store: same manifest, same archive.
SR_ROOT=$T/rt1 ok 'round trip oci: import' import -q "$T/x.oci.tar"
assert_eq 'round trip oci: same manifest digest and name' "$img interop:1" "$(cat "$T/out")"
SR_ROOT=$T/rt1 ok 'round trip oci: export again' export -o "$T/x2.oci.tar" interop:1
assert_same_file 'round trip oci: byte-identical archive' "$T/x.oci.tar" "$T/x2.oci.tar"
assert_same_text 'round trip oci: same blobs' "$(referenced_blobs "$T/rt1")" "$(stored_blobs "$T/rt1")"
assert_fsck_clean 'round trip oci' "$T/rt1"
# docker: import → export → import; the second import gives the first's digest.
SR_ROOT=$T/rt2 ok 'round trip docker: import' import -q "$T/x.docker.tar"
d1=$(imported_digest)
SR_ROOT=$T/rt2 ok 'round trip docker: export' export --format docker -o "$T/x2.docker.tar" interop:1
SR_ROOT=$T/rt3 ok 'round trip docker: import again' import -q "$T/x2.docker.tar"
assert_eq 'round trip docker: same digest and name' "$d1 interop:1" "$(cat "$T/out")"
assert_same_file 'round trip docker: byte-identical archive' "$T/x.docker.tar" "$T/x2.docker.tar"
# The config survives every trip byte for byte.
assert_eq 'round trip docker: config kept' "$(manifest_info "$img" | awk '$1 == "config" { print $2 }')" \
	"$(manifest_info "$d1" "$T/rt3" | awk '$1 == "config" { print $2 }')"
SR_ROOT=$T/rt3 sr mount "$d1" "$M"
MOUNTS+=("$M")
if [ "$RC" = 0 ]; then
	check_merged 'round trip docker: mount' "$M"
	sumount "$M"
else
	fail "round trip docker: mount: exit $RC: $ERR"
fi
# And docker → oci: the image exported as oci from the docker-imported store
# imports into a fresh store as the same image.
SR_ROOT=$T/rt3 ok 'docker → oci: export' export -o "$T/x3.oci.tar" "$d1"
SR_ROOT=$T/rt4 ok 'docker → oci: import' import -q "$T/x3.oci.tar"
assert_eq 'docker → oci: same digest (untagged: exported by digest)' "$d1 <none>" "$(cat "$T/out")"

# An opaque directory whose layer has no entry for it (only
# opt/.wh..wh..opq): docker, and umoci, keep the lower directory's
# attributes; so should the mount.
mk "$S/implied.tar" <<'EOF'
opaque opt
file opt/n content=n\n mtime=1600000300
EOF
mkimage oci "$T/layout2" --name implied:1 "$S/base.tar.gz" "$S/implied.tar" >/dev/null
ok 'import implied:1' import -q "$T/layout2"
smount "$M" --root "$R" implied:1
mount_tree=$(tree_listing "$M")
sumount "$M"
if umoci unpack --rootless --image "$T/layout2:implied:1" "$T/bundle4" >"$T/umoci.log" 2>&1; then
	pass
	known 'implied opaque dir: mount and umoci agree' \
		'an opaque dir without its own tar entry shows mode 0755 mtime 0, not the lower dir'"'"'s attributes' \
		test "$mount_tree" == "$(tree_listing "$T/bundle4/rootfs")"
else
	fail "umoci unpack implied:1: $(tail -n 3 "$T/umoci.log")"
fi

for r in rt2 rt3 rt4; do
	assert_fsck_clean "round trip store $r" "$T/$r"
done
assert_fsck_clean 'the first store'
store_finish
