#!/usr/bin/env bash
# strata exec through the container's exec server (tools/run_forker.c), as
# root and as an unprivileged user (uid 65534): the command is forked
# inside the container, with the same namespaces, cgroups, capabilities,
# no_new_privs and filter as a setns exec's (the fallback when the socket is
# gone), its orphans are the container's init's, the server holds nothing
# of the host and cannot be read from inside, and bad requests leave it
# serving.
# shellcheck source=../integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

command -v busybox >/dev/null || die 'busybox-static is not installed'
command -v script >/dev/null || die 'script (bsdutils) is not installed'
: "${SYSPROBE:?SYSPROBE must name the sysprobe binary}"

ROOTFS=$T/rootfs
mkdir -p "$ROOTFS"/{bin,etc,tmp}
cp "$(command -v busybox)" "$ROOTFS/bin/busybox"
cp "$SYSPROBE" "$ROOTFS/bin/sysprobe"
for a in sh cat echo sleep true id pwd grep ls env readlink stty; do
	ln -s busybox "$ROOTFS/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' >"$ROOTFS/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOTFS/etc/group"
tar --numeric-owner --owner=0 --group=0 -C "$ROOTFS" -cf "$T/bb.tar" .

# shellcheck source=ctr_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ctr_lib.sh"
ctr_stores_setup
NAP=$((700000 + $$))
# The exec server: the init's child that is not the command.
server_of() { # INIT COMMAND
	{ tr ' ' '\n' <"/proc/$1/task/$1/children" | grep -vx "$2" | grep . | head -n 1; } || true
}
# What the process in the container reports, for both paths alike.
confinement() {
	strata_as $who exec xf sh -c \
		'id -u; pwd; echo $FOO; grep -E "^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status; sysprobe keyctl unshare; exit 7'
	echo "$RC $(tr '\n\t' '  ' <"$T/out")"
}

for who in root user; do
	strata_as $who import -q -t bb:1 "$T/bb.tar"
	# TESTDIR puts $T/ in the launcher's command line: lib.sh's cleanup
	# then finds the container's processes if the test stops half-way.
	strata_as $who run -d --name xf -e FOO=run -e "TESTDIR=$T/" --cap-add SYS_PTRACE bb:1 sleep $NAP
	assert_eq "$who: run -d" 0 "$RC"
	assert_true "$who: the container runs" wait_until 10 alive $NAP
	pid=$(command_pid $NAP)
	init=$(status_field "$pid" PPid)
	dir=$T/store-$who/strata/containers/xf
	srv=$(server_of "$init" "$pid")

	assert_eq "$who: the exec socket, 0600" 600 "$(stat -c %a "$dir/exec.sock")"
	assert_true "$who: the exec server runs" test -n "$srv"
	assert_eq "$who: the server has the command's filter" "$(status_field "$pid" Seccomp)" \
		"$(status_field "$srv" Seccomp)"

	# Not dumpable: the container's root, even with CAP_SYS_PTRACE, cannot
	# read it (the init it can: the control).
	nspid=$(awk '$1 == "NSpid:" { print $NF }' "/proc/$srv/status" || true)
	strata_as $who exec xf readlink /proc/1/fd/0
	assert_eq "$who: /proc/1/fd/0 is readable from inside (the control)" 0 "$RC"
	strata_as $who exec xf readlink "/proc/$nspid/fd/3"
	assert_true "$who: the server's socket in /proc/PID/fd is not" test "$RC" != 0
	strata_as $who exec xf cat "/proc/$nspid/environ"
	assert_true "$who: nor its memory" test "$RC" != 0

	# Through the server: the command's parent is in the container.
	strata_as $who exec xf sh -c 'grep ^PPid: /proc/self/status'
	assert_true "$who: exec through the server (a parent inside)" \
		test "$RC $(awk '{ print ($2 > 0) }' "$T/out")" = "0 1"
	fast=$(confinement)
	# Settled at its first request: nothing but the container's /dev/null
	# and its socket.
	assert_eq "$who: the server's fds: /dev/null and its socket" \
		"/dev/null /dev/null /dev/null socket" \
		"$(for f in /proc/"$srv"/fd/*; do readlink "$f"; done | sed 's/:\[.*//' | tr '\n' ' ' | sed 's/ $//')"
	assert_eq "$who: through the server: user, directory, env, credentials, filter, status" \
		"7 0 / run CapPrm: $(status_field "$pid" CapPrm) CapEff: $(status_field "$pid" CapEff) CapBnd: $(status_field "$pid" CapBnd) NoNewPrivs: 1 Seccomp: 2 keyctl: EPERM unshare: EPERM " \
		"$fast"
	strata_as $who exec -w /tmp -e FOO=exec xf sh -c 'echo "$(pwd) $FOO"'
	assert_eq "$who: -w -e through the server" "0 /tmp exec" "$RC $(cat "$T/out")"
	if [ $who = root ]; then
		strata_as $who exec -u nobody xf sh -c 'id -u; grep ^CapEff: /proc/self/status'
		assert_eq "$who: -u nobody through the server" "0 65534 CapEff: 0000000000000000" \
			"$RC $(tr '\n\t' '  ' <"$T/out" | sed 's/ $//')"
	fi
	echo piped >"$T/in"
	strata_as $who exec -i xf cat <"$T/in"
	assert_eq "$who: -i through the server" "0 piped" "$RC $(cat "$T/out")"
	strata_as $who exec xf no-such-command
	assert_one_error_line "$who: a missing command through the server" 127
	strata_as $who exec -d xf no-such-command
	assert_one_error_line "$who: exec -d of a missing command through the server" 127

	# -t: a pty from the server's command too.
	cat >"$T/tty.sh" <<EOF
