#!/bin/bash
# walkers: READDIRPLUS entries with attributes or as bare names, chosen per
# reader (fs/walkers.c): whatever the mix of names-only walks (find | sort)
# and stat-heavy walks (find -printf), through lower directories and
# directories with an upper, the names, types, sizes and modes are those
# GNU tar extracts, d_type included, and telldir/seekdir still hold.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

spec=$T/spec
{
	for d in 1 2 3 4 5 6; do
		printf 'dir d%s mode=0755\n' "$d"
		for f in $(seq 1 250); do
			printf 'file d%s/f%03d content=%s mode=0%s\n' "$d" "$f" \
				"$(printf 'x%.0s' $(seq 1 $((f % 9))))" "$((640 + (f % 2) * 4))"
		done
		printf 'dir d%s/sub\n' "$d"
		printf 'symlink d%s/link target=f001\n' "$d"
	done
} >"$spec"
mk "$T/l.tar" <"$spec"
mkdir -p "$T/ref"
tar -C "$T/ref" -xf "$T/l.tar"

names() { (cd "$1" && find . | sort); }
stats() {
	(cd "$1" && find . -mindepth 1 \( -type d -printf '%y %m %p\n' \) -o -printf '%y %s %m %p\n' |
		sort)
}
types() { (cd "$1" && find . -type f | sort | md5sum); }

M=$T/mnt
want_names=$(names "$T/ref")
want_stats=$(stats "$T/ref")
want_types=$(types "$T/ref")
smount "$M" --layer "$T/l.tar"
# glibc sizes readdir's buffer by st_blksize, the kernel its listing
# requests by that buffer: a directory's whole listing in one batch.
assert_eq "a directory's st_blksize: 1 MiB" 1048576 "$(stat -c %o "$M/d1")"
assert_eq "a file's: 4 KiB" 4096 "$(stat -c %o "$M/d1/f001")"
assert_eq 'names walk first' "$want_names" "$(names "$M")"
assert_eq 'then a stat walk' "$want_stats" "$(stats "$M")"
assert_eq 'names walk again' "$want_names" "$(names "$M")"
assert_eq 'types from bare entries (find -type f)' "$want_types" "$(types "$M")"
assert_eq 'stat walk again' "$want_stats" "$(stats "$M")"
assert_true 'telldir/seekdir over a big directory' "$DIRWALK" "$M/d3"
sumount "$M"

# A stat walk first, from a fresh mount, then names.
smount "$M" --layer "$T/l.tar"
assert_eq 'stat walk first' "$want_stats" "$(stats "$M")"
assert_eq 'names after it' "$want_names" "$(names "$M")"
sumount "$M"

# With an upper: listings come from the upper's names (a different path).
mkdir -p "$T/upper"
smount "$M" --layer "$T/l.tar" --upper "$T/upper"
for d in 2 4; do
	rm "$M/d$d/f010" "$T/ref/d$d/f010"
	printf 'new\n' >"$M/d$d/new"
	printf 'new\n' >"$T/ref/d$d/new"
done
chmod 0600 "$M/d4/f020" "$T/ref/d4/f020"
want_names=$(names "$T/ref")
want_stats=$(stats "$T/ref")
assert_eq 'upper: names walk' "$want_names" "$(names "$M")"
assert_eq "upper: a directory's st_blksize: 1 MiB" 1048576 "$(stat -c %o "$M/d2")"
assert_eq 'upper: stat walk' "$want_stats" "$(stats "$M")"
assert_eq 'upper: names again' "$want_names" "$(names "$M")"
sumount "$M"
finish
