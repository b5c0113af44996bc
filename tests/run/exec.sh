#!/usr/bin/env bash
# strata exec, end to end through the real launcher, as root and as an
# unprivileged user (uid 65534): a process joining a running container
# (detached or in the foreground) has its namespaces, cgroups,
# capabilities, no_new_privs and seccomp filter, its environment with -e
# over it, its user and working directory or -u/-w; its exit status comes
# back; -i, -t with the caller's window size and its changes; signals are
# passed on; xbad input in one line.
# shellcheck source=../integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

command -v busybox >/dev/null || die 'busybox-static is not installed'
command -v script >/dev/null || die 'script (bsdutils) is not installed'
: "${SYSPROBE:?SYSPROBE must name the sysprobe binary}"

ROOTFS=$T/rootfs
mkdir -p "$ROOTFS"/{bin,etc,tmp,work,data}
echo image >"$ROOTFS/data/orig"
cp "$(command -v busybox)" "$ROOTFS/bin/busybox"
cp "$SYSPROBE" "$ROOTFS/bin/sysprobe"
for a in sh cat echo sleep printf true id pwd readlink grep stty tty ls kill env stat mkdir ln rm; do
	ln -s busybox "$ROOTFS/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' >"$ROOTFS/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOTFS/etc/group"
tar --numeric-owner --owner=0 --group=0 -C "$ROOTFS" -cf "$T/bb.tar" .
oci_layout "$T/oci" "$T/bb.tar" env:1 '{"Env": ["PATH=/bin", "FROM_IMAGE=yes", "FOO=image"], "WorkingDir": "/work"}'

chmod 0666 /dev/fuse
mkdir -p "$T/store-user" "$T/home"
chown 65534:65534 "$T/store-user" "$T/home"
chmod 0755 "$T"

NAP=$((500000 + $$))
alive() { pgrep -xf "sleep $1" >/dev/null; }
gone() { ! alive "$1"; }
# The host's pid of the container's command (sleep $1).
command_pid() { pgrep -xf "sleep $1" | head -n 1; }
# The command line prefix strata_as uses for WHO $1, as text.
as_who() {
	if [ "$1" = root ]; then
		echo "env STRATA_ROOT=$T/store-root"
	else
		echo "setpriv --reuid 65534 --regid 65534 --clear-groups env HOME=$T/home STRATA_ROOT=$T/store-user"
	fi
}
# A python expression $2 of the JSON file $1 (as d), its values spaced.
jq_() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(" ".join(str(x) for x in v) if isinstance(v, tuple) else v)' "$1" "$2"
}
# Field $2 of /proc/PID/status, PID $1.
status_field() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

