#!/usr/bin/env bash
# Container start: `strata run --rm IMAGE true`, from launch to the end of
# the command, against bubblewrap and unshare + chroot over the same image
# unpacked on the local file system (see bench/README.md, "start.sh").
# Each run is paired with one of bench/probe.c instead of true, whose first
# instruction prints the time: from launch to the command's first
# instruction, the issue's measure.
#
#   bench/start.sh [options]
#     --strata PATH   strata binary (default: build/tools/strata)
#     --runs N        timed runs per tool, image and user (default 30)
#     --warmup N      untimed runs of each tool before them (default 3)
#     --first N       fresh imports, each timed with the two runs after it
#                     (default 3)
#     --cold N        runs of each tool after drop_caches (default 3; 0: none)
#     --user UID      the unprivileged user (default 65534)
#     --no-root       only as the unprivileged user
#     --no-user       only as root
#     --image NAME    busybox or debian (repeatable; default both)
#     --timeout S     a run taking longer fails and is killed (default 60)
#
# Exit status: 0 done; 1 setup error; 3 a run failed, or strata left a
# container, a process or a mount behind.

# Functions run through the watchdog and the traps only.
# shellcheck disable=SC2317
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=bench/harness.sh
. "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

STRATA=$REPO_DIR/build/tools/strata
RUNS=30 WARMUP=3 FIRST=3 COLD_RUNS=3 USER_UID=65534 DO_ROOT=1 DO_USER=1 OP_TIMEOUT=60
IMAGES=()

while (($#)); do
	case $1 in
	--strata) STRATA=$2 && shift ;;
	--runs) RUNS=$2 && shift ;;
	--warmup) WARMUP=$2 && shift ;;
	--first) FIRST=$2 && shift ;;
	--cold) COLD_RUNS=$2 && shift ;;
	--user) USER_UID=$2 && shift ;;
	--no-root) DO_ROOT=0 ;;
	--no-user) DO_USER=0 ;;
	--image) IMAGES+=("$2") && shift ;;
	--timeout) OP_TIMEOUT=$2 && shift ;;
	-h | --help)
		sed -n '2,20p' "$0"
		exit 0
		;;
	*) die "unknown argument: $1 (see --help)" ;;
	esac
	shift
done
for n in "$RUNS" "$FIRST" "$OP_TIMEOUT"; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || die "not a positive number: $n"
done
for n in "$WARMUP" "$COLD_RUNS" "$USER_UID"; do
	[[ $n =~ ^[0-9]+$ ]] || die "not a number: $n"
