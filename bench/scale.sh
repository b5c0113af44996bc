#!/usr/bin/env bash
# strata at 10k, 100k and 1M entries against kernel erofs, squashfuse and
# kernel overlayfs (issue 16; bench/README.md says what every number means).
#
#   bench/scale.sh [options]
#     --sizes LIST       comma-separated, of 10k 100k 1m (default all three)
#     --strata PATH      strata binary (default: build/tools/strata)
#     --runs N           cold runs per workload and filesystem (default 3)
#     --build-runs N     index builds per layer format (default 2)
#     --again-runs N     runs of "ready again" (default 10)
#     --warm-runs N      runs of warm ls -l (default 10)
#     --slow-runs N      cold runs of squashfuse's and kernel overlayfs' stat
#                        walks (find -printf, lstat) at 1m (default 1)
#     --quick            --runs 1 --build-runs 1 --again-runs 3 --warm-runs 3
#     --rebuild          generate the cached layers and images again
#     --generate-only    make the cached layers and images, measure nothing
#     --timeout S        one operation taking longer fails (default 300)
#     --strict           exit 4 if a budget is missed (at the largest size)
#
# Exit status: 0 done; 1 setup error; 3 a strata operation failed or gave a
# wrong count; 4 a budget missed under --strict.

# Many functions below only run through measure/trap.
# shellcheck disable=SC2317
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=bench/harness.sh
. "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

STRATA=$REPO_DIR/build/tools/strata
SIZES=10k,100k,1m RUNS=3 BUILD_RUNS=2 AGAIN_RUNS=10 WARM_RUNS=10 REBUILD=0 GEN_ONLY=0
OP_TIMEOUT=300 STRICT=0 SLOW_RUNS=1
SCALE_VERSION=1 # bump when what scale-gen.py or the images hold changes

while (($#)); do
	case $1 in
	--sizes) SIZES=$2 && shift ;;
	--strata) STRATA=$2 && shift ;;
	--runs) RUNS=$2 && shift ;;
	--build-runs) BUILD_RUNS=$2 && shift ;;
	--again-runs) AGAIN_RUNS=$2 && shift ;;
	--warm-runs) WARM_RUNS=$2 && shift ;;
	--slow-runs) SLOW_RUNS=$2 && shift ;;
	--quick) RUNS=1 SLOW_RUNS=1 BUILD_RUNS=1 AGAIN_RUNS=3 WARM_RUNS=3 ;;
	--rebuild) REBUILD=1 ;;
	--generate-only) GEN_ONLY=1 ;;
	--timeout) OP_TIMEOUT=$2 && shift ;;
	--strict) STRICT=1 ;;
	-h | --help)
		sed -n '2,21p' "$0"
		exit 0
		;;
	*)
		printf 'scale.sh: unknown argument: %s (see --help)\n' "$1" >&2
		exit 2
		;;
	esac
	shift
done
for n in "$RUNS" "$BUILD_RUNS" "$AGAIN_RUNS" "$WARM_RUNS" "$OP_TIMEOUT" "$SLOW_RUNS"; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || die "not a positive number: $n"
done
# Directories x files per directory for each size.
declare -A DIRS_OF=([10k]=100 [100k]=316 [1m]=1000)
IFS=, read -r -a SIZE_LIST <<<"$SIZES"
for s in "${SIZE_LIST[@]}"; do
	[[ -n ${DIRS_OF[$s]:-} ]] || die "--sizes: $s is not one of 10k 100k 1m"
done

need_root
need_cmds tar gzip zstd python3 cc mkfs.erofs mksquashfs squashfuse fusermount3 mount umount \
	find awk ps stat sha256sum /usr/bin/time ls wc
[[ -x $STRATA ]] || die "no strata binary at $STRATA (build it: meson setup build && ninja -C build)"
STRATA=$(readlink -f "$STRATA")
SCALE_CACHE=$CACHE_DIR/scale

