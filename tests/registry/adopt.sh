#!/usr/bin/env bash
# A whole pull adopts the layer indexes of the image's index artifact
# (strata push attaches one) instead of building them, and verifies them
# afterwards (layerstore/verify.c): `strata fsck --adopted`, which pull
# starts in the background, indexes each such layer again and checks its
# diff-id.  Against Debian's docker-registry on 127.0.0.1:
#   - the pulled image mounts as its files; the gzip and plain layers were
#     adopted (their marks), the one-frame zstd layer built; fsck
#     --adopted clears the marks; --verify=now adopts nothing;
#   - an artifact that lies about an index (another layer's of the same
#     size): served until verified, then strata's own replaces it, and
#     fsck --adopted says so;
#   - a config that lies about a diff-id: the adopted pull succeeds, the
#     verification marks the layer failed, mounts refuse it, and a
#     --verify=now pull refuses the image;
#   - the default pull leaves a verifier that finishes on its own.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

make_image
import_and_serve
ok 'push app:1 with its index artifact' push -q --tls-verify=false app:1 "$REG/app:1"

# marks STORE: the adopted layers not verified yet.
marks() { find "$1/strata/lazy" -name '*.unverified' 2>/dev/null | wc -l; }
# mount_has STORE IMAGE FILE: FILE's content through a mount of IMAGE.
mount_cat() {
	local m=$T/mnt-$RANDOM
	mkdir -p "$m"
	MOUNTS+=("$m")
	run "$STRATA" mount --root "$1" "$2" "$m"
	[ "$RC" = 0 ] || return 1
	cat "$m/$3" 2>&1
	sumount "$m"
}

# ---- deferred: adopted, then verified by fsck --adopted ----
R2=$T/r2
SR_ROOT=$R2 sr pull --tls-verify=false --verify=deferred "$REG/app:1"
assert_eq 'pull --verify=deferred: exit 0' 0 "$RC"
assert_eq 'two layers adopted (gzip, plain), the one-frame zstd built' 2 "$(marks "$R2")"
assert_true 'the index blobs were fetched' grep -q "GET /v2/app/blobs/" "$PLOG"
R_SAVE=$R R=$R2
pulled_matches 'the adopted image mounts as its files' "$REG/app:1"
R=$R_SAVE
SR_ROOT=$R2 sr fsck --adopted
assert_eq 'fsck --adopted: exit 0, nothing said' "0 " "$RC $ERR"
assert_eq 'fsck --adopted: the marks are gone' 0 "$(marks "$R2")"
SR_ROOT=$R2 sr fsck
assert_eq 'fsck: clean' "0 " "$RC $(cat "$T/out")"

# ---- --verify=now: nothing adopted ----
R3=$T/r3
SR_ROOT=$R3 sr pull --tls-verify=false --verify=now "$REG/app:1"
assert_eq 'pull --verify=now: exit 0, no marks' "0 0" "$RC $(marks "$R3")"
SR_ROOT=$R3 sr pull --verify=sometimes "$REG/app:1"
assert_eq 'pull --verify=sometimes: a usage error' 2 "$RC"

# ---- two liars ----
# Images lie:a and lie:b, one plain layer each, of the same size, with
# their artifacts; then, made by hand in the registry: lie:b's artifact
# made to carry lie:a's index, and lie:bad, lie:b with a config whose
# diff-id is wrong and an artifact (the true one) naming it.
mk "$T/a.tar" <<'EOF'
file data/aaaaa content=AAAA\n mtime=1600000300
EOF
mk "$T/b.tar" <<'EOF'
file data/bbbbb content=BBBB\n mtime=1600000300
EOF
mkimage oci "$T/la" --name lie:a --platform "linux/$(host_arch)" "$T/a.tar" >/dev/null
mkimage oci "$T/lb" --name lie:b --platform "linux/$(host_arch)" "$T/b.tar" >/dev/null
ok 'import lie:a' import "$T/la"
ok 'import lie:b' import "$T/lb"
ok 'push lie:a' push -q --tls-verify=false lie:a "$REG/lie:a"
ok 'push lie:b' push -q --tls-verify=false lie:b "$REG/lie:b"
python3 - "$UP" <<'EOF' >"$T/liars.out" 2>&1 || die "making the liars: $(cat "$T/liars.out")"
import hashlib, json, sys, urllib.request
up = sys.argv[1]
base = f"http://{up}/v2/lie"
OCI_M = "application/vnd.oci.image.manifest.v1+json"
OCI_I = "application/vnd.oci.image.index.v1+json"
def req(method, url, data=None, ctype=None):
    r = urllib.request.Request(url, data=data, method=method)
    r.add_header("Accept", f"{OCI_I}, {OCI_M}")
    if ctype:
        r.add_header("Content-Type", ctype)
    with urllib.request.urlopen(r) as resp:
        return resp.read(), resp.headers
def digest(b): return "sha256:" + hashlib.sha256(b).hexdigest()
def manifest(ref): return req("GET", f"{base}/manifests/{ref}")[0]
def put_manifest(ref, body, mt): req("PUT", f"{base}/manifests/{ref}", body, mt)
def put_blob(body):
    _, h = req("POST", f"{base}/blobs/uploads/")
    loc = h["Location"]
    loc = loc if loc.startswith("http") else f"http://{up}{loc}"
    req("PUT", loc + ("&" if "?" in loc else "?") + "digest=" + digest(body), body,
        "application/octet-stream")
