/* SPDX-License-Identifier: MIT */
/*
 * A -d container's attach socket, the supervisor's side (attach.h): it
 * listens in the container's directory while the container runs, sends
 * every client the output it logs, passes what clients send on to the
 * command's stdin (its pipe, or the pty's master), and tells them the exit
 * status at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "cli.h"
#include "run.h"

int run_attach_listen(struct run_attach *a, const char *dir)
{
	struct sockaddr_un sa;
	int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	mode_t mask;

	a->listen = -1;
	a->n = 0;
	if (dirfd < 0 || attach_sockaddr(dirfd, &sa) < 0)
		goto fail;
	/* A supervisor killed before leaves its socket behind. */
	unlinkat(dirfd, CTR_ATTACH_SOCK, 0);
	a->listen = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	mask = umask(0177); /* 0600: the container's owner alone attaches */
	if (a->listen < 0 || bind(a->listen, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(a->listen, 8) < 0) {
		umask(mask);
		goto fail;
	}
	umask(mask);
	close(dirfd);
	return 0;
fail:
	cli_error("run: %s/%s: %s (strata attach cannot reach this container)", dir,
	          CTR_ATTACH_SOCK, strerror(errno));
	if (a->listen >= 0)
		close(a->listen);
	a->listen = -1;
	if (dirfd >= 0)
		close(dirfd);
	return -1;
}

void run_attach_poll(const struct run_attach *a, struct pollfd *p)
{
	p[0] = (struct pollfd){.fd = a->listen, .events = POLLIN};
	for (size_t i = 0; i < RUN_ATTACH_CLIENTS; i++)
		p[1 + i] = (struct pollfd){.fd = i < a->n ? a->clients[i] : -1, .events = POLLIN};
}

/* Sends one packet to each client; @wait: up to a second for room in
 * each (the exit status is worth it), else none. */
