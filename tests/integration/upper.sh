#!/bin/bash
# upper: the changeset strata leaves in the --upper directory (OCI form:
# .wh.NAME for a deleted lower name, .wh..wh..opq for a directory made
# again, copied-up files whole with their mode, owner, times and xattrs),
# st_ino across copy-up and remount, fsync'd data across kill -9 of the
# daemon, ENOSPC on a full upper, a clear error for an upper the daemon
# cannot write, and real programs in the mount (tar -x, git, gcc).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${POSIXOPS:?POSIXOPS must name the posixops binary}"

if ! grep -q -- '--upper' <<<"$("$STRATA" mount --help 2>&1)"; then
	die "strata mount has no --upper option (the writable upper layer is not in this binary)"
fi

SCRATCH=.wh..wh..strata

# changeset DIR: "type path size" for everything in the upper DIR but
# strata's scratch space.
changeset() {
	(cd "$1" && find . -mindepth 1 -path "./$SCRATCH" -prune -o -printf '%y %p %s\n') | sort
}

# xattrs FILE: "name=0xHEX" of every xattr but strata's own user.strata.*.
xattrs() {
	getfattr -h -d -m - -e hex --absolute-names -- "$1" 2>&1 | grep -v '^# file:' |
		grep -v '^user\.strata\.' | grep . | sort || true
}

# metacopy_mark FILE: 1 when an upper file's data is still its origin's
# (the second 8-byte word of user.strata.origin, docs/xattrs.md), else 0.
metacopy_mark() {
	local v
	v=$(getfattr -h --absolute-names -n user.strata.origin -e hex -- "$1" 2>/dev/null |
		sed -n 's/^user\.strata\.origin=0x//p')
	if [ "${#v}" -eq 32 ] && [ "${v:16:2}" = 01 ]; then echo 1; else echo 0; fi
}

# inodes DIR: "ino path" for everything below DIR.
inodes() {
	(cd "$1" && find . -printf '%i %p\n') | sort -k 2
}

# try WHAT CMD...: CMD must succeed; when it fails that is counted and
# shown, and the test goes on (set -e would end it).
try() {
	local what=$1
	shift
	if "$@" >"$T/try.out" 2>&1; then
		pass
	else
		fail "$what: '$*' failed: $(head -c 300 "$T/try.out")"
	fi
}

# put FILE TEXT / add FILE TEXT: write / append TEXT and a newline.
put() { printf '%s\n' "$2" >"$1"; }
add() { printf '%s\n' "$2" >>"$1"; }

# posixops_on ROOT WHAT: runs the posixops script on stdin below ROOT;
# its output is left in $OUT.
posixops_on() {
	if timeout -k 5 120 "$POSIXOPS" "$1" >"$T/posixops.out" 2>&1; then
		pass
	else
		fail "$2: posixops failed: $(tail -c 300 "$T/posixops.out")"
	fi
	OUT=$(cat "$T/posixops.out")
}

# ---- the changeset: whiteouts, opaque dirs, copied-up files ----

mk "$T/l1.tar" <<'EOF'
dir d mode=0751 uid=5 gid=6 mtime=1600000000 xattr.user.dir=dv
file d/low content=low\n mode=0640 uid=7 gid=8 mtime=1600000000.25 xattr.user.a=1 xattr.user.b=2
file d/keep content=keep\n mode=0604 uid=9 gid=10 mtime=1600000001.125 xattr.user.k=kv
file d/del content=del\n
file d/own content=own\n mode=0644 uid=11 gid=12 mtime=1600000002
dir d/sub
file d/sub/x content=x
dir gone mode=0700
file gone/a content=a
dir gone/deep
file gone/deep/b content=b
file rootdel content=r
file hl1 content=hl\n mode=0600 uid=3 gid=3
hardlink hl2 target=hl1
hardlink d/hl3 target=hl1
file recreate content=old\n
dir renamed
file renamed/c content=c\n
dir renamed/sub
file renamed/sub/e content=e\n
symlink sym target=d/low
dir t1 mode=0755 mtime=1500000000
dir t1/t2 mode=0700 uid=1 gid=2 mtime=1500000001.5
dir t1/t2/t3 mtime=1500000002
EOF
mk "$T/l2.tar" <<'EOF'
dir d mode=0751 uid=5 gid=6 mtime=1600000000 xattr.user.dir=dv
file d/upper2 content=l2\n
whiteout d/never
EOF
LAYERS=(--layer "$T/l1.tar" --layer "$T/l2.tar")
M=$T/mnt
U=$T/upper
mkdir "$U"
smount "$M" --upper "$U" "${LAYERS[@]}"
ino_before=$(inodes "$M")
assert_eq 'a fresh upper stays empty after mount (but the scratch dir)' '' "$(changeset "$U")"

# Deleting lower names leaves .wh.NAME; an upper-only file leaves nothing.
try 'rm of lower files' rm "$M/d/del" "$M/rootdel"
try 'create an upper-only file' put "$M/d/newfile" new
try 'rm of an upper-only file' rm "$M/d/newfile"
assert_false 'deleted lower file is gone' stat "$M/d/del"
assert_stat 'whiteout of a lower file in a subdir' '%F|%s' "$U/d/.wh.del" 'regular empty file|0'
assert_stat 'whiteout of a lower file at the root' '%F|%s' "$U/.wh.rootdel" 'regular empty file|0'
assert_false 'no trace of an upper-only file after unlink' stat "$U/d/newfile"
assert_false 'no whiteout for an upper-only file' stat "$U/d/.wh.newfile"
assert_stat 'copied-up parent d keeps mode and owner' '%F|%a|%u|%g' "$U/d" 'directory|751|5|6'
assert_eq 'copied-up parent d keeps its xattrs' 'user.dir=0x6476' "$(xattrs "$U/d")"

# rm -r of a lower dir, then mkdir: an opaque directory.
try 'rm -r of a lower dir' rm -r "$M/gone"
assert_stat 'rm -r of a lower dir: whiteout' '%F|%s' "$U/.wh.gone" 'regular empty file|0'
try 'mkdir over a removed lower dir' mkdir "$M/gone"
assert_eq 'gone made again is empty' '' "$(ls -A "$M/gone")"
assert_false 'gone made again: no whiteout of it left' stat "$U/.wh.gone"
assert_eq 'gone made again holds exactly the opaque marker' \
	'f ./.wh..wh..opq 0' "$(changeset "$U/gone")"
