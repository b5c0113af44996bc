#!/bin/bash
# programs: real programs writing through the mount (--upper), each run
# the same way on a plain directory that holds what the layers hold, and
# the results compared, then again after umount + mount of the same
# layers and upper.
#
# sqlite3: a database that is in a lower layer (made here by sqlite3) is
# changed in place: a transaction of many rows committed, one rolled back,
# one rolled back after sqlite spilled changed pages into the database
# file (a tiny page cache), a WAL database made next to it (its -shm file
# is mmapped shared); contents (.sha3sum), integrity_check and the
# database files themselves must match the plain directory's.
#
# tar -x of real Debian packages (data.tar of .debs: setuid/setgid files,
# symlinks, hard links, deep trees) over a lower layer that is itself a
# package, with names of other types in the way, then the lower package
# extracted again over itself (every lower file replaced, its hard links
# too): diff -r and a stat listing (type, mode, owner, size, mtime, link
# count, symlink target) against the same tar commands on a plain dir.
# (upper.sh covers tar -x of /usr/share/doc, git and gcc.)
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if ! grep -q -- '--upper' <<<"$("$STRATA" mount --help 2>&1)"; then
	die "strata mount has no --upper option (the writable upper layer is not in this binary)"
fi

SCRATCH=.wh..wh..strata
M=$T/mnt

# changeset DIR: "type path" of everything in the upper DIR but strata's
# scratch space.
changeset() {
	(cd "$1" && find . -mindepth 1 -path "./$SCRATCH" -prune -o -printf '%y %p\n') | sort
}

# same_inode DIR A B: "same" when A and B below DIR are one inode.
same_inode() {
	[ "$(stat -c %i "$1/$2")" = "$(stat -c %i "$1/$3")" ] && echo same || echo different
}

# ---- sqlite3 ----

if ! command -v sqlite3 >/dev/null; then
	die 'sqlite3 is not installed (.ci/setup installs it)'
fi

# The lower layer: a database sqlite3 made, with an index, in a directory.
mkdir -p "$T/dbsrc/data"
sqlite3 "$T/dbsrc/data/app.db" <<'EOF' || die 'sqlite3 cannot make the lower database'
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL, n INTEGER);
CREATE INDEX t_n ON t(n);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 1000)
INSERT INTO t SELECT i, 'lower-' || i, i * 7 % 1009 FROM c;
EOF
touch -d @1600000000 "$T/dbsrc/data/app.db" "$T/dbsrc/data"
tar -C "$T/dbsrc" --numeric-owner -cf "$T/db.tar" data
db_tar_sum=$(sha256sum <"$T/db.tar")
DBREF=$T/dbref
mkdir "$DBREF"
tar -C "$DBREF" --numeric-owner -xpf "$T/db.tar"

# sql ROOT NAME: runs the SQL on stdin with sqlite3 on ROOT/data/app.db
# (the shell's dot commands allowed); output (stdout and stderr) in
# $T/NAME.ROOTNAME, exit status in SQLRC.
sql() {
	local root=$1 name=$2 db=${3:-app.db}
	set +e
	(cd "$root/data" && timeout -k 5 120 sqlite3 -bail "$db") >"$T/$name.$(basename "$root")" 2>&1
	SQLRC=$?
	set -e
}

# sql_both NAME [DB]: the SQL on stdin on the plain directory and in the
# mount; both must succeed and print the same.
sql_both() {
	local name=$1 db=${2:-app.db}
	cat >"$T/$name.sql"
	sql "$DBREF" "$name" "$db" <"$T/$name.sql"
	[ "$SQLRC" = 0 ] || die "sqlite3 $name on the plain directory: exit $SQLRC: $(head -5 "$T/$name.dbref")"
	sql "$M" "$name" "$db" <"$T/$name.sql"
	assert_eq "sqlite3 $name in the mount: exit status (output: $(head -c 300 "$T/$name.mnt"))" 0 "$SQLRC"
	assert_same_text "sqlite3 $name: the mount (+) vs a plain directory (-)" \
		"$(cat "$T/$name.dbref")" "$(cat "$T/$name.mnt")"
}