static void send_all(struct run_attach *a, const char *msg, size_t len, bool wait)
{
	for (size_t i = 0; i < a->n; i++) {
		struct pollfd p = {.fd = a->clients[i], .events = POLLOUT};

		if (wait)
			(void)poll(&p, 1, 1000);
		(void)!send(a->clients[i], msg, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
}

static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int run_attach_hold(struct run_attach *a)
{
	a->n_held = 0;
	a->hold_until = now_ms() + RUN_ATTACH_HOLD_MS;
	a->held = malloc(RUN_ATTACH_HOLD_MAX);
	return a->held ? 0 : -1;
}

static void hold_end(struct run_attach *a)
{
	free(a->held);
	a->held = NULL;
}

bool run_attach_room(struct run_attach *a)
{
	return !a->held || a->n_held + 3 + ATTACH_MAX <= RUN_ATTACH_HOLD_MAX;
}

int run_attach_timeout(struct run_attach *a)
{
	long long left;

	if (!a->held)
		return -1;
	left = a->hold_until - now_ms();
	if (left <= 0)
		hold_end(a);
	return left <= 0 ? -1 : (int)left;
}

/* The held output as packets (a type, a 16-bit length, the bytes) to the
 * first client, which gets it before anything else. */
static void hold_flush(struct run_attach *a)
{
	char msg[1 + ATTACH_MAX];

	for (size_t off = 0; off + 3 <= a->n_held;) {
		uint16_t len;

		memcpy(&len, a->held + off + 1, sizeof(len));
		msg[0] = a->held[off];
		memcpy(msg + 1, a->held + off + 3, len);
		send_all(a, msg, 1 + len, true);
		off += 3 + (size_t)len;
	}
	hold_end(a);
}

/* Output of @type while held, in pieces of ATTACH_MAX (the caller read
 * no more than run_attach_room() allows). */
static void hold_add(struct run_attach *a, char type, const char *buf, size_t n)
{
	for (size_t off = 0; off < n; off += ATTACH_MAX) {
		uint16_t len = (uint16_t)(n - off < ATTACH_MAX ? n - off : ATTACH_MAX);

		if (a->n_held + 3 + len > RUN_ATTACH_HOLD_MAX)
			return;
		a->held[a->n_held] = type;
		memcpy(a->held + a->n_held + 1, &len, sizeof(len));
		memcpy(a->held + a->n_held + 3, buf + off, len);
		a->n_held += 3 + (size_t)len;
	}
}

void run_attach_send(struct run_attach *a, char type, const char *buf, size_t n)
{
	if (a->held && type != ATTACH_EXIT) {
		hold_add(a, type, buf, n);
		return;
	}
	char msg[1 + ATTACH_MAX];

	for (size_t off = 0; off < n || (n == 0 && off == 0); off += ATTACH_MAX) {
		size_t len = n - off < ATTACH_MAX ? n - off : ATTACH_MAX;

		msg[0] = type;
		memcpy(msg + 1, buf + off, len);
		/* Never blocks: a slow client loses this, not the container. */
		send_all(a, msg, 1 + len, type == ATTACH_EXIT);
		if (n == 0)
			break;
	}
}

/* What fits goes to the command's stdin, without waiting: a command that
 * does not read must not stop the supervisor from reading its output. */
static void to_stdin(const struct run_attach *a, const char *buf, size_t n)
{
	while (a->in >= 0 && n > 0) {
		ssize_t w = write(a->in, buf, n);

		if (w <= 0)
			return;
		buf += w;
		n -= (size_t)w;
	}
}

/* One packet from client @i: false once it has gone. */
static bool from_client(struct run_attach *a, size_t i)
{
	char msg[1 + ATTACH_MAX];
	ssize_t n = recv(a->clients[i], msg, sizeof(msg), MSG_DONTWAIT);

	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	if (msg[0] == ATTACH_IN)
		to_stdin(a, msg + 1, (size_t)n - 1);
	if (msg[0] == ATTACH_WINSIZE && n == 5 && a->tty >= 0) {
		struct winsize ws = {0};
		uint16_t rc[2];

		memcpy(rc, msg + 1, sizeof(rc));
		ws.ws_row = rc[0];
		ws.ws_col = rc[1];
		ioctl(a->tty, TIOCSWINSZ, &ws);
	}
	return true;
}

void run_attach_handle(struct run_attach *a, const struct pollfd *p)
{
	size_t n = a->n;

	/* From the last, so that dropping one leaves the others' indexes. */
	for (size_t i = n; i-- > 0;)
		if (p[1 + i].revents && !from_client(a, i)) {
			close(a->clients[i]);
			a->clients[i] = a->clients[--a->n];
		}
	if (a->listen >= 0 && (p[0].revents & POLLIN)) {
		int c = accept4(a->listen, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (c >= 0 && a->n < RUN_ATTACH_CLIENTS)
			a->clients[a->n++] = c;
		else if (c >= 0)
			close(c);
		if (c >= 0 && a->held)
			hold_flush(a);
	}
}

void run_attach_end(struct run_attach *a, const char *dir, int status)
{
	char text[16];
	int n = snprintf(text, sizeof(text), "%d", status);

	/* A start -a whose client has not come yet: it gets a little while. */
	while (a->held && a->listen >= 0 && run_attach_timeout(a) > 0) {
		struct pollfd p[1 + RUN_ATTACH_CLIENTS];

		run_attach_poll(a, p);
		if (poll(p, 1, run_attach_timeout(a)) > 0)
			run_attach_handle(a, p);
	}
	hold_end(a);
	if (a->listen < 0)
		return;
	run_attach_send(a, ATTACH_EXIT, text, (size_t)n);
	for (size_t i = 0; i < a->n; i++)
		close(a->clients[i]);
	a->n = 0;
	close(a->listen);
	a->listen = -1;
	int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (dirfd >= 0) {
		unlinkat(dirfd, CTR_ATTACH_SOCK, 0);
		close(dirfd);
	}
}