try 'a file in the opaque dir' put "$M/gone/new" inside
assert_eq 'gone: the new file only' new "$(ls -A "$M/gone")"

# A file written through the mount is whole in the upper, with its lower
# mode, owner and xattrs.
try 'append to a lower file' add "$M/d/low" more
assert_content 'written lower file: content through the mount' "$M/d/low" 'low\nmore\n'
assert_content 'written lower file: whole in the upper' "$U/d/low" 'low\nmore\n'
assert_stat 'written lower file in the upper: mode, owner' '%F|%a|%u|%g' "$U/d/low" 'regular file|640|7|8'
assert_eq 'written lower file in the upper: xattrs' "$(printf '%s\n' user.a=0x31 user.b=0x32)" "$(xattrs "$U/d/low")"
assert_eq 'no user.strata.* xattr shows through the mount' "$(printf '%s\n' user.a=0x31 user.b=0x32)" \
	"$(getfattr -h -d -m - -e hex --absolute-names "$M/d/low" | grep -v '^# file:' | grep . | sort)"

# A metadata-only change (chmod, chown, setxattr) keeps the data and mtime;
# without --metacopy (metacopy.sh) the upper file is whole, so the upper
# stays a changeset on its own.
try 'chmod of a lower file' chmod 0640 "$M/d/keep"
assert_content 'chmod of a lower file: whole in the upper' "$U/d/keep" 'keep\n'
assert_eq 'chmod of a lower file: not marked metacopy' 0 "$(metacopy_mark "$U/d/keep")"
assert_stat 'chmod of a lower file: upper mode, owner, mtime' '%a|%u|%g|%.9Y' "$U/d/keep" '640|9|10|1600000001.125000000'
assert_eq 'chmod of a lower file: upper xattrs' 'user.k=0x6b76' "$(xattrs "$U/d/keep")"
assert_stat 'chmod of a lower file: through the mount' '%a|%u|%g|%.9Y' "$M/d/keep" '640|9|10|1600000001.125000000'
try 'chown of a lower file' chown 21:22 "$M/d/own"
assert_stat 'chown of a lower file: upper' '%a|%u|%g|%.9Y|%s' "$U/d/own" '644|21|22|1600000002.000000000|4'
try 'setxattr on a lower file' setfattr -n user.new -v nv "$M/d/sub/x"
assert_eq 'setxattr on a lower file: upper xattrs' 'user.new=0x6e76' "$(xattrs "$U/d/sub/x")"
assert_content 'setxattr on a lower file: data' "$U/d/sub/x" 'x'
ino_sym=$(stat -c %i "$M/sym" 2>&1 || true)
try 'utimens of a lower symlink' touch -h -d @1234567890.5 "$M/sym"
assert_stat 'utimens of a lower symlink: st_ino stays' '%i' "$M/sym" "$ino_sym"
assert_eq 'utimens of a lower symlink: copied up as a symlink' 'd/low' "$(readlink "$U/sym")"
assert_stat 'utimens of a lower symlink: upper mtime' '%.1Y' "$U/sym" '1234567890.5'

# A new file deep in lower dirs: its parents are copied up with their
# times (checked in the upper after umount, when nothing changes them).
try 'a new file deep in lower dirs' put "$M/t1/t2/t3/f" f

# A name deleted and made again: the whiteout goes.
try 'rm of a lower file' rm "$M/recreate"
assert_stat 'recreate: whiteout while deleted' '%F' "$U/.wh.recreate" 'regular empty file'
try 'create it again' put "$M/recreate" new
assert_false 'recreate: the whiteout is gone' stat "$U/.wh.recreate"
assert_content 'recreate: the new file in the upper' "$U/recreate" 'new\n'
assert_content 'recreate: through the mount' "$M/recreate" 'new\n'

# Hard links of a lower layer: one write, all names, one inode.
ino_hl=$(stat -c %i "$M/hl1" 2>&1 || true)
try 'append through a lower hard link' add "$M/hl2" x
for p in hl1 hl2 d/hl3; do
	assert_content "lower hard link $p after a write through hl2" "$M/$p" 'hl\nx\n'
	assert_stat "lower hard link $p: inode, links" '%i|%h' "$M/$p" "$ino_hl|3"
done
# Those of its names that are in the upper are one inode there.
assert_eq 'lower hard links: their upper names are hard links of each other' 1 \
	"$(cd "$U" && stat -c %i hl1 hl2 d/hl3 2>/dev/null | sort -u | wc -l | tr -d ' ')"

# A lower directory renamed: children visible under the new name, the old
# name whited out.
try 'rename of a lower dir' mv "$M/renamed" "$M/renamed2"
assert_content 'renamed lower dir: child' "$M/renamed2/c" 'c\n'
assert_content 'renamed lower dir: grandchild' "$M/renamed2/sub/e" 'e\n'
assert_false 'renamed lower dir: old name gone' stat "$M/renamed"
assert_stat 'renamed lower dir: whiteout of the old name' '%F' "$U/.wh.renamed" 'regular empty file'
assert_stat 'renamed lower dir: the new name in the upper' '%F' "$U/renamed2" directory

# st_ino: unchanged by all of the above (but for gone and recreate, which
# are new objects).
ino_after=$(inodes "$M")
assert_same_text 'st_ino of what is still there, after copy-ups (path, before, after)' '' \
	"$(join -1 2 -2 2 <(printf '%s\n' "$ino_before") <(printf '%s\n' "$ino_after") |
		awk '$2 != $3 && $1 != "./gone" && $1 != "./recreate"')"
snap_mnt=$(tree_listing "$M")
sums_mnt=$(content_sums "$M")
ino_mnt=$(inodes "$M")
sumount "$M"
assert_eq 'after a clean umount: no temp file left in the scratch dir' '' \
	"$(find "$U/$SCRATCH" -mindepth 1 ! -type d 2>/dev/null)"
