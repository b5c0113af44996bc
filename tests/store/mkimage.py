#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""mkimage: image layouts and archives for the store tests, made without
strata (so the tests do not check strata against itself).

  mkimage.py oci DIR [--name N] [--platform OS/ARCH] [--created T]
                     [--mt I=MEDIATYPE] [--diff-id I=DIGEST] LAYER...
      adds an image to the OCI layout DIR (created when missing): the layer
      files as blobs (media type from their magic, or --mt for layer I),
      a config whose diff_ids are the layers' uncompressed digests (or
      --diff-id for layer I), a manifest, an index.json entry with the
      ref.name annotation N.  Prints the manifest digest.

  mkimage.py docker OUT [--symlinks] --image TAG[,TAG...]=LAYER[,LAYER...] ...
      writes a docker-archive (docker save's legacy form): <hex>.json
      configs, <id>/layer.tar layers, manifest.json, repositories.  The
      layers must be uncompressed tars.  With --symlinks, each
      <id>/layer.tar is a symlink to ../<diff-id hex>.tar, as skopeo
      writes.  Several --image make a multi-image archive.  Prints one
      config digest per image.

  mkimage.py pack OUT DIR [--file NAME=SRC] [--symlink NAME=TARGET]
      tars DIR (oci-layout and index.json first, then the rest sorted),
      with member NAME replaced by (or, if DIR has none, followed by) a
      file holding SRC's bytes or a symlink to TARGET.  For hostile
      archives: NAME may be anything, "../x" included.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

MT_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def uncompressed(data):
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return subprocess.run(["zstd", "-dcq"], input=data, stdout=subprocess.PIPE,
                              check=True).stdout
    return data


def media_type(data):
    if data[:2] == b"\x1f\x8b":
        return MT_LAYER + "+gzip"
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return MT_LAYER + "+zstd"
    return MT_LAYER


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def indexed(pairs, what):
    out = {}
    for p in pairs or []:
        i, _, v = p.partition("=")
        if not i.isdigit() or not v:
            sys.exit(f"mkimage: {what}: expected I=VALUE, got {p!r}")
        out[int(i)] = v
    return out


def put_blob(layout, data):
    d = digest(data)
    path = os.path.join(layout, "blobs", "sha256", d[7:])
    with open(path, "wb") as f:
        f.write(data)
    return d


def cmd_oci(a):
    os.makedirs(os.path.join(a.dir, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(a.dir, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    index_path = os.path.join(a.dir, "index.json")
    index = {"schemaVersion": 2, "manifests": []}
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
    mts, diff_over = indexed(a.mt, "--mt"), indexed(a.diff_id, "--diff-id")
    layers, diff_ids = [], []
    for i, path in enumerate(a.layers):
        with open(path, "rb") as f:
            data = f.read()
        layers.append({"mediaType": mts.get(i, media_type(data)), "digest": put_blob(a.dir, data),
                       "size": len(data)})
        diff_ids.append(diff_over.get(i, digest(uncompressed(data))))
    os_, _, arch = a.platform.partition("/")
    config = canonical({"architecture": arch, "os": os_, "created": a.created,
                        "config": {"Cmd": ["/bin/sh"]},
                        "rootfs": {"type": "layers", "diff_ids": diff_ids},
                        "history": [{"created": a.created, "created_by": "mkimage.py"}]})
    manifest = canonical({"schemaVersion": 2, "mediaType": MT_MANIFEST,
                          "config": {"mediaType": MT_CONFIG, "digest": put_blob(a.dir, config),
                                     "size": len(config)},
                          "layers": layers})
    desc = {"mediaType": MT_MANIFEST, "digest": put_blob(a.dir, manifest), "size": len(manifest)}
    if a.name:
        desc["annotations"] = {REF_NAME: a.name}
        index["manifests"] = [m for m in index["manifests"]
                              if m.get("annotations", {}).get(REF_NAME) != a.name]
    index["manifests"].append(desc)
    with open(index_path, "w") as f:
        json.dump(index, f, indent=2)
    print(desc["digest"])


def add_member(tar, name, data=None, link=None, mode=0o644):
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.mode = mode
    if link is not None:
        info.type = tarfile.SYMTYPE
        info.linkname = link
        info.mode = 0o777
        tar.addfile(info)
    elif data is None:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def cmd_docker(a):
    manifest, repositories, files, dirs, links = [], {}, {}, [], {}
    for spec in a.image:
        tags, _, paths = spec.partition("=")
        diff_ids, layer_paths, parent = [], [], ""
        for path in paths.split(","):
            with open(path, "rb") as f:
                data = f.read()
            if uncompressed(data) != data:
                sys.exit(f"mkimage: {path}: docker-archive layers must be uncompressed")
            diff = digest(data)
            diff_ids.append(diff)
            layer_id = hashlib.sha256((parent + diff).encode()).hexdigest()
            parent = layer_id
            dirs.append(layer_id + "/")
            files[layer_id + "/VERSION"] = b"1.0"
            files[layer_id + "/json"] = canonical({"id": layer_id})
            if a.symlinks:
                files[diff[7:] + ".tar"] = data
                links[layer_id + "/layer.tar"] = "../" + diff[7:] + ".tar"
            else:
                files[layer_id + "/layer.tar"] = data
            layer_paths.append(layer_id + "/layer.tar")
        config = canonical({"architecture": "amd64", "os": "linux",
                            "created": "2024-01-02T03:04:05Z", "config": {"Cmd": ["/bin/sh"]},
                            "rootfs": {"type": "layers", "diff_ids": diff_ids}})
        config_name = digest(config)[7:] + ".json"
        files[config_name] = config
        tag_list = [t for t in tags.split(",") if t]
        manifest.append({"Config": config_name, "RepoTags": tag_list, "Layers": layer_paths})
        for t in tag_list:
            repo, _, tag = t.rpartition(":")
            repositories.setdefault(repo, {})[tag] = parent
        print(digest(config))
    with tarfile.open(a.out, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(set(files) | set(dirs) | set(links)):
            if name in links:
                add_member(tar, name, link=links[name])
            elif name in files:
                add_member(tar, name, files[name])
            else:
                add_member(tar, name)
        add_member(tar, "manifest.json", canonical(manifest))
        add_member(tar, "repositories", canonical(repositories))


def cmd_pack(a):
    repl = {}
    for f in a.file or []:
        name, _, src = f.partition("=")
        with open(src, "rb") as fh:
            repl[name] = ("file", fh.read())
    for s in a.symlink or []:
        name, _, target = s.partition("=")
        repl[name] = ("symlink", target)
    names = []
    for root, ds, fs in os.walk(a.dir):
        rel = os.path.relpath(root, a.dir)
        for d in ds:
            names.append((os.path.normpath(os.path.join(rel, d)), True))
        for f in fs:
            names.append((os.path.normpath(os.path.join(rel, f)), False))
    first = {"oci-layout": 0, "index.json": 1, "manifest.json": 1}
    names.sort(key=lambda n: (first.get(n[0], 2), n[0]))
    with tarfile.open(a.out, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, is_dir in names:
            kind = repl.pop(name, None)
            if kind and kind[0] == "symlink":
                add_member(tar, name, link=kind[1])
            elif kind:
                add_member(tar, name, kind[1])
            elif is_dir:
                add_member(tar, name + "/")
            else:
                with open(os.path.join(a.dir, name), "rb") as fh:
                    add_member(tar, name, fh.read())
        for name, (kind, v) in repl.items():
            add_member(tar, name, **({"link": v} if kind == "symlink" else {"data": v}))


def main():
    p = argparse.ArgumentParser(prog="mkimage.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("oci")
    o.add_argument("dir")
    o.add_argument("layers", nargs="+")
    o.add_argument("--name")
    o.add_argument("--platform", default="linux/amd64")
    o.add_argument("--created", default="2024-01-02T03:04:05Z")
    o.add_argument("--mt", action="append")
    o.add_argument("--diff-id", action="append")
    d = sub.add_parser("docker")
    d.add_argument("out")
    d.add_argument("--symlinks", action="store_true")
    d.add_argument("--image", action="append", required=True)
    k = sub.add_parser("pack")
    k.add_argument("out")
    k.add_argument("dir")
    k.add_argument("--file", action="append")
    k.add_argument("--symlink", action="append")
    a = p.parse_args()
    {"oci": cmd_oci, "docker": cmd_docker, "pack": cmd_pack}[a.cmd](a)


if __name__ == "__main__":
    main()
