# shellcheck shell=bash
# shellcheck disable=SC2034  # variables are used by the scripts that source this
# Shared by bench/make-image.sh and bench/run.sh; not meant to be run.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
CACHE_DIR=${STRATA_BENCH_CACHE:-$BENCH_DIR/cache}
RESULTS_DIR=${STRATA_BENCH_RESULTS:-$BENCH_DIR/results}

# Bump when make-image.sh changes what layers 2 and 3 contain; layer 1 (the
# debootstrap) is only rebuilt when missing or with --rebuild-base.
IMAGE_VERSION=1

LAYER1=$CACHE_DIR/layers/1-bookworm-minbase.tar.gz
LAYER2=$CACHE_DIR/layers/2-packages.tar.zst
LAYER3=$CACHE_DIR/layers/3-changes.tar
LAYERS=("$LAYER1" "$LAYER2" "$LAYER3")
# Unpacked, overlayfs-style lowerdirs (OCI whiteouts converted).
LOWER1=$CACHE_DIR/lower/1
LOWER2=$CACHE_DIR/lower/2
LOWER3=$CACHE_DIR/lower/3
LOWERS=("$LOWER1" "$LOWER2" "$LOWER3")
IMAGE_STAMP=$CACHE_DIR/image.stamp

# Packages whose contents make up layer 2 (a "python + perl + git" layer).
LAYER2_PACKAGES=(
	libpython3.11-minimal libpython3.11-stdlib python3.11-minimal
	perl-modules-5.36 libperl5.36
	git git-man curl libcurl4 ca-certificates openssl
)

export LC_ALL=C

log() { printf '[bench] %s\n' "$*" >&2; }
die() {
	printf '[bench] ERROR: %s\n' "$*" >&2
	exit 1
}

need_root() {
	[[ $(id -u) -eq 0 ]] || die "must run as root (mounts, mknod, trusted.* xattrs, drop_caches)"
}

need_cmds() {
	local c missing=()
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || missing+=("$c")
	done
	((${#missing[@]} == 0)) || die "missing commands: ${missing[*]}"
}

# unpack_layer TAR DIR: GNU tar extraction as an overlayfs lowerdir, then
# OCI whiteouts -> overlayfs whiteouts (char 0/0, trusted.overlay.opaque=y).
unpack_layer() {
	local tarfile=$1 dir=$2
	# (&&: callers may run this where errexit is off)
	mkdir -p "$dir" &&
		tar --numeric-owner --same-owner --same-permissions --xattrs --xattrs-include='*' \
			-xf "$tarfile" -C "$dir" &&
		oci_to_overlay "$dir"
}

oci_to_overlay() {
	local root=$1 f base parent name mtime
	while IFS= read -r -d '' f; do
		base=${f##*/}
		parent=${f%/*}
		mtime=$(stat -c %.9Y -- "$parent")
		case $base in
		.wh..wh..opq)
			rm -f -- "$f"
			setfattr -n trusted.overlay.opaque -v y -- "$parent"
			;;
		.wh..wh.*)
			die "unsupported OCI special whiteout: $f"
			;;
		*)
			name=${base#.wh.}
			[[ -n $name ]] || die "empty whiteout name: $f"
			rm -f -- "$f"
			[[ ! -e $parent/$name && ! -L $parent/$name ]] ||
				die "layer both creates and whites out $parent/$name"
			mknod -- "$parent/$name" c 0 0
			;;
		esac
		# Keep the directory's mtime as the tar had it.
		touch -m -d "@$mtime" -- "$parent"
	done < <(find "$root" -depth -name '.wh.*' -print0)
}

# unpack_tree DIR LAYER...: what a simple runtime does, layer after layer
# (start.sh and inspect.sh unpack the bench image this way):
# list the layer, empty its opaque directories and remove what its
# whiteouts name, extract it (GNU tar), drop the markers.
unpack_tree() {
	local dir=$1 f name base
	shift
	mkdir -p "$dir"
	for f in "$@"; do
		local marks=()
		while IFS= read -r name; do
			name=${name#./}
			base=${name##*/}
			if [[ $base == .wh..wh..opq ]]; then
				[[ ! -d $dir/${name%"$base"} ]] || find "$dir/${name%"$base"}" -mindepth 1 -delete
			else
				[[ -n ${base#.wh.} ]] || die "$f: empty whiteout name: $name"
				rm -rf -- "${dir:?}/${name%"$base"}${base#.wh.}"
			fi
			marks+=("$dir/$name")
		done < <(tar -tf "$f" | grep -E '(^|/)\.wh\.[^/]+$' || true)
		tar --numeric-owner --same-owner --same-permissions --xattrs --xattrs-include='*' -xf "$f" -C "$dir" ||
			return 1
		((${#marks[@]} == 0)) || rm -f -- "${marks[@]}"
	done
}
