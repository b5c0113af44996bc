#!/bin/bash
# badinput: broken and hostile inputs are refused with exit 1 and one line
# "strata: ..." naming the problem; no tag appears, no blob that does not
# match its name, fsck stays clean, and the store is as it was (what a
# refused import leaves for gc is a known bug, checked apart; gc then brings
# the store back to exactly what it was).  Also: --tag on a multi-image
# archive, a store dir that is no layout, and a full disk (a 3 MB tmpfs).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v skopeo >/dev/null || skip 'skopeo is not installed'

make_layers
S=$T/src
B=$T/bad
mkdir -p "$B"
# The good image the store holds, and a three-layer one to break.
mkimage oci "$T/goodlay" --name good:1 "$S/base.tar.gz" "$S/l2.tar" >/dev/null
ok 'import the good image' import -q "$T/goodlay"
ok 'gc before the cases' gc
mkimage oci "$T/lay" --name victim:1 "$S/base.tar.gz" "$S/l2.tar.zst" "$S/l3.tar" >/dev/null
last_layer=$(sha "$S/l3.tar")
skopeo copy -q "oci:$T/lay:victim:1" "oci-archive:$T/victim.oci.tar:victim:1" || die 'skopeo oci-archive'
mkimage docker "$T/victim.docker.tar" --image "victim:1=$S/base.tar,$S/l2.tar,$S/l3.tar" >/dev/null

# refuse WHAT INPUT TEXT [GARBAGE]: importing INPUT fails as described
# above, and stderr holds TEXT.  GARBAGE names the known bug when strata is
# known to leave blobs or caches of the refused import behind.
# IMPORT_OPTS: more options for the import (none by default).
IMPORT_OPTS=()
refuse() {
	local what=$1 input=$2 text=$3 garbage=${4:-} before index
	before=$(store_listing)
	index=$(cat "$R/index.json")
	sr import -q "$input" "${IMPORT_OPTS[@]}"
	log "$what: exit $RC: $ERR"
	assert_one_error_line "$what" 1
	case "$ERR" in
	*"$text"*) pass ;;
	*) fail "$what: stderr does not say '$text': $ERR" ;;
	esac
	assert_eq "$what: nothing on stdout" '' "$(cat "$T/out")"
	assert_eq "$what: index.json unchanged" "$index" "$(cat "$R/index.json")"
	assert_blobs_sound "$what"
	assert_fsck_clean "$what"
	if [ -z "$garbage" ]; then
		assert_same_text "$what: store unchanged" "$before" "$(store_listing)"
	else
		known "$what: store unchanged" "$garbage" test "$before" == "$(store_listing)"
	fi
	sr gc
	assert_eq "$what: gc" 0 "$RC"
	assert_same_text "$what: after gc, the store as it was" "$before" "$(store_listing)"
}

# ---- archives cut short, not archives at all ----
cut_half() { head -c $(($(stat -c %s "$1") / 2)) "$1" >"$2"; }
cut_half "$T/victim.oci.tar" "$B/cut.oci.tar"
refuse 'truncated oci-archive' "$B/cut.oci.tar" 'runcated'
cut_half "$T/victim.docker.tar" "$B/cut.docker.tar"
refuse 'truncated docker-archive' "$B/cut.docker.tar" 'runcated'
gzip -n -c "$T/victim.docker.tar" >"$B/docker.tar.gz"
cut_half "$B/docker.tar.gz" "$B/cut.docker.tar.gz"
refuse 'truncated gzip docker-archive' "$B/cut.docker.tar.gz" 'runcated'
cut_half "$S/base.tar.gz" "$B/cut-layer.tar.gz"
refuse 'truncated gzip layer' "$B/cut-layer.tar.gz" "$B/cut-layer.tar.gz: "
pattern 0 100000 3 >"$B/random.bin"
refuse 'not a tar (pattern bytes)' "$B/random.bin" "$B/random.bin: "
for i in $(seq 1 200); do echo "this is a text file, not an archive"; done >"$B/text.txt"
refuse 'not a tar (text)' "$B/text.txt" "$B/text.txt: "
gzip -n -c "$B/text.txt" >"$B/text.txt.gz"
refuse 'not a tar (gzip of text)' "$B/text.txt.gz" "$B/text.txt.gz: "
mkdir -p "$B/plaindir"
echo a >"$B/plaindir/a"
refuse 'a directory that is no layout' "$B/plaindir" 'not an OCI layout'
refuse 'no such file' "$B/nonexistent" 'No such file or directory'

