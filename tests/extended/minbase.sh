# shellcheck shell=bash
# The extended suite's Debian minbase layer: debootstrap --variant=minbase
# of $SUITE, as a tar layer cached in $EXT.  The same file, stamp and
# recipe as dpkg.sh's, so either test makes it and both reuse it.  Source
# after ../integration/lib.sh, with EXT (the cache dir) and SUITE set; then
# call ensure_minbase, which sets MINBASE (debootstrap the first time: root
# and the network).  STRATA_DEBIAN_MIRROR overrides the mirror.

# since T0: seconds since T0 (a `date +%s.%N`), e.g. 12.3.
since() { awk -v s="$1" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }'; }

# minbase_clear_rootfs: removes a debootstrap target left by an earlier
# run, after unmounting what debootstrap mounted in it (/proc, /sys) if it
# was killed.
minbase_clear_rootfs() {
	local r=$EXT/rootfs
	[ -e "$r" ] || return 0
	awk -v r="$r" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while IFS= read -r m; do umount -l "$m" || true; done
	if awk -v r="$r" '$5 == r || index($5, r "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
		die "something is still mounted under $r: not removing it"
	fi
	rm -rf "$r"
}

# ensure_minbase: sets MINBASE to the cached layer, making it first if
# it is missing or was made by another recipe.
ensure_minbase() {
	local mirror stamp stamp_want t0
	# Where apt fetches from here (tools/apt-mirror.sh): no mirror is
	# written in the repo.
	mirror=$("$(dirname "${BASH_SOURCE[0]}")/../../tools/apt-mirror.sh" "$SUITE") ||
		die "no Debian mirror to debootstrap $SUITE from (see above)"
	MINBASE=$EXT/minbase-$SUITE.tar
	stamp=$MINBASE.stamp
	stamp_want="debootstrap --variant=minbase $SUITE $mirror; tar --xattrs --numeric-owner; v1"
	mkdir -p "$EXT"
	if [ -s "$MINBASE" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$stamp_want" ]; then
		log "minbase layer: cached $MINBASE"
		return 0
	fi
	command -v debootstrap >/dev/null || die 'debootstrap is not installed'
	log "minbase layer: debootstrap --variant=minbase $SUITE from $mirror (once; cached in $EXT)"
	t0=$(date +%s.%N)
	minbase_clear_rootfs
	rm -f "$MINBASE" "$stamp"
	if ! timeout 1200 debootstrap --variant=minbase "$SUITE" "$EXT/rootfs" "$mirror" >"$EXT/debootstrap.log" 2>&1; then
		tail -n 20 "$EXT/debootstrap.log" >&2
		minbase_clear_rootfs
		die "debootstrap --variant=minbase $SUITE $mirror failed (log above, in $EXT/debootstrap.log)"
	fi
	tar --xattrs --numeric-owner -C "$EXT/rootfs" -cf "$MINBASE.tmp" . || die 'tar of the minbase failed'
	mv -f "$MINBASE.tmp" "$MINBASE"
	minbase_clear_rootfs
	printf '%s\n' "$stamp_want" >"$stamp"
	log "minbase layer: made in $(since "$t0") s"
}

# ensure_deb PKG: sets DEB to a .deb of PKG: from apt's cache on this
# machine, else from ours, else apt-get download (into our cache).
ensure_deb() {
	local pkg=$1
	DEB=$(compgen -G "/var/cache/apt/archives/${pkg}_*.deb" | sort -V | tail -n 1 || true)
	if [ -z "$DEB" ]; then
		DEB=$(compgen -G "$EXT/debs/${pkg}_*.deb" | sort -V | tail -n 1 || true)
	fi
	if [ -z "$DEB" ]; then
		mkdir -p "$EXT/debs"
		chown _apt "$EXT/debs" 2>/dev/null || true
		(cd "$EXT/debs" && timeout 300 apt-get download -q "$pkg") >"$T/apt.log" 2>&1 ||
			die "apt-get download $pkg failed: $(tail -n 5 "$T/apt.log")"
		DEB=$(compgen -G "$EXT/debs/${pkg}_*.deb" | sort -V | tail -n 1 || true)
		[ -n "$DEB" ] || die "apt-get download $pkg left no .deb in $EXT/debs"
	fi
}