assert_eq 'the upper holds the whiteouts of what was deleted, no other .wh. name' \
	"$(printf '%s\n' ./.wh.renamed ./.wh.rootdel ./d/.wh.del ./gone/.wh..wh..opq)" \
	"$(find "$U" -path "$U/$SCRATCH" -prune -o -name '.wh.*' -printf './%P\n' | sort)"

assert_stat 'copied-up parent t1 in the upper: mode, owner, mtime' '%a|%u|%g|%.1Y' "$U/t1" '755|0|0|1500000000.0'
assert_stat 'copied-up parent t1/t2 in the upper: mode, owner, mtime' '%a|%u|%g|%.1Y' "$U/t1/t2" '700|1|2|1500000001.5'

smount "$M" --upper "$U" "${LAYERS[@]}"
assert_same_text 'remount: the same tree' "$snap_mnt" "$(tree_listing "$M")"
assert_same_text 'remount: the same contents' "$sums_mnt" "$(content_sums "$M")"
assert_same_text 'remount: the same st_ino everywhere' "$ino_mnt" "$(inodes "$M")"
assert_eq 'remount: still no user.strata.* xattr through the mount' '' \
	"$(getfattr -R -h -d -m - --absolute-names "$M" 2>/dev/null | grep '^user\.strata' || true)"
sumount "$M"

# ---- durability: fsync'd data survives kill -9 of the daemon ----
U2=$T/upper2
mkdir "$U2"
smount "$M" --upper "$U2" "${LAYERS[@]}"
posixops_on "$M" 'durable: write + fsync' <<'EOF'
open f durable WRONLY|CREAT
write f @1000000:11
fsync f
close f
open g d/keep WRONLY|APPEND
write g appended\n
fsync g
close g
mkdir newdir 0700
open h newdir/inner WRONLY|CREAT
write h inner\n
fsync h
close h
EOF
assert_eq 'durable: every operation ok' '' "$(printf '%s\n' "$OUT" | grep -v ' => ok' || true)"
pids=$(strata_pids "$M")
assert_eq 'durable: one daemon' 1 "$(wc -w <<<"$pids" | tr -d ' ')"
if [ -n "$pids" ]; then
	# shellcheck disable=SC2086 # one pid per word
	kill -KILL $pids
	if wait_until 10 no_daemon "$M"; then pass; else fail 'kill -9: the daemon is still there'; fi
fi
run "$STRATA" umount "$M"
if [ "$RC" != 0 ] || is_mounted "$M"; then
	log "note: strata umount of the dead daemon's mount: exit $RC ($ERR); using fusermount3 -u -z"
	force_unmount "$M"
fi
assert_true 'kill -9: nothing mounted any more' not_mounted "$M"
smount "$M" --upper "$U2" "${LAYERS[@]}"
pattern 0 1000000 11 >"$T/durable.expected"
assert_same_file 'kill -9: fsync'"'"'d new file' "$T/durable.expected" "$M/durable"
assert_content 'kill -9: fsync'"'"'d copy-up' "$M/d/keep" 'keep\nappended\n'
assert_stat 'kill -9: the copy-up kept the mode' '%a|%u|%g' "$M/d/keep" '604|9|10'
assert_content 'kill -9: fsync'"'"'d file in a new dir' "$M/newdir/inner" 'inner\n'
assert_content 'kill -9: the lower files are still served' "$M/d/low" 'low\n'
try 'kill -9: a new file after the remount' put "$M/after-crash" after
assert_content 'kill -9: writable after the remount' "$M/after-crash" 'after\n'
sumount "$M"
assert_eq 'kill -9, remount, umount: no temp file left in the scratch dir' '' \
	"$(find "$U2/$SCRATCH" -mindepth 1 ! -type d 2>/dev/null)"

# ---- a full upper: ENOSPC, and no partial copy-up under its real name ----

# enospc WHAT UPPER LAYER BIGMIB: UPPER has less room than the BIGMIB MiB
# lower file "big" of LAYER, and than a new 4 MiB file.
enospc() {
	local what=$1 up=$2 layer=$3 size=$(($4 << 20)) out chmod_err chmod_rc
	smount "$M" --upper "$up" --layer "$layer"
	pattern 0 "$size" 1 >"$T/big.expected"
	posixops_on "$M" "$what" <<'EOF'
append big x
stat big
open f new WRONLY|CREAT
write f @4M
close f
EOF
	out=$OUT
	assert_eq "$what: copy-up of big" '1: append big x => ENOSPC' "$(sed -n 1p <<<"$out")"
	assert_eq "$what: the lower file unchanged" \
		"2: stat big => ok type=reg mode=0640 nlink=1 uid=0 gid=0 size=$size" "$(sed -n 2p <<<"$out")"
	assert_eq "$what: writing 4 MiB to a new file" '4: write f @4M => ENOSPC' "$(sed -n 4p <<<"$out")"
	assert_same_file "$what: big still reads as the lower file" "$T/big.expected" "$M/big"
	assert_false "$what: no partial big in the upper" stat "$up/big"
	if [ -e "$M/new" ]; then
		assert_eq "$what: the partial new file: mount and upper agree on its size" \
			"$(stat -c %s "$up/new" 2>&1)" "$(stat -c %s "$M/new" 2>&1)"
	fi
	try "$what: rm of the partial new file" rm -f "$M/new"
	assert_eq "$what: the scratch dir holds no leftover" '' \
		"$(find "$up/$SCRATCH" -mindepth 1 ! -type d 2>/dev/null)"
	# chmod copies up (the data too, in the first version) or keeps
	# metadata only: either it works, or it fails with ENOSPC and changes
	# nothing.
	set +e
	chmod_err=$(chmod 0600 "$M/big" 2>&1)
	chmod_rc=$?
	set -e
	if [ "$chmod_rc" = 0 ]; then
		assert_stat "$what: chmod of big worked" '%a|%s' "$M/big" "600|$size"
	else
		case "$chmod_err" in
		*'No space left on device'*) pass ;;
		*) fail "$what: chmod of big failed, but not with ENOSPC: $chmod_err" ;;
		esac
		assert_stat "$what: chmod of big failed and changed nothing" '%a' "$M/big" 640
	fi
	assert_same_file "$what: big still reads as the lower file after chmod" "$T/big.expected" "$M/big"
	try "$what: a small new file after the failures" put "$M/fits" fits
	assert_content "$what: a small new file after the failures" "$M/fits" 'fits\n'
	try "$what: a small copy-up" add "$M/small" more
	assert_content "$what: a small copy-up" "$M/small" 'small\nmore\n'
	sumount "$M"
	smount "$M" --upper "$up" --layer "$layer"
	assert_same_file "$what: after remount big is still the lower file" "$T/big.expected" "$M/big"
	assert_content "$what: after remount small" "$M/small" 'small\nmore\n'
	sumount "$M"
}

