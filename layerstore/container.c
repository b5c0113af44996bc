/* SPDX-License-Identifier: MIT */
/* Container records: state.json and the running lock (strata-store.h). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "container.h"
#include "store.h"
#include "sys.h"

int store_container_path(const struct store *s, const char *name, char *out, size_t size)
{
	if (!*name || strchr(name, '/') || name[0] == '.') {
		errno = EINVAL;
		return -1;
	}
	if (snprintf(out, size, "%s/strata/containers/%s", s->root, name) >= (int)size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

char *store_container_create(struct store *s, const char *name, bool *fresh,
                             struct strata_error *err)
{
	char dir[PATH_MAX], *out;

	if (store_container_path(s, name, dir, sizeof(dir)) < 0) {
		strata_fail(err, STRATA_ERR_USAGE, errno,
		            "container directory %s/strata/containers/%s: %s", s->root, name,
		            strerror(errno));
		return NULL;
	}
	*fresh = access(dir, F_OK) < 0;
	/* The upper's root is the container's "/": it must be searchable by
	 * every user in the container.  (It should take the image root's
	 * mode; see docs/NOTES.md.) */
	if (sys_mkdir_p(dir) < 0 || chmod(dir, 0755) < 0) {
		strata_fail(err, STRATA_ERR_SYS, errno, "container directory %s: %s", dir,
		            strerror(errno));
		return NULL;
	}
	out = strdup(dir);
	if (!out)
		strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	return out;
}

static int save_state(const char *dir, json_t *state)
{
	char path[PATH_MAX], *text = json_dumps(state, JSON_INDENT(2) | JSON_SORT_KEYS);
	int rc;

	if (!text)
		return -1;
	snprintf(path, sizeof(path), "%s/state.json", dir);
	rc = sys_write_file_volatile(path, text, strlen(text));
	free(text);
	return rc;
}

json_t *store_container_load_state(const char *dir)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/state.json", dir) >= (int)sizeof(path))
		return NULL;
	return json_load_file(path, 0, NULL);
}

/* "YYYY-MM-DDTHH:MM:SSZ" for @t.  Not gmtime_r() and strftime(): glibc
 * loads the local time zone (/etc/localtime) at the first of them, 0.2 ms
 * of every run for a time printed in UTC.  Days to a civil date as in
 * Howard Hinnant's chrono algorithms (public domain). */
static void format_utc(time_t t, char out[64])
{
	long long days = t / 86400, secs = t % 86400;

	if (secs < 0) {
		secs += 86400;
		days--;
	}
	days += 719468;
	long long era = (days >= 0 ? days : days - 146096) / 146097;
	long long doe = days - era * 146097;
	long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long long mp = (5 * doy + 2) / 153;
	long long d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
	long long y = yoe + era * 400 + (m <= 2);

	snprintf(out, 64, "%04lld-%02d-%02dT%02d:%02d:%02dZ", y, (int)m, (int)d, (int)(secs / 3600),
	         (int)(secs / 60 % 60), (int)(secs % 60));
}

/* flock(@fd, LOCK_EX | LOCK_NB), tried again for up to 50 ms while it
 * would block: store_container_running() and strata wait hold the lock
 * shared for an instant to see whether a container runs, and a ps at the
 * moment a run, cp or commit takes it must not make that fail as "busy".
 * A running container holds it for good: 50 ms more to say so. */
static int lock_nb_patient(int fd)
{
	for (int i = 0;; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if ((errno != EWOULDBLOCK && errno != EINTR) || i == 100)
			return -1;
		nanosleep(&(struct timespec){.tv_nsec = 500000}, NULL);
	}
}

/* The lock file of the container in @dir, taken exclusive: an fd, or -1
 * (errno EBUSY when another holds it). */
static int take_lock(const char *dir)
{
	char path[PATH_MAX];
	int fd;

	if (snprintf(path, sizeof(path), "%s/lock", dir) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0 && lock_nb_patient(fd) < 0) {
		close(fd);
		errno = EBUSY;
		return -1;
	}
	return fd;
}

int store_container_lock(const char *dir, struct strata_error *err)
{
	int fd = take_lock(dir);

	if (fd < 0)
		strata_fail(err, STRATA_ERR_SYS, errno, "%s",
		            errno == EBUSY ? "still running" : strerror(errno));
	return fd;
}

