#!/usr/bin/env bash
# strata commit, its options and its refusals:
#   - --reproducible: the same container, and two containers making the
#     same changes at different times, give the same manifest digest; times
#     clamped to $SOURCE_DATE_EPOCH (else 0).  Without it, two commits
#     differ only by their "created" times;
#   - --compress gzip (default), zstd, none: media types in `strata
#     inspect`, the blob's magic, diff_id = sha256 of the uncompressed tar;
#   - -m and -a: history comment and author;
#   - a container that changed nothing: the new last layer is an empty tar
#     (and, from an image without /dev, /proc, /sys or the /etc files
#     strata run mounts over, `diff` still prints nothing);
#   - refused, with one error line and nothing changed: an existing name
#     without --force (with it the name moves), a running container, an
#     unknown container, a bad name or compression, a read-only store
#     (read-only bind mount as root; chmod -R a-w as uid 65534).
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mkdir -p "$T/layers"
build_image "$T/oci" img:v1
R=$T/store

sr() { run "$STRATA" "$@" --root "$R"; }
srun() { run "$STRATA" run --root "$R" "$@"; }
blob() { echo "$R/blobs/sha256/${1#sha256:}"; }
# digest_of IMAGE, last_layer IMAGE KEY: from `strata inspect`.
digest_of() {
	"$STRATA" inspect --root "$R" "$1" >"$T/insp.json" && py inspect "$T/insp.json" digest
}
last_layer() {
	"$STRATA" inspect --root "$R" "$1" >"$T/insp.json" && py inspect "$T/insp.json" "layers.-1.$2"
}
magic() { head -c "${2:-4}" "$1" | od -An -tx1 | tr -d ' \n'; }
# store_state DIR: every file's path, size, mode and mtime.
store_state() { (cd "$1" && find . -printf '%p %s %m %T@\n' | sort); }

sr import -q "$T/oci"
assert_eq "import" 0 "$RC"
V1=$(digest_of img:v1)

srun --name c1 img:v1 sh -c 'echo hi >/data/new.txt; mkdir /d2; echo more >>/data/modify.txt'
assert_eq "the container's changes ran" 0 "$RC"

# Metadata-only changes copy no data up (the upper files read theirs from
# the image's layers): commit still writes each file whole, and the data
# is really in the new layer (a stack of that layer alone shows it).
srun --name cmeta img:v1 sh -c 'chmod 0600 /data/big1; mv /data/sparse /data/sparse2;
	touch -d @1700000000 /data/hl1; ln /data/keep.txt /data/keep2'
assert_eq "metadata-only changes ran (stderr: $ERR)" 0 "$RC"
sr commit cmeta meta:1
assert_eq "commit of metadata-only changes (stderr: $ERR)" 0 "$RC"
for f in big1 sparse2 hl1 hl2 keep2; do
	orig=$f
	[ $f = sparse2 ] && orig=sparse
	[ $f = keep2 ] && orig=keep.txt
	sr cat img:v1 "/data/$orig" >/dev/null
	cp "$T/out" "$T/want"
	sr cat meta:1 "/data/$f" >/dev/null
	assert_same_file "metadata-only change, committed: /data/$f whole" "$T/want" "$T/out"
done
last=$(blob "$(last_layer meta:1 digest)")
sr cat img:v1 /data/big1 >/dev/null
assert_eq "the new layer itself holds big1's data" "$(cksum <"$T/out")" \
	"$(tar -xOzf "$last" data/big1 2>/dev/null | cksum)"

# ---- --reproducible ----
SOURCE_DATE_EPOCH=1700000000 sr commit --reproducible c1 rep:a
assert_eq "commit --reproducible (stderr: $ERR)" 0 "$RC"
SOURCE_DATE_EPOCH=1700000000 sr commit --reproducible c1 rep:b
assert_eq "the same container committed twice: the same digest" \
	"$(digest_of rep:a)" "$(digest_of rep:b)"