# As asked: a 2 MiB tmpfs as the upper, the layer on another filesystem.
mk "$T/big3.tar" <<'EOF'
file big size=3M seed=1 mode=0640 mtime=1600000000
file small content=small\n
EOF
SMALL=$T/small
mkdir -p "$SMALL"
MOUNTS+=("$SMALL")
mount -t tmpfs -o size=2m tmpfs "$SMALL" || die 'cannot mount a tmpfs for the full-upper test'
mkdir "$SMALL/up"
enospc 'ENOSPC (2 MiB tmpfs upper)' "$SMALL/up" "$T/big3.tar" 3
umount "$SMALL" || true
# The layer on the same (8 MiB tmpfs) filesystem as the upper, which has
# about 3 MiB left: a 5 MiB copy-up does not fit.
mount -t tmpfs -o size=8m tmpfs "$SMALL" || die 'cannot mount a tmpfs for the full-upper test'
mkdir "$SMALL/up"
mk "$SMALL/big5.tar" <<'EOF'
file big size=5M seed=1 mode=0640 mtime=1600000000
file small content=small\n
EOF
enospc 'ENOSPC (upper and layer on one 8 MiB tmpfs)' "$SMALL/up" "$SMALL/big5.tar" 5
umount "$SMALL" || true

# ---- bad upper directories: one clear line, exit 1 ----
echo notadir >"$T/upper-file"
run "$STRATA" mount --cache-dir "$CACHE" --upper "$T/upper-file" "${LAYERS[@]}" "$M"
assert_one_error_line 'upper is a regular file' 1
assert_true 'upper is a regular file: nothing mounted' not_mounted "$M"
run "$STRATA" mount --cache-dir "$CACHE" --upper "$T/upper-missing" "${LAYERS[@]}" "$M"
assert_one_error_line 'upper does not exist' 1
assert_true 'upper does not exist: nothing mounted' not_mounted "$M"

# As a user (65534) who cannot write the upper dir.
fuse_mode=$(stat -c %a /dev/fuse)
[ "$fuse_mode" = 666 ] || chmod 0666 /dev/fuse
NR=$T/nr
mkdir -p "$NR/cache" "$NR/mnt" "$NR/up-mine" "$NR/up-root"
chmod 0755 "$T" "$NR" "$NR/up-root"
cp "$T/l1.tar" "$NR/l1.tar"
chmod 0644 "$NR/l1.tar"
chown 65534:65534 "$NR/cache" "$NR/mnt" "$NR/up-mine"
AS_NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/nonexistent)
MOUNTS+=("$NR/mnt")
# First the same as that user with an upper it owns: it must work, or the
# next check proves nothing.
run "${AS_NOBODY[@]}" "$STRATA" mount --cache-dir "$NR/cache" --upper "$NR/up-mine" --layer "$NR/l1.tar" "$NR/mnt"
if [ "$RC" = 0 ] && is_mounted "$NR/mnt"; then
	pass
	run "${AS_NOBODY[@]}" sh -c 'echo mine >"$1/mine" && cat "$1/mine"' _ "$NR/mnt"
	assert_eq 'as a user: writes into its own upper' mine "$(cat "$T/out")"
	assert_stat 'as a user: the new file in the upper' '%u' "$NR/up-mine/mine" 65534
	run "${AS_NOBODY[@]}" "$STRATA" umount "$NR/mnt"
	[ "$RC" = 0 ] || fail "as a user: strata umount: exit $RC: $ERR"
	force_unmount "$NR/mnt"
	run "${AS_NOBODY[@]}" "$STRATA" mount --cache-dir "$NR/cache" --upper "$NR/up-root" --layer "$NR/l1.tar" "$NR/mnt"
	assert_one_error_line 'as a user: an upper dir it cannot write' 1
	case "$ERR" in
	*"$NR/up-root"*) pass ;;
	*) fail "as a user: the error does not name the upper dir: $ERR" ;;
	esac
	assert_true 'as a user: an upper dir it cannot write: nothing mounted' not_mounted "$NR/mnt"
	force_unmount "$NR/mnt"
else
	fail "as a user (65534) with its own upper dir: mount failed: exit $RC: $ERR"
	force_unmount "$NR/mnt"
fi
[ "$fuse_mode" = 666 ] || chmod "$fuse_mode" /dev/fuse

# ---- implied directories: copy-up keeps the attributes they showed ----
# A layer that has entries below p/ and o/ but no entry of their own only
# implies them: they show the attributes of the layer below that describes
# them, even under an opaque marker (which hides o's content, not o), and
# copy-up must keep those, not the implied 0755 0:0.
mk "$T/im1.tar" <<'EOF'
dir p mode=0710 uid=3 gid=4 mtime=1500000000
file p/a content=a
dir o mode=0750 uid=5 gid=6 mtime=1500000001
file o/old content=old
EOF
mk "$T/im2.tar" <<'EOF'
file p/q/b content=b
opaque o
file o/new content=new
EOF
IM=$T/mnt-implied
IU=$T/upper-implied
mkdir "$IU"
smount "$IM" --upper "$IU" --layer "$T/im1.tar" --layer "$T/im2.tar"
assert_stat 'implied dir: attributes of the layer that describes it' '%a|%u|%g|%Y' "$IM/p" '710|3|4|1500000000'
assert_stat 'implied opaque dir: attributes from below the marker' '%a|%u|%g|%Y' "$IM/o" '750|5|6|1500000001'
assert_eq "implied opaque dir: only its own layer's content" new "$(ls -A "$IM/o")"
try 'a file in an implied dir' put "$IM/p/n" n
try 'a file in an implied opaque dir' put "$IM/o/n" n
assert_stat 'implied dir after copy-up: the same attributes' '%a|%u|%g' "$IM/p" '710|3|4'
assert_stat 'implied dir copied up: the same attributes' '%a|%u|%g' "$IU/p" '710|3|4'
assert_stat 'implied opaque dir after copy-up: the same attributes' '%a|%u|%g' "$IM/o" '750|5|6'
assert_eq 'implied opaque dir after copy-up: still opaque' "$(printf '%s\n' n new)" "$(ls -A "$IM/o")"
sumount "$IM"

