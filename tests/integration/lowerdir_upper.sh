#!/usr/bin/env bash
# lowerdir_upper: strata uppers with lazily read directory lowers
# (`-o lowerdir=DIR`), across remounts.  A lazy lower numbers its nodes
# as they are found, so a number an upper recorded (user.strata.origin,
# written at copy-up) names another object in the next mount: such a
# record holds for the mount that wrote it only, else a renamed directory
# would take the inode of whatever has its number now and show that one's
# children (unionmount --ov=3 rename-move-dir).  Both ways in: a second
# mount that finds the nodes in another order, and an 8-byte record as an
# older strata wrote it, by hand.  And a rootless daemon's upper as a
# lower, by hand: its user.strata.meta records (owners, modes,
# placeholders of a symlink and a device) and its ACL records show as in
# the mount that wrote them; uidmapping= shifts the rest.  Last, a daemon
# that is not root (uid 65534) writes an upper and mounts it as a lower.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

M=$T/mnt
L=$T/lower
mkdir -p "$M" "$L/p/x" "$L/p/y" "$L/q/x" "$L/q/y"
echo p-x >"$L/p/x/in-p-x"
echo p-y >"$L/p/y/in-p-y"
echo q-x >"$L/q/x/in-q-x"
echo q-y >"$L/q/y/in-q-y"

# omount UPPER: the lower under UPPER (its workdir beside it).
omount() {
	mkdir -p "$1" "$1.work"
	smount "$M" -o "lowerdir=$L,upperdir=$1,workdir=$1.work"
}

# names DIR: its entries, sorted, on one line.
names() { find "$1" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | paste -sd ' '; }

# moved_shows WHAT: $M/moved shows q/x's content, not p/x's, while the
# kernel holds p/x (its inode in the daemon's table), and has its own
# st_ino.
moved_shows() {
	exec 5<"$M/p/x"
	assert_eq "$1: the moved directory's content" in-q-x "$(names "$M/moved")"
	assert_eq "$1: its file" q-x "$(cat "$M/moved/in-q-x" 2>&1)"
	assert_ne "$1: an st_ino of its own" "$(stat -c %i "$M/p/x")" "$(stat -c %i "$M/moved")"
	assert_true "$1: a rename inside it" mv "$M/moved/in-q-x" "$M/moved/renamed"
	exec 5<&-
}

# ---- a second mount finds the nodes in another order ----
U=$T/u1
omount "$U"
assert_eq 'q listed first' 'x y' "$(names "$M/q")"
ino_before=$(stat -c %i "$M/q/x")
mv "$M/q/x" "$M/moved"
assert_eq 'a renamed lower directory keeps its st_ino in its mount' "$ino_before" \
	"$(stat -c %i "$M/moved")"
sumount "$M"

omount "$U"
assert_eq 'p listed first' 'x y' "$(names "$M/p")"
moved_shows 'the next mount'
sumount "$M"

# ---- an origin record of an older strata: 8 bytes, no mount's tag ----
U=$T/u2
mkdir -p "$U/moved"
: >"$U/.wh.q" # hides q altogether: moved's redirect still reaches q/x
setfattr -n user.strata.redirect -v /q/x "$U/moved"
# Layer 1 (the only lower), node 3: q/x when q was listed first.
setfattr -n user.strata.origin -v 0x0300000000010000 "$U/moved"
omount "$U"
assert_eq 'p listed first (older record)' 'x y' "$(names "$M/p")"
moved_shows 'an older record'
assert_false 'the whited-out q' test -e "$M/q"
sumount "$M"

