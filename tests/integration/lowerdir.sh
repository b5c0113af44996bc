#!/usr/bin/env bash
# lowerdir: directories as lower layers (--layer DIR), read lazily: merged
# with tar layers above and below, both whiteout forms (.wh. files and 0/0
# character devices), opaque dirs (.wh..wh..opq and the overlay xattrs),
# hard links, symlinks that point out (never followed by the daemon), long
# names, copy-up into an --upper, a tree changed or removed under the mount
# (errors, never a crash), a 10k-entry tree against find(1) of its source,
# and the same as an ordinary user.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# names DIR: its entries, sorted, on one line.
names() { find "$1" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | paste -sd ' '; }

# ---- the stack: tar (bottom), directory, tar (top) ----
mk "$T/bottom.tar" <<'EOF'
dir merged mode=0755
file merged/t0 content=t0
file merged/shadowed content=bottom
file wh1 content=wh1
file wh2 content=wh2
dir opq
file opq/old content=old
dir opqx
file opqx/old content=old
file gonetop content=bottom
EOF
D=$T/dir
mkdir -p "$D/merged" "$D/opq" "$D/opqx" "$D/sub"
echo d1 >"$D/merged/d1"
echo dir >"$D/merged/shadowed"
touch "$D/.wh.wh1"
mknod "$D/wh2" c 0 0
touch "$D/opq/.wh..wh..opq"
echo mine >"$D/opq/mine"
setfattr -n trusted.overlay.opaque -v y "$D/opqx"
echo mine >"$D/opqx/mine"
echo linked >"$D/h1"
ln "$D/h1" "$D/sub/h2"
ln -s /etc/passwd "$D/abs"
ln -s ../../../x "$D/rel"
long=$(printf 'n%.0s' $(seq 1 255))
echo long >"$D/sub/$long"
head -c 300000 /dev/urandom >"$D/data"
setfattr -n user.note -v hello "$D/data"
setfattr -n user.overlay.origin -v private "$D/data"
echo gone >"$D/gonetop"
chmod 0640 "$D/data"
mk "$T/top.tar" <<'EOF'
dir merged mode=0755
file merged/t2 content=t2
whiteout gonetop
EOF

M=$T/m
smount "$M" --layer "$T/bottom.tar" --layer "$D" --layer "$T/top.tar"
assert_eq 'root: merged names, whiteouts hidden' \
	"abs data h1 merged opq opqx rel sub" "$(names "$M")"
assert_eq 'merged dir: tar below, dir, tar above' 'd1 shadowed t0 t2' "$(names "$M/merged")"
assert_content 'the dir layer hides the bottom file' "$M/merged/shadowed" 'dir\n'
assert_eq 'no whiteout file shows anywhere' '' "$(find "$M" -name '.wh.*')"
assert_false '.wh.NAME hides NAME' test -e "$M/wh1"
assert_false 'a 0/0 character device hides its name' test -e "$M/wh2"
assert_eq '.wh..wh..opq: opaque' mine "$(names "$M/opq")"
assert_eq 'trusted.overlay.opaque=y: opaque (as root)' mine "$(names "$M/opqx")"
assert_eq 'hard links: one inode' "$(stat -c %i "$M/h1")" "$(stat -c %i "$M/sub/h2")"
assert_stat 'hard links: two names' '%h' "$M/h1" 2
assert_stat 'a symlink out stays a link' '%F' "$M/abs" 'symbolic link'
assert_eq 'its target as written' /etc/passwd "$(readlink "$M/abs")"
assert_eq 'a ../ target as written' ../../../x "$(readlink "$M/rel")"
assert_content 'a 255-byte name' "$M/sub/$long" 'long\n'
assert_true 'data reads back' cmp "$D/data" "$M/data"
assert_stat 'modes as on disk' '%a %s' "$M/data" '640 300000'
assert_eq 'user xattrs shown' hello "$(getfattr --absolute-names --only-values -n user.note "$M/data")"
assert_false 'overlay xattrs never shown' getfattr --absolute-names -n user.overlay.origin "$M/data"
assert_eq 'a lookup of a missing name' '' "$(ls "$M/nothere" 2>/dev/null || true)"
sumount "$M"

# ---- copy-up into an upper ----
U=$T/upper
mkdir -p "$U"
smount "$M" --layer "$T/bottom.tar" --layer "$D" --upper "$U"
echo more >>"$M/merged/d1"
assert_content 'copy-up of a dir layer file' "$M/merged/d1" 'd1\nmore\n'
assert_content 'the layer dir is untouched' "$D/merged/d1" 'd1\n'
assert_content 'the upper holds the copy' "$U/merged/d1" 'd1\nmore\n'
cat "$M/sub/h2" >/dev/null
echo again >>"$M/h1"
assert_content 'copy-up keeps a seen hard link linked' "$M/sub/h2" 'linked\nagain\n'
assert_true 'a dir layer directory renames (no EXDEV)' mv "$M/opq" "$M/opq2"
assert_eq 'renamed with its content' mine "$(names "$M/opq2")"
sumount "$M"
# Its numbers name other files after a remount: never a metacopy's data.
mkdir -p "$T/upper2"
smount "$M" --layer "$D" --upper "$T/upper2" --metacopy
chmod 0600 "$M/data"
assert_true '--metacopy: a dir layer file is copied whole' cmp "$D/data" "$T/upper2/data"
sumount "$M"