stty rows 21 cols 61
$(as_who $who) $STRATA exec -it xf sh -c 'stty size; exit 3' </dev/tty
echo "rc=\$?"
EOF
	run timeout 20 script -qec "bash $T/tty.sh" /dev/null </dev/null
	assert_eq "$who: exec -it through the server" "21 61 rc=3" \
		"$(tr -d '\r' <"$T/out" | tr '\n' ' ' | sed 's/\^@//g; s/ $//')"

	# A signal to strata exec reaches the command, though it is in no
	# process group of ours (timeout sends it INT after a second).
	# shellcheck disable=SC2046 # as_who's words
	run timeout --preserve-status -s INT 1 $(as_who $who) "$STRATA" exec xf \
		sh -c 'trap "exit 9" INT; while :; do sleep 0.1; done'
	assert_eq "$who: SIGINT to exec: the command's trap's status" 9 "$RC"

	# An orphan of an exec'd command is the container's init's.
	strata_as $who exec xf sh -c "sleep $((NAP + 1)) >/dev/null 2>&1 &"
	assert_true "$who: the orphan runs" wait_until 10 alive $((NAP + 1))
	assert_eq "$who: the orphan's parent is the container's init" "$init" \
		"$(status_field "$(command_pid $((NAP + 1)))" PPid)"

	# Bad requests: the server goes on serving.
	python3 - "$dir/exec.sock" <<'PY'
import socket, struct, sys
for payload, fds in ((b"junk", []), (struct.pack("=IIII", 0x73787631, 0, 1, 0) + b"true\0", []),
                     (struct.pack("=IIII", 0x73787631, 0, 900, 0) + b"x\0", [0, 1, 2]),
                     (struct.pack("=IIII", 0x73787631, 0, 1, 1) + b"true", [0, 1, 2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(sys.argv[1])
    socket.send_fds(s, [payload], fds)
    assert s.recv(16) == b"", "a bad request got an answer"
    s.close()
PY
	assert_eq "$who: bad requests are dropped" 0 $?
	strata_as $who exec xf true
	assert_eq "$who: ... and the server still serves" 0 "$RC"
	assert_eq "$who: ... the same server" "$srv" "$(server_of "$init" "$pid")"

	# The setns path where the server is gone: the same confinement.
	kill -KILL "$srv"
	assert_true "$who: the server is gone" wait_until 10 test ! -e "/proc/$srv"
	strata_as $who exec xf sh -c 'grep ^PPid: /proc/self/status'
	assert_eq "$who: without the server: setns (a parent outside)" "0 PPid: 0" \
		"$RC $(tr '\t' ' ' <"$T/out")"
	assert_eq "$who: setns: the same as through the server" "$fast" "$(confinement)"

	strata_as $who stop -t 1 xf
	assert_true "$who: the orphan ends with the container" wait_until 10 gone $((NAP + 1))
	assert_true "$who: no exec socket once stopped" test ! -e "$dir/exec.sock"
	strata_as $who rm xf
done

# No server where the filter comes last (a profile from a file) or none.
strata_as root run -d --name xu --security-opt seccomp=unconfined bb:1 sleep $((NAP + 2))
assert_true "unconfined: runs" wait_until 10 alive $((NAP + 2))
assert_true "unconfined: no exec socket" test ! -e "$T/store-root/strata/containers/xu/exec.sock"
strata_as root exec xu sh -c 'grep ^Seccomp: /proc/self/status'
assert_eq "unconfined: exec by setns" "0 Seccomp: 0" "$RC $(tr '\t' ' ' <"$T/out")"
strata_as root rm -f xu

for n in 0 1 2; do
	assert_true "no container process left ($n)" gone $((NAP + n))
done
assert_nothing_mounted_under "no mount left" "$T"
finish
