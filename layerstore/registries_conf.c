/* SPDX-License-Identifier: MIT */
/*
 * containers-registries.conf(5), the file podman, skopeo and buildah read:
 * which registries an unqualified name is looked up in, and per registry
 * (or namespace of one) where to go instead, whether plain HTTP is fine,
 * whether it is blocked, and mirrors to try first.
 *
 * Only the version 2 format is read, and of TOML only what such files use:
 * comments, "key = value" with strings, booleans and arrays of strings
 * (which may span lines), [table] and [[array-of-tables]] headers.  Keys
 * strata has no use for (short-name-mode, [aliases], credential-helpers...)
 * are skipped; the drop-in directory registries.conf.d is not read yet.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry.h"
#include "sys.h"
#include "vec.h"

/* A TOML value as the few keys we read need it. */
struct value {
	enum { V_STRING, V_BOOL, V_ARRAY } type;
	char *str;   /* V_STRING */
	bool b;      /* V_BOOL */
	char **strs; /* V_ARRAY of strings */
	size_t n;
};

struct parser {
	const char *p, *what;
	unsigned line;
	struct strata_error *err;
	struct store_registries *out;
	enum { T_TOP, T_REGISTRY, T_MIRROR, T_OTHER } table;
};

static int syntax(struct parser *ps, const char *why)
{
	return strata_fail(ps->err, STRATA_ERR_FORMAT, 0, "%s: line %u: %s", ps->what, ps->line,
	                   why);
}

