/* SPDX-License-Identifier: MIT */
/* Listing the containers of a store, and their images as gc roots. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "store.h"
#include "vec.h"

static char *dup_member(json_t *state, const char *key)
{
	const char *v = json_string_value(json_object_get(state, key));

	return v ? strdup(v) : NULL;
}

/* Fills @c from the record in @dir; a container without one (or with a
 * damaged one) still lists, with no image.  0, or -1 out of memory. */
static int load_container(const char *dir, const char *name, struct store_container *c)
{
	json_t *state = store_container_load_state(dir), *code;

	if (!json_is_object(state)) {
		json_decref(state);
		state = json_object();
	}
	code = json_object_get(state, "exit_code");
	memset(c, 0, sizeof(*c));
	c->name = strdup(name);
	c->image = dup_member(state, "image");
	c->digest = dup_member(state, "digest");
	c->created = dup_member(state, "created");
	c->running = store_container_running(dir);
	c->has_exit_code = json_is_integer(code);
	c->exit_code = (int)json_integer_value(code);
	c->oom_killed = json_is_true(json_object_get(state, "oom_killed"));
	c->state_json = state ? json_dumps(state, JSON_COMPACT) : NULL;
	json_decref(state);
	return c->name && c->state_json ? 0 : -1;
}

static int list_fail(struct store *s, DIR *d, struct store_container *v, size_t n,
                     struct strata_error *err)
{
	int en = errno ? errno : ENOMEM;

	if (d)
		closedir(d);
	store_containers_free(v, n);
	return strata_fail(err, STRATA_ERR_SYS, en, "%s/strata/containers: %s", s->root,
	                   strerror(en));
}

int store_container_list(struct store *s, struct store_container **out, size_t *n,
                         struct strata_error *err)
{
	struct store_container *v = NULL;
	size_t cap = 0;
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	*out = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "%s/strata/containers", s->root);
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : list_fail(s, NULL, NULL, 0, err);
	while ((de = readdir(d))) {
		char dir[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof(dir), "%.3800s/%s", path, de->d_name);
		if (VEC_RESERVE(v, cap, *n + 1) < 0)
			return list_fail(s, d, v, *n, err);
		if (load_container(dir, de->d_name, &v[*n]) < 0)
			return errno = ENOMEM, list_fail(s, d, v, *n + 1, err);
		(*n)++;
	}
	closedir(d);
	*out = v;
	return 0;
}

void store_containers_free(struct store_container *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].image);
		free(v[i].digest);
		free(v[i].created);
		free(v[i].state_json);
	}
	free(v);
}

int store_gc_containers(struct store *s, struct store_gc_result *res, struct strata_error *err)
{
	struct store_container *cs;
	const char **keep;
	size_t n_cs, n_keep = 0;
	int rc;

	/* Named as strata gc always named it. */
	if (store_container_list(s, &cs, &n_cs, err))
		return store_fail_prefix(err, "%s: %s", "gc");
	keep = calloc(n_cs + 1, sizeof(*keep));
	/* A container without a record has no image to keep. */
	for (size_t i = 0; keep && i < n_cs; i++)
		if (cs[i].digest)
			keep[n_keep++] = cs[i].digest;
	rc = keep ? store_gc_keeping(s, keep, n_keep, res, err)
	          : strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	free(keep);
	store_containers_free(cs, n_cs);
	return rc;
}
