#!/usr/bin/env bash
# A committed image outside strata: `strata export` as oci-archive and as
# docker-archive, read by skopeo (inspect: layers and config; copy to an OCI
# layout), unpacked by umoci (from both copies and from the store itself,
# an OCI layout), as root so owners are kept: the rootfs must be the tree
# the container saw (types, modes, owners, sizes, link targets, content,
# xattrs, hard link counts).  The oci-archive imported again into a new
# store gives the same manifest digest.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v skopeo >/dev/null || skip 'skopeo is not installed'
command -v umoci >/dev/null || skip 'umoci is not installed'
command -v jq >/dev/null || skip 'jq is not installed'

mkdir -p "$T/layers"
build_image "$T/oci" img:v1
R=$T/store
sr() { run "$STRATA" "$@" --root "$R"; }
srun() { run "$STRATA" run --root "$R" "$@"; }
RUN_MOUNTS='^[^ ]+ /(dev|proc|sys|etc/hostname|etc/hosts|etc/resolv\.conf)( |$)'

sr import -q "$T/oci"
srun --name rt --hostname box img:v1 sh -c "$CHANGES" _ root
assert_eq "the container's changes ran (stderr: $ERR)" 0 "$RC"
sr commit rt img:v2
assert_eq "commit (stderr: $ERR)" 0 "$RC"
V2=$(cut -d' ' -f1 "$T/out")
srun --name rt --hostname box img:v1 treelist /
grep -Ev "$RUN_MOUNTS" "$T/out" >"$T/view-rt"
assert_true "the container's view lists /data/moved/f40" grep -q '^- /data/moved/f40 ' "$T/out"
sr inspect img:v2
cp "$T/out" "$T/v2.json"
digests=$(jq -c '[.layers[].digest]' "$T/v2.json")
diff_ids=$(jq -c '[.layers[].diff_id]' "$T/v2.json")

# ---- export ----
sr export img:v2 -o "$T/v2-oci.tar"
assert_eq "export (oci) (stderr: $ERR)" 0 "$RC"
sr export --format docker img:v2 -o "$T/v2-docker.tar"
assert_eq "export --format docker (stderr: $ERR)" 0 "$RC"

if skopeo inspect oci-archive:"$T/v2-oci.tar" >"$T/sk-oci.json" 2>"$T/sk.err"; then
	pass
	assert_eq "skopeo inspect oci-archive: the manifest digest" "$V2" "$(jq -r .Digest "$T/sk-oci.json")"
	assert_eq "skopeo inspect oci-archive: the layers" "$digests" "$(jq -c .Layers "$T/sk-oci.json")"
	assert_eq "skopeo inspect oci-archive: Env" '["PATH=/bin","GREETING=hello"]' "$(jq -c .Env "$T/sk-oci.json")"
else
	fail "skopeo inspect oci-archive: $(head -c 300 "$T/sk.err")"
fi
if skopeo inspect docker-archive:"$T/v2-docker.tar" >"$T/sk-docker.json" 2>"$T/sk.err"; then
	pass
	assert_eq "skopeo inspect docker-archive: the layers (uncompressed: the diff_ids)" \
		"$diff_ids" "$(jq -c .Layers "$T/sk-docker.json")"
else
	fail "skopeo inspect docker-archive: $(head -c 300 "$T/sk.err")"
fi
skopeo inspect --config docker-archive:"$T/v2-docker.tar" >"$T/sk-cfg.json" 2>"$T/sk.err" ||
	fail "skopeo inspect --config docker-archive: $(head -c 300 "$T/sk.err")"
assert_eq "docker-archive: the config's diff_ids" "$diff_ids" "$(jq -c .rootfs.diff_ids "$T/sk-cfg.json")"
assert_eq "docker-archive: the commit's history entry" "sh -c $CHANGES _ root" \
	"$(jq -r '.history[-1].created_by' "$T/sk-cfg.json")"

assert_true "skopeo copy oci-archive: → oci:" \
	skopeo copy -q oci-archive:"$T/v2-oci.tar" oci:"$T/sk-oci:v2"
