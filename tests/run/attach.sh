#!/usr/bin/env bash
# strata attach, detach keys, start -a/-i and exec -d, end to end through
# the real launcher, as root and as an unprivileged user (uid 65534): a
# run -d -i container fed a line by attach and answering it; the detach
# keys leaving it running (default, --detach-keys=ctrl-x, "" for none, a
# partial sequence passed on as it came); two clients at once, both told
# the exit status; --sig-proxy; start -a from the first line of output, start -ai;
# exec -d leaving a command the container's init inherits, gone after
# stop; exec -it --detach-keys; bad input in one line each; nothing left
# behind (process, socket, mount).
# shellcheck source=../integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

command -v busybox >/dev/null || die 'busybox-static is not installed'

ROOTFS=$T/rootfs
mkdir -p "$ROOTFS"/{bin,etc,tmp}
cp "$(command -v busybox)" "$ROOTFS/bin/busybox"
for a in sh cat echo sleep printf true od tr grep; do
	ln -s busybox "$ROOTFS/bin/$a"
done
tar --numeric-owner --owner=0 --group=0 -C "$ROOTFS" -cf "$T/bb.tar" .

chmod 0666 /dev/fuse
mkdir -p "$T/store-user" "$T/home"
chown 65534:65534 "$T/store-user" "$T/home"
chmod 0755 "$T"

NAP=$((600000 + $$))
alive() { pgrep -xf "sleep $1" >/dev/null; }
gone() { ! alive "$1"; }
# The command line prefix strata_as uses for WHO $1, as words.
as_who() {
	if [ "$1" = root ]; then
		echo "env STRATA_ROOT=$T/store-root"
	else
		echo "setpriv --reuid 65534 --regid 65534 --clear-groups env HOME=$T/home STRATA_ROOT=$T/store-user"
	fi
}

# drive SECONDS STEPS CMD...: runs CMD on a new pty, writing each of STEPS
# (a Python list of [delay, text]) after its delay, then waits for CMD
# (killed after SECONDS: 124); its output in $T/out, its status in RC.
cat >"$T/drive.py" <<'PY'
import os, pty, select, signal, sys, time
limit, steps, argv = float(sys.argv[1]), eval(sys.argv[2]), sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out, end = b"", time.monotonic() + limit
def read(wait):  # for the whole of @wait seconds
    global out
    until = time.monotonic() + wait
    while True:
        r, _, _ = select.select([fd], [], [], max(0, until - time.monotonic()))
        if not r:
            return
        try:
            data = os.read(fd, 4096)
        except OSError:
            return
        if not data:
            return
        out += data
for delay, text in steps:
    read(delay)
    os.write(fd, text.encode("latin-1"))
status = None
while status is None and time.monotonic() < end:
    read(0.1)
    p, st = os.waitpid(pid, os.WNOHANG)
    if p == pid:
        status = os.waitstatus_to_exitcode(st)
if status is None:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    status = 124
read(0.2)
sys.stdout.write(out.decode("latin-1"))
sys.exit(status if status >= 0 else 128 - status)
PY
drive() {
	local secs=$1 steps=$2
	shift 2
	set +e
	python3 "$T/drive.py" "$secs" "$steps" "$@" >"$T/out" 2>"$T/err"
	RC=$?
	set -e
}
# feed SCRIPT CMD...: CMD with what the bash SCRIPT writes as its stdin
# (a pipe); its output in $T/out, its status in RC.
feed() {
	local script=$1
	shift
	set +e
	timeout 10 bash -c "$script" | timeout 10 "$@" >"$T/out" 2>"$T/err"
	RC=${PIPESTATUS[1]}
	set -e
}
no_drainer() { ! pgrep -f "exec -it --detach-keys=ctrl-x box" >/dev/null; }
ppid_of() { awk '$1 == "PPid:" { print $2 }' "/proc/$1/status"; }
# One line of output, its \r gone.
has_line() { tr -d '\r' <"$T/out" | grep -qx -- "$1"; }

# -i: each line as hex bytes; a line ending in quit ends it with 7.
ECHO_HEX='while read -r l; do case "$l" in *quit) exit 7;; esac; printf %s "$l" | od -An -tx1; done'

