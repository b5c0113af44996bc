#!/usr/bin/env bash
# strata pull from Debian's docker-registry over plain HTTP: an image that
# skopeo pushed comes back whole (the mount equals GNU tar's extraction),
# indexed, fsck-clean; by tag, by digest, by a short name through
# registries.conf, a multi-platform index; what a second pull skips; and
# the errors, one line each, naming the fix.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

make_image
start_registry reg
REG=127.0.0.1:$PORT
push app:1 "$REG/app:1"

# ---- round trip ----
ok 'pull --tls-verify=false' pull -q --tls-verify=false "$REG/app:1"
read -r digest name <"$T/out"
assert_eq 'the name is the reference, fully qualified' "$REG/app:1" "$name"
assert_eq 'the digest is the registry manifest' \
	"$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG/app:1")" "$digest"
pulled_matches 'pulled app:1' "$REG/app:1"
assert_fsck_clean 'after a pull'
# Every layer was indexed during the pull: the mount above built nothing.
n_idx=$(find "$R/strata/layers" -name '*.idx' | wc -l)
assert_eq 'one index per layer, made by the pull' 3 "$n_idx"
assert_eq 'no partial blob left' 0 "$(find "$R/strata/tmp" -name '*.partial' | wc -l)"

# A second pull fetches nothing: the manifest's HEAD finds it stored.
before=$(stored_blobs)
sr pull -q --tls-verify=false "$REG/app:1"
assert_eq 'second pull: same answer' "$digest $REG/app:1" "$(cat "$T/out")"
assert_eq 'second pull: no new blob' "$before" "$(stored_blobs)"

# By digest, into another store: named by the digest.
R=$T/store-digest
ok 'pull by digest' pull -q --tls-verify=false "$REG/app@$digest"
assert_eq 'pull by digest: named by it' "$digest $REG/app@$digest" "$(cat "$T/out")"
pulled_matches 'pulled by digest' "$REG/app@$digest"

# ---- strata run --pull ----
R=$T/store-run
sr run --rm --pull=never "$REG/app:1" /bin/busybox true
assert_one_error_line 'run --pull=never, image missing' 1
assert_true 'run --pull=never: no such image' grep -Eq 'no such (image|store)' "$T/err"
sr run --rm --tls-verify=false "$REG/app:1" /bin/busybox cat /etc/motd
assert_eq 'run pulls a missing image: exit 0' 0 "$RC"
assert_eq 'run pulls a missing image: output' 'layer2' "$(cat "$T/out")"
assert_eq 'run pulls a missing image: quiet in a pipe' '' "$ERR"
assert_eq 'run pulled it under its name' "$REG/app:1 $digest" "$(index_names)"
before=$(stored_blobs)
sr run --rm --pull=always --tls-verify=false "$REG/app:1" /bin/busybox true
assert_eq 'run --pull=always: exit 0' 0 "$RC"
assert_eq 'run --pull=always: nothing new' "$before" "$(stored_blobs)"
sr run --rm --pull=sometimes "$REG/app:1" true
assert_eq 'run --pull=sometimes: a usage error' 2 "$RC"

# ---- registries.conf: a short name, an insecure registry ----
R=$T/store-short
cat >"$CONTAINERS_REGISTRIES_CONF" <<CONF
unqualified-search-registries = ["$REG"]
[[registry]]
location = "$REG"
insecure = true
CONF
ok 'pull a short name' pull -q app:1
assert_eq 'short name: stored fully qualified' "$digest $REG/app:1" "$(cat "$T/out")"

# A mirror first; a mirror that fails is passed over, with a warning.
dead=127.0.0.1:$(free_port)
cat >"$CONTAINERS_REGISTRIES_CONF" <<CONF
[[registry]]
prefix = "example.invalid/team"
location = "$REG"
insecure = true
[[registry.mirror]]
location = "$dead"
insecure = true
CONF
R=$T/store-mirror
sr pull -q example.invalid/team/app:1
assert_eq 'mirror: pulled from the location after the dead mirror' 0 "$RC"
assert_eq 'mirror: stored under the name asked for' "$digest example.invalid/team/app:1" "$(cat "$T/out")"
case "$ERR" in *"$dead"*"trying the next source"*) pass ;; *) fail "mirror: no warning about $dead: $ERR" ;; esac

printf '[[registry]]\nlocation = "%s"\nblocked = true\n' "$REG" >"$CONTAINERS_REGISTRIES_CONF"
sr pull -q "$REG/app:1"
assert_one_error_line 'blocked registry' 1
assert_true 'blocked: says so' grep -q 'blocked' "$T/err"
: >"$CONTAINERS_REGISTRIES_CONF"

# ---- a multi-platform index ----
R=$T/store-multi
other=riscv64
[ "$(host_arch)" != riscv64 ] || other=s390x
mkimage oci "$T/layout" --name other:1 --platform "linux/$other" "$T/src/l2.tar" >/dev/null
push other:1 "$REG/app:other"
index=$(py '
import json, subprocess, sys
descs = []
for tag, arch in ((sys.argv[2] + "/app:1", sys.argv[3]), (sys.argv[2] + "/app:other", sys.argv[4])):
    raw = subprocess.check_output(["skopeo", "inspect", "--raw", "--tls-verify=false", "docker://" + tag])
    import hashlib
    descs.append({"mediaType": json.loads(raw)["mediaType"], "size": len(raw),
                  "digest": "sha256:" + hashlib.sha256(raw).hexdigest(),
                  "platform": {"os": "linux", "architecture": arch}})
print(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                  "manifests": descs}))' "$T" "$REG" "$(host_arch)" "$other")
curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.index.v1+json' \
	--data-binary "$index" "http://$REG/v2/app/manifests/multi" >/dev/null || die 'PUT of the index failed'
ok 'pull a multi-platform index' pull -q --tls-verify=false "$REG/app:multi"
assert_eq 'multi-platform: the host platform' "$digest $REG/app:multi" "$(cat "$T/out")"
ok "pull --platform linux/$other" pull -q --tls-verify=false --platform "linux/$other" "$REG/app:multi"
assert_ne "multi-platform: linux/$other is another image" "$digest" "$(cut -d' ' -f1 "$T/out")"
sr pull -q --tls-verify=false --platform linux/mips "$REG/app:multi"
assert_one_error_line 'platform not in the index' 1
assert_true 'platform: names what the index has' grep -q "no image for linux/mips (it has: linux/" "$T/err"

# ---- errors, one line each ----
R=$T/store-errors
sr pull -q "$REG/app:1"
assert_one_error_line 'TLS to a plain HTTP registry' 1
assert_true 'TLS: names --tls-verify=false and certs.d' grep -q 'certs.d.*--tls-verify=false' "$T/err"
sr pull -q --tls-verify=false "$REG/app:nope"
assert_one_error_line 'unknown tag' 1
assert_true 'unknown tag: not found' grep -q 'not found (404).*MANIFEST_UNKNOWN' "$T/err"
sr pull -q --tls-verify=false "$dead/app:1"
assert_one_error_line 'connection refused' 1
assert_true 'refused: says so' grep -q 'cannot connect' "$T/err"
sr pull -q 'Bad/Name'
assert_one_error_line 'a bad reference' 2
assert_eq 'nothing named after the failures' '' "$(index_names)"
assert_fsck_clean 'after failed pulls'

store_finish
