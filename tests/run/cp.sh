#!/usr/bin/env bash
# strata cp into a stopped container, as root and as an unprivileged user
# (uid 65534): through the container's union mounted for the copy
# (copy-up over an image's file, a directory the container deleted made
# again without the image's content), owned by the container's root as its
# id map puts it, under its lock (a start meanwhile is refused), the
# container left stopped; bad input in one line.
# shellcheck source=../integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

command -v busybox >/dev/null || die 'busybox-static is not installed'

ROOTFS=$T/rootfs
mkdir -p "$ROOTFS"/{bin,etc,tmp,data/keep}
echo image >"$ROOTFS/data/orig"
echo lower >"$ROOTFS/data/keep/a"
cp "$(command -v busybox)" "$ROOTFS/bin/busybox"
for a in sh cat ls stat readlink rm test; do
	ln -s busybox "$ROOTFS/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$ROOTFS/etc/passwd"
tar --numeric-owner --owner=0 --group=0 -C "$ROOTFS" -cf "$T/bb.tar" .

chmod 0666 /dev/fuse
mkdir -p "$T/store-user" "$T/home"
chown 65534:65534 "$T/store-user" "$T/home"
chmod 0755 "$T"

# The container's command: the first run deletes /data/keep; later ones
# run /probe, which cp puts in.
CMD='if test -f /probe; then . /probe; else rm -rf /data/keep; fi'
cat >"$T/probe" <<'PROBE'
cat /tmp/tree/f /tmp/tree/sub/g
readlink /tmp/tree/l
stat -c '%u:%g %a %Y' /tmp/tree/f /probe
cat /data/orig
ls /data/keep
PROBE

# The container's state as inspect says it.
state() {
	strata_as "$1" inspect "$2"
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["State"]["Status"])' "$T/out"
}

for who in root user; do
	if [ $who = root ]; then own=0:0; else own=65534:65534; fi
	rm -rf "$T/cpin"
	mkdir -p "$T/cpin/tree/sub" "$T/cpin/keep"
	echo one >"$T/cpin/tree/f"
	echo two >"$T/cpin/tree/sub/g"
	echo new >"$T/cpin/orig"
	echo fresh >"$T/cpin/keep/b"
	ln -s f "$T/cpin/tree/l"
	chmod 0640 "$T/cpin/tree/f"
	touch -d '2020-01-02 03:04:05 UTC' "$T/cpin/tree/f"
	cp "$T/probe" "$T/cpin/probe"
	chown -R "$own" "$T/cpin"

	strata_as $who import -q -t bb:1 "$T/bb.tar"
	strata_as $who run --name xc bb:1 sh -c "$CMD"
	assert_eq "$who: the container ran once (stderr: $(cat "$T/err"))" 0 "$RC"
	assert_eq "$who: ... and is stopped" exited "$(state $who xc)"

	strata_as $who cp "$T/cpin/tree" xc:/tmp
	assert_eq "$who: cp a tree into a stopped container" "0 " "$RC $(cat "$T/err")"
	strata_as $who cp "$T/cpin/orig" xc:/data/orig
	assert_eq "$who: cp over an image's file" "0 " "$RC $(cat "$T/err")"
	strata_as $who cp "$T/cpin/keep" xc:/data/keep
	assert_eq "$who: cp into a directory the container deleted" "0 " "$RC $(cat "$T/err")"
	strata_as $who cp "$T/cpin/probe" xc:/
	assert_eq "$who: cp a file to the root" "0 " "$RC $(cat "$T/err")"
	assert_eq "$who: the container is left stopped" exited "$(state $who xc)"
	assert_stat "$who: on disk, in the upper, the caller's" '%u:%g' \
		"$T/store-$who/strata/containers/xc/upper/tmp/tree/sub/g" "$own"
	assert_true "$who: nothing of the copy's mount on the host" \
		test -z "$(ls -A "$T/store-$who/strata/rootfs")"

	strata_as $who start -a xc
	assert_eq "$who: started: contents, link, the container's root's, mode, time; copied up; made again, opaque (stderr: $(cat "$T/err"))" \
		"0 one two f 0:0 640 1577934245 0:0 $(stat -c %a "$T/cpin/probe") $(stat -c %Y "$T/cpin/probe") new b" \
		"$RC $(tr '\n' ' ' <"$T/out" | sed 's/ $//')"
	strata_as $who cat bb:1 /data/orig
	assert_eq "$who: ... the image's file is as it was" "0 image" "$RC $(cat "$T/out")"

	# Its lock: a start while a copy writes is refused, and the copy ends.
	truncate -s 768M "$T/cpin/big"
	chown "$own" "$T/cpin/big"
	if [ $who = root ]; then pre=(env STRATA_ROOT="$T/store-root"); else
		pre=(setpriv --reuid 65534 --regid 65534 --clear-groups env HOME="$T/home" STRATA_ROOT="$T/store-user"); fi
	"${pre[@]}" "$STRATA" cp "$T/cpin/big" xc:/big >"$T/bgout" 2>&1 &
	bg=$!
	# Seen in /proc/locks: a probe with flock(1) would take the lock itself.
	ino=$(stat -c %i "$T/store-$who/strata/containers/xc/lock")
	held=no
	for _ in $(seq 1000); do
		if grep -q ":$ino " /proc/locks; then held=yes && break; fi
		kill -0 $bg 2>/dev/null || break
		sleep 0.005
	done
	if [ $held = yes ]; then
		strata_as $who start xc
		assert_one_error_line "$who: start while cp writes into it" 1
	else
		fail "$who: the copy's lock was never seen held"
	fi
	set +e
	wait $bg
	st=$?
	set -e
	assert_eq "$who: ... the copy ends well" "0 " "$st $(cat "$T/bgout")"
	assert_eq "$who: ... the container is stopped" exited "$(state $who xc)"
	rm -f "$T/cpin/big" "$T/store-$who/strata/containers/xc/upper/big"

	# A probe's shared lock (ps, inspect: store_container_running) at the
	# moment cp takes the lock: cp waits it out instead of failing "busy".
	# Here held 30 ms, ps holds it microseconds; the cp starts once it is.
	lockf=$T/store-$who/strata/containers/xc/lock
	rm -f "$T/held"
	flock -s "$lockf" sh -c "touch '$T/held'; sleep 0.03" &
	fl=$!
	for _ in $(seq 400); do
		[ -e "$T/held" ] && break
		sleep 0.005
	done
	strata_as $who cp "$T/cpin/orig" xc:/tmp/orig2
	assert_eq "$who: cp while a probe holds the lock shared for a moment" "0 " \
		"$RC $(cat "$T/err")"
	wait $fl

	# Bad input: one line each.
	strata_as $who cp "$T/cpin/orig" nothere:/tmp
	assert_one_error_line "$who: cp into a missing container" 1
	strata_as $who cp "$T/cpin/orig" xc:/no/such/dir/x
	assert_one_error_line "$who: cp to a missing directory of a stopped container" 1
	strata_as $who cp "$T/cpin/missing" xc:/tmp
	assert_one_error_line "$who: cp of a missing host path" 1
	strata_as $who cp "$T/cpin/orig" xc:tmp
	assert_one_error_line "$who: cp to a relative container path" 2
	assert_eq "$who: the container is still stopped" exited "$(state $who xc)"

	strata_as $who rm xc
	assert_eq "$who: rm" 0 "$RC"
done
finish
