#!/usr/bin/env bash
# strata run's mount, device and limit options and commit --change, end to
# end through the real launcher, as root and as an unprivileged user (uid
# 65534): --tmpfs, --mount type=tmpfs|bind (a target behind a symlink in
# the image stays in the container's root), --device (with r/w through a
# devices cgroup where there is one, refused where there is none),
# --ulimit (exec's processes get them too), --init, --pids-limit against a
# fork loop, the options kept for strata start; commit --change and -m,
# the new image run with no command; and bad input, in one line each.
# shellcheck source=../integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

command -v busybox >/dev/null || die 'busybox-static is not installed'

ROOTFS=$T/rootfs
mkdir -p "$ROOTFS"/{bin,etc,tmp,home/app}
cp "$(command -v busybox)" "$ROOTFS/bin/busybox"
for a in sh cat echo id ls mkdir touch stat grep head wc sleep pwd seq true; do
	ln -s busybox "$ROOTFS/bin/$a"
done
# A symlink out of the root: targets behind it must land inside.
ln -s / "$ROOTFS/escape"
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n' >"$ROOTFS/etc/passwd"
printf 'root:x:0:\napp:x:1000:\n' >"$ROOTFS/etc/group"
tar --numeric-owner --owner=0 --group=0 -C "$ROOTFS" -cf "$T/bb.tar" .

chmod 0666 /dev/fuse
mkdir -p "$T/store-user" "$T/home" "$T/shared" "$T/rw"
chown 65534:65534 "$T/store-user" "$T/home" "$T/rw"
chmod 0755 "$T"
echo from-host >"$T/shared/file"
# A device node only root may open, and one only root may write.
mknod -m 600 "$T/private-null" c 1 3
mknod -m 644 "$T/readable-null" c 1 3
# Names unique to this run: cgroups and host paths are shared.
P=op$$
OUT_NAME=strata-opts-$$
NAP=$((600000 + $$))
# The lines of $T/out joined by spaces.
out() { tr '\n' ' ' <"$T/out" | sed 's/ $//'; }
# The mount options of MOUNTPOINT $1 in the $T/out of a `grep /proc/mounts`.
opts_of() { awk -v m="$1" '$2 == m { print $4 }' "$T/out"; }
has_opt() { tr ',' '\n' <<<"$1" | grep -qx "$2"; }
V1_DEVICES=false
[ -d /sys/fs/cgroup/devices ] && [ "$(stat -fc %T /sys/fs/cgroup)" = tmpfs ] && V1_DEVICES=true

