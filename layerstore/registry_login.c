/* SPDX-License-Identifier: MIT */
/*
 * strata login and logout: credentials checked against the registry, then
 * written to podman's auth file (containers-auth.json(5)), where pull and
 * push (and podman, skopeo, buildah) find them.
 *
 * The check is what a client does first: GET /v2/ with the credentials,
 * as Basic auth or through the bearer token flow (a token asked for with
 * no scope).  Only credentials the registry took are written.
 *
 * The file is podman's: $REGISTRY_AUTH_FILE, else
 * $XDG_RUNTIME_DIR/containers/auth.json, else /run/containers/UID/auth.json.
 * It is rewritten whole through a temporary file and rename(2), mode 0600,
 * with every other entry and key kept: a crash leaves the old file or the
 * new one, never half of one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry.h"

char *store_auth_file_path(const char *authfile)
{
	const char *env = getenv("REGISTRY_AUTH_FILE"), *xdg = getenv("XDG_RUNTIME_DIR");
	char *p = NULL;

	if (authfile && *authfile)
		return strdup(authfile);
	if (env && *env)
		return strdup(env);
	if (xdg && *xdg)
		return asprintf(&p, "%s/containers/auth.json", xdg) < 0 ? NULL : p;
	return asprintf(&p, "/run/containers/%u/auth.json", (unsigned)getuid()) < 0 ? NULL : p;
}

/* The auth file's JSON; an empty object when there is none. */
static json_t *load_auth_file(const char *path, struct strata_error *err)
{
	json_error_t jerr;
	json_t *j = json_load_file(path, 0, &jerr);

	if (!j && access(path, F_OK) < 0 && errno == ENOENT)
		return json_object();
	if (!j || !json_is_object(j)) {
		json_decref(j);
		strata_fail(err, STRATA_ERR_FORMAT, 0, "%s: %s", path,
		            j ? "not a JSON object" : jerr.text);
		return NULL;
	}
	return j;
}

/* mkdir -p of @path's directory (0700 for what is made). */
static void make_parents(const char *path)
{
	char *d = strdup(path);

	for (char *p = d ? d + 1 : NULL; p && (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(d, 0700);
		*p = '/';
	}
	free(d);
}

static int save_auth_file(const char *path, json_t *j, struct strata_error *err)
{
	char *tmp = NULL, *text = json_dumps(j, JSON_INDENT(1));
	int fd = -1, rc = -1;
	size_t len = text ? strlen(text) : 0;

	make_parents(path);
	if (!text || asprintf(&tmp, "%s.%ld.tmp", path, (long)getpid()) < 0) {
		free(text);
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0 && fchmod(fd, 0600) == 0 && write(fd, text, len) == (ssize_t)len &&
	    write(fd, "\n", 1) == 1 && fsync(fd) == 0 && close(fd) == 0) {
		fd = -1;
		rc = rename(tmp, path);
	}
	if (rc)
		strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (rc)
		unlink(tmp);
	explicit_bzero(text, len);
	free(text);
	free(tmp);
	return rc;
}

/* "https://host/" as podman takes it: the key is "host" ("docker.io"
 * for Docker Hub's "index.docker.io"). */
static char *auth_key(const char *registry)
{
	const char *r = registry;
	size_t n;

	if (strncmp(r, "https://", 8) == 0)
		r += 8;
	else if (strncmp(r, "http://", 7) == 0)
		r += 7;
	if (strncmp(r, "index.docker.io", 15) == 0 && (!r[15] || r[15] == '/'))
		r += 6; /* podman's key for Docker Hub is "docker.io" */
	n = strlen(r);
	while (n && r[n - 1] == '/')
		n--;
	return strndup(r, n);
}

/* GET /v2/ with @user's credentials: 0 when the registry takes them. */
static int check_credentials(const char *host, const char *user, const char *password,
                             bool insecure, struct strata_error *err)
{
	struct reg_request rq = {.method = "GET", .path = "/v2/"};
	struct reg_response rs = {0};
	struct reg_client *c;
	int rc;

	if (store_reg_client_new(host, insecure, 0, &c, err))
		return -1;
	c->cred.username = strdup(user);
	c->cred.password = strdup(password);
	c->cred_loaded = true;
	rc = store_reg_request(c, &rq, &rs, err);
	if ((rc && err->sys_errno == EACCES) || (!rc && (rs.status == 401 || rs.status == 403)))
		rc = strata_fail(err, STRATA_ERR_SYS, EACCES,
		                 "%s: the registry refused user '%s' (wrong username or password)",
		                 host, user);
	else if (!rc && rs.status != 200)
		rc = store_reg_status_error(c, "GET /v2/", &rs, err);
	store_reg_response_free(&rs);
	store_reg_client_free(c);
	return rc;
}

/* Sets @key to @entry in the "auths" of @j, or removes it (every entry
 * when @all). */
static int change_auths(json_t *j, const char *key, json_t *entry, bool all, const char *path,
                        struct strata_error *err)
{
	json_t *auths = json_object_get(j, "auths");

	if (!json_is_object(auths)) {
		auths = json_object();
		if (json_object_set_new(j, "auths", auths))
			return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	}
	if (entry || all) {
		if (entry ? json_object_set(auths, key, entry) : json_object_clear(auths))
			return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
		return 0;
	}
	if (json_object_del(auths, key))
		return strata_fail(err, STRATA_ERR_SYS, ENOENT,
		                   "%s: not logged in (no entry in %s)", key, path);
	return 0;
}

static int update_auth_file(const char *authfile, const char *key, json_t *entry, bool all,
                            struct strata_error *err)
{
	char *path = store_auth_file_path(authfile);
	json_t *j = path ? load_auth_file(path, err) : NULL;
	int rc = -1;

	if (!path)
		strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	if (j && change_auths(j, key, entry, all, path, err) == 0)
		rc = save_auth_file(path, j, err);
	json_decref(j);
	free(path);
	return rc;
}

int store_login(const char *registry, const char *user, const char *password,
                const struct store_login_options *o, struct strata_error *err)
{
	char *key = auth_key(registry), *plain = NULL, *basic = NULL, host[512];
	json_t *entry = NULL;
	int rc = -1;

	if (!key || asprintf(&plain, "%s:%s", user, password) < 0 ||
	    !(basic = store_reg_basic(plain)) || !(entry = json_pack("{s:s}", "auth", basic + 6))) {
		strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
		goto out;
	}
	snprintf(host, sizeof(host), "%.*s", (int)strcspn(key, "/"), key);
	if (check_credentials(host, user, password, o->tls_verify_off, err) == 0)
		rc = update_auth_file(o->authfile, key, entry, false, err);
out:
	if (plain)
		explicit_bzero(plain, strlen(plain));
	if (basic)
		explicit_bzero(basic, strlen(basic));
	free(plain);
	free(basic);
	json_decref(entry);
	free(key);
	return rc;
}

int store_logout(const char *registry, bool all, const char *authfile, struct strata_error *err)
{
	char *key = registry ? auth_key(registry) : NULL;
	int rc;

	if (registry && !key)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	rc = update_auth_file(authfile, key, NULL, all, err);
	free(key);
	return rc;
}
