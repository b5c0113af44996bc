#!/usr/bin/env bash
# A compressed layer served in place (issue 15), in one run on one layer:
#   - time to the first ready mount (the index build) vs `gzip -dc` (or
#     zstd -dc, xz -dc);
#   - disk used beyond the blob (the cache directory) vs the blob;
#   - 300 random 4 KiB reads from random files, cold (a fresh daemon,
#     page cache dropped): p50, p99, max;
#   - warm read-all of the mount (`tar -cf - . | cat`) vs `gzip -dc | cat`;
#   - the daemon's RSS after reading every file, vs the span cache bound.
#
#   bench/seek.sh [--strata PATH] [--mb N] [--files N] [--src DIR]
#                 [--span-cache SIZE] [--compress gzip|zstd|xz] [--block SIZE]
#
# --compress: gzip -6 (the default); zstd -3 in frames of --block bytes
# (default 1M: one frame a piece of `split --filter`, as a seekable or
# chunked zstd writer makes them); xz -6 -T2, in blocks of --block bytes
# (default xz's own for -T2: 3 x its 8 MiB dictionary).  Output keys name
# the compressor: gzip_dc_s, zstd_dc_s, xz_dc_s, first_mount_vs_zstd_dc...
#
# The layer (made once, kept in bench/cache/seek/): N files (default 2000)
# of 10 KiB to 10 MiB, sizes log-uniform, scaled to about MB megabytes
# (default 1500), each a mix of 64 KiB pieces of real files under DIR
# (default /usr/lib/x86_64-linux-gnu) and random bytes, so that `gzip -6`
# compresses it about 2:1, as the issue's data does.  Root: mounts and
# drop_caches.  Prints one "name value" line a number.
set -euo pipefail
export LC_ALL=C

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STRATA=$REPO/build/tools/strata SRC=/usr/lib/x86_64-linux-gnu MB=1500 FILES=2000 SPAN=64M
COMP=gzip BLOCK=
while (($#)); do
	case $1 in
	--strata) STRATA=$2 && shift ;;
	--src) SRC=$2 && shift ;;
	--mb) MB=$2 && shift ;;
	--files) FILES=$2 && shift ;;
	--span-cache) SPAN=$2 && shift ;;
	--compress) COMP=$2 && shift ;;
	--block) BLOCK=$2 && shift ;;
	*)
		echo "usage: $0 [--strata PATH] [--mb N] [--files N] [--src DIR] [--span-cache SIZE]" \
			"[--compress gzip|zstd|xz] [--block SIZE]" >&2
		exit 2
		;;
	esac
	shift
done

DATA=${STRATA_BENCH_CACHE:-$REPO/bench/cache}/seek/$MB-$FILES
T=$(mktemp -d /tmp/strata-seek-bench.XXXXXX)
M=$T/mnt
mkdir -p "$M" "$DATA"
cleanup() {
	if grep -q " $M fuse" /proc/mounts; then
		"$STRATA" umount "$M" || umount -l "$M" || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
drop() { sync && echo 3 >/proc/sys/vm/drop_caches; }

# The files, their tar and its gzip -6, made once.
make_layer() {
	local tree=$DATA/tree
	rm -rf "$tree" && mkdir -p "$tree"
	python3 - "$tree" "$SRC" "$MB" "$FILES" <<'EOF'
import os, random, sys
tree, src, mb, files = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(15)
pool = bytearray()
for root, _, names in sorted(os.walk(src)):
    for n in sorted(names):
        p = os.path.join(root, n)
        if os.path.isfile(p) and not os.path.islink(p) and len(pool) < 64 << 20:
            with open(p, "rb") as f:
                pool += f.read(4 << 20)
sizes = [10240 * 1024 ** rng.random() for _ in range(files)]
scale = mb * 1e6 / sum(sizes)
for i, s in enumerate(sizes):
    size = max(10240, min(10 << 20, int(s * scale)))
    d = os.path.join(tree, "d%02d" % (i % 40))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        left = size
        while left:
            n = min(left, 65536)
            if rng.random() < 0.3:
                f.write(rng.randbytes(n))
            else:
                o = rng.randrange(0, len(pool) - n)
                f.write(pool[o:o + n])
            left -= n
EOF
	(cd "$tree" && find . -type f | sort) >"$DATA/list"
	tar -C "$tree" --numeric-owner -cf "$DATA/layer.tar" -T "$DATA/list"
	rm -rf "$tree"
}
[ -f "$DATA/layer.tar" ] || make_layer

# The blob for --compress, made once.
case $COMP in
gzip) GZ=$DATA/layer.tar.gz ;;
zstd) GZ=$DATA/layer-${BLOCK:-1M}.tar.zst ;;
xz) GZ=$DATA/layer-${BLOCK:-auto}.tar.xz ;;
*) echo "$0: --compress $COMP: gzip, zstd or xz" >&2 && exit 2 ;;
esac
if [ ! -f "$GZ" ]; then
	case $COMP in
	gzip) gzip -6 -c "$DATA/layer.tar" >"$GZ.tmp" ;;
	zstd) split -b "${BLOCK:-1M}" --filter='zstd -3 -q -c' "$DATA/layer.tar" >"$GZ.tmp" ;;
	xz) xz -6 -T2 ${BLOCK:+--block-size=$BLOCK} -c "$DATA/layer.tar" >"$GZ.tmp" ;;
	esac
	mv "$GZ.tmp" "$GZ"