# ------------------------------------------------------------ generation
# gen_size SIZE: bench/cache/scale/SIZE/{layer.tar,.tar.gz,.tar.zst,paths,
# tree/,erofs.img,squashfs.img}, made once; stamp written last.
gen_size() {
	local size=$1 d=$SCALE_CACHE/$1 n=${DIRS_OF[$1]} t0 gen
	if [[ -f $d/stamp ]] && ((!REBUILD)) && grep -qx "version=$SCALE_VERSION" "$d/stamp"; then
		return 0
	fi
	log "generating the $size layer ($n dirs x $n files) in $d"
	rm -rf -- "$d" && mkdir -p "$d/tree" "$d/empty"
	t0=$SECONDS
	python3 "$BENCH_DIR/scale-gen.py" "$n" "$n" "$d/layer.tar" "$d/paths" || die "scale-gen.py failed"
	# The compressors and the unpack run side by side (two cores).
	gzip -6 -n -c "$d/layer.tar" >"$d/layer.tar.gz" &
	local p1=$!
	zstd -3 -q -c "$d/layer.tar" >"$d/layer.tar.zst" &
	local p2=$!
	tar --numeric-owner --same-owner --same-permissions -xf "$d/layer.tar" -C "$d/tree" ||
		die "tar -x of the $size layer failed"
	wait "$p1" || die "gzip of the $size layer failed"
	wait "$p2" || die "zstd of the $size layer failed"
	mkfs.erofs "$d/erofs.img" "$d/tree" >"$d/mkfs.erofs.log" 2>&1 || die "mkfs.erofs failed: $(tail -n 3 "$d/mkfs.erofs.log")"
	rm -f -- "$d/mkfs.erofs.log" # a line per file
	mksquashfs "$d/tree" "$d/squashfs.img" -noappend -no-progress -quiet -processors "$(nproc)" ||
		die "mksquashfs failed"
	sync
	gen=$((SECONDS - t0))
	{
		echo "version=$SCALE_VERSION"
		echo "dirs=$n"
		echo "files=$((n * n))"
		echo "entries=$((n * n + n))"
		for f in layer.tar layer.tar.gz layer.tar.zst erofs.img squashfs.img; do
			echo "bytes_${f//./_}=$(stat -c %s "$d/$f")"
		done
		echo "generate_s=$gen"
	} >"$d/stamp.tmp"
	mv "$d/stamp.tmp" "$d/stamp"
	log "generated $size in ${gen}s"
}
for s in "${SIZE_LIST[@]}"; do gen_size "$s"; done
((!GEN_ONLY)) || exit 0
stamp_of() { sed -n "s/^$2=//p" "$SCALE_CACHE/$1/stamp"; }

# ------------------------------------------------------------------ state
MAINPID=$$
WORK=$(mktemp -d "$CACHE_DIR/scale.XXXXXX")
ERRF=$WORK/op.err
declare -A MNT_KIND=() # mountpoint -> fs, while (maybe) mounted
declare -A RUNS_US=()  # "size:workload:fs" -> "us us ..."
declare -A ERRS=()     # "size:workload:fs" -> first failure
declare -A INFO=()     # other numbers: cpu, rss, bytes
STRATA_FAILED=0
WD_PID='' WD_SEQ=0
mkdir -p "$WORK/bin" "$WORK/mnt"
cp -- "$STRATA" "$WORK/bin/strata"
STRATA_BIN=$WORK/bin/strata
SQFUSE_BIN=$(readlink -f "$(command -v squashfuse)")
cc -O2 -Wall -Wextra -o "$WORK/bin/lstatall" "$BENCH_DIR/lstatall.c" || die "cc $BENCH_DIR/lstatall.c failed"
mkfifo "$WORK/watchdog.fifo"
exec 4<>"$WORK/watchdog.fifo"
FSES=(strata erofs sqfuse kovl)
declare -A MNT_OF=() FS_LABEL=([strata]=strata [erofs]=erofs [sqfuse]=squashfuse [kovl]="kernel overlayfs" [ext4]=ext4)
for fs in "${FSES[@]}"; do
	MNT_OF[$fs]=$WORK/mnt/$fs
	mkdir -p "${MNT_OF[$fs]}"
done
SIZE='' D='' LSDIR='' # the size being measured and its data directory

note_error() { # KEY MSG
	[[ -n ${ERRS[$1]:-} ]] || ERRS[$1]=$2
	[[ $1 == *:strata ]] && STRATA_FAILED=1
	log "FAILED $1: $2"
}
failed() { [[ -n ${ERRS[$1]:-} ]]; }