int store_container_begin(const char *dir, const char *name, const char *image, const char *digest,
                          char *const *argv, const char *extra_json, struct strata_error *err)
{
	char created[64], now[64];
	json_t *state, *cmd = json_array();
	/* Inherited by the daemon (clone without CLONE_FILES copies the fd
	 * table, same open file): held until the last of them exits. */
	int fd = take_lock(dir);

	if (fd < 0) {
		json_decref(cmd);
		return strata_fail(err, STRATA_ERR_SYS, errno, "container %s: %s", name,
		                   errno == EBUSY ? "already running" : strerror(errno));
	}
	state = store_container_load_state(dir);
	format_utc(time(NULL), now);
	if (!json_is_object(state)) {
		json_decref(state);
		memcpy(created, now, sizeof(now));
		state = json_pack("{s:s, s:s, s:s, s:s}", "name", name, "image", image, "digest",
		                  digest, "created", created);
	}
	for (size_t i = 0; cmd && argv[i]; i++)
		json_array_append_new(cmd, json_string(argv[i]));
	if (state) {
		json_object_set_new(state, "command", cmd ? cmd : json_null());
		json_object_del(state, "exit_code");
		json_object_del(state, "oom_killed");
		json_object_del(state, "finished_at");
		json_object_del(state, "reason");
		json_object_set_new(state, "started_at", json_string(now));
		if (extra_json) {
			json_t *extra = json_loads(extra_json, 0, NULL);

			if (json_is_object(extra))
				json_object_update(state, extra);
			json_decref(extra);
		}
		/* Whom strata rm -f kills to stop it. */
		json_object_set_new(state, "pid", json_integer(getpid()));
		json_object_set_new(state, "status", json_string("running"));
		save_state(dir, state);
	} else {
		json_decref(cmd);
	}
	json_decref(state);
	return fd;
}

void store_container_end(const char *dir, int status, bool oom_killed)
{
	json_t *state = store_container_load_state(dir);
	char now[64];

	if (!json_is_object(state)) {
		json_decref(state);
		return;
	}
	format_utc(time(NULL), now);
	json_object_set_new(state, "finished_at", json_string(now));
	json_object_set_new(state, "status", json_string("exited"));
	json_object_set_new(state, "exit_code", json_integer(status));
	json_object_set_new(state, "oom_killed", json_boolean(oom_killed));
	json_object_del(state, "pid");
	save_state(dir, state);
	json_decref(state);
	store_container_set_cgroups(dir, NULL); /* gone with the run */
}

char *store_container_image_digest(const char *dir)
{
	json_t *state = store_container_load_state(dir);
	const char *d = json_string_value(json_object_get(state, "digest"));
	char *out = d ? strdup(d) : NULL;

	json_decref(state);
	return out;
}

bool store_container_running(const char *dir)
{
	char path[PATH_MAX];
	bool running = false;
	int fd;

	snprintf(path, sizeof(path), "%s/lock", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		running = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
		close(fd);
	}
	return running;
}

int store_container_note(const char *dir, const char *key, const char *value_json)
{
	json_t *state = store_container_load_state(dir);
	json_t *v = json_loads(value_json, JSON_DECODE_ANY, NULL);
	int rc = -1;

	if (json_is_object(state) && v && json_object_set_new(state, key, v) == 0) {
		v = NULL;
		rc = save_state(dir, state);
	}
	json_decref(v);
	json_decref(state);
	return rc;
}

bool store_container_mark_dead(const char *dir, const char *reason)
{
	json_t *state = store_container_load_state(dir);
	const char *status = json_string_value(json_object_get(state, "status"));
	char now[64];
	bool marked = false;

	/* Only a record that still says it runs: an exit recorded is kept. */
	if (json_is_object(state) && status && strcmp(status, "running") == 0) {
		format_utc(time(NULL), now);
		json_object_set_new(state, "status", json_string("exited"));
		json_object_set_new(state, "reason", json_string(reason));
		json_object_set_new(state, "finished_at", json_string(now));
		json_object_del(state, "pid");
		marked = save_state(dir, state) == 0;
	}
	json_decref(state);
	return marked;
}
