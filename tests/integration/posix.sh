#!/bin/bash
# posix: a differential POSIX test of the writable mount (--upper).  For
# each scenario the lower layers are extracted by GNU tar into a reference
# directory on a kernel filesystem (OCI whiteouts applied by hand), the same
# layers are mounted by strata with a fresh upper directory, the same
# posixops script runs on both, and the outputs must agree line by line.
# Then the trees (type, mode, owner, size, link count, hard-link groups,
# symlink targets, old mtimes, contents, xattrs) must agree, before and
# after umount + mount of the same layers and upper.  What has no
# reference (names starting .wh. give EINVAL; an fd opened before a
# copy-up) is checked on strata alone.
#
# Scenarios: basic (new files: write, read, append, truncate, holes,
# links, renames, unlink while open, umask), errors (the errno of every
# failing open/mkdir/rmdir/unlink/rename/link/symlink/chmod/truncate/
# utimensat/xattr call, on lower and new names), lower (copy-up by write,
# chmod, chown, utimens, O_TRUNC; delete and recreate; rm -r + mkdir;
# renames of lower files and dirs, over whiteouts), links, exchange
# (RENAME_EXCHANGE, RENAME_NOREPLACE), redirect (renamed lower dirs changed
# below and renamed again), xattrs, perms (as uid 1000: EACCES/EPERM,
# owners, setgid dirs, suid/sgid dropped), longwh (lower names whose
# whiteout name is too long), dirtimes (copied-up dirs keep their times),
# whnames and openfd (strata alone).
#
# POSIX_KEEP=DIR keeps every script and both outputs in DIR.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${POSIXOPS:?POSIXOPS must name the posixops binary}"

if ! grep -q -- '--upper' <<<"$("$STRATA" mount --help 2>&1)"; then
	die "strata mount has no --upper option (the writable upper layer is not in this binary)"
fi

# mtimes older than this come from the layers or were set explicitly by a
# script, and must agree to the nanosecond; newer ones are "new" on both
# sides (they are the time of the operation, which differs).
CUTOFF=$(($(date +%s) - 3600))

L255=$(printf 'n%.0s' $(seq 1 255))
L256=$(printf 'n%.0s' $(seq 1 256))
W251=$(printf 'w%.0s' $(seq 1 251))
W252=$(printf 'w%.0s' $(seq 1 252))
T4095=$(printf 't%.0s' $(seq 1 4095))

# short: long runs of one character as C{N} (the 255-byte names), so a
# diff stays readable; both sides go through it.
short() {
	perl -pe 's/((.)\2{15,})/$2 . "{" . length($1) . "}"/ge'
}

# ---- the reference ----

# is_real_dir PATH: a directory, not a symlink to one.
is_real_dir() { [ -d "$1" ] && [ ! -L "$1" ]; }

