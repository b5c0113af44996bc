#!/usr/bin/env bash
# strata pull --lazy from Debian's docker-registry, through a proxy that
# logs every request with its Range: an image pushed with its index
# artifact is named in the store with its described layers left to fetch;
# a mount reads them piece by piece (one file of a 10 MiB layer fetches a
# small part of it) and shows exactly the image; fsck checks each piece
# fetched; gc keeps what a lazy image uses; a pull without --lazy completes
# the layers (whole blobs in blobs/, indexes rebuilt from them); run --lazy
# starts from an empty store, and a push of what it pulled completes it.  Faults: the registry gone (EIO, no hang,
# what was fetched still reads), a proxy that corrupts what it serves (EIO,
# never a wrong byte), one that stalls (EIO after --fetch-timeout), an
# image without an artifact (pulled whole), a token that expires between
# two reads (a new one asked for).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

make_layers
# A layer of noise: its files are as many pieces of the blob as of the tar.
mkdir -p "$T/noise/data"
for i in $(seq -w 1 40); do
	head -c 262144 /dev/urandom >"$T/noise/data/n$i"
done
tar -C "$T/noise" --numeric-owner --sort=name -czf "$T/src/noise.tar.gz" .
# What each image's mount shows: its layers extracted in order.
mkdir -p "$T/exp-app" "$T/exp-plain"
tar -C "$T/exp-app" --numeric-owner -xpf "$T/src/base.tar"
tar -C "$T/exp-app" --numeric-owner -xpzf "$T/src/noise.tar.gz"
tar -C "$T/exp-plain" --numeric-owner -xpf "$T/src/base.tar"
tar -C "$T/exp-plain" --numeric-owner -xpf "$T/src/l3.tar"
mkimage oci "$T/layout" --name app:1 --platform "linux/$(host_arch)" \
	"$T/src/base.tar.gz" "$T/src/noise.tar.gz" >/dev/null
mkimage oci "$T/layout" --name plain:1 --platform "linux/$(host_arch)" \
	"$T/src/base.tar.gz" "$T/src/l3.tar" >/dev/null
import_and_serve
ok 'push app:1 with its index' push -q --tls-verify=false app:1 "$REG/app:1"
ok 'push plain:1 without one' push -q --tls-verify=false --no-index plain:1 "$REG/plain:1"
noise=$(sha256sum <"$T/src/noise.tar.gz" | cut -c1-64)
noise_size=$(stat -c %s "$T/src/noise.tar.gz")

# shows WHAT MNT DIR: the mount MNT is the tree DIR, names, modes, owners,
# times and contents.
shows() {
	assert_same_text "$1: tree" "$(tree_listing "$3")" "$(tree_listing "$2")"
	assert_same_text "$1: contents" "$(content_sums "$3")" "$(content_sums "$2")"
}

# image_is WHAT NAME DIR: image NAME of $R mounted shows DIR.
image_is() {
	local m=$T/mnt-$RANDOM
	smount "$m" --root "$R" "$2"
	shows "$1" "$m" "$3"
	sumount "$m"
}

# fetched: bytes of the noise blob the proxy served in Range requests.
fetched() {
	awk -v d="sha256:$noise" '$1 == "GET" && index($2, d) && $3 ~ /^bytes=/ {
		split(substr($3, 7), r, "-"); n += r[2] - r[1] + 1 } END { print n + 0 }' "$PLOG"
}

# ---- pull --lazy ----
R=$T/lazy
: >"$PLOG"
sr pull --lazy --tls-verify=false "$REG/app:1"
assert_eq 'pull --lazy: exit 0' 0 "$RC"
assert_eq 'pull --lazy: both layers left to fetch' '2 of 2 layers left to fetch as they are read' "$ERR"
assert_eq 'pull --lazy: no byte of a layer fetched' 0 \
	"$(grep -c '^GET /v2/app/blobs/sha256:[0-9a-f]* bytes=' "$PLOG" || true)"
assert_false 'pull --lazy: nothing in blobs/ for the noise layer' test -e "$R/blobs/sha256/$noise"
ok 'fsck of a lazy image' fsck
ok 'gc keeps a lazy image' gc
assert_true 'gc kept the lazy blob' test -e "$R/strata/lazy/$noise.json"

