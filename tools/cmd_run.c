/* SPDX-License-Identifier: MIT */
/* strata run: the launcher.  See run.h for the process layout. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "exec_sock.h"
#include "ctr_log.h"
#include "run.h"
#include "run_args.h"
#include "run_seccomp.h"
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
	if (json_str_nonempty(cfg, "StopSignal"))
		a->stop_signal = strdup(json_string_value(json_object_get(cfg, "StopSignal")));
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

/* Reads the mount points the init made from its pipe, to the end, and
 * records them. */
static void save_mount_points(struct run_spec *spec)
{
	char *text = NULL, buf[8192];
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	ssize_t n;

	while ((n = read(spec->made_pipe[0], buf, sizeof(buf))) > 0)
		if (mem)
			fwrite(buf, 1, (size_t)n, mem);
	close(spec->made_pipe[0]);
	if (mem && fclose(mem) == 0 && len)
		store_container_add_mount_points(spec->dir, text);
	free(text);
}

static int exit_status(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Kills a daemon that must not go on. */
static void kill_daemon(pid_t daemon)
{
	kill(daemon, SIGKILL);
	waitpid(daemon, NULL, 0);
}

/* Starts the daemon in its namespaces and writes its id maps: -1 to go
 * on, else the exit status. */
static int spawn_daemon(struct daemon_arg *d, pid_t *daemon)
{
	struct run_spec *spec = d->spec;
	int st;

	*daemon = run_clone(run_daemon_main, d, CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD);
	if (*daemon < 0) {
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
	if (run_spec_gated(spec))
		close(spec->cgroup_pipe[0]);
	if (spec->tty_slave >= 0)
		close(spec->tty_slave);
	if (run_write_id_maps(*daemon, spec->outer_uid, spec->outer_gid)) {
		int en = errno;

		if (waitpid(*daemon, &st, WNOHANG) == *daemon) /* it said why */
			return exit_status(st);
		cli_error("run: writing the user namespace's id maps: %s", strerror(en));
		kill_daemon(*daemon);
		return 1;
	}
	store_container_save_id_maps(spec->dir, *daemon);
	return -1;
}

/* pasta on the init's network namespace: 0, or -1 after saying why. */
static int start_pasta(struct run_spec *spec)
{
	spec->pasta = run_pasta_start(spec->net, init_pid, spec->dir);
	if (spec->pasta < 0) {
		spec->pasta = 0;
		return -1;
	}
	return 0;
}

/* Lets the daemon go on, learns the init's pid (signals go to it from
 * now on) and waits for the end: the exit status. */
static int wait_daemon(struct run_spec *spec, pid_t daemon, int master, bool *started)
{
	static const int forwarded[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT,
	                                SIGUSR1, SIGUSR2, SIGWINCH};
	struct sigaction sa = {.sa_sigaction = forward, .sa_flags = SA_SIGINFO | SA_RESTART};
	char buf[32] = "";
	ssize_t n;
	int st;

	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaction(forwarded[i], &sa, NULL);
	(void)sys_write_all(spec->ready_pipe[1], "g", 1);
	close(spec->ready_pipe[1]);
	n = read(spec->status_pipe[0], buf, sizeof(buf) - 1);
	if (n > 0)
		init_pid = (pid_t)strtol(buf, NULL, 10);
	*started = init_pid > 0;
	/* Into its cgroups and its network up while it builds the root
	 * (run_init.c's wait_gate()); it starts the command once told. */
	if (run_spec_gated(spec)) {
		bool ok = init_pid > 0 &&
		          (!spec->cgroups || run_cgroup_join(spec->cgroups, init_pid) == 0) &&
		          (!spec->net || start_pasta(spec) == 0);

		(void)sys_write_all(spec->cgroup_pipe[1], ok ? "g" : "e", 1);
		close(spec->cgroup_pipe[1]);
	}
	/* A signal that came while the container was starting is not lost. */
	if (init_pid > 0 && early_signal) {
		kill(init_pid, early_signal);
		early_signal = 0;
	}
	if (spec->detach) {
		st = run_supervise(spec->detach, spec->dir, daemon, init_pid > 0);
		save_mount_points(spec);
		return st;
	}
	if (master >= 0) {
		st = run_tty_proxy(master, daemon, spec->interactive, NULL);
		save_mount_points(spec);
		return st;
	}
	while (waitpid(daemon, &st, 0) < 0 && errno == EINTR)
		;
	save_mount_points(spec);
	return exit_status(st);
}

/* Runs the container; *started tells whether its init ever ran (a daemon
 * that could not open the image says why and exits first). */
static int launch_with_fds(struct daemon_arg *d, bool tty, bool *started)
{
	struct run_spec *spec = d->spec;
	pid_t daemon;
	int rc, master = -1;

	if (pipe2(spec->ready_pipe, O_CLOEXEC) || pipe2(spec->status_pipe, O_CLOEXEC) ||
	    pipe2(spec->made_pipe, O_CLOEXEC) ||
	    (run_spec_gated(spec) && pipe2(spec->cgroup_pipe, O_CLOEXEC))) {
		cli_error("run: %s", strerror(errno));
		return 1;
	}
	free(spec->console); /* a restart's new pty */
	spec->console = NULL;
	if (tty && run_tty_open(spec, &master))
		return 1;
	if (spec->detach && run_detach_pipes(spec->detach, spec->interactive && !tty))
		return 1;
	if (spec->detach) {
		spec->detach->tty = master;
		spec->detach->interactive = spec->interactive;
	}
	*started = false;
	/* Where its command comes early, the container gets an exec server,
	 * which strata exec asks first (run_forker.c). */
	if (run_spec_fork_early(spec))
		spec->exec_listen = run_forker_listen(spec->dir);
	rc = spawn_daemon(d, &daemon);
	run_cgroup_close_fds(&spec->cgroup_fds); /* the init's now */
	if (spec->exec_listen >= 0) {
		close(spec->exec_listen);
		spec->exec_listen = -1;
	}
	if (rc < 0 && spec->detach)
		run_detach_spawned(spec->detach);
	if (rc < 0)
		rc = wait_daemon(spec, daemon, master, started);
	/* The namespace is gone with the init: its pasta goes too. */
	if (spec->pasta) {
		run_pasta_stop(&spec->pasta);
		run_pasta_note(spec->dir, 0);
	}
	init_pid = 0; /* signals until a restart's init: for it */
	run_forker_unlink(spec->dir);
	return rc;
}

/* On cgroup v1 the init moves itself in, for free (run_cgroup.c):
 * through these fds, opened here, closed once it has them, or when the
 * launch fails before. */
static int launch(struct daemon_arg *d, bool tty, bool *started)
{
	struct run_spec *spec = d->spec;
	int rc;

	spec->cgroup_fds = run_cgroup_self_fds(spec->cgroups);
	spec->cgroup_self = spec->cgroup_fds != NULL;
	rc = launch_with_fds(d, tty, started);
	run_cgroup_close_fds(&spec->cgroup_fds);
	return rc;
}

/* The container's name (made up when not given), its hostname by
 * default, and its directory: 0, or 1 after saying why. */
static int container_dir(struct store *s, struct run_args *a, char **dir)
{
	struct strata_error err;
	char id[32];

	if (!a->name) {
		snprintf(id, sizeof(id), "%08lx%04lx", (unsigned long)time(NULL),
		         (unsigned long)getpid() & 0xffff);
		a->name = strdup(id);
	}
	/* A hostname has at most 64 bytes; a longer name gives its start. */
	if (!a->spec.hostname && a->name)
		a->spec.hostname = strndup(a->name, 63);
	if (!a->name || !(*dir = store_container_create(s, a->name, &a->fresh, &err))) {
		cli_error("run: %s", a->name ? err.msg : "out of memory");
		return 1;
	}
	return 0;
}

/* What a run holds besides its arguments, for the clean-up. */
struct run_state {
	struct store *s;
	struct store_image *img;
	char *dir, *upper;
	int lock;
	bool named;    /* --name: the container is kept */
	bool launched; /* its init ran */
	bool oom;      /* the OOM killer killed in its cgroup */
	bool caller;   /* -d: the process that waited for the supervisor */
};

/* A named container keeps its image: its upper only makes sense on it.
 * 0, or 1 after saying so. */
static int check_same_image(const struct run_args *a, const struct run_state *st)
{
	char *was = store_container_image_digest(st->dir);
	int rc = 0;

	if (was && strcmp(was, st->img->digest) != 0) {
		cli_error(
		    "run: container %s was made from another image (%.19s); 'strata rm %s' first",
		    a->name, was, a->name);
		rc = 1;
	}
	free(was);
	return rc;
}

/* One mount point for every container of the store: each daemon mounts on
 * it in a mount namespace of its own (private, so the host sees an empty
 * directory), and a directory per container cost a mkdir and an rmdir on
 * the host's disk at every --rm run.  And the container's upper. */
static int make_run_dirs(struct run_args *a, struct run_state *st)
{
	if (asprintf(&a->spec.rootfs, "%s/strata/rootfs", store_root(st->s)) < 0 ||
	    asprintf(&st->upper, "%s/upper", st->dir) < 0 || mkdir_here(a->spec.rootfs, 0700) < 0 ||
	    mkdir_here(st->upper, 0755) < 0 || chmod(st->upper, 0755) < 0) {
		cli_error("run: container directory %s: %s", st->dir, strerror(errno));
		return 1;
	}
	return 0;
}

static json_t *strv_json(char *const *v, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, json_string(v[i]));
	return arr;
}

static size_t strv_len(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

/* A mount of -v, --mount, --tmpfs or --device, as inspect shows it. */
static json_t *mount_json(const struct run_bind *b)
{
	static const char *const types[] = {"bind", "tmpfs", "device"};

	return json_pack("{s:s, s:s?, s:s, s:b, s:s?}", "type", types[b->kind], "source", b->src,
	                 "destination", b->dst, "read_only", b->ro, "options", b->data);
}

/* --ulimit as given again ("nofile=1024:2048"), for exec to re-read. */
static json_t *ulimits_json(const struct run_spec *sp)
{
	json_t *arr = json_array();
	char text[96];

	for (size_t i = 0; arr && i < sp->n_ulimits; i++) {
		const struct run_ulimit *u = &sp->ulimits[i];

		snprintf(text, sizeof(text), "%s=%lld:%lld", run_ulimit_name(u->resource),
		         u->soft == RLIM_INFINITY ? -1LL : (long long)u->soft,
		         u->hard == RLIM_INFINITY ? -1LL : (long long)u->hard);
		json_array_append_new(arr, json_string(text));
	}
	return arr;
}

/* -p's ports: [{"host_ip", "host_port", "container_port", "protocol"}]. */
static json_t *ports_json(const struct run_net *n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n->n_ports; i++)
		json_array_append_new(arr, json_pack("{s:s, s:i, s:i, s:s}", "host_ip",
		                                     n->ports[i].ip[0] ? n->ports[i].ip : "0.0.0.0",
		                                     "host_port", n->ports[i].host,
		                                     "container_port", n->ports[i].ctr, "protocol",
		                                     n->ports[i].udp ? "udp" : "tcp"));
	return arr;
}

/* What the command runs with, resolved: what strata exec gives a process
 * joining the container, and strata inspect shows.  A seccomp profile's
 * path is made absolute (exec reads it again: the filter is compiled once
 * per store, capabilities and profile, run_seccomp_cache.c). */
static json_t *process_json(const struct run_args *a)
{
	const struct run_spec *sp = &a->spec;
	const char *seccomp = a->seccomp;
	char path[PATH_MAX];
	json_t *binds = json_array();

	if (seccomp && strcmp(seccomp, "unconfined") != 0 && realpath(seccomp, path))
		seccomp = path;
	for (size_t i = 0; binds && i < sp->n_binds; i++)
		json_array_append_new(binds, mount_json(&sp->binds[i]));
	return json_pack(
	    "{s:o, s:o, s:s?, s:s?, s:I, s:s?, s:b, s:b, s:s?, s:s, s:o, s:b, s:o, s:o}", "argv",
	    strv_json(sp->argv, strv_len(sp->argv)), "env", strv_json(sp->env, strv_len(sp->env)),
	    "user", sp->user, "workdir", sp->workdir, "caps", (json_int_t)sp->caps, "seccomp",
	    seccomp, "tty", a->tty, "interactive", sp->interactive, "hostname", sp->hostname,
	    "network", run_net_mode_name(a->net.mode), "ports", ports_json(&a->net), "read_only",
	    sp->read_only, "binds", binds, "ulimits", ulimits_json(sp));
}

/* What whoever finds it dead, strata stop and strata start need to know:
 * a JSON object's text for store_container_begin, or NULL. */
static char *run_record(const struct run_args *a)
{
	json_t *x = json_pack("{s:b, s:b, s:b, s:i}", "rm", a->rm, "detached", a->detach,
	                      "stopping", 0, "restarts", 0);
	char cwd[PATH_MAX], *text;

	if (!x)
		return NULL;
	if (a->stop_signal)
		json_object_set_new(x, "stop_signal", json_string(a->stop_signal));
	/* As given (a relative -v is relative to this directory). */
	json_object_set_new(x, "run_options", strv_json(a->options, a->n_options));
	json_object_set_new(x, "run_args", strv_json(a->user_args, (size_t)a->n_user_args));
	json_object_set_new(x, "process", process_json(a));
	if (getcwd(cwd, sizeof(cwd)))
		json_object_set_new(x, "cwd", json_string(cwd));
	text = json_dumps(x, JSON_COMPACT);
	json_decref(x);
	return text;
}

/* Takes the container's lock, records the run and runs it: the exit
 * status. */
static int start(struct run_args *a, struct run_state *st, const char *image,
                 const struct strata_layer_options *lo)
{
	struct daemon_arg d = {.store = st->s, .img = st->img, .layer_opts = lo, .spec = &a->spec};
	struct strata_error err;
	char *extra, buf[32];
	int rc;

	if (a->detach) {
		fflush(NULL);
		if ((rc = run_detach_fork(&a->det)) >= 0) {
			st->caller = true;
			a->fresh = false; /* the supervisor's to remove */
			return rc;
		}
		a->spec.detach = &a->det;
	}
	extra = run_record(a);
	/* The supervisor and its daemon outlive the caller: they must not
	 * keep its directory busy (the store's paths are absolute, -v's
	 * resolved; the cwd is recorded above for strata start). */
	if (a->detach && chdir("/") < 0)
		cli_warn(NULL, "run: -d: cannot leave the working directory");
	st->lock = store_container_begin(st->dir, a->name, image, st->img->digest, a->spec.argv,
	                                 extra, &err);
	free(extra);
	if (st->lock < 0) {
		cli_error("run: %s", err.msg);
		return 1;
	}
	if (make_run_dirs(a, st))
		return 1;
	/* No mount record (store_pin) as strata mount writes: the container's
	 * state.json, written above under its lock, is what keeps the image
	 * from strata gc, running or not. */
	/* The groups are recorded: whoever finds the container dead (its
	 * launcher killed) removes them. */
	if (run_cgroup_create(&a->limits, a->name, &a->spec.cgroups) < 0)
		return 1;
	store_container_set_cgroups(st->dir, a->spec.cgroups);
	d.upper = st->upper;
	for (;;) {
		rc = launch(&d, a->tty, &st->launched);
		st->oom = run_cgroup_finish(a->spec.cgroups);
		a->spec.cgroups = NULL;
		/* Started: the init ran, and a -d caller has been told. */
		if (!run_restart_again(&a->restart, st->dir, rc,
		                       st->launched && (!a->detach || a->det.notify < 0)))
			return rc;
		snprintf(buf, sizeof(buf), "%d", ++a->restart.runs);
		store_container_note(st->dir, "restarts", buf);
		if (run_cgroup_create(&a->limits, a->name, &a->spec.cgroups) < 0)
			return 1;
		store_container_set_cgroups(st->dir, a->spec.cgroups);
	}
}

/* Records the exit status, or removes the container when it is not to be
 * kept (--rm, an unnamed --read-only) or never started here. */
static void finish(struct run_args *a, struct run_state *st, int rc)
{
	bool discard = a->rm || (a->spec.read_only && !st->named);

	if (st->lock >= 0 && st->launched && !discard)
		store_container_end(st->dir, rc, st->oom);
	if (st->dir && ((st->lock >= 0 && discard) || (!st->launched && a->fresh)))
		store_remove_tree(st->dir, run_remove_in_userns);
	if (st->lock >= 0)
		close(st->lock);
	free(st->upper);
	free(st->dir);
	store_image_free(st->img);
	store_close(st->s);
}

/* --lazy=background: a `strata pull` of @name, detached from the run
 * (its own session, no terminal), completes the lazy layers while the
 * container runs; the mount sees each piece it fetches (lazy_blob.c).
 * Best effort: if it cannot start, the layers stay lazy. */
static void complete_in_background(const struct run_args *a, struct run_state *st, const char *name)
{
	pid_t pid = fork();

	if (pid != 0)
		return;
	setsid();
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
	}
	execl("/proc/self/exe", "strata", "pull", "-q", "--root", store_root(st->s),
	      a->tls_verify_off ? "--tls-verify=false" : "--tls-verify=true", name, (char *)NULL);
	_exit(127);
}