# ref_extract DIR LAYER...: what an OCI applier makes of LAYERs (lowest
# first), with GNU tar: per layer, its whiteouts remove what the layers
# below made (.wh.NAME removes NAME, .wh..wh..opq empties its directory),
# an entry replaces what is in its way (a directory only replaces a
# non-directory), then the layer is extracted without its whiteouts.
ref_extract() {
	local ref=$1 l stage p base dir
	shift
	mkdir -p "$ref"
	for l in "$@"; do
		stage=$(mktemp -d "$T/stage.XXXXXX")
		tar -C "$stage" --numeric-owner --warning=no-unknown-keyword -xpf "$l" || die "GNU tar cannot extract $l"
		while IFS= read -r -d '' p; do
			p=${p#./}
			base=${p##*/}
			dir=$(dirname "$p")
			if [ "$base" = .wh..wh..opq ]; then
				if is_real_dir "$ref/$dir"; then
					find "$ref/$dir" -mindepth 1 -delete
				fi
			else
				rm -rf "${ref:?}/$dir/${base#.wh.}"
			fi
		done < <(cd "$stage" && find . -name '.wh.*' -print0)
		while IFS= read -r -d '' p; do
			p=${p#./}
			[ -e "$ref/$p" ] || [ -L "$ref/$p" ] || continue
			if is_real_dir "$stage/$p"; then
				is_real_dir "$ref/$p" || rm -f "${ref:?}/$p"
			else
				rm -rf "${ref:?}/$p"
			fi
		done < <(cd "$stage" && find . -mindepth 1 ! -name '.wh.*' -print0)
		tar -C "$ref" --numeric-owner --warning=no-unknown-keyword --xattrs --xattrs-include='*' --exclude='.wh.*' -xpf "$l" ||
			die "GNU tar cannot extract $l into the reference"
		rm -rf "$stage"
	done
}

# snapshot DIR: the tree below DIR as text.  Directories: type, mode,
# owner (their size, link count and mtime are filesystem- and
# history-specific).  Others: also size, link count, mtime (or "new"),
# the first path of their hard-link group, symlink target.  Then file
# contents and every xattr.
snapshot() {
	(cd "$1" && find . -mindepth 1 -printf '%p\t%y\t%m\t%U\t%G\t%s\t%n\t%l\t%T@\t%i\n' 2>&1) | sort |
		awk -F'\t' -v cut="$CUTOFF" '{
			if ($2 == "d") { printf "d %s %s %s %s\n", $1, $3, $4, $5; next }
			if (!($10 in grp)) grp[$10] = $1
			t = ($9 + 0 < cut) ? $9 : "new"
			printf "%s %s %s %s %s size=%s nlink=%s mtime=%s links=%s", $2, $1, $3, $4, $5, $6, $7, t, grp[$10]
			if ($2 == "l") printf " -> %s", $8
			printf "\n"
		}'
	content_sums "$1"
	(cd "$1" && find . -mindepth 1 -print0 | sort -z | xargs -0 -r getfattr -h -d -m - -e hex -- 2>&1) |
		awk '/^# file: / { f = substr($0, 9); next } NF { print "xattr " f " " $0 }'
}

# ---- scenarios ----

# ops NAME: runs posixops on $REF and $MNT with the script on stdin (kept
# as $T/NAME.ops); the outputs must be the same.
ops() {
	local name=$1 script=$T/$1.ops
	cat >"$script"
	if ! timeout -k 5 120 "$POSIXOPS" "$REF" "$script" >"$T/$name.ref.out" 2>"$T/$name.ref.err"; then
		die "$name: posixops on the reference failed: $(head -c 500 "$T/$name.ref.err")"
	fi
	if ! timeout -k 5 120 "$POSIXOPS" "$MNT" "$script" >"$T/$name.mnt.out" 2>"$T/$name.mnt.err"; then
		fail "$name: posixops on strata failed (exit status): $(head -c 500 "$T/$name.mnt.err")"
	fi
	assert_same_text "$name: results of the operations (- reference, + strata)" \
		"$(short <"$T/$name.ref.out")" "$(short <"$T/$name.mnt.out")"
	# POSIX_KEEP=DIR keeps the scripts and both outputs, to look at.
	if [ -n "${POSIX_KEEP:-}" ]; then
		mkdir -p "$POSIX_KEEP"
		cp "$script" "$T/$name.ref.out" "$T/$name.mnt.out" "$POSIX_KEEP/"
	fi
}

# begin NAME LAYER...: a fresh reference ($REF) and a fresh mount ($MNT)
# with an empty upper ($UPPER); they must agree before any change.
begin() {
	SCEN=$1
	shift
	SCEN_LAYERS=("$@")
	REF=$T/$SCEN/ref
	MNT=$T/$SCEN/mnt
	UPPER=$T/$SCEN/upper
	log "---- $SCEN"
	ref_extract "$REF" "$@"
	mkdir -p "$UPPER"
	layer_args "$@"
	smount "$MNT" --upper "$UPPER" "${LAYER_ARGS[@]}"
	assert_same_text "$SCEN: the union before any change (- reference, + strata)" \
		"$(snapshot "$REF" | short)" "$(snapshot "$MNT" | short)"
}

# post NAME: a posixops script (stdin) that end runs on the reference and
# on the mount again after umount + mount; the outputs must be the same.
post() {
	POST=$1
	cat >"$T/$1.post"
}

# end: the trees agree now, and after umount + mount again (and the post
# script, if any, gives the same results there).
end() {
	local ref_snap
	ref_snap=$(snapshot "$REF" | short)
	assert_same_text "$SCEN: the tree after the operations (- reference, + strata)" \
		"$ref_snap" "$(snapshot "$MNT" | short)"
	assert_eq "$SCEN: no .wh. name shows in the mount" '' "$(find "$MNT" -name '.wh.*' 2>&1)"
	sumount "$MNT"
	layer_args "${SCEN_LAYERS[@]}"
	smount "$MNT" --upper "$UPPER" "${LAYER_ARGS[@]}"
	assert_same_text "$SCEN: the tree after umount + mount (- reference, + strata)" \
		"$ref_snap" "$(snapshot "$MNT" | short)"
	if [ -n "${POST:-}" ]; then
		ops "$POST" <"$T/$POST.post"
		POST=
	fi
	sumount "$MNT"
}

# The lower layers most scenarios use.
mk "$T/l1.tar" <<EOF
dir a mode=0755 mtime=1600000000
file a/f content=lower-a-f\n mode=0640 uid=7 gid=8 mtime=1600000001.5 xattr.user.color=red xattr.user.bin=\x00\x01
file a/g content=lower-a-g\n
file a/big size=300000 seed=5 mtime=1600000002
dir a/sub mode=0700 uid=7 gid=8 mtime=1600000003 xattr.user.subattr=s
file a/sub/x content=x\n
dir a/sub/deeper mode=0751 mtime=1600000004
file a/sub/deeper/y content=y\n
symlink a/lnk target=f
symlink a/dangling target=nowhere
fifo a/pipe mode=0600
dir b mode=0755
file b/one content=one\n
file b/two content=two\n mode=0444
dir b2
file b2/only content=only\n
dir empty mode=0755
dir tree mode=0750 mtime=1600000005
dir tree/c1
file tree/c1/f content=c1\n
dir tree/c2
file tree/c2/f content=c2\n
file h1 content=hard\n mode=0604 uid=3 gid=4 mtime=1600000006
hardlink h2 target=h1
hardlink b/h3 target=h1
file lf content=lf\n
file ex content=lower-ex\n mode=0600 uid=9 gid=9
file xa content=xa\n xattr.user.one=1 xattr.user.two=2
file top content=l1top\n
file shadow content=l1shadow\n
dir merged
file merged/low content=low\n
file wh content=l1wh\n
dir opq
file opq/old content=old\n
dir dirx
file dirx/inx content=inx\n
file ftod content=ftod\n
file lk content=lk\n
file ex2 content=lower-ex2\n mode=0600 uid=9 gid=9
file mc1 content=metacopy-one\n mode=0644 mtime=1600000007
file mc2 content=metacopy-two\n
file mc3 content=metacopy-three\n
file mc4 size=200000 seed=9
file $W251 content=long251\n
file $W252 content=long252\n
EOF
mk "$T/l2.tar" <<'EOF'
dir a mode=0755 mtime=1600000000
file shadow content=l2shadow\n
dir merged
file merged/high content=high\n
whiteout wh
dir opq
opaque opq
file opq/new content=new\n
file top content=l2top\n mode=0600
EOF
BASE=("$T/l1.tar" "$T/l2.tar")

# -- new files: create, write, read, append, truncate, holes, links --
begin basic "${BASE[@]}"
ops basic-write <<'EOF'
mkdir new 0755
stat new
put new/a hello\n
cat new/a
stat new/a
recent new/a m
open f new/a RDWR
read f 3
write f XY
pread f 0 100
pwrite f 10 tail
fstat f
pread f 0 100
lseek f 0 END
lseek f 2 SET
read f 100
ftruncate f 3
pread f 0 100
ftruncate f 5000
fstat f
pread f 4990 100
fallocate f 0 0 10000
fstat f
fallocate f KEEP_SIZE 10000 10000
fstat f
fallocate f PUNCH_HOLE|KEEP_SIZE 0 4096
pread f 0 10
pread f 4000 200
fsync f
fdatasync f
close f
open g new/a WRONLY|APPEND
write g +app\n
lseek g 0 CUR
pwrite g 0 PW
fstat g
close g
EOF
ops basic-more <<'EOF'
cat new/a
open h new/a WRONLY|TRUNC
fstat h
close h
cat new/a
truncate new/a 3
cat new/a
truncate new/a 0
open e new/a WRONLY|CREAT|EXCL
open e new/b WRONLY|CREAT|EXCL 0600
write e @200000:7
fstat e
close e
stat new/b
cat new/b
open e new/b RDWR|CREAT 0777
fstat e
pwrite e 300000 end
fstat e
pread e 250000 10
close e
cat new/b
open r new/b RDONLY
write r x
ftruncate r 0
close r
open w new/b WRONLY
read w 1
close w
open d new RDONLY|DIRECTORY
fstat d
close d
rename new/b new/c
stat new/b
link new/c new/d
sameino new/c new/d
stat new/c
symlink c new/s
readlink new/s
lstat new/s
cat new/s
symlink ../nowhere new/dangling
readlink new/dangling
open x new/dangling WRONLY|CREAT
close x
stat nowhere
mknod new/fifo fifo 0600
stat new/fifo
mknod new/reg reg 0640
stat new/reg
mkdir new/sub 0700
rename new/c new/sub/c
readdir new
readdir new/sub
rename new/sub new/sub2
cat new/sub2/c
sameino new/sub2/c new/d
rmdir new/sub2
unlink new/sub2/c
rmdir new/sub2
stat new/d
open u new/d RDWR
unlink new/d
fstat u
pwrite u 0 still-here
pread u 0 10
close u
stat new/d
chmod new/a 0751
chown new/a 12 34
utimens new/a 1234.5 5678.000000009
times new/a
stat new/a
utimens new/a omit now
recent new/a m
setxattr new/a user.k v
getxattr new/a user.k
listxattr new/a
removexattr new/a user.k
listxattr new/a
statfs .
statfs new
umask 0
mkdir new/m 0777
put new/m/f x
stat new/m
stat new/m/f
umask 077
mkdir new/m2 0777
open m new/m2/f WRONLY|CREAT 0666
close m
stat new/m2
stat new/m2/f
umask 022
EOF
{
	for i in $(seq 1 60); do printf 'put new/many/f%02d content%d\n' "$i" "$i"; done
} >"$T/many.ops.part"
{
	echo 'mkdir new/many 0755'
	cat "$T/many.ops.part"
	echo 'readdir new/many'
	for i in $(seq 1 60 | awk 'NR % 3 == 0'); do printf 'unlink new/many/f%02d\n' "$i"; done
	echo 'readdir new/many'
	echo 'cat new/many/f59'
	echo 'readdir new'
	echo 'readdir .'
} | ops basic-many
end

# -- every error path, on lower and new names --
begin errors "${BASE[@]}"
ops errors-open <<EOF
put up upper\n
mkdir updir 0755
open f nope RDONLY
open f nodir/x WRONLY|CREAT
open f a/f/x RDONLY
open f a/f/x WRONLY|CREAT
open f up/x WRONLY|CREAT
open f a/f WRONLY|CREAT|EXCL
open f up WRONLY|CREAT|EXCL
open f a RDWR
open f a WRONLY
open f a WRONLY|CREAT
open f updir RDWR
open f a/f RDONLY|DIRECTORY
open f up RDONLY|DIRECTORY
open f a/pipe RDONLY|DIRECTORY
open f a/lnk RDONLY|NOFOLLOW
open f a/lnk WRONLY|CREAT|EXCL
open f a/dangling WRONLY|CREAT|EXCL
open f a/dangling RDONLY
open f wh RDONLY
open f opq/old RDONLY
open f $L256 WRONLY|CREAT
open f a/$L256 RDONLY
open f $L256/x RDONLY
open f $L255 WRONLY|CREAT
close f
stat $L255
open f a/lnk RDONLY
read f 100
close f
open f \e RDONLY
EOF
ops errors-mkdir <<EOF
mkdir a 0755
mkdir a/f 0755
mkdir up 0755
mkdir updir 0755
mkdir a/f/x 0755
mkdir nope/x 0755
mkdir a/lnk 0755
mkdir a/dangling 0755
mkdir $L256 0755
mkdir a/$L256 0755
mkdir $L255/x 0755
mkdir wh/x 0755
mkdir opq/old 0755
stat opq/old
rmdir a
rmdir merged
rmdir opq
rmdir tree
rmdir a/f
rmdir up
rmdir nope
rmdir a/lnk
rmdir a/sub/..
rmdir .
rmdir wh
rmdir opq/old
rmdir $L256
rmdir empty
stat empty
rmdir updir
stat updir
unlink a
unlink empty
unlink nope
unlink a/f/x
unlink wh
unlink opq/old
unlink $L256
unlink a/lnk
cat a/f
stat a/lnk
EOF
ops errors-rename <<EOF
mkdir updir 0755
put updir/x x
mkdir upempty 0755
rename nope x
rename wh x
rename opq/old x
rename a/f a/f/x
rename a/f nope/x
rename a b/one
rename updir up
rename b/one a
rename up updir
rename b/one empty
rename a b
rename a merged
rename a opq
rename upempty updir
rename a a/sub
rename a a/sub/deeper/z
rename updir updir/y
rename a/f a/f
rename h1 h2
stat h1
stat h2
rename . x
rename a/f .
rename $L256 x
rename a/f $L256
rename up $L256
rename2 nope b/one EXCHANGE
rename2 b/one nope EXCHANGE
rename2 b/one b/two NOREPLACE
rename2 b/one wh NOREPLACE
cat wh
rename2 up a/g NOREPLACE
rename2 up updir NOREPLACE
rename2 a b/one EXCHANGE|NOREPLACE
link nope x
link wh x
link a/f b/one
link a/f up
link a x
link updir x
link a/f nope/x
link a/f a/f/x
link a/f $L256
link a/f a/lnk
link a/f wh2
stat a/f
symlink x a/f
symlink x up
symlink x a
symlink x nope/y
symlink x a/f/y
symlink x $L256
symlink $T4095 longtarget
readlink longtarget
readlink a/f
readlink a
readlink nope
EOF
ops errors-meta <<EOF
chmod nope 0644
chmod a/f/x 0644
chmod a/dangling 0644
chmod $L256 0644
chmod wh 0644
chown nope 1 1
chown a/dangling 1 1
lchown a/dangling 5 6
lstat a/dangling
truncate a 0
truncate nope 0
truncate a/f -1
truncate a/pipe 0
truncate a/f/x 0
truncate a/dangling 0
truncate $L256 0
utimens nope now now
utimens a/f/x now now
utimens a/dangling now now
utimens $L256 now now
utimens wh now now
getxattr nope user.x
setxattr nope user.x v
listxattr nope
removexattr nope user.x
removexattr a/f user.nope
getxattr a/f user.nope
setxattr a/lnk user.x v
getxattr a/lnk user.x
setxattr a/f user.color v create
setxattr a/g user.none v replace
stat a/g
listxattr a/g
access nope F
access a/f F
access a/f RWX
access a/sub/deeper/y R
EOF
end

# -- operations on lower files and directories --
begin lower "${BASE[@]}"
ops lower <<'EOF'
readdir .
readdir a
readdir opq
readdir merged
cat shadow
stat wh
cat top
stat top
# write to a lower file (copy-up keeps data, mode, owner, xattrs, st_ino)
tsave af a/f
inosave af a/f
sleep 30
open w a/f WRONLY|APPEND
write w more\n
close w
cat a/f
stat a/f
tcheck af a/f
inocheck af a/f
listxattr a/f
getxattr a/f user.color
getxattr a/f user.bin
recent a/f m
# write in the middle of a big lower file
open w a/big RDWR
pwrite w 100000 MIDDLE
pread w 99990 30
fstat w
close w
cat a/big
recent a/big m
# metadata-only changes keep the data and the other times
tsave ag a/g
sleep 30
chmod a/g 0600
stat a/g
mtime a/g
tcheck ag a/g
cat a/g
chown b/one 1234 5678
stat b/one
mtime b/one
cat b/one
utimens b/two 1000.000000001 2000.999999999
times b/two
stat b/two
cat b/two
utimens top omit now
recent top m
utimens xa 1.5 omit
times xa
chmod xa 0611
listxattr xa
getxattr xa user.two
lchown a/lnk 77 88
lstat a/lnk
readlink a/lnk
stat a/lnk
# lower files opened for writing with O_TRUNC
open t ex WRONLY|TRUNC
fstat t
close t
stat ex
cat ex
open t ex RDWR
pwrite t 3 abc
pread t 0 10
close t
stat ex
# metadata copied up first, data at the first write (or never)
chmod mc1 0600
stat mc1
cat mc1
open w mc1 RDWR
pread w 0 20
pwrite w 2 XY
close w
cat mc1
stat mc1
open w mc2 RDWR
pread w 0 20
fstat w
ftruncate w 3
fstat w
pread w 0 20
close w
cat mc2
rename mc3 mc3b
open w mc3b WRONLY|APPEND
write w tail\n
close w
cat mc3b
truncate mc4 1000
stat mc4
cat mc4
truncate mc4 5000
cat mc4
# a parent chain copied up for a new file deep below keeps its attributes
put a/sub/deeper/new deep\n
stat a
stat a/sub
stat a/sub/deeper
mtime a
mtime a/sub
readdir a/sub/deeper
getxattr a/sub user.subattr
listxattr a/sub
# delete a lower file, recreate it
unlink a/g
stat a/g
readdir a
put a/g new-g\n
cat a/g
stat a/g
listxattr a/g
unlink shadow
stat shadow
cat shadow
readdir .
mkdir shadow 0700
stat shadow
readdir shadow
# a lower dir removed recursively, then made again: empty
unlink a/sub/deeper/y
unlink a/sub/deeper/new
rmdir a/sub/deeper
unlink a/sub/x
rmdir a/sub
stat a/sub
mkdir a/sub 0755
stat a/sub
readdir a/sub
listxattr a/sub
stat a/sub/x
stat a/sub/deeper
put a/sub/new n
readdir a/sub
# a merged dir (two layers) and an opaque one, emptied and removed
unlink merged/low
readdir merged
rmdir merged
unlink merged/high
readdir merged
rmdir merged
stat merged
mkdir merged 0711
readdir merged
stat merged/low
unlink opq/new
rmdir opq
mkdir opq 0755
readdir opq
stat opq/old
# a lower file replaced by a dir, then by a file again
unlink ftod
mkdir ftod 0755
put ftod/in x
readdir ftod
unlink ftod/in
rmdir ftod
put ftod again\n
cat ftod
stat ftod
# rename a lower file over another lower file
rename b/one b/two
cat b/two
stat b/two
stat b/one
readdir b
rename b/two b/one
cat b/one
readdir b
# rename a lower directory with children
rename tree moved
stat tree
readdir moved
readdir moved/c1
cat moved/c1/f
stat moved
put moved/c2/new x
rename moved/c1 c1top
cat c1top/f
readdir moved
readdir c1top
rename moved tree
readdir tree
cat tree/c2/f
cat tree/c2/new
stat tree/c1
stat tree
mkdir moved 0755
readdir moved
# rename a lower dir into another lower dir, and over an emptied one
rename dirx b/dirx
readdir b/dirx
cat b/dirx/inx
unlink b2/only
readdir b2
rename b/dirx b2
readdir b2
cat b2/inx
stat b/dirx
# rename over a whiteout
put newfile data\n
rename newfile wh
cat wh
stat wh
unlink a/lnk
rename a/dangling a/lnk
readlink a/lnk
stat a/dangling
put gone x
unlink gone
put gone2 y
rename gone2 gone
cat gone
unlink lk
rename ex2 lk
cat lk
stat lk
stat ex2
readdir .
EOF
end

# -- a lower file changed through an fd opened before its rm: the copy
# must not bring the name back (it did: fchmod made it again beside its
# whiteout) --
begin unlinked "${BASE[@]}"
ops unlinked <<'EOF'
open f mc3 RDWR
unlink mc3
fchmod f 0600
write f XY
fstat f
stat mc3
close f
stat mc3
open g h1 RDONLY
unlink h1
fchmod g 0640
fstat g
close g
stat h2
cat h2
readdir .
EOF
end

# -- hard links: to lower files, and inside a lower layer --
begin links "${BASE[@]}"
ops links <<'EOF'
# a hard link to a lower file, then a change through one name
stat lf
link lf lf2
sameino lf lf2
stat lf
stat lf2
append lf2 more\n
cat lf
stat lf
unlink lf
cat lf2
stat lf2
link a/f a/f2
open w a/f2 WRONLY|APPEND
write w via-f2\n
close w
cat a/f
sameino a/f a/f2
stat a/f2
link lk lklink
chmod lklink 0604
stat lk
sameino lk lklink
# hard links inside a lower layer stay linked after copy-up
sameino h1 h2
sameino h1 b/h3
stat h1
append h2 x\n
cat h1
cat b/h3
sameino h1 h2
sameino h2 b/h3
stat h1
stat b/h3
chmod b/h3 0640
stat h1
stat h2
setxattr h1 user.h v
getxattr b/h3 user.h
unlink h1
stat h2
cat h2
link h2 h4
stat b/h3
sameino h4 b/h3
rename b/h3 b/one
sameino h2 b/one
cat b/one
EOF
end

# -- RENAME_EXCHANGE and RENAME_NOREPLACE --
begin exchange "${BASE[@]}"
ops exchange <<'EOF'
# RENAME_EXCHANGE of a lower and an upper file, and of two lower files
put up1 upper-one\n
rename2 up1 ex2 EXCHANGE
cat up1
cat ex2
stat up1
stat ex2
rename2 shadow top EXCHANGE
cat shadow
cat top
stat top
stat shadow
rename2 a/g b/one EXCHANGE
cat a/g
cat b/one
# a lower dir and a new dir, a lower dir and a lower file
mkdir newdir 0700
put newdir/inside n
rename2 tree newdir EXCHANGE
readdir tree
readdir newdir
readdir newdir/c1
cat newdir/c2/f
stat tree
stat newdir
rename2 b xa EXCHANGE
readdir xa
cat b
listxattr b
# RENAME_NOREPLACE onto an existing lower name, a deleted one, a new one
put up2 u2
rename2 up2 a/f NOREPLACE
rename2 up2 h2 NOREPLACE
rename2 up2 merged NOREPLACE
rename2 up2 wh NOREPLACE
cat wh
put up3 u3
unlink b2/only
rename2 up3 b2/only NOREPLACE
cat b2/only
rename2 a/big fresh NOREPLACE
stat a/big
cat fresh
readdir .
EOF
end

# -- lower directories renamed (redirects), then changed below and renamed again --
begin redirect "${BASE[@]}"
ops redirect <<'EOF'
rename tree t2
unlink t2/c1/f
rename t2/c2 t2/c2b
readdir t2
mkdir tree 0755
readdir tree
put tree/x x
rename t2 a/t3
readdir a/t3
readdir a/t3/c1
readdir a/t3/c2b
cat a/t3/c2b/f
rmdir a/t3/c1
rename a/t3/c2b a/t3/c1
readdir a/t3
cat a/t3/c1/f
rename a/sub asub
append asub/deeper/y more\n
chmod asub/x 0600
readdir asub
readdir asub/deeper
cat asub/deeper/y
stat asub/x
stat asub
listxattr asub
mkdir asub/deeper/n 0755
rename asub/deeper asub/deeper2
readdir asub/deeper2
rename asub a/sub
readdir a/sub
readdir a/sub/deeper2
cat a/sub/deeper2/y
rename merged m2
readdir m2
unlink m2/low
readdir m2
rename opq o2
readdir o2
rename dirx merged
readdir merged
readdir m2
readdir .
EOF
post redirect-after-remount <<'EOF'
readdir .
readdir tree
readdir a/t3
readdir a/t3/c1
readdir a/sub
readdir a/sub/deeper2
cat a/sub/deeper2/y
stat a/sub/x
readdir m2
readdir o2
readdir merged
EOF
end

# -- xattrs on lower and new files and dirs --
begin xattrs "${BASE[@]}"
ops xattrs <<EOF
listxattr a/f
setxattr a/f user.new v1
listxattr a/f
getxattr a/f user.color
getxattr a/f user.bin
getxattr a/f user.new
setxattr a/f user.new v2 create
setxattr a/f user.new v3 replace
getxattr a/f user.new
removexattr a/f user.color
listxattr a/f
removexattr a/f user.color
setxattr a/f user.empty \e
getxattr a/f user.empty
setxattr a/f user.nul a\x00b\x00
getxattr a/f user.nul
setxattr a/f user.long $(printf 'v%.0s' $(seq 1 3000))
getxattr a/f user.long
setxattr b/one user.x y replace
listxattr b/one
removexattr b/two user.nope
listxattr b/two
setxattr a user.dirattr d
getxattr a user.dirattr
readdir a
setxattr a/sub/deeper/y user.deep z
getxattr a/sub/deeper/y user.deep
listxattr a/sub
listxattr a/sub/deeper
removexattr a/sub user.subattr
listxattr a/sub
readdir a/sub
setxattr h2 user.h v
getxattr h1 user.h
getxattr b/h3 user.h
listxattr a/lnk
setxattr a/lnk user.x v
listxattr xa
removexattr xa user.one
listxattr xa
cat xa
stat xa
mkdir nd 0755
setxattr nd user.a 1
listxattr nd
put nd/f x
setxattr nd/f user.b 2
listxattr nd/f
rename nd/f a/moved
listxattr a/moved
EOF
end

# -- permissions as a user (fsuid 1000): owners of new files, EACCES/EPERM --
mk "$T/perm.tar" <<'EOF'
dir pub mode=0777
dir priv mode=0700
file priv/x content=x
file ro content=ro\n mode=0644
file mine content=mine\n mode=0600 uid=1000 gid=1000
file mine_ro content=mro\n mode=0400 uid=1000 gid=1000
dir sticky mode=01777
file sticky/roots content=r mode=0666
file sticky/users content=u mode=0644 uid=1000 gid=1000
dir sg mode=02777 gid=50
file sg/old content=o gid=50
file suid content=suid\n mode=04777
file sgid content=sgid\n mode=02777 gid=50
file suid2 content=s2\n mode=06755
dir userdir mode=0755 uid=1000 gid=1000
file userdir/f content=uf mode=0644 uid=1000 gid=1000
EOF
begin perms "$T/perm.tar"
ops perms <<'EOF'
asuser 1000 1000
put ro x
append ro x
truncate ro 0
open f ro RDWR
put pub/new x
stat pub/new
mkdir pub/d 0777
stat pub/d
symlink x pub/s
lstat pub/s
mknod pub/p fifo 0666
stat pub/p
link ro pub/rolink
cat priv/x
readdir priv
put priv/y y
chmod ro 0666
chown ro 1000 1000
chown mine 1000 1000
chown mine 0 0
chown mine -1 50
chmod mine 0640
stat mine
cat mine
put mine_ro x
chmod mine_ro 0600
put mine_ro x
stat mine_ro
utimens ro 1 1
utimens ro now now
utimens mine 5.5 6.5
times mine
utimens mine now now
recent mine m
unlink sticky/roots
rename sticky/roots pub/r
unlink sticky/users
put sticky/mine m
stat sticky/mine
put sg/new x
stat sg/new
mkdir sg/sub 0755
stat sg/sub
put sg/sub/deep y
stat sg/sub/deep
chmod pub/new 02755
stat pub/new
put sg/new2 x
chmod sg/new2 02755
stat sg/new2
append suid more\n
stat suid
truncate sgid 1
stat sgid
put userdir/g g
rename userdir/f userdir/h
readdir userdir
unlink userdir/g
mkdir userdir/sub 0700
stat userdir/sub
stat userdir
asroot
chown suid2 5 5
stat suid2
chmod suid2 06755
chown suid2 -1 -1
stat suid2
chown pub/new 0 0
stat pub/new
EOF
end

# -- lower names as long as their whiteout allows (.wh. + 251 = 255 bytes), and
# longer (.wh. + 252 = 256 bytes does not fit in a name) --
begin longwh "${BASE[@]}"
ops longwh <<EOF
cat $W251
unlink $W251
stat $W251
readdir .
put $W251 back\n
cat $W251
cat $W252
put $L255 x
stat $L255
unlink $L255
stat $L255
mkdir $L255 0755
rmdir $L255
symlink x $L255
readlink $L255
EOF
# A lower name too long to be whited out (.wh. + 252 bytes > NAME_MAX)
# cannot be removed in OCI form: strata refuses, and changes nothing.
cat >"$T/longwh2.ops" <<LONGWH
unlink $W252
rename $W252 short
stat $W252
stat short
LONGWH
timeout -k 5 60 "$POSIXOPS" "$MNT" "$T/longwh2.ops" >"$T/longwh2.out" 2>&1 ||
	fail "longwh: posixops failed: $(head -c 300 "$T/longwh2.out")"
assert_eq 'longwh: unlink of a lower 252-byte name' '1: unlink w{252} => ENAMETOOLONG' \
	"$(sed -n 1p "$T/longwh2.out" | short)"
assert_eq 'longwh: rename of a lower 252-byte name' '2: rename w{252} short => ENAMETOOLONG' \
	"$(sed -n 2p "$T/longwh2.out" | short)"
case "$(sed -n 3p "$T/longwh2.out")" in
*' => ok '*) pass ;;
*) fail "longwh: the 252-byte name is gone: $(sed -n 3p "$T/longwh2.out" | short)" ;;
esac
assert_eq 'longwh: nothing was renamed' '4: stat short => ENOENT' "$(sed -n 4p "$T/longwh2.out")"
end

