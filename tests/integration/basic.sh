#!/bin/bash
# basic: one pax layer with every file type; attributes, contents, symlinks,
# statfs, EROFS on every kind of write, ls -la, a 5000-entry directory and
# seekdir/telldir.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
: "${DIRWALK:?DIRWALK must name the dirwalk binary}"

L=$T/basic.tar
{
	cat <<'EOF'
dir etc mode=0755 mtime=1600000000.123456789
file etc/hello content=hello\sworld\n mode=0644 uid=1000 gid=1001 mtime=1600000001.987654321
file etc/empty mode=0600 uid=7 gid=8 mtime=1600000002
file etc/big size=3000000 seed=5 mode=0640 uid=12 gid=34 mtime=1600000003.000000001
file etc/suid content=#!/bin/sh\n mode=04755 mtime=4102444800
file etc/sgid content=x mode=02711
file etc/bigids content=ids uid=3000000 gid=4000000000
symlink etc/link target=hello mtime=1600000004.5
symlink etc/abslink target=/etc/passwd
symlink etc/dangling target=nowhere/at/all
symlink etc/dirlink target=../dev
dir tmp mode=01777 uid=0 gid=0 mtime=1600000005
dir sgiddir mode=02775 uid=5 gid=6
dir emptydir mode=0700
dir dev mode=0755
fifo dev/fifo mode=0620 uid=1 gid=2 mtime=1600000006
char dev/null dev=1:3 mode=0666
block dev/sda dev=8:5 mode=0660 gid=6
dir big mode=0755
EOF
	for i in $(seq -w 0 4999); do
		printf 'file big/f%s content=%s\n' "$i" "$i"
	done
	# Names of other lengths, so readdir records are not all the same size.
	for i in $(seq 1 60); do
		printf 'file big/%s content=v\n' "$(printf 'n%.0s' $(seq 1 "$i"))"
	done
} >"$T/spec"
mk "$L" <"$T/spec"

M=$T/mnt
smount "$M" --layer "$L"

# ---- types and attributes ----
# Type|mode|uid|gid|size|mtime(ns)
check_attrs() {
	assert_stat "$1" '%F|%a|%u|%g|%s|%.9Y' "$M/$1" "$2"
}
check_attrs etc 'directory|755|0|0|'"$(stat -c %s "$M/etc")"'|1600000000.123456789'
check_attrs etc/hello 'regular file|644|1000|1001|12|1600000001.987654321'
check_attrs etc/empty 'regular empty file|600|7|8|0|1600000002.000000000'
check_attrs etc/big 'regular file|640|12|34|3000000|1600000003.000000001'
check_attrs etc/suid 'regular file|4755|0|0|10|4102444800.000000000'
check_attrs etc/sgid 'regular file|2711|0|0|1|1700000000.000000000'
check_attrs etc/bigids 'regular file|644|3000000|4000000000|3|1700000000.000000000'
check_attrs etc/link 'symbolic link|777|0|0|5|1600000004.500000000'
check_attrs etc/abslink 'symbolic link|777|0|0|11|1700000000.000000000'
check_attrs etc/dangling 'symbolic link|777|0|0|14|1700000000.000000000'
check_attrs tmp "directory|1777|0|0|$(stat -c %s "$M/tmp")|1600000005.000000000"
check_attrs sgiddir "directory|2775|5|6|$(stat -c %s "$M/sgiddir")|1700000000.000000000"
check_attrs emptydir "directory|700|0|0|$(stat -c %s "$M/emptydir")|1700000000.000000000"
check_attrs dev/fifo 'fifo|620|1|2|0|1600000006.000000000'
assert_stat 'char device' '%F|%a|%t:%T' "$M/dev/null" 'character special file|666|1:3'
assert_stat 'block device' '%F|%a|%g|%t:%T' "$M/dev/sda" 'block special file|660|6|8:5'
assert_stat 'regular file links' '%h' "$M/etc/hello" 1
assert_stat 'root is a directory' '%F' "$M" directory

# ---- st_blocks: 512-byte units of data actually stored ----
assert_stat 'empty file blocks' '%b' "$M/etc/empty" 0
blocks=$(stat -c '%b*%B' "$M/etc/big")
blocks=$((blocks))
if [ "$blocks" -ge 3000000 ] && [ "$blocks" -le $((3000000 + 8192)) ]; then
	pass
else
	fail "etc/big: st_blocks*512 = $blocks, expected about 3000000"
fi
blocks=$(stat -c '%b' "$M/etc/hello")
if [ "$blocks" -ge 1 ] && [ "$blocks" -le 8 ]; then pass; else fail "etc/hello: st_blocks = $blocks, expected 1..8"; fi

