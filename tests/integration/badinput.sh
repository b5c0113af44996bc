#!/bin/bash
# badinput: structurally broken layers are refused (one stderr line naming
# the layer, exit 1, nothing mounted); entry-level problems are skipped with
# a warning and the mount goes on; bad mountpoints, missing /dev/fuse and
# usage errors give one clear line and the right exit code.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

M=$T/mnt
mkdir -p "$M"
MOUNTS+=("$M")

# refuse WHAT LAYER_FOR_PREFIX MOUNT_ARGS...: the mount fails with exit 1 and
# one line "strata: LAYER: ..." (or "strata: " when LAYER is empty).
refuse() {
	local what=$1 layer=$2
	shift 2
	run "$STRATA" mount --cache-dir "$CACHE" "$@" "$M"
	assert_one_error_line "$what" 1 "strata: ${layer:+$layer: }"
	assert_nothing_mounted_under "$what" "$M"
	force_unmount "$M"
}

# ---- a good layer, and broken ones cut from it ----
src=$T/src
mkdir -p "$src"
pattern 0 1000 1 >"$src/a"
pattern 0 100000 2 >"$src/b"
printf c >"$src/c"
# ustar layout: a@0 (data 512..1535), b@1536 (data 2048..102047), c@102400 (data 102912)
tar -C "$src" --format=ustar -cf "$T/good.tar" a b c
head -c $((1536 + 100)) "$T/good.tar" >"$T/cut-in-header.tar"
head -c 50000 "$T/good.tar" >"$T/cut-in-data.tar"
head -c 102912 "$T/good.tar" >"$T/cut-before-data.tar"
cp "$T/good.tar" "$T/bad-checksum.tar"
printf 'Z' | dd of="$T/bad-checksum.tar" bs=1 seek=1537 conv=notrunc status=none
for i in $(seq 1 100); do echo "hello world, this is not a tar archive"; done >"$T/text.layer"
pattern 0 10000 9 >"$T/random.layer"
gzip -c "$T/good.tar" >"$T/good.tar.gz"
cp "$T/good.tar.gz" "$T/corrupt.tar.gz"
gz_size=$(stat -c %s "$T/good.tar.gz")
printf '\x55\xaa\x55\xaa' | dd of="$T/corrupt.tar.gz" bs=1 seek=$((gz_size / 2)) conv=notrunc status=none
head -c $((gz_size / 2)) "$T/good.tar.gz" >"$T/cut.tar.gz"
# Good deflate data, wrong CRC32 in the trailer.
cp "$T/good.tar.gz" "$T/badcrc.tar.gz"
printf '\x00\x00\x00\x00' | dd of="$T/badcrc.tar.gz" bs=1 seek=$((gz_size - 8)) conv=notrunc status=none
# Compressed streams cut in half (the pattern data compresses very well).
zstd -q -c "$T/good.tar" >"$T/good.tar.zst"
xz -c "$T/good.tar" >"$T/good.tar.xz"
bzip2 -c "$T/good.tar" >"$T/good.tar.bz2"
for z in zst xz bz2; do
	head -c $(($(stat -c %s "$T/good.tar.$z") / 2)) "$T/good.tar.$z" >"$T/cut.tar.$z"
done
gzip -c "$T/text.layer" >"$T/text.layer.gz"

for l in cut-in-header.tar cut-in-data.tar cut-before-data.tar bad-checksum.tar text.layer \
	random.layer corrupt.tar.gz cut.tar.gz badcrc.tar.gz cut.tar.zst cut.tar.xz cut.tar.bz2 \
	text.layer.gz; do
	refuse "layer $l" "$T/$l" --layer "$T/$l"
	# With a good layer below it: still refused, and the bad one is named.
	refuse "layer $l over a good one" "$T/$l" --layer "$T/good.tar" --layer "$T/$l"
	run "$STRATA" index --cache-dir "$CACHE" "$T/$l"
	assert_one_error_line "strata index $l" 1 "strata: $T/$l: "
