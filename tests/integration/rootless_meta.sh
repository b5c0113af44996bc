#!/usr/bin/env bash
# rootless_meta: a daemon that is not root (uid 65534, in no user
# namespace), serving root and other users through allow_other, as a
# rootless container engine's helper would.  Every owner, mode and type is
# kept in user.strata.meta, whatever the file's own permission bits: the
# real objects stay open to the daemon, and symlinks, fifos and sockets
# are placeholder files carrying the record (docs/xattrs.md).  Each check
# is one of issue 13's item 2: tar -xpf of a 0444 file owned by 1000,
# files created 0444 and then chmodded by their owner, chmod 0444 and the
# chmods after it, chown of fifos, sockets and symlinks, rmdir of a
# directory made 0100; and all of it after copy-up, remount, under a root
# daemon, and in `strata diff`, `ls` and `commit` of a container.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v setpriv >/dev/null || skip "needs setpriv"
command -v python3 >/dev/null || skip "needs python3"
chmod 0666 /dev/fuse
chmod 0755 "$T"

# allow_other from a user needs user_allow_other in /etc/fuse.conf: added
# for the test when missing, and the file put back as it was.
FUSE_CONF_SAVED=
if ! grep -qx user_allow_other /etc/fuse.conf 2>/dev/null; then
	FUSE_CONF_SAVED=$T/fuse.conf
	cp -p /etc/fuse.conf "$FUSE_CONF_SAVED" 2>/dev/null || : >"$FUSE_CONF_SAVED"
	echo user_allow_other >>/etc/fuse.conf
fi
restore_fuse_conf() {
	[ -z "$FUSE_CONF_SAVED" ] || cat "$FUSE_CONF_SAVED" >/etc/fuse.conf
}
# (lib.sh's cleanup takes the exit status from $?: it is handed on.)
trap 'rc=$?; set +e; restore_fuse_conf; (exit $rc); cleanup' EXIT

D=65534 # the daemon's uid and gid
AS_DAEMON=(setpriv --reuid="$D" --regid="$D" --clear-groups)
AS_1000=(setpriv --reuid=1000 --regid=1000 --clear-groups)

# The lower layer: objects of uid 1000 that copy-up must keep.
L=$T/lower
mkdir -p "$L/lo/d"
echo lowerdata >"$L/lo/f444"
mkfifo "$L/lo/fifo"
ln -s f444 "$L/lo/link"
chown -h 1000:1000 "$L/lo" "$L/lo/d" "$L/lo/f444" "$L/lo/fifo" "$L/lo/link"
chmod 0444 "$L/lo/f444"
chmod 0640 "$L/lo/fifo"
chmod 0555 "$L/lo/d"
tar --numeric-owner -C "$L" -cf "$T/l.tar" .
# What tar -xpf extracts: a 0444 file of uid 1000 in a 0555 directory.
mkdir -p "$T/x/rodir"
echo readonly >"$T/x/rodir/ro"
chown -R 1000:1000 "$T/x/rodir"
chmod 0444 "$T/x/rodir/ro"
chmod 0555 "$T/x/rodir"
tar --numeric-owner -C "$T/x" -cf "$T/x.tar" rodir
mkdir -p "$T/upper" "$T/c"
chown "$D:$D" "$T/upper" "$T/c" "$T/l.tar"
M=$T/mnt

# dmount [root]: the daemon, as uid 65534 unless "root".
dmount() {
	local who=("${AS_DAEMON[@]}")
	[ "${1:-}" != root ] || who=()
	mkdir -p "$M"
	chown "$D:$D" "$M"
	MOUNTS+=("$M")
	run "${who[@]}" "$STRATA" mount -o allow_other --cache-dir "$T/c" -l "$T/l.tar" \
		--upper "$T/upper" "$M"
	if [ "$RC" != 0 ] || ! is_mounted "$M"; then
		die "mount as ${1:-$D}: exit $RC: $ERR"
	fi
}

# st PATH...: type, owner and mode as the mount shows them.
st() { stat -c '%n %F %u:%g %a' -- "$@" 2>&1 | sed "s|$M/||"; }

# marked: whether the upper's root says it holds no record (meta.c).
marked() { getfattr --absolute-names -n user.strata.no-records "$T/upper" >/dev/null 2>&1; }

# A root daemon marks an empty upper as holding no record, and reads none
# while the mark is there; a daemon that is not root takes it off before
# it writes any, so the root daemon below reads them all again.
dmount root
ls "$M" >/dev/null
sumount "$M"
assert_true 'a root daemon marks an empty upper' marked

