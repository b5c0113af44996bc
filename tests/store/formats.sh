#!/bin/bash
# formats: what the other tests do not make.  A multi-platform image index
# (the host's platform picked, --platform for another, a clear error for a
# platform it does not have), and docker 25's docker-archive, where
# manifest.json names "blobs/sha256/<hex>" files beside an OCI index.json
# (names checked against content).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

make_layers
S=$T/src
M=$T/mnt
host=$(python3 -c 'import platform; print({"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine()))')

# ---- a multi-platform image: one index, two manifests ----
# The host's image is base+l2+l3; the "other" platform's is base alone, so
# the tree shows which one was picked.
mkimage oci "$T/h" --name h "$S/base.tar" "$S/l2.tar" "$S/l3.tar" >/dev/null
mkimage oci "$T/o" --name o "$S/base.tar" >/dev/null
py 'import hashlib, json, os, shutil, sys
t, host = sys.argv[1], sys.argv[2]
other = "riscv64" if host != "riscv64" else "s390x"
out = os.path.join(t, "multi")
os.makedirs(os.path.join(out, "blobs/sha256"))
descs = []
for src, arch in (("h", host), ("o", other)):
    lay = os.path.join(t, src)
    for b in os.listdir(os.path.join(lay, "blobs/sha256")):
        shutil.copy(os.path.join(lay, "blobs/sha256", b), os.path.join(out, "blobs/sha256", b))
    d = json.load(open(os.path.join(lay, "index.json")))["manifests"][0]
    d = {"mediaType": d["mediaType"], "digest": d["digest"], "size": d["size"],
         "platform": {"os": "linux", "architecture": arch}}
    descs.append(d)
# an attestation-like entry with an unknown platform must not confuse it
idx = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                  "manifests": descs}, sort_keys=True).encode()
h = hashlib.sha256(idx).hexdigest()
open(os.path.join(out, "blobs/sha256", h), "wb").write(idx)
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
           "digest": "sha256:" + h, "size": len(idx),
           "annotations": {"org.opencontainers.image.ref.name": "multi:1"}}]},
          open(os.path.join(out, "index.json"), "w"))
open(os.path.join(out, "oci-layout"), "w").write("{\"imageLayoutVersion\":\"1.0.0\"}")
print(other)' "$T" "$host" >"$T/other"
other=$(cat "$T/other")
want_host=$(py 'import json, sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$T/h/index.json")
want_other=$(py 'import json, sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$T/o/index.json")

R=$T/store1
ok 'import a multi-platform image' import -q "$T/multi"
assert_eq 'multi-platform: the host platform is picked' "$want_host multi:1" "$(cat "$T/out")"
smount "$M" --root "$R" multi:1
check_merged 'multi-platform, host' "$M"
sumount "$M"
assert_fsck_clean 'multi-platform, host'

R=$T/store2
ok "import --platform linux/$other" import -q --platform "linux/$other" "$T/multi"
assert_eq 'multi-platform: --platform picks the other' "$want_other multi:1" "$(cat "$T/out")"
smount "$M" --root "$R" multi:1
assert_false 'multi-platform, other: no l3 content' test -e "$M/data/hello"
assert_true 'multi-platform, other: the base is there' test -x "$M/bin/busybox"
sumount "$M"

R=$T/store3
sr import -q --platform linux/mips "$T/multi"
assert_one_error_line 'an unknown platform' 1
assert_true 'an unknown platform: says what there is' grep -q "linux/$host" "$T/err"
assert_true 'an unknown platform: names --platform' grep -q -- '--platform' "$T/err"
assert_eq 'an unknown platform: no image' '' "$(index_names)"

# ---- docker 25: manifest.json with blobs/sha256 paths ----
py 'import hashlib, json, os, sys, tarfile, io
t, s = sys.argv[1], sys.argv[2]
layers = [open(os.path.join(s, n), "rb").read() for n in ("base.tar", "l2.tar", "l3.tar")]
ids = ["sha256:" + hashlib.sha256(l).hexdigest() for l in layers]
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                  "rootfs": {"type": "layers", "diff_ids": ids}}).encode()
ch = hashlib.sha256(cfg).hexdigest()
files = {"blobs/sha256/" + ch: cfg}
for l, i in zip(layers, ids):
    files["blobs/sha256/" + i[7:]] = l
man = [{"Config": "blobs/sha256/" + ch, "RepoTags": ["docker25:latest"],
        "Layers": ["blobs/sha256/" + i[7:] for i in ids]}]
files["manifest.json"] = json.dumps(man).encode()
files["oci-layout"] = b"{\"imageLayoutVersion\":\"1.0.0\"}"
files["index.json"] = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
def write(path, files):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for name in ["blobs", "blobs/sha256"]:
            ti = tarfile.TarInfo(name); ti.type = tarfile.DIRTYPE; ti.mode = 0o755; tf.addfile(ti)
        for name in sorted(files, key=lambda n: (n != "oci-layout", n)):
            ti = tarfile.TarInfo(name); ti.size = len(files[name]); ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(files[name]))
write(os.path.join(t, "d25.tar"), files)
# the same with a layer whose name is not its digest
bad = dict(files)
k = "blobs/sha256/" + ids[2][7:]
bad[k] = layers[1]
write(os.path.join(t, "d25-bad.tar"), bad)
print(ch)' "$T" "$S" >"$T/cfg"
R=$T/store4
ok 'import a docker 25 archive' import -q "$T/d25.tar"
assert_true 'docker 25: tagged from RepoTags' grep -q ' docker25:latest$' "$T/out"
smount "$M" --root "$R" docker25
check_merged 'docker 25' "$M"
sumount "$M"
sr inspect docker25
assert_true 'docker 25: the config kept byte for byte (same digest)' \
	grep -q "\"config_digest\": \"sha256:$(cat "$T/cfg")\"" "$T/out"
assert_fsck_clean 'docker 25'

R=$T/store5
sr import -q "$T/d25-bad.tar"
assert_one_error_line 'docker 25, a blob not named by its digest' 1
assert_true 'docker 25, a blob not named by its digest: says so' grep -q 'digest mismatch' "$T/err"
assert_eq 'docker 25, a blob not named by its digest: no image' '' "$(index_names)"
store_finish