done

# The good layer itself mounts.
smount "$M" --layer "$T/good.tar"
assert_same_file 'good layer: b' "$src/b" "$M/b"
sumount "$M"

# ---- empty layers ----
: >"$T/zero-bytes.tar"
head -c 1024 /dev/zero >"$T/empty.tar"
gzip -c "$T/empty.tar" >"$T/empty.tar.gz"
head -c 10240 /dev/zero >"$T/empty-10k.tar"
# A 0-byte file is taken as an empty layer (libstrata's decision,
# fs/index_build.c); GNU tar would call it "not a tar archive".
for l in zero-bytes.tar empty.tar empty.tar.gz empty-10k.tar; do
	run "$STRATA" mount --cache-dir "$CACHE" --layer "$T/$l" "$M"
	MOUNTS+=("$M")
	assert_eq "$l: mount exit code (stderr: $ERR)" 0 "$RC"
	if is_mounted "$M"; then
		assert_eq "$l: an empty directory" '' "$(ls -A "$M")"
		assert_stat "$l: the root" '%F' "$M" directory
		sumount "$M"
	else
		fail "$l: not mounted"
	fi
done

# ---- entry-level problems: skipped with a warning ----
L=$T/entries.tar
mk "$L" <<'EOF'
dir ./ mode=0755
dir a
file ../../x content=escaped
file a/../../y content=escaped
file a/../b content=dotdot
file /abs/x content=abs
file ./dot content=dot
file ok content=ok
hardlink hl target=does/not/exist
file after content=after
EOF
mkdir -p "$M"
MOUNTS+=("$M")
run "$STRATA" mount --cache-dir "$CACHE" --layer "$L" "$M"
assert_eq 'entries: mount exit code' 0 "$RC"
cp "$T/err" "$T/entries.err" # sumount below runs strata again
if is_mounted "$M"; then
	assert_same_text 'entries: tree' "$(printf '%s\n' ./a ./abs ./abs/x ./after ./dot ./ok)" \
		"$(cd "$M" && find . -mindepth 1 | sort)"
	assert_content 'entries: /abs/x is served as abs/x' "$M/abs/x" abs
	assert_content 'entries: ./dot' "$M/dot" dot
	assert_content 'entries: the entry after the skipped ones' "$M/after" after
	sumount "$M"
else
	fail 'entries: not mounted'
fi
for name in ../../x a/../../y a/../b hl; do
	n=$(grep -cF "strata: $L: skipping '$name': " "$T/entries.err" || true)
	assert_eq "entries: one warning for '$name' ($(cat "$T/entries.err"))" 1 "$n"
done
assert_eq 'entries: warnings in all' 4 "$(grep -c "skipping" "$T/entries.err" || true)"
assert_eq 'entries: every stderr line starts with strata:' '' "$(grep -v '^strata: ' "$T/entries.err" || true)"
assert_false 'entries: nothing escaped the mount' test -e "$T/x"
assert_false 'entries: nothing escaped the mount (2)' test -e "$T/y"

# A symlink target readlink(2) could never return (4096 bytes or more) is
# skipped like any bad entry; and 300 bad entries make 100 warnings and a
# count, not 300 lines (10,000 nested directories had made 38 MB).
long=$(printf 'x%.0s' $(seq 5000))
L2=$T/many.tar
{
	printf 'symlink longlink target=%s\n' "$long"
	printf 'symlink shortlink target=ok\n'
	for i in $(seq 1 300); do printf 'file ../bad%s content=x\n' "$i"; done
	printf 'file ok content=ok\n'
} | mk "$L2"
run "$STRATA" mount --cache-dir "$CACHE" --layer "$L2" "$M"
assert_eq 'many: mount exit code' 0 "$RC"
cp "$T/err" "$T/many.err"
if is_mounted "$M"; then
	assert_same_text 'many: tree' "$(printf '%s\n' ./ok ./shortlink)" "$(cd "$M" && find . -mindepth 1 | sort)"
	sumount "$M"