/* The image @ref, pulled first when --pull says so.  0, or 1 after
 * printing why. */
static int resolve_or_pull(const struct run_args *a, struct run_state *st, const char *ref)
{
	struct store_pull_options po = {.tls_verify_off = a->tls_verify_off, .lazy = a->lazy};
	struct store_pulled pulled;
	struct strata_error err;
	int rc;

	if (a->pull != RUN_PULL_ALWAYS) {
		if (store_resolve(st->s, ref, &st->img, &err) == 0)
			return 0;
		/* Only a missing image is worth a pull; damage is said as it is. */
		if (a->pull == RUN_PULL_NEVER || err.sys_errno != ENOENT)
			return cli_fail(&err);
	}
	if (cli_pull(st->s, ref, &po, false, &pulled))
		return 1;
	if (a->lazy_background && pulled.n_lazy)
		complete_in_background(a, st, pulled.name);
	rc = store_resolve(st->s, pulled.digest, &st->img, &err) ? cli_fail(&err) : 0;
	store_pulled_free(&pulled);
	return rc;
}

/* The store; made when missing, if the image may be pulled into it. */
static int open_store(const struct run_args *a, struct store **s)
{
	char *root = a->root ? strdup(a->root) : store_default_root();
	struct strata_error err;
	int rc;

	if (!root)
		return 1;
	rc = store_open(root, false, s, &err);
	if (rc && err.sys_errno == ENOENT && a->pull != RUN_PULL_NEVER)
		rc = store_open(root, true, s, &err);
	free(root);
	return rc ? cli_fail(&err) : 0;
}

