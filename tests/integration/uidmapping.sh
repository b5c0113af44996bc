#!/usr/bin/env bash
# uidmapping: fuse-overlayfs' uidmapping=/gidmapping= (DISK:SHOWN:LEN) on
# every kind of lower alike: a directory, a tar file and an image of the
# store show an owner on disk shifted the same way (the map is the
# layer's, strata_layer_set_idmap, set once for every lower).  Then a
# daemon that is not root: what root owns on disk, mapped to the daemon's
# own ids, is its to change (a copy-up under a root-owned directory), and
# without the map it is not.  And bad input.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

M=$T/mnt
MAP=uidmapping=0:100000:65536,gidmapping=0:200000:65536

# One tree, three kinds of lower: owners 3:4 and 0:0.
D=$T/dir
mkdir -p "$D/sub"
echo f >"$D/f"
chown 3:4 "$D/f"
tar --numeric-owner -C "$D" -cf "$T/layer.tar" .
R=$T/store
run "$STRATA" import -q --root "$R" -t ids "$T/layer.tar"
assert_eq "import (stderr: $ERR)" 0 "$RC"

# shows LOWER: f's and sub's owners through a mount of LOWER with $MAP.
shows() {
	smount "$M" --root "$R" -o "lowerdir=$1,$MAP"
	stat -c '%n %u:%g' "$M/f" "$M/sub" | sed "s|$M/||"
	sumount "$M"
}
want=$(printf '%s\n' 'f 100003:200004' 'sub 100000:200000')
assert_eq 'a directory lower' "$want" "$(shows "$D")"
assert_eq 'a tar lower' "$want" "$(shows "$T/layer.tar")"
assert_eq 'an image lower' "$want" "$(shows ids)"
# Several lowers, one map for all; an id outside it as on disk.
mkdir -p "$T/top"
: >"$T/top/far"
chown 70000:70000 "$T/top/far"
smount "$M" --root "$R" -o "lowerdir=$T/top:$T/layer.tar,$MAP"
assert_stat 'a tar under a directory' '%u:%g' "$M/f" 100003:200004
assert_stat 'an id outside the map: as on disk' '%u:%g' "$M/far" 70000:70000
sumount "$M"
smount "$M" --root "$R" -o "lowerdir=$T/layer.tar"
assert_stat 'no map: as on disk' '%u:%g' "$M/f" 3:4
sumount "$M"

# ---- a daemon that is not root ----
if command -v setpriv >/dev/null; then
	chmod 0666 /dev/fuse
	chmod 0755 "$T" "$R"
	Q=$T/rl
	mkdir -p "$Q/u1" "$Q/w1" "$Q/u2" "$Q/w2" "$Q/mnt"
	chown -R 65534:65534 "$Q"
	chmod -R a+rX "$R"
	MOUNTS+=("$Q/mnt")
	# As 65534: root's files on disk shown as its own with the map, so
	# that it may write under a root-owned directory; not without.
	run setpriv --reuid=65534 --regid=65534 --clear-groups env STRATA_CACHE_DIR="$Q/cache" bash -c "
		'$STRATA' -o 'lowerdir=$D:$T/layer.tar,upperdir=$Q/u1,workdir=$Q/w1,uidmapping=0:65534:1,gidmapping=0:65534:1' '$Q/mnt' || exit
		stat -c '%n %u:%g' '$Q/mnt/sub' '$Q/mnt/f'
		echo new >'$Q/mnt/sub/new' && echo wrote
		fusermount3 -u '$Q/mnt'
		'$STRATA' -o 'lowerdir=$T/layer.tar,upperdir=$Q/u2,workdir=$Q/w2' '$Q/mnt' || exit
		stat -c '%n %u:%g' '$Q/mnt/sub'
		echo new >'$Q/mnt/sub/new' 2>/dev/null && echo wrote
		fusermount3 -u '$Q/mnt'"
	assert_eq "rootless: root's files mapped to the daemon's ids (stderr: $ERR)" \
		"$(printf '%s\n' "$Q/mnt/sub 65534:65534" "$Q/mnt/f 3:4" wrote "$Q/mnt/sub 0:0")" \
		"$(cat "$T/out")"
	assert_eq 'rootless: the new file in the upper' new "$(cat "$Q/u1/sub/new" 2>&1)"
	assert_false 'rootless: nothing written without the map' test -e "$Q/u2/sub/new"
	assert_false 'rootless: nothing left mounted' is_mounted "$Q/mnt"
fi

# ---- bad input ----
run "$STRATA" -o "lowerdir=$T/layer.tar,uidmapping=0:100000" "$M"
assert_one_error_line 'a uidmapping= without its length' 2
assert_false 'nothing mounted' is_mounted "$M"

finish
