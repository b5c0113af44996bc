#!/usr/bin/env bash
# overlay: the overlay option interface through the real mount.  `strata
# mount -o lowerdir=TOP:...:BOTTOM,upperdir=U,workdir=W`, fuse-overlayfs'
# call form (`strata -o ... MNT`, podman's mount_program) and mount(8)'s
# helper (`mount.fuse.strata SRC MNT -o ...`, here a link in $T): lowers
# that are directories, tar files and a rotated upper; escapes; remount
# ro/rw; umount(8); volatile; uidmapping; a rootless daemon; bad input.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

chmod 0755 "$T"
M=$T/mnt
mkdir -p "$M" "$T/A/sub" "$T/C/d" "$T/Bsrc" "$T/U" "$T/W" "$T/U2" "$T/W2"
echo top >"$T/A/f"
echo a-only >"$T/A/sub/a"
: >"$T/A/.wh.gone" # an OCI whiteout in a directory lower hides C's gone
echo mid >"$T/Bsrc/f"
echo b-only >"$T/Bsrc/b"
echo bottom >"$T/C/f"
echo c-gone >"$T/C/gone"
echo in-d >"$T/C/d/x"
tar --numeric-owner -C "$T/Bsrc" -cf "$T/B.tar" .
LOWER=$T/A:$T/B.tar:$T/C
MOUNTS+=("$M")

# omount ARGS...: strata with ARGS (the mount point last), checked.
omount() {
	run "$@"
	assert_eq "mount $*: exit status (stderr: $ERR)" 0 "$RC"
	is_mounted "$M" || die "mount $* did not mount $M"
}

# unmount with umount(8), as podman and the unionmount suite do; the
# daemon then exits by itself.
uumount() {
	umount "$M" || die "umount $M failed"
	wait_until 10 no_daemon "$M" || fail "the daemon of $M outlived umount(8)"
}

# ---- strata mount -o lowerdir= ----
omount "$STRATA" mount --cache-dir "$CACHE" -o "lowerdir=$LOWER,upperdir=$T/U,workdir=$T/W" "$M"
assert_eq 'the top lower wins' top "$(cat "$M/f")"
assert_eq 'a tar lower between directory lowers' b-only "$(cat "$M/b")"
assert_eq 'the bottom lower' in-d "$(cat "$M/d/x")"
assert_false 'a .wh. file in a directory lower hides the name below' test -e "$M/gone"
assert_eq 'whiteouts never show' '' "$(find "$M" -name '.wh.*')"
echo new >"$M/new"
mv "$M/d" "$M/d2"
rm "$M/b"
sumount "$M"

# The upper as the top lower of the next mount (unionmount's --ov=3): its
# renamed directory still shows its lower content.
omount "$STRATA" mount --cache-dir "$CACHE" \
	-o "lowerdir=$T/U:$LOWER,upperdir=$T/U2,workdir=$T/W2" "$M"
assert_eq 'a rotated upper: its new file' new "$(cat "$M/new")"
assert_eq 'a rotated upper: its renamed lower directory keeps its content' in-d \
	"$(cat "$M/d2/x" 2>&1)"
assert_false 'a rotated upper: its whiteout' test -e "$M/b"
assert_false 'a rotated upper: the renamed directory is gone from its old name' test -e "$M/d"
sumount "$M"

# ---- fuse-overlayfs' call form ----
rm -rf "$T/U2" "$T/W2"
mkdir -p "$T/U2" "$T/W2"
omount "$STRATA" -o "lowerdir=$LOWER,upperdir=$T/U2,workdir=$T/W2,volatile" "$M"
assert_eq 'strata -o ...: the union' top "$(cat "$M/f")"
assert_true 'as root, the mount is for every user (allow_other, as fuse-overlayfs)' \
	grep -q " $M .*allow_other" /proc/self/mountinfo
assert_true 'volatile: fsync succeeds' dd if=/dev/zero of="$M/synced" bs=4k count=1 conv=fsync status=none
uumount

