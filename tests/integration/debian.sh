#!/bin/bash
# debian: real data.  The file system trees of a few Debian packages
# (dpkg-deb --fsys-tarfile), stacked as plain, gzip and zstd layers plus a
# layer of whiteouts, are compared file by file with the same tars extracted
# in order by GNU tar; then a static busybox from the image runs in a chroot.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v dpkg-deb >/dev/null || skip 'no dpkg-deb'

# Packages to use, busybox-static first (it has to be there for the chroot).
PKGS=(busybox-static attr coreutils)
DEBS=()
mkdir -p "$T/debs"
find_deb() {
	local f
	for f in /var/cache/apt/archives/"$1"_*.deb "$T/debs/$1"_*.deb; do
		[ -f "$f" ] && { printf '%s\n' "$f"; return 0; }
	done
	return 1
}
missing=()
for p in "${PKGS[@]}"; do
	find_deb "$p" >/dev/null || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	log "apt-get download ${missing[*]}"
	(cd "$T/debs" && timeout 90 apt-get download "${missing[@]}" >/dev/null 2>&1) || true
fi
for p in "${PKGS[@]}"; do
	deb=$(find_deb "$p") && DEBS+=("$deb")
done
[ "${#DEBS[@]}" -ge 2 ] || skip "fewer than 2 of ${PKGS[*]} could be had as .deb files"
log "packages: ${DEBS[*]}"

# Layers: the first plain, the second gzip, the third zstd.
LAYERS=()
i=0
for deb in "${DEBS[@]}"; do
	i=$((i + 1))
	dpkg-deb --fsys-tarfile "$deb" >"$T/p$i.tar" || die "dpkg-deb --fsys-tarfile $deb failed"
	case $i in
	1) LAYERS+=("$T/p$i.tar") ;;
	2) gzip -c "$T/p$i.tar" >"$T/p$i.tar.gz" && LAYERS+=("$T/p$i.tar.gz") ;;
	*) zstd -q -c "$T/p$i.tar" >"$T/p$i.tar.zst" && LAYERS+=("$T/p$i.tar.zst") ;;
	esac
done

# A top layer that deletes the docs of the second package, makes /usr/share/doc
# opaque in a sub-dir of its own, and adds a file.
doc2=$(tar -tf "$T/p2.tar" | sed -n 's|^\./usr/share/doc/\([^/]*\)/$|\1|p' | head -n 1)
[ -n "$doc2" ] || die "no usr/share/doc/<pkg>/ in ${DEBS[1]}"
mk "$T/top.tar" <<EOF
dir ./usr/share/doc mode=0755 mtime=1700000000
whiteout ./usr/share/doc/$doc2
dir ./etc mode=0755 mtime=1700000000
file ./etc/strata-test content=layered\n mode=0644 mtime=1700000000
EOF
LAYERS+=("$T/top.tar")

# The reference: GNU tar extracts the layers in order; whiteouts are applied
# by hand (GNU tar knows nothing of them).  dpkg-deb puts symlinks last: a
# directory's times are set at the end, or the symlink would move them.
REF=$T/ref
mkdir "$REF"
for i in $(seq 1 "${#DEBS[@]}"); do
	tar -C "$REF" --numeric-owner --delay-directory-restore -xpf "$T/p$i.tar" || die "GNU tar cannot extract p$i.tar"
done
tar -C "$REF" --numeric-owner --delay-directory-restore -xpf "$T/top.tar"
rm -rf "${REF:?}/usr/share/doc/$doc2" "$REF/usr/share/doc/.wh.$doc2"
# Extracting a file into usr/share/doc moved its mtime: set it back as in the layer.
touch -d @1700000000 "$REF/usr/share/doc" "$REF/etc"

M=$T/mnt
layer_args "${LAYERS[@]}"
smount "$M" "${LAYER_ARGS[@]}"

assert_same_text 'tree (type path mode uid gid size mtime nlink target)' \
	"$(tree_listing "$REF")" "$(tree_listing "$M")"
# Every regular file, byte for byte.
n=0
bad=0
while IFS= read -r -d '' f; do
	n=$((n + 1))
	if ! cmp -s "$REF/$f" "$M/$f"; then
		bad=$((bad + 1))
		[ "$bad" -gt 10 ] || fail "content of $f differs"
	fi
done < <(cd "$REF" && find . -type f -print0)
assert_eq 'files that differ' 0 "$bad"
log "compared $n regular files"
[ "$n" -gt 20 ] || fail "only $n files compared: the packages are too small to mean much"
assert_false "docs of $doc2 are whited out" test -e "$M/usr/share/doc/$doc2"
assert_content 'the top layer file' "$M/etc/strata-test" 'layered\n'
assert_stat 'a merged dir (usr/share/doc) reports st_nlink 1' '%h' "$M/usr/share/doc" 1

# Run something from the image.
busybox=$(cd "$M" && find . -path '*/bin/busybox' -type f | head -n 1)
if [ -n "$busybox" ]; then
	busybox=${busybox#.}
	assert_eq 'chroot busybox echo' ok "$(chroot "$M" "$busybox" echo ok 2>&1)"
	assert_eq 'chroot busybox cat' layered "$(chroot "$M" "$busybox" cat /etc/strata-test 2>&1)"
	assert_eq 'chroot busybox sha256sum of itself' \
		"$(sha256sum <"$REF$busybox" | cut -d' ' -f1)" \
		"$(chroot "$M" "$busybox" sha256sum "$busybox" 2>&1 | cut -d' ' -f1)"
	assert_eq 'chroot busybox ls' "$(ls "$REF/usr/share/doc")" \
		"$(chroot "$M" "$busybox" ls /usr/share/doc 2>&1)"
	assert_fails_with 'chroot busybox touch' 'Read-only file system' \
		chroot "$M" "$busybox" touch /etc/new
elif [[ ${DEBS[0]} == */busybox-static_* ]]; then
	fail 'no bin/busybox in the image'
else
	log 'note: no busybox-static package: the chroot checks did not run'
fi
sumount "$M"

# The second mount uses the cached indexes and gives the same tree.
smount "$M" "${LAYER_ARGS[@]}"
assert_same_text 'second mount: tree' "$(tree_listing "$REF")" "$(tree_listing "$M")"
sumount "$M"
finish