# ----------------------------------------------------------------- mounts
# strata serves the .tar.gz (as images are pulled), from the index cache
# its gz build left in $WORK/cache-gz.
do_mount() { # FS
	local fs=$1 mnt=${MNT_OF[$1]}
	MNT_KIND[$mnt]=$fs
	case $fs in
	strata) "$STRATA_BIN" mount --cache-dir "$WORK/cache-gz" --layer "$D/layer.tar.gz" "$mnt" ;;
	erofs) mount -t erofs -o ro,loop "$D/erofs.img" "$mnt" ;;
	sqfuse) squashfuse "$D/squashfs.img" "$mnt" ;;
	# overlayfs needs two lowerdirs without an upper: an empty one below.
	kovl) mount -t overlay overlay -o "ro,lowerdir=$D/tree:$D/empty" "$mnt" ;;
	esac
}
mount_ls() { do_mount "$1" && ls -- "${MNT_OF[$1]}" >/dev/null; }

daemon_pid() { # FS
	case $1 in
	strata) pids_of "$STRATA_BIN" | head -n 1 ;;
	sqfuse) pids_of "$SQFUSE_BIN" "${MNT_OF[sqfuse]}" | head -n 1 ;;
	esac
}

do_umount() { # FS
	local fs=$1 mnt=${MNT_OF[$1]} i pid
	pid=$(daemon_pid "$fs")
	if is_mounted "$mnt"; then
		case $fs in
		strata) timeout 30 "$STRATA_BIN" umount "$mnt" >>"$WORK/umount.log" 2>&1 ||
			{ log "strata umount $mnt failed: $(tail -n 3 "$WORK/umount.log")" && fusermount3 -u -- "$mnt" 2>/dev/null; } || true ;;
		sqfuse) timeout 30 fusermount3 -u -- "$mnt" || true ;;
		*) umount -- "$mnt" || true ;;
		esac
		if is_mounted "$mnt"; then
			fuse_abort "$mnt"
			umount -l -- "$mnt" 2>/dev/null || true
		fi
	fi
	unset "MNT_KIND[$mnt]"
	[[ -n $pid ]] || return 0
	for ((i = 0; i < 500; i++)); do
		[[ -d /proc/$pid ]] || return 0
		sleep 0.02
	done
	log "$fs daemon $pid still alive 10 s after umount; killing it"
	[[ $fs == strata ]] && note_error "$SIZE:umount:strata" "daemon (pid $pid) did not exit within 10 s of umount"
	kill -KILL "$pid" 2>/dev/null || true
}

scale_cleanup() {
	local rc=$? fs p
	trap - EXIT INT TERM
	set +e
	[[ -n $WD_PID ]] && kill "$WD_PID" 2>/dev/null
	for fs in "${FSES[@]}"; do
		if [[ -n ${MNT_KIND[${MNT_OF[$fs]}]:-} ]] || is_mounted "${MNT_OF[$fs]}"; then
			do_umount "$fs"
		fi
	done
	for p in $(pids_of "$STRATA_BIN") $(pids_of "$SQFUSE_BIN" "${MNT_OF[sqfuse]}"); do
		kill -KILL "$p" 2>/dev/null
	done
	exec 4>&-
	((FUSECTL_MOUNTED)) && umount /sys/fs/fuse/connections
	if grep -qF -- "$WORK/mnt/" /proc/self/mountinfo; then
		log "WARNING: something is still mounted under $WORK/mnt; leaving $WORK"
	else
		rm -rf -- "$WORK"
	fi
	exit "$rc"
}
trap scale_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ----------------------------------------------------------------- timing
# measure KEY MNT CMD...: one timed run (stdout+stderr into ERRF), under the
# watchdog; microseconds under KEY, or the failure.
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

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# Workloads; each prints a count that is checked against the layer.
wl_find() { find "$1" | wc -l; }
wl_printf() { find "$1" -printf '%s %m %p\n' | wc -l; }
wl_lstat() { "$WORK/bin/lstatall" "$1" "$D/paths" | cut -d' ' -f1; }
# shellcheck disable=SC2012 # ls -l is the workload
wl_lsl() { ls -l -- "$1/$LSDIR" | wc -l; }
# count expected of a workload's output
expect_of() {
	local e=$(($(stamp_of "$SIZE" entries)))
	case $1 in
	find | printf) echo $((e + 1)) ;; # the root too
	lstat) echo "$e" ;;
	lsl) echo $(($(stamp_of "$SIZE" dirs) + 1)) ;; # the "total" line
	esac
}
check_count() { # KEY WL
	local got want
	got=$(tr -d ' \n' <"$ERRF") want=$(expect_of "$2")
	[[ $got == "$want" ]] || note_error "$1" "counted $got entries, expected $want"
}

