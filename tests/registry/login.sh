#!/usr/bin/env bash
# strata login and logout against Debian's docker-registry with htpasswd
# Basic auth and with bearer tokens (servers.py): credentials are checked
# before anything is written; the auth file is podman's, 0600, rewritten
# whole with other entries and keys kept; strata push, and skopeo, use what
# login wrote; logout removes one entry, or all; wrong passwords, a
# password on the command line and no terminal are errors, one line each.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v htpasswd >/dev/null || skip 'htpasswd (apache2-utils) is not installed'
"$DEBIAN_PY" -c 'import jwt, cryptography' 2>/dev/null || skip 'python3-jwt is not installed'

# login ARGS... (password on stdin from $PW): strata login through `run`.
login() { run "$STRATA" login "$@" <<<"$PW"; }
logout() { run "$STRATA" logout "$@" </dev/null; }
# entry KEY: the "auth" of auths[KEY] in $REGISTRY_AUTH_FILE, or "none".
entry() {
	"$DEBIAN_PY" -c 'import json, sys
a = json.load(open(sys.argv[1])).get("auths", {})
print(a[sys.argv[2]]["auth"] if sys.argv[2] in a else "none")' "$REGISTRY_AUTH_FILE" "$1"
}

make_image
ok 'import the layout' import "$T/layout"
htpasswd -Bbn alice 's3cret' >"$T/htpasswd"
start_registry basic 'auth:' '  htpasswd:' '    realm: strata-test' "    path: $T/htpasswd"
REG=127.0.0.1:$PORT
printf '{"auths": {"other.example:5000": {"auth": "b3RoZXI6cGFzcw=="}}, "credHelpers": {"x.example": "pass"}}\n' \
	>"$REGISTRY_AUTH_FILE"
chmod 644 "$REGISTRY_AUTH_FILE"
before=$(sha256sum <"$REGISTRY_AUTH_FILE")

# ---- before login ----
sr push -q --tls-verify=false app:1 "$REG/app:1"
assert_one_error_line 'push before login' 1
assert_true 'push before login: names strata login' grep -q "strata login $REG" "$T/err"

# ---- refused: nothing written ----
PW=Wr0ngPw login -u alice --password-stdin --tls-verify=false "$REG"
assert_one_error_line 'login, wrong password' 1
assert_true 'wrong password: says so' grep -q 'wrong username or password' "$T/err"
assert_false 'the password is never printed' grep -q Wr0ngPw "$T/err"
assert_eq 'wrong password: the auth file unchanged' "$before" "$(sha256sum <"$REGISTRY_AUTH_FILE")"
PW=s3cret login -u alice --tls-verify=false "$REG"
assert_one_error_line 'login, no terminal, no --password-stdin' 2
PW=s3cret login -u alice -p s3cret --tls-verify=false "$REG"
assert_eq 'a password as an argument: a usage error' 2 "$RC"
PW=s3cret login -u alice --password-stdin --tls-verify=false "127.0.0.1:$(free_port)"
assert_one_error_line 'login, nothing listening' 1
assert_eq 'no temporary file left' 0 "$(find "$T" -maxdepth 1 -name 'auth.json.*' | wc -l)"

# ---- login ----
PW=s3cret login -u alice --password-stdin --tls-verify=false "$REG"
assert_eq 'login: exit 0' 0 "$RC"
assert_eq 'login: the entry' "$(printf alice:s3cret | base64 -w0)" "$(entry "$REG")"
assert_eq 'login: other entries kept' b3RoZXI6cGFzcw== "$(entry other.example:5000)"
assert_true 'login: other keys kept' grep -q credHelpers "$REGISTRY_AUTH_FILE"
assert_eq 'login: the auth file is 0600' 600 "$(stat -c %a "$REGISTRY_AUTH_FILE")"
ok 'push after login' push -q --tls-verify=false app:1 "$REG/app:1"
assert_true 'skopeo reads what login wrote' skopeo inspect --tls-verify=false --authfile "$REGISTRY_AUTH_FILE" \
	--format '{{.Digest}}' "docker://$REG/app:1"

