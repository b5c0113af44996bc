/* SPDX-License-Identifier: MIT */
/* Containers found dead, their records made right (ctr.h). */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "cli.h"
#include "ctr.h"
#include "run.h"
#include "strata-store.h"

/* Whether the record says it runs though nobody holds its lock. */
static bool died_unrecorded(const struct store_container *c, bool *rm, bool *detached)
{
	json_t *st = json_loads(c->state_json, 0, NULL);
	const char *status = json_string_value(json_object_get(st, "status"));
	bool dead = !c->running && status && strcmp(status, "running") == 0;

	*rm = json_is_true(json_object_get(st, "rm"));
	*detached = json_is_true(json_object_get(st, "detached"));
	json_decref(st);
	return dead;
}

json_t *ctr_state(const char *dir)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/state.json", dir) >= (int)sizeof(path))
		return NULL;
	return json_load_file(path, 0, NULL);
}

static void reload(struct store_container *c, const char *dir)
{
	json_t *st = ctr_state(dir);

	if (!st)
		return;
	free(c->state_json);
	c->state_json = json_dumps(st, JSON_COMPACT);
	json_decref(st);
}

/* One dead container: true when it is gone (--rm). */
static bool reap_one(struct store *s, struct store_container *c)
{
	char dir[PATH_MAX];
	bool rm, detached, gone = false;
	struct strata_error err;
	int lock;

	if (!died_unrecorded(c, &rm, &detached) ||
	    store_container_path(s, c->name, dir, sizeof(dir)) < 0)
		return false;
	/* Under its lock: a run that starts it again meanwhile is not ours
	 * to mark or remove. */
	if ((lock = store_container_lock(dir, &err)) < 0)
		return false;
	/* The record was read before its lock was found free: the launcher
	 * may have recorded the end and let the lock go in between.  Read
	 * again, under the lock. */
	reload(c, dir);
	if (!died_unrecorded(c, &rm, &detached)) {
		close(lock);
		return false;
	}
	/* Its pasta, which outlives a killed launcher (run_pasta.c). */
	run_pasta_reap(c->state_json);
	if (rm) {
		/* Its groups first: their record is in the directory. */
		cg_reap_dead(s, c, 1);
		gone = store_remove_tree(dir, run_remove_in_userns) == 0;
	} else {
		store_container_mark_dead(dir, detached ? "supervisor died" : "launcher died");
		reload(c, dir);
	}
	close(lock);
	return gone;
}

void ctr_reap_dead(struct store *s, struct store_container **cs, size_t *n)
{
	size_t kept = 0;

	for (size_t i = 0; i < *n; i++) {
		struct store_container *c = &(*cs)[i];

		if (reap_one(s, c)) {
			free(c->name);
			free(c->image);
			free(c->digest);
			free(c->created);
			free(c->state_json);
			continue;
		}
		(*cs)[kept++] = (*cs)[i];
	}
	*n = kept;
	cg_reap_dead(s, *cs, *n);
}

int ctr_find(struct store *s, const char *cmd, const char *name, char *dir, size_t size)
{
	struct store_container *cs = NULL;
	struct strata_error err;
	size_t n = 0;

	if (store_container_path(s, name, dir, size) < 0) {
		cli_error("%s: %s: not a container name", cmd, name);
		return 1;
	}
	if (store_container_list(s, &cs, &n, &err) == 0)
		ctr_reap_dead(s, &cs, &n);
	store_containers_free(cs, n);
	if (access(dir, F_OK) < 0) {
		cli_error("%s: %s: no such container", cmd, name);
		return 1;
	}
	return 0;
}

int ctr_open(const char *root, const char *cmd, const char *name, struct store **s, char *dir,
             size_t size)
{
	if (cli_open_store(root, false, s))
		return 1;
	if (ctr_find(*s, cmd, name, dir, size) == 0)
		return 0;
	store_close(*s);
	return 1;
}