for who in root user; do
	strata_as $who import -q -t bb:1 "$T/bb.tar"
	assert_eq "$who: import" 0 "$RC"
	dir=$T/store-$who/strata/containers
	# shellcheck disable=SC2046 # as_who's words
	set -- $(as_who $who) "$STRATA"

	# run -d -i: stdin stays open while nobody is attached.
	strata_as $who run -d -i --name hex bb:1 sh -c "$ECHO_HEX"
	assert_eq "$who: run -d -i" "0 hex" "$RC $(cat "$T/out")"
	assert_true "$who: its attach socket" test -S "$dir/hex/attach.sock"
	assert_eq "$who: the socket's mode" 600 "$(stat -c %a "$dir/hex/attach.sock")"
	sleep 0.5
	strata_as $who ps
	assert_true "$who: run -d -i: no EOF without a client" grep -q 'hex .*Up' "$T/out"

	# A line in, its answer out; the default keys (ctrl-p,ctrl-q) from a
	# pipe leave it running; a ctrl-p then 'a' reaches it as both bytes.
	feed 'printf "hi\n\020a\n"; sleep 1; printf "\020\021"; sleep 5' "$@" attach hex
	assert_eq "$who: attach: the line's answer, the partial sequence passed on, detached" \
		"0  68 69  10 61" "$RC $(tr '\n' ' ' <"$T/out" | sed 's/ $//')"
	strata_as $who ps
	assert_true "$who: detached: it runs on" grep -q 'hex .*Up' "$T/out"

	# Two clients at once: both get the output, both the exit status;
	# keys disabled (""), so the sequence is input like any.
	(set +e; sleep 4 | timeout 10 "$@" attach --no-stdin hex >"$T/a.out" 2>&1; echo $? >"$T/a.rc") &
	bg=$!
	sleep 1
	feed 'printf "two\n"; sleep 0.5; printf "\020\021quit\n"; sleep 5' "$@" attach --detach-keys= hex
	wait $bg
	assert_eq "$who: attach --detach-keys='': the sequence is input; the exit status" \
		"7  74 77 6f" "$RC $(cat "$T/out")"
	assert_eq "$who: a second client at the same time: output and status" \
		"7  74 77 6f" "$(cat "$T/a.rc") $(cat "$T/a.out")"
	assert_false "$who: the socket goes with the container" test -e "$dir/hex/attach.sock"
	strata_as $who attach hex
	assert_one_error_line "$who: attach to a stopped container" 1

	# -d -it: a pty; attach relays it, the default keys leave it running,
	# and attach ends with its status.
	strata_as $who run -d -it --name tty bb:1 sh
	assert_eq "$who: run -d -it" "0 tty" "$RC $(cat "$T/out")"
	drive 10 '[[1, "echo a$((1+1))b\r"], [1, "\x10\x11"]]' "$@" attach tty
	assert_eq "$who: attach -t, detached with ctrl-p,ctrl-q" 0 "$RC"
	assert_true "$who: ...the shell answered" has_line 'a2b'
	drive 10 '[[1, "echo x$((2+3))y\r"], [1, "\x18"]]' "$@" attach --detach-keys=ctrl-x tty
	assert_eq "$who: attach --detach-keys=ctrl-x" 0 "$RC"
	assert_true "$who: ...the shell answered" has_line 'x5y'
	drive 10 '[[1, "exit 4\r"]]' "$@" attach tty
	assert_eq "$who: attach again: the exit status" 4 "$RC"

	# --sig-proxy (the default): a SIGTERM to attach reaches the command;
	# with --sig-proxy=false it ends attach alone.
	strata_as $who run -d --name sig bb:1 sh -c 'trap "exit 9" TERM; while :; do sleep 0.1; done'
	timeout 10 "$@" attach --sig-proxy=false sig >/dev/null 2>&1 &
	bg=$!
	sleep 1
	kill -TERM $bg
	st=0 && wait $bg || st=$?
	strata_as $who ps
	assert_eq "$who: --sig-proxy=false: attach ends, the container runs on" \
		"143 1" "$st $(grep -c 'sig .*Up' "$T/out")"
	timeout 10 "$@" attach sig >/dev/null 2>&1 &
	bg=$!
	sleep 1
	kill -TERM $bg
	st=0 && wait $bg || st=$?
	assert_eq "$who: --sig-proxy: the command's trap's status" 9 "$st"

	# start -a: the output from its first line; start -ai: input too.
	strata_as $who run -d --name many bb:1 sh -c 'i=1; while [ $i -le 300 ]; do echo line$i; i=$((i+1)); done; exit 5'
	strata_as $who wait many
	strata_as $who start -a many
	assert_eq "$who: start -a: status, first and last line, count" "5 line1 line300 300" \
		"$RC $(head -n 1 "$T/out") $(tail -n 1 "$T/out") $(wc -l <"$T/out")"
	strata_as $who run -d -i --name ask bb:1 sh -c 'echo first; read -r x; echo "got $x"; exit 6'
	strata_as $who stop -t 1 ask
	feed 'sleep 1; echo input; sleep 3' "$@" start -ai ask
	assert_eq "$who: start -ai: output and input" "6 first got input" \
		"$RC $(tr '\n' ' ' <"$T/out" | sed 's/ $//')"

	# exec -d: back once started, the command runs on, a child of the
	# container's init, and goes with it.
	strata_as $who run -d --name box bb:1 sleep $NAP
	strata_as $who exec -d box sleep $((NAP + 1))
	assert_eq "$who: exec -d: back, nothing said" "0 " "$RC $(cat "$T/out")"
	assert_true "$who: exec -d: the command runs" wait_until 5 alive $((NAP + 1))
	assert_eq "$who: exec -d: its parent is the container's init" \
		"$(ppid_of "$(pgrep -xf "sleep $NAP")")" "$(ppid_of "$(pgrep -xf "sleep $((NAP + 1))")")"
	strata_as $who exec -d box /no/such
	assert_one_error_line "$who: exec -d of a missing command" 127
	strata_as $who exec -d -u nobody-here box true
	assert_one_error_line "$who: exec -d -u of a missing user" 1
	# exec -it --detach-keys: back with 0, the command runs on.
	drive 10 "[[1, \"exec sleep $((NAP + 2))\\r\"], [1, \"\\x18\"]]" "$@" exec -it --detach-keys=ctrl-x box sh
	assert_eq "$who: exec -it --detach-keys=ctrl-x" 0 "$RC"
	assert_true "$who: ...its command runs on" alive $((NAP + 2))
	strata_as $who stop -t 1 box
	assert_true "$who: stop: the exec'd commands go too" wait_until 5 gone $((NAP + 1))
	assert_true "$who: ...the detached exec's too" wait_until 5 gone $((NAP + 2))
	# The drainer reads EIO once the last holder of the slave is gone: a
	# moment after the command (a zombie no longer matches "gone").
	assert_true "$who: no pty drainer left" wait_until 5 no_drainer
	strata_as $who rm hex tty many ask box sig
	assert_eq "$who: rm" 0 "$RC"
