#!/usr/bin/env bash
# strata run's seccomp filter, end to end through the real launcher, as
# root and as an unprivileged user (uid 65534, no subordinate ids):
# docker's default profile is on by default (keyctl, unshare, mount,
# kexec_load, open_by_handle_at, bpf fail with EPERM, clone3 with ENOSYS,
# personality flags and AF_VSOCK are refused) while a shell and busybox
# work; --cap-add SYS_ADMIN lets the namespace calls through as docker's
# capability rules say; seccomp=unconfined turns it off; seccomp=FILE
# loads a docker JSON profile; bad profiles and options fail in one line.
# shellcheck source=../integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

: "${SYSPROBE:?SYSPROBE must name the sysprobe binary}"
command -v busybox >/dev/null || die 'busybox-static is not installed'

# The image: busybox, its applets, and sysprobe, as one bare layer.
ROOTFS=$T/rootfs
mkdir -p "$ROOTFS"/{bin,etc,tmp}
cp "$(command -v busybox)" "$ROOTFS/bin/busybox"
cp "$SYSPROBE" "$ROOTFS/bin/sysprobe"
for a in sh echo cat ls mkdir rmdir grep ps sleep id sort wc head tr touch rm; do
	ln -s busybox "$ROOTFS/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$ROOTFS/etc/passwd"
chmod 1777 "$ROOTFS/tmp"
tar --numeric-owner --owner=0 --group=0 -C "$ROOTFS" -cf "$T/sc.tar" .

# Profiles in docker's JSON format.
cat >"$T/no-mkdir.json" <<'JSON'
{
	"defaultAction": "SCMP_ACT_ALLOW",
	"archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
	"syscalls": [
		{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
		 "comment": "no new directories"},
		{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO",
		 "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
		{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
		 "args": [{"index": 0, "value": 262144, "op": "SCMP_CMP_EQ"}]}
	]
}
JSON
# podman's spelling: errno names beside (or instead of) the numbers, and
# empty fields.
cat >"$T/podman-style.json" <<'JSON'
{"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1, "defaultErrno": "EPERM",
 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errno": "ENOSYS",
               "args": [], "comment": "", "includes": {}, "excludes": {}}]}
JSON
printf '{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/x.sock"}\n' >"$T/listener.json"
printf '{"defaultAction": "SCMP_ACT_NOTIFY"}\n' >"$T/notify.json"
printf '{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "EWHATEVER"}\n' >"$T/badname.json"
printf '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}\n' >"$T/badarg.json"
printf '{"defaultAction": "SCMP_ACT_ALLOW",\n "syscalls": [\n' >"$T/truncated.json"

# The probe's answer for CALL in the last run's output.
answer() { sed -n "s/^$1: //p" "$T/out"; }

