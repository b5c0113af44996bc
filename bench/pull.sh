#!/usr/bin/env bash
# bench/pull.sh: strata pull against skopeo copy, from Debian's
# docker-registry on 127.0.0.1, with the three-layer Debian image of
# bench/make-image.sh (~100 MB compressed).  In one run, each timed N times
# (medians), from an empty store or directory each time:
#
#   strata-pull     strata pull (ready to mount: every layer indexed), of an
#                   image pushed by skopeo (no index artifact)
#   strata-adopt    strata pull --verify=deferred of the same image pushed by
#                   strata push (with its index artifact): ready to mount,
#                   the artifact's indexes adopted
#   verify          then strata fsck --adopted: what the default pull leaves
#                   to its background verifier (idle priority), timed alone
#   skopeo          skopeo copy docker://... oci:DIR (blobs only)
#   skopeo+import   skopeo copy, then strata import DIR
#   run-pull        strata run --rm IMG true from an empty store (pull included)
#
#   bench/pull.sh [--runs N] [--strata PATH] [--all-gzip]
# --all-gzip: layer 2 recompressed with gzip -1 (as registries mostly hold
# layers), so that every layer has a portable index; by default it is one
# zstd frame, which strata reads from a decompressed copy and indexes
# itself even when the image has an index artifact.
# Root, like the other benches; the registry's data and the stores live
# under bench/cache/pull (page cache warm: it measures the clients, not a
# network).  Results: bench/results/pull-<time>.json.
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

runs=5 strata=$REPO_DIR/build/tools/strata all_gzip=
while (($#)); do
	case $1 in
	--runs) runs=$2 && shift ;;
	--strata) strata=$(realpath "$2") && shift ;;
	--all-gzip) all_gzip=1 ;;
	-h | --help) sed -n '2,16p' "$0" && exit 0 ;;
	*) die "unknown argument: $1" ;;
	esac
	shift
done
need_root
need_cmds skopeo docker-registry python3
"$BENCH_DIR/make-image.sh" >&2

W=$CACHE_DIR/pull
rm -rf "$W" && mkdir -p "$W" "$RESULTS_DIR"
if [ -n "$all_gzip" ]; then
	gz=$CACHE_DIR/layers/2-packages.tar.gz
	if [ ! -s "$gz" ]; then
		zstd -dc "$LAYER2" | gzip -1 -n >"$gz.tmp"
		mv "$gz.tmp" "$gz"
	fi
	LAYERS=("$LAYER1" "$gz" "$LAYER3")
fi
regpid=
stop() { [ -z "$regpid" ] || kill "$regpid" 2>/dev/null || true; }
trap stop EXIT

# The image as an OCI layout, pushed to a registry on a free port.
python3 "$REPO_DIR/tests/store/mkimage.py" oci "$W/layout" --name debian:bench "${LAYERS[@]}" >/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: "127.0.0.1:%s"}\n' \
	"$W/registry" "$port" >"$W/registry.yml"
env -u REGISTRY_AUTH_FILE docker-registry serve "$W/registry.yml" >"$W/registry.log" 2>&1 &
regpid=$!
for _ in $(seq 50); do
	python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
	sleep 0.1
done
REF=127.0.0.1:$port/debian:bench
skopeo copy -q --dest-tls-verify=false "oci:$W/layout:debian:bench" "docker://$REF" >/dev/null
# The same image with strata's index artifact, in a repository of its own.
AREF=127.0.0.1:$port/debian-indexed:bench
"$strata" import -q --root "$W/pusher" "$W/layout" >/dev/null
"$strata" push -q --tls-verify=false --root "$W/pusher" debian:bench "$AREF" >/dev/null
export STRATA_ROOT=$W/unused

# timed NAME CMD...: seconds of one run, appended to $W/NAME.times.
timed() {
	local name=$1 t0 t1
	shift
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>"$W/err" || die "$name: $* failed: $(cat "$W/err")"
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >>"$W/$name.times"
}

fresh() { rm -rf "$W/store" "$W/oci"; sync; }

for i in $(seq "$runs"); do
	log "run $i of $runs"
	fresh
	timed strata-pull "$strata" pull -q --tls-verify=false --root "$W/store" "$REF"
	fresh
	timed strata-adopt "$strata" pull -q --tls-verify=false --verify=deferred --root "$W/store" "$AREF"
	timed verify "$strata" fsck --adopted --root "$W/store"
	fresh
	timed skopeo skopeo copy -q --src-tls-verify=false "docker://$REF" "oci:$W/oci:debian:bench"
	fresh
	# shellcheck disable=SC2016 # expanded by the inner bash
	timed skopeo+import bash -c 'skopeo copy -q --src-tls-verify=false "docker://$1" "oci:$2/oci:debian:bench" &&
		"$3" import -q --root "$2/store" "$2/oci"' _ "$REF" "$W" "$strata"
	fresh
	timed run-pull "$strata" run --rm --tls-verify=false --root "$W/store" "$REF" true
done

median() { sort -n "$W/$1.times" | awk '{ v[NR] = $1 } END { printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
sp=$(median strata-pull) sk=$(median skopeo) si=$(median skopeo+import) rp=$(median run-pull)
sa=$(median strata-adopt) sv=$(median verify)
size=$(du -cb "${LAYERS[@]}" | tail -1 | cut -f1)
printf '%-22s %8s s\n' 'strata pull' "$sp" 'strata pull (artifact)' "$sa" '  then fsck --adopted' "$sv" \
	'skopeo copy' "$sk" 'skopeo+import' "$si" 'run --rm (pull)' "$rp"
awk -v sp="$sp" -v sa="$sa" -v sk="$sk" -v si="$si" -v mb=$((size / 1000000)) -v n="$runs" 'BEGIN {
	printf "strata pull / skopeo copy: %.2f   / skopeo+import: %.2f   (image %d MB compressed, %d runs)\n",
		sp / sk, sp / si, mb, n
	printf "strata pull with the index artifact / skopeo copy: %.2f\n", sa / sk }'
out=$RESULTS_DIR/pull-$(date -u +%Y%m%dT%H%M%SZ).json
printf '{"runs": %d, "all_gzip": %s, "image_bytes": %d, "strata_pull_s": %s, "strata_pull_adopt_s": %s, "verify_s": %s, "skopeo_copy_s": %s, "skopeo_import_s": %s, "run_pull_s": %s, "git": "%s"}\n' \
	"$runs" "${all_gzip:+true}${all_gzip:-false}" "$size" "$sp" "$sa" "$sv" "$sk" "$si" "$rp" "$(git -C "$REPO_DIR" rev-parse --short HEAD)" >"$out"
log "results: $out"
