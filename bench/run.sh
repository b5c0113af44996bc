#!/usr/bin/env bash
# strata vs fuse-overlayfs vs kernel overlayfs over the same three read-only
# layers (see bench/README.md for what every number means).
#
#   bench/run.sh [options]
#     --strata PATH         strata binary (default: build/tools/strata)
#     --runs N              timed runs per warm/cold workload (default 7)
#     --slow-runs N         runs of the "ready from tars" workloads (default 3)
#     --again-runs N        runs of "ready again" (default 20)
#     --quick               --runs 2 --slow-runs 1 --again-runs 3 (smoke test)
#     --no-cold             skip everything that needs drop_caches
#     --no-verify-content   compare the trees by listing only, not by checksums
#     --allow-mismatch      time strata even if its tree differs from overlayfs
#     --timeout S           a single operation taking longer fails (default 300)
#     --strict              exit 4 if a DESIGN budget is missed
#
# Exit status: 0 done; 1 setup error or tree mismatch; 3 a strata operation
# failed (the table says which and how); 4 a budget missed under --strict.

# Many functions below only run through measure/trap, which shellcheck
# cannot follow.
# shellcheck disable=SC2317
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=bench/harness.sh
. "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

STRATA=$REPO_DIR/build/tools/strata
RUNS=7 SLOW_RUNS=3 AGAIN_RUNS=20 COLD=1 VERIFY_CONTENT=1 ALLOW_MISMATCH=0
OP_TIMEOUT=300 STRICT=0

while (($#)); do
	case $1 in
	--strata) STRATA=$2 && shift ;;
	--runs) RUNS=$2 && shift ;;
	--slow-runs) SLOW_RUNS=$2 && shift ;;
	--again-runs) AGAIN_RUNS=$2 && shift ;;
	--quick) RUNS=2 SLOW_RUNS=1 AGAIN_RUNS=3 ;;
	--no-cold) COLD=0 ;;
	--no-verify-content) VERIFY_CONTENT=0 ;;
	--allow-mismatch) ALLOW_MISMATCH=1 ;;
	--timeout) OP_TIMEOUT=$2 && shift ;;
	--strict) STRICT=1 ;;
	-h | --help)
		sed -n '2,18p' "$0"
		exit 0
		;;
	*) die "unknown argument: $1 (see --help)" ;;
	esac
	shift
done
for n in "$RUNS" "$SLOW_RUNS" "$AGAIN_RUNS" "$OP_TIMEOUT"; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || die "not a positive number: $n"
done
((RUNS >= 5)) || log "note: --runs $RUNS < 5, medians are rough"

need_root
need_cmds tar gzip zstd fuse-overlayfs fusermount3 mount umount find sort \
	md5sum xargs awk ps stat setfattr mknod fincore sha256sum timeout
[[ -x $STRATA ]] || die "no strata binary at $STRATA (build it: meson setup build && ninja -C build)"
STRATA=$(readlink -f "$STRATA")

"$BENCH_DIR/make-image.sh"
IMAGE_INFO=$(<"$IMAGE_STAMP")
stamp_get() { sed -n "s/^$1=//p" <<<"$IMAGE_INFO"; }
LOWER_ENTRIES=$(($(stamp_get layer1_entries) + $(stamp_get layer2_entries) + $(stamp_get layer3_entries)))

# ------------------------------------------------------------------ state
MAINPID=$$
WORK=$(mktemp -d "$CACHE_DIR/run.XXXXXX")
ERRF=$WORK/op.err
declare -A MNT_KIND=() # mountpoint -> strata|kovl|fovl, while (maybe) mounted
declare -A RUNS_US=()  # "workload:fs" -> "us us us ..."
declare -A ERRS=()     # "workload:fs" -> first failure
declare -A INFO=()     # misc numbers for the report
STRATA_FAILED=0
WD_PID='' WD_SEQ=0

# A private copy, so a rebuild during the run changes nothing and the daemon
# is found by its exe path (unique to this run).
mkdir -p "$WORK/bin" "$WORK/mnt"
cp -- "$STRATA" "$WORK/bin/strata"
STRATA_BIN=$WORK/bin/strata
FOVL_BIN=$(readlink -f "$(command -v fuse-overlayfs)")
mkfifo "$WORK/watchdog.fifo"
exec 4<>"$WORK/watchdog.fifo"

MNT_STRATA=$WORK/mnt/strata
MNT_KOVL=$WORK/mnt/kovl
MNT_FOVL=$WORK/mnt/fovl
mkdir -p "$MNT_STRATA" "$MNT_KOVL" "$MNT_FOVL"
STRATA_CACHE=$WORK/strata-cache # index cache used by every "warm index" mount
FSES=(strata kovl fovl)
declare -A MNT_OF=([strata]=$MNT_STRATA [kovl]=$MNT_KOVL [fovl]=$MNT_FOVL)
OVL_LOWERDIR=$LOWER3:$LOWER2:$LOWER1 # overlayfs: uppermost first