else
	fail 'many: not mounted'
fi
assert_eq 'many: the long symlink is named' 1 "$(grep -c "skipping 'longlink': symlink target longer than 4095" "$T/many.err" || true)"
assert_eq 'many: 100 warnings name an entry' 100 "$(grep -c "skipping '" "$T/many.err" || true)"
assert_eq 'many: one line counts the rest' 1 "$(grep -c "skipped 201 more entries" "$T/many.err" || true)"
assert_eq 'many: 101 lines on stderr in all' 101 "$(wc -l <"$T/many.err")"

# ---- what a layer may claim ----
# A sparse map may declare up to 2^63-1 bytes in a few hundred bytes of
# tar: past 16 TiB (what ext4 holds) the file is skipped like any bad
# entry; 16 TiB itself is served.  (mklayer feeds libarchive every hole's
# zeros, so python's tarfile writes the pax 1.0 sparse headers.)
sparse_layer() {
	python3 - "$@" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    for spec in sys.argv[2:]:
        name, size = spec.split("=")
        body = b"1\n0\n10\n".ljust(512, b"\0") + b"0123456789"  # one run: 10 bytes at 0
        i = tarfile.TarInfo("GNUSparseFile.0/" + name)
        i.size = len(body)
        i.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                         "GNU.sparse.name": name, "GNU.sparse.realsize": size}
        t.addfile(i, io.BytesIO(body))
    i = tarfile.TarInfo("ok")
    i.size = 2
    t.addfile(i, io.BytesIO(b"ok"))
PY
}
sparse_layer "$T/claims.tar" huge=9223372036854775807 over=17592186044417 edge=17592186044416 ||
	die 'cannot write the sparse layer'
run "$STRATA" mount --cache-dir "$CACHE" --layer "$T/claims.tar" "$M"
assert_eq 'claims: mount exit code' 0 "$RC"
cp "$T/err" "$T/claims.err"
if is_mounted "$M"; then
	assert_same_text 'claims: tree' "$(printf '%s\n' ./edge ./ok)" "$(cd "$M" && find . -mindepth 1 | sort)"
	assert_stat 'claims: 16 TiB is served' '%s' "$M/edge" 17592186044416
	assert_eq 'claims: its data' 0123456789 "$(head -c 10 "$M/edge")"
	assert_eq 'claims: its end' 00000000 "$(tail -c 4 "$M/edge" | od -An -tx1 | tr -d ' \n')"
	sumount "$M"
else
	fail 'claims: not mounted'
fi
assert_eq 'claims: the 2^63-1 file is named' 1 \
	"$(grep -c "^strata: $T/claims.tar: skipping 'huge': a sparse file of 9223372036854775807 bytes (more than 16 TiB)\$" "$T/claims.err" || true)"
assert_eq 'claims: one byte over 16 TiB is skipped' 1 "$(grep -c "skipping 'over': a sparse file of 17592186044417 bytes" "$T/claims.err" || true)"
assert_eq 'claims: two warnings in all' 2 "$(wc -l <"$T/claims.err")"

# A small gzip of zeros: --max-layer-size stops the decompression with one
# line naming the layer and the option, and leaves nothing in the cache.
mkdir -p "$T/zeros"
head -c 8M /dev/zero >"$T/zeros/zeros"
tar -C "$T/zeros" --numeric-owner -czf "$T/bomb.tar.gz" zeros
BC=$T/bombcache
for cmd in mount index; do
	if [ "$cmd" = mount ]; then
		run "$STRATA" mount --cache-dir "$BC" --max-layer-size 1M --layer "$T/bomb.tar.gz" "$M"
	else
		run "$STRATA" index --cache-dir "$BC" --max-layer-size 1M "$T/bomb.tar.gz"
	fi
	assert_one_error_line "bomb: $cmd" 1
	assert_eq "bomb: $cmd: the message" \
		"strata: $T/bomb.tar.gz: decompresses to more than 1 MiB (the limit; raise it with --max-layer-size)" "$ERR"
	assert_eq "bomb: $cmd: nothing left in the cache" '' "$(ls -A "$BC" 2>/dev/null)"
	assert_nothing_mounted_under "bomb: $cmd" "$M"