for who in root user; do
	strata_as $who import -q -t bb:1 "$T/bb.tar"
	strata_as $who import -q "$T/oci"
	assert_eq "$who: import" 0 "$RC"

	strata_as $who run -d --name xweb -e FOO=run -e RUNONLY=1 env:1 sleep $NAP
	assert_eq "$who: run -d" 0 "$RC"
	assert_true "$who: the container runs" wait_until 10 alive $NAP
	pid=$(command_pid $NAP)

	# The environment: the image's, the container's (-e over the image's),
	# exec's -e over both; the image's working directory; exit status.
	strata_as $who exec xweb sh -c 'echo "$FROM_IMAGE $FOO $RUNONLY $HOSTNAME $(pwd)"'
	assert_eq "$who: exec: the container's environment and directory" \
		"0 yes run 1 xweb /work" "$RC $(cat "$T/out")"
	strata_as $who exec -e FOO=exec -e NEW=2 -w / xweb sh -c 'echo "$FOO $NEW $RUNONLY $(pwd)"'
	assert_eq "$who: exec -e -w" "0 exec 2 1 /" "$RC $(cat "$T/out")"
	HOSTVAR=from-host strata_as $who exec -e HOSTVAR -e UNSET_HERE xweb sh -c 'echo "$HOSTVAR ${UNSET_HERE-unset}"'
	assert_eq "$who: exec -e KEY takes ours" "0 from-host unset" "$RC $(cat "$T/out")"
	strata_as $who exec xweb sh -c 'exit 7'
	assert_eq "$who: the exit status comes back" 7 "$RC"
	strata_as $who exec xweb sh -c 'kill -TERM $$'
	assert_eq "$who: killed by a signal: 128+N" 143 "$RC"

	# Its namespaces are the container's, each one.
	for ns in user mnt pid uts ipc net cgroup; do
		strata_as $who exec xweb readlink /proc/self/ns/$ns
		assert_eq "$who: exec: $ns namespace" "0 $(readlink /proc/"$pid"/ns/$ns)" "$RC $(cat "$T/out")"
	done
	strata_as $who exec xweb cat /proc/self/cgroup
	assert_eq "$who: exec: the container's cgroups" "0 $(cat /proc/"$pid"/cgroup)" "$RC $(cat "$T/out")"
	# Its credentials, as the container's command has them.
	for f in CapEff CapPrm CapBnd NoNewPrivs Seccomp; do
		strata_as $who exec xweb grep "^$f:" /proc/self/status
		assert_eq "$who: exec: $f" "0 $(status_field "$pid" $f)" "$RC $(awk '{ print $2 }' "$T/out")"
	done
	strata_as $who exec xweb sysprobe keyctl unshare
	assert_eq "$who: exec: the filter refuses keyctl and unshare" \
		"0 keyctl: EPERM unshare: EPERM" "$RC $(tr '\n' ' ' <"$T/out" | sed 's/ $//')"
	strata_as $who exec xweb id -u
	assert_eq "$who: exec: the container's user" "0 0" "$RC $(cat "$T/out")"
	if [ $who = root ]; then
		strata_as $who exec -u nobody xweb sh -c 'id -u; id -g; echo $HOME; grep ^CapEff: /proc/self/status'
		assert_eq "$who: exec -u nobody" "0 65534 65534 /nonexistent CapEff: 0000000000000000" \
			"$RC $(tr '\n\t' '  ' <"$T/out" | sed 's/ $//')"
	else
		strata_as $who exec -u nobody xweb true
		assert_one_error_line "$who: exec -u of an id the user's map lacks" 1
	fi

	# inspect: podman's members over the record.
	strata_as $who inspect xweb
	assert_eq "$who: inspect of a running container" 0 "$RC"
	cp "$T/out" "$T/inspect.json"
	ipid=$(jq_ "$T/inspect.json" 'd["State"]["Pid"]')
	assert_eq "$who: inspect: State.Pid is the init (pid 1 inside)" 1 \
		"$(awk '$1 == "NSpid:" { print $NF }' "/proc/$ipid/status")"
	assert_eq "$who: inspect: ... of the container's pid namespace" \
		"$(readlink /proc/"$pid"/ns/pid)" "$(readlink /proc/"$ipid"/ns/pid)"
	assert_eq "$who: inspect: State" "running True 0" \
		"$(jq_ "$T/inspect.json" 'd["State"]["Status"], d["State"]["Running"], d["State"]["ExitCode"]')"
	assert_eq "$who: inspect: Config" "sleep $NAP|/work|True|True|env:1" \
		"$(jq_ "$T/inspect.json" '"|".join([" ".join(d["Config"]["Cmd"]), d["Config"]["WorkingDir"], str("FOO=run" in d["Config"]["Env"]), str("FROM_IMAGE=yes" in d["Config"]["Env"]), d["Config"]["Image"]])')"
	assert_eq "$who: inspect: EffectiveCaps" "True False" \
		"$(jq_ "$T/inspect.json" '"CAP_CHOWN" in d["EffectiveCaps"], "CAP_SYS_ADMIN" in d["EffectiveCaps"]')"
	assert_eq "$who: inspect: GraphDriver's upper" "$T/store-$who/strata/containers/xweb/upper" \
		"$(jq_ "$T/inspect.json" 'd["GraphDriver"]["Data"]["UpperDir"]')"
	if [ $who = root ]; then
		maps="0 0 4294967295"
	else
		maps="0 65534 1"
	fi
	assert_eq "$who: inspect: IDMappings" "$maps/$maps" \
		"$(jq_ "$T/inspect.json" '"/".join(" ".join(str(m[k]) for m in d["IDMappings"][w] for k in ("ContainerID", "HostID", "Size")) for w in ("UidMap", "GidMap"))')"
	assert_eq "$who: inspect: NetworkSettings, no mounts" "host 0" \
		"$(jq_ "$T/inspect.json" 'd["NetworkSettings"]["Mode"], len(d["Mounts"])')"
	assert_eq "$who: inspect: the record's members are kept" "running xweb" \
		"$(jq_ "$T/inspect.json" 'd["status"], d["name"]')"
	strata_as $who inspect bb:1
	assert_eq "$who: inspect of an image is as it was" "0 True" \
		"$RC $(jq_ "$T/out" '"layers" in d and "State" not in d')"

	# stdin: /dev/null without -i, the caller's with it.
	strata_as $who exec xweb cat </dev/null
	assert_eq "$who: exec without -i: stdin is not ours" "0 " "$RC $(cat "$T/out")"
	echo piped >"$T/in"
	strata_as $who exec -i xweb cat <"$T/in"
	assert_eq "$who: exec -i" "0 piped" "$RC $(cat "$T/out")"

	# -t: a pty, the caller's window size, then its change; TERM set.
	cat >"$T/tty.sh" <<EOF
