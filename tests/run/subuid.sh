#!/usr/bin/env bash
# strata run as an unprivileged user (uid 65534) with a subordinate id range
# in /etc/subuid and /etc/subgid: the user namespace maps the caller to root
# and the range at 1 (through newuidmap/newgidmap), so the image's other
# owners are real ids:
#
# - the range is found by uid number (USER and LOGNAME unset) and by name
#   (USER=nobody, LOGNAME=nobody); /proc/self/uid_map and gid_map have the
#   two lines;
# - -u app (1000, from the image's passwd) runs as 1000; the image's files
#   of 1000:1000 show as theirs; ids up to the range's end work, past it
#   fail;
# - root in the container chowns to 1234:5678, which stays; on disk, in the
#   container's upper, that file is 300000+1233:300000+5677 and root's files
#   are the caller's (65534); a setgid directory of the image hands its
#   group down, inside and on disk; rm and --rm remove such files;
# - run -d and start of a container with such files keep the maps;
# - without the entries, -u app fails with one error line and exit 1, and
#   the container falls back to a one-id map.
#
# /etc/subuid and /etc/subgid are restored exactly at exit (and checked).
# Needs root (to write them), /dev/fuse, busybox-static and uidmap (installed
# with apt-get when missing).
# shellcheck source=../integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

[ "$(id -u)" = 0 ] || skip 'needs root (writes /etc/subuid and /etc/subgid)'
command -v busybox >/dev/null || die 'busybox-static is not installed'
BB=$(command -v busybox)

if ! command -v newuidmap >/dev/null || ! command -v newgidmap >/dev/null; then
	log 'uidmap is missing: apt-get install uidmap'
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -qq --no-install-recommends uidmap >"$T/apt.log" 2>&1; then
		apt-get update -qq >>"$T/apt.log" 2>&1 || true
		apt-get install -y -qq --no-install-recommends uidmap >>"$T/apt.log" 2>&1 ||
			skip "uidmap (newuidmap, newgidmap) is missing and apt-get install failed: $(tail -n 3 "$T/apt.log")"
	fi
fi

# ---- /etc/subuid and /etc/subgid: saved, changed, restored exactly ----

# shellcheck source=subids.sh
. "$(dirname "${BASH_SOURCE[0]}")/subids.sh"

BASE=300000
COUNT=65536

# ---- the image: a bare layer with busybox, a user app and their files ----

ROOTFS=$T/rootfs
mkdir -p "$ROOTFS"/{bin,etc,home/app,shared,tmp}
cp "$BB" "$ROOTFS/bin/busybox"
for a in sh cat id ls stat chown touch mkdir echo awk sleep; do
	ln -s busybox "$ROOTFS/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n' >"$ROOTFS/etc/passwd"
printf 'root:x:0:\napp:x:1000:\nteam:x:2000:app\n' >"$ROOTFS/etc/group"
echo app-data >"$ROOTFS/home/app/file"
chown -R 1000:1000 "$ROOTFS/home/app"
# /shared: app's, group team, setgid: what is made in it gets group team.
chown 1000:2000 "$ROOTFS/shared"
chmod 2775 "$ROOTFS/shared"
chmod 1777 "$ROOTFS/tmp"
tar --numeric-owner -C "$ROOTFS" -cf "$T/layer.tar" .

chmod 0755 "$T"
chmod 0666 /dev/fuse # as distributions ship it; the unprivileged run needs it
STORE=$T/store
mkdir -p "$STORE" "$T/home"
chown 65534:65534 "$STORE" "$T/home"

# USER_ENV: the environment strata sees for the user's name (env words).
USER_ENV=(-u USER -u LOGNAME)

# as_user ARGS...: strata ARGS as uid 65534, with its own store.
as_user() {
	run setpriv --reuid 65534 --regid 65534 --clear-groups \
		env "${USER_ENV[@]}" HOME="$T/home" STRATA_ROOT="$STORE" "$STRATA" "$@"
}

# out_words: $T/out on one line, blanks squeezed.
out_words() { tr -s ' \t\n' '   ' <"$T/out" | sed 's/^ //; s/ $//'; }

# ok WHAT: the last `run` exited 0 (else its stderr is shown).
ok() {
	if [ "$RC" = 0 ]; then pass; else fail "$1: exit $RC: $ERR"; fi
}

# maps WHAT: MAPS, the container's uid_map and gid_map, "uid: ... | gid: ...".
maps() {
	as_user run --rm img sh -c 'echo uid:; cat /proc/self/uid_map; echo "| gid:"; cat /proc/self/gid_map'
	ok "$1: reading the maps"
	MAPS=$(out_words)
}
TWO_LINES="uid: 0 65534 1 1 $BASE $COUNT | gid: 0 65534 1 1 $BASE $COUNT"

subids_set ''
as_user import -q --tag img "$T/layer.tar"
assert_eq 'import as the user' 0 "$RC"

# ---- matched by uid number: the full set ----

subids_set "65534:$BASE:$COUNT"
log "by uid: $(head -c 200 /etc/subuid | tr '\n' ' ')"
maps 'by uid'
assert_eq 'by uid: the two-line maps' "$TWO_LINES" "$MAPS"