done
run "$STRATA" mount --cache-dir "$BC" --max-layer-size nonsense --layer "$T/bomb.tar.gz" "$M"
assert_one_error_line 'bomb: --max-layer-size nonsense' 2
smount "$M" --cache-dir "$BC" --max-layer-size 8.5M --layer "$T/bomb.tar.gz"
assert_same_file 'bomb: served under a higher limit' "$T/zeros/zeros" "$M/zeros"
sumount "$M"

# ---- a full cache: ENOSPC, said as such, nothing left behind ----
# A zstd layer's uncompressed copy does not fit in a 256 KiB cache:
# by default the limit (90% of the cache's free space) stops it; past the
# limit, the error is the disk's, not a "truncated" layer.
FULL=$T/fullcache
mkdir -p "$FULL"
MOUNTS+=("$FULL")
mount -t tmpfs -o size=256k tmpfs "$FULL" || die 'cannot mount a tmpfs for the full-cache test'
printf 'file big size=2M seed=3\n' | mk "$T/big.tar.zst" -z zstd
run "$STRATA" mount --cache-dir "$FULL" --layer "$T/big.tar.zst" "$M"
assert_one_error_line 'full cache, default limit' 1
assert_true "full cache, default limit: 90% of 256 KiB ($ERR)" \
	grep -qx "strata: $T/big.tar.zst: decompresses to more than 230 KiB (the limit; raise it with --max-layer-size)" "$T/err"
assert_eq 'full cache, default limit: nothing left in it' '' "$(ls -A "$FULL")"
run "$STRATA" mount --cache-dir "$FULL" --max-layer-size 1G --layer "$T/big.tar.zst" "$M"
assert_one_error_line 'full cache' 1
assert_true 'full cache: says the cache is full' grep -q 'to the cache .*: No space left on device' "$T/err"
assert_false 'full cache: not called a truncated layer' grep -qi 'truncated' "$T/err"
assert_eq 'full cache: nothing left in it' '' "$(ls -A "$FULL")"
assert_nothing_mounted_under 'full cache' "$M"
umount "$FULL" || true

# ---- mountpoints ----
run "$STRATA" mount --cache-dir "$CACHE" --layer "$T/good.tar" "$T/does-not-exist"
assert_one_error_line 'missing mountpoint' 1
assert_nothing_mounted_under 'missing mountpoint' "$T/does-not-exist"
printf 'x' >"$T/a-file"
run "$STRATA" mount --cache-dir "$CACHE" --layer "$T/good.tar" "$T/a-file"
assert_one_error_line 'mountpoint is a file' 1
assert_nothing_mounted_under 'mountpoint is a file' "$T/a-file"

NE=$T/nonempty
mkdir -p "$NE"
printf 'mine\n' >"$NE/existing"
run "$STRATA" mount --cache-dir "$CACHE" --layer "$T/good.tar" "$NE"
assert_one_error_line 'non-empty mountpoint' 1
assert_nothing_mounted_under 'non-empty mountpoint' "$NE"
assert_content 'non-empty mountpoint: its file untouched' "$NE/existing" 'mine\n'
smount "$NE" -o nonempty --layer "$T/good.tar"
assert_eq 'non-empty mountpoint with -o nonempty: the layer shows' "$(printf '%s\n' a b c)" "$(ls "$NE")"
sumount "$NE"
assert_content 'non-empty mountpoint: its file is back' "$NE/existing" 'mine\n'

