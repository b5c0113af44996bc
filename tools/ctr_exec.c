/* SPDX-License-Identifier: MIT */
/*
 * strata exec, outside: what the command gets (the container's recorded
 * process settings, strata run's "process" member, with exec's options
 * over them), the container's init as a pidfd, and the wait for the
 * command, which a child joining the container starts (run_exec.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "ctr.h"
#include "run.h"
#include "run_args.h"
#include "run_seccomp.h"
#include "strata-store.h"

/* Sets KEY=VALUE @kv in the NULL-terminated @env of *@n (room for one
 * more given), replacing KEY's value. */
static void env_set(char **env, size_t *n, const char *kv)
{
	size_t klen = strcspn(kv, "=");

	for (size_t i = 0; i < *n; i++)
		if (strncmp(env[i], kv, klen) == 0 && env[i][klen] == '=') {
			env[i] = (char *)kv;
			return;
		}
	env[(*n)++] = (char *)kv;
	env[*n] = NULL;
}

/* The container's environment, then -e (KEY alone: ours, when set), and a
 * TERM for -t: pointing into @proc and @o. */
static char **exec_env(json_t *proc, const struct ctr_exec_opts *o)
{
	json_t *env = json_object_get(proc, "env"), *v;
	char **out = calloc(json_array_size(env) + o->n_envs + 2, sizeof(*out));
	size_t n = 0, i;

	if (!out)
		return NULL;
	json_array_foreach(env, i, v)
	{
		if (json_is_string(v))
			env_set(out, &n, json_string_value(v));
	}
	for (i = 0; i < o->n_envs; i++) {
		const char *kv = o->envs[i];

		if (strchr(kv, '='))
			env_set(out, &n, kv);
		else if (getenv(kv))
			/* getenv's value is the tail of environ's "KEY=VALUE". */
			env_set(out, &n, getenv(kv) - strlen(kv) - 1);
	}
	if (o->tty) {
		for (i = 0; i < n && strncmp(out[i], "TERM=", 5) != 0; i++)
			;
		if (i == n)
			env_set(out, &n, "TERM=xterm");
	}
	return out;
}

int ctr_namespaces(pid_t pid)
{
	static const struct {
		const char *name;
		int flag;
	} ns[] = {{"user", CLONE_NEWUSER},    {"mnt", CLONE_NEWNS},  {"pid", CLONE_NEWPID},
	          {"uts", CLONE_NEWUTS},      {"ipc", CLONE_NEWIPC}, {"net", CLONE_NEWNET},
	          {"cgroup", CLONE_NEWCGROUP}};
	int flags = 0;

	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		char path[64];
		struct stat mine, its;

		snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i].name);
		if (stat(path, &mine) < 0)
			continue; /* a kernel without it: the container has none */
		snprintf(path, sizeof(path), "/proc/%ld/ns/%s", (long)pid, ns[i].name);
		if (stat(path, &its) == 0 &&
		    (its.st_ino != mine.st_ino || its.st_dev != mine.st_dev))
			flags |= ns[i].flag;
	}
	return flags;
}

/* The command's settings into @spec, from the record's @proc: 0, or 1
 * after saying why. */
static int exec_spec(const struct store *s, json_t *proc, const struct ctr_exec_opts *o,
                     struct run_spec *spec)
{
	const char *seccomp = json_string_value(json_object_get(proc, "seccomp"));
	char *cache = NULL;
	int rc;

	spec->argv = o->argv;
	spec->user = (char *)(o->user ?: json_string_value(json_object_get(proc, "user")));
	spec->workdir = (char *)(o->workdir ?: json_string_value(json_object_get(proc, "workdir")));
	spec->caps = (uint64_t)json_integer_value(json_object_get(proc, "caps"));
	spec->interactive = o->interactive;
	if (!(spec->env = exec_env(proc, o))) {
		cli_error("exec: out of memory");
		return 1;
	}
	/* The container's --ulimit, as its command has them. */
	json_t *u;
	size_t i;

	json_array_foreach(json_object_get(proc, "ulimits"), i, u)
	{
		if (json_is_string(u) && run_ulimit_option(spec, json_string_value(u)))
			return 1;
	}
	/* A hard limit above ours is raised here, before the user namespace
	 * is joined (where no capability can). */
	if (run_ulimits_raise(spec))
		return 1;
	/* The container's filter: read back from the store's cache, where
	 * strata run left it (compiled again if the profile file changed). */
	if (asprintf(&cache, "%s/strata/seccomp", store_root(s)) < 0)
		cache = NULL;
	rc = run_seccomp_prepare(seccomp, spec->caps, cache, &spec->seccomp);
	free(cache);
	return rc ? 1 : 0;
}

static volatile pid_t command_pid;