SOURCE_DATE_EPOCH=1700000000 sr commit --reproducible --force c1 rep:a
assert_eq "and a third time, --force onto its own name" "$(digest_of rep:b)" "$(digest_of rep:a)"
assert_eq "--reproducible: created is SOURCE_DATE_EPOCH" 2023-11-14T22:13:20Z \
	"$(py inspect "$T/insp.json" created)"
read -r n maxt <<<"$(py members "$(blob "$(last_layer rep:a digest)")")"
assert_eq "--reproducible: no time in the layer after SOURCE_DATE_EPOCH" 1700000000 "$maxt"
assert_ne "--reproducible: the layer has the changes" 0 "$n"

# Two containers make the same changes a second apart: the same image.
for c in r1 r2; do
	srun --name $c img:v1 sh -c 'echo same >/data/same.txt; mkdir -p /x/y; chmod 0600 /data/chmod.txt'
	SOURCE_DATE_EPOCH=1700000000 sr commit --reproducible $c "same:$c"
	assert_eq "commit --reproducible $c" 0 "$RC"
	[ $c = r2 ] || sleep 1.1
done
assert_eq "the same changes made at different times: the same digest" \
	"$(digest_of same:r1)" "$(digest_of same:r2)"

sr commit --reproducible c1 rep:zero
assert_eq "--reproducible without SOURCE_DATE_EPOCH: created is 0" 1970-01-01T00:00:00Z \
	"$(digest_of rep:zero >/dev/null && py inspect "$T/insp.json" created)"
read -r n maxt <<<"$(py members "$(blob "$(last_layer rep:zero digest)")")"
assert_eq "--reproducible without SOURCE_DATE_EPOCH: times are 0" 0 "$maxt"

# Without it: the same layer, configs that differ in their times alone.
sr commit c1 now:a
sleep 1.1
sr commit c1 now:b
assert_eq "without --reproducible: the same layer" "$(last_layer now:a digest)" "$(last_layer now:b digest)"
ca=$(digest_of now:a >/dev/null && py inspect "$T/insp.json" config_digest)
cb=$(digest_of now:b >/dev/null && py inspect "$T/insp.json" config_digest)
assert_ne "without --reproducible: a second later, another config" "$ca" "$cb"
assert_eq "without --reproducible: configs differ only by created times" \
	"$(py config-without-times "$(blob "$ca")")" "$(py config-without-times "$(blob "$cb")")"

# ---- -m, -a, the new config ----
sr commit -m 'a message' -a 'Test Author <t@example.org>' c1 msg:1
assert_eq "commit -m -a" 0 "$RC"
sr inspect msg:1
cp "$T/out" "$T/msg.json"
assert_eq "history: the comment" 'a message' "$(py inspect "$T/msg.json" history.-1.comment)"
assert_eq "history: the author" 'Test Author <t@example.org>' "$(py inspect "$T/msg.json" history.-1.author)"
# podman's: the container's command, its words joined by spaces.
assert_eq "history: created_by, the container's command" \
	'sh -c echo hi >/data/new.txt; mkdir /d2; echo more >>/data/modify.txt' \
	"$(py inspect "$T/msg.json" history.-1.created_by)"
assert_eq "history: the base image's entries kept" 'layer 2' "$(py inspect "$T/msg.json" history.2.created_by)"
assert_eq "config: Env kept" '["PATH=/bin", "GREETING=hello"]' "$(py inspect "$T/msg.json" config.Env)"
assert_eq "config: Cmd kept" '["sh", "-c", "echo hi"]' "$(py inspect "$T/msg.json" config.Cmd)"
assert_eq "the base layers kept" "$(py inspect "$T/msg.json" layers.0.digest)" \
	"$(digest_of img:v1 >/dev/null && py inspect "$T/insp.json" layers.0.digest)"

