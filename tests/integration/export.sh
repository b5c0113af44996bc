#!/bin/bash
# export: file handles (name_to_handle_at / open_by_handle_at, as NFS
# export and fanotify use them) still open their object after the kernel
# evicted its inode: lower files and directories, deep ones, copied-up,
# born in the upper, renamed; a removed object's handle is stale, also once
# the upper has given its inode number to a new file; lower objects' handles
# survive a remount, a lazily read directory lower's do not (stale, never
# another file).  As root, and directories with a rootless daemon.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${FHANDLE:?FHANDLE must name the fhandle binary}"

needs_evict

handle() {
	"$FHANDLE" encode "$1" || die "name_to_handle_at $1 failed"
}

# reads WHAT HANDLE TEXT: the handle opens a file holding TEXT.
reads() {
	local got
	got=$("$FHANDLE" read "$M" "$2" 2>&1) || true
	assert_eq "$1" "$3" "$got"
}

# is_at WHAT HANDLE PATH: the handle opens the object at PATH (same st_ino;
# a directory reconnected to PATH itself, through lookups of "..").
is_at() {
	local got
	got=$("$FHANDLE" stat "$M" "$2" 2>&1) || true
	case $3 in
	*/) assert_eq "$1" "$(stat -c %i "$3") ${3%/}" "$got" ;;
	*) assert_eq "$1" "$(stat -c %i "$3")" "${got%% *}" ;;
	esac
}

stale() {
	assert_fails_with "$1" "Stale file handle" "$FHANDLE" read "$M" "$2"
}

L=$T/lower
mkdir -p "$L/d" "$L/a/b/c/d/e" "$L/dm"
echo lower-file >"$L/f"
echo in-d >"$L/d/x"
echo deep >"$L/a/b/c/d/e/deep.txt"
echo copy-me >"$L/cu"
echo move-me >"$L/mv"
echo inner >"$L/dm/inner"
echo lower-gone >"$L/lgone"
tar -C "$L" -cf "$T/l.tar" .
U=$T/upper
M=$T/mnt
mkdir -p "$U"
smount "$M" --layer "$T/l.tar" --upper "$U"

h_f=$(handle "$M/f")
h_d=$(handle "$M/d")
h_deep=$(handle "$M/a/b/c/d/e/deep.txt")
h_deepdir=$(handle "$M/a/b/c/d")
h_cu_lower=$(handle "$M/cu") # before its copy-up
h_mv=$(handle "$M/mv")
h_dm=$(handle "$M/dm")
h_inner=$(handle "$M/dm/inner")
h_lgone=$(handle "$M/lgone")

echo changed >>"$M/cu"
h_cu=$(handle "$M/cu")
echo born >"$M/new"
mkdir "$M/nd"
echo nf >"$M/nd/nf"
echo renamed >"$M/nr"
h_new=$(handle "$M/new")
h_nd=$(handle "$M/nd")
h_nf=$(handle "$M/nd/nf")
h_nr=$(handle "$M/nr")
mv "$M/mv" "$M/d/moved"
mv "$M/dm" "$M/dm2"
mv "$M/nr" "$M/nd/nr2"
echo soon-gone >"$M/gone"
h_gone=$(handle "$M/gone")
rm "$M/gone" "$M/lgone"

evict
reads 'a lower file' "$h_f" lower-file
is_at 'a lower directory' "$h_d" "$M/d/"
reads 'a file deep in lower directories' "$h_deep" deep
is_at 'a directory deep down, reconnected' "$h_deepdir" "$M/a/b/c/d/"
reads 'a copied-up file, by its handle from before the copy-up' "$h_cu_lower" \
	"$(printf 'copy-me\nchanged')"
reads 'a copied-up file' "$h_cu" "$(printf 'copy-me\nchanged')"
reads 'a file born in the upper' "$h_new" born
is_at 'a directory born in the upper' "$h_nd" "$M/nd/"
reads 'a file in a directory born in the upper' "$h_nf" nf
reads 'a lower file renamed into another directory' "$h_mv" move-me
is_at 'a renamed lower directory' "$h_dm" "$M/dm2/"
reads 'a lower file in a renamed directory' "$h_inner" inner
reads 'a file born in the upper, renamed' "$h_nr" renamed
is_at 'a file born in the upper, renamed: where it is now' "$h_nr" "$M/nd/nr2"
stale 'an unlinked upper file' "$h_gone"
stale 'an unlinked lower file' "$h_lgone"
# Still in the cache, a second time: no different.
reads 'a lower file, cached' "$h_f" lower-file
reads 'a file born in the upper, cached' "$h_new" born

