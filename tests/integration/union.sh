#!/bin/bash
# union: three layers with whiteouts, opaque dirs, a file replaced by a dir
# and the reverse, whiteouts in the same layer as a re-created name (either
# order), merged directories, and the order of --layer (lowest first).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mk "$T/l1.tar" <<'EOF'
dir a mode=0755 mtime=1000
file a/keep content=l1keep
file a/gone content=l1gone
file a/replaced content=l1
dir a/dirgone
file a/dirgone/x content=x
dir opq mode=0755
file opq/old1 content=old1
dir opq/sub
file opq/sub/old2 content=old2
file f2d content=file
dir d2f
file d2f/inner content=inner
dir merged mode=0700 mtime=1001
file merged/from1 content=l1
file merged/shared content=l1 mode=0600
dir merged/sub1
file merged/sub1/x content=l1
file rewh content=l1
file rewh2 content=l1
dir deep
dir deep/er
dir deep/er/path
file deep/er/path/x content=x
file deep/er/path/y content=y
file top content=l1
file only1 content=only1
dir opq3
file opq3/z content=z
dir back
file back/f content=l1
symlink lnk target=top
EOF

mk "$T/l2.tar" <<'EOF'
dir a mode=0750 mtime=2000
file a/replaced content=l2
whiteout a/gone
whiteout a/dirgone
whiteout a/neverexisted
dir opq mode=0711 mtime=2001
opaque opq
file opq/new2 content=new2
dir f2d mode=0755
file f2d/child content=child
file d2f content=nowfile
dir merged mode=0750 mtime=2002
file merged/from2 content=l2
file merged/shared content=l2 mode=0640
dir merged/sub1
file merged/sub1/y content=l2
whiteout deep/er/path/x
file top content=l2
whiteout back
EOF

# The opaque marker and the whiteouts come after the entries they sit
# beside in this layer: they still only hide lower layers.
mk "$T/l3.tar" <<'EOF'
dir a mode=0750 mtime=2000
file a/gone content=l3back
dir merged mode=0755 mtime=3000.5
file merged/from3 content=l3
file merged/shared content=l3 mode=0604 uid=33 gid=44 mtime=3001
file rewh content=l3new
whiteout rewh
whiteout rewh2
file rewh2 content=l3new2
dir opq3 mode=0755
file opq3/mine content=mine
opaque opq3
dir back
file back/g content=l3
file lnk content=l3lnk
symlink only1 target=top
EOF

# view DIR: "type path content-or-target" for everything below DIR.
view() {
	local p
	(cd "$1" && find . -mindepth 1 | sort) | while IFS= read -r p; do
		if [ -L "$1/$p" ]; then
			printf 'l %s -> %s\n' "$p" "$(readlink "$1/$p")"
		elif [ -d "$1/$p" ]; then
			printf 'd %s\n' "$p"
		elif [ -f "$1/$p" ]; then
			printf 'f %s %s\n' "$p" "$(cat "$1/$p")"
		else
			printf '? %s\n' "$p"
		fi
	done
}

M=$T/mnt
smount "$M" --layer "$T/l1.tar" --layer "$T/l2.tar" --layer "$T/l3.tar"

expected=$(cat <<'EOF'
d ./a
f ./a/gone l3back
f ./a/keep l1keep
f ./a/replaced l2
d ./back
f ./back/g l3
f ./d2f nowfile
d ./deep
d ./deep/er
d ./deep/er/path
f ./deep/er/path/y y
d ./f2d
f ./f2d/child child
f ./lnk l3lnk
d ./merged
f ./merged/from1 l1
f ./merged/from2 l2
f ./merged/from3 l3
f ./merged/shared l3
d ./merged/sub1
f ./merged/sub1/x l1
f ./merged/sub1/y l2
l ./only1 -> top
d ./opq
f ./opq/new2 new2
d ./opq3
f ./opq3/mine mine
f ./rewh l3new
f ./rewh2 l3new2
f ./top l2
EOF
)
assert_same_text 'union of l1 l2 l3' "$expected" "$(view "$M")"

# Names that must not be there, looked up directly (not only via readdir).
for p in a/dirgone a/dirgone/x a/neverexisted opq/old1 opq/sub opq/sub/old2 \
	deep/er/path/x back/f opq3/z a/.wh.gone a/.wh.dirgone opq/.wh..wh..opq \
	.wh.rewh .wh.back opq3/.wh..wh..opq; do
	assert_fails_with "lookup of hidden $p" 'No such file or directory' stat "$M/$p"