static void forward(int sig, siginfo_t *si, void *uctx)
{
	(void)uctx;
	/* A terminal's signals reach the command directly (same group). */
	if (si->si_code != SI_KERNEL && command_pid > 0)
		kill(command_pid, sig);
}

static int exit_status(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Waits for the entering child @enter and then for the command it
 * started, whose pid it writes to @from: the command's exit status (with
 * -d, as soon as it started: 0; with -it, 0 once the detach keys came). */
static int wait_command(pid_t enter, int from, int master, int started,
                        const struct ctr_exec_opts *o)
{
	static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
	struct sigaction sa = {.sa_sigaction = forward, .sa_flags = SA_SIGINFO | SA_RESTART};
	struct detach_keys keys = o->keys;
	char buf[32] = "";
	ssize_t n;
	int st;

	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaction(forwarded[i], &sa, NULL);
	while (waitpid(enter, &st, 0) < 0 && errno == EINTR)
		;
	n = read(from, buf, sizeof(buf) - 1);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || n <= 0)
		return WIFEXITED(st) && WEXITSTATUS(st) ? WEXITSTATUS(st) : 1;
	command_pid = (pid_t)strtol(buf, NULL, 10);
	if (started >= 0)
		return ctr_exec_started(started, command_pid);
	if (master >= 0 &&
	    (st = run_tty_proxy(master, command_pid, o->interactive, &keys)) == RUN_TTY_DETACHED)
		return ctr_exec_leave(master, command_pid);
	if (master >= 0)
		return st;
	while (waitpid(command_pid, &st, 0) < 0 && errno == EINTR)
		;
	return exit_status(st);
}

/* Starts the entering child and waits: the command's status. */
static int run_it(struct run_exec *x, const struct ctr_exec_opts *o)
{
	int pipefd[2], started[2] = {-1, -1}, master = -1, rc;
	pid_t enter;

	if (o->tty && run_tty_open(x->spec, &master) < 0)
		return 1;
	if (pipe2(pipefd, O_CLOEXEC) < 0 || (o->detach && pipe2(started, O_CLOEXEC) < 0)) {
		cli_error("exec: %s", strerror(errno));
		return 1;
	}
	x->pid_pipe = pipefd[1];
	x->started_pipe = started[1];
	x->keep = o->detach || (o->tty && o->keys.len);
	fflush(NULL);
	if ((enter = fork()) < 0) {
		cli_error("exec: fork: %s", strerror(errno));
		return 1;
	}
	if (enter == 0)
		run_exec_enter(x);
	close(pipefd[1]);
	if (started[1] >= 0)
		close(started[1]);
	if (x->spec->tty_slave >= 0)
		close(x->spec->tty_slave);
	rc = wait_command(enter, pipefd[0], master, started[0], o);
	close(pipefd[0]);
	if (started[0] >= 0)
		close(started[0]);
	if (master >= 0)
		close(master);
	return rc;
}

/* The exec server's way (ctr_exec_fast()): the status, or -1. */
static int exec_fast(const char *dir, json_t *proc, const struct ctr_exec_opts *o)
{
	const char *user = o->user ?: json_string_value(json_object_get(proc, "user"));
	const char *workdir = o->workdir ?: json_string_value(json_object_get(proc, "workdir"));
	char **env = exec_env(proc, o);
	int rc = env ? ctr_exec_fast(dir, env, user, workdir, o) : -1;

	free(env);
	return rc;
}

int ctr_exec(const struct store *s, const char *dir, const char *name,
             const struct ctr_exec_opts *o)
{
	struct run_spec spec = {.tty_slave = -1, .exec_listen = -1};
	struct run_exec x = {.pidfd = -1, .started_pipe = -1, .spec = &spec};
	json_t *st = ctr_state(dir), *proc = json_object_get(st, "process");
	pid_t init = -1;
	int rc = 1;

	if (!store_container_running(dir))
		cli_error("exec: %s: not running", name);
	else if (!json_is_object(proc))
		cli_error("exec: %s: its record has no process settings (started by an older "
		          "strata: restart it)",
		          name);
	else if ((rc = exec_fast(dir, proc, o)) >= 0)
		; /* done there */
	else if ((rc = 1, x.pidfd = ctr_init_pidfd(dir, &init)) < 0)
		cli_error("exec: %s: running, and its init is not found: %s", name,
		          strerror(errno));
	else if ((rc = exec_spec(s, proc, o, &spec)) == 0) {
		x.ns_flags = ctr_namespaces(init);
		x.cgroups = store_container_cgroups(dir);
		rc = run_it(&x, o);
		strv_free(x.cgroups);
	}
	if (x.pidfd >= 0)
		close(x.pidfd);
	free(spec.env);
	free(spec.console);
	free(spec.seccomp.filter);
	free(spec.ulimits);
	json_decref(st);
	return rc;
}
