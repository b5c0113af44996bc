#!/usr/bin/env bash
# Detached containers and their lifecycle, end to end through the real
# launcher, as root and as an unprivileged user (uid 65534): run -d and its
# supervisor (a session of its own, surviving its terminal), the k8s-file
# log with its rotation, logs (--tail, -t, --since, -f), wait, stop (the
# image's StopSignal; SIGTERM ignored → SIGKILL after -t), kill, ps's
# status, a supervisor killed with SIGKILL (a --rm one removed), and start
# of a stopped container (attach, start -a/-i and exec -d: attach.sh).
# shellcheck source=../integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

command -v busybox >/dev/null || die 'busybox-static is not installed'
command -v script >/dev/null || die 'script (bsdutils) is not installed'

# Two images: busybox as a bare layer (bb:1), and the same layer with a
# config whose StopSignal is SIGQUIT (quit:1), from an OCI layout.
ROOTFS=$T/rootfs
mkdir -p "$ROOTFS"/{bin,etc,tmp,www}
echo 'served from the container' >"$ROOTFS/www/index.html"
cp "$(command -v busybox)" "$ROOTFS/bin/busybox"
for a in sh cat echo sleep printf true kill httpd; do
	ln -s busybox "$ROOTFS/bin/$a"
done
tar --numeric-owner --owner=0 --group=0 -C "$ROOTFS" -cf "$T/bb.tar" .
oci_layout "$T/oci" "$T/bb.tar" quit:1 '{"Env": ["PATH=/bin"], "StopSignal": "SIGQUIT"}'

chmod 0666 /dev/fuse
mkdir -p "$T/store-user" "$T/home"
chown 65534:65534 "$T/store-user" "$T/home"
chmod 0755 "$T"

# Sleeps unique to this run: its containers' commands are found by them
# (exactly: the command lines of strata and its supervisor name them too).
NAP=$((400000 + $$))
alive() { pgrep -xf "sleep $1" >/dev/null; }
gone() { ! alive "$1"; }
# The recorded member $3 of container $2's state in WHO $1's store.
state_of() {
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' \
		"$T/store-$1/strata/containers/$2/state.json" "$3" 2>/dev/null || true
}
LOG_LINE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z (stdout|stderr) [FP] '