# ----------------------------------------------------------------- mounts
do_mount() { # FS [strata args...]
	local fs=$1
	shift
	local mnt=${MNT_OF[$fs]}
	MNT_KIND[$mnt]=$fs
	case $fs in
	strata)
		"$STRATA_BIN" mount --cache-dir "${STRATA_CACHE_DIR_OVERRIDE:-$STRATA_CACHE}" "$@" \
			"${STRATA_LAYER_ARGS[@]}" "$mnt"
		;;
	kovl) mount -t overlay overlay -o "ro,lowerdir=$OVL_LOWERDIR" "$mnt" ;;
	fovl) fuse-overlayfs -o "lowerdir=$OVL_LOWERDIR" "$mnt" ;;
	esac
}
STRATA_LAYER_ARGS=(--layer "$LAYER1" --layer "$LAYER2" --layer "$LAYER3")
STRATA_CACHE_DIR_OVERRIDE=

# mount_ls FS [strata args]: the "ready" operation: mount, then list the root.
mount_ls() {
	do_mount "$@" && ls -- "${MNT_OF[$1]}" >/dev/null
}


trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ----------------------------------------------------------------- timing
note_error() { # KEY MSG
	[[ -n ${ERRS[$1]:-} ]] || ERRS[$1]=$2
	[[ $1 == *:strata ]] && STRATA_FAILED=1
	log "FAILED $1: $2"
}

# measure KEY MNT CMD...: one timed run of CMD (stdout+stderr kept in ERRF),
# guarded by the watchdog.  Records microseconds under KEY, or the failure.
measure() {
	local key=$1 mnt=$2 t0 t1 rc=0 msg
	shift 2
	watchdog_start "$mnt"
	{
		t0=${EPOCHREALTIME/[.,]/}
		"$@" || rc=$?
		t1=${EPOCHREALTIME/[.,]/}
	} >"$ERRF" 2>&1
	watchdog_stop
	if ((rc == 0)); then
		RUNS_US[$key]+="$((t1 - t0)) "
		return 0
	fi
	msg="exit status $rc"
	[[ -f $WORK/watchdog.fired ]] && msg="timed out after ${OP_TIMEOUT}s (FUSE connection aborted, process killed); $msg"
	[[ -s $ERRF ]] && msg+=": $(head -c 1500 "$ERRF" | tr '\n' ' ')"
	note_error "$key" "$msg"
	return 1
}

failed() { [[ -n ${ERRS[$1]:-} ]]; }

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# Workloads.
wl_find() { find "$1" -printf '%s %m %p\n' >/dev/null; }
wl_readall() { tar -C "$1" -cf - . | cat >/dev/null; }
wl_gzip_l1() { gzip -dc "$LAYER1" >/dev/null; }
wl_decompress_all() { gzip -dc "$LAYER1" >/dev/null && zstd -dcq "$LAYER2" >/dev/null && cat "$LAYER3" >/dev/null; }
wl_unpack_all() {
	local d=$1
	unpack_layer "$LAYER1" "$d/1" && unpack_layer "$LAYER2" "$d/2" && unpack_layer "$LAYER3" "$d/3"
}

# ------------------------------------------------------------ preflight
mount_fusectl
log "strata: $STRATA ($(sha256sum <"$STRATA" | cut -c1-12))"
INFO[strata_sha256]=$(sha256sum <"$STRATA" | cut -d' ' -f1)
INFO[strata_git]=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo none)
INFO[fovl_version]=$(fuse-overlayfs --version 2>&1 | head -n 1 || true)
INFO[loadavg_start]=$(cut -d' ' -f1 /proc/loadavg)
awk -v l="${INFO[loadavg_start]}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 4) }' &&
	log "note: load average ${INFO[loadavg_start]} on $(nproc) cores: something else is running, numbers will be noisy"

