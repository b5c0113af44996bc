#!/bin/bash
# tags: `tag` adds a name and moves it from another image; `rmi NAME` drops
# that name only, `rmi DIGEST` every name of the image; blobs stay until
# `gc`, which removes exactly what no name uses and says so; a mounted
# image's blobs survive rmi + gc until it is unmounted.  fsck is clean after
# every step.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

make_layers
S=$T/src
M=$T/mnt
# Images sharing the base: keep (base + l2), gone (base + l3 + a unique
# layer), pinned (base + another unique layer).
pattern 0 300000 7 >"$T/u1"
tar -C "$T" --numeric-owner -cf "$T/u1.tar" u1
gzip -n -c "$T/u1.tar" >"$T/u1.tar.gz"
pattern 0 200000 8 >"$T/u2"
tar -C "$T" --numeric-owner -cf "$T/u2.tar" u2
keep=$(mkimage oci "$T/lay" --name keep:1 "$S/base.tar.gz" "$S/l2.tar")
gone=$(mkimage oci "$T/lay" --name gone:1 "$S/base.tar.gz" "$S/l3.tar" "$T/u1.tar.gz")
pinned=$(mkimage oci "$T/lay" --name pinned:1 "$S/base.tar.gz" "$T/u2.tar")
ok 'import' import -q "$T/lay"
assert_fsck_clean 'after import'
# The base layer is in all three images: stored once, nothing left behind.
assert_eq 'import: strata/tmp empty afterwards' '' "$(ls -A "$R/strata/tmp")"

names() { index_names | tr '\n' ';'; }

# ---- tag ----
ok 'tag keep:1 alias:1' tag keep:1 alias:1
assert_eq 'tag: new name' "alias:1 $keep;gone:1 $gone;keep:1 $keep;pinned:1 $pinned;" "$(names)"
ok 'tag by digest prefix' tag "${gone:7:10}" moving:latest
assert_eq 'tag by prefix: name on gone' "$gone" "$(index_names | awk '$1 == "moving:latest" { print $2 }')"
# "moving" is "moving:latest": the name moves (and is stored as given).
ok 'tag moves' tag keep:1 moving
assert_eq 'tag moves: moving now on keep' "$keep" "$(index_names | awk '$1 == "moving" { print $2 }')"
assert_eq 'tag moves: one entry for the name' 1 "$(index_names | grep -cE '^moving(:latest)? ')"
assert_eq 'tag moves: gone keeps its own name' "$gone" "$(index_names | awk '$1 == "gone:1" { print $2 }')"
n=$(blob_count)
assert_fsck_clean 'after tags'
sr tag keep:1 'bad name'
assert_one_error_line 'tag to an invalid name' 2
sr tag keep:1 -leading-dash
assert_eq 'tag to a name starting with -: refused' 2 "$RC"

# ---- rmi ----
ok 'rmi alias:1' rmi alias:1
assert_eq 'rmi NAME: other names stay' "gone:1 $gone;keep:1 $keep;moving $keep;pinned:1 $pinned;" "$(names)"
ok 'rmi by digest' rmi "$keep"
assert_eq 'rmi DIGEST: every name of the image goes' "gone:1 $gone;pinned:1 $pinned;" "$(names)"
assert_eq 'rmi: blobs stay until gc' "$n" "$(blob_count)"
assert_fsck_clean 'after rmi'
# Removed from index.json: not found any more, though its blobs are there.
sr tag "$keep" keep:1
assert_one_error_line 'tag a removed image by digest' 1
# Importing it again brings it back (--ref: only that image), no new blob.
ok 'import --ref keep:1' import -q --ref keep:1 "$T/lay"
assert_eq 'import --ref keep:1: that image only' "$keep keep:1" "$(cat "$T/out")"
assert_eq 'import --ref keep:1: no new blob' "$n" "$(blob_count)"

# ---- gc ----
ok 'gc with nothing to do' gc
assert_eq 'gc with nothing to do: output' \
	'removed 0 blobs (0 B), 0 cache files (0 B), 0 temp files (0 B)' "$(cat "$T/out")"
assert_eq 'gc with nothing to do: blobs' "$n" "$(blob_count)"
# gone:1 alone has its manifest, its config, l3.tar and u1.tar.gz; base is
# shared.  Its caches: l3's index and u1's (a gzip layer has no copy).
u1_key=$(layer_key "$T/u1.tar" "$T/u1.tar.gz")
mapfile -t gone_blobs < <(printf '%s\n' "${gone#sha256:}" \
	"$(manifest_info "$gone" | awk '$1 == "config" { print substr($2, 8) }')" "$(sha "$S/l3.tar")" \
	"$(sha "$T/u1.tar.gz")" | sort)