# The content check: counts, sums, a hash of every table, integrity.
CHECK_SQL="SELECT count(*), sum(n), max(id), min(name) FROM t;
SELECT count(*) FROM t WHERE name LIKE 'lower-%';
.sha3sum --schema
PRAGMA integrity_check;"

U=$T/upper
mkdir "$U"
smount "$M" --upper "$U" --layer "$T/db.tar"

# Read-only, the database is read from the layer (sqlite3 opens it
# O_RDWR otherwise, and that copies it up, as on overlayfs).
assert_eq 'sqlite3 -readonly: the rows of the lower database' 1000 \
	"$(sqlite3 -readonly "$M/data/app.db" 'SELECT count(*) FROM t' 2>&1)"
assert_false 'sqlite3 -readonly copies nothing up' test -e "$U/data/app.db"

sql_both 'read the lower database' <<<"$CHECK_SQL"
assert_eq 'sqlite3: the lower database has its 1000 rows' \
	"1000|$(sqlite3 "$T/dbsrc/data/app.db" 'SELECT sum(n) FROM t')|1000|lower-1" \
	"$(head -1 "$T/read the lower database.mnt")"
sql_both 'a committed transaction of 50000 rows' <<'EOF'
BEGIN;
WITH RECURSIVE c(i) AS (SELECT 1001 UNION ALL SELECT i + 1 FROM c WHERE i < 51000)
INSERT INTO t SELECT i, 'upper-' || i || '-' || hex(zeroblob(i % 40)), i * 13 % 10007 FROM c;
UPDATE t SET n = n + 1 WHERE id % 3 = 0;
DELETE FROM t WHERE id % 97 = 0;
COMMIT;
SELECT count(*), sum(n) FROM t;
EOF
assert_eq 'sqlite3: the committed rows are there' 50475 \
	"$(cut -d'|' -f1 "$T/a committed transaction of 50000 rows.mnt")"

sql_both 'a rolled-back transaction' <<'EOF'
BEGIN;
DELETE FROM t WHERE id > 500;
INSERT INTO t(name, n) VALUES ('rolled-back', -1);
SELECT count(*) FROM t;
ROLLBACK;
SELECT count(*), sum(n) FROM t WHERE n >= 0;
SELECT count(*) FROM t WHERE name = 'rolled-back';
EOF

# With 5 pages of cache, sqlite writes changed pages into the database
# file before COMMIT; ROLLBACK must then put the old pages back from the
# journal (writes into the copied-up file, then reads of the journal).
sql_both 'a rollback after pages spilled to the file' <<'EOF'
PRAGMA cache_size = 5;
BEGIN;
UPDATE t SET name = name || '-changed-' || hex(zeroblob(20)), n = -n;
SELECT count(*) FROM t WHERE n < 0;
ROLLBACK;
SELECT count(*) FROM t WHERE n < 0;
EOF
assert_eq 'sqlite3: the spilled transaction changed rows before its rollback' \
	"$(printf '%s\n' 50471 0)" "$(cat "$T/a rollback after pages spilled to the file.mnt")"
if cmp -s "$U/data/app.db" "$T/dbsrc/data/app.db"; then
	fail 'sqlite3: the database in the upper is still the lower one (nothing was written?)'
else
	pass
fi