# -- copy-up of directories keeps their times, also after remount --
mk "$T/dirtimes.tar" <<'EOF'
dir x mode=0755 mtime=1500000001
dir x/y mode=0750 uid=4 gid=5 mtime=1500000002.5 xattr.user.y=yv
dir x/y/z mode=0700 mtime=1500000003
file x/y/z/old content=old mtime=1500000004
dir p mode=0755 mtime=1500000005
dir p/q mode=0711 mtime=1500000006
file p/q/f content=f mtime=1500000007
dir r mode=0755 mtime=1500000008
dir r/s mode=0755 mtime=1500000009
dir r/s/t mode=0755 mtime=1500000010
file r/s/t/file content=file mtime=1500000011
file r/s/t/file2 content=file2 mtime=1500000012
EOF
begin dirtimes "$T/dirtimes.tar"
ops dirtimes <<'EOF'
put x/y/z/new n
chmod p/q 0755
setxattr r/s/t/file user.k v
chmod r/s/t/file2 0600
mtime x
mtime x/y
recent x/y/z m
mtime p
mtime p/q
mtime p/q/f
mtime r
mtime r/s
mtime r/s/t
mtime r/s/t/file
mtime r/s/t/file2
stat x/y
listxattr x/y
EOF
post dirtimes-after-remount <<'EOF'
mtime x
mtime x/y
recent x/y/z m
mtime p
mtime p/q
mtime p/q/f
mtime r
mtime r/s
mtime r/s/t
mtime r/s/t/file
mtime r/s/t/file2
stat x/y
listxattr x/y
EOF
end

