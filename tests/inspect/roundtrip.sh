#!/usr/bin/env bash
# strata diff and commit, round trip, as root and as an unprivileged user
# (uid 65534, rootless): a named container of a three-layer image makes
# every kind of change (add, modify, chmod, chown as root, delete a file
# and a directory, rename a lower directory, recreate a directory, hard
# link, xattr, fifo, sparse file); then
#   - `diff -v`, plain `diff` and `diff --json` print exactly those changes;
#   - `commit NAME img:v2`, after which `diff NAME img:v2` prints nothing
#     and `diff -v img:v1 img:v2` prints the container's changes;
#   - the committed layer tar holds exactly the expected entries: .wh.
#     whiteouts, .wh..wh..opq for the renamed and the recreated directory,
#     a hard link entry, PAX xattrs, a sparse entry, a fifo, the ids the
#     container saw (0 for its root even when rootless, 2000 for the lower
#     files carried by the rename, the chown's 1234:5678);
#   - a container of img:v2 sees the same tree as the container did (types,
#     modes, owners, sizes, link targets, content, xattrs, link counts),
#     and so does `strata mount img:v2` (root).
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mkdir -p "$T/layers" "$T/store-user" "$T/home"
build_image "$T/oci" img:v1
chmod 0666 /dev/fuse # as distributions ship it; the unprivileged run needs it
chown 65534:65534 "$T/store-user" "$T/home"
chmod 0755 "$T"

store_of() { if [ "$1" = root ]; then echo "$T/store-root"; else echo "$T/store-user"; fi; }

# run_as WHO ARGS...: strata with the store of WHO ("root" or "user"),
# through `run` (RC, $T/out, $T/err, $ERR).
run_as() {
	local who=$1
	shift
	if [ "$who" = root ]; then
		run "$STRATA" "$@" --root "$T/store-root"
	else
		run setpriv --reuid 65534 --regid 65534 --clear-groups \
			env HOME="$T/home" "$STRATA" "$@" --root "$T/store-user"
	fi
}

# Options after the operands: strata's getopt permutes, so --root last works
# for every command but run, whose COMMAND ends its options.
run_in() {
	local who=$1
	shift
	if [ "$who" = root ]; then
		run "$STRATA" run --root "$T/store-root" "$@"
	else
		run setpriv --reuid 65534 --regid 65534 --clear-groups \
			env HOME="$T/home" "$STRATA" run --root "$T/store-user" "$@"
	fi
}

# Paths strata run mounts over (their content is the host's or the
# kernel's, not the image's).
RUN_MOUNTS='^[^ ]+ /(dev|proc|sys|etc/hostname|etc/hosts|etc/resolv\.conf)( |$)'

# link_pair WHAT A B SIZE: in the committed layer ($T/tar.$who), one of A
# and B is a regular file of SIZE bytes, the other a hard link to it.
link_pair() {
	local what=$1 a=$2 b=$3 size=$4 got exp
	got=$(grep -E " ($a|$b) " "$T/tar.$who" | sed 's/ {.*}$//' | sort | tr '\n' '|')
	exp="- $a 0644 0:0 $size|h $b 0644 0:0 0 link=$a|"
	case "$got" in
	*"h $a "*) exp="- $b 0644 0:0 $size|h $a 0644 0:0 0 link=$b|" ;;
	esac
	assert_same_text "$what" "$exp" "$got"
}