# A WAL database made in the mount, next to the lower one: -wal and -shm
# files, the -shm one mmapped shared; a reader while a writer commits;
# a checkpoint.
sql_both 'a WAL database' wal.db <<'EOF'
PRAGMA journal_mode = WAL;
CREATE TABLE w(k INTEGER PRIMARY KEY, v TEXT);
BEGIN;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000)
INSERT INTO w SELECT i, printf('%08d', i * 31) FROM c;
COMMIT;
SELECT count(*), sum(k) FROM w;
PRAGMA wal_checkpoint(TRUNCATE);
DELETE FROM w WHERE k % 2 = 0;
SELECT count(*) FROM w;
PRAGMA integrity_check;
EOF
# A reader process keeps its snapshot while a writer process commits (WAL:
# the -shm file, mmapped by both, says which frames each may see).
# wal_rw ROOT: prints the reader's and the writer's outputs.
wal_rw() {
	local root=$1 pid rc=0
	rm -f "$T/fifo" "$T/started" "$T/reader.out"
	mkfifo "$T/fifo"
	(cd "$root/data" && exec timeout -k 5 60 sqlite3 -bail wal.db) <"$T/fifo" >"$T/reader.out" 2>&1 &
	pid=$!
	exec 9>"$T/fifo"
	printf '%s\n' 'BEGIN;' 'SELECT count(*) FROM w;' ".system touch $T/started" >&9
	if ! wait_until 20 test -e "$T/started"; then
		echo 'the reader did not start'
	fi
	(cd "$root/data" && timeout -k 5 60 sqlite3 -bail wal.db \
		"INSERT INTO w(v) VALUES ('from-writer'); SELECT 'writer', count(*) FROM w;") 2>&1 || echo "writer failed: $?"
	printf '%s\n' 'SELECT count(*) FROM w;' 'COMMIT;' 'SELECT count(*) FROM w;' >&9
	exec 9>&-
	wait "$pid" || rc=$?
	[ "$rc" = 0 ] || echo "reader failed: $rc"
	cat "$T/reader.out"
}
wal_ref=$(wal_rw "$DBREF")
assert_eq 'WAL reader and writer on the plain directory (what the test expects)' \
	"$(printf '%s\n' 'writer|10001' 10000 10000 10001)" "$wal_ref"
assert_same_text 'WAL: a reader process and a writer process (plain dir -, mount +)' "$wal_ref" "$(wal_rw "$M")"
for f in data/app.db data/wal.db; do
	assert_same_file "sqlite3: $f, byte for byte (plain dir vs mount)" "$DBREF/$f" "$M/$f"
done
assert_eq 'sqlite3: no journal left in the mount' '' \
	"$(find "$M/data" -maxdepth 1 \( -name '*-journal' -o -name '*-wal' -o -name '*-shm' \) -printf '%f\n')"

sumount "$M"
assert_eq 'sqlite3: the upper holds the databases, no journal, no whiteout' \
	"$(printf '%s\n' 'd ./data' 'f ./data/app.db' 'f ./data/wal.db')" \
	"$(changeset "$U")"
assert_eq 'sqlite3: the lower layer tar is unchanged' "$db_tar_sum" "$(sha256sum <"$T/db.tar")"

smount "$M" --upper "$U" --layer "$T/db.tar"
sql_both 'after remount' <<<"$CHECK_SQL"
assert_eq 'sqlite3 after remount: integrity_check' ok "$(tail -1 "$T/after remount.mnt")"
assert_eq 'sqlite3 after remount: the committed rows' 50475 "$(head -1 "$T/after remount.mnt" | cut -d'|' -f1)"
sql_both 'after remount: the WAL database' wal.db <<'EOF'
SELECT count(*), max(v) FROM w;
PRAGMA integrity_check;
EOF
# And it still takes writes after the remount.
sql_both 'after remount: a new transaction' <<'EOF'
BEGIN;
INSERT INTO t(name, n) VALUES ('after-remount', 1);
COMMIT;
PRAGMA integrity_check;
EOF
sumount "$M"

# ---- tar -x of real Debian packages ----

