# shellcheck shell=bash
# Helpers for the registry tests, on top of the store tests' lib.sh (temp
# dir $T, store $R, images made from real files, assertions, `finish`).
# Source it first thing:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Servers (Debian's docker-registry, and the small python servers of
# servers.py: a token server and a faulty proxy) listen on 127.0.0.1 only,
# on free ports, with configs written here at test time; they are stopped
# by pid when the test ends, whatever way it ends.

# shellcheck source=../store/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../store/lib.sh"

SERVERS=$(dirname "${BASH_SOURCE[0]}")/servers.py
# Debian's python, whose packages (python3-jwt) the servers use, even when
# another python3 comes first on PATH.
DEBIAN_PY=/usr/bin/python3
[ -x "$DEBIAN_PY" ] || DEBIAN_PY=python3
command -v docker-registry >/dev/null || skip 'docker-registry is not installed'
command -v skopeo >/dev/null || skip 'skopeo is not installed'

SERVER_PIDS=()
# No user's registries.conf, auth file or certs.d may change what a test sees.
export HOME=$T/home CONTAINERS_REGISTRIES_CONF=$T/registries.conf REGISTRY_AUTH_FILE=$T/auth.json
export STRATA_CERTS_D=$T/certs.d XDG_RUNTIME_DIR=$T/run
mkdir -p "$HOME" "$STRATA_CERTS_D" "$XDG_RUNTIME_DIR"
: >"$CONTAINERS_REGISTRIES_CONF"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

stop_servers() {
	local p
	for p in "${SERVER_PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${SERVER_PIDS[@]}"; do
		# Bounded: 5 s, then SIGKILL.
		wait_until 5 bash -c "! kill -0 $p 2>/dev/null" || kill -KILL "$p" 2>/dev/null || true
	done
	SERVER_PIDS=()
}

registry_cleanup() {
	local rc=$?
	stop_servers
	(exit "$rc")
	cleanup
}
trap registry_cleanup EXIT

# free_port: a TCP port nothing listens on, on 127.0.0.1.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT: until something accepts on 127.0.0.1:PORT (10 s at most).
wait_port() {
	wait_until 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null ||
		die "nothing listens on 127.0.0.1:$1"
}

# start_registry NAME [YAML...]: docker-registry on a free port with its
# data in $T/NAME; extra YAML lines are appended to the config (under its
# top level).  Sets PORT; the address is 127.0.0.1:$PORT.
start_registry() {
	local name=$1 conf=$T/$1.yml line
	shift
	PORT=$(free_port)
	{
		printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n'
		printf 'storage:\n  filesystem:\n    rootdirectory: %s\n' "$T/$name"
		printf '  delete:\n    enabled: true\n'
		printf 'http:\n  addr: 127.0.0.1:%s\n' "$PORT"
		for line in "$@"; do
			printf '%s\n' "$line"
		done
	} >"$conf"
	# Not REGISTRY_AUTH_FILE: the registry reads REGISTRY_* as settings.
	env -u REGISTRY_AUTH_FILE docker-registry serve "$conf" >"$T/$name.log" 2>&1 &
	SERVER_PIDS+=($!)
	wait_port "$PORT"
}

# start_server KIND ARGS...: servers.py KIND on a free port (SPORT), its
# log in $T/KIND-SPORT.log (SLOG).
start_server() {
	local kind=$1
	shift
	SPORT=$(free_port)
	SLOG=$T/$kind-$SPORT.log
	"$DEBIAN_PY" "$SERVERS" "$kind" "$SPORT" "$@" >"$SLOG" 2>&1 &
	SERVER_PIDS+=($!)
	wait_port "$SPORT"
}

# start_token_registry USER:PASSWORD [EXP]: a token server (servers.py)
# that grants USER:PASSWORD what it asks for (tokens whose "exp" is EXP
# seconds from now), with a key made by openssl, and a registry "bearer"
# that trusts it.  Sets PORT (the registry's), TOKEN_PORT and TOKEN_LOG.
start_token_registry() {
	local p=$T/token
	mkdir -p "$p"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=token -keyout "$p/key.pem" \
		-out "$p/cert.pem" >/dev/null 2>&1 || die 'openssl failed'
	start_server token "$p/key.pem" "$p/cert.pem" strata-issuer "$1" "${2:-600}"
	# shellcheck disable=SC2034 # for the tests that source this
	TOKEN_PORT=$SPORT TOKEN_LOG=$SLOG
	start_registry bearer 'auth:' '  token:' "    realm: http://127.0.0.1:$TOKEN_PORT/token" \
		'    service: strata-test' '    issuer: strata-issuer' "    rootcertbundle: $p/cert.pem"
}

# auth_json FILE USER:PASSWORD HOST: an auth file with one "auths" entry.
auth_json() {
	printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$3" "$(printf '%s' "$2" | base64 -w0)" >"$1"
}

# import_and_serve: `strata import` of $T/layout into $R (APP: the digest
# of app:1), then a plain registry (UP: its address) behind a passing
# proxy that logs each request (REG: its address, PLOG: the log).
# shellcheck disable=SC2034 # for the tests that source this
import_and_serve() {
	ok 'import the layout' import "$T/layout"
	APP=$(awk '$2 == "app:1" { print $1 }' "$T/out")
	start_registry reg
	UP=127.0.0.1:$PORT
	start_server proxy "$PORT" pass
	REG=127.0.0.1:$SPORT
	PLOG=$SLOG
}

# make_image: the store tests' layers (make_layers) as an OCI layout
# $T/layout, image "app:1": base (gzip), l2 (zstd), l3 (plain).
make_image() {
	make_layers
	mkimage oci "$T/layout" --name app:1 --platform "linux/$(host_arch)" \
		"$T/src/base.tar.gz" "$T/src/l2.tar.zst" "$T/src/l3.tar" >/dev/null
}

host_arch() {
	case $(uname -m) in
	x86_64) echo amd64 ;;
	aarch64) echo arm64 ;;
	*) uname -m ;;
	esac
}

# push IMAGE DEST [skopeo options...]: skopeo copy from $T/layout.
push() {
	local src=$1 dest=$2
	shift 2
	skopeo copy -q --dest-tls-verify=false "$@" "oci:$T/layout:$src" "docker://$dest" >/dev/null 2>"$T/skopeo.err" ||
		die "skopeo copy $src $dest: $(cat "$T/skopeo.err")"
}

# pulled_matches WHAT NAME: image NAME of $R mounts as $T/src/expected.
pulled_matches() {
	local what=$1 name=$2 m=$T/mnt-$RANDOM
	smount "$m" --root "$R" "$name"
	check_merged "$what" "$m"
	sumount "$m"
}
