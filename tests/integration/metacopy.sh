#!/usr/bin/env bash
# metacopy: changes that need none of a lower file's data copy none of it
# (issue 13, item 9; strata mount --metacopy, as strata run mounts).  The upper here is a 3 MiB tmpfs and the lower files
# are 5 MB each, so any data copy fails with ENOSPC:
#   - truncate to 0 and open(O_TRUNC) make an empty upper file;
#   - truncate to 1000 copies 1000 bytes;
#   - chmod, chown, utimes, setxattr, rename and link copy metadata only:
#     the upper file has the size and no blocks, the data is read from the
#     layer (also after a remount), SEEK_HOLE sees the layer's holes;
#   - an open for writing copies nothing until it writes;
#   - a write then needs the data: with no room it fails with ENOSPC and
#     leaves the file as it was, its upper blocks given back; with room
#     (a second, bigger upper) the data is copied, the write lands, the
#     mtime is the write's, and the file is an ordinary upper file.
# As root, then as a rootless daemon.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if ! command -v setpriv >/dev/null || ! command -v unshare >/dev/null; then
	skip "needs setpriv and unshare (util-linux)"
fi

MB5=5000000
L=$T/lower
mkdir -p "$L/d"
for f in trunc0 otrunc trunc1k chmod chown touch xattr mv link write rw full; do
	head -c $MB5 /dev/urandom >"$L/d/$f"
