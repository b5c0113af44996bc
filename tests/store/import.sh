#!/bin/bash
# import: every input form goes into the store and comes out right.  Bare
# layers (tar, gzip, zstd, xz), an OCI layout made without strata, an
# oci-archive and a docker-archive written by skopeo, a gzip'd
# docker-archive, a legacy docker-archive whose layer.tar are symlinks, and
# a two-image docker-archive.  `images` and `images --json` against the
# blobs; mounts by name, full digest and digest prefix show the merged tree
# GNU tar extracts, busybox runs from them; --upper works on a store image.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v skopeo >/dev/null || skip 'skopeo is not installed'

make_layers
S=$T/src
M=$T/mnt
mkdir -p "$M"

# ---- bare layers, one per compression ----
# The file name gives the image name; the stored blob is the file itself for
# tar, gzip and zstd, and the decompressed tar for xz (no OCI media type).
declare -A want_blob=(
	[plain]="$(sha "$S/base.tar") application/vnd.oci.image.layer.v1.tar"
	[gz]="$(sha "$S/base.tar.gz") application/vnd.oci.image.layer.v1.tar+gzip"
	[zst]="$(sha "$S/base.tar.zst") application/vnd.oci.image.layer.v1.tar+zstd"
	[xz]="$(sha "$S/base.tar") application/vnd.oci.image.layer.v1.tar"
)
declare -A bare_file=([plain]=bb-plain.tar [gz]=bb-gz.tar.gz [zst]=bb-zst.tar.zst [xz]=bb-xz.tar.xz)
cp "$S/base.tar" "$T/bb-plain.tar"
cp "$S/base.tar.gz" "$T/bb-gz.tar.gz"
cp "$S/base.tar.zst" "$T/bb-zst.tar.zst"
cp "$S/base.tar.xz" "$T/bb-xz.tar.xz"
diff_base=sha256:$(sha "$S/base.tar")
for k in plain gz zst xz; do
	f=${bare_file[$k]}
	ok "import $f" import -q "$T/$f" || continue
	d=$(imported_digest)
	assert_eq "import $f: output line" "$d bb-$k:latest" "$(cat "$T/out")"
	read -r blob mt <<<"${want_blob[$k]}"
	info=$(manifest_info "$d")
	assert_eq "import $f: layer digest, media type, diff-id" \
		"sha256:$blob $mt $diff_base" "$(head -n 1 <<<"$info")"
	smount "$M" --root "$R" "bb-$k"
	assert_same_file "bare $k: busybox through the mount" /bin/busybox "$M/bin/busybox"
	got=$("$M/bin/busybox" sha256sum "$M/bin/busybox" 2>&1 | cut -c 1-64) || true
	assert_eq "bare $k: busybox runs from the mount" "$(sha /bin/busybox)" "$got"
	assert_content "bare $k: etc/motd" "$M/etc/motd" 'base\n'
	sumount "$M"
done
# --tag names a bare layer's image.
ok 'import --tag' import -q --tag bare/tagged:v1 "$S/base.tar.gz"
assert_eq 'import --tag: output' "$(imported_digest) bare/tagged:v1" "$(cat "$T/out")"
assert_eq 'import --tag: the layer' "sha256:$(sha "$S/base.tar.gz")" \
	"$(manifest_info "$(imported_digest)" | awk 'NR == 1 { print $1 }')"

# ---- an OCI layout made by mkimage.py (no strata involved) ----
# Three layers (gzip, zstd, plain): a whiteout and an opaque dir in l2.
lay=$T/layout
multi=$(mkimage oci "$lay" --name multi:1 "$S/base.tar.gz" "$S/l2.tar.zst" "$S/l3.tar")
# gzip and plain only, for skopeo's docker-archive and umoci.
plain=$(mkimage oci "$lay" --name plain:1 "$S/base.tar.gz" "$S/l2.tar" "$S/l3.tar.gz")
ok 'import OCI dir' import -q "$lay"
assert_same_text 'import OCI dir: output (manifests kept byte for byte)' \
	"$multi multi:1
$plain plain:1" "$(cat "$T/out")"
want_layers=$(printf '%s\n' \
	"sha256:$(sha "$S/base.tar.gz") application/vnd.oci.image.layer.v1.tar+gzip $diff_base" \
	"sha256:$(sha "$S/l2.tar.zst") application/vnd.oci.image.layer.v1.tar+zstd sha256:$(sha "$S/l2.tar")" \
	"sha256:$(sha "$S/l3.tar") application/vnd.oci.image.layer.v1.tar sha256:$(sha "$S/l3.tar")")
