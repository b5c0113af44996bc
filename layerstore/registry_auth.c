/* SPDX-License-Identifier: MIT */
/*
 * Credentials for a registry, where podman looks for them and in its order:
 * $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
 * ~/.config/containers/auth.json, ~/.docker/config.json.  In each file, a
 * credential helper named for the registry (credHelpers) comes first, then
 * the most specific "auths" key ("host/ns/repo", then "host/ns", then
 * "host"; Docker Hub also as "https://index.docker.io/v1/"), then the
 * file's default helper (credsStore).  A helper is the program
 * docker-credential-NAME, asked with "get" and the registry on its stdin.
 *
 * Nothing here prints a secret, and no message quotes one.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "registry.h"
#include "sys.h"

extern char **environ;

#define HELPER_TIMEOUT_MS 30000
#define HELPER_OUTPUT_MAX (64 * 1024)

void store_credentials_free(struct store_credentials *c)
{
	if (c->password)
		explicit_bzero(c->password, strlen(c->password));
	free(c->username);
	free(c->password);
	memset(c, 0, sizeof(*c));
}

static int b64_value(char c)
{
	const char *set = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(set, c) : NULL;

	return p ? (int)(p - set) : -1;
}

/* Standard base64, padding optional; NULL when it is not base64. */
static char *b64_decode(const char *in)
{
	size_t n = strlen(in), o = 0;
	char *out = malloc(n * 3 / 4 + 4);
	unsigned acc = 0, bits = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n && in[i] != '='; i++) {
		int v = b64_value(in[i]);

		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	return out;
}