done

# Bad input: one error line each; as root.
export STRATA_ROOT=$T/store-root
run "$STRATA" attach no-such
assert_one_error_line "attach to no container" 1
run "$STRATA" attach
assert_one_error_line "attach without a container" 2
run "$STRATA" attach --detach-keys=ctrl-1 no-such
assert_one_error_line "attach --detach-keys=ctrl-1" 2
run "$STRATA" attach --detach-keys=ab no-such
assert_one_error_line "attach --detach-keys=ab" 2
run "$STRATA" exec --detach-keys=ctrl-, no-such true
assert_one_error_line "exec --detach-keys=ctrl-," 2
run "$STRATA" exec -d -t no-such true
assert_one_error_line "exec -d -t" 2
run "$STRATA" start --detach-keys=meta-x no-such
assert_one_error_line "start --detach-keys=meta-x" 2
run "$STRATA" run --detach-keys=ctrl-p bb:1 true
assert_one_error_line "run --detach-keys" 2
# A container run in the foreground: nothing to attach to.
timeout 20 "$STRATA" run --name fg bb:1 sleep $((NAP + 3)) >/dev/null 2>&1 &
fg=$!
assert_true "a foreground container runs" wait_until 10 alive $((NAP + 3))
run "$STRATA" attach fg
assert_one_error_line "attach to a foreground container" 1
run "$STRATA" stop -t 1 fg
wait $fg || true
run "$STRATA" rm fg
run "$STRATA" attach --help
assert_eq "attach --help" 0 "$RC"

assert_true "no container process left" gone $NAP
assert_false "no supervisor left" pgrep -f "ru[n] -d .*$NAP"
assert_eq "no attach socket left" "" "$(find "$T"/store-* -name attach.sock)"
assert_nothing_mounted_under "no mount left" "$T"
finish
