/* SPDX-License-Identifier: MIT */
/*
 * strata_unmount(): unmount a strata mount and wait until the daemon that
 * served it has exited, so that its upper is no longer written when the
 * caller goes on (remounts it, commits it, removes it).  The daemon is
 * found before unmounting: afterwards nothing names its connection.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "strata-fs.h"
#include "sys.h"

static int run_fusermount(const char *path, bool lazy)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", lazy ? "-uqz" : "-uq", "--", path,
		       (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* Root unmounts itself; others through fusermount3, which checks that the
 * mount is theirs (user_id). */
static int detach(const char *path, const char *name, bool lazy, struct strata_error *err)
{
	int rc;

	if (geteuid() == 0) {
		if (umount2(path, lazy ? MNT_DETACH : 0) == 0)
			return 0;
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", name,
		                   errno == EBUSY ? "busy (a process uses it; try --lazy)"
		                                  : strerror(errno));
	}
	rc = run_fusermount(path, lazy);
	if (rc == 0)
		return 0;
	return strata_fail(err, STRATA_ERR_SYS, rc == 127 ? ENOENT : EBUSY,
	                   "%s: fusermount3 could not unmount it%s", name,
	                   rc == 127 ? " (is fuse3 installed?)" : " (busy? try --lazy)");
}

/*
 * A mount namespace made while the mount existed (`unshare -m`, a container
 * being set up, another test's sandbox) holds a copy of it, and the kernel
 * keeps the connection, and the daemon serving it, until the last copy
 * goes: unmounting here does not end it.  The user asked for the mount to
 * go, and its upper to be left alone: after a grace period, a daemon whose
 * mount is no longer here is told to end (SIGTERM, its clean exit), and
 * the copies elsewhere read ENOTCONN from then on.
 */
static unsigned grace_ms(unsigned timeout)
{
	return timeout < 4 ? timeout * 500 : 2000;
}

static bool still_here(const char *mountpoint, long conn)
{
	long now = -1;

	return sys_find_mount(mountpoint, "fuse.strata", &now, NULL) == 1 && now == conn;
}

int strata_unmount(const char *mountpoint, const struct strata_unmount_options *o,
                   struct strata_error *err)
{
	const char *name = o->name ? o->name : mountpoint;
	struct daemons d = {.n = 0};
	long conn = -1, uid = -1;
	pid_t left;
	int ended = 0, found = sys_find_mount(mountpoint, "fuse.strata", &conn, &uid);

	if (found == 0)
		return strata_fail(err, STRATA_ERR_USAGE, EINVAL, "%s: not a strata mount", name);
	/* found < 0: mountinfo unreadable; let the unmount itself decide. */
	if (!o->lazy && o->timeout > 0)
		fs_daemons_find(conn, uid, &d);
	if (detach(mountpoint, name, o->lazy, err) < 0) {
		fs_daemons_close(&d);
		return -1;
	}
	left = d.n > 0 ? fs_daemons_wait(&d, grace_ms(o->timeout)) : 0;
	if (left && !still_here(mountpoint, conn)) {
		fs_daemons_term(&d);
		ended = 1;
		left = fs_daemons_wait(&d, o->timeout * 1000 - grace_ms(o->timeout));
	}
	fs_daemons_close(&d);
	if (left)
		return strata_fail(err, STRATA_ERR_SYS, ETIMEDOUT,
		                   "umount: %s: daemon (pid %ld) still running after %u s", name,
		                   (long)left, o->timeout);
	return ended;
}