# deb_of NAME: the path of a NAME_*.deb, from apt's cache, else downloaded.
deb_of() {
	local f
	f=$(compgen -G "/var/cache/apt/archives/${1}_*.deb" | sort -V | tail -n 1 || true)
	if [ -z "$f" ]; then
		mkdir -p "$T/debs"
		chown _apt "$T/debs" 2>/dev/null || true
		(cd "$T/debs" && timeout 120 apt-get download -q "$1") >"$T/apt.log" 2>&1 || true
		f=$(compgen -G "$T/debs/${1}_*.deb" | tail -n 1 || true)
	fi
	printf '%s\n' "$f"
}
BASE_DEB=$(deb_of perl-base)
NEW_DEB=$(deb_of passwd)
if [ -z "$BASE_DEB" ] || [ -z "$NEW_DEB" ]; then
	die "no perl-base or passwd .deb in /var/cache/apt/archives and apt-get download failed: $(tail -3 "$T/apt.log")"
fi
log "packages: $(basename "$BASE_DEB") (lower layer), $(basename "$NEW_DEB") (extracted)"
dpkg-deb --fsys-tarfile "$BASE_DEB" >"$T/base.tar"
dpkg-deb --fsys-tarfile "$NEW_DEB" >"$T/new.tar"
tar -tvf "$T/base.tar" >"$T/base.list"
tar -tvf "$T/new.tar" >"$T/new.list"
# What makes the check worth something: the packages have what we want.
assert_true 'perl-base has a hard link' grep -q ' link to ' "$T/base.list"
assert_true 'passwd has setuid files' grep -q '^-rws' "$T/new.list"
assert_true 'passwd has setgid files' grep -q '^-rwxr-s' "$T/new.list"
assert_true 'passwd has symlinks' grep -q '^l' "$T/new.list"

# A second lower layer with names in the way of passwd's: a symlink where
# it has a directory, a file where it has a symlink, a directory where it
# has a file, a file it replaces (other mode, owner, content).
# (awk reads files: a pipe cut short would kill tar with SIGPIPE.)
new_dir=$(awk '$1 ~ /^d/ && $6 ~ /^\.\/usr\/share\/doc\/[^\/]+\/$/ { print $6; exit }' "$T/new.list")
new_link=$(awk '$1 ~ /^l/ { print $6; exit }' "$T/new.list")
new_file=$(awk '$1 ~ /^-rws/ { print $6; exit }' "$T/new.list")
new_file2=$(awk '$1 ~ /^-rw-r--r--/ && $6 ~ /man/ { print $6; exit }' "$T/new.list")
for v in new_dir new_link new_file new_file2; do
	[ -n "${!v}" ] || die "passwd's tar has no name for $v"
done
new_dir=${new_dir%/}
log "in the way: $new_dir (symlink), $new_link (file), $new_file (dir), $new_file2 (file)"
# In tree order (sorted by name, parents first), or GNU tar, making the
# plain directory, touches directories after it has set their times.
clash_spec() {
	local p d
	# The parents (the union needs them; their modes as in Debian).
	for p in "$new_dir" "$new_link" "$new_file" "$new_file2"; do
		d=$(dirname "${p#./}")
		while [ "$d" != . ]; do
			printf 'dir %s mode=0755 mtime=1600000000\n' "$d"
			d=$(dirname "$d")
		done
	done
	printf 'symlink %s target=perl-base\n' "${new_dir#./}"
	printf 'file %s content=in-the-way\\n mode=0600 uid=3 mtime=1600000000\n' "${new_link#./}"
	printf 'dir %s mode=0700 mtime=1600000000\n' "${new_file#./}"
	printf 'file %s content=old-man-page mode=0640 uid=5 gid=6 mtime=1600000000\n' "${new_file2#./}"
}
clash_spec | sort -u -k 2,2 | mk "$T/clash.tar"