COLD_WHY=
if ((COLD)); then
	if ! { sync && echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
		COLD=0 COLD_WHY="writing /proc/sys/vm/drop_caches failed"
	else
		cat -- "$LAYER3" >/dev/null
		drop_caches
		res=$(fincore -b -n -o RES -- "$LAYER3" | tr -d ' ')
		if ((res > $(stat -c %s "$LAYER3") / 2)); then
			COLD=0 COLD_WHY="drop_caches accepted but $res bytes of a test file stayed cached"
		fi
	fi
else
	COLD_WHY="--no-cold"
fi
((COLD)) || log "cold workloads skipped: $COLD_WHY"

# ----------------------------------------------- A. the three trees agree
# One line per entry below the root: path, type, mode, owner, size (not for
# directories), mtime in whole seconds, symlink target.
listing() { # MNT -> stdout
	find "$1" -mindepth 1 \( -type d -printf '%P\t%y %#m %U:%G - %T@\n' \) \
		-o -printf '%P\t%y %#m %U:%G %s %T@ -> %l\n' |
		sed -E 's/^([^\t]*\t[^ ]+ [^ ]+ [^ ]+ [^ ]+ [0-9]+)\.[0-9]+/\1/' | sort
}
checksums() { # MNT -> stdout
	(cd -- "$1" && find . -type f -print0 | sort -z | xargs -0 -r md5sum)
}
to_file() { # FILE CMD...: CMD's stdout into FILE
	local f=$1
	shift
	"$@" >"$f"
}

log "A. mounting all three and comparing their trees"
STRATA_OK=1
if ! measure "first_mount:strata" "$MNT_STRATA" mount_ls strata; then
	STRATA_OK=0
fi
measure "mount_ls:kovl" "$MNT_KOVL" mount_ls kovl || die "kernel overlayfs mount failed: ${ERRS[mount_ls:kovl]}"
measure "mount_ls:fovl" "$MNT_FOVL" mount_ls fovl || die "fuse-overlayfs mount failed: ${ERRS[mount_ls:fovl]}"
RUNS_US=() # those were not timing runs

listing "$MNT_KOVL" >"$WORK/kovl.list"
listing "$MNT_FOVL" >"$WORK/fovl.list"
INFO[merged_entries]=$(wc -l <"$WORK/kovl.list")
diff -u "$WORK/kovl.list" "$WORK/fovl.list" >"$WORK/fovl.diff" || {
	head -n 40 "$WORK/fovl.diff" >&2
	die "fuse-overlayfs and kernel overlayfs present different trees (lowerdirs broken?)"
}
MISMATCH=
check_strata_tree() {
	measure "verify_list:strata" "$MNT_STRATA" to_file "$WORK/strata.list" listing "$MNT_STRATA" || return 1
	if ! diff -u "$WORK/kovl.list" "$WORK/strata.list" >"$WORK/strata.diff"; then
		MISMATCH="listing differs from kernel overlayfs ($(grep -c '^[-+][^-+]' "$WORK/strata.diff") lines)"
		log "strata tree differs from kernel overlayfs (- overlayfs, + strata), first lines:"
		grep '^[-+][^-+]' "$WORK/strata.diff" | head -n 40 >&2
		return 0
	fi
	((VERIFY_CONTENT)) || return 0
	checksums "$MNT_KOVL" >"$WORK/kovl.md5"
	measure "verify_content:strata" "$MNT_STRATA" to_file "$WORK/strata.md5" checksums "$MNT_STRATA" || return 1
	if ! diff -u "$WORK/kovl.md5" "$WORK/strata.md5" >"$WORK/strata.md5.diff"; then
		MISMATCH="file contents differ from kernel overlayfs ($(grep -c '^+[^+]' "$WORK/strata.md5.diff") files)"
		log "strata file contents differ from kernel overlayfs, first lines:"
		grep '^[-+][^-+]' "$WORK/strata.md5.diff" | head -n 20 >&2
	fi
}
if ((STRATA_OK)); then
	check_strata_tree || STRATA_OK=0
fi
if ((VERIFY_CONTENT)) && [[ ! -f $WORK/kovl.md5 ]]; then
	checksums "$MNT_KOVL" >"$WORK/kovl.md5"
fi
if ((VERIFY_CONTENT)); then
	checksums "$MNT_FOVL" >"$WORK/fovl.md5"
	cmp -s "$WORK/kovl.md5" "$WORK/fovl.md5" || die "fuse-overlayfs and kernel overlayfs file contents differ"
fi
if [[ -n $MISMATCH ]]; then
	note_error "tree:strata" "$MISMATCH"
	((ALLOW_MISMATCH)) || die "strata does not present the same tree as overlayfs: $MISMATCH (--allow-mismatch to time it anyway)"
	log "continuing (--allow-mismatch): strata numbers are for a different tree"
fi
if ((STRATA_OK)) && [[ -z $MISMATCH ]]; then
	log "trees agree: ${INFO[merged_entries]} entries below the root$( ((VERIFY_CONTENT)) && echo ", contents too")"
fi
for fs in "${FSES[@]}"; do do_umount "$fs"; done
# From here on a strata cell is skipped once strata failed at it.
strata_can() { ((STRATA_OK)) && ! failed "$1:strata"; }

# -------------------------------------------------- B. ready from the tars
log "B. ready from tars: $SLOW_RUNS run(s) of cold strata index vs tar -x unpack"
cat -- "${LAYERS[@]}" >/dev/null # source tars in page cache, for all
COLD_CACHE=$WORK/cold-cache
for ((i = 1; i <= SLOW_RUNS; i++)); do
	sync
	measure "gzip_l1:base" "" wl_gzip_l1
	measure "decompress_all:base" "" wl_decompress_all
	if strata_can ready_tar; then
		rm -rf -- "$COLD_CACHE" && mkdir -p "$COLD_CACHE" && sync
		STRATA_CACHE_DIR_OVERRIDE=$COLD_CACHE
		if measure "ready_tar:strata" "$MNT_STRATA" mount_ls strata --reindex; then
			# What was on disk when ls returned (does strata finish work later?).
			INFO[ready_tar_cache_bytes]=$(du -sb -- "$COLD_CACHE" | cut -f1)
		fi
		do_umount strata
	fi
	if strata_can ready_tar_l1; then
		rm -rf -- "$COLD_CACHE" && mkdir -p "$COLD_CACHE" && sync
		STRATA_LAYER_ARGS=(--layer "$LAYER1")
		measure "ready_tar_l1:strata" "$MNT_STRATA" mount_ls strata --reindex || true
		do_umount strata
		STRATA_LAYER_ARGS=(--layer "$LAYER1" --layer "$LAYER2" --layer "$LAYER3")
	fi
	STRATA_CACHE_DIR_OVERRIDE=
	rm -rf -- "$COLD_CACHE" "$WORK/unpack" && sync
	measure "unpack:base" "" wl_unpack_all "$WORK/unpack"
	rm -rf -- "$WORK/unpack"
done
rm -rf -- "$COLD_CACHE"
# The index cache every later strata mount reuses (built in A).
if [[ -d $STRATA_CACHE ]]; then
	INFO[strata_cache_bytes]=$(du -sb -- "$STRATA_CACHE" | cut -f1)
fi

# -------------------------------------------------------- C. ready again
log "C. ready again: $AGAIN_RUNS x mount + ls / per filesystem"
sync
for ((i = 1; i <= AGAIN_RUNS; i++)); do
	for fs in "${FSES[@]}"; do
		[[ $fs == strata ]] && ! strata_can ready_again && continue
		measure "ready_again:$fs" "${MNT_OF[$fs]}" mount_ls "$fs" || true
		do_umount "$fs"
	done
done
if ((COLD)); then
	for ((i = 1; i <= RUNS; i++)); do
		for fs in "${FSES[@]}"; do
			[[ $fs == strata ]] && ! strata_can ready_again_cold && continue
			drop_caches
			measure "ready_again_cold:$fs" "${MNT_OF[$fs]}" mount_ls "$fs" || true
			do_umount "$fs"
		done
	done
fi

# Daemon memory: VmHWM/VmRSS and smaps_rollup totals, as INFO[TAG_FIELD_kb:FS].
rss_probe() { # FS TAG
	local fs=$1 tag=$2 pid k v
	pid=$(daemon_pids "$fs" "${MNT_OF[$fs]}" | head -n 1)
	[[ -n $pid ]] || {
		log "no $fs daemon found for the RSS probe"
		return 0
	}
	INFO[${tag}_pid:$fs]=$pid
	while read -r k v _; do
		case $k in
		VmHWM: | VmRSS:) INFO[${tag}_${k%:}_kb:$fs]=$v ;;
		Threads:) INFO[${tag}_threads:$fs]=$v ;;
		esac
	done <"/proc/$pid/status"
	while read -r k v _; do
		case $k in
		Private_Clean: | Private_Dirty: | Anonymous: | Rss:) INFO[${tag}_${k%:}_kb:$fs]=$v ;;
		esac
	done <"/proc/$pid/smaps_rollup"
}

