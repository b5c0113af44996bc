/* SPDX-License-Identifier: MIT */
/* The attach and exec sockets' addresses (attach.h, exec_sock.h). */
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "attach.h"
#include "exec_sock.h"

static int sockaddr_in_dir(int dirfd, const char *name, struct sockaddr_un *sa)
{
	int n;

	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", dirfd, name);
	return n > 0 && (size_t)n < sizeof(sa->sun_path) ? 0 : -1;
}

int attach_sockaddr(int dirfd, struct sockaddr_un *sa)
{
	return sockaddr_in_dir(dirfd, CTR_ATTACH_SOCK, sa);
}

int exec_sockaddr(int dirfd, struct sockaddr_un *sa)
{
	return sockaddr_in_dir(dirfd, CTR_EXEC_SOCK, sa);
}
