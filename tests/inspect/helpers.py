#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""helpers.py: image building and tar/JSON checks for tests/inspect, done
without strata (so the tests do not check strata against itself).

  helpers.py layer2 OUT         the image's second layer (see lib.sh)
  helpers.py layer3 OUT         the third
  helpers.py oci DIR TAG LAYER...
      an OCI layout in DIR (created) with the layers as blobs (media type
      from their magic), a config with Env, Cmd and one history entry per
      layer ("layer N"), a manifest and an index.json naming it TAG.
  helpers.py counts LAYER       "FILES ADDED BYTES" of a layer tar, as
      strata layers counts them when nothing is below: non-directories,
      every entry but the root, and the sizes of regular files (hard
      links not counted).
  helpers.py tarlist LAYER      one line per member of a (compressed) tar:
      TYPE NAME MODE UID:GID SIZE [link=TARGET] [sparse] [{xattr=hex,...}]
      (TYPE - d l h p c b; whiteouts and opaque markers as "W NAME").
  helpers.py members LAYER      "N MAX_MTIME": members of a layer tar.
  helpers.py config-without-times CONFIG
      the config JSON without its "created" fields, canonical.
  helpers.py diffjson FILE      a `strata diff --json` array as lines
      "KIND PATH (change, ...)", the -v text form.
  helpers.py inspect FILE KEY   prints a value of `strata inspect` JSON.
