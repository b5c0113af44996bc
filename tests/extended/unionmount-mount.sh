#!/bin/bash
# The mount helper unionmount.sh gives unionmount-testsuite, until strata
# takes overlay's options itself.  The suite runs
#
#   mount -t fuse.strata strata MNT -orw -olowerdir=L1:L2,upperdir=U,workdir=W
#
# and mount(8) runs /sbin/mount.fuse.strata (which unionmount.sh puts
# there for its run) with "strata MNT -o OPTIONS"; that execs this script.
# Each lower directory (L1 is the top one, as in overlayfs) becomes a tar
# layer in W (GNU tar --numeric-owner --xattrs), and U is the --upper:
#
#   strata mount -o allow_other --layer W/layer-L2.tar --layer W/layer-L1.tar --upper U MNT
#
# allow_other: the suite also works as uid 1 (seteuid).  The suite
# unmounts with umount(8), which does not wait for the daemon: a mount
# first waits (10 s at most) until the daemon of an earlier mount at MNT
# has exited, so that two never serve one upper.  Environment: STRATA.
set -euo pipefail
export LC_ALL=C

: "${STRATA:?STRATA must name the strata binary}"
me=mount.fuse.strata

die() {
	printf '%s: %s\n' "$me" "$*" >&2
	exit 32 # mount(8)'s "mount failure"
}

[ $# -ge 2 ] || die "usage: $me SOURCE MOUNTPOINT -o OPTIONS"
mnt=$2
shift 2
opts=''
while [ $# -gt 0 ]; do
	case "$1" in
	-o) [ $# -ge 2 ] || die '-o without options'; opts+=${opts:+,}$2; shift 2 ;;
	-o*) opts+=${opts:+,}${1#-o}; shift ;;
	-n | -s | -v | -f) shift ;; # mount(8)'s no-mtab, sloppy, verbose, fake
	-t) shift 2 ;;
	*) die "unexpected argument $1" ;;
	esac
done

lower='' upper='' work=''
IFS=, read -r -a words <<<"$opts"
for w in "${words[@]}"; do
	case "$w" in
	lowerdir=*) lower=${w#lowerdir=} ;;
	upperdir=*) upper=${w#upperdir=} ;;
	workdir=*) work=${w#workdir=} ;;
	rw | dev | suid | exec | async | '') ;;
	*) die "option $w is not supported by this helper" ;;
	esac
done
if [ -z "$lower" ] || [ -z "$upper" ] || [ -z "$work" ]; then
	die 'needs lowerdir=, upperdir= and workdir='
fi

# An earlier daemon at MNT: a command line ending in MNT (no other process
# of the suite's ends so: mount(8) and this helper end with the options).
daemon_left() { pgrep -f -- " $mnt\$" >/dev/null; }
for _ in $(seq 100); do
	daemon_left || break
	sleep 0.1
done
! daemon_left || die "the daemon of an earlier mount at $mnt is still running"

# The layers, lowest first: lowerdir lists the top one first.
IFS=: read -r -a dirs <<<"$lower"
rm -rf "$work/layers"
mkdir -p "$work/layers" "$work/cache"
args=()
for ((i = ${#dirs[@]} - 1; i >= 0; i--)); do
	tarball=$work/layers/$i.tar
	tar --numeric-owner --xattrs -C "${dirs[i]}" -cf "$tarball" . ||
		die "tar of lower directory ${dirs[i]} failed"
	args+=(--layer "$tarball")
done
exec "$STRATA" mount -o allow_other --cache-dir "$work/cache" "${args[@]}" --upper "$upper" "$mnt"
