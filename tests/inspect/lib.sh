# shellcheck shell=bash
# Helpers for the tests of strata inspect, layers, ls, cat, diff and commit,
# on top of the integration tests' lib.sh (temp dir $T, mounts cleaned up,
# assertions, `finish`).  Source it first thing:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Environment (set by meson): STRATA, MKLAYER, TREELIST (treelist.c here,
# static, so it runs in a busybox container too) and HELPERS (helpers.py).
#
# build_image makes the test image, three layers:
#   0: busybox-static and treelist in /bin, /etc with os-release as a
#      symlink into /usr/lib, and /data: files of several modes and owners,
#      a hard link pair, a symlink, a fifo, a sparse file, user.x and
#      security.capability xattrs, directories to delete, rename and
#      recreate, files later layers overwrite and delete.  Tarred by GNU
#      tar (--xattrs, --sparse) from a directory, gzip.
#   1: overwrites /data/big1, deletes /data/big2, makes /data/opq opaque
#      (hiding o1, o2) with o3 in it, adds /opt/app/run.sh.  Plain tar.
#   2: adds /etc/motd, deletes /data/gone3.txt, overwrites /opt/app/run.sh.

# The variables set here are for the scripts that source this, which the
# linter cannot see.
# shellcheck disable=SC2034
true

# shellcheck source=../integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

: "${HELPERS:=$(dirname "${BASH_SOURCE[0]}")/helpers.py}"
: "${TREELIST:?TREELIST must name the treelist helper}"
[ "$(id -u)" = 0 ] || skip 'these tests mount FUSE file systems and chown: run them as root'
[ -c /dev/fuse ] || skip 'no /dev/fuse'
command -v python3 >/dev/null || skip 'python3 is not installed'
command -v busybox >/dev/null || skip 'busybox-static is not installed'
BB=$(command -v busybox)
ldd_out=$(LC_ALL=C ldd "$BB" 2>&1 || true)
case "$ldd_out" in
*"not a dynamic"* | *"statically linked"*) ;;
*) skip "busybox is not static (install busybox-static)" ;;
esac

py() { python3 "$HELPERS" "$@"; }

# Sizes of the files that later layers overwrite or delete.
BIG1=200000 BIG2=300000 O1=1000 O2=2000 GONE3=7777 RUNSH2=5000
WASTED_TOTAL=$((BIG1 + BIG2 + O1 + O2 + GONE3 + RUNSH2))
MOVED_FILES=40

# fill FILE SIZE CHAR: SIZE bytes of CHAR.
fill() {
	head -c "$2" /dev/zero | tr '\0' "$3" >"$1"
}

