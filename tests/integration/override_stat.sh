#!/usr/bin/env bash
# override_stat: fuse-overlayfs' records of owners and modes (its
# xattr_permissions=, and what containers/storage writes with force_mask).
# Read: a directory lower whose root carries user.containers.override_stat
# (or user.fuseoverlayfs.override_stat) shows each file's and directory's
# owner and mode as its record says, to a root daemon and to one that is
# not root, shifted by uidmapping= as fuse-overlayfs shifts them.  Write:
# with xattr_permissions=2 the upper keeps them in
# user.fuseoverlayfs.override_stat, the real files the daemon's, and a
# second mount (strata, and fuse-overlayfs where installed) shows them
# the same; what fuse-overlayfs writes, strata reads; =1 writes the
# security.fuseoverlayfs one.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

M=$T/mnt
CO=user.containers.override_stat
FO=user.fuseoverlayfs.override_stat

# A lower as containers/storage leaves it with force_mask: every file and
# directory with a record (fuse-overlayfs 1.10 fails the stat of one
# without), plus a device kept as a file (1.15's form), a damaged record.
L=$T/lower
mkdir -p "$L/d" "$L/sub"
echo content >"$L/f"
: >"$L/dev"
: >"$L/bad"
setfattr -n $CO -v 0:0:0755 "$L"
setfattr -n $CO -v 1000:1001:0640 "$L/f"
setfattr -n $CO -v 7:8:2750 "$L/d"
setfattr -n $CO -v 0:0:0700 "$L/sub"
setfattr -n $CO -v 0:0:0666:char-1-3 "$L/dev"
setfattr -n $CO -v not-a-record "$L/bad"
chmod 0644 "$L/f" "$L/bad"

# omount UPPER OPTS...: $L (or $LOWER) under UPPER, more -o options.
omount() {
	local u=$1
	shift
	mkdir -p "$u" "$u.work"
	smount "$M" -o "lowerdir=${LOWER:-$L},upperdir=$u,workdir=$u.work$(printf ',%s' "$@")"
}
# shows PATH...: owner, mode and type of each, as stat prints them.
shows() { (cd "$M" && stat -c '%n %u:%g %a %F' "$@" 2>&1); }

# ---- read: the lower's records, as root ----
omount "$T/u1"
assert_stat 'a file record' '%u:%g %a %F' "$M/f" '1000:1001 640 regular file'
assert_eq 'its content' content "$(cat "$M/f")"
assert_stat 'a directory record' '%u:%g %a' "$M/d" '7:8 2750'
assert_stat "the root's record" '%u:%g %a' "$M/sub" '0:0 700'
assert_stat 'a device kept as a file (1.15 form)' '%F %t:%T %a %s' "$M/dev" \
	'character special file 1:3 666 0'
assert_stat 'a damaged record: as on disk' '%u:%g %a' "$M/bad" '0:0 644'
assert_false 'records never show' getfattr --absolute-names -n $CO "$M/f"
assert_false 'nor in a listing' sh -c "getfattr --absolute-names -d -m - '$M/f' | grep -q override"
sumount "$M"
# uidmapping=: a record's ids are on-disk ones, shifted as fuse-overlayfs does.
omount "$T/u1" uidmapping=0:100000:65536 gidmapping=0:200000:65536
assert_stat 'uidmapping: a record shifted' '%u:%g %a' "$M/f" '101000:201001 640'
sumount "$M"
# fuse-overlayfs' own name, on another lower.
L2=$T/lower2
mkdir -p "$L2"
: >"$L2/g"
setfattr -n $FO -v 0:0:0755 "$L2"
setfattr -n $FO -v 42:43:0604 "$L2/g"
LOWER=$L2 omount "$T/u2"
assert_stat "user.fuseoverlayfs' record" '%u:%g %a' "$M/g" '42:43 604'
sumount "$M"
# The same through fuse-overlayfs, where installed.
want=$(printf '%s\n' 'f 1000:1001 640 regular file' 'd 7:8 2750 directory' 'sub 0:0 700 directory')
if command -v fuse-overlayfs >/dev/null; then
	mkdir -p "$T/fo1" "$T/fo1.work"
	MOUNTS+=("$M")
	run fuse-overlayfs -o "lowerdir=$L,upperdir=$T/fo1,workdir=$T/fo1.work" "$M"
	assert_eq "fuse-overlayfs shows the same (stderr: $ERR)" "$want" "$(shows f d sub)"
	fusermount3 -u "$M"
fi

