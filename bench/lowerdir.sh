#!/usr/bin/env bash
# bench/lowerdir.sh [--runs N] [--podman | DIR...]: directories as the
# lower layers (default /usr alone; several DIRs: lowest first), strata
# (--layer DIR, read lazily) vs fuse-overlayfs (-o lowerdir=TOP:...) vs
# kernel overlayfs (lowerdir=TOP:..., with an empty one below a single
# DIR, as it needs two lowers without an upper), in one run.  --podman:
# the lowers are podman's layer directories of the bench image
# (bench/make-image.sh), made by `skopeo copy` into a containers-storage
# of the bench's own (overlay driver: .wh. files turned into character
# devices, as podman keeps them).  For each system, medians of N runs
# (default 3) of:
#   mount    from the mount command to the end of the first `ls MNT`
#   find     `find MNT | wc -l`, cold (caches dropped, fresh mount) and
#            warm (again on the same mount)
#   printf   `find MNT -printf '%s %m %p\n'`, cold and warm
#   readall  every regular file read (cat), cold
# and the ratios strata / fuse-overlayfs.  Issue 18's targets: mount
# <= 50 ms, find within 1.2x fuse-overlayfs.  Root (mounts, drop_caches).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=3 PODMAN=false
while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=$2; shift 2 ;;
	--podman) PODMAN=true; shift ;;
	-h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) break ;;
	esac
done
STRATA=${STRATA:-$REPO_DIR/build/tools/strata}
need_root
need_cmds fuse-overlayfs fusermount3 find
[ -x "$STRATA" ] || die "no strata binary at $STRATA (set STRATA=)"
W=$(mktemp -d /tmp/strata-bench-lowerdir.XXXXXX)
MNT=$W/mnt
mkdir -p "$MNT" "$W/empty"
trap 'umount_any 2>/dev/null; rm -rf "$W"' EXIT

# podman_lowers: the bench image's layer directories as podman keeps
# them, lowest first, into LOWERS.
podman_lowers() {
	local st=$W/pod/storage rn=$W/pod/run top rest
	need_cmds skopeo podman
	"$BENCH_DIR/make-image.sh" >&2
	python3 "$REPO_DIR/tests/store/mkimage.py" oci "$W/layout" --name bench:1 \
		"$LAYER1" "$LAYER2" "$LAYER3" >/dev/null
	skopeo copy -q "oci:$W/layout:bench:1" "containers-storage:[overlay@$st+$rn]localhost/bench:1"
	top=$(podman --root "$st" --runroot "$rn" --storage-driver overlay image inspect \
		--format '{{.GraphDriver.Data.UpperDir}}' localhost/bench:1)
	rest=$(podman --root "$st" --runroot "$rn" --storage-driver overlay image inspect \
		--format '{{.GraphDriver.Data.LowerDir}}' localhost/bench:1)
	IFS=: read -r -a LOWERS <<<"$rest"
	LOWERS+=("$top")
	# lowest first
	for ((i = 0, j = ${#LOWERS[@]} - 1; i < j; i++, j--)); do
		top=${LOWERS[i]} && LOWERS[i]=${LOWERS[j]} && LOWERS[j]=$top
	done
}

if $PODMAN; then
	podman_lowers
elif [ $# -gt 0 ]; then
	LOWERS=("$@")
else
	LOWERS=(/usr)
fi
LAYER_ARGS=() OVL=
for d in "${LOWERS[@]}"; do
	LAYER_ARGS+=(--layer "$d")
	OVL=$d${OVL:+:$OVL}
done
KOVL=$OVL
[ "${#LOWERS[@]}" -gt 1 ] || KOVL=$OVL:$W/empty

now_ns() { date +%s%N; }

do_mount() {
	case $1 in
	strata) "$STRATA" mount "${LAYER_ARGS[@]}" "$MNT" ;;
	fuse-overlayfs) fuse-overlayfs -o "lowerdir=$OVL" "$MNT" ;;
	overlayfs) mount -t overlay overlay -o "lowerdir=$KOVL" "$MNT" ;;
	esac
}

umount_any() {
	if grep -q " $MNT " /proc/self/mountinfo; then
		case ${CUR:-} in
		strata) "$STRATA" umount "$MNT" ;;
		fuse-overlayfs) fusermount3 -u "$MNT" ;;
		*) umount "$MNT" ;;
		esac
	fi
}

# ms SECONDS_NS_START: milliseconds since.
ms_since() { echo "scale=2; ($(now_ns) - $1) / 1000000" | bc; }

median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

drop() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# One round of one system: mount, cold find, warm find; remount (cold)
# for -printf.  Appends "what ms" lines to $W/$CUR.
round() {
	local t n
	drop
	t=$(now_ns)
	do_mount "$CUR"
	ls "$MNT" >/dev/null
	echo "mount $(ms_since "$t")" >>"$W/$CUR"
	t=$(now_ns)
	n=$(find "$MNT" | wc -l)
	echo "find_cold $(ms_since "$t")" >>"$W/$CUR"
	t=$(now_ns)
	find "$MNT" | wc -l >/dev/null
	echo "find_warm $(ms_since "$t")" >>"$W/$CUR"
	echo "entries $n" >>"$W/$CUR"
	umount_any
	drop
	do_mount "$CUR"
	t=$(now_ns)
	find "$MNT" -printf '%s %m %p\n' >/dev/null
	echo "printf_cold $(ms_since "$t")" >>"$W/$CUR"
	t=$(now_ns)
	find "$MNT" -printf '%s %m %p\n' >/dev/null
	echo "printf_warm $(ms_since "$t")" >>"$W/$CUR"
	umount_any
	drop
	do_mount "$CUR"
	t=$(now_ns)
	find "$MNT" -type f -print0 | xargs -0 -r cat >/dev/null
	echo "readall_cold $(ms_since "$t")" >>"$W/$CUR"
	umount_any
}

SYSTEMS=(strata fuse-overlayfs overlayfs)
log "${#LOWERS[@]} lower(s), top $(basename "${LOWERS[-1]}"): $RUNS runs, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$RUNS"); do
	for CUR in "${SYSTEMS[@]}"; do
		log "run $r: $CUR"
		round
	done
done
CUR=

med() { awk -v k="$2" '$1 == k {print $2}' "$W/$1" | median; }

printf '%-12s %12s %12s %12s %10s\n' '(ms, median)' strata fuse-overlayfs overlayfs 'strata/fo'
for k in mount find_cold find_warm printf_cold printf_warm readall_cold; do
	s=$(med strata "$k")
	f=$(med fuse-overlayfs "$k")
	o=$(med overlayfs "$k")
	printf '%-12s %12s %12s %12s %9.2fx\n' "$k" "$s" "$f" "$o" "$(echo "scale=3; $s / $f" | bc)"
done
printf 'entries seen: strata %s, fuse-overlayfs %s, overlayfs %s\n' \
	"$(med strata entries)" "$(med fuse-overlayfs entries)" "$(med overlayfs entries)"