/* The filter, compiled once and kept in the store (run_seccomp.h). */
static int prepare_seccomp(struct run_args *a, const struct store *s)
{
	char *cache = NULL;
	int rc;

	if (asprintf(&cache, "%s/strata/seccomp", store_root(s)) < 0)
		cache = NULL;
	rc = run_seccomp_prepare(a->seccomp, a->spec.caps, cache, &a->spec.seccomp);
	/* Ours allows every call the command makes after it (run_init.c); a
	 * profile from a file goes on last, after them. */
	a->spec.seccomp_early = !a->seccomp;
	free(cache);
	return rc;
}

int cmd_run(int argc, char **argv)
{
	struct run_args a = {.spec.outer_uid = getuid(),
	                     .spec.outer_gid = getgid(),
	                     .spec.tty_slave = -1,
	                     .spec.exec_listen = -1,
	                     .spec.caps = run_caps_default(),
	                     .det = {.notify = -1, .tty = -1, .log_max = CTR_LOG_MAX_DEFAULT}};
	struct strata_layer_options lo = {.warn = cli_warn};
	struct run_state st = {.lock = -1};
	int first = 0, rc;

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
	if (a.spec.net && !run_pasta_found()) {
		cli_error("--network pasta: pasta not found: install Debian's passt package");
		goto out;
	}
	if (run_ulimits_raise(&a.spec) || run_devices_limits(&a.spec, &a.limits) ||
	    open_store(&a, &st.s) || prepare_seccomp(&a, st.s))
		goto out;
	store_trust_blobs(st.s);
	if (resolve_or_pull(&a, &st, argv[first]))
		goto out;
	st.named = a.name != NULL;
	a.user_args = argv + first + 1;
	a.n_user_args = argc - first - 1;
	if (container_dir(st.s, &a, &st.dir))
		goto out;
	a.spec.dir = st.dir;
	rc = apply_config(&a, st.img->config_json, argv + first + 1, argc - first - 1);
	if (rc == 0)
		rc = check_same_image(&a, &st) ? 1 : start(&a, &st, argv[first], &lo);
out:
	if (st.caller && rc == 0)
		printf("%s\n", a.name);
	finish(&a, &st, rc);
	run_args_free(&a);
	return rc;
}