def artifact_of(m):
    lst = json.loads(manifest("sha256-" + digest(m)[7:]))
    d = lst["manifests"][0]["digest"]
    return json.loads(manifest(d))
def attach(subject_body, art):
    art["subject"] = {"mediaType": OCI_M, "digest": digest(subject_body), "size": len(subject_body)}
    body = json.dumps(art).encode()
    put_manifest(digest(body), body, OCI_M)
    lst = {"schemaVersion": 2, "mediaType": OCI_I, "manifests": [
        {"mediaType": OCI_M, "digest": digest(body), "size": len(body),
         "artifactType": art["artifactType"]}]}
    put_manifest("sha256-" + digest(subject_body)[7:], json.dumps(lst).encode(), OCI_I)
ma, mb = manifest("a"), manifest("b")
aa, ab = artifact_of(ma), artifact_of(mb)
ia = [l for l in aa["layers"] if l["mediaType"].endswith(".index.v6")][0]
lies = json.loads(json.dumps(ab))
for l in lies["layers"]:
    if l["mediaType"].endswith(".index.v6"):
        l["digest"], l["size"] = ia["digest"], ia["size"]
attach(mb, lies)
# lie:bad: lie:b with a wrong diff-id, and the true artifact of lie:b.
m = json.loads(mb)
cfg = json.loads(req("GET", f"{base}/blobs/{m['config']['digest']}")[0])
cfg["rootfs"]["diff_ids"][0] = digest(b"not this layer")
cb = json.dumps(cfg).encode()
put_blob(cb)
m["config"]["digest"], m["config"]["size"] = digest(cb), len(cb)
mbad = json.dumps(m).encode()
put_manifest("bad", mbad, OCI_M)
attach(mbad, json.loads(json.dumps(ab)))
print("made")
EOF

R4=$T/r4
SR_ROOT=$R4 sr pull --tls-verify=false --verify=deferred "$REG/lie:b"
assert_eq 'the lying index: pulled, adopted' "0 1" "$RC $(marks "$R4")"
assert_eq 'until verified, the lie is served (names of lie:a)' "BBBB" \
	"$(mount_cat "$R4" "$REG/lie:b" data/aaaaa)"
SR_ROOT=$R4 sr fsck --adopted
assert_eq 'fsck --adopted: exit 0' 0 "$RC"
assert_true 'fsck --adopted: says the artifact did not describe the layer' \
	grep -q "^strata: layer sha256:[0-9a-f]*: the registry's index artifact did not describe it; strata's own index replaces it$" "$T/err"
assert_eq 'verified: the layer as it is' "BBBB" "$(mount_cat "$R4" "$REG/lie:b" data/bbbbb)"
SR_ROOT=$R4 sr fsck
assert_eq 'fsck after: clean' "0 " "$RC $(cat "$T/out")"

R5=$T/r5
SR_ROOT=$R5 sr pull --tls-verify=false --verify=deferred "$REG/lie:bad"
assert_eq 'the lying config: pulled, adopted' "0 1" "$RC $(marks "$R5")"
SR_ROOT=$R5 sr fsck --adopted
assert_eq 'fsck --adopted: exit 1' 1 "$RC"
assert_true 'fsck --adopted: names the diff-ids' grep -q "its uncompressed digest is sha256:.*, the config says sha256:" "$T/err"
run "$STRATA" mount --root "$R5" "$REG/lie:bad" "$T/mnt-bad"
assert_eq 'a mount refuses the failed layer' 1 "$RC"
assert_true 'saying why' grep -q "failed verification: its uncompressed digest" "$T/err"
SR_ROOT=$R5 sr fsck
assert_eq 'fsck: the failed layer is a problem' 1 "$RC"
R6=$T/r6
SR_ROOT=$R6 sr pull --tls-verify=false --verify=now "$REG/lie:bad"
assert_eq 'pull --verify=now refuses the lying config' 1 "$RC"
assert_true 'naming the diff-id' grep -q "config says diff-id" "$T/err"

# ---- an adopted index the layer cache lost: put back, no accusation ----
R8=$T/r8
SR_ROOT=$R8 sr pull --tls-verify=false --verify=deferred "$REG/app:1"
n_idx=$(marks "$R8") # the built one (zstd) is the next mount's to rebuild
find "$R8/strata/layers" -name '*.idx' -delete
SR_ROOT=$R8 sr fsck --adopted
assert_eq 'the cache lost the indexes: fsck --adopted exits 0 and says nothing' "0 " "$RC $ERR"
assert_eq 'and the adopted indexes are back' "$n_idx" "$(find "$R8/strata/layers" -name '*.idx' | wc -l)"

# ---- the default: a verifier in the background ----
R7=$T/r7
SR_ROOT=$R7 sr pull --tls-verify=false "$REG/app:1"
assert_eq 'pull (default): exit 0' 0 "$RC"
for _ in $(seq 100); do
	[ "$(marks "$R7")" = 0 ] && break
	sleep 0.1
done
assert_eq 'the background verifier cleared the marks within 10 s' 0 "$(marks "$R7")"
SR_ROOT=$R7 sr fsck
assert_eq 'fsck: clean' "0 " "$RC $(cat "$T/out")"

finish