# -- strata alone: names starting .wh. are refused, the scratch space is unreachable --
begin whnames "${BASE[@]}"
cat >"$T/wh.ops" <<'EOF'
put .wh.foo x
put a/.wh.foo x
mkdir .wh.dir 0755
mkdir a/.wh..wh..opq 0755
put a/.wh..wh..opq x
open f .wh.new WRONLY|CREAT|EXCL
symlink x .wh.sym
link top .wh.link
link top a/.wh.f
rename top .wh.top
rename top a/.wh.f
rename2 top .wh.top NOREPLACE
mknod .wh.fifo fifo 0644
mknod .wh..wh..strata fifo 0644
mkdir .wh..wh..strata 0755
EOF
timeout -k 5 60 "$POSIXOPS" "$MNT" "$T/wh.ops" >"$T/wh.out" 2>&1 || fail "whnames: posixops failed: $(head -c 300 "$T/wh.out")"
expected=$(awk '{ printf "%d: %s => EINVAL\n", NR, $0 }' "$T/wh.ops")
assert_same_text 'whnames: creating a .wh. name gives EINVAL' "$expected" "$(cat "$T/wh.out")"
# Looking up such names (a whiteout of the lower layer, the scratch dir)
# finds nothing (ENOENT or EINVAL); nothing there can be changed.
cat >"$T/wh2.ops" <<'EOF'
stat .wh.wh
lstat opq/.wh..wh..opq
stat .wh..wh..strata
readdir .wh..wh..strata
put .wh..wh..strata/x y
mkdir .wh..wh..strata/d 0755
unlink .wh.wh
rmdir .wh..wh..strata
rename .wh..wh..strata s
rename .wh.wh w
cat .wh.wh
EOF
timeout -k 5 60 "$POSIXOPS" "$MNT" "$T/wh2.ops" >"$T/wh2.out" 2>&1 || fail "whnames: posixops failed: $(head -c 300 "$T/wh2.out")"
while IFS= read -r line; do
	case "$line" in
	*' => ENOENT' | *' => EINVAL') pass ;;
	*) fail "whnames: expected ENOENT or EINVAL: $line" ;;
	esac