for who in root user; do
	strata_as $who import -q -t bb:1 "$T/bb.tar"
	strata_as $who import -q "$T/oci"
	assert_eq "$who: import" 0 "$RC"
	dir=$T/store-$who/strata/containers

	# run -d: the name once the command runs, and nothing else on stdout;
	# the caller does not wait for the container.
	start=$(date +%s%N)
	strata_as $who run -d --name web bb:1 sh -c "echo out-line; echo err-line >&2; printf partial; exec sleep $NAP"
	assert_eq "$who: run -d prints the name" "0 web" "$RC $(cat "$T/out")"
	assert_true "$who: run -d returns at once" test $(($(date +%s%N) - start)) -lt 5000000000
	assert_true "$who: the command runs" wait_until 10 alive $NAP
	# Its output reaches the log; nothing holds the caller's output open
	# (a command substitution would wait for it).
	out=$(timeout 10 setpriv --reuid "$([ $who = root ] && echo 0 || echo 65534)" \
		--regid "$([ $who = root ] && echo 0 || echo 65534)" --clear-groups \
		env HOME="$T/home" STRATA_ROOT="$T/store-$who" "$STRATA" run -d --rm bb:1 sh -c 'echo x; sleep 1' 2>&1) || true
	assert_true "$who: \$(run -d) returns (does not wait on the container's output)" test -n "$out"
	wait_until 5 grep -q partial "$dir/web/ctr.log" || true
	assert_eq "$who: the log: three records, k8s-file format" 3 "$(grep -cE "$LOG_LINE" "$dir/web/ctr.log")"
	assert_true "$who: stdout line, whole (F)" grep -qE ' stdout F out-line$' "$dir/web/ctr.log"
	assert_true "$who: stderr line" grep -qE ' stderr F err-line$' "$dir/web/ctr.log"
	assert_true "$who: a partial line (P)" grep -qE ' stdout P partial$' "$dir/web/ctr.log"

	strata_as $who logs web
	assert_eq "$who: logs: stdout" "out-line partial" "$(tr '\n' ' ' <"$T/out" | sed 's/ $//')"
	assert_eq "$who: logs: stderr to stderr" "err-line" "$(cat "$T/err")"
	strata_as $who logs --tail 1 -t web
	assert_true "$who: logs --tail 1 -t: the last line, after its time" \
		grep -qE '^[0-9]{4}-[0-9-]+T[0-9:.]+Z partial$' "$T/out"
	strata_as $who logs --since 2099-01-01T00:00:00+01:00 web
	assert_eq "$who: logs --since a future time: nothing" "0 " "$RC $(cat "$T/out" "$T/err")"
	strata_as $who logs --since 1h web
	assert_eq "$who: logs --since 1h: all" "out-line partial" "$(tr '\n' ' ' <"$T/out" | sed 's/ $//')"
	strata_as $who logs --since yesterday web
	assert_one_error_line "$who: logs --since yesterday" 2

	strata_as $who ps
	assert_true "$who: ps: Up" grep -Eq '^web +bb:1 +Up [0-9]+ seconds?' "$T/out"
	strata_as $who run -d --name web bb:1 true
	assert_one_error_line "$who: run -d of a running container" 1
	assert_true "$who: ... says so" grep -q 'already running' "$T/err"

	# stop: SIGTERM (bb:1 has no StopSignal); sleep dies of it: 143.
	strata_as $who stop web
	assert_eq "$who: stop" "0 web" "$RC $(cat "$T/out")"
	assert_true "$who: stopped" gone $NAP
	strata_as $who wait web
	assert_eq "$who: wait: prints and returns the status" "143 143" "$RC $(cat "$T/out")"
	strata_as $who ps
	assert_true "$who: ps: Exited (143) ... ago" grep -Eq '^web +bb:1 +Exited \(143\) [0-9]+ seconds? ago' "$T/out"
	strata_as $who stop web
	assert_eq "$who: stop of a stopped container" "0 web" "$RC $(cat "$T/out")"
	strata_as $who kill web
	assert_one_error_line "$who: kill of a stopped container" 1
	strata_as $who rm web

	# A supervisor killed with SIGKILL takes its container with it; ps
	# says why there is no status.
	strata_as $who run -d --name doomed bb:1 sleep $NAP
	wait_until 10 alive $NAP || fail "$who: the container did not start"
	kill -KILL "$(state_of $who doomed pid)"
	assert_true "$who: supervisor SIGKILLed: the container is gone" wait_until 10 gone $NAP
	strata_as $who ps
	assert_true "$who: ps: Exited (supervisor died)" \
		grep -Eq '^doomed +bb:1 +Exited \(supervisor died\) [0-9]+ seconds? ago' "$T/out"
	strata_as $who wait doomed
	assert_one_error_line "$who: wait on a container whose supervisor died" 1
	strata_as $who rm doomed
	assert_eq "$who: rm of it" 0 "$RC"
	# ... and a --rm one goes with the next strata command.
	strata_as $who run -d --rm bb:1 sleep $NAP
	id=$(cat "$T/out")
	wait_until 10 alive $NAP || fail "$who: the --rm container did not start"
	kill -KILL "$(state_of $who "$id" pid)"
	wait_until 10 gone $NAP || fail "$who: the --rm container outlived its supervisor"
	strata_as $who ps
	assert_false "$who: a dead --rm container is not listed" grep -q "^$id " "$T/out"
	assert_false "$who: ... and is removed" test -e "$dir/$id"
	assert_nothing_mounted_under "$who: no mount left" "$T"

	# kill -s: the signal reaches the command (sleep dies of USR1: 138).
	strata_as $who run -d --name k bb:1 sleep $NAP
	wait_until 10 alive $NAP || fail "$who: k did not start"
	strata_as $who kill -s usr1 k
	assert_eq "$who: kill -s usr1" "0 k" "$RC $(cat "$T/out")"
	strata_as $who wait k
	assert_eq "$who: killed by USR1" 138 "$(cat "$T/out")"
	strata_as $who rm k

	# The image's StopSignal (SIGQUIT), trapped.
	strata_as $who run -d --name q quit:1 sh -c "trap 'echo quit; exit 5' QUIT; echo ready; while :; do sleep 0.1; done"
	wait_until 10 grep -q ready "$dir/q/ctr.log" || fail "$who: q did not start"
	strata_as $who stop q
	strata_as $who wait q
	assert_eq "$who: stop sends the image's StopSignal" 5 "$(cat "$T/out")"
	strata_as $who logs --tail 1 q
	assert_eq "$who: ... which the command trapped" quit "$(cat "$T/out")"
	strata_as $who rm q
	# A -d --rm container's end removes it.
	strata_as $who run -d --rm bb:1 sleep 0.3
	id=$(cat "$T/out")
	assert_true "$who: a -d --rm container is removed at its end" wait_until 10 test ! -e "$dir/$id"

	# start: a stopped container again, with its upper, its options (as
	# given, from where they were given) and its command.
	mkdir -p "$T/opts-$who" && echo shared >"$T/opts-$who/f" && chmod -R a+rX "$T/opts-$who"
	here=$PWD
	cd "$T"
	strata_as $who run --name again -e A=1 -v "opts-$who:/mnt:ro" -w /tmp bb:1 \
		sh -c 'echo x >>/tmp/runs; echo "$A $(cat /mnt/f) $(pwd) $(cat /tmp/runs | wc -l) $(stat -c %u /tmp/runs)"; exit 3'
	cd "$here"
	assert_eq "$who: the first run" "3 1 shared /tmp 1 0" "$RC $(cat "$T/out")"
	strata_as $who start -a again
	assert_eq "$who: start -a: the same options and command, its changes kept" \
		"3 1 shared /tmp 2 0" "$RC $(cat "$T/out")"
	strata_as $who start again
	assert_eq "$who: start: detached, the name" "0 again" "$RC $(cat "$T/out")"
	strata_as $who wait again
	assert_eq "$who: start: its status" 3 "$(cat "$T/out")"
	strata_as $who logs again
	# start -a's run is detached too (attached to): its output is logged.
	assert_eq "$who: start: its output in its log, after start -a's" \
		"1 shared /tmp 2 0 1 shared /tmp 3 0" "$(tr '\n' ' ' <"$T/out" | sed 's/ $//')"
	strata_as $who run -d --name busy bb:1 sh -c "echo up; exec sleep $NAP"
	strata_as $who start busy
	assert_one_error_line "$who: start of a running container" 1
	strata_as $who restart -t 0 busy
	assert_eq "$who: restart of a running container (stderr: $ERR)" "0 busy" "$RC $(cat "$T/out")"
	wait_until 10 alive $NAP || fail "$who: busy did not start again"
	strata_as $who logs busy
	assert_eq "$who: restart: run twice" "up up" "$(tr '\n' ' ' <"$T/out" | sed 's/ $//')"
	strata_as $who stop -t 0 busy
	strata_as $who rm busy again
	assert_eq "$who: rm" 0 "$RC"
