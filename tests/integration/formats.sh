#!/bin/bash
# formats: one tree stored as plain tar, tar.gz, tar.zst, tar.xz, tar.bz2
# (GNU tar + the compressors, and libarchive's own filters), in the gnu,
# posix (pax) and ustar formats.  Every mount must show the same tree with
# the same contents as GNU tar extracts.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Whole-second mtimes: the gnu and ustar formats have no sub-second times.
spec=$(cat <<'EOF'
dir etc mode=0755 mtime=1600000000
file etc/hello content=hello\n uid=1000 gid=100 mtime=1600000001
file etc/empty mode=0600 mtime=1600000002
file etc/data size=700000 seed=11 mode=0640 mtime=1600000003
file etc/exec content=#!/bin/sh\necho\n mode=0755 mtime=1600000004
symlink etc/link target=hello mtime=1600000005
symlink etc/far target=../usr/share/doc/x/y/z
hardlink etc/hello.hard target=etc/hello
dir usr mode=0755 mtime=1600000006
dir usr/share mode=0755 mtime=1600000007
dir usr/share/doc mode=0755 mtime=1600000008
dir usr/share/doc/pkg mode=0700 uid=3 gid=4 mtime=1600000009
file usr/share/doc/pkg/README size=4096 seed=1 mtime=1600000010
file usr/share/doc/pkg/big size=5000000 seed=2 mtime=1600000011
file usr/share/doc/pkg/odd size=513 seed=3 mtime=1600000012
fifo run mode=0644 mtime=1600000013
char null dev=1:3 mode=0666 mtime=1600000014
block disk dev=8:0 mode=0660 gid=6 mtime=1600000015
dir var mode=0755 mtime=1600000016
dir var/empty mode=0755 mtime=1600000017
EOF
)
mk "$T/src.tar" <<<"$spec"
mkdir "$T/src"
tar -xpf "$T/src.tar" -C "$T/src" --numeric-owner || die "GNU tar cannot extract the source tree"
ref=$(tree_listing "$T/src")
ref_sums=$(content_sums "$T/src")
[ -n "$ref_sums" ] || die 'no reference contents'

# Layers made by GNU tar from the extracted tree ("./" names, as docker does).
gtar() { tar -C "$T/src" --numeric-owner --sort=name "$@" .; }
gtar --format=gnu -cf "$T/gnu.tar"
gtar --format=posix -cf "$T/posix.tar"
gtar --format=ustar -cf "$T/ustar.tar"
gzip -9 -c "$T/gnu.tar" >"$T/gnu.tar.gz"
zstd -q -19 -c "$T/gnu.tar" >"$T/gnu.tar.zst"
xz -c "$T/gnu.tar" >"$T/gnu.tar.xz"
bzip2 -c "$T/gnu.tar" >"$T/gnu.tar.bz2"
gzip -c "$T/posix.tar" >"$T/posix.tar.gz"
gtar --format=posix --zstd -cf "$T/posix-gnutar.tar.zst"
gtar --format=gnu -czf "$T/gnu-gnutar.tar.gz"
# A multi-member gzip (concatenated streams) is a valid gzip file too.
head -c 10240 "$T/gnu.tar" | gzip -c >"$T/multi.tar.gz"
tail -c +10241 "$T/gnu.tar" | gzip -c >>"$T/multi.tar.gz"
# Layers made by libarchive (mklayer), with its own compression filters.
for f in gzip zstd xz bzip2; do
	mk "$T/mk-pax.tar.$f" -f pax -z "$f" <<<"$spec"
done
mk "$T/mk-ustar.tar" -f ustar <<<"$spec"
mk "$T/mk-gnu.tar.gz" -f gnu -z gzip <<<"$spec"
# A layer named without any hint of its compression: detection is by content.
cp "$T/gnu.tar.zst" "$T/no-suffix.layer"
cp "$T/gnu.tar" "$T/plain.tar.gz"

layers=(src.tar gnu.tar posix.tar ustar.tar gnu.tar.gz gnu.tar.zst gnu.tar.xz gnu.tar.bz2
	posix.tar.gz posix-gnutar.tar.zst gnu-gnutar.tar.gz multi.tar.gz
	mk-pax.tar.gzip mk-pax.tar.zstd mk-pax.tar.xz mk-pax.tar.bzip2 mk-ustar.tar mk-gnu.tar.gz
	no-suffix.layer plain.tar.gz)

i=0
for l in "${layers[@]}"; do
	i=$((i + 1))
	m=$T/m$i
	smount "$m" --layer "$T/$l"
	got=$(tree_listing "$m")
	assert_same_text "$l: tree (type path mode uid gid size mtime nlink target)" "$ref" "$got"
	got_sums=$(content_sums "$m")
	assert_same_text "$l: contents" "$ref_sums" "$got_sums"
	assert_eq "$l: readlink" hello "$(readlink "$m/etc/link")"
	assert_stat "$l: hard link count" '%h' "$m/etc/hello" 2
	assert_eq "$l: hard link shares the inode" "$(stat -c %i "$m/etc/hello")" "$(stat -c %i "$m/etc/hello.hard")"
	sumount "$m"
done

# All the layers at once, each in its own mount, read concurrently.
pids=()
i=0
for l in gnu.tar.gz gnu.tar.zst gnu.tar.xz gnu.tar.bz2; do
	i=$((i + 1))
	smount "$T/c$i" --layer "$T/$l"
done
for i in 1 2 3 4; do
	content_sums "$T/c$i" >"$T/c$i.sums" &
	pids+=($!)
done
for i in 1 2 3 4; do
	wait "${pids[$((i - 1))]}" || fail "concurrent read of c$i failed"
	assert_same_text "concurrent mount c$i: contents" "$ref_sums" "$(cat "$T/c$i.sums")"
	sumount "$T/c$i"
done

# Compressed layers are decompressed into the cache dir; nothing is left
# half-written there.
assert_eq 'no temp files left in the cache' '' "$(find "$CACHE" -name '*.tmp*')"
finish
