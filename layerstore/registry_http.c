/* SPDX-License-Identifier: MIT */
/*
 * Requests to a registry over libcurl (the distribution spec, Docker
 * Registry HTTP API v2): the scheme and TLS trust, and the auth dance.
 *
 * The first request of a client is GET /v2/, as every client does: it
 * says whether the registry wants credentials, and how (Basic, or a bearer
 * token from a realm).  From then on a request carries what it needs
 * up front, a token per scope is reused, and a 401 gets the token fetched
 * again, once.  An insecure registry (registries.conf, --tls-verify=false)
 * is tried over HTTPS without verification first, then over plain HTTP,
 * as podman does.
 *
 * Every transfer is bounded in time: a connect timeout, and a low-speed
 * limit that ends a transfer making no progress (a stalled or slow-loris
 * server); bodies kept in memory are bounded in size.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "curl_dl.h"
#include "registry.h"

#define DEFAULT_TIMEOUT 30
#define TOKEN_MAX       (1u << 20)
#define ERROR_BODY_MAX  (64u * 1024)

int store_reg_client_new(const char *registry, bool insecure, long timeout, struct reg_client **out,
                         struct strata_error *err)
{
	struct reg_client *c;
	const char *env = getenv("STRATA_REGISTRY_TIMEOUT");

	if (dl_curl_load(err))
		return -1;
	if (timeout <= 0)
		timeout = env && atol(env) > 0 ? atol(env) : DEFAULT_TIMEOUT;
	c = calloc(1, sizeof(*c));
	if (!c || !(c->registry = strdup(registry)) || !(c->easy = sym_curl_easy_init())) {
		store_reg_client_free(c);
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	}
	c->insecure = insecure;
	c->timeout = timeout;
	if (store_reg_tls_load(c, err)) {
		store_reg_client_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

void store_reg_client_free(struct reg_client *c)
{
	if (!c)
		return;
	if (c->easy)
		sym_curl_easy_cleanup(c->easy);
	for (size_t i = 0; i < c->n_tokens; i++) {
		free(c->tokens[i].scope);
		free(c->tokens[i].value);
	}
	free(c->tokens);
	store_credentials_free(&c->cred);
	free(c->registry);
	free(c->base);
	free(c->challenge);
	free(c->ca_pem);
	free(c->client_cert);
	free(c->client_key);
	free(c);
}

void store_reg_response_free(struct reg_response *rs)
{
	free(rs->body);
	free(rs->content_type);
	free(rs->digest);
	free(rs->location);
	free(rs->challenge);
	free(rs->oci_subject);
	memset(rs, 0, sizeof(*rs));
}

void store_reg_setup_handle(struct reg_client *c, void *easy)
{
	sym_curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	sym_curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	/* Blobs are often served from elsewhere (a CDN): libcurl drops our
	 * Authorization header when a redirect leaves the host. */
	sym_curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
	sym_curl_easy_setopt(easy, CURLOPT_MAXREDIRS, 10L);
	sym_curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	sym_curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, c->timeout);
	sym_curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	sym_curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, c->timeout);
	sym_curl_easy_setopt(easy, CURLOPT_USERAGENT, "strata/" STRATA_VERSION);
	if (c->insecure) {
		sym_curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
		sym_curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	store_reg_tls_setup(c, easy);
}

/* ---- what comes back ---- */

struct sink {
	struct reg_response *rs;
	size_t max;
	bool too_big;
};

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct sink *k = ctx;
	struct reg_response *rs = k->rs;
	size_t len = size * n;
	char *b;

	if (rs->len + len > k->max) {
		k->too_big = true;
		return 0; /* ends the transfer: an endless body is no answer */
	}
	b = realloc(rs->body, rs->len + len + 1);
	if (!b)
		return 0;
	memcpy(b + rs->len, data, len);
	rs->len += len;
	b[rs->len] = '\0';
	rs->body = b;
	return len;
}