assert_same_text 'multi:1: layers in the store' "$want_layers" "$(manifest_info "$multi" | head -n 3)"

# ---- an oci-archive written by skopeo ----
skopeo copy -q "oci:$lay:multi:1" "oci-archive:$T/multi.oci.tar:ocia:1" || die 'skopeo copy to oci-archive'
sk_digest=$(skopeo inspect "oci-archive:$T/multi.oci.tar" | py 'import json, sys; print(json.load(sys.stdin)["Digest"])')
ok 'import oci-archive' import -q "$T/multi.oci.tar"
assert_eq 'import oci-archive: output' "$sk_digest ocia:1" "$(cat "$T/out")"

# ---- docker-archives: skopeo's, the same gzip'd ----
skopeo copy -q "oci:$lay:plain:1" "docker-archive:$T/plain.docker.tar:dock:1" ||
	die 'skopeo copy to docker-archive'
ok 'import docker-archive' import -q "$T/plain.docker.tar"
dock=$(imported_digest)
assert_eq 'import docker-archive: name as skopeo wrote it' "$dock docker.io/library/dock:1" "$(cat "$T/out")"
# The config is kept byte for byte (its digest is what skopeo wrote), the
# layers are stored as the archive has them (uncompressed).
sk_config=$(tar -xOf "$T/plain.docker.tar" manifest.json |
	py 'import json, sys; print(json.load(sys.stdin)[0]["Config"][:64])')
want_layers=$(printf '%s\n' \
	"sha256:$(sha "$S/base.tar") application/vnd.oci.image.layer.v1.tar $diff_base" \
	"sha256:$(sha "$S/l2.tar") application/vnd.oci.image.layer.v1.tar sha256:$(sha "$S/l2.tar")" \
	"sha256:$(sha "$S/l3.tar") application/vnd.oci.image.layer.v1.tar sha256:$(sha "$S/l3.tar")" \
	"config sha256:$sk_config")
assert_same_text 'docker-archive: layers and config in the store' "$want_layers" "$(manifest_info "$dock")"
gzip -n <"$T/plain.docker.tar" >"$T/plain.docker.tar.gz"
ok 'import gzip docker-archive' import -q --tag gzdock:1 "$T/plain.docker.tar.gz"
assert_eq 'import gzip docker-archive: same image' "$dock gzdock:1" "$(cat "$T/out")"

# ---- hand-made docker-archives: symlinked layer.tar; two images ----
mkimage docker "$T/legacy.tar" --symlinks --image "legacy:1=$S/base.tar,$S/l2.tar,$S/l3.tar" >/dev/null
# (The listing is taken whole first: with pipefail, grep -q quitting early
# would make tar die of SIGPIPE and the check fail now and then.)
legacy_list=$(tar -tvf "$T/legacy.tar")
grep -q '^l.*/layer.tar -> \.\./' <<<"$legacy_list" || die 'legacy.tar has no symlinked layer.tar'
ok 'import docker-archive with symlinked layer.tar' import -q "$T/legacy.tar"
assert_eq 'legacy docker-archive: the same layers as skopeo'"'"'s' \
	"$(manifest_info "$dock" | head -n 3)" "$(manifest_info "$(imported_digest)" | head -n 3)"
two=$(mkimage docker "$T/two.tar" --image "two/a:1,two/a:2=$S/base.tar,$S/l2.tar" \
	--image "two/b:1=$S/base.tar,$S/l3.tar")
ok 'import two-image docker-archive' import -q "$T/two.tar"
assert_eq 'two-image docker-archive: one line per name' 3 "$(wc -l <"$T/out")"
da=$(awk '$2 == "two/a:1" { print $1 }' "$T/out")
db=$(awk '$2 == "two/b:1" { print $1 }' "$T/out")
assert_eq 'two-image docker-archive: both names of image a' "$da" "$(awk '$2 == "two/a:2" { print $1 }' "$T/out")"
assert_ne 'two-image docker-archive: a and b differ' "$da" "$db"
assert_eq 'two-image docker-archive: configs as written' \
	"$two" "$(printf '%s\n' "$(manifest_info "$da" | awk '$1 == "config" { print $2 }')" \
		"$(manifest_info "$db" | awk '$1 == "config" { print $2 }')")"

