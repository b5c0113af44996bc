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
#include "container.h"
#include "run.h"
#include "strata-store.h"
#include "sys.h"

static void run_usage(FILE *out)
{
	fputs("Usage: strata run [OPTIONS] IMAGE [COMMAND [ARG...]]\n"
	      "\n"
	      "Run COMMAND (default: the image's entrypoint and cmd) with the image as its\n"
	      "root, in new user, mount, pid, uts and ipc namespaces, as an ordinary user\n"
	      "or as root.  A tiny init is pid 1: it reaps zombies and forwards signals.\n"
	      "The exit status is the command's (128+N when killed by signal N).\n"
	      "\n"
	      "Options:\n"
	      "      --name NAME       keep the container's changes under NAME between runs\n"
	      "      --rm              remove the container's changes when it exits\n"
	      "      --read-only       no writable layer: writes fail with EROFS\n"
	      "  -e, --env K[=V]       set an environment variable (repeatable; K alone: ours)\n"
	      "  -w, --workdir DIR     working directory in the container\n"
	      "  -u, --user USER       user[:group], by name (from the image) or number\n"
	      "      --entrypoint CMD  replace the image's entrypoint\n"
	      "  -t, --tty             give the command a terminal (a pty)\n"
	      "  -i, --interactive     attach standard input (else it is /dev/null)\n"
	      "      --hostname NAME   the container's hostname\n"
	      "  -v, --volume SRC:DST[:ro]  bind SRC from the host at DST\n"
	      "      --net MODE        host (default) or none (loopback only)\n"
	      "      --cap-add CAPS    give root in the container these capabilities too\n"
	      "      --cap-drop CAPS   take these away (comma-separated; ALL for every one)\n"
	      "      --env-file FILE   KEY=VALUE lines (KEY alone: the value here)\n"
	      "      --memory SIZE     memory limit (e.g. 512m, 2g), through cgroup v2\n"
	      "      --cpus N          CPU limit (e.g. 1.5), through cgroup v2\n"
	      "      --root DIR        the image store\n"
	      "  -h, --help            show this help\n",
	      out);
}

struct run_args {
	const char *root, *name, *entrypoint;
	bool rm, tty;
	char **envs;
	size_t n_envs, max_envs; /* max_envs: room added for --env-file lines */
	int argc;
	struct run_limits limits;
	uint64_t cap_add, cap_drop;
	bool fresh; /* the container directory is this run's own */
	char cgroup[PATH_MAX];
	struct run_spec spec;
};

static int add_bind(struct run_spec *spec, const char *arg)
{
	char *copy = strdup(arg), *dst, *mode;
	struct run_bind *v = realloc(spec->binds, (spec->n_binds + 1) * sizeof(*v));
	int rc = 0;

	if (v)
		spec->binds = v;
	if (!copy || !v) {
		free(copy);
		return cli_usage_error("run", "out of memory");
	}
	dst = strchr(copy, ':');
	if (!dst || dst[1] != '/') {
		free(copy);
		return cli_usage_error("run", "-v %s: expected SRC:/DST[:ro]", arg);
	}
	*dst++ = '\0';
	mode = strchr(dst, ':');
	if (mode)
		*mode++ = '\0';
	if (mode && strcmp(mode, "ro") && strcmp(mode, "rw")) {
		free(copy);
		return cli_usage_error("run", "-v %s: mode must be ro or rw", arg);
	}
	v[spec->n_binds].src = realpath(copy, NULL);
	v[spec->n_binds].dst = strdup(dst);
	v[spec->n_binds].ro = mode && strcmp(mode, "ro") == 0;
	if (!v[spec->n_binds].src) {
		cli_error("run: -v %s: %s", copy, strerror(errno));
		free(v[spec->n_binds].dst);
		rc = 1;
	} else {
		spec->n_binds++;
	}
	free(copy);
	return rc;
}

/* docker's --env-file: KEY=VALUE per line, # comments, KEY alone takes
 * the value from our environment (and is skipped when unset). */