/* The value of header @name in the line @h, malloc'd, or NULL. */
static char *header_value(const char *h, size_t len, const char *name)
{
	size_t n = strlen(name);

	if (len <= n + 1 || strncasecmp(h, name, n) != 0 || h[n] != ':')
		return NULL;
	h += n + 1;
	len -= n + 1;
	while (len && (*h == ' ' || *h == '\t'))
		h++, len--;
	while (len && (h[len - 1] == '\r' || h[len - 1] == '\n' || h[len - 1] == ' '))
		len--;
	return strndup(h, len);
}

static void keep(char **slot, char *v)
{
	if (v) {
		free(*slot);
		*slot = v;
	}
}

static size_t on_header(char *h, size_t size, size_t n, void *ctx)
{
	struct reg_response *rs = ctx;
	size_t len = size * n;
	char *v;

	/* A redirect's headers come first; only the last response counts. */
	if (len > 5 && strncmp(h, "HTTP/", 5) == 0) {
		free(rs->location);
		rs->location = NULL;
		rs->retry_after = -1;
	}
	keep(&rs->content_type, header_value(h, len, "Content-Type"));
	keep(&rs->digest, header_value(h, len, "Docker-Content-Digest"));
	keep(&rs->location, header_value(h, len, "Location"));
	keep(&rs->challenge, header_value(h, len, "WWW-Authenticate"));
	keep(&rs->oci_subject, header_value(h, len, "OCI-Subject"));
	if ((v = header_value(h, len, "Retry-After"))) {
		rs->retry_after = atol(v);
		free(v);
	}
	return len;
}

/* ---- sending ---- */

static char *make_url(struct reg_client *c, const char *path)
{
	char *url;

	if (strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0)
		return strdup(path);
	return asprintf(&url, "%s%s", c->base, path) < 0 ? NULL : url;
}

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	const struct reg_request *rq = ctx;

	(void)dltotal, (void)dlnow, (void)ultotal;
	rq->sent(rq->sent_ctx, (uint64_t)ulnow);
	return 0;
}

/* The body of a PUT, POST or PATCH, from memory (resent as is when a 401
 * asks again), and its headers; libcurl's "Expect: 100-continue" off. */
static struct curl_slist *send_body(struct reg_client *c, const struct reg_request *rq,
                                    struct curl_slist *hdrs)
{
	char line[512];

	if (strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0)
		return hdrs;
	sym_curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
	sym_curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
	if (rq->sent) {
		sym_curl_easy_setopt(c->easy, CURLOPT_XFERINFOFUNCTION, on_progress);
		sym_curl_easy_setopt(c->easy, CURLOPT_XFERINFODATA, (void *)rq);
		sym_curl_easy_setopt(c->easy, CURLOPT_NOPROGRESS, 0L);
	}
	snprintf(line, sizeof(line), "Content-Type: %s",
	         rq->content_type ? rq->content_type : "application/octet-stream");
	hdrs = sym_curl_slist_append(hdrs, line);
	if (rq->content_range &&
	    snprintf(line, sizeof(line), "Content-Range: %s", rq->content_range) > 0)
		hdrs = sym_curl_slist_append(hdrs, line);
	return sym_curl_slist_append(hdrs, "Expect:");
}

/* One exchange, no auth logic: 0 with @rs filled, or -1 (no answer). */
static int perform(struct reg_client *c, const struct reg_request *rq, const char *auth,
                   struct reg_response *rs, struct strata_error *err)
{
	char errbuf[CURL_ERROR_SIZE] = "", line[8192];
	struct sink k = {.rs = rs, .max = rq->max_body ? rq->max_body : ERROR_BODY_MAX};
	struct curl_slist *hdrs = NULL;
	char *url = make_url(c, rq->path);
	curl_off_t cl = -1;
	CURLcode r;

