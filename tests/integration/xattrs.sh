#!/bin/bash
# xattrs: extended attributes from pax headers (SCHILY.xattr.*), user.* and
# security.capability, served through getxattr/listxattr; compared with
# what GNU tar extracts; layers made by GNU tar --xattrs; upper layers
# replace the xattrs of what they replace.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# cap_net_bind_service+ep, VFS_CAP_REVISION_2 (20 bytes).
CAP='\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00'
CAP_HEX=0x0100000200040000000000000000000000000000
long=$(printf '%3000s' '' | tr ' ' v)
many=''
for i in $(seq -w 1 40); do
	many="$many xattr.user.attr$i=value$i"
done

mk "$T/x.tar" <<EOF
file f content=x xattr.user.foo=bar xattr.user.empty= xattr.user.bin=\x00\x01\xff\x0a xattr.user.long=$long
file cap content=#!/bin/true\n mode=0755 xattr.security.capability=$CAP
dir d xattr.user.dirattr=dirval
file d/inside content=i xattr.user.deep=yes
file none content=n
file many content=m$many
EOF

# dump FILE: every xattr as name=0xHEX, sorted.
dump() {
	getfattr --absolute-names -d -m- -e hex "$1" 2>&1 | grep -v '^# file:' | grep . | sort || true
}

M=$T/mnt
smount "$M" --layer "$T/x.tar"
assert_eq 'user.foo' bar "$(getfattr --absolute-names --only-values -n user.foo "$M/f")"
assert_eq 'user.bin (hex)' "# file: $M/f
user.bin=0x0001ff0a" "$(getfattr --absolute-names -e hex -n user.bin "$M/f")"
assert_eq 'user.empty is there, empty' 'user.empty=0x' "$(dump "$M/f" | grep '^user.empty=')"
assert_eq 'user.long' "$long" "$(getfattr --absolute-names --only-values -n user.long "$M/f")"
assert_eq 'xattr names of f' "$(printf '%s\n' user.bin user.empty user.foo user.long)" \
	"$(getfattr --absolute-names -d -m- "$M/f" | sed -n 's/^\([^=#][^=]*\)=.*/\1/p' | sort)"
assert_eq 'security.capability' "security.capability=$CAP_HEX" "$(dump "$M/cap")"
assert_eq 'xattr on a directory' 'user.dirattr=0x64697276616c' "$(dump "$M/d")"
assert_eq 'xattr on a directory (value)' dirval "$(getfattr --absolute-names --only-values -n user.dirattr "$M/d")"
assert_eq 'xattr below a directory' yes "$(getfattr --absolute-names --only-values -n user.deep "$M/d/inside")"
assert_eq 'a file without xattrs lists none' '' "$(getfattr --absolute-names -d -m- "$M/none")"
assert_eq 'many xattrs: count' 40 "$(dump "$M/many" | wc -l | tr -d ' ')"
assert_eq 'many xattrs: one of them' value27 "$(getfattr --absolute-names --only-values -n user.attr27 "$M/many")"
assert_fails_with 'a missing xattr' 'No such attribute' getfattr --absolute-names -n user.missing "$M/f"
assert_fails_with 'a missing xattr on a file without any' 'No such attribute' getfattr --absolute-names -n user.foo "$M/none"
assert_fails_with 'setfattr' 'Read-only file system' setfattr -n user.foo -v new "$M/f"
assert_fails_with 'setfattr -x' 'Read-only file system' setfattr -x user.foo "$M/f"

# Compared with what GNU tar extracts.
mkdir "$T/ref"
tar -C "$T/ref" --xattrs --xattrs-include='*' -xf "$T/x.tar" 2>/dev/null ||
	die 'GNU tar cannot extract x.tar with its xattrs'
for p in f cap d d/inside none many; do
	assert_same_text "xattrs of $p as GNU tar extracts them" "$(dump "$T/ref/$p")" "$(dump "$M/$p")"
done
sumount "$M"

# A layer made by GNU tar --xattrs from files on disk.
src=$T/src
mkdir -p "$src/sub"
printf 'a\n' >"$src/a"
printf 'b\n' >"$src/sub/b"
if setfattr -n user.color -v blue "$src/a" 2>/dev/null; then
	setfattr -n user.n -v 0x00ff "$src/sub/b"
	setfattr -n security.capability -v "$CAP_HEX" "$src/sub/b"
	tar -C "$src" --xattrs --xattrs-include='*' --format=posix -cf "$T/gnutar.tar" .
	smount "$M" --layer "$T/gnutar.tar"
	for p in a sub/b; do
		assert_same_text "GNU tar layer: xattrs of $p" "$(dump "$src/$p")" "$(dump "$M/$p")"
	done
	assert_eq 'GNU tar layer: user.color' blue "$(getfattr --absolute-names --only-values -n user.color "$M/a")"
	sumount "$M"
