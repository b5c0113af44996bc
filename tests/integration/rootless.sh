#!/usr/bin/env bash
# rootless: a daemon that is not root (here: root of a user namespace that
# maps only uid/gid 65534) keeps what it cannot make real -- other owners,
# device nodes, bits it may not set -- in user.strata.meta, and reports
# them as if real, across copy-up and remount.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if ! command -v unshare >/dev/null || ! command -v setpriv >/dev/null; then
	skip "needs unshare and setpriv"
fi
chmod 0666 /dev/fuse
chmod 0755 "$T"
L=$T/lower
mkdir -p "$L/etc" "$L/owned"
echo rootfile >"$L/etc/f"
head -c 6000 /dev/zero >"$L/etc/d"
echo trunc-me >"$L/etc/t"
echo userfile >"$L/owned/g"
echo rootsfile >"$L/owned/r"
mknod "$L/null" c 1 3
chmod 0640 "$L/etc/f"
chown 1000:1000 "$L/owned" "$L/owned/g"
chmod 02755 "$L/owned"
touch -d @1600000000 "$L/etc" "$L/owned"
tar --numeric-owner -C "$L" -cf "$T/l.tar" .
mkdir -p "$T/upper" "$T/mnt" "$T/c"
chown 65534:65534 "$T/upper" "$T/mnt" "$T/c" "$T/l.tar"

# Runs a script as uid 65534 in a new user + mount namespace, where it is
# root: the daemon runs there too, and ids other than 0 are not mapped.
as_userns_root() {
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		unshare -Urm bash -c "$1" 2>&1
}

out=$(as_userns_root "
set -e
S='$STRATA'; M='$T/mnt'
\$S mount --cache-dir '$T/c' -l '$T/l.tar' --upper '$T/upper' \$M
chmod 600 \$M/null          # copy-up of a device node
chmod 0600 \$M/etc/f        # copy-up of a root file, and of etc
chmod 0600 \$M/owned/r      # copy-up of the dir, owned by an unmapped id
stat -c '%n %u %g %a %F %t,%T' \$M/null \$M/etc \$M/etc/f
\$S umount \$M
\$S mount --cache-dir '$T/c' -l '$T/l.tar' --upper '$T/upper' \$M
stat -c '%n %u %g %a %F %t,%T' \$M/null \$M/etc \$M/etc/f
stat -c '%n %a' \$M/owned
stat -c '%n %a' \$M/owned/r
cat \$M/etc/f
\$S umount \$M
") || true
log "$out"
M=$T/mnt
# In the namespace, uid 0 is the daemon's own and shows as 0; each line is
# printed before and after the remount.
n=$(printf '%s\n' "$out" | grep -c "^$M/null 0 0 600 character special file 1,3$" || true)
assert_eq 'null: a character device 1,3, mode 600, before and after remount' 2 "$n"
n=$(printf '%s\n' "$out" | grep -c "^$M/etc/f 0 0 600 regular" || true)
assert_eq 'etc/f: mode 600 after chmod, before and after remount' 2 "$n"
assert_true 'owned keeps its setgid bit (recorded, since the daemon may not set it)' \
	grep -q "^$M/owned 2755$" <<<"$out"
assert_true 'etc/f reads back' grep -q '^rootfile$' <<<"$out"

# On disk: placeholders and the records, as docs/xattrs.md says.
U=$T/upper
assert_stat 'the device is a regular placeholder in the upper' '%F' "$U/null" 'regular empty file'
assert_eq 'its record' '0:0:20600:259' "$(getfattr --only-values -n user.strata.meta "$U/null")"
assert_eq "owned's record (owner 1000, setgid)" '1000:1000:42755:0' \
	"$(getfattr --only-values -n user.strata.meta "$U/owned")"
assert_true 'owned/r: mode 600 after remount' grep -q "^$M/owned/r 600$" <<<"$out"
assert_eq 'only owned/r was copied up' r "$(ls "$U/owned")"
assert_eq 'etc is the daemon'\''s own: no record needed' '' \
	"$(getfattr --only-values -n user.strata.meta "$U/etc" 2>/dev/null || true)"
# O_DIRECT and O_RDONLY|O_TRUNC with a daemon without privilege (upper.sh
# checks the same as root): any size and offset, new and copied-up files.
head -c 8000 /dev/urandom >"$T/dio.ref"
chmod 0644 "$T/dio.ref"
mkdir -p "$T/upper2" && chown 65534:65534 "$T/upper2"
out=$(as_userns_root "
S='$STRATA'; M='$T/mnt'
\$S mount --cache-dir '$T/c' -l '$T/l.tar' --upper '$T/upper2' \$M || exit 1
dd if='$T/dio.ref' of=\$M/new bs=1000 count=8 oflag=direct status=none && echo new-written
cmp '$T/dio.ref' \$M/new && echo new-same
dd if='$T/dio.ref' of=\$M/etc/d bs=999 count=2 seek=3 oflag=direct conv=notrunc status=none && echo d-written
dd if=\$M/etc/d bs=999 count=2 skip=3 iflag=direct status=none | cmp -n 1998 '$T/dio.ref' - && echo d-same
python3 -c 'import os, sys; os.close(os.open(sys.argv[1], os.O_RDONLY | os.O_TRUNC))' \$M/etc/t && echo t-truncated
stat -c '%s' \$M/etc/t
\$S umount \$M
") || true
log "$out"
for w in new-written new-same d-written d-same t-truncated; do
	assert_true "rootless O_DIRECT / O_TRUNC: $w" grep -qx "$w" <<<"$out"
done
assert_true 'rootless O_RDONLY|O_TRUNC: etc/t is empty' grep -qx 0 <<<"$out"

finish