	memset(rs, 0, sizeof(*rs));
	rs->retry_after = rs->content_length = -1;
	if (!url)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	sym_curl_easy_reset(c->easy);
	store_reg_setup_handle(c, c->easy);
	sym_curl_easy_setopt(c->easy, CURLOPT_URL, url);
	sym_curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, errbuf);
	if (strcmp(rq->method, "HEAD") == 0)
		sym_curl_easy_setopt(c->easy, CURLOPT_NOBODY, 1L);
	else if (strcmp(rq->method, "GET") != 0)
		sym_curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, rq->method);
	if (rq->range)
		sym_curl_easy_setopt(c->easy, CURLOPT_RANGE, rq->range);
	if (rq->accept && snprintf(line, sizeof(line), "Accept: %s", rq->accept) > 0)
		hdrs = sym_curl_slist_append(hdrs, line);
	hdrs = send_body(c, rq, hdrs);
	if (auth && snprintf(line, sizeof(line), "Authorization: %s", auth) > 0)
		hdrs = sym_curl_slist_append(hdrs, line);
	sym_curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, hdrs);
	sym_curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
	sym_curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &k);
	sym_curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
	sym_curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, rs);
	r = sym_curl_easy_perform(c->easy);
	sym_curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &rs->status);
	sym_curl_easy_getinfo(c->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
	rs->content_length = cl;
	sym_curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, NULL);
	sym_curl_slist_free_all(hdrs);
	free(url);
	if (k.too_big) {
		store_reg_response_free(rs);
		return strata_fail(err, STRATA_ERR_CORRUPT, EFBIG,
		                   "%s: %s %s: the answer is over %zu bytes", c->registry,
		                   rq->method, rq->path, k.max);
	}
	if (r != CURLE_OK) {
		store_reg_response_free(rs);
		return store_reg_curl_error(c, r, errbuf, err);
	}
	return 0;
}

/* ---- auth ---- */

/* The value of @key in a challenge's "k=v, k=\"v\"" list, malloc'd. */
static char *challenge_param(const char *ch, const char *key)
{
	size_t n = strlen(key);

	for (const char *p = ch; (p = strcasestr(p, key)); p += n) {
		const char *v;
		size_t len;

		if ((p != ch && p[-1] != ' ' && p[-1] != ',') || p[n] != '=')
			continue;
		v = p + n + 1;
		if (*v == '"') {
			v++;
			len = strcspn(v, "\"");
		} else {
			len = strcspn(v, ", ");
		}
		return strndup(v, len);
	}
	return NULL;
}

static int load_credentials(struct reg_client *c, const char *scope, struct strata_error *err)
{
	char repo[512] = "";

	if (c->cred_loaded)
		return 0;
	/* "repository:NAME:pull" → NAME, for per-repository auth entries. */
	if (scope && strncmp(scope, "repository:", 11) == 0)
		snprintf(repo, sizeof(repo), "%.*s", (int)strcspn(scope + 11, ":"), scope + 11);
	if (store_credentials_find(c->registry, repo[0] ? repo : NULL, &c->cred, err))
		return -1;
	c->cred_loaded = true;
	return 0;
}

static const char *token_of(struct reg_client *c, const char *scope)
{
	for (size_t i = 0; i < c->n_tokens; i++)
		if (strcmp(c->tokens[i].scope, scope ? scope : "") == 0)
			return c->tokens[i].value;
	return NULL;
}

static int keep_token(struct reg_client *c, const char *scope, const char *value)
{
	struct reg_token *v;

	for (size_t i = 0; i < c->n_tokens; i++)
		if (strcmp(c->tokens[i].scope, scope ? scope : "") == 0) {
			char *dup = strdup(value);

			if (!dup)
				return -1;
			free(c->tokens[i].value);
			c->tokens[i].value = dup;
			return 0;
		}
	v = realloc(c->tokens, (c->n_tokens + 1) * sizeof(*v));
	if (!v)
		return -1;
	c->tokens = v;
	v[c->n_tokens].scope = strdup(scope ? scope : "");
	v[c->n_tokens].value = strdup(value);
	if (!v[c->n_tokens].scope || !v[c->n_tokens].value) {
		free(v[c->n_tokens].scope);
		free(v[c->n_tokens].value);
		return -1;
	}
	c->n_tokens++;
	return 0;
}