# ------------------------------------------------------------- D. warm
log "D. warm find and read-all: 1 warm-up + $RUNS runs each"
for fs in "${FSES[@]}"; do
	[[ $fs == strata ]] && ((!STRATA_OK)) && continue
	measure "warm_mount:$fs" "${MNT_OF[$fs]}" mount_ls "$fs" || true
done
for fs in strata fovl; do
	is_mounted "${MNT_OF[$fs]}" && rss_probe "$fs" idle
done
for wl in find readall; do
	for ((i = 0; i <= RUNS; i++)); do
		for fs in "${FSES[@]}"; do
			[[ $fs == strata ]] && ! { strata_can "${wl}_warm" && ! failed warm_mount:strata; } && continue
			if ((i == 0)); then
				measure "${wl}_warmup:$fs" "${MNT_OF[$fs]}" "wl_$wl" "${MNT_OF[$fs]}" ||
					note_error "${wl}_warm:$fs" "warm-up failed: ${ERRS[${wl}_warmup:$fs]}"
			else
				measure "${wl}_warm:$fs" "${MNT_OF[$fs]}" "wl_$wl" "${MNT_OF[$fs]}" || true
			fi
		done
	done
done

# After find + read-all of everything.
for fs in strata fovl; do
	is_mounted "${MNT_OF[$fs]}" && rss_probe "$fs" warm
