#!/usr/bin/env bash
# bench/push.sh: strata push against skopeo copy, to Debian's
# docker-registry on 127.0.0.1, with the three-layer Debian image of
# bench/make-image.sh (~100 MB compressed).  In one run, each timed N times
# (medians), each time to a registry started empty on a new port (so that
# no blob is there, and skopeo's blob-info cache knows no place to mount
# from):
#
#   strata-push     strata push IMG 127.0.0.1:PORT/debian:bench (from a store)
#   skopeo          skopeo copy oci:DIR docker://127.0.0.1:PORT/debian:bench
#   strata-again    strata push again to the same registry (HEADs only)
#
#   bench/push.sh [--runs N] [--strata PATH]
# Root, like the other benches; the registries' data and the store live
# under bench/cache/push (page cache warm: it measures the clients, not a
# network).  Results: bench/results/push-<time>.json.
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

runs=5 strata=$REPO_DIR/build/tools/strata
while (($#)); do
	case $1 in
	--runs) runs=$2 && shift ;;
	--strata) strata=$(realpath "$2") && shift ;;
	-h | --help) sed -n '2,17p' "$0" && exit 0 ;;
	*) die "unknown argument: $1" ;;
	esac
	shift
done
need_root
need_cmds skopeo docker-registry python3
"$BENCH_DIR/make-image.sh" >&2

W=$CACHE_DIR/push
rm -rf "$W" && mkdir -p "$W" "$RESULTS_DIR"
regpid=
stop() {
	[ -z "$regpid" ] || kill "$regpid" 2>/dev/null || true
	[ -z "$regpid" ] || wait "$regpid" 2>/dev/null || true
	regpid=
}
trap stop EXIT

# fresh_registry: an empty registry on a new free port; sets REF.
fresh_registry() {
	local port
	stop
	rm -rf "$W/registry"
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
}

# The image as an OCI layout, and imported into a store.
python3 "$REPO_DIR/tests/store/mkimage.py" oci "$W/layout" --name debian:bench "${LAYERS[@]}" >/dev/null
"$strata" import -q --root "$W/store" "$W/layout" >/dev/null
export STRATA_ROOT=$W/unused

# timed NAME CMD...: seconds of one run, appended to $W/NAME.times.
timed() {
	local name=$1 t0 t1
	shift
	t0=$(date +%s.%N)
	"$@" >"$W/out" 2>"$W/err" || die "$name: $* failed: $(cat "$W/err")"
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >>"$W/$name.times"
}

for i in $(seq "$runs"); do
	log "run $i of $runs"
	fresh_registry
	sync
	timed strata-push "$strata" push -q --tls-verify=false --root "$W/store" debian:bench "$REF"
	timed strata-again "$strata" push -q --tls-verify=false --root "$W/store" debian:bench "$REF"
	fresh_registry
	sync
	timed skopeo skopeo copy -q --dest-tls-verify=false "oci:$W/layout:debian:bench" "docker://$REF"
done
stop

median() { sort -n "$W/$1.times" | awk '{ v[NR] = $1 } END { printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
sp=$(median strata-push) sk=$(median skopeo) sa=$(median strata-again)
size=$(du -cb "${LAYERS[@]}" | tail -1 | cut -f1)
printf '%-16s %8s s\n' 'strata push' "$sp" 'skopeo copy' "$sk" 'strata push (2)' "$sa"
awk -v sp="$sp" -v sk="$sk" -v mb=$((size / 1000000)) -v n="$runs" 'BEGIN {
	printf "strata push / skopeo copy: %.2f   (image %d MB compressed, %d runs)\n", sp / sk, mb, n }'
out=$RESULTS_DIR/push-$(date -u +%Y%m%dT%H%M%SZ).json
printf '{"runs": %d, "image_bytes": %d, "strata_push_s": %s, "skopeo_copy_s": %s, "strata_push_again_s": %s, "git": "%s"}\n' \
	"$runs" "$size" "$sp" "$sk" "$sa" "$(git -C "$REPO_DIR" rev-parse --short HEAD)" >"$out"
log "results: $out"