static int read_env_file(struct run_args *a, const char *path)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f) {
		cli_error("run: --env-file %s: %s", path, strerror(errno));
		return 1;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *kv = line, *copy = NULL;

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		kv += strspn(kv, " \t");
		if (!*kv || *kv == '#')
			continue;
		if (!strchr(kv, '=')) {
			const char *v = getenv(kv);

			if (!v || asprintf(&copy, "%s=%s", kv, v) < 0)
				continue;
		} else if (!(copy = strdup(kv))) {
			break;
		}
		/* Room for every -e (at most argc of them) and the file's lines. */
		char **v = realloc(a->envs, ((size_t)a->argc + a->max_envs + 2) * sizeof(*v));

		if (!v) {
			free(copy);
			break;
		}
		a->envs = v;
		a->envs[a->n_envs++] = copy;
		a->max_envs++;
	}
	free(line);
	fclose(f);
	return 0;
}

static int parse(int argc, char **argv, struct run_args *a, int *first_arg)
{
	enum {
		OPT_NAME = 256,
		OPT_RM,
		OPT_RO,
		OPT_ENTRY,
		OPT_HOST,
		OPT_NET,
		OPT_ROOT,
		OPT_CAP_ADD,
		OPT_CAP_DROP,
		OPT_ENV_FILE,
		OPT_MEMORY,
		OPT_CPUS,
	};
	static const struct option longopts[] = {
	    {"name", required_argument, NULL, OPT_NAME},
	    {"rm", no_argument, NULL, OPT_RM},
	    {"read-only", no_argument, NULL, OPT_RO},
	    {"env", required_argument, NULL, 'e'},
	    {"workdir", required_argument, NULL, 'w'},
	    {"user", required_argument, NULL, 'u'},
	    {"entrypoint", required_argument, NULL, OPT_ENTRY},
	    {"hostname", required_argument, NULL, OPT_HOST},
	    {"tty", no_argument, NULL, 't'},
	    {"interactive", no_argument, NULL, 'i'},
	    {"volume", required_argument, NULL, 'v'},
	    {"net", required_argument, NULL, OPT_NET},
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"cap-add", required_argument, NULL, OPT_CAP_ADD},
	    {"cap-drop", required_argument, NULL, OPT_CAP_DROP},
	    {"env-file", required_argument, NULL, OPT_ENV_FILE},
	    {"memory", required_argument, NULL, OPT_MEMORY},
	    {"cpus", required_argument, NULL, OPT_CPUS},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+e:w:u:v:tih", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_NAME:
			if (strlen(optarg) > 128 || !isalnum((unsigned char)optarg[0]) ||
			    strspn(optarg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			                   "0123456789._-") != strlen(optarg))
				return cli_usage_error(
				    "run", "--name %s: letters, digits, '.', '_', '-' only",
				    optarg);
			a->name = strdup(optarg);
			break;
		case OPT_RM:
			a->rm = true;
			break;
		case OPT_RO:
			a->spec.read_only = true;
			break;
		case 'e':
			if (!optarg[0] || optarg[0] == '=')
				return cli_usage_error("run", "-e %s: expected KEY=VALUE or KEY",
				                       optarg);
			/* docker's -e KEY: our value of KEY, or nothing when unset. */
			if (!strchr(optarg, '=')) {
				const char *value = getenv(optarg);
				char *kv;

				if (value && asprintf(&kv, "%s=%s", optarg, value) >= 0)
					a->envs[a->n_envs++] = kv;
				break;
			}
			a->envs[a->n_envs++] = strdup(optarg);
			break;
		case 'w':
			if (optarg[0] != '/')
				return cli_usage_error("run", "-w %s: must be absolute", optarg);
			a->spec.workdir = strdup(optarg);
			break;
		case 'u':
			a->spec.user = strdup(optarg);
			break;
		case OPT_ENTRY:
			a->entrypoint = optarg;
			break;
		case OPT_HOST:
			a->spec.hostname = strdup(optarg);
			break;
		case 't':
			a->tty = true;
			break;
		case 'i':
			a->spec.interactive = true;
			break;
		case 'v':
			if ((rc = add_bind(&a->spec, optarg)))
				return rc;
			break;
		case OPT_NET:
			if (strcmp(optarg, "none") && strcmp(optarg, "host"))
				return cli_usage_error("run", "--net %s: host or none", optarg);
			a->spec.net_none = strcmp(optarg, "none") == 0;
			break;
		case OPT_ROOT:
			a->root = optarg;
			break;
		case OPT_CAP_ADD:
		case OPT_CAP_DROP:
			/* Collected apart: drops apply first, then adds, whatever
			 * the order given (as docker does). */
			if ((rc = run_caps_change(c == OPT_CAP_ADD ? &a->cap_add : &a->cap_drop,
			                          optarg, true)))
				return rc;
			break;
		case OPT_MEMORY:
			a->limits.memory = run_parse_bytes(optarg);
			if (!a->limits.memory)
				return cli_usage_error("run", "--memory %s: not a size", optarg);
			break;
		case OPT_CPUS: {
			char *end;

			a->limits.cpus = strtod(optarg, &end);
			if (*end || a->limits.cpus <= 0 || a->limits.cpus > 4096)
				return cli_usage_error("run", "--cpus %s: not a number of CPUs",
				                       optarg);
			break;
		}
		case OPT_ENV_FILE:
			if ((rc = read_env_file(a, optarg)))
				return rc;
			break;
		case 'h':
			run_usage(stdout);
			return -1; /* done: exit 0 */
		default:
			return cli_usage_error("run", "unknown or incomplete option '%s'",
			                       argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error("run", "no image given");
	if (a->rm && a->name)
		return cli_usage_error("run", "--rm and --name: a named container is kept");
	*first_arg = optind;
	return 0;
}

/* ---- the image's config ---- */

static int strv_push(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(*nv));

	if (!nv || !(nv[*n] = strdup(s)))
		return -1;
	nv[++*n] = NULL;
	*v = nv;
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
	char *dir = container_mount_points(store_root(s));
	struct strata_layer *base;
	int rc;

	if (!dir)
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s/strata/mount-points: %s",
		                   store_root(s), strerror(errno));
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
	char id[32];

	if (!a->name) {
		snprintf(id, sizeof(id), "%08lx%04lx", (unsigned long)time(NULL),
		         (unsigned long)getpid() & 0xffff);
		a->name = strdup(id);
	}
	/* A hostname has at most 64 bytes; a longer name gives its start. */
	if (!a->spec.hostname)
		a->spec.hostname = strndup(a->name, 63);
	if (asprintf(dir, "%s/strata/containers/%s", store_root(s), a->name) < 0)
		return -1;
	a->fresh = access(*dir, F_OK) < 0;
	/* The upper's root is the container's "/": it must be searchable by
	 * every user in the container.  (It should take the image root's
	 * mode; see docs/NOTES.md.) */
	return sys_mkdir_p(*dir) < 0 || chmod(*dir, 0755) < 0 ? -1 : 0;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static void run_args_free(struct run_args *a)
{
	for (size_t i = 0; i < a->n_envs; i++)
		free(a->envs[i]);
	free(a->envs);
	free((char *)a->name);
	for (size_t i = 0; i < a->spec.n_binds; i++) {
		free(a->spec.binds[i].src);
		free(a->spec.binds[i].dst);
	}
	free(a->spec.binds);
	strv_free(a->spec.env);
	strv_free(a->spec.argv);
	free(a->spec.workdir);
	free(a->spec.user);
	free(a->spec.hostname);
	free(a->spec.rootfs);
	free(a->spec.console);
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
	if ((rc = parse(argc, argv, &a, &first))) {
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
	was = container_image_digest(dir);
	if (was && strcmp(was, img->digest) != 0) {
		cli_error(
		    "run: container %s was made from another image (%.19s); 'strata rm %s' first",
		    a.name, was, a.name);
		free(was);
		goto out;
	}
	free(was);
	lock = container_begin(dir, a.name, argv[first], img->digest, a.spec.argv);
	if (lock < 0) {
		cli_error("run: container %s: %s", a.name,
		          errno == EBUSY ? "already running" : strerror(errno));
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
		container_end(dir, rc);
	/* A run that failed before it started leaves no directory behind. */
	if (dir &&
	    ((lock >= 0 && (a.rm || (a.spec.read_only && !named))) || (!launched && a.fresh)))
		container_remove_tree(dir);
	if (lock >= 0)
		close(lock);
	free(upper);
	free(dir);
	store_image_free(img);
	store_close(s);
	run_args_free(&a);
	return rc;
}
