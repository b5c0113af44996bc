#!/bin/bash
# umount: `strata umount` returns only once the daemon serving the mount has
# exited, so a script can remount the same upper at once (200 rounds of
# write, unmount, remount: one daemon each time, the data there); --lazy
# still detaches a busy mount and returns at once; --timeout names the pid
# of a daemon that does not exit.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=${UMOUNT_ROUNDS:-200}
LIMIT_S=120

printf 'file base content=base\n' | mk "$T/l.tar"
M=$T/m
U=$T/upper
mkdir -p "$U"

ndaemons() { strata_pids "$1" | wc -l | tr -d ' '; }

# ---- the remount loop ----

# Under load (a busy loop per CPU) a daemon takes longer to exit after the
# kernel lets go of the mount: the window a too-early return would show in.
LOAD=()
for _ in $(seq 1 "$(nproc)"); do
	bash -c 'while :; do :; done' _ "$T/load" &
	LOAD+=($!)
done
start=$SECONDS
smount "$M" --upper "$U" --layer "$T/l.tar"
for i in $(seq 1 "$ROUNDS"); do
	if [ $((SECONDS - start)) -gt "$LIMIT_S" ]; then
		fail "loop: more than $LIMIT_S s, stopped at round $i of $ROUNDS"
		break
	fi
	printf '%s\n' "$i" >"$M/f" || { fail "round $i: writing $M/f failed"; break; }
	run "$STRATA" umount "$M"
	if [ "$RC" != 0 ]; then
		fail "round $i: strata umount: exit $RC: $ERR"
		break
	fi
	# The point: once umount returns, the daemon is gone and the upper
	# holds the file.
	n=$(ndaemons "$M")
	[ "$n" = 0 ] || { fail "round $i: $n daemon(s) still running after umount returned"; break; }
	[ "$(cat "$U/f" 2>/dev/null)" = "$i" ] || { fail "round $i: the upper lacks f=$i"; break; }
	run "$STRATA" mount --cache-dir "$CACHE" --upper "$U" --layer "$T/l.tar" "$M"
	if [ "$RC" != 0 ]; then
		fail "round $i: remount: exit $RC: $ERR"
		break
	fi
	n=$(ndaemons "$M")
	[ "$n" = 1 ] || { fail "round $i: one daemon expected after the remount, got $n"; break; }
	[ "$(cat "$M/f" 2>/dev/null)" = "$i" ] || { fail "round $i: f after the remount is not $i"; break; }
	pass
done
elapsed=$((SECONDS - start))
kill "${LOAD[@]}"
wait "${LOAD[@]}" 2>/dev/null || true
log "loop: $ROUNDS rounds in $elapsed s"
sumount "$M"
assert_true 'loop: no daemon after the last umount' no_daemon "$M"
assert_content 'loop: the upper keeps the last write' "$U/f" "$ROUNDS\n"

# ---- --lazy: a busy mount is detached at once; its daemon ends later ----

smount "$M" --upper "$U" --layer "$T/l.tar"
exec 3<"$M/f"
run "$STRATA" umount "$M"
assert_one_error_line 'busy mount without --lazy' 1
assert_true 'busy mount without --lazy: still mounted' is_mounted "$M"
start=$SECONDS
run "$STRATA" umount --lazy "$M"
assert_eq '--lazy: exit code' 0 "$RC"
assert_eq '--lazy: nothing on stderr' '' "$ERR"
assert_true '--lazy: returns at once' test $((SECONDS - start)) -le 2
assert_true '--lazy: detached' not_mounted "$M"
assert_eq '--lazy: the daemon serves the open file meanwhile' 1 "$(ndaemons "$M")"
assert_eq '--lazy: the open file still reads' "$ROUNDS" "$(cat <&3)"
exec 3<&-
if wait_until 10 no_daemon "$M"; then pass; else fail '--lazy: the daemon did not exit once the mount was free'; fi

# ---- --timeout: a daemon that does not exit is named ----

smount "$M" --upper "$U" --layer "$T/l.tar"
pid=$(strata_pids "$M")
assert_eq '--timeout: one daemon' 1 "$(wc -w <<<"$pid" | tr -d ' ')"
kill -STOP "$pid"
start=$SECONDS
run "$STRATA" umount --timeout 1 "$M"
kill -CONT "$pid"
assert_one_error_line '--timeout 1, stopped daemon' 1
assert_eq '--timeout 1: the message' "strata: umount: $M: daemon (pid $pid) still running after 1 s" "$ERR"
assert_true '--timeout 1: gave up after about 1 s' test $((SECONDS - start)) -le 3
assert_true '--timeout 1: unmounted anyway' not_mounted "$M"
if wait_until 10 no_daemon "$M"; then pass; else fail '--timeout: the daemon did not exit once continued'; fi

# ---- a copy in another mount namespace ----

# A mount namespace made while the mount exists keeps a copy of it, and
# with it the daemon; strata umount tells that daemon to end after its 2 s
# grace instead of waiting out its timeout (the flake of earlier sessions:
# another test's sandbox held the copy).
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
	smount "$M" --upper "$U" --layer "$T/l.tar"
	unshare -m sleep 60 &
	holder=$!
	other_ns() { [ "$(readlink "/proc/$holder/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ]; }
	wait_until 5 other_ns || fail 'copy elsewhere: unshare -m did not start'
	start=$SECONDS
	run "$STRATA" umount "$M"
	assert_eq 'copy elsewhere: exit 0' 0 "$RC"
	assert_eq 'copy elsewhere: the note' "strata: umount: $M: it was still mounted in another mount namespace; its daemon was told to end" "$ERR"
	assert_true 'copy elsewhere: within 5 s, not the 10 s timeout' test $((SECONDS - start)) -le 5
	assert_true 'copy elsewhere: no daemon left' no_daemon "$M"
	kill "$holder" 2>/dev/null
	wait "$holder" 2>/dev/null || true
else
	log 'SKIP: copy in another mount namespace: needs root and unshare -m'
fi

# ---- usage ----

run "$STRATA" umount --timeout x "$M"
assert_one_error_line '--timeout x' 2
run "$STRATA" umount --timeout -1 "$M"
assert_one_error_line '--timeout -1' 2
run "$STRATA" umount "$M"
assert_one_error_line 'not mounted' 1
assert_eq 'not mounted: the message' "strata: $M: not a strata mount" "$ERR"

finish
