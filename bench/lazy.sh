#!/usr/bin/env bash
# bench/lazy.sh: a lazy run against a full pull + run, over a shaped link.
#
# The Debian bench image (bench/make-image.sh) with every layer strata can
# serve lazily (the minbase gzip, the python/perl/git layer recompressed
# with gzip, the plain tar), pushed by strata with its index artifact to
# Debian's docker-registry in a network namespace made here.  Between the
# client and the registry: tbf on both ends of the veth (RATE), and a
# delaying proxy on 127.0.0.1 (bench/delay-proxy.py: RTT per request, this
# kernel has no netem) that counts the bytes it serves.  In one run, each
# timed N times from an empty store:
#
#   lazy         strata run --rm --lazy IMG perl -MTest::More -e 'print 1'
#   lazy-again   the same again (its pieces fetched, kept)
#   pull         strata pull IMG alone (every layer indexed)
#   pull+run     strata pull IMG, then the same run
#   run-pulled   the same run on the fully pulled image
#   skopeo       skopeo copy docker://IMG oci:DIR (the download alone)
#   podman       skopeo copy docker://IMG containers-storage:…, then
#                podman run --rm (kernel overlayfs) of the same command,
#                in a mount namespace without /sys/fs/cgroup/unified
#                (crun refuses this host's hybrid layout), as
#                tests/extended/podman.sh runs it
#
#   bench/lazy.sh [--runs N] [--rate 100mbit] [--rtt-ms 20] [--strata PATH]
#
# Root.  Results: bench/results/lazy-<time>.json.
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

runs=3 rate=100mbit rtt=20 strata=$REPO_DIR/build/tools/strata
while (($#)); do
	case $1 in
	--runs) runs=$2 && shift ;;
	--rate) rate=$2 && shift ;;
	--rtt-ms) rtt=$2 && shift ;;
	--strata) strata=$(realpath "$2") && shift ;;
	-h | --help) sed -n '2,27p' "$0" && exit 0 ;;
	*) die "unknown argument: $1" ;;
	esac
	shift
done
need_root
need_cmds docker-registry skopeo podman ip tc python3 gzip zstd
"$BENCH_DIR/make-image.sh" >&2

W=$CACHE_DIR/lazy
NS=strata-lazy-$$ VH=vlz$$h VN=vlz$$n NET=10.213.$(($$ % 200)).
regpid='' proxypid=''
stop() {
	[ -z "$proxypid" ] || kill "$proxypid" 2>/dev/null || true
	[ -z "$regpid" ] || kill "$regpid" 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	ip link del "$VH" 2>/dev/null || true
}
trap stop EXIT
mkdir -p "$W" "$RESULTS_DIR"
rm -rf "$W/registry" "$W/layout" "$W/src" "$W/s" "$W/oci"

# Layer 2 is one zstd frame, which strata reads from a copy: gzip instead.
L2GZ=$W/2-packages.tar.gz
[ -s "$L2GZ" ] || zstd -dc "$LAYER2" | gzip -6 >"$L2GZ"
python3 "$REPO_DIR/tests/store/mkimage.py" oci "$W/layout" --name debian:lazy \
	"$LAYER1" "$L2GZ" "$LAYER3" >/dev/null
"$strata" import -q --root "$W/src" "$W/layout" >/dev/null

# The registry in its namespace, pushed to before the link is shaped.
ip netns add "$NS"
ip link add "$VH" type veth peer name "$VN"
ip link set "$VN" netns "$NS"
ip addr add "${NET}1/24" dev "$VH" && ip link set "$VH" up
ip netns exec "$NS" ip addr add "${NET}2/24" dev "$VN"
ip netns exec "$NS" ip link set "$VN" up
ip netns exec "$NS" ip link set lo up
printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: "%s2:5000"}\n' \
	"$W/registry" "$NET" >"$W/registry.yml"
ip netns exec "$NS" env -u REGISTRY_AUTH_FILE docker-registry serve "$W/registry.yml" >"$W/registry.log" 2>&1 &
regpid=$!
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
: >"$W/count"
python3 "$BENCH_DIR/delay-proxy.py" "$port" "${NET}2:5000" "$rtt" "$W/count" &
proxypid=$!
for _ in $(seq 100); do
	curl -fs -o /dev/null "http://127.0.0.1:$port/v2/" && break
	sleep 0.1
done
REF=127.0.0.1:$port/debian:lazy
export STRATA_ROOT=$W/unused
"$strata" push -q --tls-verify=false --root "$W/src" debian:lazy "$REF" >/dev/null
size=$(du -cb "$LAYER1" "$L2GZ" "$LAYER3" | tail -1 | cut -f1)

# Shaped from here on: RATE each way (tbf burst: 1 ms of the rate).
for side in "" "ip netns exec $NS"; do
	dev=$VH
	[ -z "$side" ] || dev=$VN
	$side tc qdisc add dev "$dev" root tbf rate "$rate" burst 64kb latency 100ms
done

