#!/bin/bash
# dpkg: a real package manager in a chroot on the mount.  A Debian bookworm
# minbase (debootstrap, cached as a tar layer in the build dir) is mounted
# with an empty --upper, and `dpkg -i` installs a .deb with maintainer
# scripts (less: update-alternatives in preinst/postinst/prerm):
#
# - through the mount: dpkg -s says installed, the binary runs, the
#   postinst's alternative is there, dpkg --verify and --audit are clean;
# - in the upper after umount: every file of the package with the md5sum
#   the package gives, var/lib/dpkg/status with the package (the lower
#   one without), the alternative's symlinks; the same after a remount;
# - the upper as an OCI layer (tar of the changeset) on top of minbase,
#   with a new empty upper: installed, verified (and dpkg --verify sees a
#   changed file), then `dpkg -r`: files gone, OCI whiteouts (.wh.NAME)
#   in the upper for them, status and alternatives updated, the same after
#   a remount; then `dpkg -i` again over the whiteouts;
# - `dpkg -r` in the first upper (the package only there): files gone, no
#   whiteouts.
#
# Needs root, /dev/fuse, debootstrap and the network the first time (the
# mirror is the one in /etc/apt/sources.list*).  Environment: EXTENDED_CACHE
# (set by meson: the cache dir), STRATA_EXTENDED_CACHE overrides it;
# STRATA_DEBIAN_MIRROR overrides the mirror.
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

: "${EXTENDED_CACHE:?EXTENDED_CACHE must name the cache dir (meson sets it)}"
EXT=${STRATA_EXTENDED_CACHE:-$EXTENDED_CACHE}
PKG=less
SUITE=bookworm
SCRATCH=.wh..wh..strata
CHROOT_TIMEOUT=300
t_start=$(date +%s.%N)

[ "$(id -u)" = 0 ] || skip 'needs root'
for c in debootstrap dpkg-deb chroot md5sum; do
	command -v "$c" >/dev/null || die "$c is not installed"
done
mkdir -p "$EXT"

# ---- the minbase layer, cached (shared with run-debian.sh) ----

# shellcheck source=minbase.sh
. "$(dirname "${BASH_SOURCE[0]}")/minbase.sh"
ensure_minbase

# ---- the package ----

ensure_deb "$PKG"
VERSION=$(dpkg-deb -f "$DEB" Version)
log "package: $DEB ($PKG $VERSION)"
# What the package holds: its files (no directories), its md5sums, and
# whether it has the maintainer scripts this test is about.
dpkg-deb --fsys-tarfile "$DEB" | tar -tvf - >"$T/pkg.list"
awk '$1 !~ /^d/ { sub(/^\.\//, "", $6); print $6 }' "$T/pkg.list" | sort >"$T/pkg.files"
awk '$1 ~ /^-/ { sub(/^\.\//, "", $6); print $6 }' "$T/pkg.list" | sort >"$T/pkg.regular"
dpkg-deb --ctrl-tarfile "$DEB" | tar -xOf - ./md5sums >"$T/pkg.md5sums"
dpkg-deb --ctrl-tarfile "$DEB" | tar -tf - >"$T/pkg.control"
for s in preinst postinst prerm; do
	grep -qx "./$s" "$T/pkg.control" || die "$PKG has no $s script (the test wants one)"
done
[ -s "$T/pkg.md5sums" ] || die "$PKG has no md5sums"
grep -qx usr/bin/less "$T/pkg.regular" || die "$PKG has no usr/bin/less"
# Files and directories that only this package has (gone after dpkg -r).
doc_dir=usr/share/doc/$PKG

# ---- helpers ----

M=$T/mnt

# in_chroot CMD...: runs CMD in the chroot at $M with a clean environment;
# stdout in $T/c.out, stderr in $T/c.err, exit status in RC.
in_chroot() {
	set +e
	timeout -k 5 "$CHROOT_TIMEOUT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		LC_ALL=C DEBIAN_FRONTEND=noninteractive chroot "$M" "$@" >"$T/c.out" 2>"$T/c.err"
	RC=$?
	set -e
}