static int nomem(struct parser *ps)
{
	return strata_fail(ps->err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
}

/* Skips blanks, comments and (when @newlines) line ends. */
static void skip(struct parser *ps, bool newlines)
{
	for (;;) {
		if (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r')
			ps->p++;
		else if (*ps->p == '#')
			ps->p += strcspn(ps->p, "\n");
		else if (newlines && *ps->p == '\n')
			ps->p++, ps->line++;
		else
			return;
	}
}

/* "..." (with \" \\ \n \t escapes) or '...' (literal). */
static int parse_string(struct parser *ps, char **out)
{
	char quote = *ps->p++, *s = malloc(strlen(ps->p) + 1);
	size_t n = 0;

	if (!s)
		return nomem(ps);
	while (*ps->p && *ps->p != quote && *ps->p != '\n') {
		char c = *ps->p++;

		if (c == '\\' && quote == '"' && *ps->p) {
			c = *ps->p++;
			c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
		}
		s[n++] = c;
	}
	if (*ps->p != quote) {
		free(s);
		return syntax(ps, "unterminated string");
	}
	ps->p++;
	s[n] = '\0';
	*out = s;
	return 0;
}

static void value_free(struct value *v)
{
	free(v->str);
	for (size_t i = 0; i < v->n; i++)
		free(v->strs[i]);
	free(v->strs);
	memset(v, 0, sizeof(*v));
}

static int parse_array(struct parser *ps, struct value *v)
{
	size_t cap = 0;

	v->type = V_ARRAY;
	ps->p++; /* '[' */
	for (;;) {
		skip(ps, true);
		if (*ps->p == ']') {
			ps->p++;
			return 0;
		}
		if (*ps->p != '"' && *ps->p != '\'')
			return syntax(ps, "only arrays of strings are understood");
		if (VEC_RESERVE(v->strs, cap, v->n + 1) < 0)
			return nomem(ps);
		if (parse_string(ps, &v->strs[v->n]) < 0)
			return -1;
		v->n++;
		skip(ps, true);
		if (*ps->p == ',')
			ps->p++;
		else if (*ps->p != ']')
			return syntax(ps, "expected ',' or ']' in an array");
	}
}

static int parse_value(struct parser *ps, struct value *v)
{
	memset(v, 0, sizeof(*v));
	if (*ps->p == '"' || *ps->p == '\'') {
		v->type = V_STRING;
		return parse_string(ps, &v->str);
	}
	if (*ps->p == '[')
		return parse_array(ps, v);
	if (strncmp(ps->p, "true", 4) == 0 || strncmp(ps->p, "false", 5) == 0) {
		v->type = V_BOOL;
		v->b = *ps->p == 't';
		ps->p += v->b ? 4 : 5;
		return 0;
	}
	/* Numbers, dates, inline tables: no key we read takes them. */
	v->type = V_STRING;
	ps->p += strcspn(ps->p, "#\n");
	return 0;
}

static int add_entry(struct parser *ps)
{
	struct store_registries *r = ps->out;
	struct store_registry_entry *v = realloc(r->entries, (r->n_entries + 1) * sizeof(*v));

	if (!v)
		return nomem(ps);
	r->entries = v;
	memset(&v[r->n_entries++], 0, sizeof(*v));
	return 0;
}

static int add_mirror(struct parser *ps)
{
	struct store_registry_entry *e;
	struct store_registry_mirror *m;

	if (ps->out->n_entries == 0)
		return syntax(ps, "[[registry.mirror]] before any [[registry]]");
	e = &ps->out->entries[ps->out->n_entries - 1];
	m = realloc(e->mirrors, (e->n_mirrors + 1) * sizeof(*m));
	if (!m)
		return nomem(ps);
	e->mirrors = m;
	memset(&m[e->n_mirrors++], 0, sizeof(*m));
	return 0;
}

static int parse_table_header(struct parser *ps)
{
	bool array = ps->p[1] == '[';
	size_t n;
	char name[64];

	ps->p += array ? 2 : 1;
	skip(ps, false);
	n = strcspn(ps->p, "] \t\n");
	snprintf(name, sizeof(name), "%.*s", (int)(n < 63 ? n : 63), ps->p);
	ps->p += n;
	skip(ps, false);
	if (strncmp(ps->p, array ? "]]" : "]", array ? 2 : 1) != 0)
		return syntax(ps, "a table header without its closing bracket");
	ps->p += array ? 2 : 1;
	ps->table = T_OTHER;
	if (array && strcmp(name, "registry") == 0) {
		ps->table = T_REGISTRY;
		return add_entry(ps);
	}
	if (array && strcmp(name, "registry.mirror") == 0) {
		ps->table = T_MIRROR;
		return add_mirror(ps);
	}
	return 0;
}

static int want(struct parser *ps, struct value *v, int type, const char *key)
{
	if ((int)v->type == type)
		return 0;
	return strata_fail(ps->err, STRATA_ERR_FORMAT, 0, "%s: line %u: %s: expected %s", ps->what,
	                   ps->line, key,
	                   type == V_STRING ? "a string"
	                   : type == V_BOOL ? "true or false"
	                                    : "an array of strings");
}

/* Takes a string out of @v. */
static char *take(struct value *v)
{
	char *s = v->str;

	v->str = NULL;
	return s;
}

static int set_top(struct parser *ps, const char *key, struct value *v)
{
	struct store_registries *r = ps->out;

	if (strcmp(key, "unqualified-search-registries") != 0)
		return 0;
	if (want(ps, v, V_ARRAY, key))
		return -1;
	for (size_t i = 0; i < r->n_search; i++)
		free(r->search[i]);
	free(r->search);
	r->search = v->strs;
	r->n_search = v->n;
	r->search_set = true;
	v->strs = NULL;
	v->n = 0;
	return 0;
}

static int set_registry(struct parser *ps, const char *key, struct value *v)
{
	struct store_registry_entry *e = &ps->out->entries[ps->out->n_entries - 1];
	char **str = strcmp(key, "prefix") == 0     ? &e->prefix
	             : strcmp(key, "location") == 0 ? &e->location
	                                            : NULL;
	bool *flag = strcmp(key, "insecure") == 0                ? &e->insecure
	             : strcmp(key, "blocked") == 0               ? &e->blocked
	             : strcmp(key, "mirror-by-digest-only") == 0 ? &e->mirror_by_digest_only
	                                                         : NULL;

	if (str) {
		if (want(ps, v, V_STRING, key))
			return -1;
		free(*str);
		*str = take(v);
	} else if (flag) {
		if (want(ps, v, V_BOOL, key))
			return -1;
		*flag = v->b;
	}
	return 0;
}

static int set_mirror(struct parser *ps, const char *key, struct value *v)
{
	struct store_registry_entry *e = &ps->out->entries[ps->out->n_entries - 1];
	struct store_registry_mirror *m = &e->mirrors[e->n_mirrors - 1];

	if (strcmp(key, "location") == 0) {
		if (want(ps, v, V_STRING, key))
			return -1;
		free(m->location);
		m->location = take(v);
	} else if (strcmp(key, "insecure") == 0) {
		if (want(ps, v, V_BOOL, key))
			return -1;
		m->insecure = v->b;
	}
	return 0;
}

static int parse_key_value(struct parser *ps)
{
	char key[64];
	size_t n = strcspn(ps->p, " \t=\n#");
	struct value v;
	int rc = 0;

	if (n == 0 || n >= sizeof(key))
		return syntax(ps, "expected a key");
	snprintf(key, sizeof(key), "%.*s", (int)n, ps->p);
	ps->p += n;
	skip(ps, false);
	if (*ps->p != '=')
		return syntax(ps, "expected '=' after a key");
	ps->p++;
	skip(ps, false);
	if (parse_value(ps, &v) < 0) {
		value_free(&v);
		return -1;
	}
	if (ps->table == T_TOP)
		rc = set_top(ps, key, &v);
	else if (ps->table == T_REGISTRY)
		rc = set_registry(ps, key, &v);
	else if (ps->table == T_MIRROR)
		rc = set_mirror(ps, key, &v);
	value_free(&v);
	return rc;
}

/* Every [[registry]] needs a prefix or a location; the prefix defaults to
 * the location. */
static int finish(struct parser *ps)
{
	for (size_t i = 0; i < ps->out->n_entries; i++) {
		struct store_registry_entry *e = &ps->out->entries[i];

		if (!e->prefix && !e->location)
			return strata_fail(ps->err, STRATA_ERR_FORMAT, 0,
			                   "%s: [[registry]] %zu has neither prefix nor location",
			                   ps->what, i + 1);
		if (!e->prefix && !(e->prefix = strdup(e->location)))
			return nomem(ps);
		for (size_t k = 0; k < e->n_mirrors; k++)
			if (!e->mirrors[k].location)
				return strata_fail(ps->err, STRATA_ERR_FORMAT, 0,
				                   "%s: a mirror of %s has no location", ps->what,
				                   e->prefix);
	}
	return 0;
}

int store_registries_parse(const char *text, const char *what, struct store_registries *out,
                           struct strata_error *err)
{
	struct parser ps = {.p = text, .what = what, .line = 1, .err = err, .out = out};

	memset(out, 0, sizeof(*out));
	for (;;) {
		int rc;

		skip(&ps, true);
		if (!*ps.p)
			break;
		rc = *ps.p == '[' ? parse_table_header(&ps) : parse_key_value(&ps);
		if (rc == 0) {
			skip(&ps, false);
			if (*ps.p && *ps.p != '\n')
				rc = syntax(&ps, "unexpected text after a value");
		}
		if (rc < 0) {
			store_registries_free(out);
			return -1;
		}
	}
	if (finish(&ps) < 0) {
		store_registries_free(out);
		return -1;
	}
	return 0;
}

void store_registries_free(struct store_registries *r)
{
	for (size_t i = 0; i < r->n_search; i++)
		free(r->search[i]);
	free(r->search);
	for (size_t i = 0; i < r->n_entries; i++) {
		struct store_registry_entry *e = &r->entries[i];

		free(e->prefix);
		free(e->location);
		for (size_t k = 0; k < e->n_mirrors; k++)
			free(e->mirrors[k].location);
		free(e->mirrors);
	}
	free(r->entries);
	memset(r, 0, sizeof(*r));
}

/* The whole of a small text file; NULL with errno (ENOENT: none). */
static char *read_text(const char *path)
{
	char *buf = NULL;
	size_t cap = 0, n = 0;
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	do {
		if (VEC_RESERVE(buf, cap, n + 4097) < 0)
			break;
		got = read(fd, buf + n, 4096);
		if (got > 0)
			n += (size_t)got;
	} while (got > 0 || (got < 0 && errno == EINTR));
	close(fd);
	if (buf)
		buf[n] = '\0';
	return buf;
}

int store_registries_load(struct store_registries *out, struct strata_error *err)
{
	const char *env = getenv("CONTAINERS_REGISTRIES_CONF"), *home = getenv("HOME");
	char user[4096];
	const char *paths[3];
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	if (env && *env)
		paths[n++] = env;
	if (home && *home &&
	    snprintf(user, sizeof(user), "%s/.config/containers/registries.conf", home) <
	        (int)sizeof(user))
		paths[n++] = user;
	paths[n++] = "/etc/containers/registries.conf";
	for (size_t i = 0; i < n; i++) {
		char *text = read_text(paths[i]);
		int rc;

		if (!text && errno == ENOENT && !(env && i == 0))
			continue;
		if (!text)
			return strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", paths[i],
			                   strerror(errno));
		rc = store_registries_parse(text, paths[i], out, err);
		free(text);
		return rc;
	}
	return 0;
}

/* Does @prefix cover @name ("host/path")?  At a component boundary only;
 * "*.example.com" covers every subdomain's hosts.  The length matched, or
 * 0. */
static size_t prefix_match(const char *prefix, const char *name)
{
	size_t n = strlen(prefix), host = strcspn(name, "/");

	if (strncmp(prefix, "*.", 2) == 0) {
		size_t suffix = n - 1; /* ".example.com" */

		return host > suffix && memcmp(name + host - suffix, prefix + 1, suffix) == 0 &&
		               !strchr(prefix, '/')
		           ? host
		           : 0;
	}
	if (strncmp(name, prefix, n) != 0 || (name[n] && name[n] != '/'))
		return 0;
	return n;
}

static const struct store_registry_entry *find_entry(const struct store_registries *conf,
                                                     const char *name, size_t *matched)
{
	const struct store_registry_entry *best = NULL;

	*matched = 0;
	for (size_t i = 0; i < conf->n_entries; i++) {
		size_t m = prefix_match(conf->entries[i].prefix, name);

		if (m > *matched) {
			*matched = m;
			best = &conf->entries[i];
		}
	}
	return best;
}

/* @location + what follows the matched prefix, split into host and path. */
static int add_source(struct store_pull_source **v, size_t *n, const char *location,
                      const char *rest, bool insecure, bool mirror)
{
	struct store_pull_source *s = realloc(*v, (*n + 1) * sizeof(**v));
	char *full, *slash;

	if (!s)
		return -1;
	*v = s;
	s = &s[*n];
	memset(s, 0, sizeof(*s));
	if (asprintf(&full, "%s%s", location, rest) < 0)
		return -1;
	slash = strchr(full, '/');
	if (!slash || !slash[1]) {
		free(full);
		errno = EINVAL;
		return -1;
	}
	*slash = '\0';
	s->registry = full;
	s->repository = strdup(slash + 1);
	s->insecure = insecure;
	s->mirror = mirror;
	if (!s->repository) {
		free(full);
		return -1;
	}
	(*n)++;
	return 0;
}

int store_registries_sources(const struct store_registries *conf, const struct store_reference *r,
                             struct store_pull_source **out, size_t *n, struct strata_error *err)
{
	char *name = NULL;
	const struct store_registry_entry *e;
	size_t matched;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (asprintf(&name, "%s/%s", r->registry, r->repository) < 0)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	e = find_entry(conf, name, &matched);
	if (e && e->blocked) {
		rc = strata_fail(err, STRATA_ERR_SYS, EACCES,
		                 "%s: blocked by [[registry]] prefix \"%s\" in registries.conf",
		                 name, e->prefix);
		goto out;
	}
	for (size_t i = 0; e && i < e->n_mirrors && rc == 0; i++)
		if (!e->mirror_by_digest_only || r->digest)
			rc = add_source(out, n, e->mirrors[i].location, name + matched,
			                e->mirrors[i].insecure, true);
	if (rc == 0)
		rc = add_source(out, n, e && e->location ? e->location : r->registry,
		                e && e->location ? name + matched : name + strlen(r->registry),
		                e && e->insecure, false);
	if (rc < 0)
		rc = strata_fail(err, errno == EINVAL ? STRATA_ERR_FORMAT : STRATA_ERR_NOMEM, errno,
		                 errno == EINVAL ? "%s: registries.conf maps it to no repository"
		                                 : "%s: out of memory",
		                 name);
out:
	if (rc < 0) {
		store_pull_sources_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	free(name);
	return rc;
}

void store_pull_sources_free(struct store_pull_source *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].registry);
		free(v[i].repository);
	}
	free(v);
}

size_t store_registries_search(const struct store_registries *conf, const char *const **out)
{
	static const char *const hub[] = {"docker.io"};

	if (conf->search_set) {
		*out = (const char *const *)conf->search;
		return conf->n_search;
	}
	*out = hub;
	return 1;
}