smount "$M" --layer "$T/good.tar"
run "$STRATA" mount --cache-dir "$CACHE" --layer "$T/good.tar" "$M"
assert_one_error_line 'already mounted' 1
run "$STRATA" mount --cache-dir "$CACHE" -o nonempty --layer "$T/good.tar" "$M"
assert_one_error_line 'already mounted, with -o nonempty' 1
assert_eq 'already mounted: mounted once only' 1 "$(awk -v m="$M" '$5 == m' /proc/self/mountinfo | wc -l)"
assert_content 'already mounted: the first mount still serves' "$M/c" c
sumount "$M"
assert_nothing_mounted_under 'after umount' "$M"

# ---- missing or unusable layer files ----
refuse 'missing layer file' "$T/nope.tar" --layer "$T/nope.tar"
# (a directory is a layer: lowerdir.sh)
refuse 'a layer path through a file' "$T/good.tar/x" --layer "$T/good.tar/x"
refuse 'a missing layer above a good one' "$T/nope.tar" --layer "$T/good.tar" --layer "$T/nope.tar"

# ---- no /dev/fuse ----
if unshare -m true 2>/dev/null; then
	# In a mount namespace of its own, /dev is a fresh tmpfs without fuse.
	set +e
	unshare -m --propagation private bash -c '
		mount -t tmpfs tmpfs /dev || exit 99
		mknod -m 666 /dev/null c 1 3
		timeout 30 "$1" mount --cache-dir "$2" --layer "$3" "$4" 2>"$5"
		rc=$?
		if grep -q " $4 " /proc/self/mountinfo; then exit 98; fi
		exit $rc' _ "$STRATA" "$CACHE" "$T/good.tar" "$M" "$T/err"
	RC=$?
	set -e
	ERR=$(cat "$T/err")
	if [ "$RC" = 99 ]; then
		log 'note: cannot mount a tmpfs on /dev in a namespace; skipping the /dev/fuse check'
	elif [ "$RC" = 98 ]; then
		fail 'no /dev/fuse: something got mounted'
	else
		assert_one_error_line 'no /dev/fuse' 1
	fi
	assert_nothing_mounted_under 'no /dev/fuse' "$M"
else
	log 'note: unshare -m does not work here; skipping the /dev/fuse check'
fi

# ---- usage errors: exit 2 ----
run "$STRATA" mount --cache-dir "$CACHE" "$M"
assert_one_error_line 'no --layer' 2
assert_nothing_mounted_under 'no --layer' "$M"
run "$STRATA" mount --cache-dir "$CACHE" --no-such-option --layer "$T/good.tar" "$M"
assert_one_error_line 'unknown option' 2
assert_nothing_mounted_under 'unknown option' "$M"
run "$STRATA" mount --cache-dir "$CACHE" --layer "$T/good.tar"
assert_one_error_line 'no mountpoint' 2
run "$STRATA" mount --cache-dir "$CACHE" --layer "$T/good.tar" "$M" "$T/extra"
assert_one_error_line 'two mountpoints' 2
assert_nothing_mounted_under 'two mountpoints' "$M"
run "$STRATA" mount --cache-dir "$CACHE" "$M" --layer
assert_one_error_line '--layer without its argument' 2
run "$STRATA" frobnicate
assert_eq 'unknown command: exit code' 2 "$RC"
assert_true 'unknown command: says strata:' grep -q '^strata: ' "$T/err"
run "$STRATA"
assert_eq 'no command: exit code' 2 "$RC"
run "$STRATA" index
assert_one_error_line 'strata index without a layer' 2
run "$STRATA" index --bogus "$T/good.tar"
assert_one_error_line 'strata index, unknown option' 2

# ---- umount of something that is not mounted ----
run "$STRATA" umount "$M"
assert_one_error_line 'umount of a plain dir' 1
run "$STRATA" umount "$T/does-not-exist"
assert_one_error_line 'umount of a missing dir' 1
run "$STRATA" umount
assert_one_error_line 'umount without a mountpoint' 2

assert_nothing_mounted_under 'at the end' "$T"
finish
