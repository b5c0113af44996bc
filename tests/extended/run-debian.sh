#!/bin/bash
# run-debian: `strata run` on a real distribution.  The extended suite's
# Debian bookworm minbase (the cached debootstrap tar, see minbase.sh) is
# imported as a bare layer (debian:min), as root and as uid 65534 with a
# subordinate id range in /etc/subuid and /etc/subgid (restored exactly at
# exit).  For each:
#
# - cat /etc/os-release says bookworm;
# - in a named container, dpkg -i of a real .deb (less: maintainer scripts
#   with update-alternatives) bound in with -v; then, in the same container:
#   dpkg -s says installed, less runs, dpkg --verify and --audit are clean,
#   its files are root's inside (and the caller's on disk), its alternative
#   is set;
# - the image's system users and groups resolve: -u _apt, -u nobody; the
#   groups of its files (shadow, mail) show inside, and nobody cannot read
#   /etc/shadow.
#
# Needs root, /dev/fuse, uidmap (newuidmap, newgidmap), and the network the
# first time (debootstrap, apt-get download).  Environment: EXTENDED_CACHE
# (set by meson: the cache dir), STRATA_EXTENDED_CACHE overrides it.
# shellcheck source=../integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
# shellcheck source=minbase.sh
. "$(dirname "${BASH_SOURCE[0]}")/minbase.sh"

: "${EXTENDED_CACHE:?EXTENDED_CACHE must name the cache dir (meson sets it)}"
EXT=${STRATA_EXTENDED_CACHE:-$EXTENDED_CACHE}
SUITE=bookworm
PKG=less
t_start=$(date +%s.%N)

[ "$(id -u)" = 0 ] || skip 'needs root'
for c in newuidmap newgidmap setpriv dpkg-deb; do
	command -v "$c" >/dev/null || die "$c is not installed (newuidmap, newgidmap: uidmap)"
done

ensure_minbase
ensure_deb "$PKG"
VERSION=$(dpkg-deb -f "$DEB" Version)
log "package: $DEB ($PKG $VERSION)"
# The .deb where uid 65534 can read it.
cp "$DEB" "$T/$PKG.deb"
chmod 0644 "$T/$PKG.deb"

# ---- /etc/subuid and /etc/subgid: saved, changed, restored exactly ----

# shellcheck source=../run/subids.sh
. "$(dirname "${BASH_SOURCE[0]}")/../run/subids.sh"

BASE=300000
COUNT=65536
# Uid 65534's entry (any earlier one for it left out), by number.
subids_set "65534:$BASE:$COUNT"

chmod 0755 "$T"
chmod 0666 /dev/fuse # as distributions ship it; the unprivileged run needs it
mkdir -p "$T/store-root" "$T/store-user" "$T/home"
chown 65534:65534 "$T/store-user" "$T/home"

# as WHO ARGS...: strata ARGS as WHO (root, or user: uid 65534), each with
# its own store.  A dpkg run takes longer than the default timeout allows.
as() {
	local who=$1
	shift
	if [ "$who" = root ]; then
		run env STRATA_ROOT="$T/store-root" "$STRATA" "$@"
	else
		run setpriv --reuid 65534 --regid 65534 --clear-groups \
			env -u USER -u LOGNAME HOME="$T/home" STRATA_ROOT="$T/store-user" "$STRATA" "$@"
	fi
}

# ok WHAT: the last `run` exited 0 (else its stderr is shown).
ok() {
	if [ "$RC" = 0 ]; then pass; else fail "$1: exit $RC: $(tail -c 800 "$T/err")"; fi
}

out_words() { tr -s ' \t\n' '   ' <"$T/out" | sed 's/^ //; s/ $//'; }