fi
tar_bytes=$(stat -c %s "$DATA/layer.tar")
gz_bytes=$(stat -c %s "$GZ")
echo "compress $COMP${BLOCK:+ block $BLOCK}"
echo "tar_bytes $tar_bytes"
echo "gz_bytes $gz_bytes"
echo "files $(wc -l <"$DATA/list")"

cat "$GZ" >/dev/null # the blob in the page cache for the warm rows
t0=$(now)
"$COMP" -dc "$GZ" >/dev/null
gzip_dc=$(elapsed "$t0" "$(now)")
echo "${COMP}_dc_s $gzip_dc"
t0=$(now)
"$COMP" -dc "$GZ" | cat >/dev/null
gzip_cat=$(elapsed "$t0" "$(now)")
echo "${COMP}_dc_cat_s $gzip_cat"

t0=$(now)
"$STRATA" mount --cache-dir "$T/cache" --span-cache "$SPAN" --layer "$GZ" "$M"
first=$(elapsed "$t0" "$(now)")
echo "first_mount_s $first"
awk -v a="$first" -v b="$gzip_dc" -v c="$COMP" 'BEGIN { printf "first_mount_vs_%s_dc %.2f\n", c, a / b }'
cache=$(du -sb "$T/cache" | cut -f1)
echo "cache_bytes $cache"
awk -v a="$cache" -v b="$gz_bytes" 'BEGIN { printf "cache_pct_of_blob %.2f\n", 100 * a / b }'

# Warm read-all: the blob is in the page cache, the spans are not.
t0=$(now)
tar -C "$M" -cf - . | cat >/dev/null
all=$(elapsed "$t0" "$(now)")
echo "read_all_s $all"
awk -v a="$all" -v b="$gzip_cat" -v c="$COMP" 'BEGIN { printf "read_all_vs_%s_dc_cat %.2f\n", c, a / b }'
pid=$(pgrep -f -n "strata mount --cache-dir $T/cache" || true)
if [ -n "$pid" ]; then
	echo "daemon_rss_kb $(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")"
	echo "daemon_anon_kb $(awk '/^Anonymous:/ { print $2 }' "/proc/$pid/smaps_rollup")"
	echo "span_cache $SPAN"
fi
"$STRATA" umount "$M"

# Cold random reads: a fresh daemon (empty span cache), caches dropped.
"$STRATA" mount --cache-dir "$T/cache" --span-cache "$SPAN" --layer "$GZ" "$M"
drop
python3 - "$M" "$DATA/list" <<'EOF'
import os, random, sys, time
mnt, listing = sys.argv[1], sys.argv[2]
files = [l.rstrip("\n") for l in open(listing)]
sizes = [(f, os.stat(os.path.join(mnt, f)).st_size) for f in files]
sizes = [(f, s) for f, s in sizes if s >= 4096]
rng = random.Random(15)
lat = []
for _ in range(300):
    f, s = rng.choice(sizes)
    off = rng.randrange(0, s - 4096 + 1) & ~4095
    fd = os.open(os.path.join(mnt, f), os.O_RDONLY)
    t = time.perf_counter()
    assert len(os.pread(fd, 4096, off)) == 4096
    lat.append(time.perf_counter() - t)
    os.close(fd)
lat.sort()
print("random4k_cold_p50_ms %.3f" % (lat[149] * 1000))
print("random4k_cold_p99_ms %.3f" % (lat[296] * 1000))
print("random4k_cold_max_ms %.3f" % (lat[-1] * 1000))
EOF
"$STRATA" umount "$M"
