#!/bin/bash
# stateless: a lower file nothing changed has no inode in the daemon (its
# node id names its layer entry, issue 16).  Through the kernel: stat, read,
# readlink and xattrs of such files; copy-up by write, chmod, setxattr and
# truncate while the kernel holds the file (an fd open before it); rename
# and unlink of a held lower file; hard links across directories; every
# inode dropped from the kernel's caches (drop_caches) and looked up again;
# file handles of them.  And the point of it: an lstat walk of 40,000 lower
# files leaves the daemon's anonymous memory about where it was.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${FHANDLE:?FHANDLE must name the fhandle binary}"
needs_evict

mk "$T/l.tar" <<'EOF'
dir d
file d/read content=lower-read\n xattr.user.k=v0
file d/w content=before\n
file d/chmod content=c\n mode=0644
file d/xattr content=x\n
file d/trunc content=0123456789\n
file d/rn content=rename-me\n
file d/ul content=unlink-me\n
file d/kept content=kept\n
symlink d/sym target=read
dir e
hardlink e/hl target=d/read
file e/own content=own\n
EOF
U=$T/upper
M=$T/mnt
mkdir -p "$U"
smount "$M" --layer "$T/l.tar" --upper "$U"

# Everything below happens while one process holds an fd of each file,
# opened before any change: the kernel holds their ids throughout.
out=$(python3 - "$M" <<'PYEOF'
import os, sys
m = sys.argv[1]
p = lambda n: os.path.join(m, n)
def show(what, v): print(f"{what}: {v}")
def read_fd(fd): return os.pread(fd, 100, 0).decode()

fds = {n: os.open(p(n), os.O_RDONLY) for n in
       ("d/read", "d/w", "d/chmod", "d/xattr", "d/trunc", "d/rn", "d/ul", "e/hl")}
ino = {n: os.fstat(fd).st_ino for n, fd in fds.items()}

# Reads from the id alone.
show("read", repr(read_fd(fds["d/read"])))
show("xattr", os.getxattr(fds["d/read"], "user.k").decode())
show("listxattr", sorted(os.listxattr(fds["d/read"])))
show("readlink", os.readlink(p("d/sym")))
show("lstat sym", oct(os.lstat(p("d/sym")).st_mode))
show("hard link shares the id", ino["d/read"] == ino["e/hl"])
show("nlink", os.stat(p("d/read")).st_nlink)

# Copy-ups while held: the fd and the name see the same object after.
with open(p("d/w"), "a") as f:
    f.write("after\n")
show("write: fd reads", repr(read_fd(fds["d/w"])))
show("write: same id", os.stat(p("d/w")).st_ino == ino["d/w"] == os.fstat(fds["d/w"]).st_ino)
os.chmod(p("d/chmod"), 0o600)
show("chmod: fd sees", oct(os.fstat(fds["d/chmod"]).st_mode & 0o777))
os.fchmod(fds["d/chmod"], 0o640)
show("fchmod: name sees", oct(os.stat(p("d/chmod")).st_mode & 0o777))
os.setxattr(p("d/xattr"), "user.new", b"1")
show("setxattr: fd sees", os.getxattr(fds["d/xattr"], "user.new").decode())
os.truncate(p("d/trunc"), 3)
show("truncate: fd reads", repr(read_fd(fds["d/trunc"])))
show("truncate: size", os.fstat(fds["d/trunc"]).st_size)

# A rename moves the object the kernel holds: its fd follows it.
os.rename(p("d/rn"), p("d/rn2"))
show("rename: same id", os.stat(p("d/rn2")).st_ino == ino["d/rn"])
os.fchmod(fds["d/rn"], 0o700)
show("rename: fchmod lands on the new name", oct(os.stat(p("d/rn2")).st_mode & 0o777))
with open(p("d/rn2"), "a") as f:
    f.write("moved\n")
show("rename: fd reads", repr(read_fd(fds["d/rn"])))
show("rename: old name", os.path.exists(p("d/rn")))

# An unlinked lower file stays readable through its fd; a new file of its
# name is another.
os.unlink(p("d/ul"))
show("unlink: gone", os.path.exists(p("d/ul")))
show("unlink: fd reads", repr(read_fd(fds["d/ul"])))
with open(p("d/ul"), "w") as f:
    f.write("new\n")
show("unlink: new file is another", os.stat(p("d/ul")).st_ino != ino["d/ul"])
show("unlink: old fd reads", repr(read_fd(fds["d/ul"])))

# Hard links: a write through one name, read through the other (the
# kernel holds one inode for both).
with open(p("e/hl"), "a") as f:
    f.write("linked\n")
show("hard link: e/hl", repr(open(p("e/hl")).read()))
show("hard link: d/read", repr(open(p("d/read")).read()))
for fd in fds.values():
    os.close(fd)
PYEOF
) || fail "the held-files script failed: $out"
assert_same_text 'held lower files' "read: 'lower-read\n'
xattr: v0
listxattr: ['user.k']
readlink: read
lstat sym: 0o120777
hard link shares the id: True
nlink: 2
write: fd reads: 'before\nafter\n'
write: same id: True
chmod: fd sees: 0o600
fchmod: name sees: 0o640
setxattr: fd sees: 1
truncate: fd reads: '012'
truncate: size: 3
rename: same id: True
rename: fchmod lands on the new name: 0o700
rename: fd reads: 'rename-me\nmoved\n'
rename: old name: False
unlink: gone: False
unlink: fd reads: 'unlink-me\n'
unlink: new file is another: True
unlink: old fd reads: 'unlink-me\n'
hard link: e/hl: 'lower-read\nlinked\n'
hard link: d/read: 'lower-read\nlinked\n'" "$out"

