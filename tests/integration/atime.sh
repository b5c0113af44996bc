#!/usr/bin/env bash
# atime: the atime mount options (relatime, the default; atime, noatime,
# strictatime, nodiratime) are honoured as overlayfs honours them.  A read
# of an upper file, or a listing of an upper directory, updates its atime
# when the option says so; the daemon's own reads (an rmdir's emptiness
# check) never do; a lower entry keeps its tar time.  The upper is a tmpfs
# mounted strictatime, which updates whatever strata lets through, so what
# shows is strata's decision alone.  As root and with a rootless daemon.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if ! command -v unshare >/dev/null || ! command -v setpriv >/dev/null; then
	skip "needs unshare and setpriv"
fi
chmod 0666 /dev/fuse
chmod 0755 "$T"
printf 'dir d\nfile d/g content=g\nfile f content=f mtime=1700000000\n' | mk "$T/l.tar"
UP=$T/up
mkdir -p "$UP" "$T/mnt" "$T/c" "$T/c-rootless"
MOUNTS+=("$UP" "$T/mnt")
mount -t tmpfs -o strictatime,size=16m,mode=0755 tmpfs "$UP" || die 'cannot mount a tmpfs'
chown 65534:65534 "$UP" "$T/mnt" "$T/c-rootless"

# The probe, run by the daemon's user: mounts with -o OPTS (none when
# empty), makes upper files and directories whose atime is a day old
# ("old") or an hour ahead ("future"), reads or lists each once, and says
# for each whether its atime moved; then the lower file's atime, and the
# mount's flags.
cat >"$T/probe.sh" <<'EOF'
set -u
S=$1 C=$2 L=$3 U=$4 M=$5 O=$6
rm -rf "$U" && mkdir "$U" || exit 1
"$S" mount --cache-dir "$C" ${O:+-o "$O"} --upper "$U" --layer "$L" "$M" || exit 1
echo data >"$M/old" && echo data >"$M/future"
mkdir "$M/old.d" "$M/future.d" "$M/full.d" && : >"$M/old.d/x" && : >"$M/future.d/x" && : >"$M/full.d/x"
now=$(date +%s)
touch -a -d "@$((now - 100000))" "$M/old" "$M/old.d" "$M/full.d"
touch -a -d "@$((now + 3600))" "$M/future" "$M/future.d"
cat "$M/old" "$M/future" "$M/f" >/dev/null
ls "$M/old.d" "$M/future.d" >/dev/null
rmdir "$M/full.d" 2>/dev/null
for n in old old.d; do
	a=$(stat -c %X "$M/$n")
	[ "$a" -ge "$now" ] && echo "$n moved" || echo "$n kept"
done
# A failed rmdir leaves the kernel's cached attributes be: look behind.
a=$(stat -c %X "$U/full.d")
[ "$a" -ge "$now" ] && echo "full.d moved" || echo "full.d kept"
for n in future future.d; do
	a=$(stat -c %X "$M/$n")
	[ "$a" != "$((now + 3600))" ] && echo "$n moved" || echo "$n kept"
done
echo "lower $(stat -c %X "$M/f")"
echo "flags $(awk -v m="$M" '$5 == m { print $6 }' /proc/self/mountinfo)"
"$S" umount "$M"
EOF

# probe_root OPTS / probe_rootless OPTS: the probe's lines.
probe_root() {
	timeout 60 bash "$T/probe.sh" "$STRATA" "$T/c" "$T/l.tar" "$UP/u-root" "$T/mnt" "$1" 2>&1
}
# As uid 65534, root of a user namespace of its own (as rootless.sh).
probe_rootless() {
	timeout 60 setpriv --reuid=65534 --regid=65534 --clear-groups \
		unshare -Urm bash "$T/probe.sh" "$STRATA" "$T/c-rootless" "$T/l.tar" "$UP/u-rootless" "$T/mnt" "$1" 2>&1
}

# m → moved, k → kept
word() { if [ "$1" = m ]; then echo moved; else echo kept; fi; }

# check WHO OPTS OLD FUTURE OLD_DIR FUTURE_DIR: what moved (m) and what was
# kept (k), for the file and directory with a day-old and a future atime.
check() {
	local who=$1 opts=$2 out want
	out=$("probe_$who" "$opts") || true
	log "$who -o ${opts:-(none)}: $(tr '\n' ' ' <<<"$out")"
	want=$(printf 'old %s\nold.d %s\nfull.d kept\nfuture %s\nfuture.d %s\nlower 1700000000\n' \
		"$(word "$3")" "$(word "$5")" "$(word "$4")" "$(word "$6")")
	assert_same_text "$who -o ${opts:-(none)}" "$want" "$(grep -v '^flags ' <<<"$out")"
	FLAGS=$(sed -n 's/^flags //p' <<<"$out")
}

# flags WHAT has|lacks FLAG...: the mount's flags have (or lack) each FLAG.
flags() {
	local what=$1 how=$2 f
	shift 2
	for f; do
		local got=lacks
		if grep -qw -- "$f" <<<"${FLAGS//,/ }"; then got=has; fi
		assert_eq "$what: the mount's flags ($FLAGS) $how $f" "$how" "$got"
	done
}

for who in root rootless; do
	#     options              old  future  old.d  future.d
	check "$who" ''            m    k       m      k
	flags "$who, default" has relatime
	check "$who" relatime      m    k       m      k
	check "$who" atime         m    k       m      k
	check "$who" noatime       k    k       k      k
	flags "$who, noatime" has noatime
	check "$who" strictatime   m    m       m      m
	flags "$who, strictatime" lacks noatime
	check "$who" nodiratime    m    k       k      k
	# As mount(2): strictatime overrides noatime, and the last of a pair wins.
	check "$who" noatime,strictatime m m    m      m
	check "$who" strictatime,nodiratime m m k      k
	# The daemon sets these flags itself, being root of the mount's
	# namespace here (fusermount3 passes noatime alone).
	flags "$who, strictatime,nodiratime" has nodiratime
	flags "$who, strictatime,nodiratime" lacks relatime noatime
	check "$who" noatime,atime m    k       m      k
	check "$who" nodiratime,diratime,nostrictatime m k m k
done

# A rootless daemon may not open a file of another owner with O_NOATIME:
# it reads it without (the upper's options decide), and the read works.
rm -rf "$UP/u-foreign" && mkdir "$UP/u-foreign" && chown 65534:65534 "$UP/u-foreign"
echo foreign >"$UP/u-foreign/foreign"
chown 1000:1000 "$UP/u-foreign/foreign"
out=$(timeout 60 setpriv --reuid=65534 --regid=65534 --clear-groups unshare -Urm bash -c '
	"$1" mount --cache-dir "$2" -o noatime --upper "$3" --layer "$4" "$5" || exit 1
	cat "$5/foreign"
	"$1" umount "$5"' _ "$STRATA" "$T/c-rootless" "$UP/u-foreign" "$T/l.tar" "$T/mnt" 2>&1) || true
assert_eq 'rootless, noatime: a file of another owner still reads' foreign "$out"

assert_nothing_mounted_under 'at the end' "$T/mnt"
umount "$UP"
finish
