/* SPDX-License-Identifier: MIT */
/* Container records: state.json and the running lock (see container.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "container.h"
#include "run.h"
#include "sys.h"

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

static json_t *load_state(const char *dir)
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

int container_begin(const char *dir, const char *name, const char *image, const char *digest,
                    char *const *argv)
{
	char path[PATH_MAX], created[64];
	json_t *state, *cmd = json_array();
	int fd;

	snprintf(path, sizeof(path), "%s/lock", dir);
	/* Inherited by the daemon (clone without CLONE_FILES copies the fd
	 * table, same open file): held until the last of them exits. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		errno = EBUSY;
		return -1;
	}
	state = load_state(dir);
	if (!json_is_object(state)) {
		json_decref(state);
		format_utc(time(NULL), created);
		state = json_pack("{s:s, s:s, s:s, s:s}", "name", name, "image", image, "digest",
		                  digest, "created", created);
	}
	for (size_t i = 0; cmd && argv[i]; i++)
		json_array_append_new(cmd, json_string(argv[i]));
	if (state) {
		json_object_set_new(state, "command", cmd ? cmd : json_null());
		json_object_del(state, "exit_code");
		json_object_set_new(state, "status", json_string("running"));
		save_state(dir, state);
	}
	json_decref(state);
	return fd;
}

void container_end(const char *dir, int status)
{
	json_t *state = load_state(dir);

	if (!json_is_object(state)) {
		json_decref(state);
		return;
	}
	json_object_set_new(state, "status", json_string("exited"));
	json_object_set_new(state, "exit_code", json_integer(status));
	save_state(dir, state);
	json_decref(state);
}

char *container_image_digest(const char *dir)
{
	json_t *state = load_state(dir);
	const char *d = json_string_value(json_object_get(state, "digest"));
	char *out = d ? strdup(d) : NULL;

	json_decref(state);
	return out;
}

int container_images(const char *store_root, struct container_image **out, size_t *n)
{
	char path[PATH_MAX];
	struct container_image *v = NULL;
	struct dirent *de;
	DIR *d;

	*out = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "%s/strata/containers", store_root);
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d))) {
		char dir[PATH_MAX], *digest;
		struct container_image *bigger;

		if (de->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof(dir), "%.3800s/%s", path, de->d_name);
		/* A container without a record has no image to keep. */
		if (!(digest = container_image_digest(dir)))
			continue;
		bigger = realloc(v, (*n + 1) * sizeof(*v));
		if (!bigger || !(bigger[*n].name = strdup(de->d_name))) {
			v = bigger ? bigger : v;
			free(digest);
			closedir(d);
			container_images_free(v, *n);
			*n = 0;
			errno = ENOMEM;
			return -1;
		}
		v = bigger;
		v[(*n)++].digest = digest;
	}
	closedir(d);
	*out = v;
	return 0;
}

void container_images_free(struct container_image *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].digest);
	}
	free(v);
}

int container_lock(const char *dir)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		errno = EBUSY;
		return -1;
	}
	return fd;
}

bool container_running(const char *dir)
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

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int remove_as_self(const char *path)
{
	return nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS);
}

struct userns_rm {
	int pipe[2]; /* parent → child: the maps are written */
	char path[PATH_MAX];
};

static int remove_in_userns(void *arg)
{
	struct userns_rm *rm = arg;
	char go;

	close(rm->pipe[1]);
	if (read(rm->pipe[0], &go, 1) != 1)
		return 1;
	return remove_as_self(rm->path) == 0 ? 0 : 1;
}

/* A container run with subordinate ids leaves files its owner cannot
 * remove from outside: remove them again from inside a user namespace with
 * the same map, where those ids are ours. */
int container_remove_tree(const char *path)
{
	struct userns_rm *arg;
	pid_t pid;
	int st, rc;

	if (remove_as_self(path) == 0 || geteuid() == 0 || (errno != EACCES && errno != EPERM))
		return access(path, F_OK) == 0 ? -1 : 0;
	arg = malloc(sizeof(*arg));
	rc = -1;
	if (!arg || pipe2(arg->pipe, O_CLOEXEC) < 0)
		goto out;
	snprintf(arg->path, sizeof(arg->path), "%s", path);
	pid = run_clone(remove_in_userns, arg, CLONE_NEWUSER | SIGCHLD);
	if (pid < 0)
		goto out;
	close(arg->pipe[0]);
	if (run_write_id_maps(pid, getuid(), getgid()) == 0)
		(void)write(arg->pipe[1], "g", 1);
	close(arg->pipe[1]);
	if (waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		rc = 0;
out:
	free(arg);
	return rc;
}

/* What the init mounts over (run_init.c), so that the image need not have
 * it and the container need not make it in its writable layer: making it
 * there went through FUSE at every start (about 2 ms). */
static const struct {
	const char *path;
	mode_t mode;
} mount_points[] = {
    {"proc", S_IFDIR | 0555},
    {"sys", S_IFDIR | 0555},
    {"dev", S_IFDIR | 0755},
    {"etc", S_IFDIR | 0755},
    {"etc/hosts", S_IFREG | 0644},
    {"etc/hostname", S_IFREG | 0644},
    {"etc/resolv.conf", S_IFREG | 0644},
};

static int make_mount_points(const char *dir)
{
	for (size_t i = 0; i < sizeof(mount_points) / sizeof(mount_points[0]); i++) {
		char path[PATH_MAX];
		int fd;

		if (snprintf(path, sizeof(path), "%s/%s", dir, mount_points[i].path) >=
		    (int)sizeof(path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (S_ISDIR(mount_points[i].mode)) {
			if (mkdir(path, 0755) < 0)
				return -1;
		} else {
			fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			if (fd < 0)
				return -1;
			close(fd);
		}
		/* Not umask's: the same tree serves every later run. */
		if (chmod(path, mount_points[i].mode & 07777) < 0)
			return -1;
	}
	return chmod(dir, 0755);
}

char *container_mount_points(const char *store_root)
{
	char *dir, tmp[PATH_MAX];
	int en;

	/* The version in the name: a later strata with other mount points
	 * makes its own tree instead of trusting an older one. */
	if (asprintf(&dir, "%s/strata/mount-points.1", store_root) < 0)
		return NULL;
	if (access(dir, F_OK) == 0)
		return dir;
	/* Made aside and renamed into place: a run never sees half of it. */
	snprintf(tmp, sizeof(tmp), "%s/strata/tmp/mount-points.XXXXXX", store_root);
	if (!mkdtemp(tmp)) {
		free(dir);
		return NULL;
	}
	if (make_mount_points(tmp) < 0 ||
	    (rename(tmp, dir) < 0 && errno != EEXIST && errno != ENOTEMPTY)) {
		en = errno;
		container_remove_tree(tmp);
		free(dir);
		errno = en;
		return NULL;
	}
	/* Another run won the race: its tree is the same. */
	if (access(tmp, F_OK) == 0)
		container_remove_tree(tmp);
	return dir;
}
