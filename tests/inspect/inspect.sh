#!/usr/bin/env bash
# strata inspect, layers, ls, cat and diff on the test image, whose layers
# the test made (so it knows what each one adds, changes, deletes and
# wastes):
#   - inspect: JSON with digest, names, layers (digest, diff_id = sha256 of
#     the uncompressed layer, media type, seekable), config Env and Cmd,
#     history;
#   - layers: per-layer files/added/changed/deleted/bytes/wasted, its
#     compression and whether it is read in place (seekable); --wasted:
#     the total is the bytes of the files later layers overwrote or
#     deleted, the biggest offender first;
#   - ls --layer: the layer each entry comes from (image and container);
#     ls --json; ls of one layer by digest prefix;
#   - cat: through a file symlink and a directory symlink, a symlink
#     before ".." (followed first, as the kernel does); a file from a
#     later layer; clear errors for a directory, a missing path, a path a
#     later layer deleted or hid with an opaque directory, a fifo;
#   - diff between two images (an opaque directory shows as deletions of
#     what it hides), between two layers by digest and diff_id prefix,
#     an image with itself; bad references.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mkdir -p "$T/layers"
build_image "$T/oci" img:v1
py oci "$T/base-oci" base:1 "$T/layers/l0.tar.gz" >/dev/null
R=$T/store
sr() { run "$STRATA" "$@" --root "$R"; }

sr import -q "$T/oci"
V1=$(cut -d' ' -f1 "$T/out")
sr import -q "$T/base-oci"
assert_eq "imports" 0 "$RC"

# ---- inspect ----
sr inspect img:v1
assert_eq "inspect exit code" 0 "$RC"
cp "$T/out" "$T/v1.json"
if jq -e . "$T/v1.json" >/dev/null 2>&1; then pass; else fail "inspect: not JSON"; fi
assert_eq "inspect: digest" "$V1" "$(py inspect "$T/v1.json" digest)"
assert_eq "inspect: names" '["img:v1"]' "$(jq -c .names "$T/v1.json")"
# Indexed at import: the gzip layer is read in place, the plain ones need not.
assert_eq "inspect: layers seekable" '[true,false,false]' "$(jq -c '[.layers[].seekable]' "$T/v1.json")"
assert_eq "inspect: os/architecture" linux/amd64 \
	"$(py inspect "$T/v1.json" os)/$(py inspect "$T/v1.json" architecture)"
assert_eq "inspect: created" 2024-01-02T03:04:05Z "$(py inspect "$T/v1.json" created)"
assert_eq "inspect: config Env" '["PATH=/bin","GREETING=hello"]' "$(jq -c .config.Env "$T/v1.json")"
assert_eq "inspect: config Cmd" '["sh","-c","echo hi"]' "$(jq -c .config.Cmd "$T/v1.json")"
assert_eq "inspect: history" '["layer 0","layer 1","layer 2"]' "$(jq -c '[.history[].created_by]' "$T/v1.json")"
assert_eq "inspect: three layers" 3 "$(jq '.layers | length' "$T/v1.json")"
i=0
for f in l0.tar.gz l1.tar l2.tar; do
	lf=$T/layers/$f
	assert_eq "inspect: layer $i digest" "sha256:$(sha256sum <"$lf" | cut -d' ' -f1)" \
		"$(py inspect "$T/v1.json" "layers.$i.digest")"
	assert_eq "inspect: layer $i diff_id" "sha256:$(gzip -dcf "$lf" | sha256sum | cut -d' ' -f1)" \
		"$(py inspect "$T/v1.json" "layers.$i.diff_id")"
	assert_eq "inspect: layer $i size" "$(stat -c %s "$lf")" "$(py inspect "$T/v1.json" "layers.$i.size")"
	i=$((i + 1))
done
assert_eq "inspect: media types" \
	'["application/vnd.oci.image.layer.v1.tar+gzip","application/vnd.oci.image.layer.v1.tar","application/vnd.oci.image.layer.v1.tar"]' \
	"$(jq -c '[.layers[].media_type]' "$T/v1.json")"
L0=$(py inspect "$T/v1.json" layers.0.digest)
L1=$(py inspect "$T/v1.json" layers.1.digest)
L2=$(py inspect "$T/v1.json" layers.2.digest)
D0=$(py inspect "$T/v1.json" layers.0.diff_id)
sr inspect no-such:image
assert_one_error_line "inspect of an unknown image" 1