chmod 0666 /dev/fuse # as distributions ship it; the unprivileged run needs it
mkdir -p "$T/store-user" "$T/home"
chown 65534:65534 "$T/store-user" "$T/home"
chmod 0755 "$T"
chmod 0644 "$T"/*.json "$T/sc.tar"

BLOCKED="keyctl unshare mount kexec_load open_by_handle_at bpf"
for who in root user; do
	strata_as $who import -q -t sc:1 "$T/sc.tar"
	assert_eq "$who: import" 0 "$RC"

	# On by default: the filter is there, and what docker blocks fails.
	strata_as $who run --rm sc:1 grep Seccomp: /proc/self/status
	assert_eq "$who: the command runs under a seccomp filter" "Seccomp:	2" "$(cat "$T/out")"
	# shellcheck disable=SC2086
	strata_as $who run --rm sc:1 sysprobe $BLOCKED clone3 personality vsock alg fchmodat2
	assert_eq "$who: sysprobe runs" 0 "$RC"
	for call in $BLOCKED personality vsock alg; do
		assert_eq "$who: $call fails with EPERM" EPERM "$(answer "$call")"
	done
	assert_eq "$who: clone3 fails with ENOSYS (libc falls back to clone)" ENOSYS "$(answer clone3)"
	# A call newer than libseccomp knows (Linux 6.6) is allowed, by number.
	assert_eq "$who: fchmodat2 is allowed as docker allows it" ok "$(answer fchmodat2)"

	# The compiled filter is kept in the store; a damaged one is compiled
	# again, never loaded.
	assert_true "$who: the compiled filter is kept in the store" \
		test -n "$(find "$T/store-$who/strata/seccomp" -name '*.bpf' -size +1k)"
	for f in "$T/store-$who/strata/seccomp/"*.bpf; do
		head -c 100 "$f" >"$f.cut" && mv "$f.cut" "$f"
	done
	strata_as $who run --rm sc:1 sysprobe keyctl
	assert_eq "$who: a damaged cache file: compiled again, keyctl still EPERM" EPERM "$(answer keyctl)"
	assert_eq "$who: ... and kept again" "" \
		"$(find "$T/store-$who/strata/seccomp" -name '*.bpf' -size -2k)"

	# Without libseccomp (bound over by /dev/null in a mount namespace of
	# our own): the cached filter is not trusted, the run says why in one
	# line; unconfined still runs.
	if [ $who = root ]; then
		LIB=$(readlink -f "$(ldconfig -p | awk '/libseccomp\.so\.2 /{print $NF; exit}')")
		without_lib() {
			run unshare -m sh -c 'mount --bind /dev/null "$1" && shift && exec "$@"' _ "$LIB" \
				env STRATA_ROOT="$T/store-root" "$STRATA" "$@"
		}
		without_lib run --rm sc:1 id -u
		assert_one_error_line "without libseccomp" 1
		assert_true "without libseccomp: names it and the way out" \
			grep -q 'libseccomp.so.2: .*seccomp=unconfined runs without' "$T/err"
		without_lib run --rm --security-opt seccomp=unconfined sc:1 id -u
		assert_eq "without libseccomp: unconfined runs" "0 0" "$RC $(cat "$T/out")"
	fi

	# strata's init (pid 1) is under the filter too: with CAP_SYS_PTRACE
	# (which opens ptrace in the profile) the command can seize it, and
	# must not find an unfiltered process to call through.
	strata_as $who run --rm --cap-add SYS_PTRACE sc:1 sh -c 'grep Seccomp: /proc/1/status; sysprobe ptrace1'
	assert_eq "$who: pid 1, which SYS_PTRACE may seize, is filtered too" \
		"Seccomp:	2 ptrace1: ok" "$(tr '\n' ' ' <"$T/out" | sed 's/ $//')"

	# The everyday set: a shell, pipes, forks, files, busybox applets.
	strata_as $who run --rm sc:1 sh -c \
		'mkdir /tmp/d && touch /tmp/d/f && ls /tmp/d; rm -r /tmp/d; echo b a | tr " " "\n" | sort | head -1; (sleep 0 &); wait; ps -o pid | wc -l >/dev/null; id -u'
	assert_eq "$who: a shell and busybox work under the filter" "f a 0" \
		"$(tr '\n' ' ' <"$T/out" | sed 's/ $//')"
	assert_eq "$who: ... with nothing on stderr" "" "$ERR"

	# docker's capability rules: with CAP_SYS_ADMIN kept, the namespace
	# calls are allowed (and the kernel decides).
	strata_as $who run --rm --cap-add SYS_ADMIN sc:1 sysprobe unshare keyctl
	assert_eq "$who: --cap-add SYS_ADMIN lets unshare through" ok "$(answer unshare)"
	assert_eq "$who: ... but not keyctl" EPERM "$(answer keyctl)"

	# unconfined: no filter at all.
	strata_as $who run --rm --security-opt seccomp=unconfined sc:1 sh -c \
		'grep Seccomp: /proc/self/status; sysprobe unshare keyctl'
	assert_eq "$who: seccomp=unconfined: no filter" "Seccomp:	0" "$(head -1 "$T/out")"
	assert_eq "$who: seccomp=unconfined: unshare -U works" ok "$(answer unshare)"
	assert_true "$who: seccomp=unconfined: keyctl reaches the kernel" \
		test "$(answer keyctl)" != EPERM
	strata_as $who run --rm --security-opt no-new-privileges sc:1 grep NoNewPrivs: /proc/self/status
	assert_eq "$who: no-new-privileges is accepted (and always so)" "NoNewPrivs:	1" "$(cat "$T/out")"

	# A profile of our own, in docker's JSON format.
	strata_as $who run --rm --security-opt "seccomp=$T/no-mkdir.json" sc:1 \
		sysprobe mkdir keyctl unshare personality
	assert_eq "$who: FILE: mkdir denied with the profile's errno" EACCES "$(answer mkdir)"
	assert_eq "$who: FILE: keyctl denied" EPERM "$(answer keyctl)"
	assert_eq "$who: FILE: what it allows goes through (unshare)" ok "$(answer unshare)"
	assert_eq "$who: FILE: argument conditions (personality)" EPERM "$(answer personality)"
	strata_as $who run --rm --security-opt "seccomp=$T/podman-style.json" sc:1 sysprobe mkdir
	assert_eq "$who: FILE: podman's errno names" ENOSYS "$(answer mkdir)"
	strata_as $who run --rm --cap-add SYS_ADMIN --security-opt "seccomp=$T/no-mkdir.json" sc:1 \
		sysprobe keyctl
	assert_true "$who: FILE: excludes.caps (keyctl with SYS_ADMIN)" test "$(answer keyctl)" != EPERM
	strata_as $who run --rm --security-opt "seccomp=$T/no-mkdir.json" sc:1 mkdir /tmp/x
	assert_true "$who: FILE: busybox mkdir is refused" test "$RC" != 0
	assert_true "$who: FILE: ... with the profile's errno" grep -q 'Permission denied' "$T/err"

	# Bad profiles: one line, exit 1, before anything runs.
	while IFS='|' read -r file what says; do
		strata_as $who run --rm --security-opt "seccomp=$T/$file" sc:1 true
		assert_one_error_line "$who: $what" 1
		assert_true "$who: $what: says so ($says)" grep -q "$says" "$T/err"
	done <<-'TABLE'
		missing.json|a missing profile|missing.json: No such file
		listener.json|an unsupported field|"listenerPath" is not supported
		notify.json|an unsupported action|SCMP_ACT_NOTIFY.*not supported
		badname.json|an errno name without its number|defaultErrno "EWHATEVER": unknown; give defaultErrnoRet
		badarg.json|an argument index past 5|index 0-5
		truncated.json|a profile that is not JSON|line [0-9]
	TABLE
	strata_as $who run --rm --security-opt apparmor=x sc:1 true
	assert_one_error_line "$who: an unknown --security-opt is a usage error" 2
	assert_eq "$who: bad profiles leave no container" "" \
		"$(find "$T/store-$who/strata/containers" -mindepth 1 2>/dev/null)"
done

finish
