#!/usr/bin/env bash
# strata pull over TLS: a CA made here with openssl signs the registry's
# certificate.  Without the CA the pull fails naming the fix; with it in a
# certs.d directory ($STRATA_CERTS_D/HOST:PORT/ca.crt) it verifies; with
# --tls-verify=false it goes unverified.  A registry that wants client
# certificates gets the one in certs.d (NAME.cert, NAME.key).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v openssl >/dev/null || skip 'openssl is not installed'

P=$T/pki
mkdir -p "$P"
ssl() { openssl "$@" >"$T/openssl.log" 2>&1 || die "openssl $1: $(cat "$T/openssl.log")"; }
# A CA, a server certificate for 127.0.0.1, a client CA and a client.
ssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=strata-test-ca -keyout "$P/ca.key" -out "$P/ca.crt"
ssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$P/srv.key" -out "$P/srv.csr"
printf 'subjectAltName = IP:127.0.0.1\n' >"$P/san.ext"
ssl x509 -req -in "$P/srv.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 2 \
	-extfile "$P/san.ext" -out "$P/srv.crt"
ssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=strata-client-ca -keyout "$P/cca.key" -out "$P/cca.crt"
ssl req -newkey rsa:2048 -nodes -subj /CN=client -keyout "$P/client.key" -out "$P/client.csr"
ssl x509 -req -in "$P/client.csr" -CA "$P/cca.crt" -CAkey "$P/cca.key" -CAcreateserial -days 2 \
	-out "$P/client.cert"

make_image
start_registry tls '  tls:' "    certificate: $P/srv.crt" "    key: $P/srv.key"
REG=127.0.0.1:$PORT
push app:1 "$REG/app:1"

sr pull -q "$REG/app:1"
assert_one_error_line 'TLS, unknown CA' 1
assert_true 'unknown CA: names certs.d and --tls-verify=false' \
	grep -q "certs.d/$REG/ca.crt, or use --tls-verify=false" "$T/err"

mkdir -p "$STRATA_CERTS_D/$REG"
cp "$P/ca.crt" "$STRATA_CERTS_D/$REG/ca.crt"
ok 'TLS, CA in certs.d' pull -q "$REG/app:1"
pulled_matches 'pulled over TLS' "$REG/app:1"
assert_fsck_clean 'after a TLS pull'

rm -rf "${STRATA_CERTS_D:?}/$REG"
R=$T/store-noverify
ok 'TLS, --tls-verify=false' pull -q --tls-verify=false "$REG/app:1"
pulled_matches 'pulled unverified' "$REG/app:1"

# A registry that wants a client certificate.
stop_servers
start_registry tls2 '  tls:' "    certificate: $P/srv.crt" "    key: $P/srv.key" \
	'    clientcas:' "      - $P/cca.crt"
REG=127.0.0.1:$PORT
mkdir -p "$STRATA_CERTS_D/$REG"
cp "$P/ca.crt" "$STRATA_CERTS_D/$REG/ca.crt"
R=$T/store-client
sr pull -q "$REG/app:1"
assert_one_error_line 'client certificate wanted, none given' 1
cp "$P/client.cert" "$P/client.key" "$STRATA_CERTS_D/$REG/"
push app:1 "$REG/app:1" --dest-cert-dir "$STRATA_CERTS_D/$REG"
ok 'TLS with a client certificate from certs.d' pull -q "$REG/app:1"
pulled_matches 'pulled with a client certificate' "$REG/app:1"

store_finish
