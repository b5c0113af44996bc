/* SPDX-License-Identifier: MIT */
/*
 * strata exec's fast path, inside the container (exec_sock.h): the exec
 * server, and the session it forks for each strata exec.
 *
 *   init ──fork──▶ command (filter on) ──clone(CLONE_PARENT)──▶ server: accept()
 *                     └─ its exec                                 └─fork─▶ session ─fork─▶ command
 *
 * The server is cloned by strata run's command once its seccomp filter is
 * on and before its go (run_init.c): it shares the filter (no second JIT),
 * it is in the init's cgroups and namespaces, and its parent is the init,
 * which reaps it.  Like a process strata exec's setns() makes, it is the
 * container's root with every capability of the container's user namespace,
 * so that the command it forks goes through the same calls (run_proc.c:
 * ulimits, user, capabilities, no_new_privs; the filter is on already) and
 * ends with exactly what a setns exec's command has.
 *
 * Security reasoning:
 *  - It holds nothing of the host: all fds but the listening socket and
 *    its go pipe are closed first thing; at its first request (after the
 *    init's go, which it then reads) it checks that its root is the
 *    container's (as the command does) and puts /dev/null of the
 *    container on its stdio.  The listening socket gives
 *    only connections, whose peers are strata exec on the host, where the
 *    socket's path is (0600, in the container's directory).
 *  - Not dumpable: the container's root (even with CAP_SYS_PTRACE) cannot
 *    ptrace it or open its /proc/PID/fd (its mm belongs to the host's user
 *    namespace, where the container has no capability).  It can kill it:
 *    strata exec then takes the setns path.
 *  - Its own session (setsid): the run's terminal's signals do not reach
 *    it, and every signal is blocked; the pid namespace's end kills it.
 *  - A request is parsed within the packet's bounds; what the client asks
 *    for (user, directory, environment, command) is what a setns exec
 *    could ask for.
 *
 * Built without AddressSanitizer, as the init is (tools/meson.build).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec_sock.h"
#include "run.h"

#define LISTEN_FD 3
#define GO_FD     4
#define EXECD_FD  5
#define STACK     (1u << 20)

struct server_arg {
	const struct run_spec *spec;
	int listen, go;
	int execd[2]; /* closed on both ends once the command's exec is done */
};

static void say(int c, char type, int value)
{
	struct exec_msg m = {.type = type, .value = value};

	(void)!send(c, &m, sizeof(m), MSG_NOSIGNAL);
}

/* The request's strings: each NUL-terminated within [*p, end). */
static char *next_string(char **p, const char *end)
{
	char *s = *p, *nul = s < end ? memchr(s, '\0', (size_t)(end - s)) : NULL;

	if (!nul)
		return NULL;
	*p = nul + 1;
	return s;
}

static char **strings(char **p, const char *end, uint32_t n)
{
	char **v;

	if (n > EXEC_REQ_MAX / 2 || !(v = calloc((size_t)n + 1, sizeof(*v))))
		return NULL;
	for (uint32_t i = 0; i < n; i++)
		if (!(v[i] = next_string(p, end)))
			return NULL;
	return v;
}

/* Reads the request from @c into @x's spec (a copy of the run's, the
 * command's stdio dup'ed to 0-2 or its pty given): the request's flags, or
 * -1. */
