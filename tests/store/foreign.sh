#!/bin/bash
# A store written by another tool: an OCI layout that skopeo made (no
# strata/ folder in it) runs and mounts as it is, strata making what it
# needs on demand; and what such tools leave when they write a layout
# strata also writes (issue 14: skopeo rewrites index.json without
# strata's lock) is what fsck names: two entries with one name, and an
# entry whose manifest is missing.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v skopeo >/dev/null || skip 'skopeo is not installed'

make_layers
S=$T/src
M=$T/mnt
mkimage oci "$T/lay" --name app:1 "$S/base.tar.gz" "$S/l2.tar" "$S/l3.tar.zst" >/dev/null
R=$T/foreign
skopeo copy -q "oci:$T/lay:app:1" "oci:$R:app:1" >/dev/null 2>&1 || die 'skopeo copy failed'
assert_false 'the layout has no strata folder' test -e "$R/strata"

# run on it, as root (the rootless case is the same code path).
sr run --rm app:1 /bin/busybox cat /etc/motd
assert_eq 'run on a foreign layout: exit 0' 0 "$RC"
assert_eq 'run on a foreign layout: output' 'layer2' "$(cat "$T/out")"
assert_eq 'run on a foreign layout: no error' '' "$ERR"
smount "$M" --root "$R" app:1
check_merged 'mount of a foreign layout' "$M"
sumount "$M"
assert_fsck_clean 'a foreign layout, run and mounted'

# Two entries named app:1 (two copies racing on index.json).
py 'import json, sys
p = sys.argv[1] + "/index.json"
ix = json.load(open(p))
ix["manifests"].append(dict(ix["manifests"][0]))
json.dump(ix, open(p, "w"))' "$R"
sr fsck
assert_eq 'duplicate names: fsck fails' 1 "$RC"
assert_true 'duplicate names: named' grep -q 'index.json: app:1 names 2 entries' "$T/out"

# An entry whose manifest blob is gone (a gc racing an unlocked writer).
py 'import json, sys
p = sys.argv[1] + "/index.json"
ix = json.load(open(p))
ix["manifests"] = ix["manifests"][:1] + [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": "sha256:" + "0" * 64, "size": 100,
    "annotations": {"org.opencontainers.image.ref.name": "ghost:1"}}]
json.dump(ix, open(p, "w"))' "$R"
sr fsck
assert_eq 'missing manifest: fsck fails' 1 "$RC"
assert_true 'missing manifest: named' grep -q "ghost:1.*missing" "$T/out"

store_finish