# chroot_ok WHAT CMD...: in_chroot, which must exit 0.
chroot_ok() {
	local what=$1
	shift
	in_chroot "$@"
	if [ "$RC" = 0 ]; then pass; else
		fail "$what: chroot $M $* exited $RC: $(tail -c 800 "$T/c.err") $(tail -c 400 "$T/c.out")"
	fi
}

# chroot_mounts MNT: /dev (bind) and /proc in the chroot, unmounted first
# at exit (before MNT).
chroot_mounts() {
	mount --bind /dev "$1/dev" || die "cannot bind /dev into $1"
	MOUNTS=("$1/dev" "${MOUNTS[@]}")
	mount -t proc proc "$1/proc" || die "cannot mount /proc in $1"
	MOUNTS=("$1/proc" "${MOUNTS[@]}")
}

chroot_umounts() {
	umount "$1/proc" || fail "umount $1/proc failed"
	umount "$1/dev" || fail "umount $1/dev failed"
}

# mount_image UPPER LAYER...: the layers (lowest first) at $M with UPPER,
# /dev and /proc inside.
mount_image() {
	local up=$1
	shift
	layer_args "$@"
	smount "$M" --upper "$up" "${LAYER_ARGS[@]}"
	chroot_mounts "$M"
}

umount_image() {
	chroot_umounts "$M"
	sumount "$M"
}

# status_of: dpkg's Status field of the package in the chroot ("" when
# dpkg knows nothing of it).
status_of() {
	in_chroot dpkg-query -W -f '${Status}' "$PKG"
	cat "$T/c.out"
}

# not_dirs: the paths on stdin that are not directories in the mount.
not_dirs() {
	local p
	while IFS= read -r p; do
		if [ -L "$M$p" ] || [ ! -d "$M$p" ]; then printf '%s\n' "$p"; fi
	done
}

# check_installed WHAT: through the mount, the package is installed and
# works.
check_installed() {
	local what=$1
	assert_eq "$what: dpkg-query Status" 'install ok installed' "$(status_of)"
	in_chroot dpkg-query -W -f '${Version}' "$PKG"
	assert_eq "$what: the installed version" "$VERSION" "$(cat "$T/c.out")"
	chroot_ok "$what: less --version" less --version
	case "$(head -n 1 "$T/c.out")" in
	"less "[0-9]*) pass ;;
	*) fail "$what: less --version printed: $(head -c 200 "$T/c.out")" ;;
	esac
	# Not on a terminal, less copies its input.
	printf 'first\nsecond\n' >"$M/tmp/in.txt"
	chroot_ok "$what: less as a filter" less /tmp/in.txt
	assert_eq "$what: less printed the file" "$(printf 'first\nsecond')" "$(cat "$T/c.out")"
	rm -f "$M/tmp/in.txt"
	assert_eq "$what: the pager alternative (postinst)" /usr/bin/less "$(readlink "$M/etc/alternatives/pager")"
	assert_eq "$what: /usr/bin/pager" /etc/alternatives/pager "$(readlink "$M/usr/bin/pager")"
	chroot_ok "$what: dpkg --verify $PKG" dpkg --verify "$PKG"
	assert_eq "$what: dpkg --verify $PKG prints nothing" '' "$(cat "$T/c.out")"
	chroot_ok "$what: dpkg --audit" dpkg --audit
	assert_eq "$what: dpkg --audit prints nothing" '' "$(cat "$T/c.out")"
	in_chroot dpkg -L "$PKG"
	assert_same_text "$what: dpkg -L lists the package's files (but directories)" \
		"$(sed 's|^|/|' "$T/pkg.files")" "$(sort "$T/c.out" | not_dirs)"
}

# not_installed STATUS: dpkg's Status of a package it does not have.
not_installed() {
	case "$1" in
	'' | *' not-installed') return 0 ;;
	*) return 1 ;;
	esac
}