done
assert_fails_with 'd2f is a file now' 'Not a directory' stat "$M/d2f/inner"
assert_eq 'no whiteout file shows anywhere' '' "$(find "$M" -name '.wh.*')"
assert_eq 'ls -a of opq' "$(printf '%s\n' . .. new2)" "$(ls -a "$M/opq")"
# shellcheck disable=SC2012 # ls -f: raw readdir order and duplicates
assert_eq 'no name listed twice in merged' '' "$(ls -f "$M/merged" | sort | uniq -d)"
assert_eq 'no inode number used twice' '' "$(find "$M" -printf '%i\n' | sort | uniq -d)"

# Attributes come from the highest layer that has the entry.
assert_stat 'merged dir: attrs of l3' '%F|%a|%.1Y' "$M/merged" 'directory|755|3000.5'
assert_stat 'a: attrs of l3 (same as l2)' '%a|%Y' "$M/a" '750|2000'
assert_stat 'opaque dir: attrs of l2' '%a|%Y' "$M/opq" '711|2001'
assert_stat 'file in three layers: attrs of l3' '%a|%u|%g|%s|%Y' "$M/merged/shared" '604|33|44|2|3001'
assert_stat 'file replaced by a dir' '%F' "$M/f2d" directory
assert_stat 'dir replaced by a file' '%F|%s' "$M/d2f" 'regular file|7'
assert_stat 'symlink replaced by a file' '%F' "$M/lnk" 'regular file'
assert_stat 'file replaced by a symlink' '%F' "$M/only1" 'symbolic link'
assert_content 'read through the symlink of l3' "$M/only1" 'l2'
# Merged directories (content from several layers) report st_nlink 1.
for d in merged merged/sub1 a; do
	assert_stat "merged dir $d: st_nlink" '%h' "$M/$d" 1
done
sumount "$M"

# A big merged directory: 3000 names below, 3000 above, 1000 in both, 500
# of the lower ones whited out.  readdir (and seekdir) must list the union
# once, across many readdir calls.
: "${DIRWALK:?DIRWALK must name the dirwalk binary}"
{
	echo 'dir big'
	for i in $(seq 0 2999); do printf 'file big/n%05d content=low\n' "$i"; done
} | mk "$T/big1.tar"
{
	echo 'dir big'
	for i in $(seq 2000 4999); do printf 'file big/n%05d content=high\n' "$i"; done
	for i in $(seq 0 499); do printf 'whiteout big/n%05d\n' "$i"; done
} | mk "$T/big2.tar"
smount "$T/bigmnt" --layer "$T/big1.tar" --layer "$T/big2.tar"
expected=$(for i in $(seq 500 4999); do printf 'n%05d\n' "$i"; done)
assert_same_text 'big merged dir: names' "$expected" "$(find "$T/bigmnt/big" -mindepth 1 -printf '%f\n' | sort)"
if "$DIRWALK" "$T/bigmnt/big" >"$T/dirwalk.out" 2>"$T/dirwalk.err"; then pass; else
	fail "big merged dir: seekdir/telldir: $(head -5 "$T/dirwalk.err")"
fi
assert_same_text 'big merged dir: dirwalk names' "$expected" "$(sort "$T/dirwalk.out")"
assert_content 'big merged dir: a lower name' "$T/bigmnt/big/n01999" 'low'
assert_content 'big merged dir: a name in both' "$T/bigmnt/big/n02000" 'high'
assert_false 'big merged dir: a whited-out name' stat "$T/bigmnt/big/n00499"
sumount "$T/bigmnt"

# The order of --layer matters: lowest first.
smount "$M" --layer "$T/l2.tar" --layer "$T/l1.tar"
assert_content 'l1 over l2: top' "$M/top" 'l1'
assert_content 'l1 over l2: merged/shared' "$M/merged/shared" 'l1'
assert_content 'l1 over l2: a/gone is back' "$M/a/gone" 'l1gone'
assert_content 'l1 over l2: a/replaced' "$M/a/replaced" 'l1'
assert_stat 'l1 over l2: f2d is a file again' '%F' "$M/f2d" 'regular file'
assert_stat 'l1 over l2: d2f is a dir again' '%F' "$M/d2f" 'directory'
assert_content 'l1 over l2: d2f/inner' "$M/d2f/inner" 'inner'
assert_eq 'l1 over l2: opq is the union (l1 has no opaque marker)' \
	"$(printf '%s\n' new2 old1 sub)" "$(ls "$M/opq")"
sumount "$M"

# A single layer with whiteouts: whiteouts of names that exist nowhere
# below are invisible.
smount "$M" --layer "$T/l2.tar"
assert_eq 'l2 alone: a' replaced "$(ls -A "$M/a")"
assert_eq 'l2 alone: opq' new2 "$(ls -A "$M/opq")"
assert_eq 'l2 alone: no whiteout file shows' '' "$(find "$M" -name '.wh.*')"
assert_false 'l2 alone: back is hidden' stat "$M/back"
sumount "$M"

finish
