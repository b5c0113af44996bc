/* SPDX-License-Identifier: MIT */
/* The attach socket's address (attach.h). */
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "attach.h"

int attach_sockaddr(int dirfd, struct sockaddr_un *sa)
{
	int n;

	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", dirfd,
	             CTR_ATTACH_SOCK);
	return n > 0 && (size_t)n < sizeof(sa->sun_path) ? 0 : -1;
}
