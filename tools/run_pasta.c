/* SPDX-License-Identifier: MIT */
/*
 * --network pasta (run.h): pasta, from Debian's passt package, gives the
 * container's network namespace a tap device with the host's addresses and
 * routes and forwards the published ports into it (user-mode networking,
 * as podman does).  It is the launcher's (or supervisor's) child, started
 * once the init's namespace exists and before the command is, and
 * stopped by pid when the daemon has exited: pasta attached to a pid does
 * not quit when the namespace goes away.  A pasta whose parent was
 * killed (a supervisor's SIGKILL) outlives it: its PR_SET_PDEATHSIG is
 * cleared once it has set itself up (its credentials change), so the
 * next command that finds the container dead kills it (run_pasta_reap),
 * by the pid and start time the launcher recorded.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "run.h"
#include "strata-store.h"

/* How long pasta may take to set the namespace up (it takes ~40 ms). */
#define PASTA_READY_MS 10000
/* Room for its arguments: fixed ones, and two per port. */
#define PASTA_FIXED_ARGS 24

bool run_pasta_found(void)
{
	const char *path = getenv("PATH");
	char file[PATH_MAX];

	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t len = strcspn(p, ":");

		if (snprintf(file, sizeof(file), "%.*s/pasta", (int)len, p) < (int)sizeof(file) &&
		    access(file, X_OK) == 0)
			return true;
		p += len + (p[len] == ':');
	}
	return false;
}

/* pasta's -t/-u spec for @p: "[IP/]HOST:CONTAINER". */
static char *port_spec(const struct run_port *p)
{
	char *s = NULL;

	if (asprintf(&s, "%s%s%u:%u", p->ip, p->ip[0] ? "/" : "", p->host, p->ctr) < 0)
		return NULL;
	return s;
}

/* pasta's command line, its port specs in @owned (to be freed). */
static char **pasta_argv(const struct run_net *n, pid_t init, char **owned)
{
	/* Foreground: its pid stays the one we wait for and stop.  Quiet, and
	 * its log to nowhere: its errors go to stderr, the container's
	 * pasta.log (else a syslog it cannot reach gets a complaint per
	 * line).  Nothing of the host's bound in the namespace (-T, -U: its
	 * default, auto, binds there every port the host listens on, which
	 * the container's own servers would then find taken), and the host's
	 * loopback not at the gateway's address (--no-map-gw, as podman: in
	 * pasta 2023-03 such a connection gets its data over and over and
	 * never its end; docs/NOTES.md). */
	static const char *const fixed[] = {
	    "pasta",          "--foreground", "--quiet", "--log-file", "/dev/null", "--config-net",
	    "--no-map-gw",    "-T",           "none",    "-U",         "none",      "--pid",
	    "/proc/self/fd/3"};
	size_t nfixed = sizeof(fixed) / sizeof(fixed[0]), k = 0;
	char **argv = calloc(nfixed + 2 * n->n_ports + 8, sizeof(*argv));
	static char pid[16];
	bool tcp = false, udp = false;

	if (!argv)
		return NULL;
	for (size_t i = 0; i < nfixed; i++)
		argv[k++] = (char *)fixed[i];
	/* As root it would change to nobody, who may not join the container's
	 * namespaces. */
	if (geteuid() == 0) {
		argv[k++] = "--runas";
		argv[k++] = "0";
	}
	for (size_t i = 0; i < n->n_ports; i++) {
		if (!(owned[i] = port_spec(&n->ports[i]))) {
			free(argv);
			return NULL;
		}
		argv[k++] = n->ports[i].udp ? "-u" : "-t";
		argv[k++] = owned[i];
		tcp |= !n->ports[i].udp;
		udp |= n->ports[i].udp;
	}
	/* Else pasta's default, auto: whatever the namespace listens on (and
	 * UDP mirrors TCP's ports). */
	if (!tcp) {
		argv[k++] = "-t";
		argv[k++] = "none";
	}
	if (!udp) {
		argv[k++] = "-u";
		argv[k++] = "none";
	}
	snprintf(pid, sizeof(pid), "%d", (int)init);
	argv[k++] = pid;
	return argv;
}

/* @from as @to, without close-on-exec (which dup2 onto itself keeps). */
static int move_fd(int from, int to)
{
	return from == to ? fcntl(to, F_SETFD, 0) : dup2(from, to);
}

/* In the child: fd 3 the pid file's pipe, stderr @log, nothing else;
 * default signals; dies with its parent @parent (until pasta changes its
 * credentials); execs @argv. */
static void exec_pasta(char **argv, int pid_w, int log, pid_t parent)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	sigset_t none;

	/* Its own group: a terminal's ^C is for the container, not for it. */
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	if (null < 0 || move_fd(null, 0) < 0 || move_fd(null, 1) < 0 || move_fd(log, 2) < 0 ||
	    move_fd(pid_w, 3) < 0)
		_exit(1);
	close_range(4, ~0U, 0);
	execvp(argv[0], argv);
	dprintf(2, "pasta: %s\n", strerror(errno));
	_exit(127);
}

