#!/usr/bin/env bash
# Writes through a writable upper layer: strata (--upper) vs kernel overlayfs
# vs fuse-overlayfs (upperdir + workdir) over the same three read-only layers
# as bench/run.sh (see "write.sh" in bench/README.md for every number).
#
#   bench/write.sh [options]
#     --strata PATH       strata binary (default: build/tools/strata)
#     --runs N            runs per filesystem, fresh mount + upper each (default 3)
#     --small N           create/stat/delete iterations of the small-file loop (default 5000)
#     --chmod N           lower files chmodded (default 2000)
#     --rm-dir PATH       lower directory removed with rm -rf (default usr/share)
#     --tree-files N      entries of the untarred tree (default 20000; cached)
#     --rebuild-tree      build the cached tree tarball again
#     --timeout S         a single operation taking longer fails (default 300)
#     --nofile N          set the open-file limit (soft and hard) of everything the
#                         run starts, daemons included, to N (default: inherited)
#
# Exit status: 0 done; 1 setup error; 3 a strata operation failed or strata's
# tree differed from kernel overlayfs (the report says which and how).

# Many functions below only run through measure/trap, which shellcheck
# cannot follow.
# shellcheck disable=SC2317
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=bench/harness.sh
. "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

STRATA=$REPO_DIR/build/tools/strata
RUNS=3 NSMALL=5000 NCHMOD=2000 RM_DIR=usr/share TREE_FILES=20000 REBUILD_TREE=0 OP_TIMEOUT=300 NOFILE=

while (($#)); do
	case $1 in
	--strata) STRATA=$2 && shift ;;
	--runs) RUNS=$2 && shift ;;
	--small) NSMALL=$2 && shift ;;
	--chmod) NCHMOD=$2 && shift ;;
	--rm-dir) RM_DIR=$2 && shift ;;
	--tree-files) TREE_FILES=$2 && shift ;;
	--rebuild-tree) REBUILD_TREE=1 ;;
	--timeout) OP_TIMEOUT=$2 && shift ;;
	--nofile) NOFILE=$2 && shift ;;
	-h | --help)
		sed -n '2,19p' "$0"
		exit 0
		;;
	*) die "unknown argument: $1 (see --help)" ;;
	esac
	shift
