#!/bin/bash
# sparse: a 16 GiB sparse file with a few data blocks (pax, as libarchive
# writes it), a file just over 8 GiB, and sparse files as GNU tar writes
# them (gnu 'S' entries and pax 0.1/1.0).  Data blocks read back right,
# holes read as zeros, st_size is the apparent size, st_blocks is small.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

G=$((1 << 30))
size16=$((16 * G))
over8=$((8 * G + 1))
# Regions: 0:4096  1G+512:8192  8G-4096:65536 (across the 8 GiB mark)  16G-1M:1M (the end)
regions16="0:4096,$((G + 512)):8192,$((8 * G - 4096)):65536,$((size16 - (1 << 20))):1M"
mk "$T/sparse.tar" <<EOF
dir s
sparse s/big16 size=$size16 data=$regions16 seed=7 mode=0600 mtime=1600000000
sparse s/over8 size=$over8 data=$((8 * G - 100)):101 seed=3
sparse s/tailhole size=$((3 * G)) data=$((G)):4096 seed=1
file s/plain content=plain
EOF

# cold FILE: drops FILE's page cache, so that the next read goes to strata
# with the kernel's own (readahead) offsets and sizes.
cold() { dd if="$1" iflag=nocache count=0 status=none; }

# check_region WHAT FILE OFF LEN SEED: bytes [OFF, OFF+LEN) are the pattern.
check_region() {
	cold "$2"
	dd if="$2" iflag=skip_bytes,count_bytes skip="$3" count="$4" bs=1M status=none >"$T/got" ||
		fail "$1: dd at $3 failed"
	pattern "$3" "$4" "$5" >"$T/exp"
	assert_same_file "$1: data at $3+$4" "$T/exp" "$T/got"
}

# check_zeros WHAT FILE OFF LEN: bytes [OFF, OFF+LEN) are zeros.
check_zeros() {
	local n
	cold "$2"
	n=$(dd if="$2" iflag=skip_bytes,count_bytes skip="$3" count="$4" bs=1M status=none | tr -d '\0' | wc -c)
	assert_eq "$1: non-zero bytes in the hole at $3+$4" 0 "$n"
	n=$(dd if="$2" iflag=skip_bytes,count_bytes skip="$3" count="$4" bs=1M status=none | wc -c)
	assert_eq "$1: bytes read in the hole at $3+$4" "$4" "$n"
}

# check_blocks WHAT FILE DATA_BYTES N_REGIONS: st_blocks*512 covers the data
# and is not much more (4 KiB of rounding per region).
check_blocks() {
	local b
	b=$(stat -c '%b*%B' "$2")
	b=$((b))
	if [ "$b" -ge "$3" ] && [ "$b" -le $(($3 + 4096 * $4 + 4096)) ]; then
		pass
	else
		fail "$1: st_blocks*512 = $b, expected between $3 and $(($3 + 4096 * $4 + 4096))"
	fi
}