# ---- OCI layouts made wrong ----
# copy_lay NAME: a copy of the three-layer layout to break.
copy_lay() { rm -rf "${B:?}/$1" && cp -r "$T/lay" "$B/$1"; }
manifest_of() { py 'import json, sys; print(json.load(open(sys.argv[1] + "/index.json"))["manifests"][0]["digest"][7:])' "$1"; }
config_of() { py 'import json, sys; print(json.load(open(sys.argv[1]))["config"]["digest"][7:])' "$1/blobs/sha256/$(manifest_of "$1")"; }

copy_lay wrongdigest
printf 'Z' | dd of="$B/wrongdigest/blobs/sha256/$last_layer" bs=1 seek=600 conv=notrunc status=none
refuse 'layer blob with other content than its digest' "$B/wrongdigest" \
	"blob sha256:$last_layer: digest mismatch"
copy_lay wrongmanifest
m=$(manifest_of "$B/wrongmanifest")
sed -i 's/"schemaVersion":2/"schemaVersion":3/' "$B/wrongmanifest/blobs/sha256/$m"
refuse 'manifest blob with other content than its digest' "$B/wrongmanifest" "blob sha256:$m: digest mismatch"
copy_lay wrongsize
py 'import json, sys
p = sys.argv[1] + "/index.json"
j = json.load(open(p))
j["manifests"][0]["size"] += 1
json.dump(j, open(p, "w"))' "$B/wrongsize"
refuse 'manifest descriptor with the wrong size' "$B/wrongsize" 'size mismatch'

bogus=sha256:$(printf '%064d' 1)
mkimage oci "$B/diffid-plain" --name victim:1 --diff-id "0=$bogus" "$S/base.tar" >/dev/null
refuse 'config diff_id mismatch (plain layer)' "$B/diffid-plain" "$bogus"
mkimage oci "$B/diffid-gzip" --name victim:1 --diff-id "0=$bogus" "$S/base.tar.gz" >/dev/null
refuse 'config diff_id mismatch (gzip layer)' "$B/diffid-gzip" "config says diff-id $bogus"
mkimage oci "$B/diffid-last" --name victim:1 --diff-id "2=sha256:$(sha "$S/l2.tar")" \
	"$S/base.tar.gz" "$S/l2.tar.zst" "$S/l3.tar.gz" >/dev/null
refuse 'config diff_id mismatch (last layer)' "$B/diffid-last" 'diff-id'

copy_lay missing
rm "$B/missing/blobs/sha256/$last_layer"
refuse 'missing layer blob' "$B/missing" "blobs/sha256/$last_layer"
copy_lay missingconfig
c=$(config_of "$B/missingconfig")
rm "$B/missingconfig/blobs/sha256/$c"
refuse 'missing config blob' "$B/missingconfig" "blobs/sha256/$c"

mkimage oci "$B/mediatype" --name victim:1 --mt 1=application/vnd.example.layer.v1.tar+lz4 \
	"$S/base.tar.gz" "$S/l2.tar" >/dev/null
refuse 'unknown layer media type' "$B/mediatype" \
	"unknown media type 'application/vnd.example.layer.v1.tar+lz4'"