done
((${#IMAGES[@]})) || IMAGES=(busybox debian)
for i in "${IMAGES[@]}"; do
	[[ $i == busybox || $i == debian ]] || die "--image $i: busybox or debian"
done
((DO_ROOT || DO_USER)) || die "--no-root and --no-user: nothing to run"
((USER_UID != 0)) || die "--user 0: the unprivileged user cannot be root"
((RUNS >= 10)) || log "note: --runs $RUNS < 10, p90 is rough"

need_root
need_cmds gcc bwrap unshare chroot setpriv tar sha256sum gzip zstd mount umount find findmnt awk sort ps du file
[[ -x $STRATA ]] || die "no strata binary at $STRATA (build it: meson setup build && ninja -C build)"
STRATA=$(readlink -f "$STRATA")
BWRAP=$(command -v bwrap)
UNSHARE=$(command -v unshare)
CHROOT=$(command -v chroot)
TRUE_BIN=$(type -P true)
BUSYBOX=$(command -v busybox)
# Every tool looks its command up in PATH: the same, short one for all.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

USER_GID=$(getent passwd "$USER_UID" | cut -d: -f4)
USER_NAME=$(getent passwd "$USER_UID" | cut -d: -f1)
USER_GID=${USER_GID:-$USER_UID}
USER_NAME=${USER_NAME:-$USER_UID}
USERS=()
((DO_ROOT)) && USERS+=(root)
((DO_USER)) && USERS+=(user)
declare -A USER_LABEL=([root]=root [user]="$USER_NAME ($USER_UID)")

if [[ " ${IMAGES[*]} " == *" debian "* ]]; then
	"$BENCH_DIR/make-image.sh"
fi
if [[ " ${IMAGES[*]} " == *" busybox "* ]]; then
	file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' ||
		die "$BUSYBOX is not statically linked (install busybox-static)"
fi

# ------------------------------------------------------------------ state
MAINPID=$$
mkdir -p "$CACHE_DIR"
WORK=$(mktemp -d "$CACHE_DIR/start.XXXXXX")
chmod 0755 "$WORK" # the unprivileged user reads the images here
OUT=$WORK/op.out
declare -A RUNS_US=() # "tool:image:user" -> "us us ..."
declare -A ERRS=()    # key -> first failure
declare -A NFAIL=()   # key -> failed runs
declare -A INFO=()
PROBLEMS=()     # leftovers and other strata misbehaviour
FUSE_MODE=''    # /dev/fuse's mode before the run, when it was changed
WD_PID='' WD_SEQ=0 FIRED=$WORK/watchdog.fired
STRATA_BIN=$WORK/bin/strata
PROBE=$WORK/bin/probe

cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	set +e
	if [[ -n $WD_PID ]]; then
		echo q >&4
		kill "$WD_PID" 2>/dev/null
		wait "$WD_PID" 2>/dev/null
	fi
	for p in $(pids_of "$STRATA_BIN"); do
		log "killing leftover strata process $p"
		kill -KILL "$p" 2>/dev/null
	done
	[[ -n $FUSE_MODE ]] && chmod "$FUSE_MODE" /dev/fuse
	grep -qF -- " $WORK/ovl " /proc/self/mountinfo && umount "$WORK/ovl"
	if grep -qF -- "$WORK/" /proc/self/mountinfo; then
		log "WARNING: something is still mounted under $WORK; leaving it"
	else
		rm -rf -- "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A private copy: a rebuild during the run changes nothing, and leftover
# processes are found by their executable.
mkdir -p "$WORK/bin" "$WORK/home"
cp -- "$STRATA" "$STRATA_BIN"
chmod 0755 "$STRATA_BIN"
gcc -O2 -static -nostdlib -fno-stack-protector -o "$PROBE" "$BENCH_DIR/probe.c" ||
	die "building bench/probe.c failed"
chown "$USER_UID:$USER_GID" "$WORK/home"

# The unprivileged user needs /dev/fuse (strata's daemon opens it itself).
if [[ $(stat -c %a /dev/fuse) != 666 ]] && ((DO_USER)); then
	FUSE_MODE=$(stat -c %a /dev/fuse)
	chmod 0666 /dev/fuse
	log "chmod 0666 /dev/fuse for the run (was $FUSE_MODE; restored at the end)"
fi

# as USER CMD...: CMD as root, or as the unprivileged user (setpriv execs,
# it does not fork; its own start is in the "host true" reference too).
as() {
	local who=$1
	shift
	if [[ $who == root ]]; then
		"$@"
	else
		HOME=$WORK/home USER=$USER_NAME LOGNAME=$USER_NAME \
			setpriv --reuid="$USER_UID" --regid="$USER_GID" --clear-groups -- "$@"
	fi
}

# One watchdog for the whole run, fed "a SEQ" (arm) and "d SEQ" (disarm)
# lines: a run armed for longer than OP_TIMEOUT gets the script's children
# killed (strata's daemon and init die with the launcher: PDEATHSIG).
mkfifo "$WORK/watchdog.fifo"
exec 4<>"$WORK/watchdog.fifo"
(
	exec 3<>"$WORK/watchdog.fifo"
	armed=''
	while :; do
		if [[ -z $armed ]]; then
			read -r -u 3 tok || exit 0
			case $tok in
			a\ *) armed=${tok#a } ;;
			q) exit 0 ;;
			esac
		elif read -r -t "$OP_TIMEOUT" -u 3 tok; then
			if [[ $tok == q ]]; then exit 0; fi
			if [[ $tok == "d $armed" ]]; then armed=''; fi
		else
			: >"$FIRED"
			for p in $(ps -o pid= --ppid "$MAINPID"); do
				[[ $p == "$BASHPID" ]] || kill -KILL "$p" 2>/dev/null || true
			done
			armed=''
		fi
	done
) &
WD_PID=$!

note_error() { # KEY MSG
	NFAIL[$1]=$((${NFAIL[$1]:-0} + 1))
	[[ -n ${ERRS[$1]:-} ]] || ERRS[$1]=$2
	log "FAILED $1: $2"
}

# timed KEY USER CMD...: one run of CMD as USER, wall clock from bash's
# EPOCHREALTIME around it; stdin /dev/null, stdout and stderr to a file.
# Records microseconds under KEY (LAST_US), or the failure.  Output from a
# command that succeeded is noted too (true prints nothing).
timed() {
	local key=$1 who=$2 t0 t1 rc=0 msg
	shift 2
	WD_SEQ=$((WD_SEQ + 1))
	rm -f -- "$FIRED"
	echo "a $WD_SEQ" >&4
	t0=${EPOCHREALTIME/[.,]/}
	LAST_T0=$t0
	as "$who" "$@" </dev/null >"$OUT" 2>&1 || rc=$?
	t1=${EPOCHREALTIME/[.,]/}
	echo "d $WD_SEQ" >&4
	LAST_US=$((t1 - t0))
	if ((rc == 0)); then
		RUNS_US[$key]+="$LAST_US "
		if [[ $key != import:* && $key != probe:* && -s $OUT && -z ${INFO[output:$key]:-} ]]; then
			INFO[output:$key]=$(head -c 500 "$OUT" | tr '\n' ' ')
			log "note: $key printed: ${INFO[output:$key]}"
		fi
		return 0
	fi
	msg="exit status $rc after $(fmt_us "$LAST_US")"
	[[ -f $FIRED ]] && msg="timed out after ${OP_TIMEOUT}s (killed); $msg"
	[[ -s $OUT ]] && msg+=": $(head -c 1000 "$OUT" | tr '\n' ' ')"
	note_error "$key" "$msg"
	return 1
}

# pct KEY P: the P-th percentile (nearest rank) of KEY's runs, in us.
pct() {
	tr ' ' '\n' <<<"${RUNS_US[$1]:-}" | grep . | sort -n |
		awk -v p="$2" '{ v[NR] = $1 } END { if (NR) { i = int((p * NR + 99) / 100); print v[i < 1 ? 1 : i] } }'
}
nruns() { tr ' ' '\n' <<<"${RUNS_US[$1]:-}" | grep -c . || true; }
ms() {
	if [[ -n ${1:-} ]]; then awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; else echo -; fi
}

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# ------------------------------------------------------------------ images
# Each image: a source strata imports (IMG_SRC), the name it gets, and the
# same image unpacked as root on the local file system (IMG_ROOTFS), the
# tree bwrap and chroot run on.
declare -A IMG_SRC=() IMG_ROOTFS=() IMG_DESC=()

build_busybox() {
	local d=$WORK/img/busybox t0 t1
	mkdir -p "$d/tree/bin" "$d/tree"/{dev,etc,proc,sys,tmp,root}
	chmod 1777 "$d/tree/tmp"
	chmod 0700 "$d/tree/root"
	cp -- "$BUSYBOX" "$d/tree/bin/busybox"
	ln -s busybox "$d/tree/bin/true"
	ln -s busybox "$d/tree/bin/sh"
	cp -- "$PROBE" "$d/tree/probe"
	tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@1700000000 \
		-C "$d/tree" -cf "$d/busybox.tar" bin dev etc probe proc root sys tmp
	rm -rf -- "$d/tree"
	mkdir -p "$d/rootfs"
	t0=${EPOCHREALTIME/[.,]/}
	tar --numeric-owner --same-owner --same-permissions -C "$d/rootfs" -xf "$d/busybox.tar"
	t1=${EPOCHREALTIME/[.,]/}
	INFO[unpack_us:busybox]=$((t1 - t0))
	INFO[unpack_how:busybox]="tar -x"
	IMG_SRC[busybox]=$d/busybox.tar
	IMG_ROOTFS[busybox]=$d/rootfs
	IMG_DESC[busybox]="1 layer: $(basename "$BUSYBOX") ($(stat -c %s "$BUSYBOX") bytes, static) + symlinks true, sh + /probe; plain tar $(stat -c %s "$d/busybox.tar") bytes"
}

# The bench's three Debian layers as an OCI image layout: layer blobs are
# hard links to (or copies of) the cached layers, config and manifest are
# written here, deterministic (fixed created time).
blob_put() { # FILE -> prints the sha256 hex; FILE stays, blob linked or copied
	local f=$1 hex
	hex=$(sha256sum <"$f" | cut -d' ' -f1)
	ln -f -- "$f" "$OCI/blobs/sha256/$hex" 2>/dev/null || cp -- "$f" "$OCI/blobs/sha256/$hex"
	echo "$hex"
}
build_debian() {
	local d=$WORK/img/debian f hex size mt diff descs='' diffs='' sep='' t0 t1
	OCI=$d/oci
	mkdir -p "$OCI/blobs/sha256"
	log "debian: writing an OCI layout of the 3 cached layers (hashing them)"
	mkdir -p "$d/probe-layer"
	cp -- "$PROBE" "$d/probe-layer/probe"
	tar --numeric-owner --owner=0 --group=0 --mtime=@1700000000 -C "$d/probe-layer" -cf "$d/probe.tar" probe
	for f in "${LAYERS[@]}" "$d/probe.tar"; do
		case $f in
		*.gz)
			mt=application/vnd.oci.image.layer.v1.tar+gzip
			diff=$(gzip -dc "$f" | sha256sum | cut -d' ' -f1)
			;;
		*.zst)
			mt=application/vnd.oci.image.layer.v1.tar+zstd
			diff=$(zstd -dcq "$f" | sha256sum | cut -d' ' -f1)
			;;
		*)
			mt=application/vnd.oci.image.layer.v1.tar
			diff=
			;;
		esac
		hex=$(blob_put "$f")
		diff=${diff:-$hex}
		size=$(stat -c %s "$f")
		descs+="$sep{\"mediaType\":\"$mt\",\"digest\":\"sha256:$hex\",\"size\":$size}"
		diffs+="$sep\"sha256:$diff\""
		sep=,
	done
	printf '{"architecture":"amd64","config":{"Cmd":["/bin/bash"],"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},"created":"2023-11-14T22:13:20Z","os":"linux","rootfs":{"diff_ids":[%s],"type":"layers"}}' \
		"$diffs" >"$d/config.json"
	hex=$(blob_put "$d/config.json")
	printf '{"config":{"digest":"sha256:%s","mediaType":"application/vnd.oci.image.config.v1+json","size":%s},"layers":[%s],"mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2}' \
		"$hex" "$(stat -c %s "$d/config.json")" "$descs" >"$d/manifest.json"
	hex=$(blob_put "$d/manifest.json")
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"debian"}}]}\n' \
		"$hex" "$(stat -c %s "$d/manifest.json")" >"$OCI/index.json"
	printf '{"imageLayoutVersion":"1.0.0"}\n' >"$OCI/oci-layout"
	rm -f -- "$d/config.json" "$d/manifest.json"
	log "debian: unpacking the 3 layers into one tree (for bwrap and chroot)"
	t0=${EPOCHREALTIME/[.,]/}
	unpack_tree "$d/rootfs" "${LAYERS[@]}"
	t1=${EPOCHREALTIME/[.,]/}
	INFO[unpack_us:debian]=$((t1 - t0))
	INFO[unpack_how:debian]="tar -t + tar -x of each layer, OCI whiteouts applied"
	check_tree "$d/rootfs"
	cp -- "$PROBE" "$d/rootfs/probe"
	IMG_SRC[debian]=$OCI
	IMG_ROOTFS[debian]=$d/rootfs
	IMG_DESC[debian]="3 layers (bench/cache/layers: tar.gz, tar.zst, tar) as an OCI layout; $(stamp_sum) tar entries, ${INFO[tree_entries:debian]} merged; + a 4th layer holding /probe"
}