as_user run --rm -u app img sh -c 'id -u; id -g; echo $HOME'
ok 'by uid: -u app'
assert_eq 'by uid: -u app runs as 1000:1000, HOME from passwd' '1000 1000 /home/app' "$(out_words)"

as_user run --rm img sh -c 'ls -ln /home/app/file | awk "{ print \$3 \":\" \$4 }"; stat -c "%u:%g %a" /shared'
ok 'by uid: image owners'
assert_eq "by uid: the image's 1000:1000 file and its setgid dir show their owners" \
	'1000:1000 1000:2000 2775' "$(out_words)"

# The range's edges: container ids 1..COUNT exist, COUNT+1 does not.
as_user run --rm -u "$COUNT" img id -u
ok "by uid: -u $COUNT (the range's last id)"
assert_eq "by uid: -u $COUNT" "$COUNT" "$(cat "$T/out")"
as_user run --rm -u "$((COUNT + 1))" img id -u
assert_one_error_line "by uid: -u $((COUNT + 1)) (past the range)" 1

# Root chowns to ids of the range; they stay, and are real ids on disk.
UP=$STORE/strata/containers/own/upper
as_user run --name own img sh -c \
	'touch /newfile && chown 1234:5678 /newfile && stat -c %u:%g /newfile; echo x >/rootmade'
ok 'by uid: touch and chown as root'
assert_eq 'by uid: chown 1234:5678 inside' '1234:5678' "$(cat "$T/out")"
as_user run --name own img stat -c %u:%g /newfile /rootmade
ok 'by uid: stat in the same container again'
assert_eq 'by uid: the chown stays (and root made /rootmade)' '1234:5678 0:0' "$(out_words)"
assert_stat 'by uid: on disk the chowned file has the subordinate ids' '%u:%g' "$UP/newfile" \
	"$((BASE + 1233)):$((BASE + 5677))"
assert_stat "by uid: on disk root's file is the caller's" '%u:%g' "$UP/rootmade" '65534:65534'

# app in the setgid dir, and a copy-up of app's image file.
as_user run --name own -u app img sh -c \
	'touch /shared/byapp; mkdir /shared/appdir; echo more >>/home/app/file; stat -c "%u:%g" /shared/byapp; stat -c "%u:%g %a" /shared/appdir /home/app/file'
ok 'by uid: writes as app'
assert_eq 'by uid: in the setgid dir the group is handed down (and setgid to dirs)' \
	'1000:2000 1000:2000 2755 1000:1000 644' "$(out_words)"
assert_stat 'by uid: on disk, the file app made in the setgid dir' '%u:%g' "$UP/shared/byapp" \
	"$((BASE + 999)):$((BASE + 1999))"
assert_stat 'by uid: on disk, the dir app made in the setgid dir' '%u:%g %a' "$UP/shared/appdir" \
	"$((BASE + 999)):$((BASE + 1999)) 2755"
assert_stat 'by uid: on disk, the setgid dir copied up' '%u:%g %a' "$UP/shared" \
	"$((BASE + 999)):$((BASE + 1999)) 2775"
assert_stat "by uid: on disk, app's file copied up" '%u:%g' "$UP/home/app/file" \
	"$((BASE + 999)):$((BASE + 999))"

# Detached (run -d, its supervisor writing newuidmap's maps), and start:
# the same maps again, so the ids on disk read back the same.
as_user run -d --name det -u app img sh -c 'touch /home/app/det; stat -c %u:%g /home/app/det /newfile 2>&1; id -u'
ok 'by uid: run -d -u app'
as_user wait det
assert_eq 'by uid: run -d: its status' 0 "$(cat "$T/out")"
as_user logs det
assert_eq 'by uid: run -d: its output, as app' '1000:1000 stat: can'"'"'t stat '"'"'/newfile'"'"': No such file or directory 1000' "$(out_words)"
as_user start -a det
assert_eq 'by uid: start -a: the same maps, the file still app'"'"'s' '1000:1000 stat: can'"'"'t stat '"'"'/newfile'"'"': No such file or directory 1000' "$(out_words)"
assert_stat 'by uid: run -d: on disk, app'"'"'s file' '%u:%g' "$STORE/strata/containers/det/upper/home/app/det" \
	"$((BASE + 999)):$((BASE + 999))"
as_user rm det
ok 'by uid: rm det'

# exec into a detached container with the range: its maps, and -u of an
# id only the range maps.
NAP=$((600000 + $$))
as_user run -d --name ex img sleep $NAP
ok 'by uid: run -d for exec'
wait_until 10 pgrep -xf "sleep $NAP" >/dev/null || fail 'by uid: ex did not start'
as_user exec -u app ex sh -c 'id -u; touch /home/app/ex; stat -c %u:%g /home/app/ex; cat /proc/self/uid_map'
ok 'by uid: exec -u app'
assert_eq 'by uid: exec -u app: as app, in the range maps' \
	"1000 1000:1000 0 65534 1 1 $BASE $COUNT" "$(out_words)"