# ---- O_DIRECT, and O_RDONLY|O_TRUNC ----
# O_DIRECT through the mount: any size and offset (direct_io; the backing
# file is opened without it), new files and copied-up lower ones, read
# back with O_DIRECT too.  open(O_RDONLY|O_TRUNC) truncates, as Linux does
# for a caller who may write.
mk "$T/dio.tar" <<'EOF'
file lowdio size=20000
file lowtrunc content=lower\n
EOF
DM=$T/mnt-dio
DU=$T/upper-dio
mkdir "$DU"
smount "$DM" --upper "$DU" --layer "$T/dio.tar"
head -c 16384 /dev/urandom >"$T/dio.ref"
try 'dd oflag=direct, aligned, to a new file' \
	dd if="$T/dio.ref" of="$DM/new" bs=4096 count=4 oflag=direct status=none
assert_same_file 'O_DIRECT write of a new file: its data' "$T/dio.ref" "$DM/new"
try 'dd oflag=direct, 1000-byte blocks (unaligned sizes and offsets)' \
	dd if="$T/dio.ref" of="$DM/odd" bs=1000 count=16 oflag=direct status=none
assert_eq 'unaligned O_DIRECT write: its size' 16000 "$(stat -c %s "$DM/odd")"
try 'unaligned O_DIRECT write: its data' cmp -n 16000 "$T/dio.ref" "$DM/odd"
try 'dd oflag=direct into a lower file at an odd offset (copy-up)' \
	dd if="$T/dio.ref" of="$DM/lowdio" bs=999 count=3 seek=7 oflag=direct conv=notrunc status=none
assert_eq 'O_DIRECT write into a lower file: its size' 20000 "$(stat -c %s "$DM/lowdio")"
try 'dd iflag=direct of a copied-up file' \
	dd if="$DM/lowdio" of="$T/dio.back" bs=999 count=3 skip=7 iflag=direct status=none
try 'O_DIRECT read of a copied-up file: its data' cmp -n 2997 "$T/dio.ref" "$T/dio.back"
assert_same_file 'the upper holds what O_DIRECT wrote' "$DM/new" "$DU/new"
try 'open(O_RDONLY|O_TRUNC) of a lower file' \
	python3 -c 'import os, sys; os.close(os.open(sys.argv[1], os.O_RDONLY | os.O_TRUNC))' "$DM/lowtrunc"
assert_eq 'O_RDONLY|O_TRUNC: the file is empty' 0 "$(stat -c %s "$DM/lowtrunc")"
assert_eq 'O_RDONLY|O_TRUNC: empty in the upper too' 0 "$(stat -c %s "$DU/lowtrunc")"
sumount "$DM"

# ---- real programs ----

# tar -x of /usr/share/doc over a lower layer that already has part of it
# (other contents, other modes), compared with the same on a plain dir.
DOC=$T/doc.tar
tar -C /usr/share -cf "$DOC" doc
{
	echo 'dir usr mode=0755'
	echo 'dir usr/share mode=0755'
	echo 'dir usr/share/doc mode=0700 uid=1 gid=1'
	tar -tf "$DOC" | awk '!/\/$/ && n < 40 { print; n++ }' | while IFS= read -r p; do
		case "$p" in *' '* | *\\*) continue ;; esac
		d=$(dirname "$p")
		[ "$d" = doc ] || printf 'dir usr/share/%s mode=0750\n' "$d"
		printf 'file usr/share/%s content=lower-version mode=0600 uid=2\n' "$p"
	done
} | mk "$T/docbase.tar"
mkdir "$T/docref"
tar -C "$T/docref" --numeric-owner --warning=no-unknown-keyword -xpf "$T/docbase.tar"
tar -C "$T/docref/usr/share" -xpf "$DOC"
U3=$T/upper3
mkdir "$U3"
smount "$M" --upper "$U3" --layer "$T/docbase.tar"
if tar -C "$M/usr/share" -xpf "$DOC" 2>"$T/tar.err"; then pass; else
	fail "tar -x of /usr/share/doc into the mount: $(head -5 "$T/tar.err")"
fi
ref_list=$(tree_listing "$T/docref")
ref_sums=$(content_sums "$T/docref")
assert_same_text 'tar -x into the mount: tree (- plain dir, + strata)' "$ref_list" "$(tree_listing "$M")"
assert_same_text 'tar -x into the mount: contents' "$ref_sums" "$(content_sums "$M")"
sumount "$M"
smount "$M" --upper "$U3" --layer "$T/docbase.tar"
assert_same_text 'tar -x into the mount, after remount: tree' "$ref_list" "$(tree_listing "$M")"
assert_same_text 'tar -x into the mount, after remount: contents' "$ref_sums" "$(content_sums "$M")"
sumount "$M"

# git and gcc in a lower project directory.
mk "$T/proj.tar" <<'EOF'
dir proj mode=0755
file proj/README content=a\sproject\n
file proj/lib.h content=int\stwice(int);\n
dir proj/src
file proj/src/lib.c content=int\stwice(int\sx)\s{\sreturn\s2\s*\sx;\s}\n
file proj/run.sh content=#!/bin/sh\necho\slower-script\n mode=0755
EOF
U4=$T/upper4
mkdir "$U4"
smount "$M" --upper "$U4" --layer "$T/proj.tar"
export GIT_CONFIG_NOSYSTEM=1 HOME=$T/home GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org \
	GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.org