# ---- read and write as a daemon that is not root ----
if command -v setpriv >/dev/null; then
	chmod 0666 /dev/fuse
	chmod 0755 "$T"
	Q=$T/rl
	mkdir -p "$Q/u" "$Q/w" "$Q/u2" "$Q/w2" "$Q/mnt"
	chown -R 65534:65534 "$Q"
	MOUNTS+=("$Q/mnt")
	run setpriv --reuid=65534 --regid=65534 --clear-groups bash -c "
		set -e
		'$STRATA' -o 'lowerdir=$L,upperdir=$Q/u,workdir=$Q/w,xattr_permissions=2' '$Q/mnt'
		cd '$Q/mnt'
		stat -c '%n %u:%g %a %F' f d sub
		echo new >new
		chmod 0604 new
		mkdir nd
		chmod 0750 nd
		cd /
		fusermount3 -u '$Q/mnt'
		'$STRATA' -o 'lowerdir=$L,upperdir=$Q/u2,workdir=$Q/w2' '$Q/mnt'
		cd '$Q/mnt'
		set +e
		stat -c '%n %u:%g %a %F' f d
		cd /
		fusermount3 -u '$Q/mnt'"
	assert_eq "rootless: the lower's records (stderr: $ERR)" \
		"$(printf '%s\n' "$want" 'f 1000:1001 640 regular file' 'd 7:8 2750 directory')" \
		"$(cat "$T/out")"
	assert_eq 'rootless: a new file recorded' 65534:65534:604 \
		"$(getfattr --absolute-names --only-values -n $FO "$Q/u/new" 2>&1)"
	assert_eq 'rootless: a new directory recorded' 65534:65534:750 \
		"$(getfattr --absolute-names --only-values -n $FO "$Q/u/nd" 2>&1)"
	assert_false 'rootless: no strata record beside it' getfattr -n user.strata.meta "$Q/u/new"
	assert_false 'rootless: nothing left mounted' is_mounted "$Q/mnt"
	# =1's security.* xattrs need privilege: refused at mount.
	run setpriv --reuid=65534 --regid=65534 --clear-groups "$STRATA" \
		-o "lowerdir=$L,upperdir=$Q/u,workdir=$Q/w,xattr_permissions=1" "$Q/mnt"
	assert_one_error_line 'rootless: xattr_permissions=1' 2 'strata: xattr_permissions=1: '
	assert_false 'rootless: xattr_permissions=1: not mounted' is_mounted "$Q/mnt"
fi

# ---- write: xattr_permissions=2 as root ----
U=$T/u3
omount "$U" xattr_permissions=2
echo new >"$M/new"
chown 1000:1001 "$M/new"
chmod 0640 "$M/new"
mkdir "$M/nd"
chmod 2751 "$M/nd"
chown 5:6 "$M/f" # a copy-up
touch "$M/plain"
ln -s target "$M/link"
after=$(shows new nd f plain link d)
sumount "$M"
assert_eq "the upper's root recorded" 0:0:755 "$(getfattr --absolute-names --only-values -n $FO "$U" 2>&1)"
assert_eq 'a chown and chmod' 1000:1001:640 "$(getfattr --absolute-names --only-values -n $FO "$U/new" 2>&1)"
assert_eq 'a directory' 0:0:2751 "$(getfattr --absolute-names --only-values -n $FO "$U/nd" 2>&1)"
assert_eq 'a copy-up, chown' 5:6:640 "$(getfattr --absolute-names --only-values -n $FO "$U/f" 2>&1)"
assert_eq 'a file as made (fuse-overlayfs 1.10 needs one on each)' 0:0:644 \
	"$(getfattr --absolute-names --only-values -n $FO "$U/plain" 2>&1)"
assert_stat 'the real file stays the daemon'"'"'s' '%u:%g' "$U/new" 0:0
assert_false 'no strata record' getfattr -n user.strata.meta "$U/new"
assert_eq 'what the mount showed' \
	"$(printf '%s\n' 'new 1000:1001 640 regular file' 'nd 0:0 2751 directory' \
		'f 5:6 640 regular file' 'plain 0:0 644 regular empty file' \
		'link 0:0 777 symbolic link' 'd 7:8 2750 directory')" "$after"
omount "$U" xattr_permissions=2
assert_eq 'a second strata mount shows the same' "$after" "$(shows new nd f plain link d)"
sumount "$M"
if command -v fuse-overlayfs >/dev/null; then
	run fuse-overlayfs -o "lowerdir=$L,upperdir=$U,workdir=$U.work,xattr_permissions=2" "$M"
	assert_eq "fuse-overlayfs shows the same (stderr: $ERR)" "$after" "$(shows new nd f plain link d)"
	# What fuse-overlayfs writes, strata reads (1.10's chmod forgets a
	# chown before it: one each).
	: >"$M/by-fo-chown"
	chown 3:4 "$M/by-fo-chown"
	: >"$M/by-fo-chmod"
	chmod 0604 "$M/by-fo-chmod"
	mkdir "$M/by-fo-dir"
	chmod 0710 "$M/by-fo-dir"
	fo=$(shows by-fo-chown by-fo-chmod by-fo-dir)
	fusermount3 -u "$M"
	omount "$U" xattr_permissions=2
	assert_eq "strata shows what fuse-overlayfs wrote" "$fo" \
		"$(shows by-fo-chown by-fo-chmod by-fo-dir)"
	assert_stat '... its chown' '%u:%g' "$M/by-fo-chown" 3:4
	assert_stat '... its chmod' '%a' "$M/by-fo-chmod" 604
	sumount "$M"
fi

# ---- xattr_permissions=1: the privileged name ----
U=$T/u5
omount "$U" xattr_permissions=1
: >"$M/n"
chown 9:9 "$M/n"
chmod 0600 "$M/f"
after=$(shows n f)
sumount "$M"
assert_eq '=1: security.fuseoverlayfs.override_stat' 9:9:644 \
	"$(getfattr --absolute-names --only-values -n security.fuseoverlayfs.override_stat "$U/n" 2>&1)"
assert_false '=1: not the user one' getfattr -n $FO "$U/n"
if command -v fuse-overlayfs >/dev/null; then
	run fuse-overlayfs -o "lowerdir=$L,upperdir=$U,workdir=$U.work,xattr_permissions=1" "$M"
	assert_eq "=1: fuse-overlayfs shows the same (stderr: $ERR)" "$after" "$(shows n f)"
	fusermount3 -u "$M"
fi

# ---- bad input ----
run "$STRATA" -o "lowerdir=$L,upperdir=$T/u4,workdir=$T/u4.work,xattr_permissions=3" "$M"
assert_one_error_line 'xattr_permissions=3' 2
assert_false 'xattr_permissions=3: nothing mounted' is_mounted "$M"

finish