dmount
# The mark goes at FUSE's INIT, which the daemon answers after the mount
# returns: the first access waits for it.
stat "$M" >/dev/null
assert_false 'a daemon that is not root takes the mark off' marked
mkdir "$M/x" "$M/u"
chown 1000:1000 "$M/u"

# tar -xpf as root of a 0444 file of uid 1000 (and its 0555 directory).
run tar -C "$M/x" -xpf "$T/x.tar"
assert_eq "tar -xpf of a 0444 file owned by 1000 (stderr: $ERR)" 0 "$RC"
assert_eq 'tar -xpf: owner and mode kept' \
	"x/rodir directory 1000:1000 555|x/rodir/ro regular file 1000:1000 444" \
	"$(st "$M/x/rodir" "$M/x/rodir/ro" | tr '\n' '|' | sed 's/|$//')"
assert_content 'tar -xpf: the content' "$M/x/rodir/ro" 'readonly\n'

# A file created 0444 by its owner (as git writes objects), then chmodded.
run "${AS_1000[@]}" sh -c "umask 0222 && echo obj >'$M/u/obj'"
assert_eq "uid 1000 creates a 0444 file (stderr: $ERR)" 0 "$RC"
assert_eq 'it is 0444 and uid 1000'"'"'s' 'u/obj regular file 1000:1000 444' "$(st "$M/u/obj")"
run "${AS_1000[@]}" chmod 0644 "$M/u/obj"
assert_eq "its owner chmods it (stderr: $ERR)" 0 "$RC"
assert_eq 'and it is 0644' 'u/obj regular file 1000:1000 644' "$(st "$M/u/obj")"

# chmod 0444, then more chmods: each one shows, the owner stays.
echo c >"$M/c"
chown 1000:1000 "$M/c"
for mode in 444 600 755 0 4711; do
	run chmod "$mode" "$M/c"
	assert_eq "chmod $mode (stderr: $ERR)" 0 "$RC"
	assert_eq "after chmod $mode" "c regular file 1000:1000 $mode" "$(st "$M/c")"
done
assert_content 'a 4711 file still reads' "$M/c" 'c\n'
assert_true 'the real file stays open to the daemon' "${AS_DAEMON[@]}" test -r "$T/upper/c" -a -w "$T/upper/c"
assert_eq 'with the mode in its record' '1000:1000:104711:0' \
	"$(getfattr --only-values -n user.strata.meta "$T/upper/c" 2>/dev/null)"

# chown of a fifo, a socket and a symlink; and they still work.
mkfifo "$M/p"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$M/s"
ln -s c "$M/l"
for o in p s; do
	run chown 1000:1000 "$M/$o"
	assert_eq "chown of $o (stderr: $ERR)" 0 "$RC"
done
run chown -h 1000:1000 "$M/l"
assert_eq "chown -h of a symlink (stderr: $ERR)" 0 "$RC"
assert_eq 'fifo, socket and symlink: type and owner' \
	'p fifo 1000:1000 644|s socket 1000:1000 755|l symbolic link 1000:1000 777' \
	"$(st "$M/p" "$M/s" "$M/l" | tr '\n' '|' | sed 's/|$//')"