# The upper gives a removed file's inode number to the next file: the old
# handle must not open the new one.  A fresh ext4 does so at once (/tmp's
# has holes that other programs make and fill).
reuse_check() {
	local h_ra old old_m reused='' i
	echo first >"$M/ra"
	h_ra=$(handle "$M/ra")
	old=$(stat -c %i "$1/ra")
	old_m=$(stat -c %i "$M/ra")
	rm "$M/ra"
	evict
	sleep 0.5 # the daemon lets go of the removed file when it has the FORGET
	for i in $(seq 1 50); do
		echo second >"$M/rb$i"
		if [ "$(stat -c %i "$1/rb$i")" = "$old" ]; then
			reused=rb$i
			break
		fi
	done
	if [ -z "$reused" ]; then
		log "note: the upper did not reuse inode $old in 50 files"
		return 0
	fi
	assert_eq 'the new file has the removed one'\''s st_ino (and node id)' "$old_m" \
		"$(stat -c %i "$M/$reused")"
	stale 'a removed file whose number the upper reused (new file cached)' "$h_ra"
	evict
	stale 'a removed file whose number the upper reused' "$h_ra"
	reads 'the new file is fine' "$(handle "$M/$reused")" second
}
X=$T/ext4
mkdir -p "$X"
if truncate -s 32M "$T/ext4.img" && mkfs.ext4 -q "$T/ext4.img" 2>/dev/null &&
	mount -o loop "$T/ext4.img" "$X" 2>/dev/null; then
	MOUNTS+=("$X")
	mkdir "$X/u"
	M1=$M
	M=$T/mnt2
	smount "$M" --layer "$T/l.tar" --upper "$X/u"
	reuse_check "$X/u"
	sumount "$M"
	umount "$X"
	M=$M1
else
	log "note: no loop-mounted ext4: the reuse check runs on $U"
	reuse_check "$U"
fi

# A remount of the same stack: lower objects have the same node ids.
sumount "$M"
smount "$M" --layer "$T/l.tar" --upper "$U"
# Where the upper's own objects are, the daemon learns from lookups: until
# they are looked up again, their handles are stale (strata-mount(1)).
stale 'after remount: a file born in the upper' "$h_new"
stale 'after remount: a lower file renamed' "$h_mv"
reads 'after remount: a lower file' "$h_f" lower-file
reads 'after remount: a deep lower file' "$h_deep" deep
is_at 'after remount: a deep lower directory' "$h_deepdir" "$M/a/b/c/d/"
reads 'after remount: a copied-up file' "$h_cu_lower" "$(printf 'copy-me\nchanged')"
ls -R "$M" >/dev/null
evict
reads 'after remount and a listing: a file born in the upper' "$h_new" born
reads 'after remount and a listing: a lower file renamed' "$h_mv" move-me
sumount "$M"

# A lazily read directory lower numbers its nodes as it finds them: its
# handles hold in the mount that made them, within it through evictions,
# and are stale in the next one, where the number names another file
# (found in another order), never that file.
Z=$T/lazy
mkdir -p "$Z/p/x" "$Z/q/x"
echo in-p >"$Z/p/x/f"
echo in-q >"$Z/q/x/f"
smount "$M" -o "lowerdir=$Z"
ls "$M/q/x" "$M/p/x" >/dev/null
h_q=$(handle "$M/q/x/f")
h_qdir=$(handle "$M/q/x")
evict
reads 'a lazy lower: its handle in its mount, evicted' "$h_q" in-q
sumount "$M"
smount "$M" -o "lowerdir=$Z"
ls "$M/p/x" "$M/q/x" >/dev/null
h_p=$(handle "$M/p/x/f")
stale 'a lazy lower: a handle of the mount before (cached, same number)' "$h_q"
assert_fails_with 'a lazy lower: a directory handle of the mount before' "Stale file handle" \
	"$FHANDLE" dir "$M" "$h_qdir"
evict
stale 'a lazy lower: a handle of the mount before (evicted)' "$h_q"
reads "a lazy lower: this mount's handle" "$h_p" in-p
sumount "$M"

# Rootless (as in rootless.sh): inside its user namespace, a caller may
# open directories only by handle; the cache is dropped from outside.
if command -v unshare >/dev/null && command -v setpriv >/dev/null; then
	chmod 0666 /dev/fuse
	chmod 0755 "$T"
	R=$T/rl
	mkdir -p "$R/upper" "$R/mnt" "$R/c"
	cp "$T/l.tar" "$R/l.tar"
	chown -R 65534:65534 "$R"
	timeout -k 5 120 setpriv --reuid=65534 --regid=65534 --clear-groups unshare -Urm bash -c "
set -e
F='$FHANDLE'; M='$R/mnt'
'$STRATA' mount --cache-dir '$R/c' -l '$R/l.tar' --upper '$R/upper' \$M
mkdir \$M/nd \$M/nd/sub
mv \$M/dm \$M/dm2
for p in a/b/c/d nd/sub dm2; do \$F encode \$M/\$p >'$R/h.'\${p//\//_}; done
touch '$R/ready'
for i in \$(seq 1 300); do [ -e '$R/go' ] && break; sleep 0.1; done
for p in a/b/c/d nd/sub dm2; do
	\$F dir \$M \"\$(cat '$R/h.'\${p//\//_})\" || echo \"\$p failed\"
done
'$STRATA' umount \$M
" >"$R/out" 2>&1 &
	pid=$!
	wait_until 30 test -e "$R/ready" || log "rootless: the mount did not come up"
	evict
	touch "$R/go"
	wait "$pid" || fail "rootless: exit $?: $(cat "$R/out")"
	out=$(cat "$R/out")
	log "$out"
	for p in a/b/c/d nd/sub dm2; do
		assert_true "rootless: directory $p by its handle, reconnected" \
			grep -q " $R/mnt/$p\$" <<<"$out"
	done
else
	log "note: no unshare/setpriv: rootless part skipped"
fi

finish
