/* SPDX-License-Identifier: MIT */
/* strata run: the launcher.  See run.h for the process layout. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "run.h"
#include "run_args.h"
#include "strata-store.h"
#include "sys.h"

/* ---- the image's config ---- */

/* Appends a copy of @s to the NULL-terminated @v of @n strings.  On
 * failure @v stays as it was, still terminated (a grown array is kept:
 * realloc freed the old one). */
static int strv_push(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(*nv));

	if (!nv)
		return -1;
	*v = nv;
	if (!(nv[*n] = strdup(s)))
		return -1;
	nv[++*n] = NULL;
	return 0;
}

static void env_set(char ***env, size_t *n, const char *kv)
{
	size_t klen = strcspn(kv, "=");

	for (size_t i = 0; i < *n; i++)
		if (strncmp((*env)[i], kv, klen) == 0 && (*env)[i][klen] == '=') {
			free((*env)[i]);
			(*env)[i] = strdup(kv);
			return;
		}
	strv_push(env, n, kv);
}

static bool json_str_nonempty(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s && *s;
}

static int apply_config(struct run_args *a, const char *config_json, char **cmd, int n_cmd)
{
	json_t *root = json_loads(config_json, 0, NULL);
	json_t *cfg = json_object_get(root, "config"), *v;
	size_t n_env = 0, n_argv = 0, i;
	char **env = NULL, **argvv = NULL, host[128];

	env_set(&env, &n_env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	env_set(&env, &n_env, "HOME=/root");
	if (a->tty)
		env_set(&env, &n_env, "TERM=xterm");
	json_array_foreach(json_object_get(cfg, "Env"), i, v)
	{
		if (json_is_string(v) && strchr(json_string_value(v), '='))
			env_set(&env, &n_env, json_string_value(v));
	}
	snprintf(host, sizeof(host), "HOSTNAME=%s", a->spec.hostname);
	env_set(&env, &n_env, host);
	for (i = 0; i < a->n_envs; i++)
		env_set(&env, &n_env, a->envs[i]);
	if (a->entrypoint) {
		if (*a->entrypoint)
			strv_push(&argvv, &n_argv, a->entrypoint);
	} else {
		json_array_foreach(json_object_get(cfg, "Entrypoint"), i, v)
		{
			strv_push(&argvv, &n_argv, json_string_value(v) ?: "");
		}
	}
	if (n_cmd > 0)
		for (int k = 0; k < n_cmd; k++)
			strv_push(&argvv, &n_argv, cmd[k]);
	else if (!a->entrypoint) {
		json_array_foreach(json_object_get(cfg, "Cmd"), i, v)
		{
			strv_push(&argvv, &n_argv, json_string_value(v) ?: "");
		}
	}
	if (!a->spec.workdir && json_str_nonempty(cfg, "WorkingDir"))
		a->spec.workdir = strdup(json_string_value(json_object_get(cfg, "WorkingDir")));
	if (!a->spec.user && json_str_nonempty(cfg, "User"))
		a->spec.user = strdup(json_string_value(json_object_get(cfg, "User")));
	json_decref(root);
	a->spec.env = env;
	a->spec.argv = argvv;
	if (!argvv || !argvv[0]) {
		cli_error("run: no command given and the image has no Entrypoint or Cmd");
		return 127;
	}
	return 0;
}

/* ---- the container's directory: upper, mountpoint, records ---- */

static int write_text(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return sys_write_file_volatile(path, text, strlen(text));
}

/* mkdir that is happy with what is there. */
static int mkdir_here(const char *path, mode_t mode)
{
	return mkdir(path, mode) < 0 && errno != EEXIST ? -1 : 0;
}

/* ---- launching ---- */

static volatile pid_t init_pid;
static volatile sig_atomic_t early_signal; /* came before the init's pid */

static void forward(int sig, siginfo_t *si, void *uctx)
{
	(void)uctx;
	/* A terminal's signals reach the container's processes directly. */
	if (si->si_code == SI_KERNEL)
		return;
	if (init_pid > 0)
		kill(init_pid, sig);
	else
		early_signal = sig;
}

struct daemon_arg {
	struct store *store;
	const struct store_image *img;
	const struct strata_layer_options *layer_opts;
	const char *upper;
	struct run_spec *spec;
};

/* The mount points the init needs, below the image (container.c). */
static int add_mount_points(struct store *s, struct strata_union *u, struct strata_error *err)
{
	char *dir = store_container_mount_points(s, err);
	struct strata_layer *base;
	int rc;

	if (!dir)
		return -1;
	rc = strata_layer_open_dir(dir, NULL, &base, err) || strata_union_set_base(u, base, err);
	free(dir);
	return rc ? -1 : 0;
}

/* The daemon makes the union itself, while the launcher writes its id
 * maps: checking the layers' indexes (0.3 ms for a 3-layer Debian image)
 * is off the start's critical path, the index pages are touched once, in
 * the process that serves them, and the launcher has no union to free.
 * Returns 0, or the exit status after saying why. */
static int open_union(const struct daemon_arg *d, struct strata_union **u)
{
	struct strata_layer **layers = NULL;
	struct strata_error err;
	int rc;

	rc = store_open_layers(d->store, d->img, d->layer_opts, &layers, &err) ||
	     strata_union_new(layers, d->img->n_layers, u, &err) ||
	     add_mount_points(d->store, *u, &err) || strata_union_set_upper(*u, d->upper, &err);
	free(layers);
	if (!rc)
		return 0;
	strata_union_free(*u);
	*u = NULL;
	return cli_fail(&err);
}

static int daemon_main(void *arg)
{
	struct daemon_arg *d = arg;
	struct strata_union *u = NULL;
	int rc;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	rc = open_union(d, &u);
	/* The daemon has threads (FUSE workers): the whole group must exit
	 * with the status, which returning from here (SYS_exit, this thread
	 * alone) would not do.  exit_group through syscall(): _exit() is
	 * noreturn, and a sanitizer build would warn about the cloned stack
	 * at the call. */
	syscall(SYS_exit_group, rc ? rc : run_daemon(u, d->spec));
	return 1;
}

/* The maps the container ran with: diff and commit map owners on disk
 * back to the container's ids with them. */
static void save_id_maps(pid_t pid, const char *dir)
{
	static const char *const files[] = {"uid_map", "gid_map"};

	/* Root's maps are the identity, which is what no file means (and
	 * cheaper than reading them back and writing them at every start). */
	if (getuid() == 0) {
		for (int i = 0; i < 2; i++) {
			char path[PATH_MAX];

			snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
			(void)unlink(path);
		}
		return;
	}

	for (int i = 0; i < 2; i++) {
		char path[PATH_MAX], text[4096];
		FILE *f;
		size_t n;

		snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, files[i]);
		f = fopen(path, "re");
		n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
		if (f)
			fclose(f);
		text[n] = '\0';
		if (n)
			write_text(dir, files[i], text);
	}
}