# ---- logout ----
logout "$REG"
assert_eq 'logout: exit 0' 0 "$RC"
assert_eq 'logout: the entry is gone' none "$(entry "$REG")"
assert_eq 'logout: other entries kept' b3RoZXI6cGFzcw== "$(entry other.example:5000)"
logout "$REG"
assert_one_error_line 'logout, not logged in' 1
logout --all
assert_eq 'logout --all: none left' none "$(entry other.example:5000)"
logout
assert_eq 'logout with no registry: a usage error' 2 "$RC"

# --authfile, in a directory not there yet; $XDG_RUNTIME_DIR's by default.
PW=s3cret login -u alice --password-stdin --tls-verify=false --authfile "$T/a/b/auth.json" "$REG"
assert_eq '--authfile: mode 0600' 600 "$(stat -c %a "$T/a/b/auth.json")"
assert_eq '--authfile: the entry' \
	"$(printf alice:s3cret | base64 -w0)" "$(REGISTRY_AUTH_FILE=$T/a/b/auth.json entry "$REG")"
PW=s3cret REGISTRY_AUTH_FILE='' login -u alice --password-stdin --tls-verify=false "$REG"
assert_eq 'login without $REGISTRY_AUTH_FILE: exit 0' 0 "$RC"
assert_eq 'login writes $XDG_RUNTIME_DIR/containers/auth.json by default' \
	"$(printf alice:s3cret | base64 -w0)" \
	"$(REGISTRY_AUTH_FILE=$XDG_RUNTIME_DIR/containers/auth.json entry "$REG")"

# ---- bearer tokens ----
stop_servers
start_token_registry bob:b0b
REG=127.0.0.1:$PORT
PW=nope login -u bob --password-stdin --tls-verify=false "$REG"
assert_one_error_line 'bearer login, wrong password' 1
assert_eq 'bearer, wrong password: nothing written' none "$(entry "$REG")"
PW=b0b login -u bob --password-stdin --tls-verify=false "$REG"
assert_eq 'bearer login: exit 0' 0 "$RC"
ok 'push with a bearer token after login' push -q --tls-verify=false app:1 "$REG/app:1"
# A mount needs pull on the repository mounted from: one token, two scopes.
start_server proxy "$PORT" pass
PW=b0b login -u bob --password-stdin --tls-verify=false "127.0.0.1:$SPORT"
assert_eq 'bearer login through the proxy: exit 0' 0 "$RC"
: >"$TOKEN_LOG"
ok 'push --from-repo with a bearer token' push -q --tls-verify=false --no-index --from-repo app app:1 "127.0.0.1:$SPORT/copy:1"
assert_true 'the token asked for pull on the repository mounted from' \
	grep -q '^token repository:app:pull user' "$TOKEN_LOG"
assert_eq 'bearer: every blob mounted' 4 "$(grep -c '^POST /v2/copy/blobs/uploads/?mount=' "$SLOG")"
assert_eq 'bearer: nothing sent' 0 "$(grep -cE '^(PATCH|PUT) /v2/copy/blobs/' "$SLOG" || true)"
# Mounting from a repository these credentials may not read: uploaded.
ok 'push --from-repo of a forbidden repository' push -q --tls-verify=false --no-index --from-repo forbidden app:1 "127.0.0.1:$SPORT/copy2:1"
assert_eq 'mount refused (401): every blob uploaded instead' 4 "$(grep -c '^PUT /v2/copy2/blobs/' "$SLOG")"
# The index artifact too, with its blobs' mounts refused the same way.
ok 'push with its index, mounts refused' push -q --tls-verify=false --from-repo forbidden app:1 "127.0.0.1:$SPORT/copy3:1"
assert_true 'the index artifact listed under its tag' grep -q '^PUT /v2/copy3/manifests/sha256-' "$SLOG"

store_finish
