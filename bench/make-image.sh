#!/usr/bin/env bash
# Builds (once) the three-layer benchmark image under bench/cache/ and the
# matching unpacked overlayfs lowerdirs.  Idempotent: does nothing when the
# cached image is complete and of the current IMAGE_VERSION.
#
#   bench/make-image.sh [--rebuild] [--rebuild-base]
#     --rebuild       rebuild layers 2 and 3 and all lowerdirs
#     --rebuild-base  also re-run debootstrap for layer 1
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rebuild=0 rebuild_base=0
for arg in "$@"; do
	case $arg in
	--rebuild) rebuild=1 ;;
	--rebuild-base) rebuild=1 rebuild_base=1 ;;
	-h | --help)
		sed -n '2,8p' "$0"
		exit 0
		;;
	*) die "unknown argument: $arg" ;;
	esac
done

need_root
need_cmds debootstrap tar gzip zstd dpkg-deb apt-get setfattr getfattr mknod find

BUILD=$CACHE_DIR/build
cleanup_build() { rm -rf -- "$BUILD"; }
trap cleanup_build EXIT

image_complete() {
	[[ -f $IMAGE_STAMP && $(sed -n 's/^version=//p' "$IMAGE_STAMP") == "$IMAGE_VERSION" ]] || return 1
	local f
	for f in "${LAYERS[@]}" "${LOWERS[@]}"; do [[ -e $f ]] || return 1; done
}

if ((!rebuild)) && image_complete; then
	log "image cached: $CACHE_DIR (version $IMAGE_VERSION)"
	exit 0
fi

mkdir -p "$CACHE_DIR/layers"
rm -f -- "$IMAGE_STAMP"
cleanup_build
mkdir -p "$BUILD"

# ---------------------------------------------------------------- layer 1
if ((rebuild_base)) || [[ ! -s $LAYER1 ]]; then
	log "layer 1: debootstrap --variant=minbase bookworm (a few minutes)"
	mirror=$("$REPO_DIR/tools/apt-mirror.sh" bookworm) || die "no Debian mirror for debootstrap"
	debootstrap --variant=minbase bookworm "$BUILD/rootfs" "$mirror" \
		>"$BUILD/debootstrap.log" 2>&1 || {
		tail -n 30 "$BUILD/debootstrap.log" >&2
		die "debootstrap failed (log above)"
	}
	tar --numeric-owner --xattrs -C "$BUILD/rootfs" -czf "$LAYER1.tmp" .
	mv -f -- "$LAYER1.tmp" "$LAYER1"
	rm -rf -- "$BUILD/rootfs"
else
	log "layer 1: reusing $LAYER1"
fi

# ---------------------------------------------------------------- layer 2
log "layer 2: apt-get download ${LAYER2_PACKAGES[*]}"
debs=$CACHE_DIR/debs
mkdir -p "$debs"
chown _apt "$debs" 2>/dev/null || true
have_all_debs() {
	local p
	for p in "${LAYER2_PACKAGES[@]}"; do
		compgen -G "$debs/${p}_*.deb" >/dev/null || return 1
	done
}
if ! have_all_debs; then
	(cd "$debs" && apt-get download -q "${LAYER2_PACKAGES[@]}") >"$BUILD/apt.log" 2>&1 || {
		log "apt-get download failed; running apt-get update once and retrying"
		apt-get update -q >>"$BUILD/apt.log" 2>&1 || true
		(cd "$debs" && apt-get download -q "${LAYER2_PACKAGES[@]}") >>"$BUILD/apt.log" 2>&1 || {
			tail -n 20 "$BUILD/apt.log" >&2
			die "apt-get download failed"
		}
	}
fi
l2=$BUILD/layer2
mkdir -p "$l2"
for p in "${LAYER2_PACKAGES[@]}"; do
	deb=$(compgen -G "$debs/${p}_*.deb" | sort -V | tail -n 1)
	dpkg-deb --fsys-tarfile "$deb" | tar --numeric-owner --same-owner -xpf - -C "$l2"
done
chmod 0755 "$l2"
# Member names without a leading "./" (as in most OCI layers; layer 1 has it).
(cd "$l2" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | sort) >"$BUILD/l2.top"
tar --numeric-owner --xattrs --sort=name -C "$l2" -cf - -T "$BUILD/l2.top" |
	zstd -q -T0 -6 -o "$LAYER2.tmp"
mv -f -- "$LAYER2.tmp" "$LAYER2"

# ------------------------------------------------------- lowerdirs 1 and 2
log "unpacking layers 1 and 2 into overlayfs lowerdirs"
rm -rf -- "$CACHE_DIR/lower"
mkdir -p "$CACHE_DIR/lower"
unpack_layer "$LAYER1" "$LOWER1"
unpack_layer "$LAYER2" "$LOWER2"

# ---------------------------------------------------------------- layer 3
log "layer 3: changes, OCI whiteouts and an opaque dir"
need_path() { [[ -e $1 || -L $1 ]] || die "layer 3 recipe: expected $1 to exist"; }
l3=$BUILD/layer3
mkdir -p "$l3"
chmod 0755 "$l3"
mkd() { install -d -m "${2:-0755}" -o 0 -g 0 "$l3/$1"; }
# Changed files of layer 1.
for f in etc/passwd etc/group etc/hostname etc/issue usr/bin/hostname etc/os-release; do
	need_path "$LOWER1/$f"