"""
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

MT_LAYER = "application/vnd.oci.image.layer.v1.tar"


def add(tar, name, kind=tarfile.REGTYPE, data=b"", mode=0o644, uid=0, gid=0,
        link="", mtime=1700000000):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.uid, ti.gid = uid, gid
    ti.mtime = mtime
    ti.linkname = link
    if kind == tarfile.REGTYPE:
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    else:
        tar.addfile(ti)


def layer2(out):
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
        add(t, "data", tarfile.DIRTYPE, mode=0o755)
        add(t, "data/big1", data=b"B" * 1000)              # overwrites 200000 bytes
        add(t, "data/.wh.big2")                             # deletes 300000 bytes
        add(t, "data/opq", tarfile.DIRTYPE, mode=0o755)
        add(t, "data/opq/.wh..wh..opq")                     # hides o1, o2
        add(t, "data/opq/o3", data=b"3" * 30)
        add(t, "opt", tarfile.DIRTYPE, mode=0o755)
        add(t, "opt/app", tarfile.DIRTYPE, mode=0o755)
        add(t, "opt/app/run.sh", data=b"#" * 5000, mode=0o755)  # overwritten in layer 3


def layer3(out):
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
        add(t, "etc", tarfile.DIRTYPE, mode=0o755)
        add(t, "etc/motd", data=b"welcome\n")
        add(t, "data", tarfile.DIRTYPE, mode=0o755)
        add(t, "data/.wh.gone3.txt")                        # deletes 7777 bytes
        add(t, "opt", tarfile.DIRTYPE, mode=0o755)
        add(t, "opt/app", tarfile.DIRTYPE, mode=0o755)
        add(t, "opt/app/run.sh", data=b"#!/bin/sh\necho v3\n", mode=0o755)


def raw(path):
    data = open(path, "rb").read()
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


def oci(d, tag, layers):
    os.makedirs(os.path.join(d, "blobs/sha256"), exist_ok=True)

    def put(data):
        h = hashlib.sha256(data).hexdigest()
        with open(os.path.join(d, "blobs/sha256", h), "wb") as f:
            f.write(data)
        return "sha256:" + h, len(data)

    descs, diff_ids = [], []
    for p in layers:
        data = open(p, "rb").read()
        dg, size = put(data)
        descs.append({"mediaType": media_type(data), "digest": dg, "size": size})
        diff_ids.append("sha256:" + hashlib.sha256(raw(p)).hexdigest())
    cfg = {"architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
           "config": {"Env": ["PATH=/bin", "GREETING=hello"], "Cmd": ["sh", "-c", "echo hi"]},
           "rootfs": {"type": "layers", "diff_ids": diff_ids},
           "history": [{"created": "2024-01-02T03:04:05Z", "created_by": "layer %d" % i}
                       for i in range(len(layers))]}
    cd, cs = put(json.dumps(cfg).encode())
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                      "digest": cd, "size": cs},
           "layers": descs}
    md, ms = put(json.dumps(man).encode())
    with open(os.path.join(d, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": man["mediaType"], "digest": md, "size": ms,
             "annotations": {"org.opencontainers.image.ref.name": tag}}]}, f)
    with open(os.path.join(d, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    print(md)


def norm(name):
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


def counts(path):
    with tarfile.open(fileobj=io.BytesIO(raw(path))) as t:
        names = {}
        for m in t.getmembers():
            n = norm(m.name)
            if n and n != ".":
                names[n] = m
    files = sum(1 for m in names.values() if not m.isdir())
    data = sum(m.size for m in names.values() if m.isreg())
    print(files, len(names), data)


def tarlist(path):
    types = {tarfile.REGTYPE: "-", tarfile.AREGTYPE: "-", tarfile.DIRTYPE: "d",
             tarfile.SYMTYPE: "l", tarfile.LNKTYPE: "h", tarfile.FIFOTYPE: "p",
             tarfile.CHRTYPE: "c", tarfile.BLKTYPE: "b", tarfile.GNUTYPE_SPARSE: "S"}
    with tarfile.open(fileobj=io.BytesIO(raw(path))) as t:
        for m in t.getmembers():
            if os.path.basename(norm(m.name)).startswith(".wh."):
                # A whiteout or opaque marker: only its name means anything.
                print("W " + norm(m.name))
                continue
            line = "%s %s %04o %d:%d %d" % (types.get(m.type, "?"), norm(m.name) or ".",
                                            m.mode, m.uid, m.gid, m.size)
            if m.issym() or m.islnk():
                line += " link=" + m.linkname
            keys = m.pax_headers
            if m.sparse is not None or any(k.startswith("GNU.sparse") for k in keys):
                line += " sparse"
            xs = sorted((k[len("SCHILY.xattr."):], v) for k, v in keys.items()
                        if k.startswith("SCHILY.xattr."))
            if xs:
                line += " {" + ",".join(
                    "%s=%s" % (k, v.encode("utf-8", "surrogateescape").hex()) for k, v in xs) + "}"
            print(line)


def members(path):
    """Prints the number of members and the latest mtime of a layer tar."""
    with tarfile.open(fileobj=io.BytesIO(raw(path))) as t:
        ms = t.getmembers()
    print(len(ms), max([int(m.mtime) for m in ms] or [0]))


def config_without_times(path):
    """A config blob without its "created" times, canonical."""
    cfg = json.load(open(path))
    cfg.pop("created", None)
    for h in cfg.get("history", []):
        h.pop("created", None)
    print(json.dumps(cfg, sort_keys=True))


def diffjson(path):
    for e in json.load(open(path)):
        line = "%s %s" % (e["kind"], e["path"])
        if e.get("changes"):
            line += " (" + ", ".join(e["changes"]) + ")"
        print(line)


def inspect(path, key):
    v = json.load(open(path))
    for k in key.split("."):
        v = v[int(k)] if isinstance(v, list) else v[k]
    print(json.dumps(v) if isinstance(v, (dict, list)) else v)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "layer2":
        layer2(args[0])
    elif cmd == "layer3":
        layer3(args[0])
    elif cmd == "oci":
        oci(args[0], args[1], args[2:])
    elif cmd == "counts":
        counts(args[0])
    elif cmd == "tarlist":
        tarlist(args[0])
    elif cmd == "members":
        members(args[0])
    elif cmd == "config-without-times":
        config_without_times(args[0])
    elif cmd == "diffjson":
        diffjson(args[0])
    elif cmd == "inspect":
        inspect(args[0], args[1])
    else:
        sys.exit("helpers.py: unknown command " + cmd)


if __name__ == "__main__":
    main()