stty rows 21 cols 61
$(as_who $who) $STRATA exec -it xweb sh -c 'stty size; echo \$TERM; sleep 1.5; stty size' </dev/tty &
sleep 0.7
stty rows 33 cols 77
wait \$!
echo "rc=\$?"
EOF
	run timeout 20 script -qec "bash $T/tty.sh" /dev/null </dev/null
	assert_eq "$who: exec -it: size, TERM, new size, status" "21 61 xterm 33 77 rc=0" \
		"$(tr -d '\r' <"$T/out" | tr '\n' ' ' | sed 's/\^@//g; s/ $//')"

	# A signal to strata exec reaches the command.
	# shellcheck disable=SC2046 # as_who's words
	timeout 20 $(as_who $who) "$STRATA" exec xweb \
		sh -c 'trap "exit 9" TERM; while :; do sleep 0.1; done' >/dev/null 2>&1 &
	bg=$!
	sleep 1
	kill -TERM $bg 2>/dev/null || true
	# timeout passes TERM on to strata exec, which passes it on.
	set +e
	wait $bg
	st=$?
	set -e
	assert_eq "$who: SIGTERM to exec: the command's trap's status" 9 "$st"

	# cp: a tree in and out of the running container, through its mount.
	if [ $who = root ]; then own=0:0; else own=65534:65534; fi
	rm -rf "$T/cpin" "$T/cpout"
	mkdir -p "$T/cpin/tree/sub" "$T/cpout"
	echo one >"$T/cpin/tree/f"
	echo two >"$T/cpin/tree/sub/g"
	echo new >"$T/cpin/orig"
	ln -s f "$T/cpin/tree/l"
	chmod 0640 "$T/cpin/tree/f"
	touch -d '2020-01-02 03:04:05 UTC' "$T/cpin/tree/f"
	chown -R "$own" "$T/cpin" "$T/cpout"
	strata_as $who cp "$T/cpin/tree" xweb:/tmp
	assert_eq "$who: cp a tree in" "0 " "$RC $(cat "$T/err")"
	strata_as $who exec xweb sh -c 'cat /tmp/tree/f /tmp/tree/sub/g; readlink /tmp/tree/l; stat -c "%u:%g %a %Y" /tmp/tree/f'
	assert_eq "$who: cp in: contents, link, the container's root's, mode, time" \
		"one two f 0:0 640 1577934245" "$(tr '\n' ' ' <"$T/out" | sed 's/ $//')"
	assert_stat "$who: cp in: on disk, in the upper, the caller's" '%u:%g' \
		"$T/store-$who/strata/containers/xweb/upper/tmp/tree/sub/g" "$own"
	strata_as $who cp "$T/cpin/orig" xweb:/data/orig
	strata_as $who exec xweb cat /data/orig
	assert_eq "$who: cp over an image's file: copied up" "0 new" "$RC $(cat "$T/out")"
	strata_as $who cat env:1 /data/orig
	assert_eq "$who: ... the image's is as it was" "0 image" "$RC $(cat "$T/out")"
	strata_as $who exec xweb sh -c 'mkdir -p /made/d; echo three >/made/d/h; ln -s /etc/passwd /made/d/abs; rm /etc/group'
	strata_as $who cp xweb:/made "$T/cpout"
	assert_eq "$who: cp a tree out" "0 three /etc/passwd" \
		"$RC $(cat "$T/cpout/made/d/h") $(readlink "$T/cpout/made/d/abs")"
	assert_stat "$who: cp out: the caller's" '%u:%g' "$T/cpout/made/d/h" "$own"
	strata_as $who cp xweb:/made/d/h "$T/cpout/renamed"
	assert_eq "$who: cp a file out under a new name" "0 three" "$RC $(cat "$T/cpout/renamed")"
	strata_as $who cp xweb:/etc "$T/cpout"
	assert_eq "$who: cp out follows the union: a deleted file is not there" "0 yes no" \
		"$RC $(test -e "$T/cpout/etc/passwd" && echo yes || echo no) $(test -e "$T/cpout/etc/group" && echo yes || echo no)"
	strata_as $who exec xweb sh -c 'cd /tmp && i=0 && while [ $i -lt 140 ]; do mkdir d && cd d && i=$((i + 1)); done'
	strata_as $who cp xweb:/tmp/d "$T/cpout"
	assert_one_error_line "$who: cp of a tree 140 directories deep: refused past 128" 1
	assert_true "$who: ... says so" grep -q 'more than 128 directories deep' "$T/err"
	assert_true "$who: ... what is above is copied" test -d "$T/cpout/d/d/d"
	strata_as $who cp xweb:/nothing "$T/cpout"
	assert_one_error_line "$who: cp of a missing path" 1
	strata_as $who cp "$T/cpin/missing" xweb:/tmp
	assert_one_error_line "$who: cp of a missing host path" 1
	strata_as $who cp xweb:tmp "$T/cpout"
	assert_one_error_line "$who: cp of a relative container path" 2

	# A process exec started dies with the container.
	(strata_as $who exec xweb sleep $((NAP + 1))) &
	bg=$!
	assert_true "$who: exec's sleep runs" wait_until 10 alive $((NAP + 1))
	strata_as $who stop -t 1 xweb
	set +e
	wait $bg
	set -e
	assert_true "$who: stop ends exec's process too" wait_until 10 gone $((NAP + 1))
	strata_as $who exec xweb true
	assert_one_error_line "$who: exec into a stopped container" 1
	strata_as $who cp "$T/cpin/orig" xweb:/tmp
	assert_eq "$who: cp into a stopped container (tests/run/cp.sh)" "0 " "$RC $(cat "$T/err")"
	# Out of the stopped container: its tree in the store, as diff reads it.
	rm -rf "$T/cpout"
	mkdir -p "$T/cpout"
	chown "$own" "$T/cpout"
	strata_as $who cp xweb:/made "$T/cpout"
	assert_eq "$who: cp out of a stopped container" "0 three /etc/passwd" \
		"$RC $(cat "$T/cpout/made/d/h") $(readlink "$T/cpout/made/d/abs")"
	assert_stat "$who: ... the caller's" '%u:%g' "$T/cpout/made/d/h" "$own"
	strata_as $who cp xweb:/etc "$T/cpout"
	assert_eq "$who: ... a deleted file is not there, the copied-up one is new" "0 yes no new" \
		"$RC $(test -e "$T/cpout/etc/passwd" && echo yes || echo no) $(test -e "$T/cpout/etc/group" && echo yes || echo no) $(strata_as $who cp xweb:/data/orig "$T/cpout/orig" && cat "$T/cpout/orig")"
	strata_as $who cp xweb:/nothing "$T/cpout"
	assert_one_error_line "$who: cp of a missing path of a stopped container" 1
	strata_as $who inspect xweb
	assert_eq "$who: inspect of the stopped container: State, and exit_code kept (stderr: $(cat "$T/err"))" \
		"exited False 0 143 143" \
		"$(jq_ "$T/out" 'd["State"]["Status"], d["State"]["Running"], d["State"]["Pid"], d["State"]["ExitCode"], d.get("exit_code"), d.get("reason", "")' 2>&1 | sed 's/ $//')"

	# A container of the foreground, without a network of its own... and
	# with one (--net none), a filter that follows --cap-add, and none.
	(strata_as $who run --name xfg --net none --cap-add SYS_ADMIN,SYS_PTRACE -v "$T/rootfs:/data:ro" bb:1 sleep $((NAP + 2))) &
	bg=$!
	assert_true "$who: xfg container runs" wait_until 10 alive $((NAP + 2))
	pid=$(command_pid $((NAP + 2)))
	strata_as $who exec xfg readlink /proc/self/ns/net
	assert_eq "$who: exec: the container's own network namespace" \
		"0 $(readlink /proc/"$pid"/ns/net)" "$RC $(cat "$T/out")"
	assert_ne "$who: ... not the host's" "$(readlink /proc/self/ns/net)" "$(cat "$T/out")"
	strata_as $who exec xfg sysprobe keyctl unshare
	assert_eq "$who: exec: --cap-add SYS_ADMIN's filter (unshare allowed, keyctl not)" \
		"0 keyctl: EPERM unshare: ok" "$RC $(tr '\n' ' ' <"$T/out" | sed 's/ $//')"
	# No fd of the host's in the container (".." from a directory's leads
	# out of its root): not in exec's process, its command's, nor in the
	# init's, which CAP_SYS_PTRACE opens through /proc/1/fd.
	strata_as $who exec xfg ls /proc/1/fd /proc/2/fd
	assert_eq "$who: the init and the command hold stdio alone" "0 /proc/1/fd: 0 1 2 /proc/2/fd: 0 1 2" \
		"$RC $(tr '\n' ' ' <"$T/out" | tr -s ' ' | sed 's/ $//')"
	strata_as $who exec xfg ls /proc/self/fd
	assert_eq "$who: exec's process holds stdio alone (and ls its directory's)" "0 0 1 2 3" \
		"$RC $(tr '\n' ' ' <"$T/out" | sed 's/ $//')"
	strata_as $who inspect xfg
	assert_eq "$who: inspect: a bind, --net none, the added capability" \
		"bind $T/rootfs /data False none True" \
		"$(jq_ "$T/out" 'd["Mounts"][0]["Type"], d["Mounts"][0]["Source"], d["Mounts"][0]["Destination"], d["Mounts"][0]["RW"], d["HostConfig"]["NetworkMode"], "CAP_SYS_ADMIN" in d["EffectiveCaps"]')"
	strata_as $who stop -t 1 xfg
	set +e
	wait $bg
	set -e
	strata_as $who run -d --name xfree --security-opt seccomp=unconfined bb:1 sleep $((NAP + 3))
	wait_until 10 alive $((NAP + 3)) || fail "$who: xfree did not start"
	strata_as $who exec xfree grep ^Seccomp: /proc/self/status
	assert_eq "$who: exec into an unconfined container: no filter" "0 Seccomp: 0" \
		"$RC $(tr '\t' ' ' <"$T/out")"
	strata_as $who stop -t 1 xfree
	strata_as $who rm xweb xfg xfree
	assert_eq "$who: rm" 0 "$RC"
	assert_nothing_mounted_under "$who: no mount left" "$T"
