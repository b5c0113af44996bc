#!/usr/bin/env python3
"""Write bench/scale.sh's layer: a plain ustar tar of DIRS directories of
FILES small files each, straight to OUT (no tree on disk), and the list of
its paths (one a line, tar order) to LIST.

    scale-gen.py DIRS FILES OUT LIST

Names d0000/ and d0000/f0000 (width grows with the counts), owner 0:0,
modes 0755 / 0644, one fixed mtime.  File i holds 100 to 511 bytes of text
cut from a fixed pool of words (so one tar block of data, about 1 KiB of tar
per entry, and gzip squeezes it ~13:1 as the issue's layer).  Deterministic:
the same arguments give the same bytes.
"""
import random
import sys

MTIME = 1700000000


def header(name, mode, size, typeflag):
    def octal(v, width):
        return b"%0*o\0" % (width - 1, v)

    h = bytearray(512)
    h[0 : len(name)] = name
    h[100:108] = octal(mode, 8)
    h[108:116] = octal(0, 8)
    h[116:124] = octal(0, 8)
    h[124:136] = octal(size, 12)
    h[136:148] = octal(MTIME, 12)
    h[148:156] = b"        "
    h[156:157] = typeflag
    h[257:265] = b"ustar\x0000"
    h[265:269] = b"root"
    h[297:301] = b"root"
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def main():
    dirs, files, out, listing = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    rng = random.Random(16)
    words = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
        for _ in range(400)
    ]
    pool = " ".join(rng.choice(words) for _ in range(40000)).encode()
    dw = max(4, len(str(dirs - 1)))
    fw = max(4, len(str(files - 1)))
    with open(out, "wb", buffering=1 << 20) as t, open(listing, "w", buffering=1 << 20) as ls:
        n = 0
        for d in range(dirs):
            dname = b"d%0*d" % (dw, d)
            t.write(header(dname + b"/", 0o755, 0, b"5"))
            ls.write(dname.decode() + "\n")
            for f in range(files):
                name = b"%s/f%0*d" % (dname, fw, f)
                size = 100 + (n * 2654435761 >> 7) % 412
                off = (n * 40503) % (len(pool) - 512)
                t.write(header(name, 0o644, size, b"0"))
                t.write(pool[off : off + size] + bytes(512 - size))
                ls.write(name.decode() + "\n")
                n += 1
        t.write(bytes(10240))


if __name__ == "__main__":
    main()
