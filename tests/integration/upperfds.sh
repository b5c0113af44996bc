#!/usr/bin/env bash
# upperfds: the number of upper directories is bounded by the disk, not by
# the daemon's open-file limit (issue 13, item 8).  A daemon limited to
# 1024 descriptors serves the issue's 2,100 directories in one, then
# 100,000 pre-made in the upper and 5,000 made through the mount: lists
# and stats them all, makes a file in 15,000 of them, renames directories
# whose descriptors are cached or long evicted (also while processes sit
# in them), keeps a removed directory someone is in, and finds everything
# again after a remount.  With the daemon out of descriptors a listing
# fails or is whole, and a mkdir, mknod, symlink, link or create that
# fails leaves nothing in the upper.  As root without CAP_SYS_RESOURCE
# (the daemon cannot raise its limit) and rootless (root of a user
# namespace, as rootless.sh), on a tmpfs.
#
#   upperfds.sh                        both runs
#   upperfds.sh scenario MODE 100000   one run (what the two above start)
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NOFILE=1024
# The daemon's fds, at most: its cache may take a quarter of the limit
# (upper_fds.c); the rest is a handful of its own.
FD_BOUND=$((NOFILE / 4 + 64))

# mnt: mounts $U on $M with the daemon limited to $NOFILE descriptors
# (as root also without CAP_SYS_RESOURCE, which would let it raise them).
mnt() {
	local pre=()
	[ "$MODE" = rootless ] || pre=(setpriv --bounding-set=-sys_resource --inh-caps=-sys_resource)
	MOUNTS+=("$M")
	run "${pre[@]}" prlimit --nofile="$NOFILE:$NOFILE" "$STRATA" mount --cache-dir "$CACHE" \
		--layer "$T/lower.tar" --upper "$U" "$M"
	[ "$RC" = 0 ] || die "mount: exit $RC: $ERR"
}

umnt() {
	run "$STRATA" umount "$M"
	[ "$RC" = 0 ] || fail "umount: exit $RC: $ERR"
}

# count WHAT EXPECTED CMD...: CMD must succeed and print EXPECTED lines.
count() {
	local what=$1 exp=$2 got rc
	shift 2
	set +e
	got=$("$@" 2>"$T/count.err" | wc -l)
	rc=${PIPESTATUS[0]}
	set -e
	if [ "$rc" != 0 ]; then
		fail "$what: '$*' failed (exit $rc): $(head -c 300 "$T/count.err")"
	else
		assert_eq "$what" "$exp" "$got"
	fi
}

daemon_fds() {
	local p
	p=$(strata_pids "$M" | head -n 1)
	[ -n "$p" ] || {
		echo 0
		return
	}
	find "/proc/$p/fd" -mindepth 1 -maxdepth 1 | wc -l
}

# The issue's reproduction: 2100 upper directories at a limit of 1024.
check_many() {
	count "ls many: every one of 2100 directories" 2100 ls "$M/many"
	assert_true 'touch x at the root' touch "$M/x"
	assert_true 'mkdir in many' mkdir "$M/many/new"
	count 'new is one more' 2101 ls "$M/many"
}

# Directories through the mount: made/gN/dNNN, 10 x 500.
make_through_mount() {
	local g
	mkdir "$M/made"
	for g in 0 1 2 3 4 5 6 7 8 9; do
		mkdir "$M/made/g$g"
		seq -f "$M/made/g$g/d%03g" 0 499
	done | xargs mkdir || fail "mkdir of 5000 directories failed"
}

# Every directory listed and stat'ed (a listing is whole or fails), a file
# made in every made/ one and in every tenth pre/ one.
check_all() {
	count "ls made/g0" 500 ls "$M/made/g0"
	# (pre/'s directories are looked up and stat'ed, made/'s opened too)
	count "find: every directory listed and stat'ed" $((N + 5000)) \
		find "$M/pre" "$M/made" -mindepth 2 \( -path '*/pre/*' -prune -o -true \) \
		-type d -printf '%m %i\n'
	assert_true "daemon fds bounded ($(daemon_fds) <= $FD_BOUND)" \
		test "$(daemon_fds)" -le "$FD_BOUND"
	phase 'find'
	# (find ... -exec sh: one shell per batch, a create in each directory)
	find "$M/made" "$M/pre" -mindepth 2 -maxdepth 2 \( -path '*/made/*' -o -name 'd*0' \) \
		-exec sh -c 'for d; do : >"$d/f"; done' _ {} + || fail 'files made in the directories'
	count "a file in every made/ and every tenth pre/ directory" $((N / 10 + 5000)) \
		find "$U/pre" "$U/made" -mindepth 3 -type f -name f
}