# check_tree DIR: DIR must list like kernel overlayfs over the bench's
# lowerdirs (path, type, mode, owner, size of non-directories, symlink
# target): it is the same image.
check_tree() {
	local mnt=$WORK/ovl
	mkdir -p "$mnt"
	mount -t overlay overlay -o "ro,lowerdir=$LOWER3:$LOWER2:$LOWER1" "$mnt" ||
		die "kernel overlayfs over the lowerdirs (for the tree check) failed"
	tree_listing "$mnt" >"$WORK/ovl.list" || true
	umount "$mnt"
	tree_listing "$1" >"$WORK/tree.list"
	if ! cmp -s "$WORK/ovl.list" "$WORK/tree.list"; then
		diff "$WORK/ovl.list" "$WORK/tree.list" | head -n 20 >&2
		die "the unpacked tree differs from kernel overlayfs over the lowerdirs (- overlayfs, + tree)"
	fi
	INFO[tree_entries:debian]=$(wc -l <"$WORK/tree.list")
}
tree_listing() {
	find "$1" -mindepth 1 \( -type d -printf '%P %y %#m %U:%G\n' \) -o -printf '%P %y %#m %U:%G %s %l\n' | sort
}

stamp_sum() {
	awk -F= '/^layer[0-9]_entries=/ { s += $2 } END { print s }' "$IMAGE_STAMP"
}