char *store_reg_basic(const char *plain)
{
	static const char set[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(plain), o = 6;
	const unsigned char *in = (const unsigned char *)plain;
	char *out = malloc(6 + (n + 2) / 3 * 4 + 1);

	if (!out)
		return NULL;
	memcpy(out, "Basic ", 6);
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
		             (i + 2 < n ? in[i + 2] : 0);

		out[o++] = set[v >> 18 & 63];
		out[o++] = set[v >> 12 & 63];
		out[o++] = i + 1 < n ? set[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? set[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

/* "user:password" from an auths entry. */
static int from_auth_field(const char *b64, const char *file, const char *key,
                           struct store_credentials *out, struct strata_error *err)
{
	char *plain = b64_decode(b64), *colon = plain ? strchr(plain, ':') : NULL;

	if (!colon) {
		free(plain);
		return strata_fail(err, STRATA_ERR_FORMAT, 0,
		                   "%s: auths \"%s\": \"auth\" is not base64 of user:password",
		                   file, key);
	}
	*colon = '\0';
	out->username = strdup(plain);
	out->password = strdup(colon + 1);
	explicit_bzero(colon + 1, strlen(colon + 1));
	free(plain);
	if (!out->username || !out->password) {
		store_credentials_free(out);
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	}
	return 1;
}

/* Reads what @fd gives until EOF, at most HELPER_OUTPUT_MAX bytes, within
 * @deadline_ms.  NUL-terminated, malloc'd; NULL on timeout or error. */
static char *read_bounded(int fd, int timeout_ms)
{
	char *buf = malloc(HELPER_OUTPUT_MAX + 1);
	size_t n = 0;
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (buf && n < HELPER_OUTPUT_MAX) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		long spent;
		ssize_t got;

		clock_gettime(CLOCK_MONOTONIC, &now);
		spent =
		    (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (spent >= timeout_ms || poll(&p, 1, (int)(timeout_ms - spent)) <= 0)
			goto fail;
		got = read(fd, buf + n, HELPER_OUTPUT_MAX - n);
		if (got == 0)
			break;
		if (got < 0 && errno != EINTR)
			goto fail;
		if (got > 0)
			n += (size_t)got;
	}
	if (buf)
		buf[n] = '\0';
	return buf;
fail:
	free(buf);
	return NULL;
}

/* Runs "docker-credential-@helper get" with @server on its stdin: its
 * output in *@text (0), 1 when it failed (it has nothing for @server, as
 * helpers say with a non-zero exit), -1 when it cannot be run. */
static int run_helper(const char *helper, const char *server, char **text_out,
                      struct strata_error *err)
{
	char prog[256];
	int in[2] = {-1, -1}, out[2] = {-1, -1}, status;
	posix_spawn_file_actions_t fa;
	char *argv[] = {prog, "get", NULL}, *text = NULL;
	pid_t pid;
	int rc, ret = -1;

	snprintf(prog, sizeof(prog), "docker-credential-%s", helper);
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", prog, strerror(errno));
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	rc = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		strata_fail(err, STRATA_ERR_SYS, rc, "credential helper %s: %s", prog,
		            strerror(rc));
		goto out;
	}
	close(in[0]);
	close(out[1]);
	in[0] = out[1] = -1;
	signal(SIGPIPE, SIG_IGN);
	sys_write_all(in[1], server, strlen(server));
	close(in[1]);
	in[1] = -1;
	text = read_bounded(out[0], HELPER_TIMEOUT_MS);
	if (!text)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	/* Its output may hold a secret: it is never quoted. */
	ret = text && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
	if (ret) {
		free(text);
		text = NULL;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	*text_out = text;
	return ret;
}

/* 1 with credentials, 0 when the helper has none for @server. */
static int from_helper(const char *helper, const char *server, struct store_credentials *out,
                       struct strata_error *err)
{
	char *text;
	json_t *j;
	const char *user, *secret;
	int rc = run_helper(helper, server, &text, err);

	if (rc != 0)
		return rc > 0 ? 0 : -1;
	j = json_loads(text, 0, NULL);
	explicit_bzero(text, strlen(text));
	free(text);
	user = store_json_str(j, "Username");
	secret = store_json_str(j, "Secret");
	if (user && secret && *secret) {
		out->username = strdup(user);
		out->password = strdup(secret);
		rc = out->username && out->password
		         ? 1
		         : strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	}
	json_decref(j);
	return rc;
}

/* The keys an entry for @registry/@repository may have, most specific
 * first.  Returns how many were written to @keys (each malloc'd). */
static size_t candidate_keys(const char *registry, const char *repository, char **keys, size_t max)
{
	char *path = NULL;
	size_t n = 0;

	if (repository && asprintf(&path, "%s/%s", registry, repository) < 0)
		path = NULL;
	while (path && n + 3 < max) {
		char *slash = strrchr(path, '/');

		keys[n++] = strdup(path);
		if (!slash)
			break;
		*slash = '\0';
	}
	free(path);
	if (!repository)
		keys[n++] = strdup(registry);
	if (strcmp(registry, "docker.io") == 0) {
		keys[n++] = strdup("https://index.docker.io/v1/");
		keys[n++] = strdup("index.docker.io");
	}
	return n;
}

/* Looks @registry up in one auth file's JSON.  1 found, 0 not, -1 error. */
static int from_file(json_t *cfg, const char *file, const char *registry, const char *repository,
                     struct store_credentials *out, struct strata_error *err)
{
	const char *helper = store_json_str(json_object_get(cfg, "credHelpers"), registry);
	json_t *auths = json_object_get(cfg, "auths");
	char *keys[16];
	size_t n;
	int rc = 0;

	if (helper)
		return from_helper(helper, registry, out, err);
	n = candidate_keys(registry, repository, keys, 16);
	for (size_t i = 0; i < n && rc == 0; i++) {
		json_t *e = keys[i] ? json_object_get(auths, keys[i]) : NULL;
		const char *auth = store_json_str(e, "auth");

		if (auth && *auth)
			rc = from_auth_field(auth, file, keys[i], out, err);
	}
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	if (rc == 0 && (helper = store_json_str(cfg, "credsStore")))
		rc = from_helper(helper, registry, out, err);
	return rc;
}

int store_credentials_find(const char *registry, const char *repository,
                           struct store_credentials *out, struct strata_error *err)
{
	const char *env = getenv("REGISTRY_AUTH_FILE"), *xdg = getenv("XDG_RUNTIME_DIR"),
	           *home = getenv("HOME");
	char paths[4][4096];
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	if (env && *env)
		snprintf(paths[n++], sizeof(paths[0]), "%s", env);
	if (xdg && *xdg)
		snprintf(paths[n++], sizeof(paths[0]), "%s/containers/auth.json", xdg);
	if (home && *home) {
		snprintf(paths[n++], sizeof(paths[0]), "%s/.config/containers/auth.json", home);
		snprintf(paths[n++], sizeof(paths[0]), "%s/.docker/config.json", home);
	}
	for (size_t i = 0; i < n; i++) {
		json_error_t jerr;
		json_t *cfg = json_load_file(paths[i], 0, &jerr);
		int rc;

		if (!cfg) {
			if (access(paths[i], F_OK) < 0 && errno == ENOENT)
				continue;
			return strata_fail(err, STRATA_ERR_FORMAT, 0, "%s: %s", paths[i],
			                   jerr.text);
		}
		rc = from_file(cfg, paths[i], registry, repository, out, err);
		json_decref(cfg);
		if (rc != 0)
			return rc < 0 ? -1 : 0;
	}
	return 0; /* anonymous */
}