# ---- --compress ----
for alg in gzip zstd none; do
	sr commit --compress $alg c1 "comp:$alg"
	assert_eq "commit --compress $alg (stderr: $ERR)" 0 "$RC"
	mt=$(last_layer "comp:$alg" media_type)
	b=$(blob "$(last_layer "comp:$alg" digest)")
	diff_id=$(last_layer "comp:$alg" diff_id)
	case $alg in
	gzip)
		assert_eq "gzip: media type" application/vnd.oci.image.layer.v1.tar+gzip "$mt"
		assert_eq "gzip: magic" 1f8b "$(magic "$b" 2)"
		raw=$(gzip -dc "$b" | sha256sum)
		;;
	zstd)
		assert_eq "zstd: media type" application/vnd.oci.image.layer.v1.tar+zstd "$mt"
		assert_eq "zstd: magic" 28b52ffd "$(magic "$b")"
		raw=$(zstd -dcq "$b" | sha256sum)
		;;
	none)
		assert_eq "none: media type" application/vnd.oci.image.layer.v1.tar "$mt"
		assert_eq "none: a tar (ustar magic at 257)" ustar "$(dd if="$b" bs=1 skip=257 count=5 status=none)"
		raw=$(sha256sum <"$b")
		assert_eq "none: the digest is the diff_id" "$diff_id" "$(last_layer "comp:$alg" digest)"
		;;
	esac
	assert_eq "$alg: diff_id is the uncompressed tar's sha256" "$diff_id" "sha256:${raw%% *}"
	assert_eq "$alg: the blob's name is its sha256" "$(basename "$b")" "$(sha256sum <"$b" | cut -d' ' -f1)"
	srun --rm "comp:$alg" cat /data/new.txt
	assert_eq "$alg: the committed image runs and has the change" hi "$(cat "$T/out")"
done
sr commit --compress xz c1 comp:xz
assert_one_error_line "--compress xz: refused" 2
sr commit --force --compress none c1 comp:none
assert_eq "a layer already in the store, committed again (stderr: $ERR)" 0 "$RC"

# ---- nothing changed ----
srun --name c0 img:v1 true
sr diff c0
assert_eq "a container that changed nothing: diff prints nothing" "" "$(cat "$T/out")"
sr commit c0 empty:1
assert_eq "commit of a container that changed nothing (stderr: $ERR)" 0 "$RC"
sr inspect empty:1
cp "$T/out" "$T/empty.json"
assert_eq "empty: one layer more" 4 "$(py inspect "$T/empty.json" layers | jq length)"
read -r n _ <<<"$(py members "$(blob "$(py inspect "$T/empty.json" layers.3.digest)")")"
assert_eq "empty: the new layer is a tar with no entries" 0 "$n"
sr diff img:v1 empty:1
assert_eq "diff img:v1 empty:1 prints nothing" "" "$(cat "$T/out")"

# From an image without the mount points strata run makes (/dev, /proc,
# /sys, /etc/hosts, /etc/hostname, /etc/resolv.conf), nothing changed is
# still nothing: docker keeps those in an init layer, out of diff and
# commit.  (Once a bug: run made them in the upper, diff listed them and
# commit wrote them into the image.)
mkdir -p "$T/bare/bin"
cp "$BB" "$T/bare/bin/busybox"
ln -s busybox "$T/bare/bin/sh"
ln -s busybox "$T/bare/bin/true"
tar --numeric-owner --owner=0 --group=0 -C "$T/bare" -cf "$T/bare.tar" .
py oci "$T/bare-oci" bare:1 "$T/bare.tar" >/dev/null
sr import -q "$T/bare-oci"
srun --name cbare bare:1 true
assert_eq "bare image: the container ran" 0 "$RC"
sr diff cbare
assert_same_text "a container that changed nothing, of an image without /proc...: diff prints nothing" \
	"" "$(cat "$T/out")"