# ---- reading it ----
m=$T/mnt
smount "$m" --root "$R" "$REG/app:1"
cmp -s "$m/data/n17" "$T/noise/data/n17"
assert_eq 'one file reads right' 0 "$?"
one=$(fetched)
assert_true "one 256 KiB file fetched $one of $noise_size bytes (under a quarter)" \
	test "$one" -gt 0 -a "$((one * 4))" -lt "$noise_size"
shows 'the lazy mount' "$m" "$T/exp-app"
all=$(fetched)
assert_true "all of it fetched once ($all of $noise_size bytes, each piece once)" \
	test "$all" -ge "$noise_size" -a "$all" -le "$((noise_size + 262144 * 2))"
sumount "$m"
ok 'fsck after the reads' fsck

# A piece on disk that is not what was fetched: fsck says so.
cp "$R/strata/lazy/$noise" "$T/lazy-copy"
printf '\377' | dd of="$R/strata/lazy/$noise" bs=1 seek=300000 conv=notrunc status=none
sr fsck
assert_eq 'fsck finds a damaged piece' 1 "$RC"
assert_true 'fsck names it' grep -q 'lazy layer .*do not match their digests' "$T/out" "$T/err"
cp "$T/lazy-copy" "$R/strata/lazy/$noise"

# ---- completed by a pull ----
: >"$PLOG"
sr pull --tls-verify=false "$REG/app:1"
assert_eq 'pull completes: exit 0' 0 "$RC"
assert_eq 'pull completes both' '2 of 2 layers completed' "$ERR"
assert_eq 'nothing fetched again' 0 "$(fetched)"
assert_true 'the blob is in blobs/' test -f "$R/blobs/sha256/$noise"
assert_eq 'no lazy file left' 0 "$(find "$R/strata/lazy" -type f | wc -l)"
ok 'fsck of the completed image' fsck
image_is 'completed' "$REG/app:1" "$T/exp-app"

# ---- run --lazy from an empty store (a directory made for it) ----
R=$T/empty-store
mkdir "$R"
sr run --rm --lazy --tls-verify=false "$REG/app:1" /bin/busybox sh -c 'cat /etc/motd; wc -c </data/n01'
assert_eq 'run --lazy: exit 0' 0 "$RC" || printf 'stderr: %s\n' "$ERR" >&2
assert_eq 'run --lazy: the output' "$(printf 'base\n262144')" "$(cat "$T/out")"
assert_true 'run --lazy: the layer stayed lazy' test -e "$R/strata/lazy/$noise.json"
# A container of a lazy image committed: the new image stands on the lazy
# layer, which stays lazy (commit reads only the container's upper).
ok 'a container of a lazy image' run --name lz "$REG/app:1" /bin/busybox sh -c 'echo new >/new'
ok 'commit of it' commit lz app:2
ok 'rm of it' rm lz
assert_true 'commit: the layer still lazy' test -e "$R/strata/lazy/$noise.json"
ok 'fsck after the commit' fsck
m2=$T/mnt-commit
smount "$m2" --root "$R" app:2
assert_eq 'commit: the new file' new "$(cat "$m2/new")"
cmp -s "$m2/data/n03" "$T/noise/data/n03"
assert_eq 'commit: a file of the lazy layer reads' 0 "$?"
sumount "$m2"
# A push reads the blobs whole: it completes them first.
ok 'push of a lazy image' push -q --tls-verify=false "$REG/app:1" "$REG/again:1"
assert_true 'push completed the lazy layer' test -f "$R/blobs/sha256/$noise"
assert_eq 'pushed: the same manifest' "$APP" \
	"$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$UP/again:1")"

# ---- run --lazy=background: the layers completed while it runs ----
R=$T/background
sr run --rm --lazy=background --tls-verify=false "$REG/app:1" /bin/busybox sh -c 'cat /etc/motd; sleep 1'
assert_eq 'run --lazy=background: exit 0' 0 "$RC"
assert_eq 'run --lazy=background: the output' base "$(cat "$T/out")"
# "[p]ull": a pattern that does not match the command line of its own
# waiting shell (pgrep -f would find that one forever).
wait_until 60 bash -c "! pgrep -f -- '[p]ull -q --root $R' >/dev/null" ||
	pkill -f -- "[p]ull -q --root $R" || true
