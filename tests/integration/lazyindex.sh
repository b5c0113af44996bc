#!/bin/bash
# lazyindex: a mount that reuses an index checks it lazily (each block's
# CRC and each directory's entries when first used).  Damage in a part the
# mount does not read at once (a name in a big directory) is found at the
# first lookup there: EIO through the kernel, one logged line with the
# reason and the fix, the index removed; the next mount rebuilds it and
# serves everything again.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

src=$T/src
mkdir -p "$src/d"
printf 'top\n' >"$src/f"
for i in $(seq -w 0 1999); do
	printf '%s\n' "$i" >"$src/d/n$i"
done
tar -C "$src" -cf "$T/l.tar" f d

run "$STRATA" index --cache-dir "$CACHE" "$T/l.tar"
assert_eq 'index built' 0 "$RC"
idx=$(find "$CACHE" -name '*.idx')
[ -f "$idx" ] || die "no index in $CACHE"

# A good index is reused and serves all of it.
smount "$T/m" --layer "$T/l.tar"
assert_eq 'good: entries in d' 2000 "$(find "$T/m/d" -type f | wc -l)"
assert_content 'good: d/n1200' "$T/m/d/n1200" $'1200\n'
sumount "$T/m"

# The name n1200 changes in the index file; its header stays right.
off=$(grep -obUaF n1200 "$idx" | head -n 1 | cut -d: -f1)
[ -n "$off" ] || die "n1200 not found in $idx"
printf 'x' | dd of="$idx" bs=1 seek="$off" conv=notrunc status=none

# strata index --check reads all of it, and says so.
run "$STRATA" index --check --cache-dir "$CACHE" "$T/l.tar"
assert_one_error_line 'index --check of the damaged index' 1 "strata: $T/l.tar: its cached index: "

mkdir -p "$T/m2"
MOUNTS+=("$T/m2")
"$STRATA" mount -f --cache-dir "$CACHE" --layer "$T/l.tar" "$T/m2" 2>"$T/daemon-err" &
dpid=$!
wait_until 10 is_mounted "$T/m2" || fail 'damaged: the -f mount did not come up'
assert_content 'damaged: the root still reads' "$T/m2/f" $'top\n'
assert_fails_with 'damaged: d/n1199 is EIO' 'Input/output error' stat "$T/m2/d/n1199"
assert_fails_with 'damaged: listing d is EIO' 'Input/output error' ls "$T/m2/d"
assert_fails_with 'damaged: then the whole mount is EIO' 'Input/output error' stat "$T/m2/nothing"
assert_false 'damaged: the index file is removed' test -e "$idx"
"$STRATA" umount "$T/m2"
wait "$dpid" || true
assert_eq 'damage log: one line' 1 "$(grep -c 'its index is damaged' "$T/daemon-err")"
assert_true 'damage log: names the layer' grep -qF "strata: $T/l.tar: its index is damaged" "$T/daemon-err"
assert_true 'damage log: the fix' grep -qF 'next mount rebuilds it' "$T/daemon-err"

# The next mount rebuilds it, and everything reads again.
smount "$T/m3" --layer "$T/l.tar"
assert_true 'rebuilt: the index is back' test -e "$idx"
assert_eq 'rebuilt: entries in d' 2000 "$(find "$T/m3/d" -type f | wc -l)"
assert_content 'rebuilt: d/n1200' "$T/m3/d/n1200" $'1200\n'
sumount "$T/m3"
run "$STRATA" index --check --cache-dir "$CACHE" "$T/l.tar"
assert_eq 'index --check of the rebuilt index' "0 $T/l.tar: index checked" "$RC $(cat "$T/out")"

# strata index (no --check) checks in full too, and rebuilds a damaged one.
printf 'x' | dd of="$idx" bs=1 seek="$off" conv=notrunc status=none
run "$STRATA" index --cache-dir "$CACHE" "$T/l.tar"
assert_true 'strata index rebuilds a damaged index' grep -q 'index built' "$T/out"
finish