done

# From here on as root: the same launcher, the cases that cost time.
export STRATA_ROOT=$T/store-root
dir=$T/store-root/strata/containers

# stop -t 1 of a command that ignores SIGTERM: SIGKILL after 1 s, 137.
run "$STRATA" run -d --name stubborn bb:1 sh -c "trap '' TERM; echo ready; while :; do sleep 0.1; done"
wait_until 10 grep -q ready "$dir/stubborn/ctr.log" || fail "stubborn did not start"
start=$(date +%s%N)
run "$STRATA" stop -t 1 stubborn
ms=$((($(date +%s%N) - start) / 1000000))
assert_eq "stop -t 1 of a command that ignores SIGTERM" "0 stubborn" "$RC $(cat "$T/out")"
assert_true "stop -t 1: SIGKILL after 1 s (took $ms ms)" test "$ms" -ge 1000 -a "$ms" -lt 4000
run "$STRATA" wait stubborn
assert_eq "stop -t 1: killed, 137" 137 "$(cat "$T/out")"
log "stop -t 1 of a command ignoring SIGTERM: $ms ms"

# stop of a container run in the foreground: the same, its launcher
# records the status and exits with it.
"$STRATA" run --name fgstop bb:1 sh -c "trap '' TERM; while :; do sleep 0.1; done" >/dev/null 2>&1 &
launcher=$!
has_child() { pgrep -P "$1" >/dev/null; }
wait_until 10 has_child "$launcher" || fail "fgstop did not start"
sleep 0.5
run "$STRATA" stop -t 1 fgstop
set +e
wait "$launcher"
rc=$?
set -e
assert_eq "stop -t 1 of a foreground container: its launcher exits 137" "0 137" "$RC $rc"
run "$STRATA" wait fgstop
assert_eq "... and records it" 137 "$(cat "$T/out")"