done
# A sparse one: 4 MiB of hole, 8 KiB of data, then a hole to 8 MiB.
truncate -s 8M "$L/d/sparse"
head -c 8192 /dev/urandom | dd of="$L/d/sparse" bs=1M seek=4 conv=notrunc status=none
touch -d @1600000000 "$L/d"/*
tar --numeric-owner --sparse -C "$L" -cf "$T/l.tar" .
chmod 0755 "$T"
chmod -R a+rX "$L"
chown 65534:65534 "$T/l.tar"

# The checks print one line each; they run in the test's shell for a root
# daemon, and inside a user namespace (uid 65534 outside, root inside) for
# a rootless one, where they must print the same.  Reference data is in
# $T/lower; MNT the mount, UPPER its upper directory.
phase_changes() {
	local m=$1 u=$2 L=$3 f
	blocks() { du -k -- "$1" | cut -f1; }
	same() { cmp -s "$1" "$2" && echo same || echo DIFFERS; }
	absent() { if [ -e "$1" ]; then echo "there"; else echo absent; fi; }
	truncate -s 0 "$m/d/trunc0" && echo "truncate 0: $(stat -c %s "$m/d/trunc0")"
	: >"$m/d/otrunc" && echo "O_TRUNC: $(stat -c %s "$m/d/otrunc")"
	truncate -s 1000 "$m/d/trunc1k" &&
		echo "truncate 1000: $(head -c 1000 "$L/d/trunc1k" | cmp -s - "$m/d/trunc1k" && echo same)"
	chmod 0600 "$m/d/chmod" && echo "chmod: $(stat -c %a "$m/d/chmod")"
	chown 0:0 "$m/d/chown" && echo "chown: $(stat -c %u:%g "$m/d/chown")"
	touch -d @1700000000 "$m/d/touch" && echo "utimes: $(stat -c %Y "$m/d/touch")"
	setfattr -n user.note -v hi "$m/d/xattr" &&
		echo "setxattr: $(getfattr --absolute-names --only-values -n user.note "$m/d/xattr")"
	mv "$m/d/mv" "$m/d/moved" && echo "rename: $(same "$L/d/mv" "$m/d/moved")"
	ln "$m/d/link" "$m/d/link2" && echo "link: $(same "$L/d/link" "$m/d/link2")"
	chmod 0600 "$m/d/sparse" && echo "sparse: $(same "$L/d/sparse" "$m/d/sparse")"
	for f in chmod chown touch xattr link; do
		echo "$f: $(same "$L/d/$f" "$m/d/$f") size $(stat -c %s "$m/d/$f") upper KiB $(blocks "$u/d/$f")"
	done
	echo "moved: upper KiB $(blocks "$u/d/moved")"
	python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
print("sparse holes:", os.lseek(fd, 0, os.SEEK_HOLE), os.lseek(fd, 0, os.SEEK_DATA),
      os.lseek(fd, 4194304, os.SEEK_HOLE))' "$m/d/sparse"
	# No room for the data: the write fails, nothing changes, no blocks stay.
	local err
	if err=$({ printf more >>"$m/d/chmod"; } 2>&1); then
		echo "append without room: succeeded"
	else
		echo "append without room: $(grep -o 'No space left on device' <<<"$err")"
	fi
	echo "after it: $(same "$L/d/chmod" "$m/d/chmod") upper KiB $(blocks "$u/d/chmod")"
	# An open for writing copies nothing until it writes; a failed
	# write leaves nothing behind.
	exec 3<>"$m/d/rw"
	exec 3>&-
	echo "opened O_RDWR, nothing written: $(absent "$u/d/rw") $(same "$L/d/rw" "$m/d/rw")"
	if err=$({ printf more >>"$m/d/write"; } 2>&1); then
		echo "append to a lower file without room: succeeded"
	else
		echo "append to a lower file without room: $(grep -o 'No space left on device' <<<"$err")"
	fi
	echo "after it: $(same "$L/d/write" "$m/d/write") in the upper: $(absent "$u/d/write")"
}

phase_remounted() {
	local m=$1 L=$3 f
	for f in chmod chown touch xattr link; do
		cmp -s "$L/d/$f" "$m/d/$f" && echo "remounted $f: same"
	done
	echo "remounted chmod: $(stat -c %a "$m/d/chmod")"
	cmp -s "$L/d/mv" "$m/d/moved" && echo "remounted moved: same"
}

# With room, the first write copies the data.
phase_full() {
	local m=$1 u=$2 L=$3
	chmod 0640 "$m/d/full" && touch -d @1650000000 "$m/d/full"
	printf more >>"$m/d/full" && echo "append with room: ok"
	{ cat "$L/d/full"; printf more; } | cmp -s - "$m/d/full" && echo "appended: same"
	[ "$(stat -c %Y "$m/d/full")" != 1650000000 ] && echo "mtime: the write's"
	[ "$(du -k "$u/d/full" | cut -f1)" -ge 4800 ] && echo "upper: holds the data"
	echo "mode: $(stat -c %a "$m/d/full")"
}

EXPECTED_CHANGES="truncate 0: 0
O_TRUNC: 0
truncate 1000: same
chmod: 600
chown: 0:0
utimes: 1700000000
setxattr: hi
rename: same
link: same
sparse: same
chmod: same size 5000000 upper KiB 0
chown: same size 5000000 upper KiB 0
touch: same size 5000000 upper KiB 0
xattr: same size 5000000 upper KiB 0
link: same size 5000000 upper KiB 0
moved: upper KiB 0
sparse holes: 0 4194304 4202496
append without room: No space left on device
after it: same upper KiB 0
opened O_RDWR, nothing written: absent same
append to a lower file without room: No space left on device
after it: same in the upper: absent"
EXPECTED_REMOUNTED="remounted chmod: same
remounted chown: same
remounted touch: same
remounted xattr: same
remounted link: same
remounted chmod: 600
remounted moved: same"
EXPECTED_FULL="append with room: ok
appended: same
mtime: the write's
upper: holds the data
mode: 640"

FUNCS=$(declare -f phase_changes phase_remounted phase_full)
mkdir -p "$T/small" "$T/big" "$T/m" "$T/c2"
chown 65534:65534 "$T/small" "$T/big" "$T/m" "$T/c2"

# fresh_small: an empty 3 MiB tmpfs upper, writable by uid 65534.
fresh_small() {
	if is_mounted "$T/small"; then umount "$T/small"; fi
	mount -t tmpfs -o size=3m,mode=0755,uid=65534,gid=65534 strata-test "$T/small"
}
MOUNTS+=("$T/small")

log "---- root"
fresh_small
smount "$T/m" --metacopy --layer "$T/l.tar" --upper "$T/small"
assert_same_text "root: metadata-only changes, truncations" "$EXPECTED_CHANGES" \
	"$(phase_changes "$T/m" "$T/small" "$L" 2>&1)"
sumount "$T/m"
smount "$T/m" --metacopy --layer "$T/l.tar" --upper "$T/small"
assert_same_text "root: after a remount" "$EXPECTED_REMOUNTED" "$(phase_remounted "$T/m" "$T/small" "$L" 2>&1)"
sumount "$T/m"
smount "$T/m" --metacopy --layer "$T/l.tar" --upper "$T/big"
assert_same_text "root: a write with room" "$EXPECTED_FULL" "$(phase_full "$T/m" "$T/big" "$L" 2>&1)"
sumount "$T/m"

log "---- rootless"
chmod 0666 /dev/fuse
fresh_small
rm -rf "$T/big" && mkdir "$T/big" && chown 65534:65534 "$T/big"
# rootless PHASE UPPER: mounts as uid 65534 (root of a user namespace of its
# own, as rootless.sh), runs the phase there, unmounts.
rootless() {
	setpriv --reuid=65534 --regid=65534 --clear-groups unshare -Urm bash -c "
$FUNCS
'$STRATA' mount --metacopy --cache-dir '$T/c2' --layer '$T/l.tar' --upper '$2' '$T/m' || exit 1
$1 '$T/m' '$2' '$L' 2>&1
'$STRATA' umount '$T/m'" 2>&1
}
assert_same_text "rootless: metadata-only changes, truncations" "$EXPECTED_CHANGES" \
	"$(rootless phase_changes "$T/small")"
assert_same_text "rootless: after a remount" "$EXPECTED_REMOUNTED" "$(rootless phase_remounted "$T/small")"
assert_same_text "rootless: a write with room" "$EXPECTED_FULL" "$(rootless phase_full "$T/big")"

finish