assert_true 'run --lazy=background: the blob completed into blobs/' test -f "$R/blobs/sha256/$noise"
assert_eq 'run --lazy=background: no lazy file left' 0 "$(find "$R/strata/lazy" -type f | wc -l)"
ok 'fsck after the background completion' fsck
sr run --rm --lazy=now "$REG/app:1" true
assert_eq '--lazy=now: a usage error' 2 "$RC"

# ---- mount --lazy from an empty store ----
R=$T/mount-store
smount "$m" --root "$R" --lazy --tls-verify=false "$REG/app:1"
cmp -s "$m/data/n09" "$T/noise/data/n09"
assert_eq 'mount --lazy: a file reads right' 0 "$?"
assert_true 'mount --lazy: the layer is lazy' test -e "$R/strata/lazy/$noise.json"
sumount "$m"
# The layer cache loses the lazy layer's index: the next mount fetches it
# again from the artifact the pull found.
noise_diff=$(gzip -dc "$T/src/noise.tar.gz" | sha256sum | cut -c1-64)
assert_true 'the adopted index is there' test -f "$R/strata/layers/$noise_diff-${noise:0:16}.idx"
rm "$R/strata/layers/$noise_diff-${noise:0:16}.idx"
: >"$PLOG"
smount "$m" --root "$R" "$REG/app:1"
cmp -s "$m/data/n10" "$T/noise/data/n10"
assert_eq 'index lost: a file reads right' 0 "$?"
assert_eq 'index lost: fetched again, once' 1 "$(grep -c "^GET /v2/app/blobs/$(jq -r .index.digest "$R/strata/lazy/$noise.json") -" "$PLOG" || true)"
sumount "$m"
ok 'fsck after the index came back' fsck
sr mount --lazy --layer "$T/src/base.tar" "$m"
assert_eq 'mount --lazy with --layer: a usage error' 2 "$RC"

# ---- no artifact: pulled whole ----
R=$T/plain
sr pull --lazy --tls-verify=false "$REG/plain:1"
assert_eq 'no artifact: exit 0' 0 "$RC"
assert_eq 'no artifact: nothing lazy' '' "$ERR"
image_is 'pulled whole' "$REG/plain:1" "$T/exp-plain"

# ---- a proxy that corrupts: EIO, never a wrong byte ----
R=$T/corrupt
ok 'pull --lazy again' pull -q --lazy --tls-verify=false "$REG/app:1"
start_server proxy "$PORT" corrupt
sed -i "s/\"registry\":\"[^\"]*\"/\"registry\":\"127.0.0.1:$SPORT\"/" "$R/strata/lazy/$noise.json"
smount "$m" --root "$R" "$REG/app:1"
assert_false 'corrupt pieces: the read fails' cat "$m/data/n30" >/dev/null 2>&1
assert_eq 'corrupt pieces: nothing marked fetched' 0 "$(tr -d '\0' <"$R/strata/lazy/$noise.have" | wc -c)"
sumount "$m"

# ---- a registry that stalls: EIO after --fetch-timeout, no hang ----
# It sends headers, then nothing: each of three attempts is given up 2 s
# after it began.  (A stall after some bytes takes up to 5 s more to see:
# libcurl averages the speed over 5 s; faults.sh has that one, for pull.)
start_server proxy "$PORT" silent
sed -i "s/\"registry\":\"[^\"]*\"/\"registry\":\"127.0.0.1:$SPORT\"/" "$R/strata/lazy/$noise.json"
smount "$m" --root "$R" --fetch-timeout 2 "$REG/app:1"
t0=$(date +%s)
assert_false 'a stalled fetch: the read fails' cat "$m/data/n20" >/dev/null 2>&1
took=$(($(date +%s) - t0))
assert_true "a stalled fetch: within 20 s (3 attempts of 2 s; took $took s)" test "$took" -lt 20
sumount "$m"
sr mount --fetch-timeout 0 --root "$R" "$REG/app:1" "$m"
assert_eq '--fetch-timeout 0: a usage error' 2 "$RC"

