/* SPDX-License-Identifier: MIT */
/*
 * The daemon serving a mount, found from outside (daemon.c): its record,
 * written by strata_fuse_run() once the mount is live, and the processes
 * holding the mount's FUSE connection, which strata_unmount() waits for.
 * Private to libstrata-fs.
 */
#ifndef STRATA_DAEMON_H
#define STRATA_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Writes the record of this process (after daemonizing: the pid is final)
 * for the strata mount at @mountpoint; fills @path with its name, or
 * leaves it empty.  Best effort. */
void fs_daemon_record_write(const char *mountpoint, char *path, size_t size);
/* Removes the record at @path if it is still this process's. */
void fs_daemon_record_remove(const char *path);

#define DAEMONS_MAX 8

/* The processes serving a FUSE connection, pinned by pidfds. */
struct daemons {
	pid_t pid[DAEMONS_MAX];
	int fd[DAEMONS_MAX]; /* pidfds, -1 where none could be opened */
	int n;
};

/* Finds the processes holding connection @conn (a mount by user @uid)
 * open, and pins them. */
void fs_daemons_find(long conn, long uid, struct daemons *d);
/* Waits up to @timeout_ms milliseconds for every one to exit.  The pid of
 * one still running, or 0. */
pid_t fs_daemons_wait(struct daemons *d, unsigned timeout_ms);
void fs_daemons_close(struct daemons *d);
/* Sends SIGTERM to each (through its pidfd when it has one). */
void fs_daemons_term(struct daemons *d);

#endif