/* @s escaped for a query string, malloc'd. */
static char *escape(void *easy, const char *s)
{
	char *e = sym_curl_easy_escape(easy, s, 0), *out = e ? strdup(e) : NULL;

	sym_curl_free(e);
	return out;
}

/* "a b" → "a&scope=b", each escaped: a request (a cross-repository
 * mount) may need two repositories' scopes in one token. */
static char *escape_scopes(void *easy, const char *scope)
{
	char *out = strdup(""), *next;

	for (const char *p = scope; out && *p; p += strspn(p, " ")) {
		size_t n = strcspn(p, " ");
		char *one = strndup(p, n), *e = one ? escape(easy, one) : NULL;

		next = NULL;
		if (!e || asprintf(&next, "%s%s%s", out, *out ? "&scope=" : "", e) < 0)
			next = NULL;
		free(one);
		free(e);
		free(out);
		out = next;
		p += n;
	}
	return out;
}

/* The token request URL: realm?service=...&scope=... */
static char *token_url(struct reg_client *c, const char *scope)
{
	char *realm = challenge_param(c->challenge, "realm");
	char *service = challenge_param(c->challenge, "service");
	char *es = service ? escape(c->easy, service) : NULL;
	char *sc = scope ? escape_scopes(c->easy, scope) : NULL;
	char *url = NULL;

	if (realm && asprintf(&url, "%s%s%s%s%s%s", realm, strchr(realm, '?') ? "&" : "?",
	                      es ? "service=" : "", es ? es : "",
	                      sc ? (es ? "&scope=" : "scope=") : "", sc ? sc : "") < 0)
		url = NULL;
	free(realm);
	free(service);
	free(es);
	free(sc);
	return url;
}

static const char *who(struct reg_client *c)
{
	return c->cred.username ? "the credentials found" : "anonymous access";
}

/* Asks the challenge's realm for a token for @scope: anonymously, or with
 * the credentials found, as Basic auth. */
static int fetch_token(struct reg_client *c, const char *scope, struct strata_error *err)
{
	struct reg_request rq = {.method = "GET", .max_body = TOKEN_MAX};
	struct reg_response rs;
	char *url = token_url(c, scope), *basic = NULL;
	const char *tok;
	json_t *j;
	int rc;

	if (!url)
		return strata_fail(err, STRATA_ERR_CORRUPT, 0,
		                   "%s: a bearer challenge without a realm: %s", c->registry,
		                   c->challenge);
	rq.path = url;
	if (c->cred.username) {
		char *plain = NULL;

		if (asprintf(&plain, "%s:%s", c->cred.username, c->cred.password) >= 0)
			basic = store_reg_basic(plain);
		if (plain)
			explicit_bzero(plain, strlen(plain));
		free(plain);
	}
	rc = perform(c, &rq, basic, &rs, err);
	free(basic);
	free(url);
	if (rc)
		return -1;
	if (rs.status != 200) {
		rc = rs.status == 401 || rs.status == 403
		         ? strata_fail(err, STRATA_ERR_SYS, EACCES,
		                       "%s: the token server refused %s (%ld): log in first "
		                       "(strata login %s, or podman login)",
		                       c->registry, who(c), rs.status, c->registry)
		         : store_reg_status_error(c, "a token", &rs, err);
		store_reg_response_free(&rs);
		return rc;
	}
	j = json_loads(rs.body ? rs.body : "", 0, NULL);
	tok = store_json_str(j, "token");
	if (!tok)
		tok = store_json_str(j, "access_token");
	rc = tok && *tok ? keep_token(c, scope, tok) : -2;
	json_decref(j);
	store_reg_response_free(&rs);
	if (rc == -2)
		return strata_fail(err, STRATA_ERR_CORRUPT, 0,
		                   "%s: the token server's answer holds no token", c->registry);
	return rc ? strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory") : 0;
}