# ---- layers ----
sr layers --json --wasted img:v1
assert_eq "layers --json exit code (stderr: $ERR)" 0 "$RC"
cp "$T/out" "$T/layers.json"
read -r files0 added0 bytes0 <<<"$(py counts "$T/layers/l0.tar.gz")"
stats() { jq -r ".layers[$1] | \"\(.files) \(.added) \(.changed) \(.deleted) \(.bytes) \(.wasted)\"" "$T/layers.json"; }
# layer 0: everything added; big1, big2, o1, o2, gone3.txt wasted.
assert_eq "layers: layer 0 files added changed deleted bytes wasted" \
	"$files0 $added0 0 0 $bytes0 $((BIG1 + BIG2 + O1 + O2 + GONE3))" "$(stats 0)"
# layer 1: files big1 o3 run.sh; added opt opt/app run.sh o3; changed big1;
# deleted big2 (whiteout), o1 o2 (opaque /data/opq); run.sh wasted.
assert_eq "layers: layer 1 files added changed deleted bytes wasted" \
	"3 4 1 3 $((1000 + 30 + RUNSH2)) $RUNSH2" "$(stats 1)"
# layer 2: files motd run.sh; added motd; changed run.sh; deleted gone3.txt.
assert_eq "layers: layer 2 files added changed deleted bytes wasted" \
	"2 1 1 1 $((8 + 18)) 0" "$(stats 2)"
assert_eq "layers: created_by" '["layer 0","layer 1","layer 2"]' "$(jq -c '[.layers[].created_by]' "$T/layers.json")"
assert_eq "layers: digests" "[\"$L0\",\"$L1\",\"$L2\"]" "$(jq -c '[.layers[].digest]' "$T/layers.json")"
# gzip is read in place (seekable); a plain tar needs no seeking.
assert_eq "layers: compression and seekable" '["gzip true","none false","none false"]' \
	"$(jq -c '[.layers[] | "\(.compression) \(.seekable)"]' "$T/layers.json")"
assert_eq "layers --wasted: the total" "$WASTED_TOTAL" "$(jq .wasted "$T/layers.json")"
assert_eq "layers --wasted: the offenders, biggest first" \
	"data/big2 $BIG2 0 1 deleted|data/big1 $BIG1 0 1 overwritten|data/gone3.txt $GONE3 0 2 deleted|opt/app/run.sh $RUNSH2 1 2 overwritten|data/opq/o2 $O2 0 1 deleted|data/opq/o1 $O1 0 1 deleted|" \
	"$(jq -r '.top_wasted[] | "\(.path) \(.size) \(.layer) \(.by) \(.how)"' "$T/layers.json" | tr '\n' '|')"
sr layers --wasted --top 1 img:v1
assert_eq "layers --wasted --top 1 (text): the offender line" \
	'/data/big2  (layer 0, deleted in layer 1)' \
	"$(grep -E '^ *[0-9.]+ [kMG]?B  /' "$T/out" | sed 's/^ *[0-9.]* [kMG]*B  //')"
assert_true "layers --wasted (text): 6 files" grep -q '^wasted: .* in 6 files$' "$T/out"
assert_eq "layers (text): a header and three rows" 4 "$(sr layers img:v1 && grep -c . "$T/out")"
assert_true "layers (text): layer 0 seekable, gzip" grep -Eq '^0 .* yes +gzip ' "$T/out"
assert_true "layers (text): layer 1 plain" grep -Eq '^1 .* - +none ' "$T/out"
sr layers --top 0 img:v1
assert_one_error_line "layers --top 0" 2
sr layers base:1
assert_eq "layers of a one-layer image: nothing wasted" \
	"0   ${L0:7:12}" "$(sed -n 2p "$T/out" | cut -c 1-16)"

# ---- ls ----
sr ls --layer img:v1 /data
assert_eq "ls --layer exit code" 0 "$RC"
layer_of() { awk -v n="$1" '$7 == n { print $NF }' "$T/out"; }
lab() { printf '[%s:%s]' "$1" "${2:7:12}"; }
assert_eq "ls --layer: big1 from layer 1" "$(lab 1 "$L1")" "$(layer_of big1)"
assert_eq "ls --layer: opq from layer 1" "$(lab 1 "$L1")" "$(layer_of opq)"
assert_eq "ls --layer: keep.txt from layer 0" "$(lab 0 "$L0")" "$(layer_of keep.txt)"
assert_eq "ls --layer: owned.txt: mode and owner" '-rw-r----- 1000 1001 6' \
	"$(awk '$7 == "owned.txt" { print $1, $2, $3, $4 }' "$T/out")"
