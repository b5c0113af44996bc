#!/bin/bash
# hardlinks: hard links inside a layer share one st_ino, report the right
# st_nlink, the same attributes and the same content, across directories;
# also for layers made by GNU tar, and under a whiteout of the link target.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mk "$T/l1.tar" <<'EOF'
dir a
dir b
dir c
file a/orig content=shared\n mode=0640 uid=5 gid=6 mtime=1600000000.25
hardlink a/l1 target=a/orig
hardlink b/l2 target=a/orig
hardlink top target=a/orig
hardlink c/chain target=a/l1
file solo content=x
file b/second size=100000 seed=9 mode=0755
hardlink a/second2 target=b/second
file c/empty
hardlink c/empty2 target=c/empty
symlink c/sym target=../solo
hardlink c/sym2 target=c/sym
EOF

M=$T/mnt
smount "$M" --layer "$T/l1.tar"

ino() { stat -c %i "$M/$1"; }
group1=(a/orig a/l1 b/l2 top c/chain)
i1=$(ino a/orig)
for p in "${group1[@]}"; do
	assert_stat "$p" '%i|%h|%F|%a|%u|%g|%s|%.9Y' "$M/$p" "$i1|5|regular file|640|5|6|7|1600000000.250000000"
	assert_content "$p: content" "$M/$p" 'shared\n'
done
i2=$(ino b/second)
for p in b/second a/second2; do
	assert_stat "$p" '%i|%h|%a|%s' "$M/$p" "$i2|2|755|100000"
done
pattern 0 100000 9 >"$T/second.expected"
assert_same_file 'a/second2: content' "$T/second.expected" "$M/a/second2"
i3=$(ino c/empty)
assert_stat c/empty2 '%i|%h|%s' "$M/c/empty2" "$i3|2|0"
assert_stat c/empty '%h' "$M/c/empty" 2
i4=$(ino c/sym)
assert_stat 'hard link to a symlink' '%i|%h|%F' "$M/c/sym2" "$i4|2|symbolic link"
assert_eq 'hard link to a symlink: target' ../solo "$(readlink "$M/c/sym2")"
assert_stat solo '%h' "$M/solo" 1
assert_eq 'the groups and solo have distinct inodes' 5 "$(printf '%s\n' "$i1" "$i2" "$i3" "$i4" "$(ino solo)" | sort -u | wc -l | tr -d ' ')"
assert_eq 'find -samefile' "$(printf '%s\n' ./a/l1 ./a/orig ./b/l2 ./c/chain ./top)" \
	"$(cd "$M" && find . -samefile a/orig | sort)"
# Reading one name does not disturb another (shared open data).
exec 3<"$M/a/orig" 4<"$M/b/l2"
assert_eq 'two open names, first' shared "$(head -n 1 <&3)"
assert_eq 'two open names, second' shared "$(head -n 1 <&4)"
exec 3<&- 4<&-
sumount "$M"

# The same through GNU tar (gnu and posix formats), compared with what GNU
# tar extracts, link counts included.
src=$T/src
mkdir -p "$src/x" "$src/y" "$src/z/deeper"
printf 'one\n' >"$src/x/f1"
ln "$src/x/f1" "$src/y/f1link"
ln "$src/x/f1" "$src/z/deeper/f1link2"
printf 'two\n' >"$src/x/f2"
ln "$src/x/f2" "$src/x/f2b"
ln "$src/x/f2" "$src/x/f2c"
printf 'three\n' >"$src/z/alone"
chown 11:22 "$src/x/f1"
chmod 0604 "$src/x/f1"
for fmt in gnu posix; do
	tar -C "$src" --numeric-owner --format=$fmt -cf "$T/gnutar-$fmt.tar" .
	rm -rf "$T/ref"
	mkdir "$T/ref"
	tar -C "$T/ref" -xpf "$T/gnutar-$fmt.tar"
	smount "$M" --layer "$T/gnutar-$fmt.tar"
	assert_same_text "GNU tar $fmt: tree" "$(tree_listing "$T/ref")" "$(tree_listing "$M")"
	assert_same_text "GNU tar $fmt: contents" "$(content_sums "$T/ref")" "$(content_sums "$M")"
	assert_eq "GNU tar $fmt: x/f1 group shares one inode" 1 \
		"$(stat -c %i "$M/x/f1" "$M/y/f1link" "$M/z/deeper/f1link2" | sort -u | wc -l | tr -d ' ')"
	assert_eq "GNU tar $fmt: x/f2 group shares one inode" 1 \
		"$(stat -c %i "$M/x/f2" "$M/x/f2b" "$M/x/f2c" | sort -u | wc -l | tr -d ' ')"
	assert_ne "GNU tar $fmt: the groups differ" "$(stat -c %i "$M/x/f1")" "$(stat -c %i "$M/x/f2")"
	sumount "$M"
done

# A higher layer whites out the name the others link to, and replaces
# another: the remaining names still serve the data and share an inode.
mk "$T/l2.tar" <<'EOF'
dir a
whiteout a/orig
file top content=new\n
EOF
smount "$M" --layer "$T/l1.tar" --layer "$T/l2.tar"
assert_false 'whited-out link target is gone' stat "$M/a/orig"
for p in a/l1 b/l2 c/chain; do
	assert_content "$p under a whiteout of a/orig" "$M/$p" 'shared\n'
done
assert_eq 'remaining names share one inode' 1 \
	"$(stat -c %i "$M/a/l1" "$M/b/l2" "$M/c/chain" | sort -u | wc -l | tr -d ' ')"
assert_content 'replaced top' "$M/top" 'new\n'
assert_ne 'replaced top has its own inode' "$(stat -c %i "$M/a/l1")" "$(stat -c %i "$M/top")"
sumount "$M"
finish