char *store_reg_auth_header(struct reg_client *c, const char *scope)
{
	const char *tok = token_of(c, scope);
	char *h = NULL, *plain = NULL;

	if (tok)
		return asprintf(&h, "Bearer %s", tok) < 0 ? NULL : h;
	if (!c->challenge || strncasecmp(c->challenge, "Basic", 5) != 0 || !c->cred.username)
		return NULL;
	if (asprintf(&plain, "%s:%s", c->cred.username, c->cred.password) < 0)
		return NULL;
	h = store_reg_basic(plain);
	explicit_bzero(plain, strlen(plain));
	free(plain);
	return h;
}

int store_reg_refresh_token(struct reg_client *c, const char *scope, struct strata_error *err)
{
	if (!c->challenge || strncasecmp(c->challenge, "Bearer", 6) != 0)
		return 0; /* Basic or none: nothing to refresh */
	if (load_credentials(c, scope, err))
		return -1;
	return fetch_token(c, scope, err);
}

/* What a 401 says: adopt its challenge, and whether a retry can help. */
static int answer_challenge(struct reg_client *c, const struct reg_request *rq,
                            struct reg_response *rs, bool *retry, struct strata_error *err)
{
	*retry = false;
	if (!rs->challenge)
		return 0;
	keep(&c->challenge, strdup(rs->challenge));
	if (load_credentials(c, rq->scope, err))
		return -1;
	if (strncasecmp(c->challenge, "Bearer", 6) == 0) {
		if (fetch_token(c, rq->scope, err))
			return -1;
		*retry = true;
	} else if (strncasecmp(c->challenge, "Basic", 5) == 0) {
		*retry = c->cred.username != NULL;
	}
	return 0;
}

/* GET /v2/: the scheme that works, and the challenge if any. */
static int ping(struct reg_client *c, struct strata_error *err)
{
	struct reg_request rq = {.method = "GET", .path = "/v2/"};
	struct reg_response rs;
	struct strata_error first;
	int rc;

	if (asprintf(&c->base, "https://%s", c->registry) < 0)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	rc = perform(c, &rq, NULL, &rs, &first);
	if (rc && c->insecure) {
		free(c->base);
		if (asprintf(&c->base, "http://%s", c->registry) < 0)
			return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
		rc = perform(c, &rq, NULL, &rs, err);
	} else if (rc) {
		*err = first;
	}
	if (rc)
		return -1;
	if (rs.status == 401 && rs.challenge)
		keep(&c->challenge, strdup(rs.challenge));
	else if (rs.status != 200 && rs.status != 401)
		rc = strata_fail(err, STRATA_ERR_CORRUPT, 0,
		                 "%s: not a registry (GET /v2/ answered %ld)", c->registry,
		                 rs.status);
	store_reg_response_free(&rs);
	return rc;
}

/* Busy or rate limited: worth another try, after a pause. */
static bool try_again(const struct reg_response *rs, int attempt)
{
	unsigned wait;

	if (attempt >= 2 ||
	    (rs->status != 429 && rs->status != 502 && rs->status != 503 && rs->status != 504))
		return false;
	wait =
	    rs->retry_after > 0 && rs->retry_after < 10 ? (unsigned)rs->retry_after : 1u << attempt;
	sleep(wait);
	return true;
}

static int request_once(struct reg_client *c, const struct reg_request *rq, struct reg_response *rs,
                        struct strata_error *err);

int store_reg_request(struct reg_client *c, const struct reg_request *rq, struct reg_response *rs,
                      struct strata_error *err)
{
	for (int attempt = 0;; attempt++) {
		if (request_once(c, rq, rs, err))
			return -1;
		if (!try_again(rs, attempt))
			return 0;
		store_reg_response_free(rs);
	}
}

static int request_once(struct reg_client *c, const struct reg_request *rq, struct reg_response *rs,
                        struct strata_error *err)
{
	bool retry = true;
	char *auth;
	int rc;