assert_stat "by uid: exec: on disk, app's file" '%u:%g' "$STORE/strata/containers/ex/upper/home/app/ex" \
	"$((BASE + 999)):$((BASE + 999))"
as_user inspect ex
assert_eq 'by uid: inspect: IDMappings, the range' "0 65534 1 1 $BASE $COUNT" \
	"$(python3 -c 'import json, sys
print(" ".join(str(m[k]) for m in json.load(open(sys.argv[1]))["IDMappings"]["UidMap"] for k in ("ContainerID", "HostID", "Size")))' "$T/out")"
# cp through the range: app's file comes out as the caller's, what goes
# in is the container's root's (the caller's on disk).
mkdir -p "$T/cp"
echo in >"$T/cp/in"
chown -R 65534:65534 "$T/cp"
as_user cp ex:/home/app/ex "$T/cp/out"
ok 'by uid: cp out of the range'
assert_stat "by uid: cp out: app's file is the caller's" '%u:%g' "$T/cp/out" 65534:65534
as_user cp "$T/cp/in" ex:/home/app/in
ok 'by uid: cp in'
as_user exec ex stat -c %u:%g /home/app/in
assert_eq 'by uid: cp in: the container root'"'"'s' 0:0 "$(out_words)"
assert_stat 'by uid: cp in: on disk, the caller'"'"'s' '%u:%g' "$STORE/strata/containers/ex/upper/home/app/in" \
	65534:65534
as_user stop -t 1 ex
as_user cp ex:/home/app/ex "$T/cp/stopped"
ok 'by uid: cp out of the stopped container'
assert_stat "by uid: ... app's file is the caller's" '%u:%g' "$T/cp/stopped" 65534:65534
# Into the stopped container: its union served with the same maps, so an
# existing file of app's stays app's, a new one is the container root's.
as_user cp "$T/cp/in" ex:/home/app/ex
ok "by uid: cp into the stopped container, over app's file"
as_user cp "$T/cp/in" ex:/home/app/in2
ok 'by uid: cp a new file into the stopped container'
assert_stat "by uid: ... app's file still app's on disk" '%u:%g' \
	"$STORE/strata/containers/ex/upper/home/app/ex" "$((BASE + 999)):$((BASE + 999))"
assert_stat "by uid: ... the new one the caller's on disk" '%u:%g' \
	"$STORE/strata/containers/ex/upper/home/app/in2" 65534:65534
as_user cp ex:/home/app/ex "$T/cp/back"
assert_eq 'by uid: ... what was written reads back' in "$(cat "$T/cp/back")"
as_user rm ex
ok 'by uid: rm ex'
assert_false 'by uid: exec: no process left' pgrep -xf "sleep $NAP"

# The user removes what holds other ids of the range: rm, and --rm.
as_user rm own
ok 'by uid: rm own'
assert_false 'by uid: rm own: its directory is gone' test -e "$STORE/strata/containers/own"
as_user run --rm img sh -c 'mkdir /d && touch /d/f && chown -R 1234:5678 /d'
ok 'by uid: --rm with files of other ids'
assert_eq 'by uid: --rm leaves no container behind' '' "$(ls -A "$STORE/strata/containers")"

# ---- matched by name ----

subids_set "nobody:$BASE:$COUNT"
USER_ENV=(-u LOGNAME USER=nobody)
maps 'by name, USER'
assert_eq 'by name (USER=nobody): the two-line maps' "$TWO_LINES" "$MAPS"
as_user run --rm -u app img id -u
ok 'by name (USER=nobody): -u app'
assert_eq 'by name (USER=nobody): -u app' 1000 "$(cat "$T/out")"

USER_ENV=(-u USER LOGNAME=nobody)
maps 'by name, LOGNAME'
assert_eq 'by name (LOGNAME=nobody): the two-line maps' "$TWO_LINES" "$MAPS"
as_user run --rm -u app img id -u
ok 'by name (LOGNAME=nobody): -u app'
assert_eq 'by name (LOGNAME=nobody): -u app' 1000 "$(cat "$T/out")"

# ---- without entries: one id ----

subids_set ''
USER_ENV=(-u USER -u LOGNAME)
as_user run --rm -u app img id -u
assert_one_error_line 'no entries: -u app fails' 1
assert_true 'no entries: the error names -u app' grep -qF -- '-u app' "$T/err"
maps 'no entries'
assert_eq 'no entries: a one-id map' 'uid: 0 65534 1 | gid: 0 65534 1' "$MAPS"
as_user run --rm img id -u
assert_eq 'no entries: root in the container still works' 0 "$(cat "$T/out")"

# ---- the files are back as they were ----

subids_restore
for f in "${SUBID_FILES[@]}"; do
	b=$SAVED/${f##*/}
	if [ -e "$b" ]; then
		assert_true "$f restored" cmp -s "$b" "$f"
		assert_eq "$f: mode, owner, mtime restored" "$(stat -c '%a %u:%g %Y' "$b")" \
			"$(stat -c '%a %u:%g %Y' "$f")"
	else
		assert_false "$f removed (it did not exist)" test -e "$f"
	fi
done

finish