mkdir -p "$HOME"
assert_eq 'a lower script runs' lower-script "$("$M/proj/run.sh" 2>&1)"
if command -v git >/dev/null; then
	failed_before_git=$FAILED
	git_in() { git -C "$M/proj" "$@" >>"$T/git.log" 2>&1; }
	assert_true 'git init in the mount' git_in init -q
	assert_true 'git add' git_in add -A
	assert_true 'git commit' git_in commit -q -m first
	try 'change a lower file of the repo' add "$M/proj/README" more
	assert_true 'git commit -a after changing a lower file' git_in commit -q -a -m second
	assert_true 'git fsck --full' git_in fsck --full --strict
	assert_eq 'git log: two commits' 2 "$(git -C "$M/proj" rev-list --count HEAD 2>&1)"
	assert_eq 'git status: clean' '' "$(git -C "$M/proj" status --porcelain 2>&1)"
	head_before=$(git -C "$M/proj" rev-parse HEAD 2>&1 || true)
	[ "$FAILED" = "$failed_before_git" ] || { log 'git output:'; cat "$T/git.log"; }
else
	log 'note: git is not installed; skipping the git part'
fi
if command -v gcc >/dev/null; then
	if cat >"$M/proj/src/main.c" <<'EOF'; then pass; else fail 'writing main.c into the mount'; fi
#include <stdio.h>
#include "../lib.h"
int main(void) { printf("hello, world %d\n", twice(21)); return 0; }
EOF
	if (cd "$M/proj/src" && gcc -save-temps -O2 -o hello main.c lib.c) >"$T/gcc.log" 2>&1; then pass; else
		fail "gcc in the mount: $(head -20 "$T/gcc.log")"
	fi
	assert_eq 'the program built in the mount runs' 'hello, world 42' "$("$M/proj/src/hello" 2>&1)"
	for f in hello-main.i hello-main.s hello-main.o hello-lib.o; do
		assert_true "gcc -save-temps left $f" test -s "$M/proj/src/$f"
	done
else
	log 'note: gcc is not installed; skipping the gcc part'
fi
if command -v sqlite3 >/dev/null; then
	# A database with a journal: writes, renames and unlinks in one dir.
	if sqlite3 "$M/proj/t.db" 'create table t(x); begin; insert into t values(1),(2),(3);
		commit; begin; delete from t where x = 2; rollback;' >"$T/sq.log" 2>&1; then pass; else
		fail "sqlite3 in the mount: $(head -5 "$T/sq.log")"
	fi
	assert_eq 'sqlite3: integrity check' ok "$(sqlite3 "$M/proj/t.db" 'pragma integrity_check;' 2>&1)"
	assert_eq 'sqlite3: rows after a rollback' 3 "$(sqlite3 "$M/proj/t.db" 'select count(*) from t;' 2>&1)"
else
	log 'note: sqlite3 is not installed; skipping the sqlite3 part'
fi
sumount "$M"
smount "$M" --upper "$U4" --layer "$T/proj.tar"
if command -v git >/dev/null; then
	assert_true 'after remount: git fsck --full' git_in fsck --full --strict
	assert_eq 'after remount: same HEAD' "$head_before" "$(git -C "$M/proj" rev-parse HEAD 2>&1)"
	assert_eq 'after remount: git status clean (but what gcc made)' '' \
		"$(git -C "$M/proj" status --porcelain --untracked-files=no 2>&1)"
fi
if command -v gcc >/dev/null; then
	assert_eq 'after remount: the program still runs' 'hello, world 42' "$("$M/proj/src/hello" 2>&1)"
fi
if command -v sqlite3 >/dev/null; then
	assert_eq 'after remount: sqlite3 integrity check' ok \
		"$(sqlite3 "$M/proj/t.db" 'pragma integrity_check;' 2>&1)"
fi
sumount "$M"


# ---- lseek SEEK_DATA/SEEK_HOLE and copy_file_range through the mount ----

# The same posixops script runs on strata and on a plain directory where
# GNU tar extracted the same layer (sparse files stay sparse there, and it
# is on the upper's file system, so upper files get the same extents).
# Where POSIX leaves the answer open (SEEK_DATA in a hole of a lower file,
# SEEK_HOLE in its middle: "the whole file is data" is allowed), strata is
# checked alone: what it calls a hole must read as zeros (seekmap's
# verdict) and the offsets must be one of the two allowed answers.
K=1024
MB=$((1024 * K))
HOLES=$((32 * MB))
SRCSZ=$((MB + 123))
mk "$T/seek.tar" <<EOF
dir s
sparse s/holes size=$HOLES data=$MB:8K,$((20 * MB)):4K,$((HOLES - 4 * K)):4K seed=3 mtime=1600000000
sparse s/tailhole size=8M data=0:64K seed=4 mtime=1600000000
sparse s/cow size=16M data=4M:4K,12M:8K seed=6 mtime=1600000000
file s/dense size=3M seed=5 mtime=1600000000
file s/empty content=
file s/src size=$SRCSZ seed=9 mtime=1600000000
file s/self size=64K seed=2 mtime=1600000000
file s/tgt content=target-lower-file\n mtime=1600000000
EOF
seek_tar_sum=$(sha256sum <"$T/seek.tar")
SREF=$T/seekref
mkdir "$SREF"
tar -C "$SREF" --numeric-owner -xpf "$T/seek.tar" || die 'GNU tar cannot extract seek.tar'
ref_kb=$(du -sk "$SREF" | cut -f1)
[ "$ref_kb" -lt $((8 * 1024)) ] || die "the reference of seek.tar is not sparse (${ref_kb} KiB)"
U5=$T/upper5
mkdir "$U5"
smount "$M" --upper "$U5" --layer "$T/seek.tar"

