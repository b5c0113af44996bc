/* SPDX-License-Identifier: MIT */
/*
 * strata exec's fast path: the container's exec server (run_forker.c), a
 * process inside the container made as it starts, already in every one of
 * its namespaces and cgroups and under its seccomp filter, forks the
 * commands strata exec asks for (ctr_exec_fast.c), so that an exec pays
 * neither setns nor the filter's 0.8 ms, and its orphans are the
 * container's init's.
 *
 * The socket is CTR_EXEC_SOCK in the container's directory, unix
 * SOCK_SEQPACKET, mode 0600, bound by the launcher before the container
 * starts.  One connection, one command:
 *
 *   client → server   a struct exec_req and its strings in one packet
 *                     (at most EXEC_REQ_MAX bytes), with the command's
 *                     stdin, stdout and stderr (or the pty's slave, -t)
 *                     as SCM_RIGHTS
 *                     'k' + int32 signal: send it to the command
 *   server → client   'r' + 0: the command is forked (before it, the
 *                     connection's end means nothing ran: strata exec
 *                     takes the setns path)
 *                     's' + 0: -d, the command's exec went through
 *                     'e' + STATUS: -d, it did not (it said why)
 *                     'x' + STATUS: it ended, with that exit status
 *
 * The server forks a session per connection, which forks the command and
 * waits: the client's end of the connection closing lets the command go
 * on, the container's init's (as after exec -it's detach keys).
 */
#ifndef STRATA_EXEC_SOCK_H
#define STRATA_EXEC_SOCK_H

#include <stdint.h>

#define CTR_EXEC_SOCK "exec.sock"
#define EXEC_REQ_MAX  (64 * 1024)
#define EXEC_REQ_V1   0x73787631u /* "1vxs" */

enum {
	EXEC_F_INTERACTIVE = 1, /* -i: stdin is the client's */
	EXEC_F_TTY = 2,         /* -t: one fd, the pty's slave */
	EXEC_F_DETACH = 4,      /* -d: 's' or 'e' once started, then gone */
	EXEC_F_USER = 8,        /* a user string follows (else the root) */
	EXEC_F_WORKDIR = 16,    /* a directory follows (else /) */
};

/* Followed by [user NUL] [workdir NUL] argc strings, envc strings. */
struct exec_req {
	uint32_t version;
	uint32_t flags;
	uint32_t argc, envc;
};

struct exec_msg {
	char type; /* 'k' 'r' 's' 'e' 'x' */
	int32_t value;
};

/* The path to bind or connect to, as attach_sockaddr() (attach.h). */
struct sockaddr_un;
int exec_sockaddr(int dirfd, struct sockaddr_un *sa);

/* In the launcher: the exec server's socket, bound in the container's
 * directory @dir and listening: the fd, or -1 (exec then takes the setns
 * path; nothing said). */
int run_forker_listen(const char *dir);
/* Once the container ended: its socket's name gone. */
void run_forker_unlink(const char *dir);
/* strata exec: a connection to the exec server of the container in
 * @dir, or -1 when it has none (or it is gone). */
int ctr_exec_connect(const char *dir);

#endif