# Renames of directories whose fds are cached (just used) or evicted
# (used long ago), then files made below them.
check_renames() {
	touch "$M/made/g9/d499/f"
	mv "$M/made/g9" "$M/made/r9" # cached
	mv "$M/made/g0" "$M/made/r0" # evicted (used before the 4500 others)
	mv "$M/pre/g01" "$M/pre/r01"
	touch "$M/made/r9/d499/after" "$M/made/r0/d007/after" "$M/pre/r01/d0001/after"
	assert_true 'after: cached dir renamed' test -f "$U/made/r9/d499/after"
	assert_true 'after: evicted dir renamed' test -f "$U/made/r0/d007/after"
	assert_true 'after: pre-made dir renamed' test -f "$U/pre/r01/d0001/after"
	mv "$M/made/r9" "$M/made/g9"
	mv "$M/made/r0" "$M/made/g0"
	mv "$M/pre/r01" "$M/pre/g01"
}

# A directory someone is in, removed, and its fd long evicted: as on any
# file system, it can be stat'ed (no links) and listed (empty), and
# nothing can be made in it.
check_removed_cwd() {
	local out
	mkdir "$M/gone"
	out=$(cd "$M/gone" && rmdir "$M/gone" && find "$M/pre/g20" -printf '%m\n' >/dev/null &&
		stat -c '%h %F' . && find . -mindepth 1 | wc -l && { touch f 2>/dev/null || echo refused; }) ||
		true
	assert_eq 'removed cwd: stat, ls, touch' "$(printf '0 directory\n0\nrefused')" "$out"
}

# After a remount: what was made is there, listings whole.
check_remounted() {
	count 'remounted: ls many' 2101 ls "$M/many"
	count 'remounted: made/' 5000 find "$M/made" -mindepth 2 -type d
	count 'remounted: files in made/' 5002 find "$M/made" -type f
	count 'remounted: ls pre/g99' 1000 ls "$M/pre/g99"
	assert_true 'remounted: a file in pre/g99/d0990' test -f "$M/pre/g99/d0990/f"
	assert_true 'remounted: no file in pre/g99/d0991' test ! -e "$M/pre/g99/d0991/f"
}

all_ready() { [ "$(find "$T" -maxdepth 1 -name 'ready*' | wc -l)" = 10 ]; }

# Processes sit in directories (their cwd) while their parents are
# swapped by name, and the cache evicts their fds: what each makes must
# land in the directory it sits in, found by its "id" file.
check_swaps() {
	local i pids=() end
	mkdir "$M/A" "$M/B"
	for i in $(seq 0 299); do
		mkdir "$M/A/s$i" "$M/B/s$i"
		echo "A$i" >"$M/A/s$i/id"
		echo "B$i" >"$M/B/s$i/id"
	done
	for i in $(seq 0 9); do
		(cd "$M/A/s$i" && touch "$T/ready$i" && sleep 1 && find "$M/pre/g1$i" -printf '%m\n' >/dev/null &&
			touch "made-$(cat id)") &
		pids+=($!)
	done
	wait_until 10 all_ready || fail 'swaps: the processes did not start'
	end=$((SECONDS + 3))
	while [ "$SECONDS" -lt "$end" ]; do
		mv "$M/A" "$M/T" && mv "$M/B" "$M/A" && mv "$M/T" "$M/B"
	done
	for i in "${pids[@]}"; do
		wait "$i" || fail "a process in A/s* failed"
	done
	count 'swaps: files made' 10 find "$U/A" "$U/B" -name 'made-*'
	while IFS= read -r f; do
		assert_eq "swaps: $f is in its own directory" "made-$(cat "${f%/*}/id")" "${f##*/}"
	done < <(find "$U/A" "$U/B" -name 'made-*')
}