static int read_request(int c, struct run_spec *spec)
{
	static char buf[EXEC_REQ_MAX];
	union {
		char space[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {buf, sizeof(buf)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl, .msg_controllen = sizeof(ctl)};
	struct cmsghdr *cm;
	struct exec_req req;
	int fds[3], nfds = 0;
	char *p = buf + sizeof(req), *end;
	ssize_t n = recvmsg(c, &mh, MSG_CMSG_CLOEXEC);

	if (n < (ssize_t)sizeof(req) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		return -1;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			nfds = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			if (nfds > 3)
				return -1;
			memcpy(fds, CMSG_DATA(cm), (size_t)nfds * sizeof(int));
		}
	memcpy(&req, buf, sizeof(req));
	end = buf + n;
	if (req.version != EXEC_REQ_V1 || nfds != (req.flags & EXEC_F_TTY ? 1 : 3) || !req.argc)
		return -1;
	spec->user = req.flags & EXEC_F_USER ? next_string(&p, end) : NULL;
	spec->workdir = req.flags & EXEC_F_WORKDIR ? next_string(&p, end) : NULL;
	if ((req.flags & EXEC_F_USER && !spec->user) ||
	    (req.flags & EXEC_F_WORKDIR && !spec->workdir) ||
	    !(spec->argv = strings(&p, end, req.argc)) || !(spec->env = strings(&p, end, req.envc)))
		return -1;
	spec->interactive = req.flags & EXEC_F_INTERACTIVE;
	spec->tty_slave = -1;
	if (req.flags & EXEC_F_TTY) {
		spec->tty_slave = fds[0];
		return (int)req.flags;
	}
	/* Our 0-2 are /dev/null: the fds received are above. */
	for (int i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0)
			return -1;
	close(fds[0]);
	close(fds[1]);
	close(fds[2]);
	return (int)req.flags;
}

/* 0-2 on the container's /dev/null: 0, or -1. */
static int stdio_null(void)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC), rc = 0;

	for (int i = 0; i < 3; i++)
		if (null < 0 || (null != i && dup2(null, i) < 0))
			rc = -1;
	if (null > 2)
		close(null);
	return rc;
}

static void on_child(int sig)
{
	(void)sig;
}

static int exec_child(void *x)
{
	run_exec_command(x);
}

/* One strata exec: the command forked, its status passed back, the
 * client's signals passed on. */