# seek_both NAME: the script on stdin runs on the reference and on strata;
# both outputs must be the same, line by line.  Leaves strata's in $OUT.
seek_both() {
	local name=$1 ref
	cat >"$T/$name.ops"
	timeout -k 5 120 "$POSIXOPS" "$SREF" "$T/$name.ops" >"$T/$name.ref" 2>&1 ||
		die "$name: posixops on the plain directory failed: $(tail -c 300 "$T/$name.ref")"
	posixops_on "$M" "$name" <"$T/$name.ops"
	ref=$(cat "$T/$name.ref")
	assert_same_text "$name: strata (+) vs a plain directory (-)" "$ref" "$OUT"
	# The script must have done something (an empty diff proves nothing
	# when every call fails on both sides the same way by mistake).
	assert_true "$name: the plain directory answers ok to most calls" \
		test "$(grep -c ' => ok' <<<"$ref")" -gt "$(grep -c ' => E' <<<"$ref")"
}

# Lower files, where the answers are defined: a file without holes is all
# data; in a data region SEEK_DATA stays where it is; SEEK_HOLE in the last
# data region is the end of file (the implicit hole); at or past the end,
# and before the start, both are ENXIO.
seek_both 'lseek of lower files' <<EOF
open d s/dense RDONLY
lseek d 0 DATA
lseek d 0 HOLE
lseek d 1000 DATA
lseek d 1000 HOLE
lseek d $((3 * MB - 1)) HOLE
lseek d $((3 * MB)) DATA
lseek d $((3 * MB)) HOLE
lseek d $((4 * MB)) DATA
lseek d -1 DATA
lseek d -1 HOLE
lseek d 0 CUR
seekmap d
close d
open e s/empty RDONLY
lseek e 0 DATA
lseek e 0 HOLE
seekmap e
close e
open h s/holes RDONLY
lseek h $((MB + 100)) DATA
lseek h $((20 * MB)) DATA
lseek h $((HOLES - 4 * K)) HOLE
lseek h $((HOLES - 1)) DATA
lseek h $((HOLES - 1)) HOLE
lseek h $HOLES DATA
lseek h $HOLES HOLE
lseek h $((40 * MB)) DATA
close h
EOF
# res OP: the result (after "=> ") of the first line of $OUT running OP.
res() {
	awk -v op="$1" '{ i = index($0, ": " op " => ") } i { print substr($0, i + length(op) + 6); exit }' <<<"$OUT"
}
assert_eq 'lseek of lower files: SEEK_HOLE on a file without holes is its size' \
	"ok $((3 * MB))" "$(res 'lseek d 0 HOLE')"
assert_eq 'lseek of lower files: SEEK_HOLE in the last data region is the end of file' \
	"ok $HOLES" "$(res "lseek h $((HOLES - 4 * K)) HOLE")"
assert_eq 'lseek of lower files: SEEK_DATA at the end of file' ENXIO "$(res "lseek h $HOLES DATA")"

# Lower sparse files, where either answer is allowed: strata alone.
posixops_on "$M" 'lseek in the holes of lower files' <<EOF
open h s/holes RDONLY
seekmap h
lseek h 0 DATA
lseek h $((2 * MB)) DATA
lseek h $MB HOLE
lseek h $((20 * MB + 4 * K)) DATA
close h
open t s/tailhole RDONLY
seekmap t
lseek t 100 HOLE
lseek t $((64 * K)) DATA
close t
EOF
ref_map_h=$(printf 'open h s/holes RDONLY\nseekmap h\n' | "$POSIXOPS" "$SREF" | sed -n 's/^2: seekmap h => //p')
ref_map_t=$(printf 'open t s/tailhole RDONLY\nseekmap t\n' | "$POSIXOPS" "$SREF" | sed -n 's/^2: seekmap t => //p')
assert_eq 'the plain directory sees the holes of s/holes' \
	"ok size=$HOLES data=$MB+8192,$((20 * MB))+4096,$((HOLES - 4 * K))+4096 holes=zero" "$ref_map_h"
# one_of WHAT GOT ALLOWED...: GOT is one of the allowed answers.
one_of() {
	local what=$1 got=$2 a
	shift 2
	for a in "$@"; do
		[ "$got" != "$a" ] || {
			pass
			return 0
		}
	done
	fail "$what: got '$got', expected one of: $*"
}
one_of 'lower sparse file: seekmap (all data, or the real holes)' "$(res 'seekmap h')" \
	"ok size=$HOLES data=0+$HOLES holes=zero" "$ref_map_h"
one_of 'lower sparse file: SEEK_DATA at 0 (a hole)' "$(res 'lseek h 0 DATA')" 'ok 0' "ok $MB"
one_of 'lower sparse file: SEEK_DATA in a hole' "$(res "lseek h $((2 * MB)) DATA")" \
	"ok $((2 * MB))" "ok $((20 * MB))"
one_of 'lower sparse file: SEEK_HOLE in a data region' "$(res "lseek h $MB HOLE")" \
	"ok $HOLES" "ok $((MB + 8 * K))"
one_of 'lower sparse file: SEEK_DATA in the hole before the last region' \
	"$(res "lseek h $((20 * MB + 4 * K)) DATA")" "ok $((20 * MB + 4 * K))" "ok $((HOLES - 4 * K))"
one_of 'lower file with a trailing hole: seekmap' "$(res 'seekmap t')" \
	"ok size=$((8 * MB)) data=0+$((8 * MB)) holes=zero" "$ref_map_t"
one_of 'lower file with a trailing hole: SEEK_HOLE in its data' "$(res 'lseek t 100 HOLE')" \
	"ok $((8 * MB))" "ok $((64 * K))"
one_of 'lower file with a trailing hole: SEEK_DATA in the trailing hole' \
	"$(res "lseek t $((64 * K)) DATA")" "ok $((64 * K))" ENXIO
case "$(res 'seekmap h')" in
*"data=0+$HOLES "*) log 'note: strata shows lower files as all data to SEEK_DATA/SEEK_HOLE (allowed)' ;;
esac

