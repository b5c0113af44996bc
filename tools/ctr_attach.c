/* SPDX-License-Identifier: MIT */
/*
 * strata attach: a client of a -d container's supervisor (attach.h).  Our
 * terminal in raw mode when the container has one, its output on ours,
 * our input (through the detach keys' matcher) to its stdin, our window
 * size to its pty; the container's exit status is ours, and on the detach
 * keys we leave it running and exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "attach.h"
#include "cli.h"
#include "ctr.h"
#include "run.h"
#include "strata-store.h"
#include "sys.h"

static volatile sig_atomic_t winch, proxied;

static void on_winch(int sig)
{
	(void)sig;
	winch = 1;
}

static void on_proxied(int sig)
{
	proxied = sig;
}

/* --sig-proxy (podman's default): these signals to us go to the
 * container's command (through its init), not to us. */
static const int proxy_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

static void proxy_start(void)
{
	struct sigaction sa = {.sa_handler = on_proxied};

	for (size_t i = 0; i < sizeof(proxy_signals) / sizeof(proxy_signals[0]); i++)
		sigaction(proxy_signals[i], &sa, NULL);
}

/* Connects to the socket in @dir: the socket, or -1 after saying why. */
static int connect_to(const char *dir, const char *name)
{
	struct sockaddr_un sa;
	int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC), fd = -1;

	if (dirfd >= 0 && attach_sockaddr(dirfd, &sa) == 0 &&
	    (fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) >= 0 &&
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int en = errno;

		close(fd);
		fd = -1;
		if (en == ENOENT || en == ECONNREFUSED)
			cli_error("attach: %s: no attach socket: it runs in the foreground of its "
			          "strata run, which alone has its terminal, or was started by an "
			          "older strata (strata attach reaches containers run with -d)",
			          name);
		else
			cli_error("attach: %s: %s", name, strerror(en));
	} else if (fd < 0) {
		cli_error("attach: %s: %s", name, strerror(errno));
	}
	if (dirfd >= 0)
		close(dirfd);
	return fd;
}

static void send_winsize(int sock)
{
	struct winsize ws;
	char msg[5] = {ATTACH_WINSIZE};
	uint16_t rc[2];

	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0)
		return;
	rc[0] = ws.ws_row;
	rc[1] = ws.ws_col;
	memcpy(msg + 1, rc, sizeof(rc));
	(void)!send(sock, msg, sizeof(msg), MSG_NOSIGNAL);
}

/* Our input to the container: false on the detach keys, or once stdin
 * ended (*@open false then). */
static bool from_stdin(int sock, struct detach_keys *k, bool *open, bool *detached)
{
	char buf[4096], msg[1 + sizeof(buf) + DETACH_KEYS_MAX];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
	size_t out;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0) {
		*open = false;
		return true;
	}
	msg[0] = ATTACH_IN;
	out = detach_keys_feed(k, buf, (size_t)n, msg + 1, detached);
	if (out > 0)
		(void)!send(sock, msg, 1 + out, MSG_NOSIGNAL);
	return !*detached;
}

/* One packet from the supervisor: false at the end, *@status set when it
 * said the exit status. */
static bool from_sock(int sock, int *status)
{
	char msg[1 + ATTACH_MAX + 1];
	ssize_t n = recv(sock, msg, sizeof(msg) - 1, 0);

	if (n < 0)
		return errno == EINTR;
	if (n == 0)
		return false;
	if (msg[0] == ATTACH_OUT)
		(void)sys_write_all(STDOUT_FILENO, msg + 1, (size_t)n - 1);
	else if (msg[0] == ATTACH_ERR)
		(void)sys_write_all(STDERR_FILENO, msg + 1, (size_t)n - 1);
	else if (msg[0] == ATTACH_EXIT) {
		msg[n] = '\0';
		*status = atoi(msg + 1);
		return false;
	}
	return true;
}

/* Relays until the end or the detach keys: the exit status, or -2 after
 * a detach, or -1 when the supervisor went without saying. */
static int relay(int sock, const struct ctr_attach_opts *o, const char *dir, const char *name)
{
	struct detach_keys k = o->keys;
	bool in_open = !o->no_stdin, detached = false;
	int status = -1;

	for (;;) {
		struct pollfd p[2] = {{sock, POLLIN, 0}, {STDIN_FILENO, in_open ? POLLIN : 0, 0}};

		if (winch) {
			winch = 0;
			send_winsize(sock);
		}
		if (proxied) {
			int sig = proxied;

			proxied = 0;
			/* A container that has just ended: its status comes next. */
			(void)ctr_signal(dir, name, sig, "attach");
		}
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return -1;
		if (p[0].revents && !from_sock(sock, &status))
			return status;
		if (in_open && p[1].revents && !from_stdin(sock, &k, &in_open, &detached))
			return -2;
	}
}

int ctr_attach(const char *dir, const char *name, const struct ctr_attach_opts *o)
{
	json_t *st = ctr_state(dir), *proc = json_object_get(st, "process");
	bool tty = json_is_true(json_object_get(proc, "tty"));
	struct sigaction sa = {.sa_handler = on_winch};
	struct termios saved;
	bool restore = false;
	int sock, rc;

	json_decref(st);
	if (!store_container_running(dir)) {
		cli_error("attach: %s: not running (strata start -a runs it again, attached)",
		          name);
		return 1;
	}
	if ((sock = connect_to(dir, name)) < 0)
		return 1;
	if (o->sig_proxy)
		proxy_start();
	if (tty && !o->no_stdin && isatty(STDIN_FILENO)) {
		sigaction(SIGWINCH, &sa, NULL);
		send_winsize(sock);
		restore = run_tty_raw(&saved);
	}
	rc = relay(sock, o, dir, name);
	if (restore)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	close(sock);
	if (rc == -2)
		return 0;
	if (rc == -1 && store_container_running(dir)) {
		cli_error("attach: %s: its supervisor closed the connection (%d clients at most)",
		          name, RUN_ATTACH_CLIENTS);
		return 1;
	}
	if (rc == -1) /* a supervisor killed: its record says what is known */
		rc = ctr_wait(dir, name);
	return rc < 0 ? 1 : rc;
}