# check_removed WHAT: through the mount, the package is gone.
check_removed() {
	local what=$1 f left='' st
	st=$(status_of)
	if not_installed "$st"; then pass; else
		fail "$what: dpkg-query Status: '$st', expected not-installed"
	fi
	while IFS= read -r f; do
		if [ -e "$M/$f" ] || [ -L "$M/$f" ]; then left+=" $f"; fi
	done <"$T/pkg.files"
	assert_eq "$what: files of the package left" '' "$left"
	assert_false "$what: $doc_dir is gone" test -e "$M/$doc_dir"
	assert_eq "$what: the pager alternative is back to what minbase had" "$pager_before" \
		"$(readlink "$M/etc/alternatives/pager" || echo none)"
	chroot_ok "$what: dpkg --audit" dpkg --audit
	assert_eq "$what: dpkg --audit prints nothing" '' "$(cat "$T/c.out")"
	assert_false "$what: less does not run" test -x "$M/usr/bin/less"
}

# check_upper_has_package WHAT UPPER: every file of the package in UPPER,
# with the package's md5sums; status and alternatives there too.
check_upper_has_package() {
	local what=$1 up=$2
	if (cd "$up" && md5sum --quiet -c "$T/pkg.md5sums") >"$T/md5.out" 2>&1; then pass; else
		fail "$what: md5sums of the package's files in the upper: $(head -c 600 "$T/md5.out")"
	fi
	assert_true "$what: usr/bin/lessfile, a symlink, is in the upper" test -L "$up/usr/bin/lessfile"
	assert_true "$what: the upper has var/lib/dpkg/info/$PKG.list" test -s "$up/var/lib/dpkg/info/$PKG.list"
	assert_eq "$what: var/lib/dpkg/status in the upper has the package installed" \
		"$(printf '%s\n' "Package: $PKG" 'Status: install ok installed' "Version: $VERSION")" \
		"$(status_stanza "$up/var/lib/dpkg/status")"
	assert_eq "$what: the alternative's symlink in the upper" /usr/bin/less "$(readlink "$up/etc/alternatives/pager")"
}

# status_stanza FILE: Package, Status and Version of the package in a
# dpkg status file.
status_stanza() {
	awk -v p="$PKG" '
		/^Package: / { cur = ($2 == p) }
		cur && /^(Package|Status|Version): / { print }
		/^$/ { cur = 0 }' "$1"
}

# whiteouts UPPER: the .wh. names in UPPER (but strata's scratch dir).
whiteouts() {
	(cd "$1" && find . -path "./$SCRATCH" -prune -o -name '.wh.*' -printf '%P\n') | sort
}

no_scratch_left() {
	assert_eq "$1: nothing left in strata's scratch dir" '' \
		"$(find "$2/$SCRATCH" -mindepth 1 ! -type d 2>/dev/null)"
}

# ---- 1: dpkg -i into an empty upper over minbase ----

tar -xOf "$MINBASE" ./var/lib/dpkg/status >"$T/minbase.status" || die 'minbase has no var/lib/dpkg/status'
assert_eq "minbase does not have $PKG" '' "$(status_stanza "$T/minbase.status")"

U1=$T/upper1
mkdir "$U1"
t0=$(date +%s.%N)
mount_image "$U1" "$MINBASE"
log "mounted minbase in $(since "$t0") s (indexing included)"
st=$(status_of)
if not_installed "$st"; then pass; else
	fail "before dpkg -i: dpkg-query Status of $PKG: '$st', expected not-installed"
fi
pager_before=$(readlink "$M/etc/alternatives/pager" || echo none)
log "pager alternative before: $pager_before"
cp "$DEB" "$M/tmp/$PKG.deb"
t0=$(date +%s.%N)
chroot_ok "dpkg -i $PKG" dpkg -i "/tmp/$PKG.deb"
log "dpkg -i: $(since "$t0") s"
grep -q "Setting up $PKG " "$T/c.out" || fail "dpkg -i did not say 'Setting up $PKG': $(head -c 500 "$T/c.out")"
rm -f "$M/tmp/$PKG.deb"
check_installed 'after dpkg -i'
umount_image
no_scratch_left 'after dpkg -i' "$U1"
check_upper_has_package 'after dpkg -i, in the upper' "$U1"
assert_false 'the upper does not hold the copied .deb (deleted)' test -e "$U1/tmp/$PKG.deb"
log "whiteouts left by dpkg -i: $(whiteouts "$U1" | tr '\n' ' ')"

# The changeset as an OCI layer, for part 2 (strata's own xattrs left out).
tar --numeric-owner --xattrs --xattrs-exclude='user.strata.*' --exclude="./$SCRATCH" \
	-C "$U1" -cf "$T/installed.tar" . || die 'tar of the upper failed'

