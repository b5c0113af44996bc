#!/usr/bin/env bash
# A gzip layer served in place (issue 15): time to the first ready mount vs
# `gzip -dc`, the disk used beyond the blob, 300 random 4 KiB reads cold
# (p50/p99), and reading every file vs `gzip -dc | cat`.
#
#   bench/seek.sh [--strata PATH] [--src DIR] [--mb N]
#
# The layer is a tar of the first N MB (default 250) of files under DIR
# (default /usr/lib/x86_64-linux-gnu; no hard links, which tar stores
# once), gzip -6, made in a temp directory.
# Root: mounts and drop_caches.  Prints one "name value" line a number.
set -euo pipefail
export LC_ALL=C

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STRATA=$REPO/build/tools/strata SRC=/usr/lib/x86_64-linux-gnu MB=250
while (($#)); do
	case $1 in
	--strata) STRATA=$2 && shift ;;
	--src) SRC=$2 && shift ;;
	--mb) MB=$2 && shift ;;
	*) echo "usage: $0 [--strata PATH] [--src DIR] [--mb N]" >&2 && exit 2 ;;
	esac
	shift
done

T=$(mktemp -d /tmp/strata-seek-bench.XXXXXX)
M=$T/mnt
mkdir "$M"
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

# The layer: regular files up to MB megabytes, sorted for a stable tar.
find "$SRC" -xdev -type f -links 1 -size -64M -printf '%s %P\n' | sort -k2 |
	awk -v max="$((MB * 1000000))" 's + $1 <= max { s += $1; print substr($0, index($0, " ") + 1) }' \
		>"$T/list"
tar -C "$SRC" --numeric-owner -cf "$T/layer.tar" -T "$T/list"
gzip -6 -c "$T/layer.tar" >"$T/layer.tar.gz"
echo "tar_bytes $(stat -c %s "$T/layer.tar")"
echo "gz_bytes $(stat -c %s "$T/layer.tar.gz")"
echo "files $(wc -l <"$T/list")"

t0=$(now)
gzip -dc "$T/layer.tar.gz" >/dev/null
echo "gzip_dc_s $(elapsed "$t0" "$(now)")"
t0=$(now)
gzip -dc "$T/layer.tar.gz" | cat >/dev/null
echo "gzip_dc_cat_s $(elapsed "$t0" "$(now)")"

t0=$(now)
"$STRATA" mount --cache-dir "$T/cache" --layer "$T/layer.tar.gz" "$M"
echo "first_mount_s $(elapsed "$t0" "$(now)")"
echo "cache_bytes $(du -sb "$T/cache" | cut -f1)"
echo "cache_files $(find "$T/cache" -type f | tr '\n' ' ')"

# Warm read-all: the blob is in the page cache, the spans are not.
t0=$(now)
tar -C "$M" -cf - . | cat >/dev/null
echo "read_all_s $(elapsed "$t0" "$(now)")"
"$STRATA" umount "$M"

# Cold random reads: a fresh daemon (empty span cache), caches dropped.
"$STRATA" mount --cache-dir "$T/cache" --layer "$T/layer.tar.gz" "$M"
drop
python3 - "$M" "$T/list" <<'EOF'
import os, random, sys, time
mnt, listing = sys.argv[1], sys.argv[2]
files = [l.rstrip("\n") for l in open(listing)]
sizes = [(f, os.stat(os.path.join(mnt, f)).st_size) for f in files]
sizes = [(f, s) for f, s in sizes if s >= 4096]
rng = random.Random(15)
lat = []
for _ in range(300):
    f, s = rng.choice(sizes)
    off = rng.randrange(0, s - 4096 + 1)
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