# build_image LAYOUT TAG: the three layers in $T/layers/l{0,1,2}.tar*, and
# an OCI layout of them in LAYOUT naming TAG.
build_image() {
	local layout=$1 tag=$2 r=$T/layers/root0 a i
	# /dev, /proc, /sys and the /etc files strata run mounts over exist, as
	# in real images: the container's changes are then only the test's.
	mkdir -p "$r"/{bin,etc,usr/lib,tmp,data,dev,proc,sys}
	: >"$r/etc/hostname"
	: >"$r/etc/hosts"
	: >"$r/etc/resolv.conf"
	cp "$BB" "$r/bin/busybox"
	cp "$TREELIST" "$r/bin/treelist"
	for a in sh ls cat find stat mv rm mkdir chmod chown ln mkfifo truncate touch \
		echo sleep dd printf head rmdir cp true wc sort; do
		ln -s busybox "$r/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n' >"$r/etc/passwd"
	printf 'root:x:0:\napp:x:1000:\n' >"$r/etc/group"
	printf 'ID=stratatest\nNAME="Strata Test"\n' >"$r/usr/lib/os-release"
	ln -s ../usr/lib/os-release "$r/etc/os-release"
	ln -s usr/lib "$r/lib"
	chmod 1777 "$r/tmp"

	local d=$r/data
	echo keep >"$d/keep.txt"
	printf 'original\n' >"$d/modify.txt"
	echo chmod-me >"$d/chmod.txt"
	echo chown-me >"$d/chown.txt"
	echo delete-me >"$d/delete.txt"
	chmod 0600 "$d/delete.txt"
	echo owned >"$d/owned.txt"
	chown 1000:1001 "$d/owned.txt"
	chmod 0640 "$d/owned.txt"
	echo setuid >"$d/suid"
	chmod 4755 "$d/suid"
	echo linked >"$d/hl1"
	ln "$d/hl1" "$d/hl2"
	ln -s keep.txt "$d/sym"
	mkfifo -m 0640 "$d/fifo"
	truncate -s 4M "$d/sparse"
	printf head | dd of="$d/sparse" conv=notrunc status=none
	printf tail | dd of="$d/sparse" bs=1 seek=3145728 conv=notrunc status=none
	echo x >"$d/xfile"
	setfattr -n user.x -v one "$d/xfile"
	printf '#!/bin/sh\necho capable\n' >"$d/capbin"
	chmod 0755 "$d/capbin"
	if command -v setcap >/dev/null; then
		setcap cap_net_raw+ep "$d/capbin"
	else
		setfattr -n security.capability -v 0sAQAAAgAgAAAAAAAAAAAAAAAAAAA= "$d/capbin"
	fi
	mkdir -p "$d/deldir/sub"
	echo a >"$d/deldir/a"
	echo c >"$d/deldir/sub/c"
	mkdir -p "$d/movedir/sub"
	for i in $(seq -w 1 "$MOVED_FILES"); do
		echo "moved $i" >"$d/movedir/f$i"
		chmod "06$((10#$i % 5))$((10#$i % 3))" "$d/movedir/f$i"
	done
	echo deep >"$d/movedir/sub/deep"
	# Its files are 2000's, but the directory root's: a rootless container
	# (only its own id mapped) may rename it (the kernel refuses to delete
	# or rename what belongs to an id it cannot map: EOVERFLOW).
	chown -R 2000:2000 "$d/movedir"/*
	chmod 0750 "$d/movedir"
	mkdir "$d/recreate"
	echo r1 >"$d/recreate/r1"
	echo r2 >"$d/recreate/r2"
	fill "$d/big1" "$BIG1" 1
	fill "$d/big2" "$BIG2" 2
	mkdir "$d/opq"
	fill "$d/opq/o1" "$O1" o
	fill "$d/opq/o2" "$O2" p
	fill "$d/gone3.txt" "$GONE3" g
	# The same mtime everywhere: nothing depends on when the test ran.
	find "$r" -exec touch -h -d '2024-01-02 03:04:05' {} +

	tar --numeric-owner --format=pax --xattrs --xattrs-include='*' --sparse \
		-C "$r" -czf "$T/layers/l0.tar.gz" . || die 'tar of layer 0 failed'
	py layer2 "$T/layers/l1.tar" || die 'layer 1 failed'
	py layer3 "$T/layers/l2.tar" || die 'layer 2 failed'
	py oci "$layout" "$tag" "$T/layers/l0.tar.gz" "$T/layers/l1.tar" "$T/layers/l2.tar" \
		>/dev/null || die 'OCI layout failed'
}

# The changes a container makes (run by its busybox sh as root inside).
CHANGES='set -e
cd /data
echo new >added.txt
mkdir /newdir
echo inner >/newdir/inner
echo changed >>modify.txt
chmod 0600 chmod.txt
if [ "$1" = root ]; then chown 1234:5678 chown.txt; fi
rm delete.txt
rm -r deldir
mv movedir moved
echo extra >moved/extra
rm -r recreate
mkdir recreate
echo fresh >recreate/fresh
ln added.txt added-link
ln keep.txt keep-link
ln -sfn hl1 sym
treelist -x xfile user.y two
treelist -x added.txt user.z three
mkfifo -m 0600 newfifo
truncate -s 8388608 newsparse
printf mid | dd of=newsparse bs=1 seek=4194304 conv=notrunc 2>/dev/null
'

# What `strata diff -v` prints for those changes (WHO: root or user).
expected_diff() {
	printf '%s\n' \
		'C /data (contents)' \
		'A /data/added-link' \
		'A /data/added.txt' \
		'C /data/chmod.txt (mode)'
	[ "$1" != root ] || printf '%s\n' 'C /data/chown.txt (owner)'
	printf '%s\n' \
		'D /data/deldir' \
		'D /data/delete.txt' \
		'A /data/keep-link' \
		'C /data/modify.txt (content)' \
		'A /data/moved' \
		'A /data/moved/extra'
	for i in $(seq -w 1 "$MOVED_FILES"); do
		printf 'A /data/moved/f%s\n' "$i"
	done
	printf '%s\n' \
		'A /data/moved/sub' \
		'A /data/moved/sub/deep' \
		'D /data/movedir' \
		'A /data/newfifo' \
		'A /data/newsparse' \
		'C /data/recreate (contents)' \
		'A /data/recreate/fresh' \
		'D /data/recreate/r1' \
		'D /data/recreate/r2' \
		'C /data/sym (link)' \
		'C /data/xfile (xattrs)' \
		'A /newdir' \
		'A /newdir/inner'
}

# The committed layer of those changes, as `helpers.py tarlist | sort`
# prints it, without the hard link pairs data/added* and data/keep*
# (checked apart: which name is the file and which the link is the
# committer's choice; keep.txt is there, unchanged, because a tar hard
# link needs its target in the same layer).  WHO: root or user;
# the container's root is uid 0 in the layer either way.
expected_layer() {
	local i
	{
		printf '%s\n' \
			'd data 0755 0:0 0' \
			'- data/chmod.txt 0600 0:0 9'
		[ "$1" != root ] || printf '%s\n' '- data/chown.txt 0644 1234:5678 9'
		printf '%s\n' \
			'W data/.wh.deldir' \
			'W data/.wh.delete.txt' \
			'- data/modify.txt 0644 0:0 17' \
			'd data/moved 0750 0:0 0' \
			'W data/moved/.wh..wh..opq' \
			'- data/moved/extra 0644 0:0 6'
		for i in $(seq -w 1 "$MOVED_FILES"); do
			printf -- '- data/moved/f%s 06%d%d 2000:2000 9\n' "$i" $((10#$i % 5)) $((10#$i % 3))
		done
		printf '%s\n' \
			'd data/moved/sub 0755 2000:2000 0' \
			'- data/moved/sub/deep 0644 2000:2000 5' \
			'W data/.wh.movedir' \
			'p data/newfifo 0600 0:0 0' \
			'- data/newsparse 0644 0:0 8388608 sparse' \
			'd data/recreate 0755 0:0 0' \
			'W data/recreate/.wh..wh..opq' \
			'- data/recreate/fresh 0644 0:0 6' \
			'l data/sym 0777 0:0 0 link=hl1' \
			'- data/xfile 0644 0:0 2 {user.x=6f6e65,user.y=74776f}' \
			'd newdir 0755 0:0 0' \
			'- newdir/inner 0644 0:0 6'
	} | sort
}