done <"$T/wh2.out"
assert_eq 'whnames: one result per lookup' "$(wc -l <"$T/wh2.ops")" "$(wc -l <"$T/wh2.out")"
# And the tree is the reference's, untouched by all of the above.
end

# -- strata alone: a file opened before its copy-up --
begin openfd "${BASE[@]}"
cat >"$T/fd.ops" <<'EOF'
open r b/one RDONLY
read r 2
append b/one XYZ\n
pread r 0 100
close r
cat b/one
open r a/big RDONLY
truncate a/big 10
pread r 0 20
close r
EOF
timeout -k 5 60 "$POSIXOPS" "$MNT" "$T/fd.ops" >"$T/fd.out" 2>&1 || fail "openfd: posixops failed: $(head -c 300 "$T/fd.out")"
# The fd opened before the copy-up reads either the old or the new data
# (docs/upper-plan.md: readers keep the lower data until they reopen),
# whole, never a mix or an error; a new open reads the new data.
got=$(sed -n 4p "$T/fd.out")
case "$got" in
'4: pread r 0 100 => ok n=4 "one\n"' | '4: pread r 0 100 => ok n=8 "one\nXYZ\n"') pass ;;
*) fail "openfd: the old fd after a copy-up by append read: $got" ;;
esac
assert_eq 'openfd: a new open after the copy-up' '6: cat b/one => ok n=8 "one\nXYZ\n"' "$(sed -n 6p "$T/fd.out")"
got=$(sed -n 9p "$T/fd.out")
case "$got" in
'9: pread r 0 20 => ok n=20 '* | '9: pread r 0 20 => ok n=10 '*) pass ;;
*) fail "openfd: the old fd after a copy-up by truncate read: $got" ;;
esac
if [ "$got" != "${got#*n=20 }" ]; then
	assert_eq 'openfd: old fd, old data' "9: pread r 0 20 => ok n=20 \"$(pattern 0 20 5 | od -An -tx1 | tr -d ' \n' | sed 's/\(..\)/\\x\1/g')\"" "$got"
fi
for l in 1 2 3 5 7 8 10; do
	case "$(sed -n ${l}p "$T/fd.out")" in
	*' => ok'*) pass ;;
	*) fail "openfd: line $l: $(sed -n ${l}p "$T/fd.out")" ;;
	esac
done
# The reference gets the same changes, for the tree comparison.
timeout -k 5 60 "$POSIXOPS" "$REF" "$T/fd.ops" >/dev/null 2>&1 || die 'openfd: posixops on the reference failed'
end

finish