STRATA_TIMEOUT=300
for who in root user; do
	t0=$(date +%s.%N)
	if [ "$who" = root ]; then disk_root=0; else disk_root=65534; fi

	as $who import -q --tag debian:min "$MINBASE"
	ok "$who: import the minbase as debian:min"
	log "$who: import: $(since "$t0") s"

	as $who run --rm debian:min cat /etc/os-release
	ok "$who: cat /etc/os-release"
	assert_true "$who: /etc/os-release says bookworm" grep -qx 'VERSION_CODENAME=bookworm' "$T/out"

	if [ $who = user ]; then
		as $who run --rm debian:min cat /proc/self/uid_map
		assert_eq "$who: the subordinate range is mapped" "0 65534 1 1 $BASE $COUNT" "$(out_words)"
	fi

	t1=$(date +%s.%N)
	as $who run --name deb -e DEBIAN_FRONTEND=noninteractive -v "$T/$PKG.deb:/tmp/$PKG.deb:ro" \
		debian:min dpkg -i "/tmp/$PKG.deb"
	ok "$who: dpkg -i $PKG"
	assert_true "$who: dpkg -i says 'Setting up $PKG'" grep -q "^Setting up $PKG " "$T/out"
	log "$who: dpkg -i: $(since "$t1") s"

	as $who run --name deb debian:min dpkg -s "$PKG"
	ok "$who: dpkg -s $PKG"
	assert_eq "$who: dpkg -s: installed, the version of the .deb" \
		"Status: install ok installed|Version: $VERSION" \
		"$(grep -E '^(Status|Version): ' "$T/out" | paste -sd '|')"

	as $who run --name deb debian:min sh -c "less --version | head -n 1; printf 'first\nsecond\n' | less"
	ok "$who: less runs"
	assert_eq "$who: less --version, and less as a filter" "less ${VERSION%%-*} first second" \
		"$(sed 's/ (.*//' "$T/out" | tr '\n' ' ' | sed 's/ $//')"

	as $who run --name deb debian:min sh -c 'dpkg --verify; dpkg --audit'
	ok "$who: dpkg --verify; dpkg --audit"
	assert_eq "$who: dpkg --verify (every package) and --audit print nothing" '' "$(cat "$T/out")"

	as $who run --name deb debian:min sh -c \
		"stat -c '%u:%g' /usr/bin/less /usr/bin/lesskey /usr/share/doc/$PKG/copyright; readlink /etc/alternatives/pager"
	ok "$who: stat the package's files"
	assert_eq "$who: the package's files are root's inside; the pager alternative is set" \
		'0:0 0:0 0:0 /usr/bin/less' "$(out_words)"
	assert_stat "$who: on disk, in the upper, usr/bin/less is the caller's" '%u:%g' \
		"$T/store-$who/strata/containers/deb/upper/usr/bin/less" "$disk_root:$disk_root"

	as $who run --rm -u _apt debian:min id
	ok "$who: -u _apt id"
	assert_eq "$who: -u _apt" 'uid=42(_apt) gid=65534(nogroup)' "$(cut -d' ' -f1-2 "$T/out")"
	as $who run --name deb -u nobody debian:min sh -c 'id; less --version | head -n 1 | cut -d" " -f1'
	ok "$who: -u nobody id"
	assert_eq "$who: -u nobody, and less runs as nobody" \
		'uid=65534(nobody) gid=65534(nogroup) less' "$(cut -d' ' -f1-2 "$T/out" | tr '\n' ' ' | sed 's/ $//')"
	as $who run --rm -u nobody debian:min cat /etc/shadow
	assert_eq "$who: nobody cannot read /etc/shadow: exit" 1 "$RC"
	assert_true "$who: nobody cannot read /etc/shadow: EACCES" grep -q 'Permission denied' "$T/err"
	as $who run --rm debian:min stat -c '%a %U:%G' /etc/shadow /var/mail
	ok "$who: stat /etc/shadow /var/mail"
	assert_eq "$who: the image's system groups show" '640 root:shadow 2775 root:mail' "$(out_words)"

	as $who ps
	assert_true "$who: ps lists deb as exited (0)" grep -Eq '^deb +debian:min +Exited \(0\)' "$T/out"
	as $who rm deb
	ok "$who: rm deb"
	log "$who: $(since "$t0") s"
done

subids_restore
for f in "${SUBID_FILES[@]}"; do
	b=$SAVED/${f##*/}
	if [ -e "$b" ]; then
		assert_true "$f restored" cmp -s "$b" "$f"
	else
		assert_false "$f removed (it did not exist)" test -e "$f"
	fi
done

log "run-debian: done in $(since "$t_start") s"
finish