mount_image "$U1" "$MINBASE"
check_installed 'after remount'

# dpkg -r where the package is in the upper only: its files go, and leave
# no whiteouts (nothing of them is in a lower layer).
whiteouts_before=$(whiteouts "$U1")
chroot_ok "dpkg -r $PKG (package in the upper only)" dpkg -r "$PKG"
check_removed 'after dpkg -r (upper only)'
umount_image
no_scratch_left 'after dpkg -r (upper only)' "$U1"
assert_false 'after dpkg -r (upper only): usr/bin/less is gone from the upper' test -e "$U1/usr/bin/less"
assert_eq 'after dpkg -r (upper only): no whiteout for the package files' '' \
	"$(comm -13 <(printf '%s\n' "$whiteouts_before") <(whiteouts "$U1") | grep -E "(^|/)\.wh\.(less|$PKG)" || true)"
assert_eq 'after dpkg -r (upper only): status in the upper' '' "$(status_stanza "$U1/var/lib/dpkg/status")"

# ---- 2: the install as a layer; dpkg -r leaves whiteouts ----

U2=$T/upper2
mkdir "$U2"
mount_image "$U2" "$MINBASE" "$T/installed.tar"
check_installed 'minbase + installed layer'
assert_false 'minbase + installed layer: running and verifying copied nothing of usr/ up' test -e "$U2/usr"
# dpkg --verify reads what it verifies: a changed file shows.
printf 'changed\n' >>"$M/$doc_dir/README.Debian"
in_chroot dpkg --verify "$PKG"
assert_eq 'dpkg --verify sees the changed file (and only it)' "??5?????? /$doc_dir/README.Debian" \
	"$(awk '{ print $1, $NF }' "$T/c.out")"
chroot_ok "dpkg -r $PKG (package in a lower layer)" dpkg -r "$PKG"
check_removed 'after dpkg -r (lower)'
umount_image
no_scratch_left 'after dpkg -r (lower)' "$U2"
for f in usr/bin/.wh.less usr/bin/.wh.lesspipe usr/bin/.wh.lessfile usr/share/man/man1/.wh.less.1.gz; do
	assert_stat "after dpkg -r (lower): whiteout $f in the upper" '%F|%s' "$U2/$f" 'regular empty file|0'
done
assert_stat "after dpkg -r (lower): the removed $doc_dir is whited out" '%F' \
	"$U2/$(dirname "$doc_dir")/.wh.$PKG" 'regular empty file'
assert_false "after dpkg -r (lower): nothing of $doc_dir in the upper" test -e "$U2/$doc_dir"
assert_eq 'after dpkg -r (lower): status in the upper' '' "$(status_stanza "$U2/var/lib/dpkg/status")"
# whited_out UPPER PATH: PATH or one of its parents has a whiteout in UPPER.
whited_out() {
	local p=$2
	while [ "$p" != . ]; do
		[ ! -f "$1/$(dirname "$p")/.wh.$(basename "$p")" ] || return 0
		p=$(dirname "$p")
	done
	return 1
}
assert_eq 'after dpkg -r (lower): files of the package not whited out in the upper' '' \
	"$(while IFS= read -r f; do whited_out "$U2" "$f" || printf '%s ' "$f"; done <"$T/pkg.files")"

mount_image "$U2" "$MINBASE" "$T/installed.tar"
check_removed 'after dpkg -r (lower), remount'
# And installed again, over the whiteouts.
cp "$DEB" "$M/tmp/$PKG.deb"
chroot_ok "dpkg -i $PKG again, over whiteouts" dpkg -i "/tmp/$PKG.deb"
rm -f "$M/tmp/$PKG.deb"
check_installed 'installed again over whiteouts'
umount_image
no_scratch_left 'installed again' "$U2"
assert_false 'installed again: the whiteout of usr/bin/less is gone' test -e "$U2/usr/bin/.wh.less"
check_upper_has_package 'installed again, in the upper' "$U2"
mount_image "$U2" "$MINBASE" "$T/installed.tar"
check_installed 'installed again, remount'
umount_image

log "dpkg: done in $(since "$t_start") s"
finish