/* Adds the mount points the init made to <dir>/mountpoints. */
static void save_mount_points(struct run_spec *spec)
{
	char buf[8192], path[PATH_MAX], old[16384] = "";
	ssize_t n;
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/mountpoints", spec->dir);
	f = fopen(path, "re");
	len = f ? fread(old, 1, sizeof(old) - 1, f) : 0;
	if (f)
		fclose(f);
	old[len] = '\0';
	while ((n = read(spec->made_pipe[0], buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
			char needle[PATH_MAX + 2];

			snprintf(needle, sizeof(needle), "\n%s\n", line);
			if (strstr(old, needle) ||
			    strncmp(old, needle + 1, strlen(needle + 1)) == 0)
				continue;
			len = strlen(old);
			snprintf(old + len, sizeof(old) - len, "%s\n", line);
		}
	}
	close(spec->made_pipe[0]);
	if (*old)
		write_text(spec->dir, "mountpoints", old);
}

static int exit_status(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Runs the container; *started tells whether its init ever ran (a daemon
 * that could not open the image says why and exits first). */
static int launch(struct daemon_arg *d, bool tty, const char *cgroup, bool *started)
{
	static const int forwarded[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT,
	                                SIGUSR1, SIGUSR2, SIGWINCH};
	struct run_spec *spec = d->spec;
	struct sigaction sa = {.sa_sigaction = forward, .sa_flags = SA_SIGINFO | SA_RESTART};
	char buf[32] = "";
	pid_t daemon;
	ssize_t n;
	int st, master = -1;

	if (pipe2(spec->ready_pipe, O_CLOEXEC) || pipe2(spec->status_pipe, O_CLOEXEC) ||
	    pipe2(spec->made_pipe, O_CLOEXEC)) {
		cli_error("run: %s", strerror(errno));
		return 1;
	}
	if (tty && run_tty_open(spec, &master))
		return 1;
	*started = false;
	daemon = run_clone(daemon_main, d, CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD);
	if (daemon < 0) {
		cli_error("run: new user namespace: %s", run_userns_unavailable(errno));
		return 1;
	}
	/* The daemon may be gone before it reads its go (it could not open
	 * the image): no SIGPIPE for writing it.  Here only: the daemon and
	 * what it runs keep the default. */
	signal(SIGPIPE, SIG_IGN);
	close(spec->ready_pipe[0]);
	close(spec->status_pipe[1]);
	close(spec->made_pipe[1]);
	if (spec->tty_slave >= 0)
		close(spec->tty_slave);
	if (run_write_id_maps(daemon, spec->outer_uid, spec->outer_gid)) {
		int en = errno;

		if (waitpid(daemon, &st, WNOHANG) == daemon) /* it said why */
			return exit_status(st);
		cli_error("run: writing the user namespace's id maps: %s", strerror(en));
		kill(daemon, SIGKILL);
		waitpid(daemon, NULL, 0);
		return 1;
	}
	save_id_maps(daemon, spec->dir);
	/* Into the cgroup before it starts anything: all it forks follows. */
	if (cgroup && run_cgroup_enter(cgroup, daemon) < 0) {
		kill(daemon, SIGKILL);
		waitpid(daemon, NULL, 0);
		return 1;
	}
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaction(forwarded[i], &sa, NULL);
	(void)sys_write_all(spec->ready_pipe[1], "g", 1);
	close(spec->ready_pipe[1]);
	n = read(spec->status_pipe[0], buf, sizeof(buf) - 1);
	if (n > 0)
		init_pid = (pid_t)strtol(buf, NULL, 10);
	*started = init_pid > 0;
	/* A signal that came while the container was starting is not lost. */
	if (init_pid > 0 && early_signal)
		kill(init_pid, early_signal);
	if (master >= 0) {
		st = run_tty_proxy(master, daemon, spec->interactive);
		save_mount_points(spec);
		return st;
	}
	while (waitpid(daemon, &st, 0) < 0 && errno == EINTR)
		;
	save_mount_points(spec);
	return exit_status(st);
}

static int container_dir(struct store *s, struct run_args *a, char **dir)
{
	char id[32], path[PATH_MAX];

	if (!a->name) {
		snprintf(id, sizeof(id), "%08lx%04lx", (unsigned long)time(NULL),
		         (unsigned long)getpid() & 0xffff);
		a->name = strdup(id);
	}
	/* A hostname has at most 64 bytes; a longer name gives its start. */
	if (!a->spec.hostname)
		a->spec.hostname = strndup(a->name, 63);
	if (store_container_path(s, a->name, path, sizeof(path)) < 0 || !(*dir = strdup(path)))
		return -1;
	a->fresh = access(*dir, F_OK) < 0;
	/* The upper's root is the container's "/": it must be searchable by
	 * every user in the container.  (It should take the image root's
	 * mode; see docs/NOTES.md.) */
	return sys_mkdir_p(*dir) < 0 || chmod(*dir, 0755) < 0 ? -1 : 0;
}

int cmd_run(int argc, char **argv)
{
	struct run_args a = {.spec.outer_uid = getuid(),
	                     .spec.outer_gid = getgid(),
	                     .spec.tty_slave = -1,
	                     .spec.caps = run_caps_default()};
	struct strata_layer_options lo = {.warn = cli_warn, .skip_index_crc = true};
	struct store_image *img = NULL;
	struct daemon_arg d = {.layer_opts = &lo, .spec = &a.spec};
	struct strata_error err;
	struct store *s = NULL;
	char *dir = NULL, *upper = NULL, *was;
	int first = 0, rc, lock = -1;
	bool named, launched = false;

	a.argc = argc;
	a.envs = calloc((size_t)argc + 1, sizeof(*a.envs));
	if (!a.envs)
		return 1;
	if ((rc = run_args_parse(argc, argv, &a, &first))) {
		run_args_free(&a);
		return rc < 0 ? 0 : rc;
	}
	a.spec.caps = (a.spec.caps & ~a.cap_drop) | a.cap_add;
	rc = 1;
	if (cli_open_store(a.root, false, &s))
		goto out;
	store_trust_blobs(s);
	if (store_resolve(s, argv[first], &img, &err)) {
		rc = cli_fail(&err);
		goto out;
	}
	named = a.name != NULL;
	if (container_dir(s, &a, &dir) < 0) {
		cli_error("run: container directory %s: %s", dir ? dir : "", strerror(errno));
		goto out;
	}
	a.spec.dir = dir;
	if ((rc = apply_config(&a, img->config_json, argv + first + 1, argc - first - 1)))
		goto out;
	rc = 1;
	/* A named container keeps its image: its upper only makes sense on it. */
	was = store_container_image_digest(dir);
	if (was && strcmp(was, img->digest) != 0) {
		cli_error(
		    "run: container %s was made from another image (%.19s); 'strata rm %s' first",
		    a.name, was, a.name);
		free(was);
		goto out;
	}
	free(was);
	lock = store_container_begin(dir, a.name, argv[first], img->digest, a.spec.argv, &err);
	if (lock < 0) {
		cli_error("run: %s", err.msg);
		goto out;
	}
	/* One mount point for every container of the store: each daemon
	 * mounts on it in a mount namespace of its own (private, so the host
	 * sees an empty directory), and a directory per container cost a
	 * mkdir and an rmdir on the host's disk at every --rm run. */
	if (asprintf(&a.spec.rootfs, "%s/strata/rootfs", store_root(s)) < 0 ||
	    asprintf(&upper, "%s/upper", dir) < 0 || mkdir_here(a.spec.rootfs, 0700) < 0 ||
	    mkdir_here(upper, 0755) < 0 || chmod(upper, 0755) < 0) {
		cli_error("run: container directory %s: %s", dir, strerror(errno));
		goto out;
	}
	/* No mount record (store_pin) as strata mount writes: the container's
	 * state.json, written above under its lock, is what keeps the image
	 * from strata gc, running or not. */
	if ((a.limits.memory || a.limits.cpus > 0) &&
	    run_cgroup_create(&a.limits, a.name, a.cgroup, sizeof(a.cgroup)) < 0)
		goto out;
	d.store = s;
	d.img = img;
	d.upper = upper;
	rc = launch(&d, a.tty, a.cgroup[0] ? a.cgroup : NULL, &launched);
	if (a.cgroup[0])
		rmdir(a.cgroup);
out:
	if (lock >= 0 && launched && !(a.rm || (a.spec.read_only && !named)))
		store_container_end(dir, rc);
	/* A run that failed before it started leaves no directory behind. */
	if (dir &&
	    ((lock >= 0 && (a.rm || (a.spec.read_only && !named))) || (!launched && a.fresh)))
		store_remove_tree(dir, run_remove_in_userns);
	if (lock >= 0)
		close(lock);
	free(upper);
	free(dir);
	store_image_free(img);
	store_close(s);
	run_args_free(&a);
	return rc;
}