for who in root user; do
	S=$(store_of $who)
	run_as $who import -q "$T/oci"
	assert_eq "$who: import" 0 "$RC"

	run_in $who --name rt --hostname box img:v1 sh -c "$CHANGES" _ $who
	assert_eq "$who: the container's changes ran (stderr: $ERR)" 0 "$RC"

	# ---- diff ----
	exp=$(expected_diff $who)
	run_as $who diff -v rt
	assert_eq "$who: diff -v exit code (stderr: $ERR)" 0 "$RC"
	assert_same_text "$who: diff -v rt" "$exp" "$(cat "$T/out")"

	run_as $who diff rt
	assert_same_text "$who: diff rt (no -v: no details)" "$(printf '%s\n' "$exp" | sed 's/ (.*)$//')" \
		"$(cat "$T/out")"

	run_as $who diff --json rt
	assert_eq "$who: diff --json exit code" 0 "$RC"
	if py diffjson "$T/out" >"$T/json.txt" 2>"$T/json.err"; then
		pass
		assert_same_text "$who: diff --json rt" "$exp" "$(cat "$T/json.txt")"
	else
		fail "$who: diff --json does not parse: $(head -c 300 "$T/json.err")"
	fi

	# ---- commit ----
	run_as $who commit rt img:v2
	assert_eq "$who: commit exit code (stderr: $ERR)" 0 "$RC"
	assert_true "$who: commit prints the manifest digest and the name" \
		grep -Eqx 'sha256:[0-9a-f]{64} img:v2' "$T/out"

	run_as $who diff rt img:v2
	assert_eq "$who: diff rt img:v2: exit code (stderr: $ERR)" 0 "$RC"
	assert_eq "$who: diff rt img:v2 prints nothing" "" "$(cat "$T/out")"

	run_as $who diff -v img:v1 img:v2
	assert_same_text "$who: diff -v img:v1 img:v2: the container's changes" "$exp" "$(cat "$T/out")"

	run_as $who inspect img:v2
	cp "$T/out" "$T/inspect.json"
	assert_eq "$who: img:v2 has one layer more" 4 "$(py inspect "$T/inspect.json" layers | jq length)"
	layer=$(py inspect "$T/inspect.json" layers.3.digest)
	blob=$S/blobs/sha256/${layer#sha256:}
	assert_true "$who: the new layer is a blob of the store" test -f "$blob"
	assert_eq "$who: the new layer is gzip" 1f8b "$(head -c 2 "$blob" | od -An -tx1 | tr -d ' \n')"
	py tarlist "$blob" >"$T/tar.$who" || fail "$who: the committed layer does not read as a tar"
	assert_same_text "$who: the committed layer's entries" "$(expected_layer $who)" \
		"$(grep -Ev ' data/(added|keep)' "$T/tar.$who" | sort)"

	# The hard link pairs: one regular file, one link to it (either way).
	link_pair "$who: the hard link pair of new files" data/added-link data/added.txt 4
	link_pair "$who: the hard link pair of a lower file" data/keep-link data/keep.txt 5
	assert_same_text "$who: the hard linked file keeps its xattr" 'user.z=7468726565' \
		"$(grep -o -m1 'user.z=[0-9a-f]*' "$T/tar.$who" || true)"
	assert_true "$who: GNU tar lists a hard link ('link to')" \
		grep -Eq 'data/added(-link|\.txt) link to data/added(-link|\.txt)' \
		<(tar -tvf "$blob" 2>/dev/null)
	tar --xattrs --xattrs-include='*' -tvvf "$blob" data/xfile >"$T/gnutar" 2>&1 || true
	assert_same_text "$who: GNU tar --xattrs reads the PAX xattrs of /data/xfile" \
		"x: 3 user.x|x: 3 user.y|" "$(grep -o 'x: .*' "$T/gnutar" | sort | tr '\n' '|')"

	# ---- the committed image, seen through a container and a mount ----
	run_in $who --name rt --hostname box img:v1 treelist /
	assert_eq "$who: treelist in the container (stderr: $ERR)" 0 "$RC"
	cp "$T/out" "$T/view-rt.$who"
	run_in $who --rm --hostname box img:v2 treelist /
	assert_eq "$who: treelist in a container of img:v2 (stderr: $ERR)" 0 "$RC"
	assert_same_text "$who: a container of img:v2 sees what the container saw" \
		"$(cat "$T/view-rt.$who")" "$(cat "$T/out")"
	assert_true "$who: the views list the renamed directory's lower files" \
		grep -q '^- /data/moved/f40 ' "$T/view-rt.$who"

	if [ $who = root ]; then
		smount "$T/mnt" --root "$S" img:v2
		"$TREELIST" "$T/mnt" >"$T/view-mnt" || fail "root: treelist of the img:v2 mount failed"
		assert_stat "root: img:v2 mounted: the chown'd owner" '%u:%g' "$T/mnt/data/chown.txt" 1234:5678
		assert_stat "root: img:v2 mounted: the hard link pair" '%h %i' "$T/mnt/data/added.txt" \
			"$(stat -c '%h %i' "$T/mnt/data/added-link")"
		sumount "$T/mnt"
		assert_same_text "root: strata mount img:v2 shows what the container saw" \
			"$(grep -Ev "$RUN_MOUNTS" "$T/view-rt.$who")" \
			"$(grep -Ev "$RUN_MOUNTS" "$T/view-mnt")"
	fi
done

finish