# ---- images, images --json ----
assert_same_text 'index.json: every name imported' \
	"$(printf '%s\n' bare/tagged:v1 bb-gz:latest bb-plain:latest bb-xz:latest bb-zst:latest \
		docker.io/library/dock:1 gzdock:1 legacy:1 multi:1 ocia:1 plain:1 two/a:1 two/a:2 two/b:1)" \
	"$(index_names | awk '{ print $1 }')"
want=$(index_names | while read -r name d; do
	printf '%s %s %s\n' "$name" "$d" "$(manifest_info "$d" | grep -vc '^config ')"
done | sort)
assert_same_text 'images --json: name, digest, layers' "$want" "$(images_json_rows)"
ok 'images' images
assert_eq 'images: header' 'NAME DIGEST LAYERS SIZE CREATED' "$(head -n 1 "$T/out" | tr -s ' ')"
assert_same_text 'images: name, short digest, layers' \
	"$(awk '{ print $1, substr($2, 8, 12), $3 }' <<<"$want")" \
	"$(tail -n +2 "$T/out" | awk '{ print $1, $2, $3 }' | sort)"
# SIZE of multi:1: the three layers and the config, as in --json.
size=$(images_json_rows >/dev/null; py 'import json, sys
print([r["size"] for r in json.load(open(sys.argv[1])) if r["name"] == "multi:1"][0])' "$T/out")
want_size=$(($(stat -c %s "$S/base.tar.gz") + $(stat -c %s "$S/l2.tar.zst") + $(stat -c %s "$S/l3.tar") +
	$(stat -c %s "$R/blobs/sha256/$(manifest_info "$multi" | awk '$1 == "config" { print substr($2, 8) }')")))
assert_eq 'images --json: size of multi:1' "$want_size" "$size"
# $STRATA_ROOT is the default store.
got=$(STRATA_ROOT=$R "$STRATA" images --json | py 'import json, sys; print(len(json.load(sys.stdin)))')
assert_eq 'images with STRATA_ROOT' 14 "$got"

# ---- mounts: by name, full digest, prefixes; every import form ----
for ref in multi:1 "$multi" "${multi:7:12}" "sha256:${multi:7:6}" ocia:1 plain:1 docker.io/library/plain:1; do
	smount "$M" --root "$R" "$ref"
	check_merged "mount $ref" "$M"
	sumount "$M"
done
for ref in dock:1 gzdock:1 legacy:1; do
	smount "$M" --root "$R" "$ref"
	check_merged "mount $ref" "$M"
	sumount "$M"
done
smount "$M" --root "$R" two/b:1
assert_content 'two/b:1: data/hello' "$M/data/hello" 'hello\n'
assert_content 'two/b:1: etc/x (no whiteout in this image)' "$M/etc/x" 'x\n'
sumount "$M"
for ref in multi sha256:0000 "${multi:7:3}"; do
	sr mount "$ref" "$M"
	assert_one_error_line "mount $ref" 1
	assert_nothing_mounted_under "mount $ref" "$M"
done

# ---- --upper on a store image ----
U=$T/upper
mkdir -p "$U"
before=$(store_listing)
smount "$M" --root "$R" --upper "$U" multi:1
printf 'written\n' >"$M/etc/new"
rm "$M/etc/motd"
got=$("$M/bin/busybox" sh -c 'echo via-busybox >"$1/data/bb" && cat "$1/data/hello"' sh "$M" 2>&1) || true
assert_eq '--upper: busybox reads and writes' hello "$got"
sumount "$M"
assert_content '--upper: the new file in the upper' "$U/etc/new" 'written\n'
assert_true '--upper: the deletion as a whiteout' test -f "$U/etc/.wh.motd"
assert_content '--upper: written by busybox' "$U/data/bb" 'via-busybox\n'
smount "$M" --root "$R" --upper "$U" multi:1
assert_content '--upper remounted: new file' "$M/etc/new" 'written\n'
assert_false '--upper remounted: motd deleted' test -e "$M/etc/motd"
sumount "$M"
smount "$M" --root "$R" multi:1
assert_content 'without --upper: the image as it was' "$M/etc/motd" 'layer2\n'
sumount "$M"
assert_same_text '--upper: the store is unchanged' "$before" "$(store_listing)"

assert_blobs_sound 'after all imports'
assert_fsck_clean 'after all imports'
store_finish
