#!/usr/bin/env bash
# strata pull against a registry that misbehaves, through a proxy started
# here (servers.py): a connection cut mid-blob resumes with a Range
# request; a corrupted blob, an endless one and a manifest over 4 MiB are
# errors that store nothing; a stalled transfer ends within a bounded time;
# 429 Retry-After is honoured; a full disk is one line; a pull killed with SIGKILL leaves no name and
# an fsck-clean store, and the next pull resumes from its partial blob.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# A layer big enough to be cut, throttled and killed in the middle: 2 MiB
# that do not compress, as the lowest layer.
make_image
head -c 2097152 /dev/urandom >"$T/src/root/data/random"
mkdir -p "$T/big/data" && cp "$T/src/root/data/random" "$T/big/data/random"
tar -C "$T/big" --numeric-owner -czf "$T/src/big.tar.gz" .
mkimage oci "$T/layout" --name big:1 --platform "linux/$(host_arch)" \
	"$T/src/big.tar.gz" "$T/src/base.tar.gz" "$T/src/l2.tar.zst" "$T/src/l3.tar" >/dev/null
start_registry reg
UP=$PORT
push big:1 "127.0.0.1:$UP/big:1"

# proxy MODE: a proxy in MODE in front of the registry; sets PX, and PLOG
# to its log.
proxy() {
	start_server proxy "$UP" "$1"
	PX=127.0.0.1:$SPORT
	PLOG=$SLOG
}

# big_matches WHAT: big:1 of $R, as pulled through $PX, holds the random
# file and the image's tree.
big_matches() {
	local m=$T/mnt-$RANDOM
	smount "$m" --root "$R" "$PX/big:1"
	assert_same_file "$1: the big file" "$T/src/root/data/random" "$m/data/random"
	assert_same_text "$1: busybox" "$(sha "$T/src/root/bin/busybox")" "$(sha "$m/bin/busybox")"
	sumount "$m"
}

# ---- cut mid-blob: resumed ----
R=$T/store-cut
proxy cut
ok 'a pull whose blobs are cut halfway' pull -q --tls-verify=false "$PX/big:1"
big_matches 'cut and resumed'
assert_true 'the cut blobs were resumed with Range requests' grep -q 'GET .*/blobs/sha256:.* bytes=[1-9]' "$PLOG"
assert_fsck_clean 'after resumed transfers'

# ---- corrupted: digest mismatch, nothing stored ----
R=$T/store-corrupt
proxy corrupt
sr pull -q --tls-verify=false "$PX/big:1"
assert_one_error_line 'a corrupted blob' 1
assert_true 'corrupted: digest mismatch' grep -q 'digest mismatch' "$T/err"
assert_eq 'corrupted: no name' '' "$(index_names)"
assert_eq 'corrupted: no blob stored' '' "$(stored_blobs)"
assert_fsck_clean 'after a corrupted pull'

# ---- an endless blob, a manifest over 4 MiB ----
R=$T/store-endless
proxy endless
sr pull -q --tls-verify=false "$PX/big:1"
assert_one_error_line 'an endless blob' 1
assert_true 'endless: more than the manifest says' grep -q 'more than the .* bytes the manifest says' "$T/err"
assert_eq 'endless: no blob stored' '' "$(stored_blobs)"
R=$T/store-bigmanifest
proxy bigmanifest
sr pull -q --tls-verify=false "$PX/big:1"
assert_one_error_line 'a manifest over 4 MiB' 1
assert_true 'big manifest: refused' grep -q 'over 4194304 bytes' "$T/err"

# ---- stalled: a timeout, in bounded time ----
R=$T/store-stall
proxy stall
start=$(date +%s)
STRATA_REGISTRY_TIMEOUT=2 sr pull -q --tls-verify=false "$PX/big:1"
took=$(($(date +%s) - start))
assert_one_error_line 'a stalled transfer' 1
assert_true 'stalled: timed out' grep -q 'timed out' "$T/err"
assert_true "stalled: given up within 20 s (took $took s)" test "$took" -le 20

# ---- 429 with Retry-After ----
R=$T/store-429
proxy ratelimit
start=$(date +%s)
ok 'rate limited once per blob' pull -q --tls-verify=false "$PX/big:1"
took=$(($(date +%s) - start))
assert_true "429: Retry-After honoured (took $took s)" test "$took" -ge 1
big_matches 'after 429s'

# ---- killed with SIGKILL, then resumed ----
R=$T/store-kill
proxy slow
SLOW=$PX
for point in 65536 1048576; do
	"$STRATA" pull -q --tls-verify=false --root "$R" "$SLOW/big:1" >/dev/null 2>&1 &
	pid=$!
	wait_until 30 bash -c 'f=$(find "$1/strata/tmp" -name "*.partial" -size +"$2"c 2>/dev/null); [ -n "$f" ]' _ "$R" "$point" ||
		fail "kill at $point: no partial blob grew that far"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	assert_eq "killed at $point bytes: no name" '' "$(index_names)"
	assert_fsck_clean "killed at $point bytes"
done
# Blobs are the same wherever they come from: the partial blobs resume.
proxy pass
ok 'the pull after the kills' pull -q --tls-verify=false "$PX/big:1"
assert_true 'it resumed the partial blob with a Range request' grep -q 'bytes=[1-9]' "$PLOG"
assert_eq 'no partial blob left' 0 "$(find "$R/strata/tmp" -name '*.partial' | wc -l)"
big_matches 'pulled after kills'
assert_fsck_clean 'after the resumed pull'

# ---- disk full: one line, no name ----
R=$T/small
mkdir -p "$R"
MOUNTS+=("$R")
mount -t tmpfs -o size=1200k tmpfs "$R" || die 'cannot mount a tmpfs'
sr pull -q --tls-verify=false "$PX/big:1"
assert_one_error_line 'disk full' 1
assert_true 'disk full: says so' grep -q 'No space left on device' "$T/err"
assert_eq 'disk full: no name' '' "$(index_names)"
umount "$R"

store_finish