assert_eq 'the symlink reads' c "$(readlink "$M/l")"
assert_content 'and resolves' "$M/l" 'c\n'
out=$(timeout 10 sh -c "echo through-fifo >'$M/p' & cat '$M/p'; wait" 2>&1) || true
assert_eq 'the fifo passes data' through-fifo "$out"
out=$(timeout 10 python3 -c '
import os, socket, sys
p = sys.argv[1] + ".2"
srv = socket.socket(socket.AF_UNIX); srv.bind(p); srv.listen(1)
os.chown(p, 1000, 1000)
cli = socket.socket(socket.AF_UNIX); cli.connect(p)
conn, _ = srv.accept(); cli.sendall(b"through-socket"); print(conn.recv(64).decode())
' "$M/s" 2>&1) || true
assert_eq 'a chowned socket connects' through-socket "$out"

# rmdir of a directory made 0100.
mkdir -m 0100 "$M/m100"
run rmdir "$M/m100"
assert_eq "rmdir of mkdir -m 0100 (stderr: $ERR)" 0 "$RC"

# Copy-up keeps the lower owner, mode and type (the symlink by a rename).
for cmd in 'chmod 0400 lo/f444' 'chown 2000:2000 lo/fifo' 'mv lo/link lo/link2' \
	'chmod 0750 lo/d'; do
	run sh -c "cd '$M' && $cmd"
	assert_eq "copy-up: $cmd (stderr: $ERR)" 0 "$RC"
done
assert_content 'the copied-up file reads' "$M/lo/f444" 'lowerdata\n'
assert_eq 'copied-up symlink reads' f444 "$(readlink "$M/lo/link2")"

snap() {
	st "$M/x/rodir/ro" "$M/u/obj" "$M/c" "$M/p" "$M/s" "$M/l" "$M/lo/f444" "$M/lo/fifo" \
		"$M/lo/link2" "$M/lo/d"
	readlink "$M/l" "$M/lo/link2"
}
EXPECTED='x/rodir/ro regular file 1000:1000 444
u/obj regular file 1000:1000 644
c regular file 1000:1000 4711
p fifo 1000:1000 644
s socket 1000:1000 755
l symbolic link 1000:1000 777
lo/f444 regular file 1000:1000 400
lo/fifo fifo 2000:2000 640
lo/link2 symbolic link 1000:1000 777
lo/d directory 1000:1000 750
c
f444'
assert_same_text 'all of it' "$EXPECTED" "$(snap)"
sumount "$M"

dmount
assert_same_text 'after a remount' "$EXPECTED" "$(snap)"
sumount "$M"
dmount root
assert_same_text 'under a root daemon' "$EXPECTED" "$(snap)"
# Either daemon: a file created 04755 by root keeps its setuid bit (root's
# chown of the new file cleared it before the mode was set again).
mk4755() { python3 -c 'import os, sys; os.umask(0); os.close(os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o4755))' "$1"; }
mk4755 "$M/suid-root"
assert_eq 'created 04755 under a root daemon' 'suid-root regular empty file 0:0 4755' "$(st "$M/suid-root")"
sumount "$M"
dmount
mk4755 "$M/suid-rootless"
assert_eq 'created 04755 under a rootless daemon' 'suid-rootless regular empty file 0:0 4755' \
	"$(st "$M/suid-rootless")"
sumount "$M"

# A container's upper, changed through a rootless mount, as `strata ls`,
# `diff` and `commit` read it (layer_dir.c): placeholders become what they
# stand for.  strata run needs a static busybox in the image.
BB=$(command -v busybox || true)
case "$([ -z "$BB" ] || LC_ALL=C ldd "$BB" 2>&1)" in
*"not a dynamic"* | *"statically linked"*) ;;
*)
	log 'no static busybox: the container checks are skipped'
	finish
	;;
esac
mkdir -p "$T/rootfs/bin" "$T/home" "$T/R"
cp "$BB" "$T/rootfs/bin/busybox"
tar -C "$T/rootfs" -cf "$T/img.tar" .
chown -R "$D:$D" "$T/img.tar" "$T/home" "$T/R"
as_user() { run "${AS_DAEMON[@]}" env HOME="$T/home" "$STRATA" "$@" --root "$T/R"; }
as_user import -q -t img "$T/img.tar"
assert_eq "import (stderr: $ERR)" 0 "$RC"
run "${AS_DAEMON[@]}" env HOME="$T/home" "$STRATA" run --root "$T/R" --name c img /bin/busybox true
assert_eq "strata run (stderr: $ERR)" 0 "$RC"
MOUNTS+=("$M")
run "${AS_DAEMON[@]}" env HOME="$T/home" "$STRATA" mount --root "$T/R" -o allow_other \
	--upper "$T/R/strata/containers/c/upper" img "$M"
is_mounted "$M" || die "mount of the container's upper: exit $RC: $ERR"
run sh -c "cd '$M' && mkfifo p && chown 1000:1000 p && ln -s bin/busybox l &&
	chown -h 1000:1000 l && echo f >f && chown 1000:1000 f && chmod 0444 f &&
	mkdir -m 0100 d && chown 1000:1000 d && chmod 04711 bin/busybox"
assert_eq "changes in the container's root (stderr: $ERR)" 0 "$RC"
sumount "$M"
# mode, owner and name of each entry (sizes and times are the file
# system's), from `strata ls -R` of SOURCE.
ls_of() {
	as_user ls -R "$1" /
	awk '{ $4 = $5 = $6 = ""; print }' "$T/out" | tr -s ' ' | grep -E ' (/?bin/busybox|/?[dflp])( |$)'
}
CT='-rws--x--x 0 0 /bin/busybox
d--x------ 1000 1000 /d
-r--r--r-- 1000 1000 /f
lrwxrwxrwx 1000 1000 /l -> bin/busybox
prw-r--r-- 1000 1000 /p'
assert_same_text 'strata ls of the container' "$CT" "$(ls_of c)"
as_user diff -v c
assert_same_text 'strata diff -v of the container' 'C /bin (contents)
C /bin/busybox (mode)
A /d
A /f
A /l
A /p' "$(cat "$T/out")"
as_user commit c img2
assert_eq "strata commit (stderr: $ERR)" 0 "$RC"
assert_same_text 'strata ls of the committed image' "$CT" "$(ls_of img2)"
finish
