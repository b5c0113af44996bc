#!/usr/bin/env bash
# strata run's networks, end to end through the real launcher and pasta (from
# Debian's passt), as root and as an unprivileged user (uid 65534): a
# detached busybox httpd published with -p on 127.0.0.1 and a free port,
# reached by curl from the host; its pasta started before the command,
# shown by ps and inspect, stopped with it (stop, start, restart) and gone
# after a SIGKILL of its supervisor once the next strata command looked;
# --network none (loopback only); --network pasta without -p (the host's
# loopback at the gateway's address, not at 127.0.0.1); bad -p values and
# -p with --network host|none; pasta missing; /dev/net/tun not open to an
# ordinary user.
# shellcheck source=../integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

command -v curl >/dev/null || die 'curl is not installed'
command -v pasta >/dev/null || skip "pasta is not installed (Debian's passt)"

busybox_layer "$T/bb.tar" sh cat echo sleep grep ip nc printf tail sed httpd true

chmod 0666 /dev/fuse
mkdir -p "$T/store-user" "$T/home" "$T/hostwww"
chown 65534:65534 "$T/store-user" "$T/home"
chmod 0755 "$T"
echo 'served from the host' >"$T/hostwww/h.txt"

# /dev/net/tun as it was (0600 here; distributions ship 0666), put back at
# the end; the test's containers and servers stopped by pid.
TUN_MODE=$(stat -c %a /dev/net/tun)
PIDS=()
net_cleanup() {
	local p w
	chmod "$TUN_MODE" /dev/net/tun
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
	for w in root user; do
		strata_as "$w" rm -f web
	done
}
trap 'rc=$?; net_cleanup; (exit $rc); cleanup' EXIT

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
state_of() {
	python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else v)' "$T/store-$1/strata/containers/$2/state.json" "${@:3}" 2>/dev/null || true
}
# Whether pid $1 is still pasta (it runs as passt.avx2 or passt).
is_pasta() { grep -qE '^[0-9]+ \((pasta|passt)' "/proc/$1/stat" 2>/dev/null; }
no_pasta() { ! is_pasta "$1"; }
fetch() { curl -sS --max-time 3 "http://127.0.0.1:$1/index.html" 2>/dev/null; }
served() { [ "$(fetch "$1")" = 'served from the container' ]; }
not_served() { ! served "$1"; }

# A server on the host's loopback, for --network pasta without -p.
HP=$(free_port)
busybox httpd -f -p "127.0.0.1:$HP" -h "$T/hostwww" &
HOST_HTTPD=$!
PIDS+=("$HOST_HTTPD")
wait_until 5 curl -sf -o /dev/null "http://127.0.0.1:$HP/h.txt" || die 'the host httpd did not come up'

for who in root user; do
	strata_as $who import -q -t bb:1 "$T/bb.tar"
	assert_eq "$who: import" 0 "$RC"

	if [ $who = user ]; then
		# pasta cannot open /dev/net/tun as it is here: said in one line.
		chmod 0600 /dev/net/tun
		strata_as $who run --rm --network pasta bb:1 true
		assert_one_error_line "$who: --network pasta, /dev/net/tun 0600" 1
		assert_true "$who: ... names /dev/net/tun" grep -q /dev/net/tun "$T/err"
		# -d: the caller hears it, and is not told the container started.
		strata_as $who run -d --name bad -p "127.0.0.1:$(free_port):80" bb:1 httpd -f
		assert_one_error_line "$who: run -d -p, /dev/net/tun 0600" 1
		strata_as $who rm bad
		chmod 0666 /dev/net/tun
	fi

	# -p: pasta forwards the host's 127.0.0.1:P to the container's 80.
	P=$(free_port)
	strata_as $who run -d --name web -p "127.0.0.1:$P:80" bb:1 httpd -f -p 80 -h /www
	assert_eq "$who: run -d -p" "0 web" "$RC $(cat "$T/out")"
	assert_true "$who: curl gets the file through the published port" wait_until 5 served "$P"
	pasta=$(state_of $who web pasta pid)
	assert_true "$who: its pasta is recorded and runs" is_pasta "${pasta:-0}"
	strata_as $who ps
	assert_true "$who: ps: PORTS" grep -qE "^web .* 127\.0\.0\.1:$P->80/tcp$" "$T/out"
	assert_true "$who: ps: a PORTS header" grep -qE '^NAME +IMAGE +STATUS +CREATED +PORTS$' "$T/out"
	strata_as $who inspect web
	assert_eq "$who: inspect: mode and ports" "pasta 127.0.0.1 $P" "$(python3 -c '