sum_sizes() { stat -c %s "$@" | awk '{ s += $1 } END { print s }'; }
gone_bytes=$(cd "$R/blobs/sha256" && sum_sizes "${gone_blobs[@]}")
l3_idx=$R/strata/layers/$(sha "$S/l3.tar").idx
cache_bytes=$(sum_sizes "$l3_idx" "$R/strata/layers/$u1_key.idx")
ok 'rmi gone:1' rmi gone:1
ok 'gc' gc
human() { py 'import sys
v, u = float(sys.argv[1]), 0
units = ["B", "kB", "MB", "GB"]
while v >= 1000 and u < 3:
    v, u = v / 1000, u + 1
print(sys.argv[1] + " B" if u == 0 else ("%.*f %s" % (2 if v < 10 else 1 if v < 100 else 0, v, units[u])))' "$1"; }
assert_eq 'gc: output says what it removed' \
	"removed 4 blobs ($(human "$gone_bytes")), 2 cache files ($(human "$cache_bytes")), 0 temp files (0 B)" \
	"$(cat "$T/out")"
assert_eq 'gc: blob count' $((n - 4)) "$(blob_count)"
assert_same_text 'gc: the blobs removed are gone:1'"'"'s own' "$(printf '%s\n' "${gone_blobs[@]}")" \
	"$(comm -23 <(printf '%s\n' "${gone_blobs[@]}") <(stored_blobs))"
assert_same_text 'gc: what is left is what index.json reaches' "$(referenced_blobs)" "$(stored_blobs)"
assert_false 'gc: u1'"'"'s index removed' test -e "$R/strata/layers/$u1_key.idx"
assert_false 'gc: l3'"'"'s index removed' test -e "$l3_idx"
assert_true 'gc: the shared base index kept' \
	test -e "$R/strata/layers/$(layer_key "$S/base.tar" "$S/base.tar.gz").idx"
assert_fsck_clean 'after gc'
smount "$M" --root "$R" keep:1
assert_content 'after gc: keep:1 still mounts' "$M/etc/motd" 'layer2\n'
sumount "$M"

# ---- a mounted image survives rmi + gc ----
smount "$M" --root "$R" pinned:1
n=$(blob_count)
ok 'rmi pinned:1 while mounted' rmi pinned:1
ok 'gc while pinned:1 is mounted' gc
assert_eq 'gc while mounted: nothing removed' 'removed 0 blobs (0 B), 0 cache files (0 B), 0 temp files (0 B)' \
	"$(cat "$T/out")"
assert_eq 'gc while mounted: blob count' "$n" "$(blob_count)"
assert_same_file 'after rmi + gc: u2 through the mount' "$T/u2" "$M/u2"
got=$("$M/bin/busybox" sha256sum "$M/u2" 2>&1 | cut -c 1-64) || true
assert_eq 'after rmi + gc: busybox runs from the mount' "$(sha "$T/u2")" "$got"
assert_fsck_clean 'while mounted, untagged'
sumount "$M"
wait_until 10 no_daemon "$M" || fail 'the daemon outlived its unmount'
ok 'gc after umount' gc
case "$(cat "$T/out")" in
'removed 3 blobs ('*'), 1 cache files ('*'), 0 temp files (0 B)') pass ;;
*) fail "gc after umount: expected 3 blobs (manifest, config, u2.tar) and u2's index, got: $(cat "$T/out")" ;;
esac
assert_eq 'gc after umount: blob count' $((n - 3)) "$(blob_count)"
assert_same_text 'gc after umount: what is left is what index.json reaches' "$(referenced_blobs)" "$(stored_blobs)"
assert_eq 'gc after umount: stale mount records removed' 0 "$(find "$R/strata/mounts" -type f | wc -l)"
assert_fsck_clean 'after the last gc'

# ---- unknown names ----
for args in 'tag nope:1 x:1' 'rmi nope:1' "rmi sha256:$(printf '%064d' 0)" 'export -o '"$T"'/x.tar nope:1'; do
	before=$(store_listing)
	# shellcheck disable=SC2086 # words on purpose
	sr $args
	assert_one_error_line "$args" 1
	case "$ERR" in *nope:1* | *0000000000*) pass ;; *) fail "$args: the message does not name the image: $ERR" ;; esac
	assert_same_text "$args: store unchanged" "$before" "$(store_listing)"
done
assert_false 'export of an unknown image: no file' test -e "$T/x.tar"
sr mount nope:1 "$M"
assert_one_error_line 'mount nope:1' 1
assert_nothing_mounted_under 'mount nope:1' "$M"
sr rmi keep:1 nope:1
assert_eq 'rmi keep:1 nope:1: exit 1' 1 "$RC"
assert_eq 'rmi keep:1 nope:1: keep:1 removed all the same' '' "$(index_names | grep '^keep:1 ' || true)"
assert_fsck_clean 'at the end'
store_finish