done
for n in "$RUNS" "$NSMALL" "$NCHMOD" "$TREE_FILES" "$OP_TIMEOUT" ${NOFILE:+"$NOFILE"}; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || die "not a positive number: $n"
done
RM_DIR=${RM_DIR#/}
RM_DIR=${RM_DIR%/}
[[ -n $RM_DIR && $RM_DIR != tmp && $RM_DIR != tmp/* && /$RM_DIR/ != */../* && /$RM_DIR/ != */./* ]] ||
	die "--rm-dir: want a relative path below the root, not tmp: $RM_DIR"

need_root
if [[ -n $NOFILE ]]; then
	ulimit -n "$NOFILE" || die "could not set the open-file limit to $NOFILE"
fi
need_cmds tar fuse-overlayfs fusermount3 mount umount find sort md5sum xargs awk ps stat cc sync \
	diff timeout sha256sum findmnt head
[[ -x $STRATA ]] || die "no strata binary at $STRATA (build it: meson setup build && ninja -C build)"
STRATA=$(readlink -f "$STRATA")

"$BENCH_DIR/make-image.sh"
IMAGE_INFO=$(<"$IMAGE_STAMP")
stamp_get() { sed -n "s/^$1=//p" <<<"$IMAGE_INFO"; }

# ------------------------------------------------ the tree to untar (cached)
# The first TREE_FILES entries (find order, so every directory comes before
# its contents) of source-like trees of this host, as a plain tar with
# relative names (usr/include/...).  Built once; the stamp says what it holds.
TREE_TAR=$CACHE_DIR/write-tree-$TREE_FILES.tar
TREE_STAMP=$CACHE_DIR/write-tree-$TREE_FILES.stamp
tree_ok() {
	[[ -s $TREE_TAR && -f $TREE_STAMP && $(sed -n 's/^entries=//p' "$TREE_STAMP") == "$TREE_FILES" ]]
}
if ((REBUILD_TREE)) || ! tree_ok; then
	log "building the untar tree: $TREE_FILES entries from this host's /usr"
	rm -f -- "$TREE_TAR" "$TREE_STAMP"
	list=$(mktemp "$CACHE_DIR/write-tree.list.XXXXXX")
	trap 'rm -f -- "$list" "$TREE_TAR.tmp" "$TREE_STAMP.tmp"' EXIT
	srcs=()
	for d in /usr/include /usr/lib/python3.[0-9]* /usr/share/perl /usr/share/cmake-* /usr/share/vim \
		/usr/share/doc /usr/share/man /usr/share/locale; do
		[[ -d $d && ! -L $d ]] && srcs+=("${d#/}")
	done
	((${#srcs[@]})) || die "none of the source trees exists on this host (/usr/include, /usr/share/doc, ...)"
	# (head closes the pipe early; find's SIGPIPE is expected)
	(cd / && find "${srcs[@]}" -print0 2>/dev/null || true) | head -z -n "$TREE_FILES" >"$list" || true
	have=$(tr -cd '\0' <"$list" | wc -c)
	if ((have < TREE_FILES)); then
		rm -f -- "$list"
		die "only $have entries under ${srcs[*]}; ask for fewer with --tree-files"
	fi
	tar --null --no-recursion -C / -T "$list" -cf "$TREE_TAR.tmp"
	mv -f -- "$TREE_TAR.tmp" "$TREE_TAR"
	{
		echo "entries=$TREE_FILES"
		echo "regular_files=$(tar -tvf "$TREE_TAR" | grep -c '^-')"
		echo "bytes=$(stat -c %s "$TREE_TAR")"
		printf 'sources='
		for d in "${srcs[@]}"; do
			n=$(grep -zc -- "^$d\(/\|\$\)" "$list" || true)
			if ((n)); then printf '/%s (%s) ' "$d" "$n"; fi
		done | sed 's/ $//'
		echo
		echo "built=$(date -u +%FT%TZ)"
	} >"$TREE_STAMP.tmp"
	mv -f -- "$TREE_STAMP.tmp" "$TREE_STAMP"
	rm -f -- "$list"
	trap - EXIT
fi
TREE_INFO=$(<"$TREE_STAMP")
tree_get() { sed -n "s/^$1=//p" <<<"$TREE_INFO"; }
log "untar tree: $TREE_TAR ($(tree_get entries) entries, $(tree_get regular_files) files, $(($(tree_get bytes) >> 20)) MiB: $(tree_get sources))"

# ------------------------------------------------------------------ state
MAINPID=$$
WORK=$(mktemp -d "$CACHE_DIR/write.XXXXXX")
ERRF=$WORK/op.err
declare -A MNT_KIND=() # mountpoint -> fs, while (maybe) mounted
declare -A RUNS_US=()  # "workload:fs" -> "us us us ..."
declare -A ERRS=()     # "workload:fs" -> first failure
declare -A NFAIL=()    # "workload:fs" -> runs in which it failed
declare -A INFO=()
declare -A MATCH=() # "stage:fs:run" -> same | differs (...) | not compared (...)
declare -A DIFFS=() # "stage:fs" -> first differing lines, first run that differed
STRATA_FAILED=0 STRATA_DIFFERS=0
WD_PID='' WD_SEQ=0 RUN_NO=0 LAST_US=0

mkdir -p "$WORK/bin" "$WORK/mnt" "$WORK/upper" "$WORK/work" "$WORK/lists"
cp -- "$STRATA" "$WORK/bin/strata"
STRATA_BIN=$WORK/bin/strata
FOVL_BIN=$(readlink -f "$(command -v fuse-overlayfs)")
SMALLFILES=$WORK/bin/smallfiles
cc -O2 -Wall -Wextra -o "$SMALLFILES" "$BENCH_DIR/smallfiles.c" || die "cc $BENCH_DIR/smallfiles.c failed"
mkfifo "$WORK/watchdog.fifo"
exec 4<>"$WORK/watchdog.fifo"

FSES=(strata kovl fovl)
declare -A MNT_OF=() UPPER_OF=() WORKDIR_OF=()
for fs in "${FSES[@]}"; do
	MNT_OF[$fs]=$WORK/mnt/$fs
	UPPER_OF[$fs]=$WORK/upper/$fs
	WORKDIR_OF[$fs]=$WORK/work/$fs
	mkdir -p "${MNT_OF[$fs]}"
done
STRATA_CACHE=$WORK/strata-cache
STRATA_LAYER_ARGS=(--layer "$LAYER1" --layer "$LAYER2" --layer "$LAYER3")
OVL_LOWERDIR=$LOWER3:$LOWER2:$LOWER1 # overlayfs: uppermost first
CHMOD_LIST=$WORK/chmod.list






# ----------------------------------------------------------------- mounts
fresh_upper() { # FS: empty upper (and workdir) on the work tree's filesystem
	rm -rf -- "${UPPER_OF[$1]}" "${WORKDIR_OF[$1]}" &&
		mkdir -p -- "${UPPER_OF[$1]}" "${WORKDIR_OF[$1]}"
}

do_mount() { # FS
	local fs=$1 mnt=${MNT_OF[$1]} up=${UPPER_OF[$1]} wd=${WORKDIR_OF[$1]}
	MNT_KIND[$mnt]=$fs
	case $fs in
	strata) "$STRATA_BIN" mount --cache-dir "$STRATA_CACHE" --upper "$up" "${STRATA_LAYER_ARGS[@]}" "$mnt" ;;
	kovl) mount -t overlay overlay -o "lowerdir=$OVL_LOWERDIR,upperdir=$up,workdir=$wd" "$mnt" ;;
	fovl) fuse-overlayfs -o "lowerdir=$OVL_LOWERDIR,upperdir=$up,workdir=$wd" "$mnt" ;;
	esac
}
mount_ls() { do_mount "$1" && ls -- "${MNT_OF[$1]}" >/dev/null; }


trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ----------------------------------------------------------------- timing
note_error() { # KEY MSG
	NFAIL[$1]=$((${NFAIL[$1]:-0} + 1))
	[[ -n ${ERRS[$1]:-} ]] || ERRS[$1]="run $RUN_NO: $2"
	[[ $1 == *:strata ]] && STRATA_FAILED=1
	log "FAILED $1 (run $RUN_NO): ${2:0:300}"
}

# run_op MNT CMD...: CMD under the watchdog, output in ERRF; sets LAST_US
# and OP_MSG (the error, when it fails).
run_op() {
	local mnt=$1 t0 t1 rc=0
	shift
	watchdog_start "$mnt"
	{
		t0=${EPOCHREALTIME/[.,]/}
		"$@" || rc=$?
		t1=${EPOCHREALTIME/[.,]/}
	} >"$ERRF" 2>&1
	watchdog_stop
	LAST_US=$((t1 - t0))
	OP_MSG=
	((rc == 0)) && return 0
	OP_MSG="exit status $rc"
	[[ -f $WORK/watchdog.fired ]] && OP_MSG="timed out after ${OP_TIMEOUT}s (FUSE connection aborted, process killed); $OP_MSG"
	[[ -s $ERRF ]] && OP_MSG+=": $(head -c 1500 "$ERRF" | tr '\n' ' ')"
	return 1
}
# measure KEY MNT CMD...: one timed run; records microseconds or the failure.
measure() {
	local key=$1
	shift
	if run_op "$@"; then
		RUNS_US[$key]+="$LAST_US "
		return 0
	fi
	note_error "$key" "$OP_MSG"
	return 1
}
# guarded KEY MNT CMD...: an untimed step (setup, listing) under the watchdog.
guarded() {
	local key=$1
	shift
	run_op "$@" && return 0
	note_error "$key" "$OP_MSG"
	return 1
}
failed() { [[ -n ${ERRS[$1]:-} ]]; }

# --------------------------------------------------------------- workloads
wl_untar() { tar -C "$1/tmp/src" -xf "$TREE_TAR"; }
# syncfs on the mount (a FUSE mount's dirty pages go to its daemon; overlayfs
# syncs its upper), then on the upper's filesystem.
wl_sync() { sync -f -- "$1" && sync -f -- "$2"; }
wl_rm() {
	rm -rf -- "${1:?}/$RM_DIR" || return
	if [[ -e $1/$RM_DIR || -L $1/$RM_DIR ]]; then
		echo "rm -rf returned 0 but $RM_DIR is still there"
		return 1
	fi
}
wl_small() { "$SMALLFILES" "$1/tmp/small" "$NSMALL"; }
wl_chmod() { (cd -- "$1" && xargs -0 -r -a "$CHMOD_LIST" chmod 0600 --); }
wl_find() { find "$1" -printf '%s %m %p\n' >/dev/null; }

# One line per entry below the root: path, type, mode, owner, then for
# everything but directories size, mtime (whole seconds) and symlink target.
# Directory sizes and times are left out: they differ by filesystem and by
# when the writes happened.
listing() { # MNT -> stdout
	find "$1" -mindepth 1 \( -type d -printf '%P\td %#m %U:%G\n' \) \
		-o -printf '%P\t%y %#m %U:%G %s %Ts -> %l\n' | sort
}
checksums() { # DIR -> stdout
	(cd -- "$1" && find . -type f -print0 | sort -z | xargs -0 -r md5sum)
}
to_file() { # FILE CMD...: CMD's stdout into FILE
	local f=$1
	shift
	"$@" >"$f"
}

# daemon_probe FS TAG: the FUSE daemon's open fds and peak RSS now, as
# INFO[TAG_fds:FS] and INFO[TAG_hwm_kb:FS] (the last run's values stay).
daemon_probe() {
	local pid k v _
	[[ $1 == kovl ]] && return 0
	pid=$(daemon_pids "$1" "${MNT_OF[$1]}" | head -n 1)
	[[ -n $pid ]] || return 0
	INFO[${2}_fds:$1]=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	while read -r k v _; do
		[[ $k == VmHWM: ]] && INFO[${2}_hwm_kb:$1]=$v
	done <"/proc/$pid/status"
	return 0
}

# Mount FS afresh on an empty upper for the workloads KEYS...; if the mount
# fails, each of them fails for this run.
fresh_mount() { # FS KEYS...
	local fs=$1 k
	shift
	fresh_upper "$fs" || die "could not make an empty upper at ${UPPER_OF[$fs]}"
	sync
	measure "mount:$fs" "${MNT_OF[$fs]}" mount_ls "$fs" && return 0
	for k in "$@"; do note_error "$k:$fs" "not run: the mount failed: $OP_MSG"; done
	do_umount "$fs"
	return 1
}
upper_stats() { # FS TAG
	INFO[upper_entries_$2:$1]=$(find "${UPPER_OF[$1]}" -mindepth 1 | wc -l)
	INFO[upper_bytes_$2:$1]=$(du -sb -- "${UPPER_OF[$1]}" | cut -f1)
}
list_to() { # FS STAGE: the listing for compare(), under the watchdog
	local f=$WORK/lists/$2.$1.$RUN_NO
	guarded "list_$2:$1" "${MNT_OF[$1]}" to_file "$f" listing "${MNT_OF[$1]}" || rm -f -- "$f"
}

# One run of every workload for FS, each on its own fresh mount and upper.
# A failed step makes its cell FAIL; the run goes on with the next one.
one_run() { # FS
	local fs=$1 mnt=${MNT_OF[$1]} up=${UPPER_OF[$1]} untar_us

	# 1. untar, then sync; then the tree is listed and checksummed
	log "run $RUN_NO/$RUNS: $fs: untar"
	if fresh_mount "$fs" untar sync umount; then
		cat -- "$TREE_TAR" >/dev/null
		if guarded "untar:$fs" "$mnt" mkdir -p -- "$mnt/tmp/src"; then
			sync
			if measure "untar:$fs" "$mnt" wl_untar "$mnt"; then
				untar_us=$LAST_US
				measure "sync:$fs" "$mnt" wl_sync "$mnt" "$up" &&
					RUNS_US[untar_total:$fs]+="$((untar_us + LAST_US)) "
			else
				# Whatever tar wrote still gets synced, untimed.
				guarded "sync:$fs" "$mnt" wl_sync "$mnt" "$up" || true
			fi
		fi
		daemon_probe "$fs" untar
		upper_stats "$fs" untar
		list_to "$fs" untar
		guarded "md5_untar:$fs" "$mnt" to_file "$WORK/lists/content.$fs.$RUN_NO" checksums "$mnt/tmp/src" ||
			rm -f -- "$WORK/lists/content.$fs.$RUN_NO"
		sync
		measure "umount:$fs" "$mnt" do_umount "$fs" || true
		do_umount "$fs" # (no-op unless the timed one failed)
	fi

	# 2. rm -rf of a big lower directory (looked up once first: warm)
	log "run $RUN_NO/$RUNS: $fs: rm -rf"
	if fresh_mount "$fs" rm; then
		if guarded "rm:$fs" "$mnt" find "$mnt/$RM_DIR" -printf ''; then
			measure "rm:$fs" "$mnt" wl_rm "$mnt" || true
		fi
		upper_stats "$fs" rm
		list_to "$fs" rm
		do_umount "$fs"
	fi

	# 3. small files
	log "run $RUN_NO/$RUNS: $fs: small files"
	if fresh_mount "$fs" small; then
		if guarded "small:$fs" "$mnt" mkdir -p -- "$mnt/tmp/small"; then
			sync
			measure "small:$fs" "$mnt" wl_small "$mnt" || true
		fi
		do_umount "$fs"
	fi

	# 4. chmod of lower files (copy-up), then find over the result, warm
	log "run $RUN_NO/$RUNS: $fs: chmod, find"
	if fresh_mount "$fs" chmod find; then
		measure "chmod:$fs" "$mnt" wl_chmod "$mnt" || true
		sync
		if guarded "find:$fs" "$mnt" wl_find "$mnt"; then # warm-up, not timed
			measure "find:$fs" "$mnt" wl_find "$mnt" || true
		fi
		daemon_probe "$fs" find
		upper_stats "$fs" chmod
		list_to "$fs" chmod
		do_umount "$fs"
	fi
}

# compare STAGE: this run's listings of strata and fuse-overlayfs against
# kernel overlayfs.
compare() {
	local stage=$1 fs ref b d n
	ref=$WORK/lists/$stage.kovl.$RUN_NO
	for fs in strata fovl; do
		b=$WORK/lists/$stage.$fs.$RUN_NO
		d=$WORK/lists/$stage.$fs.$RUN_NO.diff
		if [[ ! -f $ref || ! -f $b ]]; then
			MATCH[$stage:$fs:$RUN_NO]="not compared ($([[ -f $ref ]] && echo "$fs" || echo kovl) listing failed)"
		elif diff -u -- "$ref" "$b" >"$d"; then
			MATCH[$stage:$fs:$RUN_NO]=same
		else
			n=$(grep -c '^[-+][^-+]' "$d" || true)
			MATCH[$stage:$fs:$RUN_NO]="differs ($n lines)"
			[[ -n ${DIFFS[$stage:$fs]:-} ]] ||
				DIFFS[$stage:$fs]="run $RUN_NO:"$'\n'$(grep '^[-+][^-+]' "$d" | head -n 12)
			log "$stage: $fs differs from kernel overlayfs in run $RUN_NO ($n lines)"
		fi
		[[ $fs == strata && ${MATCH[$stage:$fs:$RUN_NO]} != same ]] && STRATA_DIFFERS=1
		rm -f -- "$d"
	done
}

# ------------------------------------------------------------ preflight
mount_fusectl
log "strata: $STRATA ($(sha256sum <"$STRATA" | cut -c1-12))"
INFO[strata_sha256]=$(sha256sum <"$STRATA" | cut -d' ' -f1)
INFO[strata_git]=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo none)
INFO[fovl_version]=$(fuse-overlayfs --version 2>&1 | grep -m 1 '^fuse-overlayfs' || true)
INFO[nofile]="$(ulimit -Sn)/$(ulimit -Hn)"
INFO[upper_fs]=$(findmnt -n -o FSTYPE,SOURCE,TARGET -T "$WORK" | tr -s ' ')
INFO[loadavg_start]=$(cut -d' ' -f1 /proc/loadavg)
awk -v l="${INFO[loadavg_start]}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 4) }' &&
	log "note: load average ${INFO[loadavg_start]} on $(nproc) cores: something else is running, numbers will be noisy"

# The strata index, built once, so no timed mount builds it.
"$STRATA_BIN" index --cache-dir "$STRATA_CACHE" "${LAYERS[@]}" >/dev/null ||
	die "strata index failed for the layers"

# What the workloads touch, from a read-only kernel overlayfs of the layers:
# the directory rm -rf removes, and the chmod set (the first NCHMOD regular
# files in path order outside that directory and /tmp, one link each:
# copy-up of lower hard links is not the point here).
BASE=${MNT_OF[kovl]}
MNT_KIND[$BASE]=kovl
mount -t overlay overlay -o "ro,lowerdir=$OVL_LOWERDIR" "$BASE" || die "read-only kernel overlayfs mount failed"
INFO[merged_entries]=$(find "$BASE" -mindepth 1 | wc -l)
[[ -d $BASE/$RM_DIR && ! -L $BASE/$RM_DIR ]] || die "--rm-dir $RM_DIR: not a directory of the image"
INFO[rm_entries]=$(find "$BASE/$RM_DIR" | wc -l)
INFO[rm_files]=$(find "$BASE/$RM_DIR" -type f | wc -l)
find "$BASE" -mindepth 1 \( -path "$BASE/$RM_DIR" -o -path "$BASE/tmp" \) -prune \
	-o -type f -links 1 -printf '%P\0' | sort -z >"$WORK/lower-files"
head -z -n "$NCHMOD" "$WORK/lower-files" >"$CHMOD_LIST"
INFO[chmod_files]=$(tr -cd '\0' <"$CHMOD_LIST" | wc -c)
((INFO[chmod_files] == NCHMOD)) || die "only ${INFO[chmod_files]} single-link regular files outside $RM_DIR; use a smaller --chmod"
INFO[chmod_bytes]=$(cd -- "$BASE" && xargs -0 -a "$CHMOD_LIST" stat -c %s -- | awk '{ s += $1 } END { print s + 0 }')
umount -- "$BASE" || die "could not unmount the read-only kernel overlayfs"
unset "MNT_KIND[$BASE]"
log "rm -rf /$RM_DIR: ${INFO[rm_entries]} entries (${INFO[rm_files]} files); chmod: ${INFO[chmod_files]} files, $((INFO[chmod_bytes] >> 20)) MiB"
log "uppers on: ${INFO[upper_fs]}"

# ------------------------------------------------------------------ runs
# A reference for each run: the same untar + sync into a plain directory of
# the upper's filesystem, no overlay (shows what the disk and the machine
# allowed at that moment).
plain_untar() {
	local d=$WORK/plain
	{ rm -rf -- "$d" && mkdir -p -- "$d/tmp/src"; } || die "could not make $d"
	cat -- "$TREE_TAR" >/dev/null
	sync
	if measure "untar:plain" "" wl_untar "$d"; then
		local u=$LAST_US
		measure "sync:plain" "" sync -f -- "$d" && RUNS_US[untar_total:plain]+="$((u + LAST_US)) "
	fi
	rm -rf -- "$d"
}
for ((RUN_NO = 1; RUN_NO <= RUNS; RUN_NO++)); do
	log "run $RUN_NO/$RUNS: plain directory (reference)"
	plain_untar
	# The order rotates from run to run, so none of the three always
	# follows the same one (a disk's burst credit, writeback left behind).
	k=$(((RUN_NO - 1) % ${#FSES[@]}))
	for fs in "${FSES[@]:k}" "${FSES[@]:0:k}"; do one_run "$fs"; done
	for stage in untar content rm chmod; do compare "$stage"; done
done
RUN_NO=end

mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

ROWS=(mount untar_total untar sync rm small chmod find umount)
declare -A ROW_LABEL=(
	[mount]="mount + ls / (empty upper)"
	[untar_total]="untar $(tree_get entries) entries + sync"
	[untar]="  of which tar -x"
	[sync]="  of which sync"
	[rm]="rm -rf /$RM_DIR"
	[small]="small files: $NSMALL x create/stat/rm"
	[chmod]="chmod $NCHMOD lower files"
	[find]="find -printf after the chmod, warm"
	[umount]="umount after the untar"
)
# A row fails for FS when one of its runs failed (untar_total: untar or sync).
row_fails() { # ROW FS -> number of failed runs (0: none)
	local n=${NFAIL[$1:$2]:-0}
	[[ $1 == untar_total ]] && n=$((${NFAIL[untar:$2]:-0} > ${NFAIL[sync:$2]:-0} ? ${NFAIL[untar:$2]:-0} : ${NFAIL[sync:$2]:-0}))
	echo "$n"
}
declare -A V=() # "row:fs" -> median microseconds, only when no run failed
for row in "${ROWS[@]}"; do
	for fs in "${FSES[@]}"; do
		(($(row_fails "$row" "$fs") == 0)) && V[$row:$fs]=$(stat_of "$row:$fs" median)
	done
done
cellv() { # ROW FS
	local n
	n=$(row_fails "$1" "$2")
	if ((n)); then echo "FAIL($n/$RUNS)"; else fmt_us "${V[$1:$2]:-}"; fi
}

# Targets from the issue: writes within 1.2x of fuse-overlayfs, metadata
# faster than it.
TARGETS=("untar_total 1.2 write" "untar 1.2 write" "rm 1.2 write" "small 1.2 write"
	"chmod 1.0 metadata" "find 1.0 metadata")
TARGET_LINES=()
for t in "${TARGETS[@]}"; do
	read -r row lim kind <<<"$t"
	r=$(ratio "${V[$row:strata]:-}" "${V[$row:fovl]:-}")
	if (($(row_fails "$row" strata))); then
		verdict="FAIL (strata failed)"
	elif [[ $r == - ]]; then
		verdict=n/a
	elif [[ $kind == write ]] && awk -v v="$r" -v l="$lim" 'BEGIN { exit !(v <= l) }'; then
		verdict=ok
	elif [[ $kind == metadata ]] && awk -v v="$r" 'BEGIN { exit !(v < 1) }'; then
		verdict=ok
	else
		verdict=MISSED
	fi
	text=${ROW_LABEL[$row]}
	text=${text#  of which }
	if [[ $kind == write ]]; then text+=" <= ${lim}x fuse-overlayfs"; else text+=" < 1x fuse-overlayfs"; fi
	TARGET_LINES+=("$row|$text|$r|$lim|$verdict")
done

INFO[loadavg_end]=$(cut -d' ' -f1 /proc/loadavg)
REPORT=$WORK/report.txt
{
	printf '\nstrata write bench  %s  kernel %s  %s cores  load average %s at start, %s at end\n' \
		"$(date -u +%FT%TZ)" "$(uname -r)" "$(nproc)" "${INFO[loadavg_start]}" "${INFO[loadavg_end]}"
	printf 'image: 3 layers, %s merged entries; strata %s (git %s); %s\n' "${INFO[merged_entries]}" \
		"${INFO[strata_sha256]:0:12}" "${INFO[strata_git]}" "${INFO[fovl_version]}"
	printf 'uppers (fresh and empty for every run) on: %s; open-file limit (soft/hard) %s\n' "${INFO[upper_fs]}" \
		"${INFO[nofile]}"
	printf 'untar: %s (%s entries, %s regular files, %s of tar) into /tmp/src\n' "${TREE_TAR#"$REPO_DIR"/}" \
		"$(tree_get entries)" "$(tree_get regular_files)" "$(mib "$(tree_get bytes)")"
	printf 'rm -rf /%s: %s entries (%s regular files), across the lower layers\n' "$RM_DIR" "${INFO[rm_entries]}" "${INFO[rm_files]}"
	printf 'chmod 0600: %s single-link lower regular files outside /%s (%s of data to copy up)\n' \
		"${INFO[chmod_files]}" "$RM_DIR" "$(mib "${INFO[chmod_bytes]}")"
	printf 'medians of %s runs; every workload of every run on its own fresh mount and empty upper\n\n' "$RUNS"
	printf '%-36s %12s %16s %14s %11s %11s\n' workload strata "kernel overlayfs" fuse-overlayfs strata/kovl strata/fovl
	for row in "${ROWS[@]}"; do
		printf '%-36s %12s %16s %14s %11s %11s\n' "${ROW_LABEL[$row]}" "$(cellv "$row" strata)" \
			"$(cellv "$row" kovl)" "$(cellv "$row" fovl)" \
			"$(ratio "${V[$row:strata]:-}" "${V[$row:kovl]:-}")" "$(ratio "${V[$row:strata]:-}" "${V[$row:fovl]:-}")"
	done
	printf '\n%-36s %18s %18s %18s\n' "last run, for information" strata "kernel overlayfs" fuse-overlayfs
	up() { # TAG FS
		local n=${INFO[upper_entries_$1:$2]:-} b=${INFO[upper_bytes_$1:$2]:-}
		if [[ -n $n ]]; then echo "$n, $(mib "$b")"; else echo -; fi
	}
	for t in untar rm chmod; do
		printf '%-36s %18s %18s %18s\n' "upper after $t: entries, du" "$(up "$t" strata)" "$(up "$t" kovl)" "$(up "$t" fovl)"
	done
	printf '%-36s %18s %18s %18s\n' "daemon open fds after untar + sync" "${INFO[untar_fds:strata]:--}" - "${INFO[untar_fds:fovl]:--}"
	printf '%-36s %18s %18s %18s\n' "  after chmod + find" "${INFO[find_fds:strata]:--}" - "${INFO[find_fds:fovl]:--}"
	hwm() { # TAG FS
		local kb=${INFO[${1}_hwm_kb:$2]:-}
		if [[ -n $kb ]]; then mib $((kb * 1024)); else echo -; fi
	}
	printf '%-36s %18s %18s %18s\n' "daemon peak RSS: after untar + sync" "$(hwm untar strata)" - "$(hwm untar fovl)"
	printf '%-36s %18s %18s %18s\n' "  after chmod + find" "$(hwm find strata)" - "$(hwm find fovl)"

	printf '%-36s %18s\n' "plain dir (no overlay): untar + sync" "$(fmt_us "$(stat_of untar_total:plain median)")"
	printf '%-36s %18s\n' "  each run" "$(for v in ${RUNS_US[untar_total:plain]:-}; do printf '%s, ' "$(fmt_us "$v")"; done | sed 's/, $//')"

	printf '\ntargets (issue 3):\n'
	for t in "${TARGET_LINES[@]}"; do
		IFS='|' read -r row text r lim verdict <<<"$t"
		printf '  %-58s %-8s %s\n' "$text" "$(if [[ $r != - ]]; then echo "${r}x"; else echo -; fi)" "$verdict"
	done

	printf '\ntrees, against kernel overlayfs (listing: path type mode owner; size mtime target for non-dirs):\n'
	for ((i = 1; i <= RUNS; i++)); do
		for stage in untar content rm chmod; do
			case $stage in
			untar) what="after untar, whole tree" ;;
			content) what="after untar, md5 of /tmp/src" ;;
			rm) what="after rm -rf, whole tree" ;;
			chmod) what="after chmod, whole tree" ;;
			esac
			printf '  run %s  %-30s strata: %-24s fuse-overlayfs: %s\n' "$i" "$what" \
				"${MATCH[$stage:strata:$i]:-not compared}" "${MATCH[$stage:fovl:$i]:-not compared}"
		done
	done
	for k in $(printf '%s\n' "${!DIFFS[@]}" | sort); do
		printf '  first differences, %s (- kernel overlayfs, + %s), %s\n' "${k%%:*}" "${k#*:}" "${DIFFS[$k]}" |
			sed '2,$s/^/      /'
	done

	if ((${#ERRS[@]})); then
		printf '\nfailures (runs failed of %s: first error):\n' "$RUNS"
		for k in $(printf '%s\n' "${!ERRS[@]}" | sort); do
			msg=${ERRS[$k]}
			((${#msg} <= 600)) || msg="${msg:0:600} [...]"
			printf '  %s: %s of %s: %s\n' "$k" "${NFAIL[$k]}" "$RUNS" "$msg"
		done
	fi
} >"$REPORT"

mkdir -p "$RESULTS_DIR"
RESULT_JSON=$RESULTS_DIR/write-$(date -u +%Y%m%dT%H%M%SZ).json
{
	printf '{\n  "date": %s,\n  "kernel": %s,\n  "cores": %s,\n' "$(json_str "$(date -u +%FT%TZ)")" \
		"$(json_str "$(uname -r)")" "$(nproc)"
	printf '  "loadavg_start": %s,\n  "loadavg_end": %s,\n' "${INFO[loadavg_start]}" "${INFO[loadavg_end]}"
	printf '  "strata": {"path": %s, "sha256": %s, "git": %s},\n' "$(json_str "$STRATA")" \
		"$(json_str "${INFO[strata_sha256]}")" "$(json_str "${INFO[strata_git]}")"
	printf '  "fuse_overlayfs_version": %s,\n  "upper_fs": %s,\n  "nofile": %s,\n' "$(json_str "${INFO[fovl_version]}")" \
		"$(json_str "${INFO[upper_fs]}")" "$(json_str "${INFO[nofile]}")"
	printf '  "settings": {"runs": %s, "small_iterations": %s, "chmod_files": %s, "rm_dir": %s, "tree_entries": %s, "timeout_s": %s},\n' \
		"$RUNS" "$NSMALL" "$NCHMOD" "$(json_str "$RM_DIR")" "$TREE_FILES" "$OP_TIMEOUT"
	printf '  "image": {"merged_entries": %s, "rm_dir_entries": %s, "rm_dir_files": %s, "chmod_bytes": %s},\n' \
		"${INFO[merged_entries]}" "${INFO[rm_entries]}" "${INFO[rm_files]}" "${INFO[chmod_bytes]}"
	printf '  "tree": {"tar": %s, "entries": %s, "regular_files": %s, "bytes": %s, "sources": %s},\n' \
		"$(json_str "$TREE_TAR")" "$(tree_get entries)" "$(tree_get regular_files)" "$(tree_get bytes)" \
		"$(json_str "$(tree_get sources)")"
	printf '  "runs_us": {'
	sep=
	for k in $(printf '%s\n' "${!RUNS_US[@]}" | sort); do
		runs=${RUNS_US[$k]% }
		printf '%s\n    %s: {"runs": [%s], "median": %s}' "$sep" "$(json_str "$k")" "${runs// /, }" \
			"$(stat_of "$k" median)"
		sep=,
	done
	printf '\n  },\n  "table_us": {'
	sep=
	for row in "${ROWS[@]}"; do
		printf '%s\n    "%s": {"strata": %s, "kovl": %s, "fovl": %s, "strata_over_kovl": %s, "strata_over_fovl": %s, "failed_runs": {"strata": %s, "kovl": %s, "fovl": %s}}' \
			"$sep" "$row" "$(json_num "${V[$row:strata]:-}")" "$(json_num "${V[$row:kovl]:-}")" \
			"$(json_num "${V[$row:fovl]:-}")" \
			"$(json_num "$(ratio "${V[$row:strata]:-}" "${V[$row:kovl]:-}")")" \
			"$(json_num "$(ratio "${V[$row:strata]:-}" "${V[$row:fovl]:-}")")" \
			"$(row_fails "$row" strata)" "$(row_fails "$row" kovl)" "$(row_fails "$row" fovl)"
		sep=,
	done
	printf '\n  },\n  "last_run": {'
	sep=
	for k in $(printf '%s\n' "${!INFO[@]}" | grep -E '^upper_(entries|bytes)_|_(fds|hwm_kb):' | sort); do
		printf '%s%s: %s' "$sep" "$(json_str "$k")" "${INFO[$k]}"
		sep=', '
	done
	printf '},\n  "targets": ['
	sep=
	for t in "${TARGET_LINES[@]}"; do
		IFS='|' read -r row text r lim verdict <<<"$t"
		printf '%s\n    {"row": "%s", "target": %s, "strata_over_fovl": %s, "limit": %s, "verdict": %s}' "$sep" "$row" \
			"$(json_str "$text")" "$(json_num "$r")" "$lim" "$(json_str "$verdict")"
		sep=,
	done
	printf '\n  ],\n  "trees": {'
	sep=
	for k in $(printf '%s\n' "${!MATCH[@]}" | sort); do
		printf '%s\n    %s: %s' "$sep" "$(json_str "$k")" "$(json_str "${MATCH[$k]}")"
		sep=,
	done
	printf '\n  },\n  "failures": {'
	sep=
	for k in $(printf '%s\n' "${!ERRS[@]}" | sort); do
		printf '%s\n    %s: {"failed_runs": %s, "first": %s}' "$sep" "$(json_str "$k")" "${NFAIL[$k]}" "$(json_str "${ERRS[$k]}")"
		sep=,
	done
	printf '\n  }\n}\n'
} >"$RESULT_JSON"
cp -- "$REPORT" "${RESULT_JSON%.json}.txt"

cat -- "$REPORT"
printf '\nresults: %s\n' "$RESULT_JSON"

((STRATA_FAILED || STRATA_DIFFERS)) && exit 3
exit 0