# ---- mount(8)'s helper ----
ln -s "$STRATA" "$T/mount.fuse.strata"
omount "$T/mount.fuse.strata" strata "$M" -o "rw,nosuid,lowerdir=$LOWER,upperdir=$T/U2,workdir=$T/W2"
assert_eq 'mount.fuse.strata: the upper of the last mount' 4096 "$(stat -c %s "$M/synced")"
run "$T/mount.fuse.strata" strata "$M" -o remount,ro,nosuid
assert_eq 'remount,ro: exit status' 0 "$RC"
assert_false 'remount,ro: writes fail' touch "$M/ro-file"
run "$T/mount.fuse.strata" strata "$M" -o remount,rw,nosuid
assert_true 'remount,rw: writes work again' touch "$M/rw-file"
uumount
# SRC as the lower, no lowerdir=: a directory, then a tar file.
omount "$T/mount.fuse.strata" "$T/C" "$M" -o ro
assert_eq 'mount.fuse.strata DIR MNT' bottom "$(cat "$M/f")"
uumount
omount "$T/mount.fuse.strata" "$T/B.tar" "$M" -n -o ro
assert_eq 'mount.fuse.strata TAR MNT' mid "$(cat "$M/f")"
uumount
# mount.fuse3's form: "strata SRC MNT -o OPTS".
omount "$STRATA" "$T/C" "$M" -o ro
assert_eq 'strata SRC MNT -o OPTS' bottom "$(cat "$M/f")"
uumount

# ---- escapes: ':' and ',' in a lower's name, as overlayfs writes them ----
mkdir -p "$T/odd:na,me"
echo odd >"$T/odd:na,me/o"
omount "$STRATA" mount -o "lowerdir=$T/odd\\:na\\,me:$T/C" "$M"
assert_eq 'an escaped : and , in lowerdir=' odd "$(cat "$M/o")"
sumount "$M"

# ---- uidmapping: ids on disk shown shifted, as fuse-overlayfs ----
mkdir -p "$T/ids"
echo x >"$T/ids/f"
chown 1:2 "$T/ids/f"
omount "$STRATA" mount -o "lowerdir=$T/ids,uidmapping=0:100000:65536,gidmapping=0:200000:65536" "$M"
assert_eq 'uidmapping/gidmapping: disk 1:2 shows as 100001:200002' 100001:200002 \
	"$(stat -c %u:%g "$M/f")"
sumount "$M"

# ---- squash_to_*: every owner shown as one, the upper's included ----
mkdir -p "$T/sqU" "$T/sqW"
omount "$STRATA" mount -o "lowerdir=$T/ids:$T/C,upperdir=$T/sqU,workdir=$T/sqW,squash_to_root" "$M"
echo new >"$M/new"
chown 7:8 "$M/new"
assert_eq 'squash_to_root: a lower file' 0:0 "$(stat -c %u:%g "$M/f")"
assert_eq 'squash_to_root: an upper file chowned to 7:8' 0:0 "$(stat -c %u:%g "$M/new")"
sumount "$M"
assert_eq 'squash_to_root: what is stored keeps its owner' 7:8 "$(stat -c %u:%g "$T/sqU/new")"
omount "$STRATA" mount -o "lowerdir=$T/ids,squash_to_root,squash_to_uid=1234" "$M"
assert_eq 'squash_to_uid= wins over squash_to_root' 1234:0 "$(stat -c %u:%g "$M/f")"
sumount "$M"

# ---- uppers in the overlay form: kernel overlayfs' (root) ----
# tree_of DIR: every path under DIR, sorted.
tree_of() { (cd "$1" && find . | sort); }
K=$T/k
mkdir -p "$K/L/d/sub" "$K/U" "$K/W" "$K/M"
echo 1 >"$K/L/a"
echo 2 >"$K/L/d/b"
echo 3 >"$K/L/keep"
if mount -t overlay overlay -o "lowerdir=$K/L,upperdir=$K/U,workdir=$K/W" "$K/M" 2>/dev/null; then
	MOUNTS+=("$K/M")
	rm "$K/M/a"
	rm -r "$K/M/d"
	mkdir "$K/M/d"
	echo new >"$K/M/d/n"
	want=$(tree_of "$K/M")
	umount "$K/M"
	assert_true 'kernel overlayfs wrote a 0/0 device' test -c "$K/U/a"
	omount "$STRATA" mount -o "lowerdir=$K/L,upperdir=$K/U,workdir=$K/W" "$M"
	assert_eq "kernel overlayfs' upper, read by strata" "$want" "$(tree_of "$M")"
	assert_eq "kernel overlayfs' upper: its xattrs are not shown" '' \
		"$(getfattr -d -m - "$M/d" 2>/dev/null)"
	echo again >"$M/a" # over the 0/0 device's whiteout
	assert_eq 'a name made again over an overlay-form whiteout' again "$(cat "$M/a")"
	rm "$M/a"
	sumount "$M"
	omount "$STRATA" mount -o "lowerdir=$K/U:$K/L" "$M"
	assert_eq "kernel overlayfs' upper as a lowerdir=, after strata wrote to it" "$want" \
		"$(tree_of "$M")"
	sumount "$M"
