#!/usr/bin/env bash
# strata push to Debian's docker-registry over plain HTTP, through a proxy
# (servers.py) whose log counts the requests: an imported image goes out
# byte for byte (skopeo copies back the same blobs, the same manifest
# digest, and strata pulls back the same tree); a second push uploads
# nothing; a blob another repository holds is mounted, not sent (named by
# --from-repo, or known from the name a pull gave it); a blob over 16 MiB
# goes in PATCH chunks; --format docker changes the media types only, and
# refuses what docker cannot say; the errors, one line each.  Pushes whose
# requests are counted here say --no-index: index_push.sh counts the index
# artifact's own.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

make_image
# gz:1 has no zstd layer, so docker's media types can say it all.
mkimage oci "$T/layout" --name gz:1 --platform "linux/$(host_arch)" \
	"$T/src/base.tar.gz" "$T/src/l3.tar" >/dev/null
# big:1: a 20 MiB layer that does not compress, over the 16 MiB chunk.
mkdir -p "$T/big/data"
head -c 20971520 /dev/urandom >"$T/big/data/random"
tar -C "$T/big" --numeric-owner -cf "$T/src/big.tar" .
mkimage oci "$T/layout" --name big:1 --platform "linux/$(host_arch)" "$T/src/big.tar" >/dev/null
import_and_serve
app=$APP

# uploads: the blob upload requests (POST, PATCH, PUT of blobs) in the log.
uploads() { grep -cE '^(POST|PATCH|PUT) /v2/[^ ]*/blobs/' "$PLOG" || true; }

# ---- round trip ----
ok 'push app:1' push -q --tls-verify=false app:1 "$REG/app:1"
assert_eq 'push prints the manifest digest, the store'"'"'s' "$app" "$(cat "$T/out")"
assert_eq 'the registry has that digest' "$app" \
	"$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$UP/app:1")"
# --preserve-digests: skopeo would gzip the plain tar layer in an OCI layout.
skopeo copy -q --preserve-digests --src-tls-verify=false "docker://$UP/app:1" "oci:$T/back:app" >/dev/null 2>"$T/skopeo.err" ||
	die "skopeo copy back: $(cat "$T/skopeo.err")"
n_same=0 n_back=0
for f in "$T/back/blobs/sha256"/*; do
	n_back=$((n_back + 1))
	cmp -s "$f" "$R/blobs/sha256/${f##*/}" && n_same=$((n_same + 1))
done
assert_eq 'skopeo copies back 5 blobs (manifest, config, 3 layers)' 5 "$n_back"
assert_eq 'each byte for byte the store'"'"'s' 5 "$n_same"
assert_eq 'every blob went in one PUT (under 16 MiB)' 0 "$(grep -c '^PATCH' "$PLOG" || true)"
R=$T/store-back
ok 'pull it back' pull -q --tls-verify=false "$REG/app:1"
pulled_matches 'pushed and pulled back' "$REG/app:1"
R=$T/store

# A second push sends no blob: HEAD finds each one.
: >"$PLOG"
ok 'push app:1 again' push -q --tls-verify=false --no-index app:1 "$REG/app:1"
assert_eq 'second push: no blob upload' 0 "$(uploads)"
assert_eq 'second push: a HEAD per blob' 4 "$(grep -c '^HEAD /v2/app/blobs/' "$PLOG")"

# ---- cross-repository mounts ----
: >"$PLOG"
ok 'push --from-repo' push -q --tls-verify=false --no-index --from-repo app app:1 "$REG/copy:1"
assert_eq '--from-repo: every blob mounted' 4 "$(grep -c '^POST /v2/copy/blobs/uploads/?mount=sha256:[0-9a-f]*&from=app ' "$PLOG")"
assert_eq '--from-repo: nothing sent' 0 "$(grep -cE '^(PATCH|PUT) /v2/copy/blobs/' "$PLOG" || true)"
# A pulled image knows where it came from: its name.
R=$T/store-back
: >"$PLOG"
ok 'push a pulled image to another repository' push -q --tls-verify=false --no-index "$REG/app:1" "$REG/third:1"
assert_eq 'pulled image: mounted from the repository of its name' 4 \
	"$(grep -c '^POST /v2/third/blobs/uploads/?mount=.*&from=app ' "$PLOG")"
R=$T/store
# A repository that lacks the blobs: the registry opens an upload instead.
: >"$PLOG"
ok 'push --from-repo of a repository without them' push -q --tls-verify=false --no-index --from-repo nothing/here gz:1 "$REG/gz:1"
assert_eq 'mount declined: uploaded instead' 3 "$(grep -c '^PUT /v2/gz/blobs/' "$PLOG")"

# ---- chunks ----
: >"$PLOG"
ok 'push big:1' push -q --tls-verify=false --no-index big:1 "$REG/big:1"
assert_eq 'the 20 MiB layer: two PATCH chunks' 2 "$(grep -c '^PATCH /v2/big/blobs/uploads/' "$PLOG")"
assert_true 'the second chunk starts at 16 MiB' grep -q '^PATCH .* 16777216-20' "$PLOG"
big=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$UP/big:1")
assert_eq 'big:1: the digest printed' "$(cat "$T/out")" "$big"

# ---- --format docker ----
ok 'push --format docker' push -q --tls-verify=false --format docker gz:1 "$REG/gzd:1"
d=$(cat "$T/out")
raw=$(skopeo inspect --tls-verify=false --raw "docker://$UP/gzd:1")
assert_eq '--format docker: the digest printed is the registry'"'"'s' "$d" \
	"sha256:$(printf '%s' "$raw" | sha256sum | cut -c1-64)"
assert_true '--format docker: a docker manifest' grep -q 'application/vnd.docker.distribution.manifest.v2+json' <<<"$raw"
assert_false '--format docker: no OCI media type left' grep -q 'vnd.oci' <<<"$raw"
sr push -q --tls-verify=false --format docker app:1 "$REG/appd:1"
assert_one_error_line '--format docker with a zstd layer' 1
assert_true '--format docker: zstd named' grep -q 'zstd.*no docker equivalent' "$T/err"
sr push --format squashfs app:1 "$REG/x:1"
assert_eq '--format squashfs: a usage error' 2 "$RC"

# ---- errors ----
sr push -q --tls-verify=false app:1 "$REG/app@sha256:$(printf '%064d' 0)"
assert_one_error_line 'a destination digest that is not the manifest'"'"'s: a usage error' 2
sr push -q --tls-verify=false nosuch:1 "$REG/x:1"
assert_one_error_line 'no such image' 1
sr push -q app:1
assert_eq 'no destination: a usage error' 2 "$RC"
sr push -q --tls-verify=false app:1 "127.0.0.1:$(free_port)/app:1"
assert_one_error_line 'nothing listening' 1
htpasswd -Bbn alice 's3cret' >"$T/htpasswd"
start_registry basic 'auth:' '  htpasswd:' '    realm: strata-test' "    path: $T/htpasswd"
sr push -q --tls-verify=false app:1 "127.0.0.1:$PORT/app:1"
assert_one_error_line 'htpasswd registry, not logged in' 1
assert_true 'not logged in: names strata login' grep -q "strata login 127.0.0.1:$PORT" "$T/err"

store_finish