static void __attribute__((noreturn)) session(const struct run_spec *run, int c)
{
	struct sigaction sa = {.sa_handler = on_child};
	struct run_spec spec = *run;
	struct run_exec x = {.pidfd = -1, .pid_pipe = -1, .started_pipe = -1, .spec = &spec};
	int flags = read_request(c, &spec), started[2] = {-1, -1}, st;
	sigset_t wait_mask;
	pid_t pid;

	if (flags < 0)
		_exit(1);
	spec.seccomp.len = 0; /* on already: ours */
	spec.caps_bounded = true;
	spec.detach = NULL;
	if (flags & EXEC_F_DETACH) {
		if (pipe2(started, O_CLOEXEC) < 0)
			_exit(1);
		x.started_pipe = started[1];
	}
	sigaction(SIGCHLD, &sa, NULL);
	/* The command shares our memory until its exec (CLONE_VFORK: we wait
	 * for it): no page tables copied, no copy-on-write faults, and we
	 * have nothing to do meanwhile. */
	if ((pid = run_clone(exec_child, &x, CLONE_VM | CLONE_VFORK | SIGCHLD)) < 0)
		_exit(1);
	/* Its -u set our memory's dumpability to fs.suid_dumpable's: not
	 * ours to keep, with every capability we hold. */
	prctl(PR_SET_DUMPABLE, 0);
	/* Forked: strata exec no longer falls back to setns if we vanish. */
	say(c, 'r', 0);
	/* Nothing of the client's stays open here: its pipes end with the
	 * command. */
	if (spec.tty_slave >= 0)
		close(spec.tty_slave);
	stdio_null();
	if (flags & EXEC_F_DETACH) {
		char e[2];

		close(started[1]);
		/* Said why before it ended: strata exec returns after that. */
		if (read(started[0], e, 2) == 2 && e[0] == 'e' && waitpid(pid, &st, 0) >= 0)
			say(c, 'e', (unsigned char)e[1]);
		else
			say(c, 's', 0);
		_exit(0); /* the command is the init's now */
	}
	sigfillset(&wait_mask);
	sigdelset(&wait_mask, SIGCHLD);
	for (;;) {
		struct pollfd p = {c, POLLIN, 0};
		struct exec_msg m;

		if (waitpid(pid, &st, WNOHANG) == pid) {
			say(c, 'x', WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
			_exit(0);
		}
		if (ppoll(&p, 1, NULL, &wait_mask) <= 0)
			continue;
		/* The client gone: the command goes on, the init's. */
		if (recv(c, &m, sizeof(m), 0) != (ssize_t)sizeof(m))
			_exit(0);
		if (m.type == 'k' && m.value > 0 && m.value < NSIG)
			kill(pid, m.value);
	}
}

/* At the first request, nothing before (the command's first instructions
 * have the CPUs): once the command's exec is done (end of file on execd:
 * its end was close-on-exec), our memory is ours alone; after the init's
 * go, in the container's root, as the command checks it is (pivot_root
 * moved us with it); the container's /dev/null on our stdio; and the
 * bounding set every command gets, dropped once for all of them (our own
 * capabilities stay: -u needs CAP_SETUID even where the container's set
 * lacks it, as with setns).  0, or -1. */
static int settle(const struct run_spec *spec)
{
	struct run_go_word w;
	struct stat st;
	char c;

	while (read(EXECD_FD, &c, 1) > 0)
		;
	close(EXECD_FD);
	/* Again: the command's setresuid() set the shared memory's
	 * dumpability to fs.suid_dumpable's. */
	prctl(PR_SET_DUMPABLE, 0);
	if (read(GO_FD, &w, sizeof(w)) != (ssize_t)sizeof(w) || w.go != 'g')
		return -1;
	close(GO_FD);
	if (chdir("/") < 0 || stat("/", &st) < 0 || st.st_dev != w.dev || st.st_ino != w.ino)
		return -1;
	run_proc_bound(spec->caps);
	return stdio_null();
}

static int server_main(void *p)
{
	const struct server_arg *a = p;
	int l = fcntl(a->listen, F_DUPFD_CLOEXEC, 10), g = fcntl(a->go, F_DUPFD_CLOEXEC, 10);
	int e = fcntl(a->execd[0], F_DUPFD_CLOEXEC, 10);
	bool settled = false;

	/* Until the command's exec we share its memory (run_forker_start()):
	 * system calls only, that succeed (errno is its too), on our own fd
	 * table, up to accept() (settle() waits for the exec).  PR_SET_DUMPABLE is the memory's:
	 * the command's exec gives it its own again. */
	prctl(PR_SET_DUMPABLE, 0);
	if (l < 0 || g < 0 || e < 0 || dup3(l, LISTEN_FD, O_CLOEXEC) < 0 ||
	    dup3(g, GO_FD, O_CLOEXEC) < 0 || dup3(e, EXECD_FD, O_CLOEXEC) < 0)
		_exit(1);
	/* Until settle(), 0-2 hold our own socket: nothing of the caller's,
	 * and what accept() returns is above them. */
	for (int i = 0; i < 3; i++)
		if (dup2(LISTEN_FD, i) < 0)
			_exit(1);
	/* All else, the write end of execd among them. */
	syscall(SYS_close_range, EXECD_FD + 1U, ~0U, 0);
	setsid();
	signal(SIGCHLD, SIG_IGN); /* sessions are reaped by the kernel */
	for (;;) {
		int c = accept4(LISTEN_FD, NULL, NULL, SOCK_CLOEXEC);
		pid_t pid;

		if (c < 0 && (errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
		              errno == ENFILE || errno == ENOBUFS || errno == ENOMEM))
			continue;
		if (c < 0 || (!settled && settle(a->spec) < 0))
			_exit(1);
		settled = true;
		if ((pid = fork()) == 0) {
			close(LISTEN_FD);
			signal(SIGCHLD, SIG_DFL);
			session(a->spec, c);
		}
		close(c);
	}
}

void run_forker_start(const struct run_spec *spec, int go)
{
	/* Read by the server after we moved on: not on our stack. */
	static struct server_arg a;
	char *stack;

	a = (struct server_arg){spec, spec->exec_listen, go, {-1, -1}};
	/* Its stack for good: it outlives our exec. */
	stack = mmap(NULL, STACK, PROT_READ | PROT_WRITE,
	             MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
	if (stack == MAP_FAILED || pipe2(a.execd, O_CLOEXEC) < 0)
		return;
	/* Our sibling, the init's child (reaped by it), sharing our memory
	 * until our exec: no page tables copied, no copy-on-write faults on
	 * the start's path.  Our exec closes execd's write end (close-on-exec)
	 * and leaves the old memory to it. */
	(void)clone(server_main, stack + STACK, CLONE_VM | CLONE_PARENT, &a);
	close(a.execd[0]);
}