	if (!c->base && ping(c, err))
		return -1;
	if (c->challenge && !c->cred_loaded && load_credentials(c, rq->scope, err))
		return -1;
	if (c->challenge && strncasecmp(c->challenge, "Bearer", 6) == 0 &&
	    !token_of(c, rq->scope) && fetch_token(c, rq->scope, err))
		return -1;
	for (int attempt = 0; attempt < 2 && retry; attempt++) {
		auth = store_reg_auth_header(c, rq->scope);
		rc = perform(c, rq, auth, rs, err);
		free(auth);
		if (rc)
			return -1;
		if (rs->status != 401 || attempt == 1)
			break;
		/* Refused: a token expired, or the scope needs another one. */
		if (answer_challenge(c, rq, rs, &retry, err)) {
			store_reg_response_free(rs);
			return -1;
		}
		if (retry)
			store_reg_response_free(rs);
	}
	return 0;
}

/* ---- errors, one line each, naming the fix ---- */

/* The first "errors" entry of a distribution error body, or "". */
static void error_detail(const struct reg_response *rs, char *out, size_t size)
{
	json_t *j = rs->body ? json_loads(rs->body, 0, NULL) : NULL;
	json_t *e = json_array_get(json_object_get(j, "errors"), 0);
	const char *code = store_json_str(e, "code"), *msg = store_json_str(e, "message");

	out[0] = '\0';
	if (code || msg)
		snprintf(out, size, " (%s%s%s)", code ? code : "", code && msg ? ": " : "",
		         msg ? msg : "");
	json_decref(j);
}

int store_reg_status_error(struct reg_client *c, const char *what, const struct reg_response *rs,
                           struct strata_error *err)
{
	char detail[512];

	error_detail(rs, detail, sizeof(detail));
	if (rs->status == 401 || rs->status == 403)
		return strata_fail(err, STRATA_ERR_SYS, EACCES,
		                   "%s: %s refused with %s (%ld)%s: log in first (strata login %s, "
		                   "or podman login)",
		                   c->registry, what, who(c), rs->status, detail, c->registry);
	if (rs->status == 404)
		return strata_fail(err, STRATA_ERR_SYS, ENOENT, "%s: %s: not found (404)%s",
		                   c->registry, what, detail);
	if (rs->status == 429)
		return strata_fail(
		    err, STRATA_ERR_SYS, EAGAIN, "%s: %s: rate limited (429)%s; try again later%s",
		    c->registry, what, detail, rs->retry_after > 0 ? ", as the registry asks" : "");
	return strata_fail(err, STRATA_ERR_SYS, EIO, "%s: %s: HTTP status %ld%s", c->registry, what,
	                   rs->status, detail);
}

int store_reg_curl_error(struct reg_client *c, int code, const char *detail,
                         struct strata_error *err)
{
	const char *why = detail && *detail ? detail : sym_curl_easy_strerror((CURLcode)code);

	switch (code) {
	case CURLE_COULDNT_RESOLVE_HOST:
		return strata_fail(err, STRATA_ERR_SYS, EHOSTUNREACH,
		                   "%s: unknown host (check the name, or registries.conf)",
		                   c->registry);
	case CURLE_COULDNT_CONNECT:
		return strata_fail(err, STRATA_ERR_SYS, ECONNREFUSED,
		                   "%s: cannot connect (%s): is a registry listening there?",
		                   c->registry, why);
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
		return strata_fail(err, STRATA_ERR_SYS, EPROTO,
		                   "%s: TLS failed (%s): trust its CA in "
		                   "/etc/containers/certs.d/%s/ca.crt, or use --tls-verify=false",
		                   c->registry, why, c->registry);
	case CURLE_OPERATION_TIMEDOUT:
		return strata_fail(err, STRATA_ERR_SYS, ETIMEDOUT,
		                   "%s: timed out (%s); no progress for %ld s", c->registry, why,
		                   c->timeout);
	case CURLE_WRITE_ERROR:
		return strata_fail(err, STRATA_ERR_SYS, EIO, "%s: writing what came: %s",
		                   c->registry, why);
	default:
		return strata_fail(err, STRATA_ERR_SYS, EIO, "%s: %s", c->registry, why);
	}
}