done
for fs in "${FSES[@]}"; do do_umount "$fs"; done

# ------------------------------------------------------------- E. cold
if ((COLD)); then
	log "E. cold find and read-all: $RUNS runs each, remount + drop_caches before every run"
	for wl in find readall; do
		for ((i = 1; i <= RUNS; i++)); do
			for fs in "${FSES[@]}"; do
				[[ $fs == strata ]] && ! strata_can "${wl}_cold" && continue
				if ! measure "cold_mount:$fs" "${MNT_OF[$fs]}" mount_ls "$fs"; then
					note_error "${wl}_cold:$fs" "mount failed: ${ERRS[cold_mount:$fs]}"
					do_umount "$fs"
					continue
				fi
				drop_caches
				measure "${wl}_cold:$fs" "${MNT_OF[$fs]}" "wl_$wl" "${MNT_OF[$fs]}" || true
				[[ $wl == readall && $i == "$RUNS" && $fs != kovl ]] && rss_probe "$fs" cold
				do_umount "$fs"
			done
		done
	done
fi

cell() { # KEY STAT -> formatted value or FAIL/skip marker
	local v
	if failed "$1"; then
		echo FAIL
		return
	fi
	v=$(stat_of "$1" "$2")
	fmt_us "$v"
}
addsum() { if [[ -n $1 && -n $2 ]]; then echo $(($1 + $2)); fi; }
# A strata cell is FAIL when that workload failed or strata never mounted.
strata_failed() { failed "$1:strata" || ((!STRATA_OK)); }
xfmt() { if [[ -n $1 && $1 != - ]]; then echo "$1$2"; else echo -; fi; }

declare -A V=() # "row:fs" -> microseconds (for ratios and JSON)
ROWS=(ready_tar ready_again ready_again_cold find_warm find_cold readall_warm readall_cold)
declare -A ROW_LABEL=(
	[ready_tar]="ready from tars (3 layers)"
	[ready_again]="ready again (mount + ls /)"
	[ready_again_cold]="ready again, cold page cache"
	[find_warm]="find, warm"
	[find_cold]="find, cold"
	[readall_warm]="read all (tar | cat), warm"
	[readall_cold]="read all (tar | cat), cold"
)
unpack_med=$(stat_of unpack:base median)
for row in "${ROWS[@]}"; do
	for fs in "${FSES[@]}"; do
		failed "$row:$fs" && continue
		if [[ $row == ready_tar && $fs != strata ]]; then
			V[$row:$fs]=$(addsum "$unpack_med" "$(stat_of "ready_again:$fs" median)")
		else
			V[$row:$fs]=$(stat_of "$row:$fs" median)
			V[$row:$fs:best]=$(stat_of "$row:$fs" best)
		fi
	done
done

mib() {
	if [[ -n $1 ]]; then awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; else echo "-"; fi
}
priv_kb() { # TAG FS
	local c=${INFO[${1}_Private_Clean_kb:$2]:-} d=${INFO[${1}_Private_Dirty_kb:$2]:-}
	if [[ -n $c && -n $d ]]; then echo $((c + d)); fi
}
per_entry() {
	if [[ -n $1 ]]; then awk -v k="$1" -v n="$LOWER_ENTRIES" 'BEGIN { printf "%.0f", k * 1024 / n }'; fi
}

