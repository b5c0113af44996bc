#!/bin/bash
# seekable: a gzip layer is served in place (issue 15): no decompressed copy
# in the cache, reads at random offsets and lengths give the plain tar's
# bytes through the kernel (one member and several), copy-up through an
# upper copies the right bytes, and a blob damaged under its index reads as
# EIO, never as other bytes.  So are a zstd layer of several frames (with a
# skippable frame, as zstd:chunked has) and an xz layer of several blocks
# (xz -T2); one zstd frame and one xz block keep the copy, seekable: no.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mk "$T/base.tar" <<'EOF2'
dir d mode=0755
file d/random1 size=6000000 seed=5
file d/random2 size=3000000 seed=6
file small size=5 seed=7
EOF2
mkdir "$T/src"
tar -xpf "$T/base.tar" -C "$T/src" --numeric-owner || die 'GNU tar cannot extract the source tree'
# Long compressible runs: spans that are short in the blob.
for ((i = 0; i < 7000; i++)); do
	printf 'strata layers, served in place: line %s of the text file\n' "$((i % 97))"
done >"$T/src/d/text.unit"
for ((i = 0; i < 40; i++)); do cat "$T/src/d/text.unit"; done >"$T/src/d/text"
rm "$T/src/d/text.unit"
tar -C "$T/src" --numeric-owner --sort=name -cf "$T/plain.tar" .
gzip -6 -c "$T/plain.tar" >"$T/one.tar.gz"
# part OFF LEN: bytes of the plain tar.
part() { dd if="$T/plain.tar" bs=1M iflag=skip_bytes,count_bytes skip="$1" count="$2" status=none; }
part 0 4000000 | gzip -1 -c >"$T/multi.tar.gz"
part 4000000 5000000 | gzip -9 -c >>"$T/multi.tar.gz"
part 9000000 100000000 | gzip -c >>"$T/multi.tar.gz"
# zstd frames of 700 kB, then a skippable frame (magic 0x184D2A50, 4 bytes).
for ((off = 0; off < $(stat -c %s "$T/plain.tar"); off += 700000)); do
	part "$off" 700000 | zstd -q -c
done >"$T/frames.tar.zst"
printf '\x50\x2a\x4d\x18\x04\x00\x00\x00toc!' >>"$T/frames.tar.zst"
xz -T2 --block-size=1MiB -c "$T/plain.tar" >"$T/blocks.tar.xz"
zstd -q -c "$T/plain.tar" >"$T/single.tar.zst"
xz -T1 -c "$T/plain.tar" >"$T/single.tar.xz"
# shellcheck disable=SC2034 # read by name below
declare -A blob=([one]=one.tar.gz [multi]=multi.tar.gz [frames]=frames.tar.zst
	[blocks]=blocks.tar.xz)

# What strata index says, and what it leaves in the cache.
for l in frames blocks single; do
	for f in "$T/$l".tar.*; do
		name=$(basename "$f")
		run "$STRATA" index --cache-dir "$T/cache-$name" "$f"
		assert_eq "strata index $name: exit" 0 "$RC"
		case $l in
		single) want='seekable: no' copies=1 ;;
		*) want='seekable: yes' copies=0 ;;
		esac
		assert_true "strata index $name: $want" grep -q "$want" "$T/out"
		assert_eq "$name: copies in the cache" "$copies" \
			"$(find "$T/cache-$name" -name '*.tar' | wc -l)"
	done
done

files=(d/random1 d/random2 d/text small)
# read_at FILE OFF LEN: LEN bytes at OFF (fewer at the end).
read_at() {
	dd if="$1" bs=64K iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none
}

