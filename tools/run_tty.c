/* SPDX-License-Identifier: MIT */
/*
 * strata run -t: the command gets a pty of its own; the launcher puts the
 * caller's terminal in raw mode and copies bytes both ways, so ^C, ^Z and
 * window sizes reach the container's foreground job as on a real terminal.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "attach.h"
#include "cli.h"
#include "run.h"
#include "sys.h"

static volatile sig_atomic_t winch;

static void on_winch(int sig)
{
	(void)sig;
	winch = 1;
}

static void copy_winsize(int master)
{
	struct winsize ws;

	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
		ioctl(master, TIOCSWINSZ, &ws);
}

int run_tty_open(struct run_spec *spec, int *master)
{
	char *name;

	*master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*master < 0 || grantpt(*master) < 0 || unlockpt(*master) < 0 ||
	    !(name = ptsname(*master))) {
		cli_error("run: -t: no pty: %s", strerror(errno));
		return -1;
	}
	spec->console = strdup(name);
	/* Not O_CLOEXEC: the command inherits it through clone and fork. */
	spec->tty_slave = open(name, O_RDWR | O_NOCTTY);
	if (spec->tty_slave < 0 || !spec->console) {
		cli_error("run: -t: %s: %s", name, strerror(errno));
		return -1;
	}
	copy_winsize(*master);
	return 0;
}

bool run_tty_raw(struct termios *saved)
{
	struct termios raw;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, saved) < 0)
		return false;
	raw = *saved;
	cfmakeraw(&raw);
	return tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
}

/* Returns false once @from has nothing more to give. */
static bool pump(int from, int to)
{
	char buf[8192];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	return n > 0 && sys_write_all(to, buf, (size_t)n) == 0;
}

/* Our input to @master through the detach keys' matcher: false once
 * stdin has nothing more to give, or (*@detach set) on the keys. */
static bool pump_keys(int master, struct detach_keys *k, bool *detach)
{
	char buf[4096], out[sizeof(buf) + DETACH_KEYS_MAX];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
	size_t o;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	o = detach_keys_feed(k, buf, (size_t)n, out, detach);
	return sys_write_all(master, out, o) == 0 && !*detach;
}

int run_tty_proxy(int master, pid_t daemon, bool interactive, struct detach_keys *keys)
{
	struct sigaction sa = {.sa_handler = on_winch};
	struct termios saved;
	bool restore, in_open = interactive, out_open = true, detach = false;
	int st = 0;

	sigaction(SIGWINCH, &sa, NULL);
	restore = run_tty_raw(&saved);
	for (;;) {
		struct pollfd p[2] = {{master, out_open ? POLLIN : 0, 0},
		                      {STDIN_FILENO, in_open ? POLLIN : 0, 0}};

		if (winch) {
			winch = 0;
			copy_winsize(master);
		}
		if (waitpid(daemon, &st, WNOHANG) == daemon) {
			while (out_open && pump(master, STDOUT_FILENO) && poll(p, 1, 0) > 0)
				;
			break;
		}
		if (poll(p, 2, 100) <= 0)
			continue;
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
			out_open = pump(master, STDOUT_FILENO);
		if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) && keys && keys->len)
			in_open = pump_keys(master, keys, &detach);
		else if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
			in_open = pump(STDIN_FILENO, master);
		if (detach)
			break;
	}
	if (restore)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	if (detach)
		return RUN_TTY_DETACHED;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