done

# Bad input, one line each.
export STRATA_ROOT=$T/store-root
run "$STRATA" run --name xstopped bb:1 true
run "$STRATA" exec xstopped true
assert_one_error_line "exec into a stopped container" 1
run "$STRATA" exec no-such true
assert_one_error_line "exec into no container" 1
run "$STRATA" exec xstopped
assert_one_error_line "exec without a command" 2
run "$STRATA" exec
assert_one_error_line "exec without a container" 2
run "$STRATA" exec --bogus xstopped true
assert_one_error_line "exec --bogus" 2
run "$STRATA" exec -w rel xstopped true
assert_one_error_line "exec -w relative" 2
run "$STRATA" exec -e =x xstopped true
assert_one_error_line "exec -e =x" 2
run "$STRATA" run -d --name xbad bb:1 sleep $((NAP + 4))
wait_until 10 alive $((NAP + 4)) || fail "bad did not start"
run "$STRATA" exec xbad no-such-command
assert_one_error_line "exec of a missing command" 127
run "$STRATA" exec xbad /etc/passwd
assert_one_error_line "exec of a file that is no program" 126
run "$STRATA" exec -w /nowhere xbad true
assert_one_error_line "exec -w of a missing directory" 1
run "$STRATA" exec -u nosuch xbad true
assert_one_error_line "exec -u of no such user" 1
python3 - "$T/store-root/strata/containers/xbad/state.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); del s["process"]; json.dump(s, open(sys.argv[1], "w"))
PY
run "$STRATA" exec xbad true
assert_one_error_line "exec into a container recorded by an older strata" 1
run "$STRATA" stop -t 1 xbad
run "$STRATA" inspect no-such-thing
assert_one_error_line "inspect of nothing" 1
run "$STRATA" cp a b
assert_one_error_line "cp between two host paths" 2
run "$STRATA" cp --help
assert_eq "cp --help" 0 "$RC"
run "$STRATA" exec --help
assert_eq "exec --help" 0 "$RC"
assert_true "exec --help names -t" grep -q -- '--tty' "$T/out"

for n in 0 1 2 3 4; do
	assert_true "no container process left ($n)" gone $((NAP + n))
done
assert_nothing_mounted_under "no mount left" "$T"
finish