# timed NAME CMD...: seconds of one run into $W/NAME.times; bytes served
# meanwhile into $W/NAME.bytes.
timed() {
	local name=$1 t0 t1
	shift
	: >"$W/count"
	t0=$(date +%s.%N)
	"$@" >"$W/out" 2>"$W/err" || die "$name: $* failed: $(cat "$W/err")"
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >>"$W/$name.times"
	awk '{ n += $4 } END { print n + 0 }' "$W/count" >>"$W/$name.bytes"
}
fresh() { rm -rf "$W/s" "$W/oci" "$W/pod"; sync; }
printf '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' \
	>"$W/containers.conf"
cat >"$W/podman.sh" <<-'POD'
	set -eu
	W=$1 REF=$2
	shift 2
	! mountpoint -q /sys/fs/cgroup/unified || umount /sys/fs/cgroup/unified
	export CONTAINERS_CONF=$W/containers.conf
	skopeo copy -q --src-tls-verify=false "docker://$REF" \
		"containers-storage:[overlay@$W/pod/storage+$W/pod/run]$REF"
	podman --root "$W/pod/storage" --runroot "$W/pod/run" --storage-driver overlay \
		--cgroup-manager cgroupfs --events-backend file \
		run --rm --pull never --network none "$REF" "$@"
POD
# python3.11 of layer 2 lacks libexpat1 (not in the image): perl, with a
# module of layer 2's perl-modules, is the language runtime here.
PY=(perl -MTest::More -e 'print 1')
for f in lazy lazy-again pull pull+run run-pulled skopeo podman; do : >"$W/$f.times" && : >"$W/$f.bytes"; done

for i in $(seq "$runs"); do
	log "run $i of $runs"
	fresh
	timed lazy "$strata" run --rm --lazy --tls-verify=false --root "$W/s" "$REF" "${PY[@]}"
	[ "$(cat "$W/out")" = 1 ] || die "lazy run printed: $(cat "$W/out")"
	timed lazy-again "$strata" run --rm --root "$W/s" "$REF" "${PY[@]}"
	fresh
	timed pull "$strata" pull -q --tls-verify=false --root "$W/s" "$REF"
	fresh
	# shellcheck disable=SC2016 # expanded by the inner bash
	timed pull+run bash -c '"$1" pull -q --tls-verify=false --root "$2" "$3" >/dev/null &&
		"$1" run --rm --root "$2" "$3" perl -MTest::More -e "print 1"' _ "$strata" "$W/s" "$REF"
	timed run-pulled "$strata" run --rm --root "$W/s" "$REF" "${PY[@]}"
	fresh
	timed skopeo skopeo copy -q --src-tls-verify=false "docker://$REF" "oci:$W/oci:x"
	fresh
	timed podman unshare -m --propagation private bash "$W/podman.sh" "$W" "$REF" "${PY[@]}"
	[ "$(cat "$W/out")" = 1 ] || die "podman run printed: $(cat "$W/out")"
done

median() { sort -n "$W/$1" | awk '{ v[NR] = $1 } END { printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
lz=$(median lazy.times) la=$(median lazy-again.times) pr=$(median pull+run.times) pl=$(median pull.times)
rp=$(median run-pulled.times) sk=$(median skopeo.times) lb=$(median lazy.bytes)
pd=$(median podman.times)
printf '%-12s %8s s\n' lazy "$lz" lazy-again "$la" pull "$pl" pull+run "$pr" run-pulled "$rp" skopeo "$sk" \
	skopeo+podman "$pd"
awk -v pl="$pl" -v sk="$sk" 'BEGIN { printf "pull / skopeo: %.2f\n", pl / sk }'
awk -v lz="$lz" -v la="$la" -v pr="$pr" -v rp="$rp" -v lb="$lb" -v sz="$size" -v n="$runs" \
	-v pd="$pd" -v rate="$rate" -v rtt="$rtt" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
	printf "lazy / (pull + run): %.2f   lazy / (skopeo + podman run): %.2f   fetched %.1f MB of %.1f MB (%.1f %%)   lazy-again / run-pulled: %.2f   (%s, %s ms RTT, %d runs, load %s)\n",
		lz / pr, lz / pd, lb / 1e6, sz / 1e6, 100 * lb / sz, la / rp, rate, rtt, n, load }'
out=$RESULTS_DIR/lazy-$(date -u +%Y%m%dT%H%M%SZ).json
printf '{"runs": %d, "rate": "%s", "rtt_ms": %s, "image_bytes": %d, "lazy_s": %s, "lazy_again_s": %s, "pull_s": %s, "pull_run_s": %s, "run_pulled_s": %s, "skopeo_s": %s, "skopeo_podman_s": %s, "lazy_bytes": %s, "git": "%s"}\n' \
	"$runs" "$rate" "$rtt" "$size" "$lz" "$la" "$pl" "$pr" "$rp" "$sk" "$pd" "$lb" \
	"$(git -C "$REPO_DIR" rev-parse --short HEAD)" >"$out"
log "results: $out"