# ---- a rootless daemon's upper as a lower: records ----
R=$T/rootless
mkdir -p "$R/d"
echo owned >"$R/owned"
setfattr -n user.strata.meta -v 1234:5678:100640:0 "$R/owned"
setfattr -n user.strata.meta -v 1234:5678:40710:0 "$R/d"
printf /some/where >"$R/link"
setfattr -n user.strata.meta -v 0:0:120777:0 "$R/link"
: >"$R/dev"
setfattr -n user.strata.meta -v 0:0:20600:259 "$R/dev" # char 1:3
: >"$R/acl"
setfacl -m u:4321:rw "$R/acl"
# hexacl FILE: its access ACL, as getfattr -e hex writes it.
hexacl() { getfattr --absolute-names -e hex -n system.posix_acl_access "$1" 2>&1 | sed -n 's/^system.posix_acl_access=//p'; }
acl=$(hexacl "$R/acl")
setfacl -b "$R/acl"
setfattr -n user.strata.acl.access -v "$acl" "$R/acl"
# check_records WHAT: the records of $R, as a lower of $M.
check_records() {
	assert_stat "$1: a record's owner and mode" '%u:%g %a %F' "$M/owned" '1234:5678 640 regular file'
	assert_eq "$1: its content" owned "$(cat "$M/owned")"
	assert_stat "$1: a directory's record" '%u:%g %a' "$M/d" '1234:5678 710'
	assert_stat "$1: a symlink placeholder" '%F %s' "$M/link" 'symbolic link 11'
	assert_eq "$1: its target" /some/where "$(readlink "$M/link")"
	assert_stat "$1: a device placeholder" '%F %t:%T %s' "$M/dev" 'character special file 1:3 0'
	assert_eq "$1: an ACL record" "$acl" "$(hexacl "$M/acl")"
	assert_false "$1: records never show" getfattr --absolute-names -n user.strata.meta "$M/owned"
}
mkdir -p "$T/u3" "$T/u3.work"
smount "$M" -o "lowerdir=$R:$L,upperdir=$T/u3,workdir=$T/u3.work"
check_records 'lazy lower'
sumount "$M"
# uidmapping=/gidmapping=: real owners and real ACLs' ids shifted, records
# (the container's ids already) as they are.
: >"$R/real"
chown 3:4 "$R/real"
setfacl -m u:5:r "$R/real"
smount "$M" -o "lowerdir=$R:$L,upperdir=$T/u3,workdir=$T/u3.work,uidmapping=0:100000:65536,gidmapping=0:200000:65536"
check_records 'uidmapping'
assert_stat 'uidmapping: a real owner' '%u:%g' "$M/real" 100003:200004
assert_eq 'uidmapping: a real ACL' user:100005:r-- \
	"$(getfacl -n --omit-header "$M/real" 2>&1 | grep '^user:[0-9]')"
sumount "$M"
# ---- a daemon that is not root: its own upper, rotated into a lower ----
if command -v setpriv >/dev/null; then
	chmod 0666 /dev/fuse
	chmod 0755 "$T"
	Q=$T/rl
	mkdir -p "$Q/low/sub" "$Q/u1" "$Q/w1" "$Q/u2" "$Q/w2" "$Q/mnt"
	echo low >"$Q/low/sub/f"
	chown -R 65534:65534 "$Q"
	MOUNTS+=("$Q/mnt")
	# As the daemon's user: a file made 0604, a symlink and a fifo (each
	# a placeholder with its record), a lower directory renamed; then the
	# upper as the top lower of a second mount, and what that shows.
	run setpriv --reuid=65534 --regid=65534 --clear-groups bash -c "
		set -e
		'$STRATA' -o 'lowerdir=$Q/low,upperdir=$Q/u1,workdir=$Q/w1' '$Q/mnt'
		echo new >'$Q/mnt/new'
		chmod 0604 '$Q/mnt/new'
		ln -s /some/where '$Q/mnt/link'
		mkfifo -m 0620 '$Q/mnt/fifo'
		mv '$Q/mnt/sub' '$Q/mnt/moved'
		fusermount3 -u '$Q/mnt'
		'$STRATA' -o 'lowerdir=$Q/u1:$Q/low,upperdir=$Q/u2,workdir=$Q/w2' '$Q/mnt'
		set +e
		stat -c '%n %F %a' '$Q/mnt/new' '$Q/mnt/link' '$Q/mnt/fifo'
		readlink '$Q/mnt/link'
		cat '$Q/mnt/moved/f'
		fusermount3 -u '$Q/mnt'"
	assert_eq "rootless: a rotated upper's records (stderr: $ERR)" \
		"$(printf '%s\n' "$Q/mnt/new regular file 604" "$Q/mnt/link symbolic link 777" \
			"$Q/mnt/fifo fifo 620" /some/where low)" "$(cat "$T/out")"
	assert_eq 'rootless: they were placeholders on disk' 'regular file' \
		"$(stat -c %F "$Q/u1/link")"
	assert_false 'rootless: nothing left mounted' is_mounted "$Q/mnt"
fi

finish