else
	log 'no kernel overlayfs here: its upper not tried'
fi

# ---- strata's upper in the overlay form, read by kernel overlayfs ----
O=$T/o
mkdir -p "$O/L/d/sub" "$O/L/r/x" "$O/L/e" "$O/U" "$O/W" "$O/K"
echo 1 >"$O/L/a"
echo 2 >"$O/L/d/b"
echo 3 >"$O/L/r/x/y"
echo 4 >"$O/L/e/f"
echo 5 >"$O/L/g"
omount "$STRATA" -o "lowerdir=$O/L,upperdir=$O/U,workdir=$O/W" "$M"
rm "$M/a" "$M/g"
rm -r "$M/d"
mkdir "$M/d"
echo new >"$M/d/n"
mv "$M/r" "$M/r2"
echo moved >"$M/tmp"
mv "$M/tmp" "$M/g" # a rename onto a removed lower name
rm "$M/e/f"
rmdir "$M/e" # a directory holding only a whiteout
want=$(tree_of "$M")
uumount
assert_true 'overlay form: a removed name is a 0/0 device' test -c "$O/U/a"
assert_eq 'overlay form: an opaque directory has trusted.overlay.opaque' y \
	"$(getfattr --only-values -n trusted.overlay.opaque "$O/U/d" 2>/dev/null)"
assert_eq 'overlay form: no .wh. file' '' "$(find "$O/U" -name '.wh.*')"
if mount -t overlay overlay -o "redirect_dir=on,lowerdir=$O/L,upperdir=$O/U,workdir=$O/W" \
	"$O/K" 2>/dev/null; then
	MOUNTS+=("$O/K")
	assert_eq "strata's overlay-form upper, read by kernel overlayfs" "$want" "$(tree_of "$O/K")"
	assert_eq 'kernel overlayfs: the renamed directory keeps its content' 3 \
		"$(cat "$O/K/r2/x/y")"
	umount "$O/K"
fi
omount "$STRATA" -o "lowerdir=$O/L,upperdir=$O/U,workdir=$O/W" "$M"
assert_eq 'overlay form: strata reads it back' "$want" "$(tree_of "$M")"
echo again >"$M/a"
assert_eq 'overlay form: a name made again over a 0/0 device' again "$(cat "$M/a")"
uumount
assert_true 'overlay form: the name made again is a file' test -f "$O/U/a"

# ---- bad input: one line, the right status, nothing mounted ----
# refused STATUS WHAT ARGS...
refused() {
	local want=$1 what=$2
	shift 2
	run "$@"
	assert_eq "$what: exit status" "$want" "$RC"
	assert_eq "$what: one line of error" 1 "$(printf '%s\n' "$ERR" | grep -c .)"
	assert_true "$what: says strata: ..." grep -q '^strata: ' "$T/err"
	assert_false "$what: nothing mounted" is_mounted "$M"
}
refused 1 'a missing lowerdir' "$STRATA" mount -o "lowerdir=$T/nothing-here" "$M"
refused 2 'an empty lowerdir=' "$STRATA" mount -o lowerdir= "$M"
refused 2 'an empty entry in lowerdir=' "$STRATA" mount -o "lowerdir=$T/A::$T/C" "$M"
mkdir -p "$M/sub" "$T/U/w"
refused 2 'a lowerdir that is the mount point, through ..' \
	"$STRATA" mount -o "lowerdir=$T/A:$M/sub/../../mnt,upperdir=$T/U,workdir=$T/W" "$M"
refused 2 'an upperdir inside the mount point' \
	"$STRATA" mount -o "lowerdir=$T/A,upperdir=$M/sub,workdir=$T/W" "$M"
if [ "$(stat -c %d /dev/shm)" != "$(stat -c %d "$T")" ]; then
	W3=$(mktemp -d /dev/shm/strata-it-overlay.XXXXXX)
	refused 2 'a workdir on another file system' \
		"$STRATA" mount -o "lowerdir=$T/A,upperdir=$T/U,workdir=$W3" "$M"
	rmdir "$W3"