INFO[loadavg_end]=$(cut -d' ' -f1 /proc/loadavg)
REPORT=$WORK/report.txt
{
	printf '\nstrata bench  %s  kernel %s  %s cores  load average %s at start, %s at end\n' \
		"$(date -u +%FT%TZ)" "$(uname -r)" "$(nproc)" "${INFO[loadavg_start]}" "${INFO[loadavg_end]}"
	printf 'image: %s lower entries (layer 1 %s, layer 2 %s, layer 3 %s), %s merged; strata %s\n' \
		"$LOWER_ENTRIES" "$(stamp_get layer1_entries)" "$(stamp_get layer2_entries)" \
		"$(stamp_get layer3_entries)" "${INFO[merged_entries]}" "${INFO[strata_sha256]:0:12}"
	[[ -n ${INFO[strata_cache_bytes]:-} ]] &&
		printf 'strata cache dir (indexes + decompressed copies): %s\n' "$(mib $((INFO[strata_cache_bytes] / 1024)))"
	printf 'medians of %s runs (ready from tars: %s, ready again: %s)%s\n\n' "$RUNS" "$SLOW_RUNS" "$AGAIN_RUNS" \
		"$( ((COLD)) || echo "; cold skipped: $COLD_WHY")"
	printf '%-32s %12s %16s %14s %11s %11s\n' workload strata "kernel overlayfs" fuse-overlayfs strata/kovl strata/fovl
	for row in "${ROWS[@]}"; do
		[[ $row == *cold && $COLD == 0 ]] && continue
		printf '%-32s' "${ROW_LABEL[$row]}"
		for fs in "${FSES[@]}"; do
			if failed "$row:$fs" || { [[ $fs == strata ]] && strata_failed "$row"; }; then
				v=FAIL
			else
				v=$(fmt_us "${V[$row:$fs]:-}")
			fi
			case $fs in strata) printf ' %12s' "$v" ;; kovl) printf ' %16s' "$v" ;; fovl) printf ' %14s' "$v" ;; esac
		done
		printf ' %11s %11s\n' "$(ratio "${V[$row:strata]:-}" "${V[$row:kovl]:-}")" \
			"$(ratio "${V[$row:strata]:-}" "${V[$row:fovl]:-}")"
		if [[ $row == ready_tar ]]; then
			printf '%-32s %12s %16s %14s\n' "  of which tar -x unpack" - "$(fmt_us "$unpack_med")" "$(fmt_us "$unpack_med")"
			printf '%-32s %12s %16s %14s\n' "  of which mount + ls /" - \
				"$(cell ready_again:kovl median)" "$(cell ready_again:fovl median)"
		fi
		if [[ $row == find_* || $row == readall_* ]]; then
			printf '%-32s %12s %16s %14s %11s %11s\n' "  best" "$(fmt_us "${V[$row:strata:best]:-}")" \
				"$(fmt_us "${V[$row:kovl:best]:-}")" "$(fmt_us "${V[$row:fovl:best]:-}")" \
				"$(ratio "${V[$row:strata:best]:-}" "${V[$row:kovl:best]:-}")" \
				"$(ratio "${V[$row:strata:best]:-}" "${V[$row:fovl:best]:-}")"
		fi
	done
	s_hwm=${INFO[warm_VmHWM_kb:strata]:-} f_hwm=${INFO[warm_VmHWM_kb:fovl]:-}
	s_priv=$(priv_kb warm strata) f_priv=$(priv_kb warm fovl)
	printf '%-32s %12s %16s %14s %11s %11s\n' "daemon peak RSS (VmHWM)" "$(mib "$s_hwm")" - "$(mib "$f_hwm")" - "$(ratio "$s_hwm" "$f_hwm")"
	printf '%-32s %12s %16s %14s %11s %11s\n' "daemon private RSS" "$(mib "$s_priv")" - "$(mib "$f_priv")" - "$(ratio "$s_priv" "$f_priv")"
	printf '%-32s %12s %16s %14s\n' "  per lower entry" "$(per_entry "$s_priv")${s_priv:+ B}" - "$(per_entry "$f_priv")${f_priv:+ B}"
	printf '%-32s %12s %16s %14s\n' "  of which Private_Clean" "$(mib "${INFO[warm_Private_Clean_kb:strata]:-}")" - \
		"$(mib "${INFO[warm_Private_Clean_kb:fovl]:-}")"
	printf '%-32s %12s %16s %14s\n' "  right after mount (idle)" "$(mib "$(priv_kb idle strata)")" - "$(mib "$(priv_kb idle fovl)")"
	s_anon=${INFO[warm_Anonymous_kb:strata]:-} f_anon=${INFO[warm_Anonymous_kb:fovl]:-}
	s_anon_idle=${INFO[idle_Anonymous_kb:strata]:-}
	s_anon_grow=
	[[ -n $s_anon && -n $s_anon_idle ]] && s_anon_grow=$((s_anon - s_anon_idle))
	printf '%-32s %12s %16s %14s %11s %11s\n' "daemon anonymous RSS" "$(mib "$s_anon")" - "$(mib "$f_anon")" - "$(ratio "$s_anon" "$f_anon")"
	printf '%-32s %12s %16s %14s\n' "  per lower entry" "$(per_entry "$s_anon")${s_anon:+ B}" - "$(per_entry "$f_anon")${f_anon:+ B}"
	printf '%-32s %12s %16s %14s\n' "  beyond idle, per lower entry" "$(per_entry "$s_anon_grow")${s_anon_grow:+ B}" - -
	printf '%-32s %12s %16s %14s\n' "daemon threads (idle / after)" \
		"${INFO[idle_threads:strata]:--} / ${INFO[warm_threads:strata]:--}" - \
		"${INFO[idle_threads:fovl]:--} / ${INFO[warm_threads:fovl]:--}"
	if ((COLD)) && [[ -n ${INFO[cold_VmHWM_kb:strata]:-}${INFO[cold_VmHWM_kb:fovl]:-} ]]; then
		printf '%-32s %12s %16s %14s\n' "  after one cold read-all: HWM" "$(mib "${INFO[cold_VmHWM_kb:strata]:-}")" - "$(mib "${INFO[cold_VmHWM_kb:fovl]:-}")"
	fi

	gz=$(stat_of gzip_l1:base median)
	dall=$(stat_of decompress_all:base median)
	s1=$(stat_of ready_tar_l1:strata median)
	printf '\nbaselines: gzip -dc layer 1: %s; decompress all 3 layers: %s;\n' "$(fmt_us "$gz")" "$(fmt_us "$dall")"
	s1_cell=$(cell ready_tar_l1:strata median)
	((STRATA_OK)) || s1_cell=FAIL
	printf '           strata ready from layer 1 alone: %s; strata 3 layers / decompress all: %s\n' \
		"$s1_cell" "$(ratio "${V[ready_tar:strata]:-}" "$dall")"
	if [[ -n ${INFO[ready_tar_cache_bytes]:-} ]]; then
		printf '           strata cache dir when the cold ls returned: %s (finally %s)\n' \
			"$(mib $((INFO[ready_tar_cache_bytes] / 1024)))" "$(mib $((${INFO[strata_cache_bytes]:-0} / 1024)))"
	fi

	printf '\nDESIGN budgets:\n'
	BUDGET_MISSED=0
	budget() { # LABEL VALUE LIMIT SHOWN STRATA-ROW
		local verdict
		if strata_failed "$5"; then
			verdict="FAIL (strata failed)"
			BUDGET_MISSED=$((BUDGET_MISSED + 1))
		elif [[ -z $2 || $2 == - ]]; then
			verdict="n/a"
		elif awk -v v="$2" -v l="$3" 'BEGIN { exit !(v <= l) }'; then
			verdict=ok
		else
			verdict=MISSED
			BUDGET_MISSED=$((BUDGET_MISSED + 1))
		fi
		[[ -n $MISMATCH && $verdict != FAIL* ]] && verdict+=" (but strata's tree differs)"
		printf '  %-48s %-22s %s\n' "$1" "${4:--}" "$verdict"
		BUDGETS+=("$1|${2:-}|$3|$verdict")
	}
	BUDGETS=()
	r=$(ratio "$s1" "$gz")
	budget "ready from tar.gz <= 1.3x gzip -dc (layer 1)" "$r" 1.3 "$(xfmt "$r" x)" ready_tar_l1
	ra=${V[ready_again:strata]:-}
	budget "ready again < 50 ms" "$(awk -v u="${ra:-}" 'BEGIN { if (u != "") print u / 1000 }')" 49.999 "$(fmt_us "$ra")" ready_again
	for b in "find_warm 1.1 warm find <= 1.1x kernel overlayfs" "find_cold 1.5 cold find <= 1.5x kernel overlayfs" \
		"readall_warm 1.3 warm read-all <= 1.3x kernel overlayfs" "readall_cold 1.2 cold read-all <= 1.2x kernel overlayfs"; do
		read -r row lim text <<<"$b"
		r=$(ratio "${V[$row:strata]:-}" "${V[$row:kovl]:-}")
		[[ $row == *cold && $COLD == 0 ]] && r=-
		budget "$text" "$r" "$lim" "$(xfmt "$r" x)" "$row"
	done
	# The budget is memory that grows with the image: anonymous memory the
	# daemon gained after mounting (inodes, listings, buffers).  File-backed
	# private pages are the mmapped indexes, i.e. page cache; the idle
	# daemon's ~1 MiB of library relocations does not scale with entries.
	pe=$(per_entry "$s_anon_grow")
	budget "daemon <= 150 B per lower entry (anon, beyond idle)" "${pe:-}" 150 "$(xfmt "$pe" " B")" readall_warm

	if ((${#ERRS[@]})); then
		printf '\nfailures:\n'
		for k in $(printf '%s\n' "${!ERRS[@]}" | sort); do
			printf '  %s: %s\n' "$k" "${ERRS[$k]}"
		done
	fi
} >"$REPORT"

mkdir -p "$RESULTS_DIR"
RESULT_JSON=$RESULTS_DIR/run-$(date -u +%Y%m%dT%H%M%SZ).json
{
	printf '{\n  "date": %s,\n  "kernel": %s,\n  "cores": %s,\n' "$(json_str "$(date -u +%FT%TZ)")" \
		"$(json_str "$(uname -r)")" "$(nproc)"
	printf '  "loadavg_start": %s,\n  "loadavg_end": %s,\n' "${INFO[loadavg_start]}" "${INFO[loadavg_end]}"
	printf '  "strata": {"path": %s, "sha256": %s, "git": %s},\n' "$(json_str "$STRATA")" \
		"$(json_str "${INFO[strata_sha256]}")" "$(json_str "${INFO[strata_git]}")"
	printf '  "fuse_overlayfs_version": %s,\n' "$(json_str "${INFO[fovl_version]}")"
	printf '  "image": {"lower_entries": %s, "merged_entries": %s' "$LOWER_ENTRIES" "${INFO[merged_entries]}"
	for k in layer1_entries layer2_entries layer3_entries layer1_bytes layer2_bytes layer3_bytes \
		layer1_tar_bytes layer2_tar_bytes layer3_tar_bytes; do
		printf ', "%s": %s' "$k" "$(json_num "$(stamp_get "$k")")"
	done
	printf '},\n  "settings": {"runs": %s, "slow_runs": %s, "again_runs": %s, "cold": %s, "cold_skipped_why": %s, "verify_content": %s},\n' \
		"$RUNS" "$SLOW_RUNS" "$AGAIN_RUNS" "$( ((COLD)) && echo true || echo false)" \
		"$(json_str "$COLD_WHY")" "$( ((VERIFY_CONTENT)) && echo true || echo false)"
	printf '  "runs_us": {'
	sep=
	for k in $(printf '%s\n' "${!RUNS_US[@]}" | sort); do
		runs=${RUNS_US[$k]% }
		printf '%s\n    %s: {"runs": [%s], "best": %s, "median": %s}' "$sep" "$(json_str "$k")" "${runs// /, }" \
			"$(stat_of "$k" best)" "$(stat_of "$k" median)"
		sep=,
	done
	printf '\n  },\n  "table_us": {'
	sep=
	for row in "${ROWS[@]}"; do
		printf '%s\n    "%s": {"strata": %s, "kovl": %s, "fovl": %s, "strata_over_kovl": %s, "strata_over_fovl": %s}' \
			"$sep" "$row" "$(json_num "${V[$row:strata]:-}")" "$(json_num "${V[$row:kovl]:-}")" \
			"$(json_num "${V[$row:fovl]:-}")" \
			"$(json_num "$(ratio "${V[$row:strata]:-}" "${V[$row:kovl]:-}" | sed 's/^-$//')")" \
			"$(json_num "$(ratio "${V[$row:strata]:-}" "${V[$row:fovl]:-}" | sed 's/^-$//')")"
		sep=,
	done
	printf '\n  },\n  "memory": {'
	sep=
	for k in $(printf '%s\n' "${!INFO[@]}" | grep -E '_(kb|threads):' | sort); do
		printf '%s\n    %s: %s' "$sep" "$(json_str "$k")" "${INFO[$k]}"
		sep=,
	done
	printf '\n  },\n  "strata_private_bytes_per_lower_entry": %s,\n' "$(json_num "$(per_entry "$s_priv")")"
	printf '  "strata_cache_bytes": %s,\n' "$(json_num "${INFO[strata_cache_bytes]:-}")"
	printf '  "strata_cache_bytes_when_cold_ls_returned": %s,\n' "$(json_num "${INFO[ready_tar_cache_bytes]:-}")"
	printf '  "budgets": ['
	sep=
	for b in "${BUDGETS[@]}"; do
		IFS='|' read -r text val lim verdict <<<"$b"
		[[ $val == - ]] && val=''
		printf '%s\n    {"budget": %s, "value": %s, "limit": %s, "verdict": %s}' "$sep" "$(json_str "$text")" \
			"$(json_num "$val")" "$lim" "$(json_str "$verdict")"
		sep=,
	done
	printf '\n  ],\n  "failures": {'
	sep=
	for k in $(printf '%s\n' "${!ERRS[@]}" | sort); do
		printf '%s\n    %s: %s' "$sep" "$(json_str "$k")" "$(json_str "${ERRS[$k]}")"
		sep=,
	done
	printf '\n  }\n}\n'
} >"$RESULT_JSON"
cp -- "$REPORT" "${RESULT_JSON%.json}.txt"
ln -sfn -- "$(basename -- "$RESULT_JSON")" "$RESULTS_DIR/latest.json"
ln -sfn -- "$(basename -- "${RESULT_JSON%.json}.txt")" "$RESULTS_DIR/latest.txt"

cat -- "$REPORT"
printf '\nresults: %s\n' "$RESULT_JSON"

((STRATA_FAILED)) && exit 3
((STRICT && BUDGET_MISSED)) && exit 4
exit 0