rss_probe() { # FS TAG: VmRSS, VmHWM and RssAnon (kB) of the daemon
	local pid k v
	pid=$(daemon_pid "$1")
	[[ -n $pid ]] || return 0
	while read -r k v _; do
		case $k in
		VmRSS: | VmHWM: | RssAnon: | RssFile:) INFO[$SIZE:rss_${2}_${k%:}_kb:$1]=$v ;;
		esac
	done <"/proc/$pid/status"
}

# timed_cpu KEY CMD...: measure, plus user+sys seconds and max RSS (kB)
# of CMD from /usr/bin/time.
timed_cpu() {
	local key=$1 u s m
	shift
	measure "$key" "" /usr/bin/time -f '%U %S %M' -o "$WORK/time.out" "$@" || return 1
	read -r u s m <"$WORK/time.out"
	INFO[$key:cpu_s]+="$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }') "
	INFO[$key:maxrss_kb]+="$m "
}
to_null() { "$@" >/dev/null; }
decompress_of() { # FMT FILE
	case $1 in
	gz) gzip -dc "$2" >/dev/null ;;
	zst) zstd -dcq "$2" >/dev/null ;;
	tar) cat "$2" >/dev/null ;;
	esac
}

# ------------------------------------------------------------- one size
phase_build() { # B. strata index builds against decompression alone
	local i fmt f
	log "$SIZE: index build, $BUILD_RUNS run(s) per format, vs decompression"
	cat -- "$D"/layer.tar* >/dev/null # sources in the page cache, for all
	for ((i = 1; i <= BUILD_RUNS; i++)); do
		for fmt in tar gz zst; do
			f=$D/layer.tar
			[[ $fmt == tar ]] || f+=.$fmt
			sync
			timed_cpu "$SIZE:decompress_$fmt:base" sh -c "$(declare -f decompress_of); decompress_of $fmt \"\$1\"" _ "$f" || true
			rm -rf -- "$WORK/cache-$fmt" && mkdir -p "$WORK/cache-$fmt" && sync
			timed_cpu "$SIZE:build_$fmt:strata" "$STRATA_BIN" index --cache-dir "$WORK/cache-$fmt" "$f" || true
		done
	done
	for fmt in tar gz zst; do
		INFO[$SIZE:index_bytes_$fmt]=$(find "$WORK/cache-$fmt" -name '*.idx' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
		INFO[$SIZE:cache_bytes_$fmt]=$(du -sb -- "$WORK/cache-$fmt" | cut -f1)
		[[ $fmt == gz ]] || rm -rf -- "$WORK/cache-$fmt"
	done
}

phase_again() { # C. mount with the index cached (images in page cache) + ls
	local i fs
	log "$SIZE: ready again, $AGAIN_RUNS x mount + ls per filesystem"
	sync
	for ((i = 1; i <= AGAIN_RUNS; i++)); do
		for fs in "${FSES[@]}"; do
			[[ $fs == strata ]] && failed "$SIZE:build_gz:strata" && continue
			measure "$SIZE:again:$fs" "${MNT_OF[$fs]}" mount_ls "$fs" || true
			do_umount "$fs"
		done
	done
}

# At 1M, squashfuse's stat walks take a minute each and kernel overlayfs'
# 15-25 s, and erofs is the anchor of those rows: they run --slow-runs times.
slow_runs() { if [[ $SIZE == 1m ]]; then echo "$SLOW_RUNS"; else echo "$RUNS"; fi; }

phase_cold() { # D. cold walks: mount, drop_caches, walk, (probe), umount
	local wl i fs key nr
	for wl in find printf lstat; do
		log "$SIZE: cold $wl, $RUNS run(s) per filesystem"
		for ((i = 1; i <= RUNS; i++)); do
			for fs in "${FSES[@]}"; do
				key=$SIZE:$wl:$fs nr=$RUNS
				[[ $fs == sqfuse || $fs == kovl ]] && [[ $wl != find ]] && nr=$(slow_runs)
				((i <= nr)) || continue
				[[ $fs == strata ]] && failed "$SIZE:build_gz:strata" && continue
				if ! do_mount "$fs" >"$ERRF" 2>&1; then
					note_error "$key" "mount failed: $(head -c 500 "$ERRF")"
					do_umount "$fs"
					continue
				fi
				drop_caches
				measure "$key" "${MNT_OF[$fs]}" "wl_$wl" "${MNT_OF[$fs]}" && check_count "$key" "$wl"
				((i == nr)) && rss_probe "$fs" "$wl"
				do_umount "$fs"
			done
		done
	done
}

phase_lsl() { # E. warm ls -l of one directory, strata vs ext4 (and the rest)
	local i fs mnt
	log "$SIZE: warm ls -l of a $(stamp_of "$SIZE" dirs)-entry directory, $WARM_RUNS runs"
	for fs in "${FSES[@]}"; do
		[[ $fs == strata ]] && failed "$SIZE:build_gz:strata" && continue
		mount_ls "$fs" >"$ERRF" 2>&1 || note_error "$SIZE:lsl:$fs" "mount failed: $(head -c 500 "$ERRF")"
	done
	for ((i = 0; i <= WARM_RUNS; i++)); do
		for fs in "${FSES[@]}" ext4; do
			failed "$SIZE:lsl:$fs" && continue
			[[ $fs == strata ]] && failed "$SIZE:build_gz:strata" && continue
			mnt=${MNT_OF[$fs]:-$D/tree}
			if ((i == 0)); then # warm-up, not counted
				measure "$SIZE:lsl_warmup:$fs" "$mnt" wl_lsl "$mnt" && check_count "$SIZE:lsl:$fs" lsl
			else
				measure "$SIZE:lsl:$fs" "$mnt" wl_lsl "$mnt" || true
			fi
		done
	done
	for fs in "${FSES[@]}"; do do_umount "$fs"; done
}

# ---------------------------------------------------------------- start
mount_fusectl
INFO[strata_sha256]=$(sha256sum <"$STRATA" | cut -d' ' -f1)
INFO[strata_git]=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo none)
INFO[loadavg_start]=$(cut -d' ' -f1 /proc/loadavg)
log "strata: $STRATA (${INFO[strata_sha256]:0:12}); sizes ${SIZE_LIST[*]}; load average ${INFO[loadavg_start]}"
awk -v l="${INFO[loadavg_start]}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 4) }' &&
	log "note: load average ${INFO[loadavg_start]} on $(nproc) cores: something else is running, numbers will be noisy"
