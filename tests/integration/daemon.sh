#!/bin/bash
# daemon: the background daemon unmounts cleanly on SIGTERM; -f runs in the
# foreground until `strata umount` or SIGTERM; -d works; the mount is live
# when `strata mount` returns; concurrent readers see identical data;
# -o allow_other lets another user in.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ~300 files, 40 MiB in all, in two layers (one gzip-compressed).
{
	echo 'dir data'
	for i in $(seq 1 150); do
		printf 'file data/f%03d size=%d seed=%d\n' "$i" $(((i * 7919) % 300000 + 1)) "$i"
	done
	echo 'file data/secret content=secret mode=0600'
	echo 'dir data/big'
	for i in 1 2 3 4; do
		printf 'file data/big/b%d size=%d seed=%d\n' "$i" $((8 * 1000 * 1000 + i)) "$i"
	done
} | mk "$T/l1.tar"
{
	echo 'dir data'
	for i in $(seq 100 250); do
		printf 'file data/f%03d size=%d seed=%d\n' "$i" $(((i * 104729) % 200000 + 1)) $((i + 1000))
	done
} | mk "$T/l2.tar.gz" -z gzip
LAYERS=(--layer "$T/l1.tar" --layer "$T/l2.tar.gz")

# The reference: GNU tar extracts the layers in order (no whiteouts here).
mkdir "$T/ref"
tar -C "$T/ref" -xf "$T/l1.tar"
tar -C "$T/ref" -xzf "$T/l2.tar.gz"
ref_sums=$(content_sums "$T/ref")

M=$T/mnt

# ---- background daemon, SIGTERM ----
smount "$M" "${LAYERS[@]}"
# Live as soon as `strata mount` returned: no waiting.
pattern 0 7920 1 >"$T/exp"
assert_same_file 'live at once (f001)' "$T/exp" "$M/data/f001"
pids=$(strata_pids "$M")
assert_eq 'one daemon process' 1 "$(wc -w <<<"$pids" | tr -d ' ')"
if [ -n "$pids" ]; then
	# shellcheck disable=SC2086 # one pid per word
	kill -TERM $pids
	if wait_until 10 not_mounted "$M"; then
		pass
	else
		fail 'SIGTERM: still mounted after 10 s'
		force_unmount "$M"
	fi
	if wait_until 10 no_daemon "$M"; then pass; else fail 'SIGTERM: the daemon did not exit'; fi
	assert_eq 'SIGTERM: the mountpoint is a plain empty dir again' '' "$(ls -A "$M")"
fi
# And it can be mounted again right away.
smount "$M" "${LAYERS[@]}"
assert_same_file 'remount after SIGTERM' "$T/exp" "$M/data/f001"
sumount "$M"
if wait_until 10 no_daemon "$M"; then pass; else fail 'strata umount: the daemon did not exit'; fi

# ---- foreground (-f) ----
fg_mount() { # fg_mount LOG ARGS...: starts `strata mount -f`, sets FG_PID
	local log=$1
	shift
	"$STRATA" mount --cache-dir "$CACHE" "$@" "${LAYERS[@]}" "$M" >"$log" 2>&1 &
	FG_PID=$!
	MOUNTS+=("$M")
	if wait_until 20 is_mounted "$M"; then pass; else fail "strata mount $*: not mounted after 20 s"; fi
}
fg_wait() { # fg_wait WHAT: the foreground strata must end within 10 s; prints its exit code
	local i
	for i in $(seq 1 100); do
		kill -0 "$FG_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$FG_PID" 2>/dev/null; then
		fail "$1: strata mount -f still running"
		kill -KILL "$FG_PID" 2>/dev/null || true
	fi
	set +e
	wait "$FG_PID"
	FG_RC=$?
	set -e
}

fg_mount "$T/fg1.log" -f
assert_true '-f: still running while mounted' kill -0 "$FG_PID"
assert_same_file '-f: serves' "$T/exp" "$M/data/f001"
sumount "$M"
fg_wait '-f then strata umount'
assert_eq '-f then strata umount: exit code' 0 "$FG_RC"

fg_mount "$T/fg2.log" -f
kill -TERM "$FG_PID"
fg_wait '-f then SIGTERM'
assert_eq '-f then SIGTERM: exit code (clean unmount)' 0 "$FG_RC"
assert_false '-f then SIGTERM: unmounted' is_mounted "$M"
force_unmount "$M"