for who in root user; do
	strata_as $who import -q -t bb:1 "$T/bb.tar"
	assert_eq "$who: import" 0 "$RC"

	# ---- --tmpfs ----
	strata_as $who run --rm --tmpfs /scratch:size=1m,mode=700 --tmpfs /plain \
		--tmpfs /ro:ro,exec bb:1 sh -c \
		'grep -E " /(scratch|plain|ro) " /proc/mounts; echo x >/scratch/f && cat /scratch/f; touch /ro/x 2>/dev/null || echo ro-refused; stat -c %a /scratch'
	o=$(opts_of /scratch)
	assert_true "$who: --tmpfs size=1m ($o)" has_opt "$o" size=1024k
	assert_true "$who: --tmpfs mode=700 ($o)" has_opt "$o" mode=700
	o=$(opts_of /plain)
	for f in rw noexec nosuid nodev; do
		assert_true "$who: --tmpfs default $f ($o)" has_opt "$o" $f
	done
	o=$(opts_of /ro)
	assert_true "$who: --tmpfs :ro ($o)" has_opt "$o" ro
	assert_false "$who: --tmpfs :exec ($o)" has_opt "$o" noexec
	assert_eq "$who: --tmpfs writable, ro refused, mode" "x ro-refused 700" \
		"$(grep -v '^tmpfs' "$T/out" | tr '\n' ' ' | sed 's/ $//')"

	# docker's usual pair: a read-only root with a writable tmpfs.
	strata_as $who run --rm --read-only --tmpfs /tmp bb:1 sh -c \
		'touch /tmp/x && echo tmp-rw; touch /x 2>/dev/null || echo root-ro'
	assert_eq "$who: --read-only --tmpfs /tmp" "0 tmp-rw root-ro" "$RC $(out)"

	# A target behind the image's symlink to / is made in the container's
	# root, never on the host.
	strata_as $who run --rm --tmpfs "/escape/$OUT_NAME" \
		--mount "type=bind,src=$T/shared,target=/escape/$OUT_NAME-b,readonly" bb:1 \
		sh -c "grep -c ' /$OUT_NAME ' /proc/mounts; cat /$OUT_NAME-b/file"
	assert_eq "$who: targets behind a symlink: in the root" "0 1 from-host" "$RC $(out)"
	assert_false "$who: ... and nothing made on the host" test -e "/$OUT_NAME"
	assert_false "$who: ... nor the bind's" test -e "/$OUT_NAME-b"
	[ $who != root ] || rm -rf "/${OUT_NAME:?}" "/${OUT_NAME:?}-b"

	# ---- --mount ----
	strata_as $who run --rm --mount type=tmpfs,destination=/m,tmpfs-size=2m,tmpfs-mode=1770 \
		--mount "type=bind,source=$T/shared,dst=/b,ro" \
		--mount "type=bind,src=$T/rw,destination=/w,readonly=false,bind-propagation=rslave" \
		bb:1 sh -c 'grep " /m " /proc/mounts; stat -c %a /m; cat /b/file; touch /b/x 2>/dev/null || echo b-ro; touch /w/new && echo w-rw'
	o=$(opts_of /m)
	assert_true "$who: --mount tmpfs-size ($o)" has_opt "$o" size=2048k
	assert_eq "$who: --mount tmpfs and binds" "1770 from-host b-ro w-rw" \
		"$(grep -v '^tmpfs' "$T/out" | tr '\n' ' ' | sed 's/ $//')"
	assert_true "$who: the writable bind wrote on the host" test -e "$T/rw/new"
	rm -f "$T/rw/new"

	for bad in "type=volume,src=v,dst=/v" "type=bind,dst=/x" "type=bind,src=$T/shared" \
		"type=tmpfs,dst=/x,tmpfs-size=lots" "type=bind,src=$T/shared,dst=/x,bind-propagation=up" \
		"type=bind,src=$T/shared,dst=rel" "colour=red,dst=/x" "type=tmpfs,src=/a,dst=/x"; do
		strata_as $who run --rm --mount "$bad" bb:1 true
		assert_one_error_line "$who: --mount $bad" 2
	done
	strata_as $who run --rm --mount "type=bind,src=$T/no/such,dst=/x" bb:1 true
	assert_one_error_line "$who: --mount with a missing source" 1
	for bad in /x:size=lots /x:mode=9 /x:bogus rel; do
		strata_as $who run --rm --tmpfs "$bad" bb:1 true
		assert_one_error_line "$who: --tmpfs $bad" 2
	done

	# ---- --device ----
	strata_as $who run --rm --device /dev/null:/dev/mynull --device /dev/zero:rw bb:1 sh -c \
		'echo x >/dev/mynull && echo wrote; stat -c "%t,%T" /dev/mynull; head -c 4 /dev/zero | wc -c'
	assert_eq "$who: --device binds the node" "0 wrote 1,3 4" "$RC $(out)"
	strata_as $who run --rm --device "$T/shared/file" bb:1 true
	assert_one_error_line "$who: --device of a file" 1
	assert_true "$who: ... says so" grep -q 'no device node' "$T/err"
	for bad in /dev/null:rel /dev/null:/x:rwx null; do
		strata_as $who run --rm --device "$bad" bb:1 true
		assert_one_error_line "$who: --device $bad" 2
	done
	if [ $who = user ]; then
		strata_as $who run --rm --device "$T/private-null:/dev/p" bb:1 true
		assert_one_error_line "$who: --device the user may not open" 1
		assert_true "$who: ... says why" grep -q 'Permission denied' "$T/err"
		# :r where the node's mode refuses us writes anyway: no cgroup needed.
		strata_as $who run --rm --device "$T/readable-null:/dev/r:r" bb:1 sh -c \
			'cat /dev/r && echo read; echo x 2>/dev/null >/dev/r || echo no-write'
		assert_eq "$who: --device :r kept by the node's own mode" "0 read no-write" "$RC $(out)"
	fi
	# r or w alone: kept by a devices cgroup (v1, as root), else refused.
	if [ $who = root ] && $V1_DEVICES; then
		strata_as $who run --rm --device /dev/zero:/dev/rz:r --device /dev/urandom:/dev/wu:w \
			bb:1 sh -c 'head -c 2 /dev/rz | wc -c; echo x 2>/dev/null >/dev/rz || echo rz-no-write;
				echo x >/dev/wu && echo wu-write; head -c 2 /dev/wu 2>/dev/null | wc -c'
		assert_eq "$who: --device r and w through the devices cgroup" "0 2 rz-no-write wu-write 0" \
			"$RC $(out)"
	else
		strata_as $who run --rm --device /dev/zero:/dev/rz:r bb:1 true
		assert_one_error_line "$who: --device :r without a devices cgroup" 1
		assert_true "$who: ... says so" grep -q 'only a devices cgroup' "$T/err"
	fi

	# ---- --ulimit ----
	strata_as $who run --rm --ulimit nofile=100:200 --ulimit core=0 --ulimit stack=-1:-1 \
		bb:1 sh -c 'ulimit -n; ulimit -Hn; ulimit -c; ulimit -s'
	assert_eq "$who: --ulimit nofile, core, stack" "0 100 200 0 unlimited" "$RC $(out)"
	for bad in bogus=1 nofile=10:5 nofile=abc nofile nofile=1:2:3; do
		strata_as $who run --rm --ulimit "$bad" bb:1 true
		assert_one_error_line "$who: --ulimit $bad" 2
	done
	HARD=$(ulimit -Hn)
	# Root raises it where it holds CAP_SYS_RESOURCE (not in every
	# container a test runs in).
	if [ $who = root ] && (ulimit -Hn $((HARD + 1))) 2>/dev/null; then
		strata_as $who run --rm --ulimit "nofile=64:$((HARD + 1))" bb:1 sh -c 'ulimit -Hn'
		assert_eq "$who: --ulimit raises the hard limit" "0 $((HARD + 1))" "$RC $(out)"
	else
		strata_as $who run --rm --ulimit "nofile=64:$((HARD + 1))" bb:1 true
		assert_one_error_line "$who: --ulimit above the hard limit, rootless" 1
		assert_true "$who: ... says what raises it" grep -q 'CAP_SYS_RESOURCE' "$T/err"
	fi
	# exec's processes get the container's limits.
	strata_as $who run -d --name "${P}u" --ulimit nofile=77:88 bb:1 sleep $NAP
	assert_eq "$who: run -d --ulimit" 0 "$RC"
	strata_as $who exec "${P}u" sh -c 'ulimit -n; ulimit -Hn'
	assert_eq "$who: exec gets --ulimit" "0 77 88" "$RC $(out)"
	strata_as $who rm -f "${P}u"
	assert_eq "$who: rm -f" 0 "$RC"

	# ---- --init, --pids-limit ----
	strata_as $who run --rm --init bb:1 sh -c 'echo $$'
	assert_eq "$who: --init accepted, the command under strata's init" "0 2" "$RC $(out)"
	if [ $who = root ]; then
		# Forks until fork fails: at most 12 processes in all.
		# (the forking shell dies at the first fork that fails; its
		# sleeps stay, under the init).
		strata_as $who run --rm --pids-limit 12 bb:1 sh -c \
			"sh -c 'i=0; while [ \$i -lt 30 ]; do sleep 5 & i=\$((i+1)); done' 2>/dev/null
			 n=0; for p in /proc/[0-9]*; do n=\$((n+1)); done; echo \$n"
		assert_true "$who: --pids-limit 12 against 30 forks (had $(out))" test "$(out)" -le 12
		assert_true "$who: ... the forks reached it (had $(out))" test "$(out)" -ge 8
	fi

	# ---- the options are the container's: strata start runs it with them ----
	strata_as $who run --name "${P}k" --tmpfs /scratch:size=1m --ulimit nofile=64 \
		--device /dev/null:/dev/n2 --mount "type=bind,src=$T/shared,dst=/b,ro" bb:1 sh -c \
		'grep -c " /scratch " /proc/mounts; ulimit -n; test -c /dev/n2 && echo dev; cat /b/file'
	first=$(out)
	assert_eq "$who: run --name with the options" "0 1 64 dev from-host" "$RC $first"
	strata_as $who start -a "${P}k"
	assert_eq "$who: start -a: the same options" "0 $first" "$RC $(out)"
	strata_as $who inspect "${P}k"
	got=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
