#!/bin/bash
# longnames: names > 100 bytes, a 255-byte name, paths > 255 and > 1000
# bytes, long symlink and hard link targets (pax and gnu formats; ustar
# within its limits), and names that are not UTF-8 or hold odd bytes.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rep() { printf "%${2}s" '' | tr ' ' "$1"; }

n150=$(rep L 150)
n255=$(rep M 255)
d100=$(rep D 100)
c99=$(rep C 99)
deep=$c99/$c99/$c99/$c99/$c99/$c99/$c99/$c99/$c99/$c99
target300=$(rep t 100)/$(rep u 100)/$(rep v 98)

# Each entry: TYPE ESCAPED-NAME [ESCAPED-TARGET].  Names use \xHH escapes,
# understood both by mklayer and by printf %b.
entries=(
	"dir long"
	"file long/$n150"
	"file long/$n255"
	"dir long/$d100"
	"dir long/$d100/$d100"
	"dir long/$d100/$d100/$d100"
	"file long/$d100/$d100/$d100/$n150"
	"dir deep"
	"dir deep/$c99"
	"dir deep/$c99/$c99"
	"dir deep/$c99/$c99/$c99"
	"dir deep/$c99/$c99/$c99/$c99"
	"dir deep/$c99/$c99/$c99/$c99/$c99"
	"dir deep/$c99/$c99/$c99/$c99/$c99/$c99"
	"dir deep/$c99/$c99/$c99/$c99/$c99/$c99/$c99"
	"dir deep/$c99/$c99/$c99/$c99/$c99/$c99/$c99/$c99"
	"dir deep/$c99/$c99/$c99/$c99/$c99/$c99/$c99/$c99/$c99"
	"dir deep/$deep"
	"file deep/$deep/$n255"
	"symlink long/symlong $target300"
	"hardlink long/hardlong long/$d100/$d100/$d100/$n150"
	"dir odd"
	"file odd/\xff\xfe"
	"file odd/caf\xe9"
	"file odd/caf\xc3\xa9"
	"file odd/\xe6\x97\xa5\xe6\x9c\xac"
	"file odd/with\x20space"
	"file odd/tab\x09here"
	"file odd/new\x0aline"
	"file odd/back\x5cslash"
	"file odd/-rf"
	"file odd/..."
	"file odd/\x01ctrl"
	"dir odd/\x80\x81dir"
	"file odd/\x80\x81dir/inside\xff"
	"symlink odd/\xfflink odd/\xff\xfe"
)

# spec: the mklayer spec of the entries (file content: its own path).
spec() {
	local e type name target
	for e in "${entries[@]}"; do
		read -r type name target <<<"$e"
		case $type in
		file) printf 'file %s content=%s\n' "$name" "$name" ;;
		dir) printf 'dir %s\n' "$name" ;;
		*) printf '%s %s target=%s\n' "$type" "$name" "$target" ;;
		esac
	done
}

# expected_names: the real paths, NUL-separated, sorted.
expected_names() {
	local e type name
	for e in "${entries[@]}"; do
		read -r type name _ <<<"$e"
		printf '%b\0' "$name"
	done | sort -z
}

# check_mount WHAT MNT: every name is there, with its content or target.
check_mount() {
	local what=$1 m=$2 e type name target real
	(cd "$m" && find . -mindepth 1 -printf '%P\0' | sort -z) >"$T/got.names"
	if cmp -s "$T/expected.names" "$T/got.names"; then
		pass
	else
		fail "$what: names differ (- expected, + got):"
		diff <(tr '\0\n' '\n?' <"$T/expected.names") <(tr '\0\n' '\n?' <"$T/got.names") |
			cat -v | head -20 >&2 || true
	fi
	for e in "${entries[@]}"; do
		read -r type name target <<<"$e"
		real=$(printf '%b' "$name")
		case $type in
		file)
			printf '%b' "$name" >"$T/exp.content"
			if cmp -s "$T/exp.content" "$m/$real"; then pass; else
				fail "$what: content of $(printf '%s' "$real" | cat -v | head -c 80)..."
			fi
			;;
		dir)
			if [ -d "$m/$real" ]; then pass; else
				fail "$what: $(printf '%s' "$real" | cat -v | head -c 80)... is not a dir"
			fi
			;;
		symlink)
			assert_eq "$what: symlink target of $name" "$(printf '%b' "$target")" "$(readlink "$m/$real")"
			;;
		hardlink)
			assert_eq "$what: hard link $name shares the inode" \
				"$(stat -c %i "$m/$(printf '%b' "$target")")" "$(stat -c %i "$m/$real")"
			;;
		esac
	done
	# The longest path resolves in one lookup from the root as well.
	assert_stat "$what: a 1000+ byte path" '%s' "$m/deep/$deep/$n255" $((${#deep} + 6 + 255))
	assert_eq "$what: length of that path" 1260 "$((${#deep} + 6 + 255))"
}

expected_names >"$T/expected.names"
M=$T/mnt
for fmt in pax gnu; do
	spec | mk "$T/$fmt.tar" -f "$fmt"
	smount "$M" --layer "$T/$fmt.tar"
	check_mount "$fmt" "$M"
	# GNU tar agrees with what we serve.
	rm -rf "$T/ref"
	mkdir "$T/ref"
	tar -C "$T/ref" -xf "$T/$fmt.tar" 2>"$T/tar.err" || fail "GNU tar cannot extract $fmt.tar: $(cat "$T/tar.err")"
	(cd "$T/ref" && find . -mindepth 1 -printf '%P\0' | sort -z) >"$T/ref.names"
	assert_same_file "$fmt: names as GNU tar extracts them" "$T/ref.names" "$T/got.names"
	sumount "$M"
done
# The same layer, gzip-compressed: names survive the decompressed copy.
gzip -c "$T/pax.tar" >"$T/pax.tar.gz"
smount "$M" --layer "$T/pax.tar.gz"
check_mount pax.gz "$M"
sumount "$M"

# ustar: 251-byte paths through the prefix field, 100-byte names.
u100=$(rep U 100)
a99=$(rep A 99)
b50=$(rep B 50)
mk "$T/ustar.tar" -f ustar <<EOF
dir $a99
dir $a99/$b50
file $a99/$b50/$u100 content=ustar
symlink $a99/$b50/l target=$u100
EOF
smount "$M" --layer "$T/ustar.tar"
assert_content 'ustar: a 251-byte path' "$M/$a99/$b50/$u100" 'ustar'
assert_content 'ustar: through a symlink' "$M/$a99/$b50/l" 'ustar'
sumount "$M"
finish