for img in "${IMAGES[@]}"; do "build_$img"; done

# ------------------------------------------------------------------ tools
# The command line of TOOL for IMAGE, as an array in CMD.
STORE=''
set_cmd() { # TOOL IMAGE [probe]
	local root=${IMG_ROOTFS[$2]} c=true chroot_c=/bin/true host_c=$TRUE_BIN
	[[ ${3:-} != probe ]] || c=/probe chroot_c=/probe host_c=$PROBE
	case $1 in
	strata) CMD=("$STRATA_BIN" run --rm --root "$STORE" "$2" "$c") ;;
	bwrap) CMD=("$BWRAP" --unshare-all --share-net --bind "$root" / --proc /proc --dev /dev "$c") ;;
	unshare) CMD=("$UNSHARE" --user --map-root-user --mount --pid --fork --uts --ipc "$CHROOT" "$root" "$chroot_c") ;;
	host) CMD=("$host_c") ;;
	esac
}
TOOLS=(strata bwrap unshare host)

STORE_RUNS=0 # strata runs on the current store
run_tool() { # KEY TOOL IMAGE USER
	set_cmd "$2" "$3"
	[[ $2 != strata ]] || STORE_RUNS=$((STORE_RUNS + 1))
	timed "$1" "$4" "${CMD[@]}"
}

# run_probe TOOL IMAGE USER: the same start with the probe as the command;
# records the whole run under probe:..., and launch to the probe's first
# instruction (the time it printed) under fi:...
run_probe() {
	local t
	set_cmd "$1" "$2" probe
	[[ $1 != strata ]] || STORE_RUNS=$((STORE_RUNS + 1))
	timed "probe:$1:$2:$3" "$3" "${CMD[@]}" || return 0
	t=$(head -n 1 "$OUT")
	if [[ $t =~ ^[0-9]+$ ]] && ((t >= LAST_T0)); then
		RUNS_US[fi:$1:$2:$3]+="$((t - LAST_T0)) "
	else
		note_error "fi:$1:$2:$3" "the probe printed '$(head -c 100 "$OUT")', not a time after the launch"
	fi
}