import json, sys
d = json.load(sys.stdin)
d = d[0] if isinstance(d, list) else d
p = d["NetworkSettings"]["Ports"]["80/tcp"][0]
print(d["HostConfig"]["NetworkMode"], p["HostIp"], p["HostPort"])' <"$T/out")"

	# stop: pasta with it; start and restart: a new one, the port again.
	strata_as $who stop -t 2 web
	assert_eq "$who: stop" 0 "$RC"
	assert_true "$who: stop leaves no pasta (pid $pasta)" wait_until 5 no_pasta "$pasta"
	assert_true "$who: the port is closed" not_served "$P"
	assert_eq "$who: the record forgets it" "" "$(state_of $who web pasta)"
	strata_as $who start web
	assert_eq "$who: start" 0 "$RC"
	assert_true "$who: start: served again" wait_until 5 served "$P"
	was=$(state_of $who web pasta pid)
	strata_as $who restart -t 2 web
	assert_eq "$who: restart" 0 "$RC"
	assert_true "$who: restart: the old pasta is gone" wait_until 5 no_pasta "${was:-0}"
	assert_true "$who: restart: served again" wait_until 5 served "$P"

	# The supervisor killed with SIGKILL: its pasta is gone once the next
	# strata command has found the container dead.
	pasta=$(state_of $who web pasta pid)
	sup=$(state_of $who web pid)
	assert_true "$who: a supervisor and a pasta recorded" test -n "$sup" -a -n "$pasta"
	kill -KILL "${sup:-0}" 2>/dev/null || true
	wait_until 5 not_served "$P" || true
	strata_as $who ps
	assert_true "$who: ps: the container exited" grep -q 'supervisor died' "$T/out"
	assert_true "$who: kill -9 of the supervisor leaves no pasta (pid $pasta)" \
		wait_until 5 no_pasta "${pasta:-0}"
	strata_as $who rm web
	assert_eq "$who: rm" 0 "$RC"

	# rm -f of a running one (its supervisor SIGKILLed): no pasta left.
	strata_as $who run -d --name web -p "127.0.0.1:$P:80" bb:1 httpd -f -p 80 -h /www
	pasta=$(state_of $who web pasta pid)
	assert_true "$who: run -d again: a pasta" is_pasta "${pasta:-0}"
	strata_as $who rm -f web
	assert_eq "$who: rm -f" 0 "$RC"
	assert_true "$who: rm -f leaves no pasta (pid $pasta)" wait_until 5 no_pasta "${pasta:-0}"

	# A foreground run: pasta lives exactly as long as the command.
	P=$(free_port)
	strata_as $who run --rm -p "127.0.0.1:$P:80" -p "127.0.0.1:$P:80/udp" bb:1 \
		sh -c 'grep -c : /proc/net/dev'
	assert_eq "$who: run -p: lo and pasta's interface" "0 2" "$RC $(cat "$T/out")"
	assert_false "$who: no pasta left after a foreground run" pgrep -f "pasta .*/$P:80"

	# --network none: loopback only (/proc/net/dev: 2 header lines, lo).
	strata_as $who run --rm --network none bb:1 sh -c 'grep -c : /proc/net/dev; ip addr | grep -c inet'
	assert_eq "$who: --network none: only lo, up" "0 1 2" "$RC $(tr '\n' ' ' <"$T/out" | sed 's/ $//')"
	strata_as $who run --rm --net none bb:1 sh -c 'grep -c : /proc/net/dev'
	assert_eq "$who: --net none (the alias)" "0 1" "$RC $(cat "$T/out")"

	# --network pasta without -p: the host's 127.0.0.1 is not the
	# container's, and the host's loopback is not at the gateway's address
	# either (--no-map-gw: see run_pasta.c).  (busybox's nc: its static
	# wget crashes in getaddrinfo.)
	strata_as $who run --rm --network pasta bb:1 sh -c "
		get() { printf 'GET /h.txt HTTP/1.0\r\n\r\n' | nc -w 2 \$1 $HP 2>/dev/null | tail -n 1; }
		gw=\$(ip route | sed -n 's/^default via \\([0-9.]*\\).*/\\1/p')
		echo \"gateway \$gw: \$(get \$gw)\"
		echo \"loopback: \$(get 127.0.0.1)\""
	assert_true "$who: --network pasta: a default route" grep -qE '^gateway [0-9.]+: ' "$T/out"
	assert_false "$who: --network pasta: not the host's loopback" grep -q 'served from the host' "$T/out"

	# Bad values: usage errors, one line.
	for bad in 0:80 127.0.0.1:0:80 70000:80 80:70000 80 garbage 1.2.3:80:80 \
		80:80/sctp 127.0.0.1::80 ::80 -1:80; do
		strata_as $who run --rm -p "$bad" bb:1 true
		assert_one_error_line "$who: -p $bad" 2
	done
	strata_as $who run --rm --network host -p 8080:80 bb:1 true
	assert_one_error_line "$who: --network host -p" 2
	strata_as $who run --rm -p 8080:80 --net none bb:1 true
	assert_one_error_line "$who: -p --net none" 2
	strata_as $who run --rm --network bridge bb:1 true
	assert_one_error_line "$who: --network bridge" 2

	# pasta missing: one line naming the package, nothing left behind.
	if [ $who = root ]; then
		run env PATH=/nonexistent STRATA_ROOT="$T/store-root" "$STRATA" run --rm -p 8080:80 bb:1 true
	else
		run setpriv --reuid 65534 --regid 65534 --clear-groups env PATH=/nonexistent \
			HOME="$T/home" STRATA_ROOT="$T/store-user" "$STRATA" run --rm -p 8080:80 bb:1 true
	fi
	assert_one_error_line "$who: pasta missing" 1
	assert_eq "$who: ... names the package" \
		"strata: --network pasta: pasta not found: install Debian's passt package" "$ERR"
	strata_as $who ps
	assert_eq "$who: no container left" 1 "$(wc -l <"$T/out")"
done

strata_as root run --help
assert_true "run --help: --network" grep -q -- '--network MODE' "$T/out"
assert_true "run --help: --publish" grep -q -- '--publish' "$T/out"

kill "$HOST_HTTPD" 2>/dev/null || true
wait "$HOST_HTTPD" 2>/dev/null || true
assert_false "no pasta of this test left" pgrep -f "pasta .*127\.0\.0\.1/[0-9]+:80 "
assert_nothing_mounted_under "no mount left" "$T"
finish