# logs -f follows new lines as they come, and ends with the container.
run "$STRATA" run -d --name ticker bb:1 sh -c 'for i in 1 2 3 4 5; do echo tick $i; sleep 0.3; done; exit 6'
timeout 20 "$STRATA" logs -f ticker >"$T/follow" 2>&1 &
follower=$!
assert_true "logs -f: a new line shows while the container runs" \
	wait_until 10 grep -q 'tick 3' "$T/follow"
assert_true "logs -f: ... while it still follows" kill -0 "$follower"
set +e
wait "$follower"
rc=$?
set -e
assert_eq "logs -f ends with the container" 0 "$rc"
assert_eq "logs -f: every line" "tick 1 tick 2 tick 3 tick 4 tick 5" "$(tr '\n' ' ' <"$T/follow" | sed 's/ $//')"
run "$STRATA" wait ticker
assert_eq "wait after the end" "6 6" "$RC $(cat "$T/out")"

# --log-opt max-size: one rotation, the last lines kept.
run "$STRATA" run -d --name chatty --log-opt max-size=4k bb:1 sh -c 'i=0; while [ $i -lt 500 ]; do echo line-$i; i=$((i+1)); done'
run "$STRATA" wait chatty
assert_true "rotation: ctr.log.1 made" test -s "$dir/chatty/ctr.log.1"
assert_true "rotation: ctr.log under the cap" test "$(stat -c %s "$dir/chatty/ctr.log")" -le 4096
run "$STRATA" logs --tail 2 chatty
assert_eq "rotation: the last lines kept" "line-498 line-499" "$(tr '\n' ' ' <"$T/out" | sed 's/ $//')"
run "$STRATA" logs chatty
assert_true "rotation: the older file read first" test "$(head -1 "$T/out" | cut -d- -f2)" -lt "$(tail -1 "$T/out" | cut -d- -f2)"

# -d -t: the command's terminal is a pty, whose output is logged.
run "$STRATA" run -d -t --name tty bb:1 sh -c '[ -t 1 ] && echo tty-out; [ -t 0 ] || echo no-stdin; exit 2'
run "$STRATA" wait tty
assert_eq "-d -t: its status" 2 "$(cat "$T/out")"
run "$STRATA" logs tty
assert_eq "-d -t: a terminal for stdout, no stdin, logged" "tty-out no-stdin" \
	"$(tr -d '\r' <"$T/out" | tr '\n' ' ' | sed 's/ $//')"

# A detached busybox httpd, reached from the host with a real HTTP client
# (the host's network: -p is not there yet), its access log in its log.
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run "$STRATA" run -d --name web bb:1 httpd -f -v -p "127.0.0.1:$PORT" -h /www
assert_eq "httpd -d" "0 web" "$RC $(cat "$T/out")"
fetch() { python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().strip())' "http://127.0.0.1:$PORT/" 2>/dev/null; }
wait_until 10 fetch >/dev/null || fail "httpd: no answer on port $PORT"
assert_eq "httpd: the page, over HTTP from the host" "served from the container" "$(fetch)"
wait_until 5 grep -q 'response:200' "$dir/web/ctr.log" || true
run "$STRATA" logs web
assert_true "httpd: the request in its log (stderr)" grep -q 'response:200' "$T/err"
run "$STRATA" stop -t 5 web
run "$STRATA" wait web
assert_eq "httpd: stopped by SIGTERM" 143 "$(cat "$T/out")"
run "$STRATA" rm web

# --restart: on-failure:N runs a failing command N more times, not one
# that succeeds; always runs it again until strata stop.
run "$STRATA" run -d --name flaky --restart on-failure:2 bb:1 sh -c 'echo ran; exit 3'
run "$STRATA" wait flaky
assert_eq "--restart on-failure:2: the last status" 3 "$(cat "$T/out")"
run "$STRATA" logs flaky
assert_eq "--restart on-failure:2: three runs" "ran ran ran" "$(tr '\n' ' ' <"$T/out" | sed 's/ $//')"
assert_eq "--restart on-failure:2: restarts recorded" 2 "$(state_of root flaky restarts)"
run "$STRATA" run -d --name fine --restart on-failure bb:1 sh -c 'echo ran'
run "$STRATA" wait fine
run "$STRATA" logs fine
assert_eq "--restart on-failure: a success is not run again" ran "$(cat "$T/out")"
run "$STRATA" run -d --name again2 --restart always bb:1 sh -c 'echo ran; sleep 0.1'
ran_at_least() { [ "$(grep -cs ran "$dir/$1/ctr.log" || true)" -ge "$2" ]; }
assert_true "--restart always: run again" wait_until 10 ran_at_least again2 3
run "$STRATA" stop again2
assert_eq "--restart always: stop" "0 again2" "$RC $(cat "$T/out")"
run "$STRATA" wait again2
n=$(grep -c ran "$dir/again2/ctr.log")
sleep 1
assert_eq "--restart always: not run again after stop" "$n" "$(grep -c ran "$dir/again2/ctr.log")"
run "$STRATA" rm flaky fine again2
run "$STRATA" run --rm --restart always bb:1 true
assert_one_error_line "--rm --restart" 2
run "$STRATA" run --restart sometimes bb:1 true
assert_one_error_line "--restart sometimes" 2
run "$STRATA" run --restart on-failure:x bb:1 true
assert_one_error_line "--restart on-failure:x" 2

