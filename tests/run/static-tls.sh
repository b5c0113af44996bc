#!/usr/bin/env bash
# strata's static TLS block stays small: glibc zeroes it into the stack of
# every thread it creates, and strata run creates three a start (the
# init's waiter, two FUSE workers).  Three 'static __thread' buffers made
# it 320 KiB, ~0.25 ms and 80 page faults per thread (docs/NOTES.md,
# session 4).  Usage: static-tls.sh STRATA
set -euo pipefail
limit=4096
line=$(readelf -lW "$1" | grep -E '^ *TLS ' || true)
if [ -z "$line" ]; then
	echo "no TLS segment"
	exit 0
fi
# TLS Offset VirtAddr PhysAddr FileSiz MemSiz Flg Align
read -r _ _ _ _ _ memsz _ <<<"$line"
size=$((memsz))
echo "TLS segment: $size bytes (limit $limit)"
if ((size > limit)); then
	echo "FAIL: strata's static TLS is $size bytes; a thread-local array? Use the heap." >&2
	exit 1
fi