# A symlinked blob, even one whose target holds the right bytes.
copy_lay symlinked
mv "$B/symlinked/blobs/sha256/$last_layer" "$B/outside-blob"
ln -s "$B/outside-blob" "$B/symlinked/blobs/sha256/$last_layer"
refuse 'symlinked blob in an OCI dir (absolute target)' "$B/symlinked" 'symlink'
copy_lay symlinked-rel
mv "$B/symlinked-rel/blobs/sha256/$last_layer" "$B/symlinked-rel/blobs/l3"
ln -s ../l3 "$B/symlinked-rel/blobs/sha256/$last_layer"
refuse 'symlinked blob in an OCI dir (inside the layout)' "$B/symlinked-rel" 'symlink'
copy_lay symlinked-index
mv "$B/symlinked-index/index.json" "$B/index.json.elsewhere"
ln -s "$B/index.json.elsewhere" "$B/symlinked-index/index.json"
refuse 'symlinked index.json in an OCI dir' "$B/symlinked-index" 'symlink'

# ---- hostile archive members ----
echo evil >"$B/evil"
mkimage pack "$B/dotdot.tar" "$T/lay" --file ../../evil="$B/evil"
refuse 'member ../../evil' "$B/dotdot.tar" "'../../evil': a path that leaves the archive"
mkimage pack "$B/dotdot2.tar" "$T/lay" --file blobs/../../evil="$B/evil"
refuse 'member blobs/../../evil' "$B/dotdot2.tar" 'leaves the archive'
mkimage pack "$B/symout.tar" "$T/lay" --symlink "blobs/sha256/$last_layer=../../../../../etc/passwd"
refuse 'symlink member pointing outside the archive' "$B/symout.tar" \
	"link to '../../../../../etc/passwd' leaves the archive"
mkimage pack "$B/symabs.tar" "$T/lay" --symlink "blobs/sha256/$last_layer=/etc/passwd"
refuse 'symlink member with an absolute target' "$B/symabs.tar" "blobs/sha256/$last_layer"
mkimage pack "$B/hardout.tar" "$T/lay"
py 'import tarfile, sys
with tarfile.open(sys.argv[1], "a") as t:
    i = tarfile.TarInfo("blobs/sha256/hard")
    i.type = tarfile.LNKTYPE
    i.linkname = "../../../etc/passwd"
    t.addfile(i)' "$B/hardout.tar"
refuse 'hard link member pointing outside the archive' "$B/hardout.tar" 'leaves the archive'

# ---- what a layer may decompress to ----
# 8 MiB of zeros gzip to 8 kB.  With --max-layer-size 1M: refused with one
# line naming the layer and the option, as a bare layer, in an OCI layout,
# and as the plain member of a gzipped docker-archive (which the import
# decompresses into the store); the store is as it was.
mkdir -p "$T/zeros"
head -c 8M /dev/zero >"$T/zeros/zeros"
tar -C "$T/zeros" --numeric-owner -cf "$B/zeros.tar" zeros
gzip -n -c "$B/zeros.tar" >"$B/bomb.tar.gz"
bomb_sha=sha256:$(sha "$B/bomb.tar.gz")
mkimage oci "$B/bomblay" --name bomb:1 "$S/base.tar.gz" "$B/bomb.tar.gz" >/dev/null
mkimage docker "$B/zeros.docker.tar" --image "zeros:1=$B/zeros.tar" >/dev/null
gzip -n -c "$B/zeros.docker.tar" >"$B/zeros.docker.tar.gz"
limit='decompresses to more than 1 MiB (the limit; raise it with --max-layer-size)'
IMPORT_OPTS=(--max-layer-size 1M)
refuse 'gzip bomb, bare layer' "$B/bomb.tar.gz" "strata: $B/bomb.tar.gz: layer $bomb_sha: $limit"
refuse 'gzip bomb in an OCI layout' "$B/bomblay" "strata: $B/bomblay: layer $bomb_sha: $limit"
refuse 'gzipped docker-archive of a big plain layer' "$B/zeros.docker.tar.gz" \
	"/layer.tar': $limit"
