#!/usr/bin/env bash
# acl: POSIX ACLs through the mount (issue 13, item 3), differentially: a
# source tree with ACLs is tarred by GNU tar (--acls: SCHILY.acl.*; --xattrs:
# the system.posix_acl_* xattrs) and bsdtar, and extracted by GNU tar into a
# reference on the host's file system; each case runs the same commands on
# the reference and through strata, and what getfacl, stat and a reader
# other than the owner see must agree:
#   - each tar form, read-only: the ACLs, the modes, and nobody reading a
#     0600 file through an ACL entry;
#   - root daemon with an upper: a default ACL replacing the umask for new
#     files, directories and fifos, the umask where there is none, the mode
#     right after setfacl, copy-up by chmod (the mask follows) and by
#     write, setfacl -x/-b/-k, all of it again after a remount, and the
#     upper keeping them as the real xattrs;
#   - a daemon that is not root (uid 65534, through fusermount3): the same
#     for nobody's own files, kept in user.strata.acl.* (docs/xattrs.md);
#   - a daemon that is root of a user namespace mapping one id: a layer's
#     ACL naming ids the namespace lacks does not make its file unreadable;
#   - strata diff and commit of a container whose upper has ACLs: the
#     committed layer carries SCHILY.acl.*, which GNU tar extracts.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if ! command -v setfacl >/dev/null || ! command -v getfacl >/dev/null; then
	skip "needs setfacl and getfacl (Debian package acl)"
fi
command -v setpriv >/dev/null || skip "needs setpriv"
chmod 0755 "$T"

as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

# ---- the source tree and its layers ----

SRC=$T/src
mkdir -p "$SRC/d" "$SRC/pub" "$SRC/own"
echo secret >"$SRC/d/f"
chmod 0600 "$SRC/d/f"
setfacl -m u:nobody:r,g:1234:rw "$SRC/d/f" 2>/dev/null || skip "$T: no ACLs on this file system"
echo shared >"$SRC/d/g"
chmod 0640 "$SRC/d/g"
setfacl -m u:nobody:rw "$SRC/d/g"
setfacl -d -m u:nobody:rx,g::rwx,o::- "$SRC/d"
echo plain >"$SRC/pub/p"
chmod 0644 "$SRC/pub/p"
# Owned by an id a one-id user namespace lacks, with an ACL naming it.
echo theirs >"$SRC/pub/u"
chmod 0644 "$SRC/pub/u"
setfacl -m u:1234:rw "$SRC/pub/u"
chown 1234:1234 "$SRC/pub/u"
# nobody's own, for the daemon that is not root.
echo mine >"$SRC/own/m"
chmod 0600 "$SRC/own/m"
setfacl -m u:1234:r "$SRC/own/m"
chown -R 65534:65534 "$SRC/own"
setfacl -d -m u:1234:rwx "$SRC/own"

tar --acls --numeric-owner -C "$SRC" -cf "$T/gnu.tar" .
tar --xattrs --xattrs-include='system.posix_acl_*' --numeric-owner -C "$SRC" -cf "$T/xattr.tar" .
FORMS="gnu xattr"
if command -v bsdtar >/dev/null; then
	bsdtar --acls --numeric-owner -C "$SRC" -cf "$T/bsd.tar" .
	FORMS="$FORMS bsd"
else
	log "no bsdtar (Debian package libarchive-tools): its form is not checked"