# Sparse files in the upper: made by writes past the end, ftruncate,
# punched holes, fallocate; and a lower sparse file copied up by chmod
# (copy-up keeps holes).  Upper files get real SEEK_DATA/SEEK_HOLE, the
# same as the plain directory on the same file system.
seek_both 'lseek of sparse upper files' <<EOF
open sp new-sparse RDWR|CREAT
pwrite sp $MB @4096:1
pwrite sp $((5 * MB)) @8192:2
ftruncate sp $((12 * MB))
fstat sp
lseek sp 0 DATA
lseek sp 0 HOLE
lseek sp $MB HOLE
lseek sp $((MB + 4 * K)) DATA
lseek sp $((5 * MB + 100)) DATA
lseek sp $((5 * MB + 8 * K)) HOLE
lseek sp $((6 * MB)) DATA
lseek sp $((11 * MB)) HOLE
lseek sp $((12 * MB)) HOLE
lseek sp $((12 * MB)) DATA
seekmap sp
fallocate sp KEEP_SIZE|PUNCH_HOLE $((5 * MB)) 4096
seekmap sp
lseek sp $((5 * MB)) DATA
fallocate sp 0 $((8 * MB)) $((64 * K))
seekmap sp
pwrite sp 0 head
seekmap sp
ftruncate sp $((20 * MB))
seekmap sp
close sp
open r new-sparse RDONLY
seekmap r
pread r $((5 * MB)) 16
pread r $((5 * MB + 4 * K)) 16
close r
chmod s/cow 0600
open c s/cow RDONLY
seekmap c
lseek c 0 DATA
lseek c $((4 * MB)) HOLE
lseek c $((4 * MB + 4 * K)) DATA
close c
open w s/tailhole RDWR
pwrite w $((7 * MB)) tail-data
seekmap w
lseek w $((64 * K)) DATA
lseek w $((7 * MB)) HOLE
close w
EOF
assert_stat 's/cow copied up by chmod: still sparse in the upper (st_blocks*512 <= 64 KiB)' \
	'%F|%s|%a' "$U5/s/cow" "regular file|$((16 * MB))|600"
cow_blocks=$(($(stat -c '%b*%B' "$U5/s/cow")))
if [ "$cow_blocks" -le $((64 * K)) ]; then pass; else
	fail "s/cow copied up: st_blocks*512 = $cow_blocks, the copy-up filled its holes"
fi
sp_blocks=$(($(stat -c '%b*%B' "$U5/new-sparse")))
if [ "$sp_blocks" -le $((256 * K)) ]; then pass; else
	fail "new-sparse in the upper: st_blocks*512 = $sp_blocks for 16 KiB of data"
fi

# copy_file_range: lower to upper, upper to upper, into a lower file (its
# open for writing copies it up), with offsets and with the file offsets,
# short copies at the end of the source, overlapping ranges in one file,
# and the errors the kernel defines (EBADF, EISDIR, EINVAL).
seek_both 'copy_file_range' <<EOF
open src s/src RDONLY
open o new1 RDWR|CREAT
copy_file_range src 0 o 0 $SRCSZ
copy_file_range src 1000 o $((2 * MB)) 5000
copy_file_range src $((SRCSZ - 10)) o 0 100
copy_file_range src $SRCSZ o 0 100
copy_file_range src $((2 * MB)) o 0 100
copy_file_range src 0 o 0 0
fstat o
seekmap o
close o
cat new1
lseek src 4096 SET
open o2 new2 WRONLY|CREAT
copy_file_range src - o2 - 10000
lseek src 0 CUR
lseek o2 0 CUR
copy_file_range src - o2 500 300
lseek src 0 CUR
lseek o2 0 CUR
copy_file_range src 7 o2 - 11
lseek src 0 CUR
lseek o2 0 CUR
close o2
cat new2
open t s/tgt WRONLY
copy_file_range src 100 t 5 300
close t
cat s/tgt
stat s/tgt
open h s/holes RDONLY
open o3 new3 WRONLY|CREAT
copy_file_range h $((MB - 4 * K)) o3 0 $((16 * K))
copy_file_range h $((HOLES - 100)) o3 $((16 * K)) 1000
close o3
cat new3
open a new1 RDONLY
open b new4 WRONLY|CREAT
copy_file_range a $((SRCSZ - 100)) b 7 200000
copy_file_range a 0 b $MB $((3 * MB))
fstat b
close b
cat new4
open r new1 RDWR
copy_file_range r 0 r 100 1000
copy_file_range r 100 r 0 1000
copy_file_range r 0 r $((3 * MB)) 1000
fstat r
close r
cat new1
open in s/self RDONLY
open out s/self WRONLY
copy_file_range in 0 out 10 100
copy_file_range in 0 out $((64 * K)) 1000
close out
pread in $((64 * K)) 16
fstat in
close in
cat s/self
open wo new2 WRONLY
open ap new2 WRONLY|APPEND
open ro s/dense RDONLY
open dir s DIRECTORY
copy_file_range wo 0 a 0 10
copy_file_range src 0 ap 0 10
copy_file_range src 0 ro 0 10
copy_file_range dir 0 wo 0 10
copy_file_range src -1 wo 0 10
copy_file_range src 0 wo -1 10
close wo
close ap
close ro
close dir
close a
close src
cat s/src
EOF
# Then the files, byte for byte, and the lower sources untouched.
for f in new1 new2 new3 new4 s/tgt s/self new-sparse s/cow s/tailhole; do
	assert_same_file "after lseek and copy_file_range: $f (plain dir vs strata)" "$SREF/$f" "$M/$f"
done
for f in s/src s/holes s/dense; do
	assert_false "a copy_file_range source ($f) is not copied up" stat "$U5/$f"
	assert_same_file "a copy_file_range source ($f) reads as in the layer" "$SREF/$f" "$M/$f"
done
assert_eq 'the layer tar is unchanged' "$seek_tar_sum" "$(sha256sum <"$T/seek.tar")"
map_script='open f new-sparse RDONLY
seekmap f
open g s/cow RDONLY
seekmap g'
ref_maps=$("$POSIXOPS" "$SREF" <<<"$map_script")
sumount "$M"
smount "$M" --upper "$U5" --layer "$T/seek.tar"
posixops_on "$M" 'seekmap after remount' <<<"$map_script"
assert_same_text 'after remount: SEEK_DATA/SEEK_HOLE of upper files (plain dir -, strata +)' "$ref_maps" "$OUT"
for f in new1 new3 new4 s/tgt s/self new-sparse s/cow; do
	assert_same_file "after remount: $f" "$SREF/$f" "$M/$f"
done
sumount "$M"

finish