IMPORT_OPTS=()
sr import -q --max-layer-size 1x "$B/bomb.tar.gz"
assert_one_error_line '--max-layer-size 1x' 2
# Under a higher limit it imports, and mounts (no limit for the store's own).
ok 'gzip bomb under a higher limit' import -q --max-layer-size 9M "$B/bomb.tar.gz"
smount "$T/mnt" --root "$R" bomb
assert_same_file 'gzip bomb: mounted' "$T/zeros/zeros" "$T/mnt/zeros"
sumount "$T/mnt"
rm -f "$R"/strata/layers/*.tar "$R"/strata/layers/*.idx
smount "$T/mnt" --root "$R" bomb
assert_same_file 'gzip bomb: mounted again, its index rebuilt without a limit' "$T/zeros/zeros" "$T/mnt/zeros"
sumount "$T/mnt"
ok 'gzip bomb: rmi' rmi bomb:latest
ok 'gzip bomb: gc' gc

# ---- --tag with more than one image ----
mkimage docker "$B/two.tar" --image "two/a:1=$S/base.tar,$S/l2.tar" --image "two/b:1=$S/base.tar,$S/l3.tar" >/dev/null
before=$(store_listing)
sr import -q --tag one:1 "$B/two.tar"
# A usage error (exit 2), but found only once the archive is read.
assert_one_error_line '--tag on a two-image archive' 2
case "$ERR" in
*'holds 2 images; --tag needs exactly one'*) pass ;;
*) fail "--tag on a two-image archive: stderr: $ERR" ;;
esac
assert_false '--tag on a two-image archive: no name' grep -q 'one:1\|two/' "$R/index.json"
assert_same_text '--tag on a two-image archive: store unchanged' "$before" "$(store_listing)"
sr gc
# Three names, two images: still two images.
mkimage docker "$B/three.tar" --image "three/a:1,three/a:2=$S/base.tar,$S/l2.tar" \
	--image "three/b:1=$S/base.tar,$S/l3.tar" >/dev/null
sr import -q --tag one:1 "$B/three.tar"
assert_one_error_line '--tag on an archive of two images, three names' 2
assert_true '--tag on an archive of two images, three names: counts images' grep -q 'holds 2 images' "$T/err"
sr gc
# One image with two names is one image: --tag names it (instead).
before=$(index_names)
mkimage docker "$B/onetwo.tar" --image "four/a:1,four/a:2=$S/base.tar,$S/l2.tar" >/dev/null
sr import -q --tag one:1 "$B/onetwo.tar"
assert_eq '--tag on one image with two names: exit' 0 "$RC"
assert_eq '--tag on one image with two names: output' "$(imported_digest) one:1" "$(cat "$T/out")"
assert_same_text '--tag on one image with two names: only that name' \
	"$(printf '%s\n' "$before" "one:1 $(imported_digest)" | sort)" "$(index_names)"
sr rmi one:1
sr gc

# ---- a store dir that is no layout ----
mkdir -p "$T/notastore"
echo data >"$T/notastore/file"
snapshot() { (cd "$T/notastore" && find . -printf '%y %p %s\n' | sort); }
ns_before=$(snapshot)
for args in "import -q $S/l3.tar" images 'images --json' gc fsck 'tag x:1 y:1' 'rmi x:1' \
	"export -o $T/ns.tar x:1" "mount x:1 $T/mnt"; do
	mkdir -p "$T/mnt"
	# shellcheck disable=SC2086 # words on purpose
	SR_ROOT=$T/notastore sr $args
	assert_one_error_line "not a store: ${args%% *}" 1
	assert_eq "not a store: ${args%% *}: message" "strata: store $T/notastore: not an OCI image layout" "$ERR"
done
assert_same_text 'not a store: the directory untouched' "$ns_before" "$(snapshot)"
assert_nothing_mounted_under 'not a store: mount' "$T/mnt"
echo file >"$T/afile"
SR_ROOT=$T/afile sr images
assert_one_error_line 'a regular file as the store' 1
SR_ROOT=$T/nostore sr images
assert_one_error_line 'a store that does not exist: images' 1
assert_false 'images did not create the store' test -e "$T/nostore"

# ---- a full disk ----
F=$T/full
mkdir -p "$F"
if mount -t tmpfs -o size=3m strata-test "$F"; then
	MOUNTS+=("$F")
	R=$F
	ok 'full disk: a small image fits' import -q "$S/l3.tar"
	ok 'full disk: gc' gc
	head -c 5000000 /dev/urandom >"$T/random5m"
	tar -C "$T" --numeric-owner -cf "$T/big.tar" random5m
	refuse 'full disk: bare layer' "$T/big.tar" 'No space left on device'
	mkimage docker "$T/big.docker.tar" --image "big:1=$T/big.tar" >/dev/null
	refuse 'full disk: docker-archive' "$T/big.docker.tar" 'No space left on device'
	mkimage oci "$T/biglay" --name big:1 "$S/l2.tar" "$T/big.tar" >/dev/null
	refuse 'full disk: OCI layout' "$T/biglay" 'No space left on device'
	# 10 MB of zeros zstd to a few kB: the blob fits, its decompressed copy
	# not.  (Not gzip: a gzip layer is read in place, with no copy.)
	mkdir -p "$T/z"
	head -c 10000000 /dev/zero >"$T/z/zeros"
	tar -C "$T/z" --numeric-owner -I zstd -cf "$T/zeros.tar.zst" zeros
	# By default the limit is 90% of the space left: the import stops
	# there; past it, the disk is full and says so.
	before=$(store_listing)
	for max in default 1G; do
		if [ "$max" = default ]; then
			sr import -q "$T/zeros.tar.zst"
		else
			sr import -q --max-layer-size "$max" "$T/zeros.tar.zst"
		fi
		log "full disk: decompressed copy ($max limit): exit $RC: $ERR"
		cp "$T/err" "$T/full-$max.err"
		assert_one_error_line "full disk: decompressed copy ($max limit)" 1
		assert_blobs_sound "full disk: decompressed copy ($max limit)"
		assert_fsck_clean "full disk: decompressed copy ($max limit)"
		sr gc
		assert_same_text "full disk: decompressed copy ($max limit): after gc, the store as it was" \
			"$before" "$(store_listing)"
	done
	assert_true 'full disk, default limit: decompresses to more than the space left' \
		grep -qE 'decompresses to more than [0-9]+ (KiB|MiB) \(the limit; raise it with --max-layer-size\)$' "$T/full-default.err"
	assert_true 'full disk, --max-layer-size 1G: the message says the disk is full' \
		grep -q 'No space left on device' "$T/full-1G.err"
	smount "$T/mnt" --root "$F" l3
	assert_content 'full disk: the image stored before still mounts' "$T/mnt/data/hello" 'hello\n'
	sumount "$T/mnt"
	R=$T/store
else
	log 'note: cannot mount a tmpfs here; the full-disk cases are skipped'
fi

# ---- warnings name the layer as the user gave it ----
# A skipped entry is imported with a warning naming the file (a bare layer)
# or the archive and its member, never the temp file's /proc/self/fd path.
printf 'file ../escape content=x\nfile ok content=ok\n' | "$MKLAYER" "$T/warn.tar" || die 'mklayer'
# Another layer for the archive: one already indexed warns no more.
printf 'file ../escape content=y\nfile ok content=ok\n' | "$MKLAYER" "$T/warn2.tar" || die 'mklayer'
mkimage docker "$T/warn.docker.tar" --image "warn:1=$T/warn2.tar" >/dev/null
sr import -q "$T/warn.tar"
assert_eq 'bare layer with a bad entry: imported' 0 "$RC"
assert_eq 'bare layer: the warning names the file' \
	"strata: $T/warn.tar: skipping '../escape': path contains '..'" "$ERR"
sr import -q "$T/warn.docker.tar"
assert_eq 'docker-archive with a bad entry: imported' 0 "$RC"
assert_true 'docker-archive: the warning names the archive and the member' \
	grep -q "^strata: $T/warn.docker.tar: [^ ]*: skipping '../escape'" <<<"$ERR"
assert_false 'no warning names /proc/self/fd' grep -q /proc/self/fd <<<"$ERR"

assert_fsck_clean 'at the end'
sr rmi warn:1 warn:latest
assert_same_text 'at the end: only the good image' "good:1 $(manifest_of "$T/goodlay" | sed 's/^/sha256:/')" "$(index_names)"
store_finish