# ---- the daemon never follows a symlink inside the layer ----
H=$T/host
mkdir -p "$H"
echo host-secret >"$H/secret"
E=$T/esc
mkdir -p "$E/a/x" "$E/a/y"
echo layer >"$E/a/x/secret"
echo layer >"$E/a/y/secret"
smount "$M" --layer "$E"
stat "$M/a" >/dev/null # lists a: x and y are directories there
rm -rf "$E/a/x" "$E/a/y"
ln -s "$H" "$E/a/x"
ln -s ../../host "$E/a/y"
for n in x y; do
	out=$(cat "$M/a/$n/secret" 2>&1 || true)
	assert_false "a/$n swapped for a symlink out: the host's file never read" \
		grep -q host-secret <<<"$out"
done
assert_true 'still serving' ls "$M"
sumount "$M"

# ---- changed and removed under the mount: errors, never a crash ----
C=$T/chg
mkdir -p "$C/d"
for i in 1 2 3; do echo "$i" >"$C/d/f$i"; done
smount "$M" --layer "$C"
ls "$M/d" >/dev/null
rm "$C/d/f1"
mkdir "$C/d/new" "$C/d/f2.d"
rm "$C/d/f2" && mkdir "$C/d/f2"
find "$M" >/dev/null 2>&1 || true
cat "$M/d/f1" "$M/d/f2" >/dev/null 2>&1 || true
assert_content 'an unchanged file still reads' "$M/d/f3" '3\n'
sumount "$M"
V=$T/vanish
mkdir -p "$V/d"
echo v >"$V/d/f"
echo r >"$V/r"
smount "$M" --layer "$V"
rm -rf "$V"
assert_false 'a vanished layer: reading fails' cat "$M/r"
assert_false 'a vanished layer: its dirs are gone' ls "$M/d/f"
assert_true 'the daemon still answers' stat "$M"
sumount "$M"

# ---- errors ----
run "$STRATA" mount --layer "$T/none" "$T/m2"
assert_one_error_line 'a missing --layer' 1

# ---- 10k entries against find(1) of the source ----
B=$T/big
python3 - "$B" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(100):
    p = os.path.join(root, "d%02d" % d, "s%d" % (d % 7))
    os.makedirs(p)
    for f in range(99):
        fp = os.path.join(p, "f%03d" % f)
        with open(fp, "w") as fh:
            fh.write("x" * ((d * 99 + f) % 300))
        os.chmod(fp, 0o600 + (f % 3) * 0o40)
    os.symlink("s%d/f000" % (d % 7), os.path.join(root, "d%02d" % d, "ln"))
PY
smount "$M" --layer "$B"
assert_same_text '10k tree: find -printf as the source' "$(tree_listing "$B")" "$(tree_listing "$M")"
assert_eq '10k tree: contents' "$(content_sums "$B" | md5sum)" "$(content_sums "$M" | md5sum)"
sumount "$M"

# ---- an ordinary user: .wh. files and the user.* opaque xattrs ----
if command -v unshare >/dev/null && command -v setpriv >/dev/null; then
	chmod 0666 /dev/fuse
	chmod 0755 "$T"
	R=$T/rl
	mkdir -p "$R/o1" "$R/o2" "$T/rlm" "$T/rlc"
	echo x >"$R/o1/mine"
	echo x >"$R/o2/mine"
	touch "$R/.wh.wh1"
	setfattr -n user.overlay.opaque -v y "$R/o1"
	setfattr -n user.fuseoverlayfs.opaque -v y "$R/o2"
	mk "$T/rl.tar" <<'EOF'
dir o1
file o1/old content=old
dir o2
file o2/old content=old
file wh1 content=x
file keep content=keep
EOF
	chown -R 65534:65534 "$R" "$T/rl.tar" "$T/rlm" "$T/rlc"
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups unshare -Urm bash -c "
S='$STRATA'; M='$T/rlm'
\$S mount --cache-dir '$T/rlc' -l '$T/rl.tar' -l '$R' \$M || exit 1
echo root: \$(ls \$M)
echo o1: \$(ls \$M/o1)
echo o2: \$(ls \$M/o2)
\$S umount \$M
" 2>&1) || true
	log "$out"
	assert_true 'rootless: .wh. hides, the mount point dirs show' grep -qx 'root: keep o1 o2' <<<"$out"
	assert_true 'rootless: user.overlay.opaque' grep -qx 'o1: mine' <<<"$out"
	assert_true 'rootless: user.fuseoverlayfs.opaque' grep -qx 'o2: mine' <<<"$out"
fi

finish