# ---- an artifact that lied: the blob, whole, is not itself ----
# One piece's bytes and its digest in the chunk table changed alike, as a
# lying artifact would have them (each piece checks out): completing it
# finds the whole blob's digest wrong, marks the layer bad (its lazy files
# gone), and pulls the blob whole instead; a mount that had the layer open
# fails its reads from then on.
R=$T/liar
ok 'pull --lazy for the lie' pull -q --lazy --tls-verify=false "$REG/app:1"
smount "$m" --root "$R" "$REG/app:1"
cat "$m"/data/* >/dev/null
sumount "$m"
lz=$R/strata/lazy/$noise
printf '\377' | dd of="$lz" bs=1 seek=300000 conv=notrunc status=none
piece=$(dd if="$lz" bs=262144 skip=1 count=1 status=none | sha256sum | cut -c1-64)
jq -c --arg d "sha256:$piece" '.chunks[1] = $d' "$lz.json" >"$T/lied.json"
mv "$T/lied.json" "$lz.json"
ok 'the lie checks out piece by piece (fsck)' fsck
smount "$m" --root "$R" "$REG/app:1"
# The whole blob pulled through a corrupting proxy fails too: the mark stays.
start_server proxy "$PORT" corrupt
sr pull -q --tls-verify=false "127.0.0.1:$SPORT/app:1"
assert_eq 'the lie found: the pull fails' 1 "$RC"
assert_true 'the lie: the layer marked bad' test -f "$lz.bad"
assert_false 'the lie: its lazy files gone' test -e "$lz.json"
sleep 1.2
assert_false 'the lie: a mount that had it open fails its reads' cat "$m/data/n22"
sumount "$m"
sr mount --root "$R" "$REG/app:1" "$m"
assert_eq 'a bad layer: no mount' 1 "$RC"
assert_true "a bad layer: says why, and what to do ($ERR)" \
	grep -q 'is bad (whole, it is sha256:.*lied).*strata pull' "$T/err"
sr fsck
assert_eq 'a bad layer: fsck says so' 1 "$RC"
ok 'the layer pulled whole from the registry' pull -q --tls-verify=false "$REG/app:1"
ok 'fsck after it' fsck
image_is 'pulled whole after the lie' "$REG/app:1" "$T/exp-app"

# ---- the registry gone: EIO soon, what was fetched reads ----
R=$T/gone
ok 'pull --lazy once more' pull -q --lazy --tls-verify=false "$REG/app:1"
smount "$m" --root "$R" "$REG/app:1"
cmp -s "$m/data/n05" "$T/noise/data/n05"
assert_eq 'before: a file reads' 0 "$?"
stop_servers
t0=$(date +%s)
assert_false 'registry gone: an unfetched file fails' cat "$m/data/n35" >/dev/null 2>&1
assert_true 'registry gone: within 30 s' test $(($(date +%s) - t0)) -lt 30
cmp -s "$m/data/n05" "$T/noise/data/n05"
assert_eq 'registry gone: the fetched file still reads' 0 "$?"
sumount "$m"

# ---- a token that expires while the layer is read: fetched again ----
# Tokens the registry takes for 4 s (their "exp" 56 s ago: distribution
# allows 60 s of skew); reads 6 s apart each need a fresh one.
start_token_registry bob:b0b -56
auth_json "$REGISTRY_AUTH_FILE" bob:b0b "127.0.0.1:$PORT"
ok 'push app:1 with its index to a token registry' push -q --root "$T/lazy" \
	--tls-verify=false "$REG/app:1" "127.0.0.1:$PORT/app:1"
REG=127.0.0.1:$PORT
R=$T/token-store
ok 'pull --lazy with tokens' pull -q --lazy --tls-verify=false "$REG/app:1"
smount "$m" --root "$R" "$REG/app:1"
: >"$TOKEN_LOG"
cmp -s "$m/data/n11" "$T/noise/data/n11"
assert_eq 'tokens: a file reads' 0 "$?"
sleep 6
cmp -s "$m/data/n31" "$T/noise/data/n31"
assert_eq 'tokens: a file read after the token expired' 0 "$?"
tokens=$(grep -c 'token repository:app:pull user' "$TOKEN_LOG" || true)
assert_true "tokens: a fresh token for the second read ($tokens asked)" test "$tokens" -ge 2
sumount "$m"

store_finish