check_all() {
	local w=$1 f=$2/s/big16
	assert_stat "$w: big16" '%s|%a|%Y' "$f" "$size16|600|1600000000"
	check_blocks "$w: big16" "$f" $((4096 + 8192 + 65536 + (1 << 20))) 4
	check_region "$w: big16" "$f" 0 4096 7
	check_region "$w: big16" "$f" $((G + 512)) 8192 7
	check_region "$w: big16" "$f" $((8 * G - 4096)) 65536 7
	check_region "$w: big16" "$f" $((size16 - (1 << 20))) $((1 << 20)) 7
	check_zeros "$w: big16" "$f" 4096 $((1 << 20))
	check_zeros "$w: big16" "$f" $((G + 512 - 65536)) 65536
	check_zeros "$w: big16" "$f" $((G + 512 + 8192)) 100000
	check_zeros "$w: big16" "$f" $((12 * G)) $((1 << 20))
	check_zeros "$w: big16" "$f" $((size16 - (1 << 20) - 4096)) 4096
	# Reads that straddle a hole and data, at odd offsets.
	cold "$f"
	dd if="$f" iflag=skip_bytes,count_bytes skip=$((G + 412)) count=300 status=none >"$T/got"
	{ head -c 100 /dev/zero; pattern $((G + 512)) 200 7; } >"$T/exp"
	assert_same_file "$w: big16: hole then data" "$T/exp" "$T/got"
	cold "$f"
	dd if="$f" iflag=skip_bytes,count_bytes skip=$((G + 512 + 8192 - 10)) count=30 status=none >"$T/got"
	{ pattern $((G + 512 + 8192 - 10)) 10 7; head -c 20 /dev/zero; } >"$T/exp"
	assert_same_file "$w: big16: data then hole" "$T/exp" "$T/got"
	tail -c 1 "$f" >"$T/got"
	pattern $((size16 - 1)) 1 7 >"$T/exp"
	assert_same_file "$w: big16: the last byte" "$T/exp" "$T/got"
	assert_eq "$w: big16: read at EOF" 0 \
		"$(dd if="$f" iflag=skip_bytes skip="$size16" bs=4096 status=none | wc -c)"
	# (A short read reply makes the kernel shrink its idea of the size.)
	assert_stat "$w: big16: size after the reads" '%s' "$f" "$size16"

	f=$2/s/over8
	assert_stat "$w: over8" '%s' "$f" "$over8"
	check_blocks "$w: over8" "$f" 101 1
	check_region "$w: over8" "$f" $((8 * G - 100)) 101 3
	check_zeros "$w: over8" "$f" $((8 * G - 1000)) 900
	tail -c 1 "$f" >"$T/got"
	pattern $((8 * G)) 1 3 >"$T/exp"
	assert_same_file "$w: over8: the byte past 8 GiB" "$T/exp" "$T/got"

	f=$2/s/tailhole
	assert_stat "$w: tailhole" '%s' "$f" $((3 * G))
	check_region "$w: tailhole" "$f" "$G" 4096 1
	check_zeros "$w: tailhole" "$f" $((3 * G - 65536)) 65536
	assert_content "$w: a plain file after the sparse ones" "$2/s/plain" plain
}

M=$T/mnt
smount "$M" --layer "$T/sparse.tar"
check_all pax "$M"
sumount "$M"

# Compressed: the decompressed copy in the cache holds the data, not 16 GiB.
zstd -q -c "$T/sparse.tar" >"$T/sparse.tar.zst"
smount "$M" --layer "$T/sparse.tar.zst"
check_all pax.zst "$M"
cache_kb=$(du -sk "$CACHE" | cut -f1)
if [ "$cache_kb" -lt 65536 ]; then pass; else fail "cache dir uses ${cache_kb} KiB for a layer of 1.1 MiB of data"; fi
sumount "$M"

# Sparse files as GNU tar writes them, from a sparse file on disk.
src=$T/src
mkdir -p "$src"
truncate -s $((9 * G)) "$src/nine"
pattern "$G" 8192 5 | dd of="$src/nine" bs=8192 seek=$((G / 8192)) conv=notrunc status=none
pattern $((9 * G - 4096)) 4096 5 | dd of="$src/nine" bs=4096 seek=$((9 * G / 4096 - 1)) conv=notrunc status=none
for v in gnu posix-0.0 posix-0.1 posix-1.0; do
	case $v in
	gnu) opts=(--format=gnu) ;;
	*) opts=(--format=posix --sparse-version="${v#posix-}") ;;
	esac
	tar -C "$src" -S "${opts[@]}" -cf "$T/gnutar-$v.tar" nine
	tsize=$(stat -c %s "$T/gnutar-$v.tar")
	[ "$tsize" -lt $((1 << 20)) ] || die "GNU tar did not write nine as sparse ($tsize bytes)"
	smount "$M" --layer "$T/gnutar-$v.tar"
	f=$M/nine
	assert_stat "GNU tar $v: size" '%s' "$f" $((9 * G))
	check_blocks "GNU tar $v" "$f" $((8192 + 4096)) 2
	check_region "GNU tar $v" "$f" "$G" 8192 5
	check_region "GNU tar $v" "$f" $((9 * G - 4096)) 4096 5
	check_zeros "GNU tar $v" "$f" 0 65536
	check_zeros "GNU tar $v" "$f" $((5 * G)) 65536
	# Reads across a hole/data boundary, both ways.
	cold "$f"
	dd if="$f" iflag=skip_bytes,count_bytes skip=$((G - 4096)) count=65536 status=none >"$T/got"
	{ head -c 4096 /dev/zero; pattern "$G" 8192 5; head -c $((65536 - 4096 - 8192)) /dev/zero; } >"$T/exp"
	assert_same_file "GNU tar $v: hole, data, hole" "$T/exp" "$T/got"
	assert_stat "GNU tar $v: size after the reads" '%s' "$f" $((9 * G))
	sumount "$M"
done
finish