else
	log "note: $T does not take user.* xattrs; skipping the GNU tar --xattrs layer"
fi

# An upper layer's file replaces the lower file's xattrs; a merged dir
# shows the upper dir's xattrs.
mk "$T/up.tar" <<'EOF'
file f content=up xattr.user.new=1
dir d xattr.user.dirattr=upper
file none content=still\snone
EOF
smount "$M" --layer "$T/x.tar" --layer "$T/up.tar"
assert_eq 'replaced file: only the upper xattrs' 'user.new=0x31' "$(dump "$M/f")"
assert_eq 'merged dir: upper xattr' upper "$(getfattr --absolute-names --only-values -n user.dirattr "$M/d")"
assert_eq 'merged dir: lower file keeps its xattr' yes "$(getfattr --absolute-names --only-values -n user.deep "$M/d/inside")"
assert_eq 'lower file untouched' "security.capability=$CAP_HEX" "$(dump "$M/cap")"
assert_eq 'replacement without xattrs has none' '' "$(dump "$M/none")"
sumount "$M"

# A read-only union where no layer has an xattr answers ENOSYS, so the
# kernel stops asking: callers see "not supported" (EOPNOTSUPP), as on a
# filesystem without xattrs, not a round trip per name per file.  One
# layer with an xattr, or an upper, and they are served again.
mk "$T/plain.tar" <<'EOF'
file a content=a
dir d
file d/b content=b
EOF
smount "$M" --layer "$T/plain.tar"
assert_fails_with 'no xattrs anywhere: getxattr' 'Operation not supported' getfattr --absolute-names -n user.foo "$M/a"
assert_fails_with 'no xattrs anywhere: again' 'Operation not supported' getfattr --absolute-names -n user.foo "$M/d/b"
ls -l "$M" >"$T/ls-l"
assert_eq 'no xattrs anywhere: ls -l works' 2 "$(grep -c '^[-d]' "$T/ls-l")"
assert_eq 'no xattrs anywhere: cp -a copies the files' b "$(cp -a "$M/d" "$T/copied" && cat "$T/copied/b")"
sumount "$M"
smount "$M" --layer "$T/plain.tar" --layer "$T/x.tar"
assert_fails_with 'one layer with xattrs: a missing one is ENODATA' 'No such attribute' getfattr --absolute-names -n user.foo "$M/a"
sumount "$M"
mkdir "$T/upper-plain"
smount "$M" --layer "$T/plain.tar" --upper "$T/upper-plain"
setfattr -n user.new -v 1 "$M/a"
assert_eq 'with an upper: setfattr then getfattr' 1 "$(getfattr --absolute-names --only-values -n user.new "$M/a")"
# Objects made here start with no xattr, answered without asking the
# upper (INODE_BARE), until one is set: each kind of change must show.
echo n >"$M/new"
mkdir "$M/newdir"
assert_fails_with 'a new file: no xattr' 'No such attribute' getfattr --absolute-names -n user.x "$M/new"
assert_eq 'a new file lists none' '' "$(dump "$M/new")"
setfattr -n user.x -v 1 "$M/new"
assert_eq 'a new file: setfattr then getfattr' 'user.x=0x31' "$(dump "$M/new")"
setfattr -x user.x "$M/new"
assert_eq 'a new file: setfattr -x' '' "$(dump "$M/new")"
setfattr -n security.capability -v "$CAP_HEX" "$M/new"
assert_eq 'a new file: a capability set' "security.capability=$CAP_HEX" "$(dump "$M/new")"
echo more >>"$M/new" # a write drops it, as on any file system
assert_eq 'a new file: the capability goes at a write' '' "$(dump "$M/new")"
setfacl -d -m u:1234:rwx "$M/newdir"
echo i >"$M/newdir/inherits"
assert_true 'a new directory: a default ACL set, then inherited' \
	sh -c "getfacl -p '$M/newdir/inherits' | grep -qx 'user:1234:rwx.*'"
sumount "$M"
smount "$M" --layer "$T/plain.tar" --upper "$T/upper-plain"
assert_eq 'after a remount: the default ACL' 'default:user:1234:rwx' \
	"$(getfacl -p "$M/newdir" 2>/dev/null | grep '^default:user:1234')"
sumount "$M"
finish
