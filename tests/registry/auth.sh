#!/usr/bin/env bash
# strata pull with credentials: htpasswd Basic auth (bcrypt, as
# distribution wants it), and bearer tokens from a token server started
# here (RS256 JWTs, its key trusted by the registry).  Credentials come from
# the auth files podman reads, in its order, or a credential helper; a
# token is fetched once per scope and reused for every blob.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v htpasswd >/dev/null || skip 'htpasswd (apache2-utils) is not installed'
"$DEBIAN_PY" -c 'import jwt, cryptography' 2>/dev/null || skip 'python3-jwt is not installed'

make_image
htpasswd -Bbn alice 's3cret' >"$T/htpasswd"
start_registry basic 'auth:' '  htpasswd:' '    realm: strata-test' "    path: $T/htpasswd"
REG=127.0.0.1:$PORT
push app:1 "$REG/app:1" --dest-creds alice:s3cret

# ---- Basic ----
sr pull -q --tls-verify=false "$REG/app:1"
assert_one_error_line 'Basic, no credentials' 1
assert_true 'no credentials: says to log in' grep -q "401.*log in first (strata login $REG" "$T/err"

auth_json "$REGISTRY_AUTH_FILE" alice:wrong "$REG"
sr pull -q --tls-verify=false "$REG/app:1"
assert_one_error_line 'Basic, wrong password' 1
assert_false 'the password is never printed' grep -q wrong "$T/err"

# $REGISTRY_AUTH_FILE first, then $XDG_RUNTIME_DIR/containers/auth.json.
mkdir -p "$XDG_RUNTIME_DIR/containers"
auth_json "$XDG_RUNTIME_DIR/containers/auth.json" alice:s3cret "$REG"
echo '{}' >"$REGISTRY_AUTH_FILE"
ok 'Basic, credentials in $XDG_RUNTIME_DIR/containers/auth.json' pull -q --tls-verify=false "$REG/app:1"
pulled_matches 'pulled with Basic auth' "$REG/app:1"
rm "$XDG_RUNTIME_DIR/containers/auth.json"

# ~/.docker/config.json with a credential helper for the registry.
R=$T/store-helper
mkdir -p "$HOME/.docker" "$T/bin"
printf '{"credHelpers": {"%s": "strata-test"}}\n' "$REG" >"$HOME/.docker/config.json"
cat >"$T/bin/docker-credential-strata-test" <<'HELPER'
#!/bin/sh
read -r server
[ "$1" = get ] && printf '{"ServerURL":"%s","Username":"alice","Secret":"s3cret"}\n' "$server"
HELPER
chmod +x "$T/bin/docker-credential-strata-test"
PATH=$T/bin:$PATH sr pull -q --tls-verify=false "$REG/app:1"
assert_eq 'Basic, credentials from a credential helper' 0 "$RC"
rm "$HOME/.docker/config.json"

# ---- bearer tokens ----
stop_servers
start_token_registry bob:b0b
REG=127.0.0.1:$PORT
push app:1 "$REG/app:1" --dest-creds bob:b0b

R=$T/store-bearer
: >"$TOKEN_LOG"
echo '{}' >"$REGISTRY_AUTH_FILE"
sr pull -q --tls-verify=false "$REG/app:1"
assert_one_error_line 'bearer, anonymous token, no access' 1
assert_true 'bearer, anonymous: says to log in' grep -q 'log in first' "$T/err"

auth_json "$REGISTRY_AUTH_FILE" bob:b0b "$REG"
: >"$TOKEN_LOG"
ok 'bearer, with credentials' pull -q --tls-verify=false "$REG/app:1"
pulled_matches 'pulled with a bearer token' "$REG/app:1"
# One token for the repository's pull scope, reused for manifest, config
# and the three blobs.
assert_eq 'bearer: one token request' 1 "$(grep -c 'token repository:app:pull user' "$TOKEN_LOG")"

auth_json "$REGISTRY_AUTH_FILE" bob:nope "$REG"
R=$T/store-bearer2
sr pull -q --tls-verify=false "$REG/app:1"
assert_one_error_line 'bearer, wrong password' 1
assert_true 'bearer, wrong password: the token server refused' grep -q 'token server refused' "$T/err"
assert_false 'bearer: the password is never printed' grep -q nope "$T/err"

store_finish