# The plain directory: the two lower layers extracted in order (no names
# of the second are in the first, no whiteouts).
TREF=$T/tarref
mkdir "$TREF"
tar -C "$TREF" --numeric-owner -xpf "$T/base.tar"
tar -C "$TREF" --numeric-owner --warning=no-unknown-keyword -xpf "$T/clash.tar"
U2=$T/upper2
mkdir "$U2"
smount "$M" --upper "$U2" --layer "$T/base.tar" --layer "$T/clash.tar"
assert_same_text 'before tar -x: the mount shows what the plain directory holds' \
	"$(tree_listing "$TREF")" "$(tree_listing "$M")"

# tar_both WHAT TAR-ARGS...: the same tar command in both; same exit
# status and messages (names are relative, so they read the same).
tar_both() {
	local what=$1 rc_ref rc_mnt
	shift
	set +e
	tar -C "$TREF" "$@" >"$T/tar.ref" 2>&1
	rc_ref=$?
	tar -C "$M" "$@" >"$T/tar.mnt" 2>&1
	rc_mnt=$?
	set -e
	assert_eq "$what: tar exit status in the mount (plain dir: $rc_ref; output: $(head -c 300 "$T/tar.mnt"))" \
		"$rc_ref" "$rc_mnt"
	assert_same_text "$what: tar's messages (plain dir -, mount +)" "$(cat "$T/tar.ref")" "$(cat "$T/tar.mnt")"
}

# listing DIR: tree_listing, with mtimes of the last hour shown as "new":
# GNU tar leaves some at the time it ran (it makes symlinks last, in
# directories whose times it has set already), which differs by some ms.
CUTOFF=$(($(date +%s) - 3600))
listing() {
	tree_listing "$1" | awk -v c="$CUTOFF" '$7 + 0 > c { $7 = "new" } { print }'
}

# compare_trees WHAT: the mount vs the plain directory.
compare_trees() {
	local what=$1
	assert_same_text "$what: stat listing (plain dir -, mount +)" "$(listing "$TREF")" "$(listing "$M")"
	assert_same_text "$what: contents" "$(content_sums "$TREF")" "$(content_sums "$M")"
	if diff -r --no-dereference "$TREF" "$M" >"$T/diff.out" 2>&1; then pass; else
		fail "$what: diff -r: $(head -c 600 "$T/diff.out")"
	fi
}

tar_both 'tar -x of passwd' --numeric-owner -xpf "$T/new.tar"
# GNU tar goes on after an error: the messages are compared above, and
# the type changes must have happened (tar does that on a plain dir).
assert_stat "tar -x: $new_dir became a directory" '%F' "$M/$new_dir" directory
assert_stat "tar -x: $new_file became a setuid file" '%F|%A' "$M/$new_file" "regular file|$(stat -c %A "$TREF/$new_file")"
compare_trees 'tar -x of passwd'

# perl-base extracted again over itself: every lower file unlinked and
# made again, the hard link made again between the new files.
tar_both 'tar -x of perl-base over itself' --numeric-owner -xpf "$T/base.tar"
hl=$(awk '/ link to / { print $6, $9; exit }' "$T/base.list")
read -r hl_a hl_b <<<"$hl"
assert_eq "tar -x again: $hl_a and $hl_b are one inode in the mount" same "$(same_inode "$M" "$hl_a" "$hl_b")"
assert_stat "tar -x again: $hl_a has 2 links" '%h' "$M/$hl_a" 2
compare_trees 'tar -x of perl-base over itself'
snap_list=$(listing "$M")
snap_sums=$(content_sums "$M")
sumount "$M"
assert_true "the upper holds the re-extracted $hl_a" test -f "$U2/$hl_a"
assert_eq "in the upper, $hl_a and $hl_b are one inode" same "$(same_inode "$U2" "$hl_a" "$hl_b")"
smount "$M" --upper "$U2" --layer "$T/base.tar" --layer "$T/clash.tar"
assert_same_text 'after remount: stat listing' "$snap_list" "$(listing "$M")"
assert_same_text 'after remount: contents' "$snap_sums" "$(content_sums "$M")"
compare_trees 'after remount'
sumount "$M"

finish