new_store() { # USER -> STORE, empty, owned by USER
	STORE=$WORK/store-$1
	STORE_RUNS=0
	rm -rf -- "$STORE"
	mkdir -p "$STORE"
	[[ $1 == root ]] || chown "$USER_UID:$USER_GID" "$STORE"
}

# What a strata run may leave behind: container directories in the store
# (--rm removes them), processes of this run's strata copy, mounts.
check_leftovers() { # WHEN
	local c p
	c=$(find "$STORE/strata/containers" -mindepth 1 -maxdepth 1 -printf '%f ' 2>/dev/null || true)
	[[ -z $c ]] || {
		PROBLEMS+=("$1: container directories left in the store: $c")
		rm -rf -- "$STORE/strata/containers"/*
	}
	p=$(pids_of "$STRATA_BIN" | tr '\n' ' ')
	[[ -z $p ]] || {
		PROBLEMS+=("$1: strata processes still running: $p($(for q in $p; do tr '\0' ' ' <"/proc/$q/cmdline" 2>/dev/null; echo '|'; done | tr -d '\n'))")
		# shellcheck disable=SC2086
		kill -KILL $p 2>/dev/null || true
	}
	if grep -qF -- "$WORK/" /proc/self/mountinfo; then
		PROBLEMS+=("$1: mounts under $WORK on the host: $(grep -F -- "$WORK/" /proc/self/mountinfo | awk '{ print $5 }' | tr '\n' ' ')")
	fi
}

# ------------------------------------------------------------------ runs
INFO[loadavg_start]=$(cut -d' ' -f1 /proc/loadavg)
awk -v l="${INFO[loadavg_start]}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 4) }' &&
	log "note: load average ${INFO[loadavg_start]} on $(nproc) cores: something else is running, numbers will be noisy"
INFO[strata_sha256]=$(sha256sum <"$STRATA" | cut -d' ' -f1)
INFO[strata_git]=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo none)
INFO[bwrap_version]=$("$BWRAP" --version 2>&1 | head -n 1)
INFO[unshare_version]=$("$UNSHARE" --version 2>&1 | head -n 1)
INFO[fs]=$(findmnt -n -o FSTYPE -T "$WORK" 2>/dev/null || stat -f -c %T "$WORK")

for img in "${IMAGES[@]}"; do
	for who in "${USERS[@]}"; do
		tag=$img:$who
		log "$img, as ${USER_LABEL[$who]}: $FIRST fresh imports, each with its first two runs"
		# One-time costs: import (hash, index, decompressed copies), then
		# the first and second runs on the new store.
		for ((i = 1; i <= FIRST; i++)); do
			new_store "$who"
			sync
			timed "import:$tag" "$who" "$STRATA_BIN" import -q --root "$STORE" --tag "$img" "${IMG_SRC[$img]}" ||
				die "import of $img as ${USER_LABEL[$who]} failed: ${ERRS[import:$tag]}"
			run_tool "first:$tag" strata "$img" "$who" || true
			run_tool "second:$tag" strata "$img" "$who" || true
		done
		INFO[store_bytes:$tag]=$(du -sb "$STORE" | cut -f1)
		INFO[index_bytes:$tag]=$(du -sb "$STORE/strata/layers" | cut -f1)
		check_leftovers "$img as ${USER_LABEL[$who]}, after the imports"

		sync # the import's writeback is not the runs' business
		log "$img, as ${USER_LABEL[$who]}: $WARMUP warm-up + $RUNS timed runs of ${TOOLS[*]}"
		for ((i = 0; i < WARMUP; i++)); do
			for t in "${TOOLS[@]}"; do run_tool "warmup:$t:$tag" "$t" "$img" "$who" || true; done
		done
		for ((i = 0; i < RUNS; i++)); do
			# The order rotates, so none always follows the same one.
			k=$((i % ${#TOOLS[@]}))
			for t in "${TOOLS[@]:k}" "${TOOLS[@]:0:k}"; do
				run_tool "$t:$tag" "$t" "$img" "$who" || true
				run_probe "$t" "$img" "$who"
			done
		done
		check_leftovers "$img as ${USER_LABEL[$who]}, after the timed runs"

		if ((COLD_RUNS)); then
			log "$img, as ${USER_LABEL[$who]}: $COLD_RUNS runs of each after drop_caches"
			for ((i = 0; i < COLD_RUNS; i++)); do
				for t in strata bwrap unshare; do
					drop_caches
					run_tool "cold:$t:$tag" "$t" "$img" "$who" || true
				done
			done
			check_leftovers "$img as ${USER_LABEL[$who]}, after the cold runs"
		fi
		# Mount records (strata/mounts/<pid>, docs/store.md): gc deletes
		# the stale ones; counted here, not a failure.
		INFO[mount_records:$tag]="$(find "$STORE/strata/mounts" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) after $STORE_RUNS runs"
	done
done
INFO[loadavg_end]=$(cut -d' ' -f1 /proc/loadavg)

# ------------------------------------------------------------------ report
TARGET=2.0
cell() { # KEY -> "median / p90", or FAIL(k/n)
	local n=${NFAIL[$1]:-0}
	if ((n)); then
		printf 'FAIL(%s/%s)' "$n" "$((n + $(nruns "$1")))"
	elif [[ -n ${RUNS_US[$1]:-} ]]; then
		printf '%s / %s' "$(ms "$(stat_of "$1" median)")" "$(ms "$(pct "$1" 90)")"
	else
		echo -
	fi
}
med() { ((${NFAIL[$1]:-0})) || stat_of "$1" median; }
span() { # KEY -> "median (min-max)", or FAIL(k/n)
	if ((${NFAIL[$1]:-0})) || [[ -z ${RUNS_US[$1]:-} ]]; then
		cell "$1"
	else
		printf '%s (%s-%s)' "$(ms "$(stat_of "$1" median)")" "$(ms "$(stat_of "$1" best)")" "$(ms "$(pct "$1" 100)")"
	fi
}

# json_targets KEY_PREFIX LINE...: the target verdicts ("img|who|ratio|verdict")
# as JSON objects; KEY_PREFIX picks the runs (fi: for the first instruction).
json_targets() {
	local pre=$1 sep='' t img who r verdict
	shift
	for t in "$@"; do
		IFS='|' read -r img who r verdict <<<"$t"
		printf '%s\n    {"image": "%s", "user": "%s", "strata_over_bwrap": %s, "strata_over_unshare": %s, "limit": %s, "verdict": %s}' \
			"$sep" "$img" "$who" "$(json_num "$r")" \
			"$(json_num "$(ratio "$(med "${pre}strata:$img:$who")" "$(med "${pre}unshare:$img:$who")")")" "$TARGET" \
			"$(json_str "$verdict")"
		sep=,
	done
}

REPORT=$WORK/report.txt
TARGET_LINES=() FI_TARGET_LINES=()
verdict() { # RATIO STRATA_KEY
	if ((${NFAIL[$2]:-0})); then
		echo "FAIL (strata failed)"
	elif [[ $1 == - ]]; then
		echo n/a
	elif awk -v r="$1" -v l="$TARGET" 'BEGIN { exit !(r <= l) }'; then
		echo ok
	else
		echo MISSED
	fi
}
{
	printf '\nstrata start bench  %s  kernel %s  %s cores  load average %s at start, %s at end\n' \
		"$(date -u +%FT%TZ)" "$(uname -r)" "$(nproc)" "${INFO[loadavg_start]}" "${INFO[loadavg_end]}"
	printf 'strata %s (git %s); %s; %s\n' "${INFO[strata_sha256]:0:12}" "${INFO[strata_git]}" \
		"${INFO[bwrap_version]}" "${INFO[unshare_version]}"
	for img in "${IMAGES[@]}"; do
		printf 'image %s: %s; unpacked for bwrap/chroot with %s on %s\n' "$img" "${IMG_DESC[$img]}" \
			"${INFO[unpack_how:$img]}" "${INFO[fs]}"
	done
	printf '\nstrata:  strata run --rm --root STORE IMAGE true\n'
	printf 'bwrap:   bwrap --unshare-all --share-net --bind ROOTFS / --proc /proc --dev /dev true\n'
	printf 'unshare: unshare --user --map-root-user --mount --pid --fork --uts --ipc chroot ROOTFS /bin/true\n'
	printf 'host:    true, no container (the floor: fork + exec from bash, through setpriv for the user)\n'
	printf '\nwarm start, ms: median / p90 of %s runs each (after %s warm-up runs), interleaved\n' "$RUNS" "$WARMUP"
	printf '%-8s %-16s %15s %15s %15s %13s %12s %14s\n' image user strata bwrap unshare+chroot "host true" \
		strata/bwrap strata/unshare
	for img in "${IMAGES[@]}"; do
		for who in "${USERS[@]}"; do
			tag=$img:$who
			rb=$(ratio "$(med "strata:$tag")" "$(med "bwrap:$tag")")
			ru=$(ratio "$(med "strata:$tag")" "$(med "unshare:$tag")")
			printf '%-8s %-16s %15s %15s %15s %13s %12s %14s\n' "$img" "${USER_LABEL[$who]}" \
				"$(cell "strata:$tag")" "$(cell "bwrap:$tag")" "$(cell "unshare:$tag")" \
				"$(cell "host:$tag")" "$rb" "$ru"
			TARGET_LINES+=("$img|$who|$rb|$(verdict "$rb" "strata:$tag")")
		done
	done
	printf '\nto the first instruction, ms: median / p90 of %s runs each of /probe (bench/probe.c) as the command,\n' "$RUNS"
	printf 'from launch to the time its first instruction read (interleaved with the runs above)\n'
	printf '%-8s %-16s %15s %15s %15s %13s %12s %14s\n' image user strata bwrap unshare+chroot "host probe" \
		strata/bwrap strata/unshare
	for img in "${IMAGES[@]}"; do
		for who in "${USERS[@]}"; do
			tag=$img:$who
			rb=$(ratio "$(med "fi:strata:$tag")" "$(med "fi:bwrap:$tag")")
			ru=$(ratio "$(med "fi:strata:$tag")" "$(med "fi:unshare:$tag")")
			printf '%-8s %-16s %15s %15s %15s %13s %12s %14s\n' "$img" "${USER_LABEL[$who]}" \
				"$(cell "fi:strata:$tag")" "$(cell "fi:bwrap:$tag")" "$(cell "fi:unshare:$tag")" \
				"$(cell "fi:host:$tag")" "$rb" "$ru"
			FI_TARGET_LINES+=("$img|$who|$rb|$(verdict "$rb" "fi:strata:$tag")")
		done
	done
	printf '\ntarget (issue): strata within %sx of bwrap over an unpacked tree, mount included (medians)\n' "$TARGET"
	for what in "to the first instruction (the issue's measure)" "whole run of true, exit and clean-up included"; do
		printf '  %s:\n' "$what"
		if [[ $what == to* ]]; then lines=("${FI_TARGET_LINES[@]}"); else lines=("${TARGET_LINES[@]}"); fi
		for t in "${lines[@]}"; do
			IFS='|' read -r img who r verdict <<<"$t"
			[[ $r == - ]] || r+=x
			printf '    %-8s %-16s %6s  %s\n' "$img" "${USER_LABEL[$who]}" "$r" "$verdict"
		done
	done

	printf '\none-time costs, ms (median of %s fresh stores; min - max)\n' "$FIRST"
	printf '%-8s %-16s %28s %26s %22s %12s\n' image user "strata import (+index)" "first run after import" \
		"second run" "warm median"
	for img in "${IMAGES[@]}"; do
		for who in "${USERS[@]}"; do
			tag=$img:$who
			printf '%-8s %-16s %28s %26s %22s %12s\n' "$img" "${USER_LABEL[$who]}" "$(span "import:$tag")" \
				"$(span "first:$tag")" "$(span "second:$tag")" "$(ms "$(med "strata:$tag")")"
		done
	done
	for img in "${IMAGES[@]}"; do
		for who in "${USERS[@]}"; do
			printf '  store after import, %s as %s: %s bytes, of which strata/layers (indexes, decompressed copies) %s\n' \
				"$img" "${USER_LABEL[$who]}" "${INFO[store_bytes:$img:$who]:-?}" "${INFO[index_bytes:$img:$who]:-?}"
		done
		printf '  bwrap/chroot tree, %s: %s as root, %s ms (once)\n' "$img" "${INFO[unpack_how:$img]}" \
			"$(ms "${INFO[unpack_us:$img]}")"
	done
	for img in "${IMAGES[@]}"; do
		for who in "${USERS[@]}"; do
			printf '  mount records in strata/mounts of the last store, %s as %s: %s (gc removes stale ones)\n' \
				"$img" "${USER_LABEL[$who]}" "${INFO[mount_records:$img:$who]:-?}"
		done
	done

	if ((COLD_RUNS)); then
		printf '\ncold page cache, ms: median (min - max) of %s runs, each right after sync + drop_caches\n' "$COLD_RUNS"
		printf '%-8s %-16s %22s %22s %22s %12s\n' image user strata bwrap unshare+chroot strata/bwrap
		for img in "${IMAGES[@]}"; do
			for who in "${USERS[@]}"; do
				tag=$img:$who
				printf '%-8s %-16s %22s %22s %22s %12s\n' "$img" "${USER_LABEL[$who]}" "$(span "cold:strata:$tag")" \
					"$(span "cold:bwrap:$tag")" "$(span "cold:unshare:$tag")" \
					"$(ratio "$(med "cold:strata:$tag")" "$(med "cold:bwrap:$tag")")"
			done
		done
	fi

	# Slow outliers: strata runs above 3x their median.
	outl=()
	for img in "${IMAGES[@]}"; do
		for who in "${USERS[@]}"; do
			for t in strata bwrap unshare; do
				key=$t:$img:$who
				m=$(med "$key")
				[[ -n $m ]] || continue
				n=$(tr ' ' '\n' <<<"${RUNS_US[$key]}" | awk -v m="$m" '$1 > 3 * m' | wc -l)
				((n == 0)) || outl+=("$key: $n of $(nruns "$key") runs above 3x the median (max $(ms "$(pct "$key" 100)") ms)")
			done
		done
	done
	if ((${#outl[@]})); then
		printf '\nslow outliers:\n'
		printf '  %s\n' "${outl[@]}"
	fi
	if ((${#ERRS[@]})); then
		printf '\nfailures (failed runs: first error):\n'
		for k in $(printf '%s\n' "${!ERRS[@]}" | sort); do
			printf '  %s: %s: %s\n' "$k" "${NFAIL[$k]}" "${ERRS[$k]:0:600}"
		done
	fi
	if ((${#PROBLEMS[@]})); then
		printf '\nleft behind by strata:\n'
		printf '  %s\n' "${PROBLEMS[@]}"
	fi
	outs=$(for k in "${!INFO[@]}"; do
		if [[ $k == output:* ]]; then printf '  %s: %s\n' "${k#output:}" "${INFO[$k]}"; fi
	done | sort)
	[[ -z $outs ]] || printf '\noutput of successful runs (true prints nothing):\n%s\n' "$outs"
} >"$REPORT"

mkdir -p "$RESULTS_DIR"
RESULT_JSON=$RESULTS_DIR/start-$(date -u +%Y%m%dT%H%M%SZ).json
{
	printf '{\n  "date": %s,\n  "kernel": %s,\n  "cores": %s,\n' "$(json_str "$(date -u +%FT%TZ)")" \
		"$(json_str "$(uname -r)")" "$(nproc)"
	printf '  "loadavg_start": %s,\n  "loadavg_end": %s,\n' "${INFO[loadavg_start]}" "${INFO[loadavg_end]}"
	printf '  "strata": {"path": %s, "sha256": %s, "git": %s},\n' "$(json_str "$STRATA")" \
		"$(json_str "${INFO[strata_sha256]}")" "$(json_str "${INFO[strata_git]}")"
	printf '  "bwrap_version": %s,\n  "unshare_version": %s,\n  "fs": %s,\n' "$(json_str "${INFO[bwrap_version]}")" \
		"$(json_str "${INFO[unshare_version]}")" "$(json_str "${INFO[fs]}")"
	printf '  "settings": {"runs": %s, "warmup": %s, "first": %s, "cold": %s, "user_uid": %s, "timeout_s": %s},\n' \
		"$RUNS" "$WARMUP" "$FIRST" "$COLD_RUNS" "$USER_UID" "$OP_TIMEOUT"
	printf '  "images": {'
	sep=
	for img in "${IMAGES[@]}"; do
		printf '%s\n    "%s": {"description": %s, "unpack": %s, "unpack_us": %s}' "$sep" "$img" \
			"$(json_str "${IMG_DESC[$img]}")" "$(json_str "${INFO[unpack_how:$img]}")" "${INFO[unpack_us:$img]}"
		sep=,
	done
	printf '\n  },\n  "runs_us": {'
	sep=
	for k in $(printf '%s\n' "${!RUNS_US[@]}" | grep -v '^warmup:' | sort); do
		runs=${RUNS_US[$k]% }
		printf '%s\n    %s: {"runs": [%s], "median": %s, "p90": %s}' "$sep" "$(json_str "$k")" "${runs// /, }" \
			"$(stat_of "$k" median)" "$(pct "$k" 90)"
		sep=,
	done
	printf '\n  },\n  "targets": ['
	json_targets '' "${TARGET_LINES[@]}"
	printf '\n  ],\n  "targets_first_instruction": ['
	json_targets fi: "${FI_TARGET_LINES[@]}"
	printf '\n  ],\n  "store_bytes": {'
	sep=
	for k in $(printf '%s\n' "${!INFO[@]}" | grep -E '^(store|index)_bytes:' | sort); do
		printf '%s%s: %s' "$sep" "$(json_str "$k")" "${INFO[$k]}"
		sep=', '
	done
	printf '},\n  "mount_records": {'
	sep=
	for k in $(printf '%s\n' "${!INFO[@]}" | grep -E '^mount_records:' | sort); do
		printf '%s%s: %s' "$sep" "$(json_str "${k#mount_records:}")" "$(json_str "${INFO[$k]}")"
		sep=', '
	done
	printf '},\n  "failures": {'
	sep=
	for k in $(printf '%s\n' "${!ERRS[@]}" | sort); do
		printf '%s\n    %s: {"failed_runs": %s, "first": %s}' "$sep" "$(json_str "$k")" "${NFAIL[$k]}" \
			"$(json_str "${ERRS[$k]}")"
		sep=,
	done
	printf '\n  },\n  "left_behind": ['
	sep=
	for p in "${PROBLEMS[@]}"; do
		printf '%s\n    %s' "$sep" "$(json_str "$p")"
		sep=,
	done
	printf '\n  ]\n}\n'
} >"$RESULT_JSON"
cp -- "$REPORT" "${RESULT_JSON%.json}.txt"

cat -- "$REPORT"
printf '\nresults: %s\n' "$RESULT_JSON"

((${#ERRS[@]} || ${#PROBLEMS[@]})) && exit 3
exit 0