fg_mount "$T/fg3.log" -d
assert_same_file '-d: serves' "$T/exp" "$M/data/f001"
assert_true '-d: prints debug output' test -s "$T/fg3.log"
sumount "$M"
fg_wait '-d then strata umount'
assert_eq '-d then strata umount: exit code' 0 "$FG_RC"

# ---- concurrent readers ----
smount "$M" "${LAYERS[@]}"
reader() { # reader N: all files, in one of four orders, to one checksum list
	case $1 in
	1) (cd "$M" && find . -type f -print0 | sort -z | xargs -0 sha256sum) ;;
	2) (cd "$M" && find . -type f -print0 | sort -rz | xargs -0 sha256sum | sort -k2) ;;
	3) (cd "$M" && find . -type f -print0 | sort -z | xargs -0 -n 1 -P 4 sha256sum | sort -k2) ;;
	4) (cd "$M" && find . -type f -print0 | sort -z | xargs -0 -n 20 -P 2 sha256sum | sort -k2) ;;
	esac >"$T/reader$1.out" 2>"$T/reader$1.err"
}
rpids=()
for r in 1 2 3 4; do
	reader "$r" &
	rpids+=($!)
done
# While they run, random small reads of the big files.
for i in $(seq 1 40); do
	b=$((i % 4 + 1))
	off=$(((i * 1234567) % 8000000))
	dd if="$M/data/big/b$b" iflag=skip_bytes,count_bytes skip="$off" count=4097 status=none >"$T/rnd"
	pattern "$off" 4097 "$b" >"$T/rnd.exp"
	cmp -s "$T/rnd" "$T/rnd.exp" || fail "random read of b$b at $off differs"
done
for r in 1 2 3 4; do
	wait "${rpids[$((r - 1))]}" || fail "reader $r failed: $(head -c 300 "$T/reader$r.err")"
	assert_same_text "reader $r: checksums" "$ref_sums" "$(cat "$T/reader$r.out")"
done
sumount "$M"

# ---- -o allow_other ----
chmod 0755 "$T"
OTHER=(setpriv --reuid=65534 --regid=65534 --clear-groups)
smount "$M" "${LAYERS[@]}"
assert_fails_with 'without allow_other another user is kept out' 'Permission denied' "${OTHER[@]}" stat "$M/data"
sumount "$M"
smount "$M" -o allow_other "${LAYERS[@]}"
assert_eq 'with allow_other another user reads' "$(sha256sum <"$T/exp")" "$("${OTHER[@]}" cat "$M/data/f001" | sha256sum)"
# Permissions are those of the tar: a 0600 root file stays private.
assert_fails_with 'with allow_other, a 0600 file is still private' 'Permission denied' "${OTHER[@]}" cat "$M/data/secret"
assert_fails_with 'with allow_other, writes still fail' 'Read-only file system' "${OTHER[@]}" touch "$M/data/f001"
sumount "$M"

# ---- a relative mountpoint ----
# The daemon must still find its mountpoint when told to stop, wherever it
# has chdir'ed to.
smount_rel() {
	MOUNTS+=("$M")
	(cd "$T" && timeout 60 "$STRATA" mount --cache-dir "$CACHE" "${LAYERS[@]}" mnt) ||
		fail "strata mount with a relative mountpoint: exit $?"
	if is_mounted "$M"; then pass; else fail 'relative mountpoint: not mounted'; fi
}
smount_rel
assert_same_file 'relative mountpoint: serves' "$T/exp" "$M/data/f001"
pids=$(strata_pids mnt)
assert_eq 'relative mountpoint: one daemon process' 1 "$(wc -w <<<"$pids" | tr -d ' ')"
if [ -n "$pids" ]; then
	# shellcheck disable=SC2086 # one pid per word
	kill -TERM $pids
	if wait_until 10 not_mounted "$M"; then pass; else fail 'relative mountpoint: still mounted 10 s after SIGTERM'; fi
fi
force_unmount "$M"
smount_rel
run bash -c 'cd "$1" && "$2" umount mnt' _ "$T" "$STRATA"
assert_eq "relative mountpoint: strata umount mnt (stderr: $ERR)" 0 "$RC"
if wait_until 10 not_mounted "$M"; then pass; else fail 'relative mountpoint: still mounted after strata umount'; fi
force_unmount "$M"
finish