d = d[0] if isinstance(d, list) else d
print(" ".join(m["Type"] + ":" + m["Destination"] for m in d["Mounts"]), d["process"]["ulimits"])' "$T/out")
	assert_eq "$who: inspect: the mounts and limits" \
		"tmpfs:/scratch device:/dev/n2 bind:/b ['nofile=64:64']" "$got"
	strata_as $who rm "${P}k"

	# ---- commit --change, -m ----
	if [ $who = root ]; then USER_CHANGE='USER app' UID_WANT=1000; else USER_CHANGE='USER 0' UID_WANT=0; fi
	strata_as $who run --name "${P}c" --tmpfs /made-here bb:1 sh -c 'mkdir -p /app && echo made >/app/f'
	# The tmpfs's mount point, made in the upper, is none of its changes.
	strata_as $who diff "${P}c"
	assert_eq "$who: diff: the changes, not the --tmpfs mount point" "0 A /app A /app/f" "$RC $(out)"
	strata_as $who commit -c 'CMD echo "$GREET" $(pwd) $(id -u) $(cat f)' -c 'ENV GREET=hello' \
		--change 'WORKDIR /app' -c "$USER_CHANGE" -c 'EXPOSE 80/tcp 53/udp' \
		-c 'LABEL k=v "a b"=c' -m 'my message' "${P}c" "new-$P:1"
	assert_eq "$who: commit --change" 0 "$RC"
	strata_as $who run --rm "new-$P:1"
	assert_eq "$who: the new CMD, ENV, WORKDIR and USER take effect" \
		"0 hello /app $UID_WANT made" "$RC $(out)"
	strata_as $who run --rm "new-$P:1" sh -c 'echo $GREET'
	assert_eq "$who: a command given replaces the new CMD" "0 hello" "$RC $(out)"
	strata_as $who inspect "new-$P:1"
	cp "$T/out" "$T/inspect.json"
	got=$(python3 - "$T/inspect.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d = d[0] if isinstance(d, list) else d
c, h = d["config"], d["history"][-1]
print(sorted(c["ExposedPorts"]), c["Labels"], h.get("comment"), h.get("created_by"))
PY
	)
	assert_eq "$who: inspect: EXPOSE, LABEL, -m as the comment, the command as created_by" \
		"['53/udp', '80/tcp'] {'a b': 'c', 'k': 'v'} my message sh -c mkdir -p /app && echo made >/app/f" \
		"$got"
	strata_as $who commit -c 'RUN make' "${P}c" "bad-$P:1"
	assert_one_error_line "$who: commit --change RUN" 2
	strata_as $who commit -c 'ENV K="open' "${P}c"
	assert_one_error_line "$who: commit --change with an open quote" 2
	strata_as $who rm "${P}c"
done

finish