# Every inode forgotten, then looked up again: the same tree.
state() { (cd "$M" && find . -printf '%p %i %m %s\n' | sort && find . -type f -exec cat {} + | md5sum); }
before=$(state)
evict
assert_same_text 'after drop_caches' "$before" "$(state)"
evict
assert_content 'kept, after drop_caches' "$M/d/kept" 'kept\n'
assert_content 'written, after drop_caches' "$M/d/w" 'before\nafter\n'
assert_stat 'chmod, after drop_caches' '%a' "$M/d/chmod" 640

# File handles of a lower file nothing changed, and of one changed since.
h_kept=$("$FHANDLE" encode "$M/d/kept") || die "name_to_handle_at d/kept failed"
h_own=$("$FHANDLE" encode "$M/e/own") || die "name_to_handle_at e/own failed"
evict
assert_eq 'handle of a lower file, evicted' kept "$("$FHANDLE" read "$M" "$h_kept" 2>&1)"
printf 'changed\n' >"$M/e/own"
evict
assert_eq 'handle of a file changed since' changed "$("$FHANDLE" read "$M" "$h_own" 2>&1)"
sumount "$M"

# Memory: 40,000 lower files walked with lstat.  Each used to cost an
# inode object (~100 bytes with its share of the hash table).
N_DIRS=40 N_FILES=1000
for ((i = 0; i < N_DIRS; i++)); do
	printf 'dir m%d\n' "$i"
	for ((j = 0; j < N_FILES; j++)); do
		printf 'file m%d/f%d content=x\n' "$i" "$j"
	done
done >"$T/many.spec"
mk "$T/many.tar" <"$T/many.spec"
# One worker thread: more of them, started as the load asks, bring their
# own buffers and arenas, megabytes that would blur the measure.
smount "$M" --threads 1 --layer "$T/many.tar"
pid=$(strata_pids "$M")
rss_anon() { awk '/^RssAnon:/ {print $2}' "/proc/$pid/status"; }
# Names only first: the daemon's worker threads and buffers come up.
find "$M" >/dev/null
anon0=$(rss_anon)
n=$(find "$M" -type f -printf '%i %s\n' | wc -l)
anon1=$(rss_anon)
assert_eq 'files walked' $((N_DIRS * N_FILES)) "$n"
log "RssAnon before the lstat walk ${anon0} kB, after ${anon1} kB"
# 40,000 inode objects were ~3.5 MB; the counters are 80 KB.  (ASan keeps
# freed memory aside, so its daemon grows with every request.)
if ldd "$STRATA" | grep -q libasan; then
	log "a sanitized build: its anonymous memory not checked"
else
	assert_true 'an lstat walk adds under 1.5 MB of anonymous memory' [ $((anon1 - anon0)) -lt 1536 ]
fi
evict
n=$(find "$M" -type f -printf '%i %s\n' | sort -u | wc -l)
assert_eq 'distinct ids after drop_caches' $((N_DIRS * N_FILES)) "$n"
sumount "$M"
finish
