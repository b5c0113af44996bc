#!/usr/bin/env bash
# strata push attaches the image's layer indexes as an OCI 1.1 artifact
# (docs/index-artifact.md), to Debian's docker-registry 2.8, which has no
# referrers API: so through the fallback tag sha256-<hex of the manifest>,
# an image index that skopeo reads back.  Checked from the registry's side:
# the artifact's subject, media types and annotations; each index blob is
# the store's cached index byte for byte but for the local file's identity
# (mtime, inode) in its header; each chunk table hashes the blob as it is.
# A second push changes nothing; another referrer in the tag's list is
# kept; --no-index pushes none; a tag that is not an index gives a warning
# and the image is still pushed.  strata index --push attaches the same
# artifact to an image skopeo pushed, and a lazy pull finds it.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

make_image
import_and_serve
app=$APP
tag=sha256-${app#sha256:}

# reg_get PATH: the registry's body for PATH (under /v2/app/) into $T/got.
reg_get() {
	curl -fsS -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' \
		-o "$T/got" "http://$UP/v2/app/$1" || die "GET /v2/app/$1 failed"
}

# ---- the first push ----
sr push --tls-verify=false app:1 "$REG/app:1"
assert_eq 'push: exit 0' 0 "$RC"
assert_eq 'push prints the manifest digest' "$app" "$(cat "$T/out")"
idx=$(sed -n 's/^index of 2 layers: \(sha256:[0-9a-f]*\)$/\1/p' "$T/err")
assert_true 'push says: index of 2 layers (gzip and plain; the one-frame zstd is pulled whole)' test -n "$idx"

raw=$(skopeo inspect --tls-verify=false --raw "docker://$UP/app:$tag") || die 'no referrers tag'
printf '%s' "$raw" >"$T/referrers.json"
reg_get "manifests/$idx"
cp "$T/got" "$T/artifact.json"
assert_eq 'the artifact manifest has the digest push printed' "$idx" \
	"sha256:$(sha256sum <"$T/artifact.json" | cut -c1-64)"

# Everything the registry holds, checked against the store.
python3 - "$T" "$R" "$app" "$idx" "$UP" <<'EOF' >"$T/check.out" 2>&1
import hashlib, json, os, struct, sys, urllib.request
T, R, app, idx, up = sys.argv[1:]
ref = json.load(open(f"{T}/referrers.json"))
art = json.load(open(f"{T}/artifact.json"))
mine = [d for d in ref["manifests"] if d.get("artifactType") == "application/vnd.dev.strata.layer-index.v1"]
assert ref["mediaType"] == "application/vnd.oci.image.index.v1+json", ref
assert [d["digest"] for d in mine] == [idx], mine
assert art["artifactType"] == "application/vnd.dev.strata.layer-index.v1"
assert art["subject"]["digest"] == app
assert art["subject"]["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
assert art["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
assert art["config"]["digest"] == "sha256:" + hashlib.sha256(b"{}").hexdigest()
manifest = json.load(open(f"{R}/blobs/sha256/{app[7:]}"))
config = json.load(open(f"{R}/blobs/sha256/{manifest['config']['digest'][7:]}"))
diff_ids = dict(zip((l["digest"] for l in manifest["layers"]), config["rootfs"]["diff_ids"]))
kinds = {}
def blob(d):
    with urllib.request.urlopen(f"http://{up}/v2/app/blobs/{d}") as r:
        data = r.read()
    assert "sha256:" + hashlib.sha256(data).hexdigest() == d
    return data
for d in art["layers"]:
    layer = d["annotations"]["dev.strata.layer"]
    kinds.setdefault(layer, []).append(d["mediaType"])
    data = blob(d["digest"])
    assert len(data) == d["size"]
    src = open(f"{R}/blobs/sha256/{layer[7:]}", "rb").read()
    if d["mediaType"] == "application/vnd.dev.strata.layer.index.v6":
        diff = diff_ids[layer][7:]
        key = diff if layer[7:] == diff else f"{diff}-{layer[7:23]}"
        local = open(f"{R}/strata/layers/{key}.idx", "rb").read()
        assert data[:8] == b"STRATAIX"
        assert struct.unpack_from("<Q", data, 32)[0] == len(src)  # src_size kept
        assert struct.unpack_from("<qqQ", data, 40) == (0, 0, 0)  # mtime, ino out
        assert data[256:] == local[256:], "index body differs from the store's"
        assert data[32:40] == local[32:40] and data[64:256] == local[64:256]
    else:
        assert d["mediaType"] == "application/vnd.dev.strata.layer.chunks.v1+json"
        t = json.loads(data)
        assert t["layer"] == layer and t["size"] == len(src)
        n = t["chunkSize"]
        want = ["sha256:" + hashlib.sha256(src[i:i + n]).hexdigest() for i in range(0, len(src), n)]
        assert t["chunks"] == want, "chunk table differs"
assert len(kinds) == 2 and all(len(v) == 2 for v in kinds.values()), kinds
zstd = [l["digest"] for l in manifest["layers"] if l["mediaType"].endswith("+zstd")]
assert zstd and zstd[0] not in kinds, "the one-frame zstd layer has no index"
print("checked")
EOF
assert_eq 'the artifact, its blobs and the referrers tag, from the registry' checked "$(tail -1 "$T/check.out")" ||
	cat "$T/check.out" >&2

# ---- again: the same artifact, nothing uploaded, one entry ----
: >"$PLOG"
sr push --tls-verify=false app:1 "$REG/app:1"
assert_eq 'second push: the same index artifact' "index of 2 layers: $idx" "$ERR"
assert_eq 'second push: no blob uploaded' 0 "$(grep -cE '^(POST|PATCH|PUT) /v2/[^ ]*/blobs/' "$PLOG" || true)"
n=$(skopeo inspect --tls-verify=false --raw "docker://$UP/app:$tag" | grep -o '"artifactType"' | wc -l)
assert_eq 'second push: one entry in the referrers tag' 1 "$n"

# ---- another referrer stays ----
python3 - "$T/referrers.json" "$app" >"$T/other.json" <<'EOF'
import json, sys
ref = json.load(open(sys.argv[1]))
size = None
ref["manifests"].insert(0, {"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": sys.argv[2], "size": 0, "artifactType": "application/vnd.example.signature"})
print(json.dumps(ref))
EOF
# (the size is filled in from the manifest's bytes)
msize=$(stat -c %s "$R/blobs/sha256/${app#sha256:}")
sed -i "s/\"size\": 0/\"size\": $msize/" "$T/other.json"
curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.index.v1+json' \
	--data-binary "@$T/other.json" "http://$UP/v2/app/manifests/$tag" >/dev/null || die 'PUT of the tag failed'
ok 'push with another referrer listed' push -q --tls-verify=false app:1 "$REG/app:1"
raw=$(skopeo inspect --tls-verify=false --raw "docker://$UP/app:$tag")
assert_true 'the other referrer is kept' grep -q 'application/vnd.example.signature' <<<"$raw"
assert_eq 'and strata'"'"'s is there once' 1 "$(grep -o 'vnd.dev.strata.layer-index.v1' <<<"$raw" | wc -l)"

# ---- --no-index ----
: >"$PLOG"
ok 'push --no-index' push -q --tls-verify=false --no-index app:1 "$REG/plain:1"
assert_false '--no-index: no referrers tag' skopeo inspect --tls-verify=false --raw "docker://$UP/plain:$tag"
assert_eq '--no-index: 4 blobs uploaded, no more' 4 "$(grep -cE '^PUT /v2/plain/blobs/' "$PLOG" || true)"

# ---- a fallback tag that holds no index: a warning, the image pushed ----
skopeo copy -q --dest-tls-verify=false "oci:$T/layout:app:1" "docker://$UP/taken:$tag" >/dev/null 2>&1 ||
	die 'skopeo copy to the tag failed'
before=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$UP/taken:$tag")
sr push --tls-verify=false app:1 "$REG/taken:1"
assert_eq 'a tag in the way: still exit 0' 0 "$RC"
assert_true 'a tag in the way: one warning line naming it' \
	grep -q '^strata: the layer index was not pushed (the image was): .*holds no image index' "$T/err"
assert_eq 'a tag in the way: left as it was' "$before" \
	"$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$UP/taken:$tag")"
assert_eq 'a tag in the way: the image is there' "$app" \
	"$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$UP/taken:1")"

# ---- strata index --push: an image another tool pushed ----
push app:1 "$UP/skopeo:1" --preserve-digests
sk=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$UP/skopeo:1")
SR_ROOT=$T/index-store sr index --push -q --tls-verify=false "$REG/skopeo:1"
assert_eq 'index --push: exit 0' 0 "$RC"
assert_eq 'index --push: the manifest digest and the artifact'"'"'s' "$sk $idx" "$(cat "$T/out")"
raw=$(skopeo inspect --tls-verify=false --raw "docker://$UP/skopeo:sha256-${sk#sha256:}") || raw=''
assert_true 'index --push: listed under the image'"'"'s tag' grep -q "$idx" <<<"$raw"
SR_ROOT=$T/lazy-store sr pull --lazy --tls-verify=false "$REG/skopeo:1"
assert_eq 'a lazy pull finds it' '2 of 3 layers left to fetch as they are read' "$ERR"
sr index --push --tls-verify=false app:1
assert_one_error_line 'index --push of a name without a registry: a usage error' 2
sr index --push --check "$REG/skopeo:1"
assert_eq 'index --push --check: a usage error' 2 "$RC"

store_finish