# ---- contents ----
assert_content 'etc/hello' "$M/etc/hello" 'hello world\n'
assert_content 'etc/empty' "$M/etc/empty" ''
assert_content 'etc/suid' "$M/etc/suid" '#!/bin/sh\n'
pattern 0 3000000 5 >"$T/big.expected"
assert_same_file 'etc/big' "$T/big.expected" "$M/etc/big"
# Reads at odd offsets and sizes, and past the end.
for off_len in 0:1 511:2 1234567:10000 2999999:1 2990000:10000 2097152:131072; do
	off=${off_len%:*} len=${off_len#*:}
	dd if="$M/etc/big" iflag=skip_bytes,count_bytes skip="$off" count="$len" bs=65536 \
		status=none >"$T/got" || fail "dd of etc/big at $off failed"
	pattern "$off" "$len" 5 >"$T/exp"
	assert_same_file "etc/big at $off+$len" "$T/exp" "$T/got"
done
got=$(dd if="$M/etc/big" iflag=skip_bytes skip=3000000 bs=4096 status=none | wc -c)
assert_eq 'read at EOF' 0 "$got"
got=$(dd if="$M/etc/big" iflag=skip_bytes skip=5000000 bs=4096 status=none | wc -c)
assert_eq 'read past EOF' 0 "$got"

# ---- symlinks ----
assert_eq 'readlink etc/link' hello "$(readlink "$M/etc/link")"
assert_eq 'readlink etc/abslink' /etc/passwd "$(readlink "$M/etc/abslink")"
assert_eq 'readlink etc/dangling' nowhere/at/all "$(readlink "$M/etc/dangling")"
assert_content 'cat through a symlink' "$M/etc/link" 'hello world\n'
assert_eq 'stat through a dir symlink' 'fifo' "$(stat -L -c %F "$M/etc/dirlink/fifo")"
assert_false 'dangling symlink cannot be read' cat "$M/etc/dangling"

# ---- missing names ----
assert_fails_with 'stat of a missing name' 'No such file or directory' stat "$M/etc/nope"
assert_fails_with 'stat below a file' 'Not a directory' stat "$M/etc/hello/x"

# ---- directory listings ----
assert_same_text 'ls of the root' "$(printf '%s\n' big dev emptydir etc sgiddir tmp)" "$(ls -1 "$M")"
assert_same_text 'ls of etc' "$(printf '%s\n' abslink big bigids dangling dirlink empty hello link sgid suid)" \
	"$(ls -1 "$M/etc")"
assert_eq 'ls of an empty dir' '' "$(ls -A "$M/emptydir")"
if ls -la "$M/etc" >"$T/lsla" 2>"$T/lsla.err"; then
	# total, ., .., 10 entries
	assert_eq 'ls -la etc: lines' 13 "$(wc -l <"$T/lsla")"
	assert_eq 'ls -la etc: stderr' '' "$(cat "$T/lsla.err")"
	assert_true 'ls -la shows the symlink' grep -q ' link -> hello$' "$T/lsla"
else
	fail "ls -la $M/etc failed: $(cat "$T/lsla.err")"
fi
assert_true 'ls -la of the root' ls -la "$M"
assert_true 'ls -laR of dev' ls -laR "$M/dev"

grep '^file big/' "$T/spec" | awk '{ sub("^big/", "", $2); print $2 }' | sort >"$T/big.names"
assert_eq 'big dir: number of entries' 5060 "$(wc -l <"$T/big.names")"
find "$M/big" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort >"$T/big.ls"
assert_same_file 'readdir of a 5060-entry dir' "$T/big.names" "$T/big.ls"
# shellcheck disable=SC2012 # plain names, one per line
assert_eq 'ls of the big dir' 5060 "$(ls "$M/big" | wc -l)"
if "$DIRWALK" "$M/big" >"$T/dirwalk.out" 2>"$T/dirwalk.err"; then
	pass
else
	fail "seekdir/telldir on the big dir: $(head -5 "$T/dirwalk.err")"
fi
sort "$T/dirwalk.out" >"$T/dirwalk.sorted"
assert_same_file 'dirwalk listing' "$T/big.names" "$T/dirwalk.sorted"
"$DIRWALK" "$M/etc" >/dev/null 2>"$T/dirwalk.err" || fail "seekdir/telldir on etc: $(cat "$T/dirwalk.err")"
assert_content 'a file in the big dir' "$M/big/f4321" '4321'

# ---- statfs ----
if stat -f -c '%t %l %b %S' "$M" >"$T/statfs"; then
	read -r ftype namelen fblocks fbsize <"$T/statfs"
	assert_eq 'statfs type (FUSE_SUPER_MAGIC)' 65735546 "$ftype"
	if [ "$namelen" -ge 255 ]; then pass; else fail "statfs namelen $namelen < 255"; fi
	total=$((3000000 + 12 + 10 + 1 + 3 + 4 * 5000 + 60))
	if [ $((fblocks * fbsize)) -ge "$total" ]; then
		pass
	else
		fail "statfs: blocks*bsize = $((fblocks * fbsize)) smaller than the data ($total bytes)"
	fi
else
	fail "stat -f $M failed"
fi

# ---- every write fails with EROFS ----
RO='Read-only file system'
before=$(tree_listing "$M" | grep -v '^. ./big/')
assert_fails_with 'touch an existing file' "$RO" touch "$M/etc/hello"
assert_fails_with 'touch a new file' "$RO" touch "$M/etc/new"
assert_fails_with 'mkdir' "$RO" mkdir "$M/newdir"
assert_fails_with 'mkdir -p below a dir' "$RO" mkdir -p "$M/etc/a/b"
assert_fails_with 'rm a file' "$RO" rm -f "$M/etc/hello"
assert_fails_with 'rm a symlink' "$RO" rm -f "$M/etc/link"
assert_fails_with 'rmdir' "$RO" rmdir "$M/emptydir"
assert_fails_with 'mv' "$RO" mv "$M/etc/hello" "$M/etc/hello2"
assert_fails_with 'echo >' "$RO" bash -c 'echo x >"$1"' _ "$M/etc/hello"
assert_fails_with 'echo >>' "$RO" bash -c 'echo x >>"$1"' _ "$M/etc/hello"
assert_fails_with 'echo > new' "$RO" bash -c 'echo x >"$1"' _ "$M/etc/brandnew"
assert_fails_with 'open read-write' "$RO" bash -c 'exec 3<>"$1"' _ "$M/etc/hello"
assert_fails_with 'truncate' "$RO" truncate -s 0 "$M/etc/hello"
assert_fails_with 'chmod' "$RO" chmod 600 "$M/etc/hello"
assert_fails_with 'chown' "$RO" chown 1:1 "$M/etc/hello"
assert_fails_with 'ln' "$RO" ln "$M/etc/hello" "$M/etc/hardlink"
assert_fails_with 'ln -s' "$RO" ln -s hello "$M/etc/symlink"
assert_fails_with 'mkfifo' "$RO" mkfifo "$M/etc/fifo2"
assert_fails_with 'mknod' "$RO" mknod "$M/etc/null2" c 1 3
assert_fails_with 'setfattr' "$RO" setfattr -n user.x -v y "$M/etc/hello"
assert_fails_with 'cp into the mount' "$RO" cp "$L" "$M/etc/"
assert_fails_with 'touch in a 1777 dir' "$RO" touch "$M/tmp/x"
after=$(tree_listing "$M" | grep -v '^. ./big/')
assert_same_text 'the tree after the failed writes' "$before" "$after"
assert_content 'etc/hello after the failed writes' "$M/etc/hello" 'hello world\n'

sumount "$M"
assert_nothing_mounted_under 'after umount' "$M"

# A "./" entry gives the root of the mount its attributes, as in the tar.
# A name stored twice in one tar: the last one wins (as when extracting).
# A directory entry after its children still sets the directory's attributes.
mk "$T/root.tar" <<'EOF'
dir ./ mode=0750 uid=12 gid=34 mtime=1234567890.5
file ./f content=f
file dup content=first mode=0600
file late/x content=x
dir late mode=0700 mtime=1000
file dup content=second mode=0640
symlink s target=one
symlink s target=two
EOF
smount "$M" --layer "$T/root.tar"
assert_stat 'the root from ./' '%F|%a|%u|%g|%.9Y' "$M" 'directory|750|12|34|1234567890.500000000'
assert_content './f' "$M/f" f
assert_content 'a name stored twice: the last wins' "$M/dup" second
assert_stat 'a name stored twice: its attributes' '%a|%s' "$M/dup" '640|6'
assert_eq 'a symlink stored twice: the last wins' two "$(readlink "$M/s")"
assert_stat 'a dir entry after its children' '%a|%Y' "$M/late" '700|1000'
assert_content 'the child before its dir entry' "$M/late/x" x
assert_same_text 'root listing' "$(printf '%s\n' dup f late s)" "$(ls "$M")"
sumount "$M"
finish