# random_reads MNT WHAT: 120 reads, compared with the extracted files.
random_reads() {
	local mnt=$1 what=$2 i f size off len bad=0
	RANDOM=15
	for ((i = 0; i < 120; i++)); do
		f=${files[$((RANDOM % ${#files[@]}))]}
		size=$(stat -c %s "$T/src/$f")
		off=$(((RANDOM * 32768 + RANDOM) % (size + 1)))
		len=$(((RANDOM * 8 + RANDOM % 8) % 400000))
		if ! cmp -s <(read_at "$T/src/$f" "$off" "$len") <(read_at "$mnt/$f" "$off" "$len"); then
			bad=$((bad + 1))
			log "$what: $f at $off, $len bytes differ"
		fi
	done
	assert_eq "$what: random reads that differ" 0 "$bad"
}

# One mount with the default span cache, one with less than a span (the
# -o form): both read right.
declare -A cache_opt=([one]='--span-cache=64M' [multi]='-o span_cache=512K'
	[frames]='-o span_cache=512K' [blocks]='--span-cache=64M')
for l in one multi frames blocks; do
	# shellcheck disable=SC2086 # two words for -o
	smount "$T/m-$l" ${cache_opt[$l]} --layer "$T/${blob[$l]}"
	random_reads "$T/m-$l" "$l"
	assert_same_text "$l: whole contents" "$(content_sums "$T/src")" "$(content_sums "$T/m-$l")"
	sumount "$T/m-$l"
done
assert_eq 'no decompressed copy in the cache' '' "$(find "$CACHE" -name '*.tar')"

# Copy-up reads the lower data through the layer: appending keeps it.
mkdir "$T/upper"
smount "$T/m-up" --layer "$T/multi.tar.gz" --upper "$T/upper"
printf 'tail' >>"$T/m-up/d/random1"
cat "$T/src/d/random1" >"$T/expect"
printf 'tail' >>"$T/expect"
assert_same_file 'copy-up of a gzip file' "$T/expect" "$T/m-up/d/random1"
sumount "$T/m-up"
assert_same_file 'copy-up in the upper' "$T/expect" "$T/upper/d/random1"

# The blob changed in place under its valid index (size and times kept):
# the damaged span is EIO, the rest still reads right.
for src in one.tar.gz frames.tar.zst blocks.tar.xz; do
	bad=bad-$src
	cp -p "$T/$src" "$T/$bad"
	smount "$T/m-$bad-0" --layer "$T/$bad"
	sumount "$T/m-$bad-0"
	size=$(stat -c %s "$T/$bad")
	printf '\x5a\xa5\x5a\xa5' | dd of="$T/$bad" bs=1 seek=$((size / 2)) conv=notrunc status=none
	touch -r "$T/$src" "$T/$bad"
	smount "$T/m-$bad" --layer "$T/$bad"
	ok=0
	for f in "${files[@]}"; do
		if cat "$T/m-$bad/$f" >"$T/got" 2>"$T/cat-err"; then
			cmp -s "$T/got" "$T/src/$f" || fail "damaged $src: $f read with other bytes"
			ok=$((ok + 1))
		else
			assert_true "damaged $src: $f fails with EIO" grep -q 'Input/output error' "$T/cat-err"
		fi
	done
	assert_ne "damaged $src: some file fails" "${#files[@]}" "$ok"
	assert_same_file "damaged $src: small, before the damage" "$T/src/small" "$T/m-$bad/small"
	sumount "$T/m-$bad"
done

# Why those reads fail is logged, once per layer: on stderr in the
# foreground (-f), in syslog once daemonized.
bad='bad-one.tar.gz'
mkdir -p "$T/m-log"
MOUNTS+=("$T/m-log")
"$STRATA" mount -f --cache-dir "$CACHE" --layer "$T/$bad" "$T/m-log" 2>"$T/daemon-err" &
logpid=$!
wait_until 10 is_mounted "$T/m-log" || fail 'damage log: the -f mount did not come up'
for f in "${files[@]}"; do
	cat "$T/m-log/$f" >/dev/null 2>&1 || true
done
"$STRATA" umount "$T/m-log"
wait "$logpid" || true
assert_eq 'damage log: one line' 1 "$(grep -c 'the data does not match its index' "$T/daemon-err")"
assert_true 'damage log: names the layer and the fix' grep -qF "strata: $T/$bad: byte " "$T/daemon-err"
assert_true 'damage log: the fix' grep -qF 'strata index --reindex' "$T/daemon-err"
finish
