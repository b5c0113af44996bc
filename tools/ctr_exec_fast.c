/* SPDX-License-Identifier: MIT */
/*
 * strata exec's fast path, the client (exec_sock.h): the command is asked
 * of the container's exec server, with our stdio (or a pty's slave) passed
 * along, and we wait for its status there, passing our signals on.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "ctr.h"
#include "exec_sock.h"
#include "run.h"

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
static volatile sig_atomic_t pending[NSIG];

static void note(int sig)
{
	pending[sig] = 1;
}

/* Appends @s and its NUL at *@len in @buf: false when it does not fit. */
static bool put(char *buf, size_t *len, const char *s)
{
	size_t n = strlen(s) + 1;

	if (n > EXEC_REQ_MAX - *len)
		return false;
	memcpy(buf + *len, s, n);
	*len += n;
	return true;
}

/* The request into @buf: its length, or 0 when it is too long. */
static size_t request(char *buf, char **env, const char *user, const char *workdir,
                      const struct ctr_exec_opts *o)
{
	struct exec_req req = {.version = EXEC_REQ_V1};
	size_t len = sizeof(req);

	req.flags = (o->interactive ? EXEC_F_INTERACTIVE : 0) | (o->tty ? EXEC_F_TTY : 0) |
	            (o->detach ? EXEC_F_DETACH : 0) | (user ? EXEC_F_USER : 0) |
	            (workdir ? EXEC_F_WORKDIR : 0);
	if ((user && !put(buf, &len, user)) || (workdir && !put(buf, &len, workdir)))
		return 0;
	for (char **a = o->argv; *a; a++, req.argc++)
		if (!put(buf, &len, *a))
			return 0;
	for (char **e = env; *e; e++, req.envc++)
		if (!put(buf, &len, *e))
			return 0;
	memcpy(buf, &req, sizeof(req));
	return len;
}

static int send_request(int c, const char *buf, size_t len, const int *fds, int nfds)
{
	union {
		char space[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {(void *)buf, len};
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = &ctl,
	                    .msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int))};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	memset(&ctl, 0, sizeof(ctl));
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
	return sendmsg(c, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* The session's next word: its type, or 0 when it is gone. */
static char hear(int c, int *value)
{
	struct exec_msg m;
	ssize_t n;

	while ((n = recv(c, &m, sizeof(m), 0)) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(m))
		return 0;
	*value = m.value;
	return m.type;
}

/* Waits for the command's end, passing our signals on (all of them: the
 * command is in no process group of ours, so a terminal's do not reach
 * it): its exit status. */
static int wait_remote(int c)
{
	struct sigaction sa = {.sa_handler = note};
	sigset_t block, old;
	int value = 0;

	sigemptyset(&block);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++) {
		sigaction(forwarded[i], &sa, NULL);
		sigaddset(&block, forwarded[i]);
	}
	sigprocmask(SIG_BLOCK, &block, &old);
	for (;;) {
		struct pollfd p = {c, POLLIN, 0};

		for (int sig = 1; sig < NSIG; sig++)
			if (pending[sig]) {
				struct exec_msg m = {.type = 'k', .value = sig};

				pending[sig] = 0;
				(void)!send(c, &m, sizeof(m), MSG_NOSIGNAL);
			}
		if (ppoll(&p, 1, NULL, &old) < 0)
			continue;
		if (hear(c, &value) == 'x')
			return value;
		/* The container stopped under it: as a setns exec's command,
		 * SIGKILLed with its pid namespace. */
		return 128 + SIGKILL;
	}
}

static volatile pid_t proxy_pid;

static void to_proxy(int sig)
{
	if (proxy_pid > 0)
		kill(proxy_pid, sig);
}

/* -t: a child of ours stands for the command, for the pty's proxy to
 * wait for (and kill, on the detach keys, which lets the command go). */
static int wait_tty(int c, int master, const struct ctr_exec_opts *o)
{
	struct sigaction sa = {.sa_handler = to_proxy, .sa_flags = SA_RESTART};
	struct detach_keys keys = o->keys;
	pid_t pid;
	int st;

	if ((pid = fork()) < 0) {
		cli_error("exec: fork: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		close(master);
		_exit(wait_remote(c));
	}
	proxy_pid = pid;
	close(c);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaction(forwarded[i], &sa, NULL);
	st = run_tty_proxy(master, pid, o->interactive, &keys);
	if (st == RUN_TTY_DETACHED)
		return ctr_exec_leave(master, pid);
	return st;
}

int ctr_exec_fast(const char *dir, char **env, const char *user, const char *workdir,
                  const struct ctr_exec_opts *o)
{
	static char buf[EXEC_REQ_MAX];
	struct run_spec tty = {.tty_slave = -1, .exec_listen = -1};
	int c, master = -1, stdio[3] = {0, 1, 2}, value = 0, rc;
	size_t len = request(buf, env, user, workdir, o);

	if (!len || (c = ctr_exec_connect(dir)) < 0)
		return -1;
	if (o->tty && run_tty_open(&tty, &master) < 0) {
		rc = 1;
		goto out;
	}
	if (send_request(c, buf, len, o->tty ? &tty.tty_slave : stdio, o->tty ? 1 : 3) < 0) {
		rc = -1; /* the server went away since: the setns path */
		goto out;
	}
	if (tty.tty_slave >= 0) {
		close(tty.tty_slave);
		tty.tty_slave = -1;
	}
	/* Nothing said before the command is forked: the server is gone (or
	 * found its root was not the container's), and nothing ran. */
	if (hear(c, &value) != 'r') {
		rc = -1;
		goto out;
	}
	if (o->detach) {
		char t = hear(c, &value);

		rc = t == 's' ? 0 : t == 'e' ? value : 1;
		if (!t)
			cli_error("exec: the container stopped");
	} else if (o->tty) {
		rc = wait_tty(c, master, o);
		c = -1;
	} else {
		rc = wait_remote(c);
	}
out:
	if (c >= 0)
		close(c);
	if (tty.tty_slave >= 0)
		close(tty.tty_slave);
	if (master >= 0)
		close(master);
	free(tty.console);
	return rc;
}
