# shellcheck shell=bash
# The machinery bench/run.sh and bench/write.sh share: finding daemons,
# reading mount state without touching a possibly hung mount, a watchdog
# that aborts a stuck FUSE connection, unmounting and cleaning up, and
# formatting results.  Sourced after lib.sh; the functions use the caller's
# globals (STRATA_BIN, FOVL_BIN, WORK, MNT_OF, MNT_KIND, FSES, OP_TIMEOUT,
# MAINPID, WD_SEQ, WD_PID, ERRF) and its note_error.

FUSECTL_MOUNTED=0

# --------------------------------------------------------------- processes
# pids_of EXE [ARG]: processes running EXE (with ARG in their argv).
pids_of() {
	local exe=$1 want=${2:-} f pid arg found
	while IFS= read -r f; do
		pid=${f#/proc/}
		pid=${pid%/exe}
		if [[ -n $want ]]; then
			found=0
			while IFS= read -r -d '' arg; do
				[[ $arg == "$want" ]] && found=1
			done 2>/dev/null <"/proc/$pid/cmdline" || true
			((found)) || continue
		fi
		echo "$pid"
	done < <(find /proc -mindepth 2 -maxdepth 2 -name exe -lname "$exe" 2>/dev/null || true)
}

daemon_pids() { # FS MNT
	case $1 in
	strata) pids_of "$STRATA_BIN" ;;
	fovl) pids_of "$FOVL_BIN" "$2" ;;
	esac
}

# Mount state comes from mountinfo: stat() on a hung FUSE mount would hang.
# mount_field MNT N: field N (3: dev, 9: fstype) of MNT's topmost mount.
mount_field() {
	local mnt=${1// /\\040}
	awk -v m="$mnt" -v n="$2" '$5 == m { for (i = 7; $i != "-"; i++); f[3] = $3; f[9] = $(i + 1); v = f[n] }
		END { if (v != "") print v }' /proc/self/mountinfo
}

is_mounted() { [[ -n $(mount_field "$1" 3) ]]; }

# fuse_abort MNT: abort the FUSE connection behind MNT (unblocks anything
# stuck on a hung daemon) through fusectl.
fuse_abort() {
	local devno
	[[ $(mount_field "$1" 9) == fuse* ]] || return 0
	devno=$(mount_field "$1" 3)
	echo 1 >"/sys/fs/fuse/connections/${devno#*:}/abort" 2>/dev/null ||
		log "could not abort the FUSE connection of $1 (dev $devno)"
}

# A watchdog per timed operation: after OP_TIMEOUT seconds it aborts the FUSE
# connection and kills this script's children (by pid).  Waiting happens in a
# bash builtin read on a fifo, so arming it costs the timed code nothing.
watchdog_start() { # MNT
	local mnt=$1 seq
	WD_SEQ=$((WD_SEQ + 1))
	seq=$WD_SEQ
	rm -f -- "$WORK/watchdog.fired"
	(
		exec 3<>"$WORK/watchdog.fifo"
		while read -r -t "$OP_TIMEOUT" -u 3 tok; do
			[[ $tok == "$seq" ]] && exit 0
		done
		: >"$WORK/watchdog.fired"
		fuse_abort "$mnt"
		for p in $(ps -o pid= --ppid "$MAINPID"); do
			[[ $p == "$BASHPID" ]] || kill -KILL "$p" 2>/dev/null || true
		done
	) &
	WD_PID=$!
}

watchdog_stop() {
	echo "$WD_SEQ" >&4
	wait "$WD_PID" 2>/dev/null || true
	WD_PID=
}

do_umount() { # FS
	local fs=$1 mnt=${MNT_OF[$1]} i pids
	if is_mounted "$mnt"; then
		case $fs in
		strata) timeout 30 "$STRATA_BIN" umount "$mnt" >>"$WORK/umount.log" 2>&1 ||
			{ log "strata umount $mnt failed: $(tail -n 3 "$WORK/umount.log")" && fusermount3 -u -- "$mnt" 2>/dev/null; } || true ;;
		fovl) timeout 30 fusermount3 -u -- "$mnt" || true ;;
		kovl) umount -- "$mnt" || true ;;
		esac
		if is_mounted "$mnt"; then
			[[ $fs == kovl ]] || fuse_abort "$mnt"
			umount -l -- "$mnt" 2>/dev/null || true
		fi
	fi
	unset "MNT_KIND[$mnt]"
	[[ $fs == kovl ]] && return 0
	# Wait for the daemon to go (so the next mount starts from nothing).
	for ((i = 0; i < 500; i++)); do
		pids=$(daemon_pids "$fs" "$mnt")
		[[ -z $pids ]] && return 0
		sleep 0.02
	done
	log "$fs daemon $pids still alive 10 s after umount; killing it"
	[[ $fs == strata ]] && note_error "umount:strata" "daemon (pid $pids) did not exit within 10 s of umount"
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null || true
}

cleanup() {
	local rc=$? fs p
	trap - EXIT INT TERM
	set +e
	[[ -n $WD_PID ]] && kill "$WD_PID" 2>/dev/null
	for fs in "${FSES[@]}"; do
		if [[ -n ${MNT_KIND[${MNT_OF[$fs]}]:-} ]] || is_mounted "${MNT_OF[$fs]}"; then
			do_umount "$fs"
		fi
	done
	for p in $(pids_of "$STRATA_BIN") $(pids_of "$FOVL_BIN" "${MNT_OF[fovl]}"); do
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

# ------------------------------------------------------------- report
# stat_of KEY best|median -> microseconds, or empty
stat_of() {
	local runs=${RUNS_US[$1]:-}
	[[ -n $runs ]] || return 0
	tr ' ' '\n' <<<"$runs" | grep . | sort -n | awk -v w="$2" '
		{ v[NR] = $1 }
		END { if (w == "best") print v[1];
		      else if (NR % 2) print v[(NR + 1) / 2];
		      else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

fmt_us() { # microseconds -> "12.3 ms" / "4.56 s"
	[[ -n $1 ]] || {
		echo "-"
		return
	}
	awk -v u="$1" 'BEGIN {
		if (u < 10000) printf "%.2f ms", u / 1000; else if (u < 1000000) printf "%.1f ms", u / 1000;
		else printf "%.2f s", u / 1000000 }'
}

ratio() { # A B -> A/B
	[[ -n $1 && -n $2 && $2 != 0 ]] || {
		echo "-"
		return
	}
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

# Machine-readable results.
json_str() {
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/\\n}
	s=${s//$'\t'/ }
	s=$(tr -d '\000-\037' <<<"$s")
	printf '"%s"' "$s"
}

json_num() { if [[ -n ${1:-} && $1 != - ]]; then printf '%s' "$1"; else printf null; fi; }

# mount_fusectl: fusectl is needed to abort a hung FUSE connection; mount
# it for the run if nobody has (cleanup unmounts it again).
mount_fusectl() {
	[[ -d /sys/fs/fuse/connections ]] && ! grep -q ' - fusectl ' /proc/self/mountinfo || return 0
	if mount -t fusectl fusectl /sys/fs/fuse/connections 2>/dev/null; then
		FUSECTL_MOUNTED=1
	else
		log "note: could not mount fusectl; a hung FUSE daemon cannot be aborted"
	fi
}