fi
refused 2 'a workdir inside the upperdir' \
	"$STRATA" mount -o "lowerdir=$T/A,upperdir=$T/U,workdir=$T/U/w" "$M"
rmdir "$M/sub" "$T/U/w"
refused 2 'upperdir= without workdir=' "$STRATA" mount -o "lowerdir=$T/A,upperdir=$T/U" "$M"
refused 2 'upperdir= without lowerdir=' "$STRATA" mount -o "upperdir=$T/U,workdir=$T/W" "$M"
refused 2 'an unknown option' "$STRATA" mount -o "lowerdir=$T/A,frobnicate" "$M"
refused 2 'an unknown option, fuse-overlayfs form' "$STRATA" -o "lowerdir=$T/A,bogus=1" "$M"
refused 2 'lowerdir= and --layer' "$STRATA" mount -o "lowerdir=$T/A" --layer "$T/B.tar" "$M"
refused 2 'a bad uidmapping' "$STRATA" mount -o "lowerdir=$T/A,uidmapping=0:1" "$M"
refused 2 'the helper without a mount point' "$T/mount.fuse.strata" strata
refused 2 'the helper with an unknown flag' "$T/mount.fuse.strata" strata "$M" -x
refused 1 'a lowerdir that is neither a directory, a tar file nor an image' \
	env STRATA_ROOT="$T/no-store" "$STRATA" mount -o "lowerdir=no-such-image:$T/C" "$M"

# ---- rootless: a daemon in a user namespace, as podman's ----
if command -v unshare >/dev/null && command -v setpriv >/dev/null; then
	chmod 0666 /dev/fuse
	R=$T/rl
	mkdir -p "$R/low" "$R/up" "$R/work" "$R/mnt"
	echo low >"$R/low/f"
	chown -R 65534:65534 "$R"
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups unshare -Urm bash -c "
		set -e
		'$STRATA' -o 'lowerdir=$R/low:$T/C,upperdir=$R/up,workdir=$R/work' '$R/mnt'
		echo changed >'$R/mnt/f'
		mkdir '$R/mnt/newdir'
		cat '$R/mnt/f' '$R/mnt/d/x'
		'$STRATA' umount '$R/mnt'
		'$STRATA' mount -o 'lowerdir=$R/up:$R/low:$T/C' '$R/mnt'
		cat '$R/mnt/f'; test -d '$R/mnt/newdir' && echo newdir
		'$STRATA' umount '$R/mnt'" 2>&1) || true
	assert_eq 'rootless: write, remount with the upper as a lower' \
		"$(printf 'changed\nin-d\nchanged\nnewdir')" "$out"
	assert_false 'rootless: nothing left mounted' is_mounted "$R/mnt"

	# handover DIR WRITER READER: as uid 65534 in a user namespace, WRITER
	# (a command taking "-o lowerdir=L,upperdir=U,workdir=W MNT") removes
	# a lower file and replaces a lower directory, then unmounts; READER
	# mounts the same upper; prints "same" when both showed one tree.
	handover() {
		local d=$1
		mkdir -p "$d/L/d" "$d/U" "$d/W" "$d/M" "$d/M2"
		echo 1 >"$d/L/a"
		echo 2 >"$d/L/d/b"
		chown -R 65534:65534 "$d"
		setpriv --reuid=65534 --regid=65534 --clear-groups unshare -Urm bash -c "
			set -e
			cd '$d'
			$2 -o lowerdir=L,upperdir=U,workdir=W M 2>/dev/null
			rm M/a; rm -r M/d; mkdir M/d; echo new >M/d/n
			(cd M && find . | sort) >1.txt
			fusermount3 -u M
			$3 -o lowerdir=L,upperdir=U,workdir=W M2 2>/dev/null
			(cd M2 && find . | sort) >2.txt
			fusermount3 -u M2
			diff 1.txt 2.txt && echo same" 2>&1 || true
	}
	# fuse-overlayfs' rootless upper (0/0 devices, user.fuseoverlayfs.opaque
	# and a .wh..wh..opq file) read by a rootless strata, and back.
	if command -v fuse-overlayfs >/dev/null; then
		assert_eq "fuse-overlayfs' rootless upper, read by a rootless strata" same \
			"$(handover "$T/fo" fuse-overlayfs "'$STRATA'")"
		assert_eq "a rootless strata's overlay-form upper, read by fuse-overlayfs" same \
			"$(handover "$T/fo2" "'$STRATA'" fuse-overlayfs)"
	fi
fi
finish