assert_eq "ls: what later layers deleted is not listed" "" "$(layer_of big2)$(layer_of gone3.txt)"
assert_eq "ls: the symlink and its target" 'sym -> keep.txt' \
	"$(awk '$7 == "sym" { print $7, $8, $9 }' "$T/out")"
sr ls --layer img:v1 /opt/app
assert_eq "ls --layer: run.sh from layer 2" "$(lab 2 "$L2")" "$(layer_of run.sh)"
sr ls --layer img:v1 /data/opq
assert_eq "ls: an opaque directory hides what is below it" "o3 $(lab 1 "$L1")" \
	"$(awk '{ print $7, $NF }' "$T/out")"
sr ls --json img:v1 /data
if jq -e . "$T/out" >/dev/null 2>&1; then
	pass
	assert_eq "ls --json: owned.txt" '{"path":"data/owned.txt","mode":33184,"uid":1000,"gid":1001,"size":6}' \
		"$(jq -c '.[] | select(.path == "data/owned.txt") | {path, mode, uid, gid, size}' "$T/out")"
	assert_eq "ls --json: sym's link" keep.txt "$(jq -r '.[] | select(.path == "data/sym") | .link' "$T/out")"
	assert_eq "ls --json: the fifo's type" $((8#10640)) "$(jq -r '.[] | select(.path == "data/fifo") | .mode' "$T/out")"
else
	fail "ls --json: not JSON"
fi
sr ls -R img:v1 /data/movedir
assert_eq "ls -R: everything below" $((MOVED_FILES + 2)) "$(grep -c . "$T/out")"
sr ls "${L1:7:12}" /
assert_eq "ls of one layer by digest prefix" 'data opt' "$(awk '{ print $7 }' "$T/out" | tr '\n' ' ' | sed 's/ $//')"
sr ls "${D0:7:10}" /etc/os-release
assert_true "ls of one layer by diff_id prefix" grep -q 'os-release -> ../usr/lib/os-release' "$T/out"
sr ls img:v1 /nope
assert_one_error_line "ls of a missing path" 1
assert_true "... says so" grep -q 'No such file or directory' "$T/err"

# ---- cat ----
sr cat img:v1 /etc/os-release
assert_eq "cat through a symlink (../usr/lib/os-release)" 'ID=stratatest
NAME="Strata Test"' "$(cat "$T/out")"
sr cat img:v1 /lib/os-release
assert_eq "cat through a directory symlink (/lib -> usr/lib)" 'ID=stratatest' "$(head -1 "$T/out")"
sr cat img:v1 /data/sym /etc/motd
assert_eq "cat of two files, a symlink first" 'keep
welcome' "$(cat "$T/out")"
sr cat img:v1 /data/big1
assert_eq "cat of a file a later layer overwrote: the later content" "1000 0" \
	"$(wc -c <"$T/out") $(tr -d B <"$T/out" | wc -c)"
sr cat img:v1 /data/sparse
assert_same_file "cat of a sparse file" "$T/layers/root0/data/sparse" "$T/out"
sr cat img:v1 /data
assert_one_error_line "cat of a directory" 1
assert_true "... says so" grep -q 'Is a directory' "$T/err"
sr cat img:v1 /data/nope
assert_one_error_line "cat of a missing path" 1
assert_true "... says so" grep -q 'No such file or directory' "$T/err"
sr cat img:v1 /data/big2
assert_one_error_line "cat of a file a later layer deleted" 1
sr cat img:v1 /data/opq/o1
assert_one_error_line "cat of a file an opaque directory hides" 1
sr cat img:v1 /data/fifo
assert_one_error_line "cat of a fifo" 1
sr cat img:v1 /etc/motd /nope
assert_eq "cat of a file and a missing one: exit 1" 1 "$RC"
assert_eq "... the file still printed" welcome "$(cat "$T/out")"
sr cat "${L1:7:12}" /opt/app/run.sh
assert_eq "cat from one layer: its own version" "$RUNSH2" "$(wc -c <"$T/out")"

# A symlink before "..": followed first, as the kernel does (path_resolution(7)):
# /usr/lib/foo/.. is /opt, not /usr/lib.
mkdir -p "$T/dotdot/usr/lib" "$T/dotdot/opt/x"
echo OPT >"$T/dotdot/opt/bar"
echo USR >"$T/dotdot/usr/lib/bar"
ln -s ../../opt/x "$T/dotdot/usr/lib/foo"
tar -C "$T/dotdot" -cf "$T/dotdot.tar" usr opt
sr import -q -t dotdot:1 "$T/dotdot.tar"
sr cat dotdot:1 /usr/lib/foo/../bar
assert_eq "cat of link/..: the link's target's parent" OPT "$(cat "$T/out")"
assert_eq "... as the kernel resolves it in the extracted tree" "$(cat "$T/dotdot/usr/lib/foo/../bar")" "$(cat "$T/out")"
sr cat dotdot:1 /usr/lib/foo/../../usr/lib/bar
assert_eq "cat of link/../..: climbs from where the link led" USR "$(cat "$T/out")"

# ---- a container ----
run "$STRATA" run --root "$R" --name rt img:v1 sh -c "$CHANGES" _ root
assert_eq "the container's changes ran (stderr: $ERR)" 0 "$RC"
sr ls --layer rt /data
assert_eq "ls --layer of a container: modify.txt from the upper" '[upper]' "$(layer_of modify.txt)"
assert_eq "ls --layer of a container: owned.txt from layer 0" "$(lab 0 "$L0")" "$(layer_of owned.txt)"
assert_eq "ls of a container: what it deleted is not listed" "" "$(layer_of delete.txt)$(layer_of deldir)"
sr cat rt /data/modify.txt
assert_eq "cat of a container: a file it modified" 'original
changed' "$(cat "$T/out")"
sr ls --layer rt /data/moved
assert_eq "ls --layer of a container: a renamed directory shows its lower files" \
	"extra [upper]|f01 $(lab 0 "$L0")|" \
	"$(awk '$7 == "extra" || $7 == "f01" { print $7, $NF }' "$T/out" | tr '\n' '|')"
sr cat rt /data/moved/f01
assert_eq "cat of a container: a file below a renamed directory" "moved 01" "$(cat "$T/out")"

# ---- diff between images and layers ----
sr diff -v base:1 img:v1
assert_eq "diff base:1 img:v1 exit code (stderr: $ERR)" 0 "$RC"
assert_same_text "diff -v base:1 img:v1 (the opaque /data/opq: deletions of what it hides)" \
	'C /data (contents)
C /data/big1 (content)
D /data/big2
D /data/gone3.txt
C /data/opq (contents)
D /data/opq/o1
D /data/opq/o2
A /data/opq/o3
C /etc (contents)
A /etc/motd
A /opt
A /opt/app
A /opt/app/run.sh' "$(cat "$T/out")"
sr diff img:v1 base:1
assert_same_text "diff img:v1 base:1: the other way round" \
	'C /data
C /data/big1
A /data/big2
A /data/gone3.txt
C /data/opq
A /data/opq/o1
A /data/opq/o2
D /data/opq/o3
C /etc
D /etc/motd
D /opt' "$(cat "$T/out")"
sr diff --json base:1 img:v1
assert_eq "diff --json base:1 img:v1" \
	'/data/opq/o1 D' "$(jq -r '.[] | select(.path == "/data/opq/o1") | "\(.path) \(.kind)"' "$T/out")"
sr diff img:v1 img:v1
assert_eq "diff of an image with itself prints nothing" "0:" "$RC:$(cat "$T/out")"
sr diff -v "${L1:7:12}" "${L2:7:12}"
assert_same_text "diff -v of layer 1 and layer 2 by digest prefix" \
	'C /data (contents)
D /data/big1
D /data/opq
A /etc
A /etc/motd
C /opt (contents)
C /opt/app (contents)
C /opt/app/run.sh (content)' "$(cat "$T/out")"
sr diff "sha256:${D0:7:16}" "${L2:7:8}"
assert_eq "diff of layer 0 (diff_id prefix) and layer 2: exit code" 0 "$RC"
assert_true "... layer 2's files are added" grep -qx 'A /etc/motd' "$T/out"
assert_true "... layer 0's files are deleted" grep -qx 'D /bin' "$T/out"
assert_false "... a whiteout is not a file of the layer" grep -q '\.wh\.' "$T/out"
sr diff abc img:v1
assert_one_error_line "diff: a prefix too short" 1
sr diff img:v1 no-such-image
assert_one_error_line "diff: an unknown image" 1
sr diff no-such-container
assert_one_error_line "diff of one unknown container" 1

finish