assert_true "skopeo copy docker-archive: → oci:" \
	skopeo copy -q docker-archive:"$T/v2-docker.tar" oci:"$T/sk-docker:v2"

# ---- umoci: the rootfs is what the container saw ----
n=0
for src in "$T/sk-oci:v2" "$T/sk-docker:v2" "$R:img:v2"; do
	n=$((n + 1))
	if umoci unpack --image "$src" "$T/bundle$n" >/dev/null 2>"$T/umoci.err"; then
		pass
		"$TREELIST" "$T/bundle$n/rootfs" | grep -Ev "$RUN_MOUNTS" >"$T/view-umoci$n"
		assert_same_text "umoci unpack $src: the rootfs is the container's view" \
			"$(cat "$T/view-rt")" "$(cat "$T/view-umoci$n")"
	else
		fail "umoci unpack --image $src: $(head -c 300 "$T/umoci.err")"
	fi
done
assert_stat "umoci: the chown'd owner" '%u:%g' "$T/bundle1/rootfs/data/chown.txt" 1234:5678
assert_stat "umoci: the fifo" '%F %a' "$T/bundle1/rootfs/data/newfifo" 'fifo 600'
assert_stat "umoci: the hard link pair" '%h %i' "$T/bundle1/rootfs/data/added.txt" \
	"$(stat -c '%h %i' "$T/bundle1/rootfs/data/added-link")"
assert_false "umoci: the deleted file is gone" test -e "$T/bundle1/rootfs/data/delete.txt"
assert_false "umoci: the renamed directory's old name is gone" test -e "$T/bundle1/rootfs/data/movedir"
assert_false "umoci: the recreated directory's old files are gone" test -e "$T/bundle1/rootfs/data/recreate/r1"
assert_eq "umoci: the sparse file's content" "mid" \
	"$(dd if="$T/bundle1/rootfs/data/newsparse" bs=1 skip=4194304 count=3 status=none)"

# ---- the oci-archive, imported again ----
run "$STRATA" import -q --root "$T/store2" "$T/v2-oci.tar"
assert_eq "import of the exported oci-archive (stderr: $ERR)" 0 "$RC"
assert_eq "... gives the same manifest digest" "$V2" "$(cut -d' ' -f1 "$T/out")"
run "$STRATA" diff --root "$R" img:v1 img:v2
assert_true "diff img:v1 img:v2 is not empty" test -s "$T/out"
cp "$T/out" "$T/diff-store1"
run "$STRATA" import -q --root "$T/store2" "$T/oci"
run "$STRATA" diff --root "$T/store2" img:v1 "$V2"
assert_same_text "diff img:v1 img:v2 is the same in the other store" \
	"$(cat "$T/diff-store1")" "$(cat "$T/out")"


# ---- a zstd layer of several frames: read in place, no copy ----
# The docker-archive's layer.tar is decompressed from the blob itself.
gzip -dc "$T/layers/l0.tar.gz" >"$T/z0.tar"
split -b 8192 --filter='zstd -q -c' "$T/z0.tar" >"$T/z0.tar.zst"
py oci "$T/z-oci" zimg:1 "$T/z0.tar.zst" >/dev/null
sr import -q "$T/z-oci"
assert_eq "import of a zstd layer of several frames (stderr: $ERR)" 0 "$RC"
sr layers --json zimg:1
assert_eq "zstd of several frames: seekable" '["zstd true"]' \
	"$(jq -c '[.layers[] | "\(.compression) \(.seekable)"]' "$T/out")"
sr export --format docker zimg:1 -o "$T/z-docker.tar"
assert_eq "export --format docker of the zstd image (stderr: $ERR)" 0 "$RC"
hex=$(sha256sum "$T/z0.tar" | cut -d' ' -f1)
tar -xOf "$T/z-docker.tar" "$hex/layer.tar" >"$T/z0-exported.tar" ||
	fail "docker-archive: no $hex/layer.tar"
assert_same_file "docker-archive: the zstd layer's tar" "$T/z0.tar" "$T/z0-exported.tar"

finish
