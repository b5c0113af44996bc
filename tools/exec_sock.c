/* SPDX-License-Identifier: MIT */
/* The exec server's socket, from the host's side (exec_sock.h). */
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "exec_sock.h"

int run_forker_listen(const char *dir)
{
	struct sockaddr_un sa;
	int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC), fd = -1;
	mode_t mask;

	if (dirfd < 0 || exec_sockaddr(dirfd, &sa) < 0)
		goto out;
	/* A launcher killed before leaves its socket behind. */
	unlinkat(dirfd, CTR_EXEC_SOCK, 0);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	mask = umask(0177); /* 0600: the container's owner alone */
	if (fd >= 0 && (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0)) {
		close(fd);
		fd = -1;
	}
	umask(mask);
out:
	if (dirfd >= 0)
		close(dirfd);
	return fd;
}

void run_forker_unlink(const char *dir)
{
	int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (dirfd >= 0) {
		unlinkat(dirfd, CTR_EXEC_SOCK, 0);
		close(dirfd);
	}
}

int ctr_exec_connect(const char *dir)
{
	struct sockaddr_un sa;
	int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC), fd = -1;

	if (dirfd >= 0 && exec_sockaddr(dirfd, &sa) == 0 &&
	    (fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) >= 0 &&
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		fd = -1;
	}
	if (dirfd >= 0)
		close(dirfd);
	return fd;
}