sr commit cbare bare:2
read -r n _ <<<"$(py members "$(blob "$(last_layer bare:2 digest)")")"
assert_eq "... and commit writes an empty layer" 0 "$n"

# ---- refusals ----
sr tag img:v1 taken:1
before=$(store_state "$R")
sr commit c1 taken:1
assert_one_error_line "commit to an existing name without --force" 1
assert_true "... says so" grep -q 'already names an image' "$T/err"
assert_eq "... the name still names its image" "$V1" "$(digest_of taken:1)"
sr commit --force c1 taken:1
assert_eq "commit --force to an existing name (stderr: $ERR)" 0 "$RC"
assert_eq "... moves the name" "$(cut -d' ' -f1 "$T/out")" "$(digest_of taken:1)"
assert_eq "... and leaves the other name" "$V1" "$(digest_of img:v1)"

before=$(store_state "$R")
sr commit no-such-container x:1
assert_one_error_line "commit of an unknown container" 1
assert_true "... says so" grep -q 'no such container' "$T/err"
sr commit c1 'Bad Name'
assert_one_error_line "commit to a bad name" 2
sr commit
assert_one_error_line "commit without a container" 2
assert_same_text "the refused commits changed nothing in the store" "$before" "$(store_state "$R")"

# A running container: refused, nothing written.
NAP=$((400000 + $$))
"$STRATA" run --root "$R" --name busy img:v1 sleep "$NAP" &
launcher=$!
# (-x: the sleep itself, whose command line is exactly this, not the launcher)
wait_until 10 pgrep -xf "sleep $NAP" >/dev/null || fail "the running container did not start"
before=$(store_state "$R")
sr commit busy busy:1
assert_one_error_line "commit of a running container" 1
assert_true "... says it is running" grep -q 'running' "$T/err"
assert_same_text "... changed nothing in the store" "$before" "$(store_state "$R")"
kill -TERM "$launcher"
wait "$launcher" 2>/dev/null || true
sr commit busy busy:1
assert_eq "once it stopped, it commits (stderr: $ERR)" 0 "$RC"

# A read-only store (a read-only bind mount, as root).
mkdir -p "$T/ro"
mount --bind "$R" "$T/ro"
MOUNTS+=("$T/ro")
mount -o remount,bind,ro "$T/ro"
before=$(store_state "$R")
run "$STRATA" commit --root "$T/ro" c1 ro:1
assert_one_error_line "commit into a read-only store" 1
assert_same_text "... changed nothing" "$before" "$(store_state "$R")"
run "$STRATA" diff --root "$T/ro" c1
assert_eq "diff still reads a read-only store" 0 "$RC"
umount "$T/ro"

# A store its owner may not write (uid 65534, chmod -R a-w).
chmod 0666 /dev/fuse
chmod 0755 "$T"
mkdir -p "$T/ustore" "$T/home"
chown 65534:65534 "$T/ustore" "$T/home"
as_user() { run setpriv --reuid 65534 --regid 65534 --clear-groups env HOME="$T/home" "$STRATA" "$@"; }
as_user import -q --root "$T/ustore" "$T/oci"
as_user run --root "$T/ustore" --name u1 img:v1 sh -c 'echo hi >/data/new.txt'
assert_eq "user: the container ran (stderr: $ERR)" 0 "$RC"
chmod -R a-w "$T/ustore"
before=$(store_state "$T/ustore")
as_user commit --root "$T/ustore" u1 ro:1
assert_one_error_line "user: commit into a store without write permission" 1
assert_same_text "user: ... changed nothing" "$before" "$(store_state "$T/ustore")"
as_user diff --root "$T/ustore" u1
assert_eq "user: diff still reads it" "C /data|A /data/new.txt|" "$(tr '\n' '|' <"$T/out")"
chmod -R u+w "$T/ustore"
as_user commit --root "$T/ustore" u1 rw:1
assert_eq "user: with write permission back, commit works (stderr: $ERR)" 0 "$RC"

finish