# The supervisor and its container survive the terminal that started
# them: a shell on a pty runs run -d, then the pty goes (SIGHUP).
script -qec "env STRATA_ROOT=$STRATA_ROOT $STRATA run -d --name hup bb:1 sleep $NAP; exec sleep 60" /dev/null >/dev/null 2>&1 &
term=$!
wait_until 10 alive $NAP || fail "hup did not start"
kill -KILL "$term"
wait "$term" 2>/dev/null || true
sleep 1
assert_true "the container outlives its terminal" alive $NAP
run "$STRATA" ps
assert_true "ps: hup still Up" grep -Eq '^hup +bb:1 +Up ' "$T/out"
assert_eq "the supervisor is a session leader" "$(state_of root hup pid)" \
	"$(ps -o sid= -p "$(state_of root hup pid)" | tr -d ' ')"
assert_eq "the supervisor keeps no directory of the caller's busy" / \
	"$(readlink "/proc/$(state_of root hup pid)/cwd")"
run "$STRATA" stop -t 2 hup
assert_true "hup stopped" wait_until 10 gone $NAP

# rm -f of a running detached container: its supervisor, daemon and
# command go, and the container.
run "$STRATA" run -d --name forced bb:1 sleep $NAP
wait_until 10 alive $NAP || fail "forced did not start"
run "$STRATA" rm -f forced
assert_eq "rm -f of a running -d container" 0 "$RC"
assert_true "rm -f: its command is gone" wait_until 10 gone $NAP
assert_false "rm -f: the container is gone" test -e "$dir/forced"

# Bad input: one error line each.
run "$STRATA" run -d bb:1 /no/such/command
assert_one_error_line "run -d of a missing command" 127
assert_true "run -d of a missing command: named" grep -q 'command not found' "$T/err"
run "$STRATA" run --detach-keys=ctrl-x bb:1 true
assert_one_error_line "run --detach-keys: a foreground run cannot detach" 2
run "$STRATA" run -d --log-opt max-file=3 bb:1 true
assert_one_error_line "--log-opt max-file" 2
run "$STRATA" run -d --log-opt max-size=lots bb:1 true
assert_one_error_line "--log-opt max-size=lots" 2
run "$STRATA" run --name fg bb:1 true
run "$STRATA" logs fg
assert_one_error_line "logs of a container run in the foreground" 1
run "$STRATA" logs no-such
assert_one_error_line "logs of no container" 1
run "$STRATA" stop no-such
assert_one_error_line "stop of no container" 1
run "$STRATA" stop -t -1 fg
assert_one_error_line "stop -t -1" 2
run "$STRATA" kill -s NOSIG fg
assert_one_error_line "kill -s NOSIG" 2
run "$STRATA" wait
assert_one_error_line "wait without a container" 2
run "$STRATA" logs --tail x fg
assert_one_error_line "logs --tail x" 2
run "$STRATA" start no-such
assert_one_error_line "start of no container" 1
python3 - "$dir/fg/state.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); del s["run_options"]; json.dump(s, open(sys.argv[1], "w"))
PY
run "$STRATA" start fg
assert_one_error_line "start of a container recorded by an older strata" 1
for c in logs wait stop kill start restart; do
	run "$STRATA" $c --help
	assert_eq "$c --help" 0 "$RC"
done

assert_true "no container process left" gone $NAP
assert_false "no supervisor left" pgrep -f "ru[n] -d .*$NAP"
assert_nothing_mounted_under "no mount left" "$T"
finish