drop_caches || die "cannot write /proc/sys/vm/drop_caches (the cold rows need it)"
MEASURE_T0=$SECONDS
for SIZE in "${SIZE_LIST[@]}"; do
	D=$SCALE_CACHE/$SIZE
	LSDIR=$(head -n 1 "$D/paths")
	phase_build
	phase_again
	phase_cold
	phase_lsl
done
INFO[measure_s]=$((SECONDS - MEASURE_T0))
INFO[loadavg_end]=$(cut -d' ' -f1 /proc/loadavg)

# ---------------------------------------------------------------- report
med() { tr ' ' '\n' <<<"${1:-}" | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# cell KEY: formatted median, or FAIL
cell() { if failed "$1"; then echo FAIL; else fmt_us "$(stat_of "$1" median)"; fi; }
mb() { if [[ -n $1 ]]; then awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; else echo -; fi; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; } # FORMAT EXPR (empty on missing input is the caller's job)
have() { for v; do [[ -n $v && $v != - ]] || return 1; done; }

declare -A BEST=() BESTFS=() # "size:wl" -> best anchor median (us) and its name
best_anchor() { # WL ANCHORS...
	local wl=$1 fs v b='' bf=''
	shift
	for fs; do
		failed "$SIZE:$wl:$fs" && continue
		v=$(stat_of "$SIZE:$wl:$fs" median)
		[[ -n $v ]] || continue
		if [[ -z $b ]] || ((v < b)); then b=$v bf=$fs; fi
	done
	BEST[$SIZE:$wl]=$b BESTFS[$SIZE:$wl]=$bf
}

BUDGETS=() # "size|label|value|limit|shown|verdict"
BUDGET_MISSED=0
budget() { # LABEL VALUE LIMIT SHOWN FAILED(0/1)
	local verdict
	if (($5)); then
		verdict=FAIL
	elif ! have "$2"; then
		verdict=n/a
	elif awk -v v="$2" -v l="$3" 'BEGIN { exit !(v <= l) }'; then
		verdict=met
	else
		verdict=missed
	fi
	[[ $verdict == met || $verdict == n/a ]] || { [[ $SIZE == "${SIZE_LIST[-1]}" ]] && BUDGET_MISSED=$((BUDGET_MISSED + 1)); }
	BUDGETS+=("$SIZE|$1|${2:-}|$3|$4|$verdict")
}
sfail() { failed "$SIZE:$1:strata" && echo 1 || echo 0; }

report_size() {
	local e=$(($(stamp_of "$SIZE" entries))) n wl fs row v r
	n=$(stamp_of "$SIZE" dirs)
	printf '\n== %s: %s entries (%s dirs x %s files of 100-511 bytes); tar %s, gz %s, zst %s; erofs image %s, squashfs %s\n' \
		"$SIZE" "$e" "$n" "$n" "$(mb "$(stamp_of "$SIZE" bytes_layer_tar)")" "$(mb "$(stamp_of "$SIZE" bytes_layer_tar_gz)")" \
		"$(mb "$(stamp_of "$SIZE" bytes_layer_tar_zst)")" "$(mb "$(stamp_of "$SIZE" bytes_erofs_img)")" \
		"$(mb "$(stamp_of "$SIZE" bytes_squashfs_img)")"
	printf '%-30s %10s %10s %10s %10s %10s  %-26s %8s\n' "medians" strata erofs squashfuse "kernel ovl" ext4 "best anchor" ratio
	for row in "find cold find | wc -l" "printf cold find -printf '%s %m %p'" "lstat cold lstat of every path" \
		"again ready again (mount + ls)" "lsl warm ls -l, $n-entry dir"; do
		wl=${row%% *}
		if [[ $wl == lsl ]]; then best_anchor "$wl" ext4; else best_anchor "$wl" erofs sqfuse kovl; fi
		printf '%-30s' "${row#* }"
		for fs in strata erofs sqfuse kovl ext4; do
			if [[ $fs == ext4 && $wl != lsl ]]; then v=-; else v=$(cell "$SIZE:$wl:$fs"); fi
			printf ' %10s' "$v"
		done
		r=$(ratio "$(stat_of "$SIZE:$wl:strata" median)" "${BEST[$SIZE:$wl]}")
		printf '  %-26s %8s\n' "${FS_LABEL[${BESTFS[$SIZE:$wl]:-}]:--} $(fmt_us "${BEST[$SIZE:$wl]}")" "$(xr "$r")"
	done
	local ls_other
	ls_other=$(best_anchor lsl erofs sqfuse kovl && echo "${FS_LABEL[${BESTFS[$SIZE:lsl]:-}]:--} $(fmt_us "${BEST[$SIZE:lsl]}")")
	best_anchor lsl ext4
	printf '  (ls -l: the best of the others is %s)\n' "$ls_other"

	# Index build.
	local fmt bw dw bc dc cpe rss ib
	printf '\nstrata index build (strata index, empty cache dir; %s run(s), medians)\n' "$BUILD_RUNS"
	printf '%-12s %10s %12s %7s %9s %9s %13s %10s %10s %10s\n' layer build decompress ratio "build CPU" "dec CPU" "CPU/entry >dc" "peak RSS" index "B/entry"
	for fmt in tar gz zst; do
		bw=$(stat_of "$SIZE:build_$fmt:strata" median) dw=$(stat_of "$SIZE:decompress_$fmt:base" median)
		bc=$(med "${INFO[$SIZE:build_$fmt:strata:cpu_s]:-}") dc=$(med "${INFO[$SIZE:decompress_$fmt:base:cpu_s]:-}")
		rss=$(med "${INFO[$SIZE:build_$fmt:strata:maxrss_kb]:-}") ib=${INFO[$SIZE:index_bytes_$fmt]:-}
		cpe='' && have "$bc" "$dc" && cpe=$(calc %.2f "($bc - $dc) * 1e6 / $e")
		INFO[$SIZE:cpu_us_per_entry_beyond_$fmt]=$cpe
		printf '%-12s %10s %12s %7s %9s %9s %13s %10s %10s %10s\n' "$fmt" \
			"$(if failed "$SIZE:build_$fmt:strata"; then echo FAIL; else fmt_us "$bw"; fi)" "$(fmt_us "$dw")" \
			"$(xr "$(ratio "$bw" "$dw")")" "${bc:--}${bc:+ s}" "${dc:--}${dc:+ s}" "${cpe:--}${cpe:+ us}" \
			"$(have "$rss" && calc '%.1f MB' "$rss * 1024 / 1e6" || echo -)" "$(mb "$ib")" \
			"$(have "$ib" && calc %.1f "$ib / $e" || echo -)"
	done
	printf '  decompress: cat (tar), gzip -dc (gz), zstd -dc (zst) to /dev/null; CPU = user + sys; the whole gz cache dir: %s\n' \
		"$(mb "${INFO[$SIZE:cache_bytes_gz]:-}")"
	printf '\ndaemon RSS (VmRSS; of which anonymous) after the last cold run of:\n'
	for fs in strata sqfuse; do
		printf '  %-12s' "${FS_LABEL[$fs]}"
		for wl in find printf lstat; do
			v=${INFO[$SIZE:rss_${wl}_VmRSS_kb:$fs]:-}
			printf '  %s %s (%s)' "$wl" "$(have "$v" && calc '%.1f MB' "$v * 1024 / 1e6" || echo -)" \
				"$(have "${INFO[$SIZE:rss_${wl}_RssAnon_kb:$fs]:-}" && calc '%.1f MB' "${INFO[$SIZE:rss_${wl}_RssAnon_kb:$fs]} * 1024 / 1e6" || echo -)"
		done
		printf '\n'
	done

	# Budgets (issue 16; stated at 1M entries, checked at every size).
	local s e_f e_p
	e_f=$(ratio "$(stat_of "$SIZE:find:strata" median)" "$(stat_of "$SIZE:find:erofs" median)")
	budget "cold find <= 1.2x erofs" "$e_f" 1.2 "$(xr "$e_f")" "$(sfail find)"
	e_p=$(ratio "$(stat_of "$SIZE:printf:strata" median)" "$(stat_of "$SIZE:printf:erofs" median)")
	budget "cold find -printf <= 1.1x erofs" "$e_p" 1.1 "$(xr "$e_p")" "$(sfail printf)"
	s=$(stat_of "$SIZE:again:strata" median)
	budget "ready again <= 20 ms" "$(have "$s" && calc %.3f "$s / 1000")" 20 "$(fmt_us "$s")" "$(sfail again)"
	r=$(ratio "$(stat_of "$SIZE:build_gz:strata" median)" "$(stat_of "$SIZE:decompress_gz:base" median)")
	budget "index build <= 1.3x gzip -dc" "$r" 1.3 "$(xr "$r")" "$(sfail build_gz)"
	cpe=${INFO[$SIZE:cpu_us_per_entry_beyond_gz]:-}
	budget "build CPU beyond gzip -dc <= 1 us/entry" "$cpe" 1 "${cpe:--}${cpe:+ us}" "$(sfail build_gz)"
	rss=$(med "${INFO[$SIZE:build_gz:strata:maxrss_kb]:-}")
	budget "builder peak RSS <= 64 MB + 64 B/entry" "$(have "$rss" && calc %.0f "$rss * 1024")" \
		"$(calc %.0f "64e6 + 64 * $e")" "$(have "$rss" && calc '%.1f MB of %.1f' "$rss * 1024 / 1e6, (64e6 + 64 * $e) / 1e6")" "$(sfail build_gz)"
	ib=${INFO[$SIZE:index_bytes_gz]:-}
	budget "index <= 48 B/entry (gz)" "$(have "$ib" && calc %.1f "$ib / $e")" 48 "$(have "$ib" && calc '%.1f B' "$ib / $e")" "$(sfail build_gz)"
	for wl in find lstat; do
		v=${INFO[$SIZE:rss_${wl}_VmRSS_kb:strata]:-}
		budget "daemon RSS <= 64 MB after cold $wl" "$(have "$v" && calc %.0f "$v * 1024")" 64000000 \
			"$(have "$v" && calc '%.1f MB' "$v * 1024 / 1e6")" "$(sfail "$wl")"
	done
	r=$(ratio "$(stat_of "$SIZE:lsl:strata" median)" "$(stat_of "$SIZE:lsl:ext4" median)")
	budget "warm ls -l <= 1.3x ext4" "$r" 1.3 "$(xr "$r")" "$(sfail lsl)"
}
xr() { if have "$1"; then echo "$1x"; else echo -; fi; }

report_budgets() { # one line per budget, one column per size
	local b label sz val lim shown verdict
	local -a labels=()
	declare -A out=()
	for b in "${BUDGETS[@]}"; do
		IFS='|' read -r sz label val lim shown verdict <<<"$b"
		[[ -n ${out[$label]+x} ]] || labels+=("$label")
		out[$label]+=$(printf ' %20s' "$shown $verdict")
	done
	printf '\nbudgets (issue 16, stated at 1M entries):\n%-42s' ""
	for sz in "${SIZE_LIST[@]}"; do printf ' %20s' "$sz"; done
	printf '\n'
	for label in "${labels[@]}"; do printf '%-42s%s\n' "$label" "${out[$label]}"; done
}

REPORT=$WORK/report.txt
{
	printf 'strata scale bench  %s  kernel %s  %s cores  load average %s at start, %s at end\n' \
		"$(date -u +%FT%TZ)" "$(uname -r)" "$(nproc)" "${INFO[loadavg_start]}" "${INFO[loadavg_end]}"
	printf 'strata %s (git %s); cold: %s run(s) (squashfuse, kernel overlayfs -printf and lstat: %s at 1m), ready again: %s, warm ls -l: %s, build: %s; measured in %s s\n' \
		"${INFO[strata_sha256]:0:12}" "${INFO[strata_git]}" "$RUNS" "$(SIZE=1m slow_runs)" "$AGAIN_RUNS" "$WARM_RUNS" "$BUILD_RUNS" "${INFO[measure_s]}"
	printf 'strata mounts the .tar.gz; erofs: mkfs.erofs (uncompressed), loop; squashfuse: mksquashfs (gzip);\n'
	printf 'kernel overlayfs: ro, lowerdir=TREE:EMPTY; ext4: the unpacked tree on this host disk\n'
	for SIZE in "${SIZE_LIST[@]}"; do report_size; done
	report_budgets
	if ((${#ERRS[@]})); then
		printf '\nfailures:\n'
		for k in $(printf '%s\n' "${!ERRS[@]}" | sort); do printf '  %s: %s\n' "$k" "${ERRS[$k]}"; done
	fi
} >"$REPORT"

mkdir -p "$RESULTS_DIR"
RESULT_JSON=$RESULTS_DIR/scale-$(date -u +%Y%m%dT%H%M%SZ).json
{
	printf '{\n  "date": %s,\n  "kernel": %s,\n  "cores": %s,\n' "$(json_str "$(date -u +%FT%TZ)")" \
		"$(json_str "$(uname -r)")" "$(nproc)"
	printf '  "loadavg_start": %s,\n  "loadavg_end": %s,\n  "measure_s": %s,\n' "${INFO[loadavg_start]}" \
		"${INFO[loadavg_end]}" "${INFO[measure_s]}"
	printf '  "strata": {"path": %s, "sha256": %s, "git": %s},\n' "$(json_str "$STRATA")" \
		"$(json_str "${INFO[strata_sha256]}")" "$(json_str "${INFO[strata_git]}")"
	printf '  "settings": {"runs": %s, "build_runs": %s, "again_runs": %s, "warm_runs": %s},\n' \
		"$RUNS" "$BUILD_RUNS" "$AGAIN_RUNS" "$WARM_RUNS"
	printf '  "sizes": {'
	sep=
	for SIZE in "${SIZE_LIST[@]}"; do
		printf '%s\n    %s: {' "$sep" "$(json_str "$SIZE")"
		sep2=
		while IFS='=' read -r k v; do
			[[ $k == version ]] && continue
			printf '%s"%s": %s' "$sep2" "$k" "$(json_num "$v")"
			sep2=', '
		done <"$SCALE_CACHE/$SIZE/stamp"
		printf '}'
		sep=,
	done
	printf '\n  },\n  "runs_us": {'
	sep=
	for k in $(printf '%s\n' "${!RUNS_US[@]}" | sort); do
		runs=${RUNS_US[$k]% }
		printf '%s\n    %s: {"runs": [%s], "best": %s, "median": %s}' "$sep" "$(json_str "$k")" "${runs// /, }" \
			"$(stat_of "$k" best)" "$(stat_of "$k" median)"
		sep=,
	done
	printf '\n  },\n  "other": {'
	sep=
	for k in $(printf '%s\n' "${!INFO[@]}" | grep : | sort); do
		v=${INFO[$k]% }
		[[ $v == *' '* ]] && v="[${v// /, }]"
		[[ -n $v ]] || v=null
		printf '%s\n    %s: %s' "$sep" "$(json_str "$k")" "$v"
		sep=,
	done
	printf '\n  },\n  "budgets": ['
	sep=
	for b in "${BUDGETS[@]}"; do
		IFS='|' read -r sz label val lim shown verdict <<<"$b"
		printf '%s\n    {"size": %s, "budget": %s, "value": %s, "limit": %s, "verdict": %s}' "$sep" \
			"$(json_str "$sz")" "$(json_str "$label")" "$(json_num "$val")" "$lim" "$(json_str "$verdict")"
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
cat -- "$REPORT"
printf '\nresults: %s\n' "$RESULT_JSON"

((STRATA_FAILED)) && exit 3
((STRICT && BUDGET_MISSED)) && exit 4
exit 0
