/* SPDX-License-Identifier: MIT */
/*
 * Image references as podman and docker write them (the grammar of
 * distribution's reference package): [registry/]path[:tag][@digest].  A
 * pure module: no files, no network.  What an unqualified name resolves to
 * is registries_conf.c's business.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

#define NAME_MAX_LEN 255
#define TAG_MAX_LEN  128

static int bad(struct strata_error *err, const char *text, const char *why)
{
	return strata_fail(err, STRATA_ERR_OPTION, EINVAL, "'%s': not an image reference (%s)",
	                   text, why);
}

static bool is_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]+ ((. | _ | __ | -+) [a-z0-9]+)* */
static bool valid_path_component(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t run = 0;

		while (i < n && is_alnum_lower(s[i]))
			i++, run++;
		if (run == 0)
			return false;
		if (i == n)
			return true;
		if (s[i] == '.' || (s[i] == '_' && (i + 1 == n || s[i + 1] != '_')))
			i++;
		else if (s[i] == '_')
			i += 2;
		else if (s[i] == '-')
			while (i < n && s[i] == '-')
				i++;
		else
			return false;
		if (i == n)
			return false; /* a separator must be followed */
	}
	return n > 0;
}

/* A host name or address, with an optional port: "registry.example.com",
 * "localhost:5000", "[::1]:5000". */
static bool valid_registry(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr(".-:[]", s[i]))
			return false;
	return s[0] != '-' && s[0] != '.' && s[0] != ':';
}

static bool valid_tag(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > TAG_MAX_LEN || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)t[i]) && !strchr("_.-", t[i]))
			return false;
	return true;
}

/* Does the first component name a registry?  Docker's rule. */
static bool names_registry(const char *s, size_t n)
{
	return memchr(s, '.', n) || memchr(s, ':', n) || (n == 9 && memcmp(s, "localhost", 9) == 0);
}

/* Splits "name[:tag][@digest]" in place (@buf is a copy of @text). */
static int split_suffixes(char *buf, const char *text, char **tag, char **digest,
                          struct strata_error *err)
{
	char *at = strchr(buf, '@'), *slash, *colon;

	*tag = *digest = NULL;
	if (at) {
		*at = '\0';
		*digest = at + 1;
		if (strncmp(*digest, "sha256:", 7) != 0)
			return bad(err, text, "only sha256 digests are supported");
		if (!store_digest_valid(*digest))
			return bad(err, text, "a digest is sha256: and 64 lowercase hex digits");
	}
	slash = strrchr(buf, '/');
	colon = strrchr(buf, ':');
	if (colon && (!slash || colon > slash)) {
		*colon = '\0';
		*tag = colon + 1;
		if (!valid_tag(*tag))
			return bad(err, text, "a tag is up to 128 letters, digits, '_', '.', '-'");
	}
	return 0;
}

static int check_path(const char *path, const char *text, struct strata_error *err)
{
	const char *p = path;

	if (!*p)
		return bad(err, text, "no repository name");
	while (*p) {
		size_t n = strcspn(p, "/");

		if (!valid_path_component(p, n))
			return bad(err, text,
			           "repository names are lowercase letters, digits and separators");
		p += n;
		if (*p == '/' && !*++p)
			return bad(err, text, "a name does not end with '/'");
	}
	return 0;
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		*oom = true;
	return d;
}

int store_reference_parse(const char *text, struct store_reference *out, struct strata_error *err)
{
	char *buf = strdup(text), *tag, *digest, *path;
	const char *registry = NULL;
	bool oom = false;
	size_t first;

	memset(out, 0, sizeof(*out));
	if (!buf)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	if (strlen(text) > NAME_MAX_LEN + TAG_MAX_LEN + STORE_DIGEST_MAX + 2 ||
	    split_suffixes(buf, text, &tag, &digest, err) < 0)
		goto fail;
	if (!buf[0]) {
		bad(err, text, "no repository name");
		goto fail;
	}
	path = buf;
	first = strcspn(buf, "/");
	if (buf[first] == '/' && names_registry(buf, first)) {
		buf[first] = '\0';
		registry = buf;
		path = buf + first + 1;
		if (!valid_registry(registry, first)) {
			bad(err, text, "a bad registry host");
			goto fail;
		}
		if (strcmp(registry, "index.docker.io") == 0)
			registry = "docker.io";
	}
	if (check_path(path, text, err) < 0)
		goto fail;
	if (strlen(path) + (registry ? strlen(registry) + 1 : 0) > NAME_MAX_LEN) {
		bad(err, text, "a name is at most 255 bytes");
		goto fail;
	}
	out->registry = dup_or_null(registry, &oom);
	out->repository = dup_or_null(path, &oom);
	out->tag = dup_or_null(tag, &oom);
	out->digest = dup_or_null(digest, &oom);
	free(buf);
	if (!oom)
		return 0;
	store_reference_free(out);
	return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
fail:
	free(buf);
	return -1;
}

int store_reference_qualify(const struct store_reference *r, const char *registry,
                            struct store_reference *out, struct strata_error *err)
{
	const char *reg = r->registry ? r->registry : registry;
	bool hub = strcmp(reg, "docker.io") == 0 && !strchr(r->repository, '/');
	bool oom = false;

	memset(out, 0, sizeof(*out));
	out->registry = dup_or_null(reg, &oom);
	if (hub && asprintf(&out->repository, "library/%s", r->repository) < 0)
		out->repository = NULL, oom = true;
	else if (!hub)
		out->repository = dup_or_null(r->repository, &oom);
	out->tag = dup_or_null(r->tag ? r->tag : r->digest ? NULL : "latest", &oom);
	out->digest = dup_or_null(r->digest, &oom);
	if (!oom)
		return 0;
	store_reference_free(out);
	return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
}

char *store_reference_string(const struct store_reference *r)
{
	char *s;

	if (asprintf(&s, "%s%s%s%s%s%s%s", r->registry ? r->registry : "", r->registry ? "/" : "",
	             r->repository, r->tag ? ":" : "", r->tag ? r->tag : "", r->digest ? "@" : "",
	             r->digest ? r->digest : "") < 0)
		return NULL;
	return s;
}

char *store_reference_store_name(const struct store_reference *r)
{
	struct store_reference n = *r;

	/* A tag names the image; a digest alone is the only name there is. */
	if (n.tag)
		n.digest = NULL;
	return store_reference_string(&n);
}

void store_reference_free(struct store_reference *r)
{
	free(r->registry);
	free(r->repository);
	free(r->tag);
	free(r->digest);
	memset(r, 0, sizeof(*r));
}