fi
chmod 0644 "$T"/*.tar
for f in $FORMS; do
	[ "$(tar -xOf "$T/$f.tar" ./pub/p)" = plain ] || die "$f.tar was not made"
done

# ref DIR: the reference, GNU tar's extraction of the layer.
ref() {
	mkdir -p "$1"
	tar --acls --numeric-owner -xpf "$T/gnu.tar" -C "$1"
}

PATHS_RO=". d d/f d/g pub pub/p pub/u own own/m"

# acl_state ROOT PATH...: each path's mode and owner, and its ACLs as
# getfacl shows them.
acl_state() {
	local root=$1 p
	shift
	for p in "$@"; do
		printf '== %s %s\n' "$p" "$(stat -c '%a %u %g' "$root/$p" 2>&1)"
		getfacl -c -n -p "$root/$p" 2>&1 | sed "s|$root/||"
	done
}

# reads ROOT FILE...: can nobody read each file?
reads() {
	local root=$1 p
	shift
	for p in "$@"; do
		if as_nobody cat "$root/$p" >/dev/null 2>&1; then
			echo "$p: nobody reads it"
		else
			echo "$p: nobody may not read it"
		fi
	done
}

# same WHAT CMD ARGS...: CMD on the reference ($REF) and on the mount ($M)
# prints the same (the root dir is the first argument).
same() {
	local what=$1 cmd=$2
	shift 2
	assert_same_text "$what (- reference, + strata)" "$("$cmd" "$REF" "$@")" "$("$cmd" "$M" "$@")"
}

# ---- each tar form, read-only ----

REF=$T/ref
ref "$REF"
M=$T/ro
for f in $FORMS; do
	smount "$M" -o allow_other -l "$T/$f.tar"
	# shellcheck disable=SC2086 # the path lists split on purpose
	same "$f.tar read-only: modes and ACLs" acl_state $PATHS_RO
	same "$f.tar read-only: who reads" reads d/f d/g pub/p own/m
	sumount "$M"
done
assert_true 'the reference: nobody reads the 0600 d/f through its ACL' \
	grep -q 'nobody reads' <<<"$(reads "$REF" d/f)"

# ---- a root daemon with an upper ----

# ops_root ROOT: what a root user does there, and what it sees.
ops_root() {
	local r=$1
	(
		umask 077
		mkdir "$r/d/nd"
		echo x >"$r/d/nf"
		mkfifo "$r/d/np"
		mkdir "$r/pub/plain"
		echo y >"$r/pub/plainf"
		echo new >"$r/pub/n"
		chmod 0600 "$r/pub/n"
		setfacl -m u:nobody:r "$r/pub/n"
		stat -c 'pub/n right after setfacl -m: %a' "$r/pub/n"
		setfacl -m g::rwx "$r/pub/n"
		stat -c 'pub/n right after setfacl -m g::rwx: %a' "$r/pub/n"
		chmod 0640 "$r/d/f"
		stat -c 'd/f after chmod 0640: %a' "$r/d/f"
		echo more >>"$r/d/g"
		setfacl -x u:nobody "$r/d/g"
		stat -c 'd/g right after setfacl -x: %a' "$r/d/g"
		setfacl -b "$r/pub/p"
		setfacl -k "$r/d/nd"
		mkdir "$r/d/nd/sub"
		setfacl -m u:nobody:r "$r/d/nf"
		setfacl -b "$r/d/nf"
		stat -c 'd/nf right after setfacl -b: %a' "$r/d/nf"
	) 2>&1
}
PATHS_RW="d d/f d/g d/nd d/nd/sub d/nf d/np pub pub/p pub/plain pub/plainf pub/n"

M=$T/mnt
U=$T/upper
mkdir -p "$U"
smount "$M" -o allow_other -l "$T/gnu.tar" --upper "$U"
same 'root: setfacl, chmod, new names under a default ACL' ops_root
# shellcheck disable=SC2086
same 'root: modes and ACLs' acl_state $PATHS_RW
same 'root: who reads' reads d/f d/g d/nf pub/n pub/plainf
sumount "$M"
smount "$M" -o allow_other -l "$T/gnu.tar" --upper "$U"
# shellcheck disable=SC2086
same 'root, after a remount: modes and ACLs' acl_state $PATHS_RW
same 'root, after a remount: who reads' reads d/f d/g d/nf pub/n pub/plainf
sumount "$M"
assert_true 'root: the upper keeps ACLs as the real xattrs' \
	grep -q '^user:65534:r--' <<<"$(getfacl -c -n -p "$U/pub/n")"
assert_eq 'root: and no record of them' '' \
	"$(getfattr --absolute-names -d -m 'user\.strata\.acl' "$U/pub/n" "$U/d/nd")"

# ---- a daemon that is not root ----

# ops_own ROOT: what nobody does in its own directory (as nobody).
ops_own() {
	local r=$1
	(
		umask 077
		mkdir "$r/own/nd"
		echo x >"$r/own/nf"
		echo y >"$r/own/x"
		setfacl -m u:1234:rw,g:5:r "$r/own/x"
		stat -c 'own/x right after setfacl: %a' "$r/own/x"
		chmod 0640 "$r/own/m"
		stat -c 'own/m after chmod 0640: %a' "$r/own/m"
		chmod 0755 "$r/own/nd"
		if cat "$r/d/f" >/dev/null; then
			echo "d/f: nobody reads it"
		fi
	) 2>&1
}
PATHS_OWN="own own/m own/nd own/nf own/x"

REF=$T/ref2
ref "$REF"
M=$T/mnt2
U=$T/upper2
mkdir -p "$M" "$U" "$T/cache2"
chown 65534:65534 "$M" "$U" "$T/cache2"
MOUNTS+=("$M")
# shellcheck disable=SC2016
nobody_mount() {
	as_nobody bash -c '"$1" mount --cache-dir "$2" -l "$3" --upper "$4" "$5"' _ \
		"$STRATA" "$T/cache2" "$T/gnu.tar" "$U" "$M" || die "strata mount as uid 65534 failed"
}
nobody_mount
assert_same_text 'not root: what nobody does (- reference, + strata)' \
	"$(as_nobody bash -c "$(declare -f ops_own); ops_own $REF")" \
	"$(as_nobody bash -c "$(declare -f ops_own); ops_own $M")"
# shellcheck disable=SC2086
assert_same_text 'not root: modes and ACLs (- reference, + strata)' \
	"$(as_nobody bash -c "$(declare -f acl_state); acl_state $REF $PATHS_OWN")" \
	"$(as_nobody bash -c "$(declare -f acl_state); acl_state $M $PATHS_OWN")"
as_nobody "$STRATA" umount "$M" || fail "strata umount as uid 65534"
nobody_mount
# shellcheck disable=SC2086
assert_same_text 'not root, after a remount: modes and ACLs (- reference, + strata)' \
	"$(as_nobody bash -c "$(declare -f acl_state); acl_state $REF $PATHS_OWN")" \
	"$(as_nobody bash -c "$(declare -f acl_state); acl_state $M $PATHS_OWN")"
as_nobody "$STRATA" umount "$M" || fail "strata umount as uid 65534"
assert_true 'not root: the ACL is kept in user.strata.acl.access' \
	getfattr --absolute-names -n user.strata.acl.access "$U/own/x"
assert_false 'not root: and not as the real one (which would bind the daemon too)' \
	grep -q '^user:1234' <<<"$(getfacl -c -n -p "$U/own/x")"

# ---- a daemon that is root of a user namespace with one id ----

if command -v unshare >/dev/null; then
	chmod 0666 /dev/fuse
	mkdir -p "$T/mnt3" "$T/cache3"
	chown 65534:65534 "$T/mnt3" "$T/cache3"
	MOUNTS+=("$T/mnt3")
	out=$(as_nobody unshare -Urm bash -c '
		"$1" mount --cache-dir "$2" -l "$3" "$4" || exit 1
		cat "$4/pub/u" && getfacl -c -n -p "$4/pub/u"
		"$1" umount "$4"' _ "$STRATA" "$T/cache3" "$T/gnu.tar" "$T/mnt3" 2>&1) || true
	assert_same_text 'user namespace: a layer ACL naming ids the namespace lacks' \
		"$(printf 'theirs\nuser::rw-\ngroup::r--\nmask::rw-\nother::r--\n')" \
		"$(grep -v '^$' <<<"$out")"
fi

# ---- diff and commit ----

R=$T/store
run "$STRATA" import -q --root "$R" -t acl:1 "$T/gnu.tar"
assert_eq "import (stderr: $ERR)" 0 "$RC"
# A stopped container, its upper then changed through a mount.
run "$STRATA" run --root "$R" --name c acl:1 /none
assert_true 'a container to change' test -d "$R/strata/containers/c/upper"
M=$T/mnt4
smount "$M" --root "$R" --upper "$R/strata/containers/c/upper" acl:1
setfacl -m u:nobody:rwx "$M/d/g"
echo z >"$M/pub/z"
setfacl -m g:1234:r "$M/pub/z"
mkdir "$M/d/nd"
sumount "$M"
run "$STRATA" diff --root "$R" c
assert_same_text 'diff: the ACL change and the new names' \
	"$(printf 'C /d\nC /d/g\nA /d/nd\nC /pub\nA /pub/z\n')" "$(cat "$T/out")"
run "$STRATA" commit --root "$R" c acl:2
assert_eq "commit (stderr: $ERR)" 0 "$RC"
smount "$M" --root "$R" acl:2
acl_state "$M" d/g pub/z d/nd >"$T/committed"
sumount "$M"
# GNU tar extracts the committed layer with the same ACLs.
"$STRATA" inspect --root "$R" acl:2 >"$T/insp.json"
blob=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["layers"][-1]["digest"][7:])' \
	"$T/insp.json")
mkdir -p "$T/x"
tar --acls --numeric-owner -xpf "$T/gnu.tar" -C "$T/x"
tar --acls --numeric-owner -xpf "$R/blobs/sha256/$blob" -C "$T/x"
assert_same_text 'commit: the layer ACLs, as GNU tar extracts them (- tar, + strata)' \
	"$(acl_state "$T/x" d/g pub/z d/nd)" "$(cat "$T/committed")"
assert_true 'commit: d/g has the new entry' grep -q '^user:65534:rwx' "$T/committed"

finish