done
mkd etc
mkd usr
mkd usr/bin
{
	cat "$LOWER1/etc/passwd"
	echo 'app:x:1000:1000:app:/srv/app:/bin/sh'
} >"$l3/etc/passwd"
{
	cat "$LOWER1/etc/group"
	echo 'app:x:1000:'
} >"$l3/etc/group"
echo strata-bench >"$l3/etc/hostname"
printf 'Strata bench image (Debian GNU/Linux 12) \\n \\l\n\n' >"$l3/etc/issue"
chmod 0644 "$l3"/etc/{passwd,group,hostname,issue}
# A symlink in layer 1 replaced by a regular file.
sed 's/^PRETTY_NAME=.*/PRETTY_NAME="strata bench (bookworm)"/' "$LOWER1/usr/lib/os-release" >"$l3/etc/os-release"
chmod 0644 "$l3/etc/os-release"
# A binary replaced by a script of another size and mode.
printf '#!/bin/sh\necho strata-bench\n' >"$l3/usr/bin/hostname"
chmod 0755 "$l3/usr/bin/hostname"
# A file of layer 2 changed.
need_path "$LOWER2/usr/lib/python3.11/this.py"
mkd usr/lib
mkd usr/lib/python3.11
echo 'print("The Zen of strata: layers are read-only.")' >"$l3/usr/lib/python3.11/this.py"
chmod 0644 "$l3/usr/lib/python3.11/this.py"

# OCI whiteouts: a file, a directory, one of two hardlinks (layer 1), a
# directory of layer 2.
whiteout() {
	local path=$1 base=$2
	need_path "$base/$path"
	mkdir -p "$l3/${path%/*}"
	: >"$l3/${path%/*}/.wh.${path##*/}"
}
whiteout etc/motd "$LOWER1"
mkd usr/share
mkd usr/share/man
whiteout usr/share/man/fr "$LOWER1"
whiteout usr/bin/perl5.36.0 "$LOWER1"
whiteout usr/lib/python3.11/unittest "$LOWER2"

# An opaque dir: hides everything layers 1 and 2 put in usr/share/doc.
need_path "$LOWER1/usr/share/doc"
need_path "$LOWER2/usr/share/doc"
mkd usr/share/doc
: >"$l3/usr/share/doc/.wh..wh..opq"
printf 'Documentation removed by layer 3.\n' >"$l3/usr/share/doc/README"
mkd usr/share/doc/strata-bench
printf 'kept: same layer as the opaque marker\n' >"$l3/usr/share/doc/strata-bench/copyright"

# New files: an app tree with many small files, a few large ones, a
# hardlink, symlinks and non-root owners.
mkd srv
mkd srv/app 0750
for d in $(seq -w 1 20); do
	mkd "srv/app/lib/mod$d"
	for f in $(seq -w 1 15); do
		head -c $((((10#$d * 97 + 10#$f * 31) % 40 + 1) * 256)) /dev/urandom >"$l3/srv/app/lib/mod$d/part$f.bin"
	done
done
mkd srv/app/data
head -c $((8 << 20)) /dev/urandom >"$l3/srv/app/data/blob-8m.bin"
head -c $((3 << 20)) /dev/urandom >"$l3/srv/app/data/blob-3m.bin"
: >"$l3/srv/app/data/empty"
mkd srv/app/bin
printf '#!/bin/sh\necho tool\n' >"$l3/srv/app/bin/tool"
chmod 0755 "$l3/srv/app/bin/tool"
ln "$l3/srv/app/bin/tool" "$l3/srv/app/bin/tool-hardlink"
ln -s bin/tool "$l3/srv/app/current"
ln -s /usr/bin/python3.11 "$l3/srv/app/bin/python"
chown -R 1000:1000 "$l3/srv/app"
chmod -R u=rwX,go=rX "$l3/srv/app/lib"
(cd "$l3" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | sort) >"$BUILD/l3.top"
tar --numeric-owner --xattrs --sort=name --mtime=@1700000000 -C "$l3" -cf "$LAYER3.tmp" -T "$BUILD/l3.top"
mv -f -- "$LAYER3.tmp" "$LAYER3"
unpack_layer "$LAYER3" "$LOWER3"

# ---------------------------------------------------------------- stamp
{
	echo "version=$IMAGE_VERSION"
	for i in 1 2 3; do
		f=${LAYERS[i - 1]}
		echo "layer${i}_entries=$(tar -tf "$f" | wc -l)"
		echo "layer${i}_bytes=$(stat -c %s "$f")"
	done
	echo "layer1_tar_bytes=$(gzip -dc "$LAYER1" | wc -c)"
	echo "layer2_tar_bytes=$(zstd -dcq "$LAYER2" | wc -c)"
	echo "layer3_tar_bytes=$(stat -c %s "$LAYER3")"
	echo "built=$(date -u +%FT%TZ)"
} >"$IMAGE_STAMP.tmp"
mv -f -- "$IMAGE_STAMP.tmp" "$IMAGE_STAMP"
log "image ready:"
sed 's/^/  /' "$IMAGE_STAMP" >&2