# With the daemon out of descriptors (its soft limit lowered under the
# fds it has), a listing fails or is whole, and what fails leaves nothing
# behind; with descriptors again, all works.
check_out_of_fds() {
	local p n rc f
	p=$(strata_pids "$M" | head -n 1)
	[ -n "$p" ] || die 'no daemon'
	prlimit --pid "$p" --nofile="3:$NOFILE" || die "prlimit --pid $p"
	set +e
	n=$(find "$M/pre/g42" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	rc=${PIPESTATUS[0]}
	set -e
	if [ "$rc" = 0 ]; then
		assert_eq 'out of fds: a listing that succeeds is whole' 1000 "$n"
	else
		pass
	fi
	mkdir "$M/fail-dir" 2>/dev/null || true
	mkfifo "$M/fail-fifo" 2>/dev/null || true
	ln -s target "$M/fail-link" 2>/dev/null || true
	ln "$M/x" "$M/fail-hard" 2>/dev/null || true
	(: >"$M/fail-file") 2>/dev/null || true
	prlimit --pid "$p" --nofile="$NOFILE:$NOFILE" || die "prlimit --pid $p"
	for f in fail-dir fail-fifo fail-link fail-hard fail-file; do
		if [ -e "$M/$f" ] || [ -L "$M/$f" ]; then
			fail "out of fds: $f was made"
		else
			assert_false "out of fds: $f failed and left nothing in the upper" \
				test -e "$U/$f" -o -L "$U/$f"
		fi
	done
	count 'fds again: ls pre/g42' 1000 ls "$M/pre/g42"
	assert_true 'fds again: mkdir' mkdir "$M/fail-dir"
	assert_true 'fds again: the directory is in the upper' test -d "$U/fail-dir"
}

# phase NAME: says how long the last phase took.
phase() {
	log "$MODE: $((SECONDS - PHASE_START)) s to $1"
	PHASE_START=$SECONDS
}

scenario() {
	local g
	MODE=$1 N=$2
	U=$T/u M=$T/m
	PHASE_START=$SECONDS
	mkdir -p "$T/lower/etc" "$T/lower/low/a" "$U/many" "$U/pre" "$M"
	echo f >"$T/lower/etc/f"
	tar -C "$T/lower" -cf "$T/lower.tar" .
	(cd "$U/many" && seq -f d%05g 1 2100 | xargs mkdir)
	for ((g = 0; g < N / 1000; g++)); do
		mkdir "$U/pre/g$(printf %02d "$g")"
		seq -f "$U/pre/g$(printf %02d "$g")/d%04g" 0 999
	done | xargs mkdir
	phase "make the upper ($N directories)"
	mnt
	check_many
	phase 'mount, list many'
	make_through_mount
	phase "mkdir 5000 directories"
	check_all
	phase "make $((N / 10 + 5000)) files"
	check_renames
	check_swaps
	check_removed_cwd
	phase 'renames'
	umnt
	mnt
	check_remounted
	phase 'remount, check'
	check_out_of_fds
	umnt
	phase 'fail with the daemon out of fds'
	finish
}

if [ "${1:-}" = scenario ]; then
	scenario "$2" "$3"
fi

# On a tmpfs: the directories are many, the disk may be slow, and the
# number of descriptors does not depend on the file system.
chmod 0755 "$T"
mkdir "$T/fs"
mount -t tmpfs -o size=2g,mode=1777 strata-upperfds "$T/fs" || skip "cannot mount a tmpfs"
MOUNTS+=("$T/fs")
start=$SECONDS
if TMPDIR=$T/fs bash "$0" scenario root 100000 >"$T/root.out" 2>&1; then pass; else fail "as root"; fi
cat "$T/root.out"
log "root: $((SECONDS - start)) s"
if command -v unshare >/dev/null && command -v setpriv >/dev/null; then
	chmod 0666 /dev/fuse
	start=$SECONDS
	if TMPDIR=$T/fs setpriv --reuid=65534 --regid=65534 --clear-groups unshare -Urm \
		bash "$0" scenario rootless 100000 >"$T/rootless.out" 2>&1; then
		pass
	else
		fail "rootless"
	fi
	cat "$T/rootless.out"
	log "rootless: $((SECONDS - start)) s"
fi
finish