/* pasta's last word in @dir's pasta.log into @why. */
static void last_word(const char *dir, char *why, size_t size)
{
	char path[PATH_MAX], line[512];
	FILE *f;

	snprintf(why, size, "it exited before it was ready");
	snprintf(path, sizeof(path), "%s/pasta.log", dir);
	if (!(f = fopen(path, "re")))
		return;
	while (fgets(line, sizeof(line), f))
		if (line[0] != '\n' && strncmp(line, "Failed to send", 14) != 0)
			snprintf(why, size, "%.*s", (int)strcspn(line, "\n"), line);
	fclose(f);
}

/* Waits, bounded, for pasta to write its pid file (it has set up the
 * namespace and bound the ports) or to end: 0 once ready, else -1. */
static int wait_ready(int pid_r)
{
	struct pollfd pfd = {.fd = pid_r, .events = POLLIN};
	char buf[32];
	int n;

	while ((n = poll(&pfd, 1, PASTA_READY_MS)) < 0)
		if (errno != EINTR)
			return -1;
	/* Not ready in time: not read, which would wait on. */
	return n > 0 && read(pid_r, buf, sizeof(buf)) > 0 ? 0 : -1;
}

static pid_t spawn(char **argv, const char *dir, int pid_pipe[2])
{
	char path[PATH_MAX];
	pid_t parent = getpid(), pid;
	int log;

	snprintf(path, sizeof(path), "%s/pasta.log", dir);
	log = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (log < 0) {
		cli_error("run: --network pasta: %s: %s", path, strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid == 0)
		exec_pasta(argv, pid_pipe[1], log, parent);
	close(log);
	if (pid < 0)
		cli_error("run: --network pasta: fork: %s", strerror(errno));
	return pid;
}

pid_t run_pasta_start(const struct run_net *n, pid_t init, const char *dir)
{
	char **owned = calloc(n->n_ports + 1, sizeof(*owned)), **argv = NULL, why[512];
	int pid_pipe[2] = {-1, -1};
	pid_t pid = -1;

	if (!owned || !(argv = pasta_argv(n, init, owned)) || pipe2(pid_pipe, O_CLOEXEC) < 0) {
		cli_error("run: --network pasta: %s", strerror(errno ? errno : ENOMEM));
	} else if ((pid = spawn(argv, dir, pid_pipe)) > 0) {
		/* Recorded at once: a launcher killed while it waits leaves it. */
		run_pasta_note(dir, pid);
		close(pid_pipe[1]);
		pid_pipe[1] = -1;
		if (wait_ready(pid_pipe[0]) < 0) {
			run_pasta_stop(&pid);
			run_pasta_note(dir, 0);
			last_word(dir, why, sizeof(why));
			cli_error("run: --network pasta: %s%s", why,
			          strstr(why, "tun") ? " (/dev/net/tun must be readable and "
			                               "writable by who runs strata)"
			                             : "");
			pid = -1;
		}
	}
	for (int i = 0; i < 2; i++)
		if (pid_pipe[i] >= 0)
			close(pid_pipe[i]);
	for (size_t i = 0; owned && owned[i]; i++)
		free(owned[i]);
	free(owned);
	free(argv);
	return pid;
}

void run_pasta_stop(pid_t *pid)
{
	/* Nothing of pasta's outlives it: the sockets it bound close. */
	if (*pid > 0) {
		kill(*pid, SIGKILL);
		while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	*pid = 0;
}

/* Field 22 of /proc/@pid/stat, its start time (which its exec keeps),
 * and whether its name is pasta's (pasta runs as passt, or passt.avx2):
 * 0, or -1. */
static int start_time(pid_t pid, unsigned long long *start, bool *pasta)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	*pasta = strncmp(buf + strcspn(buf, "("), "(pas", 4) == 0;
	if (!(p = strrchr(buf, ')')))
		return -1;
	/* After "pid (comm)": state is field 3, start time field 22. */
	for (int field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	return p && sscanf(p + 1, "%llu", start) == 1 ? 0 : -1;
}

void run_pasta_note(const char *dir, pid_t pid)
{
	unsigned long long start = 0;
	char text[96];
	bool pasta;

	if (pid > 0 && start_time(pid, &start, &pasta) == 0)
		snprintf(text, sizeof(text), "{\"pid\": %d, \"start\": %llu}", (int)pid, start);
	else
		snprintf(text, sizeof(text), "null");
	store_container_note(dir, "pasta", text);
}

void run_pasta_reap(const char *state_json)
{
	json_t *st = json_loads(state_json, 0, NULL), *p = json_object_get(st, "pasta");
	pid_t pid = (pid_t)json_integer_value(json_object_get(p, "pid"));
	unsigned long long start,
	    was = (unsigned long long)json_integer_value(json_object_get(p, "start"));
	bool pasta;

	if (pid > 0 && start_time(pid, &start, &pasta) == 0 && pasta && start == was)
		kill(pid, SIGKILL);
	json_decref(st);
}
