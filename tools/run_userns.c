/* SPDX-License-Identifier: MIT */
/*
 * User namespace id maps: who is who inside a container (and inside the
 * namespace `strata rm` uses to remove files owned by subordinate ids).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run.h"
#include "strata-store.h"

/* ---- why there is no user namespace ---- */

/* The first line of a /proc/sys file, or "" when it cannot be read. */
static const char *sysctl_text(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");

	buf[0] = '\0';
	if (f) {
		if (fgets(buf, (int)size, f))
			buf[strcspn(buf, "\n")] = '\0';
		fclose(f);
	}
	return buf;
}

/* clone(CLONE_NEWUSER) failed with @err: name the setting that forbids it,
 * so the user knows what to change, not just that "space" ran out. */
const char *run_userns_unavailable(int err)
{
	char v[32];

	switch (err) {
	case EINVAL:
		return "this kernel has no user namespaces (CONFIG_USER_NS)";
	case ENOSPC:
		if (strcmp(sysctl_text("/proc/sys/user/max_user_namespaces", v, sizeof(v)), "0") ==
		    0)
			return "user namespaces are disabled (sysctl user.max_user_namespaces = 0)";
		/* The limit hit may be an enclosing namespace's: no number. */
		return "too many user namespaces (sysctl user.max_user_namespaces, here or in an "
		       "enclosing user namespace)";
	case EUSERS:
		return "user namespaces nest 32 deep at most, and this one is";
	case EPERM:
		if (strcmp(sysctl_text("/proc/sys/kernel/unprivileged_userns_clone", v, sizeof(v)),
		           "0") == 0)
			return "unprivileged user namespaces are disabled (sysctl "
			       "kernel.unprivileged_userns_clone = 0)";
		if (strcmp(sysctl_text("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", v,
		                       sizeof(v)),
		           "1") == 0)
			return "AppArmor restricts unprivileged user namespaces (sysctl "
			       "kernel.apparmor_restrict_unprivileged_userns = 1)";
		return "not permitted here (a chroot, or a seccomp filter that forbids them?)";
	default:
		return strerror(err);
	}
}

/* ---- user namespace maps ---- */

/* "name:start:count" in /etc/subuid or /etc/subgid, for our user. */
static bool subid_range(const char *file, const char *user, unsigned long id, unsigned long *start,
                        unsigned long *count)
{
	FILE *f = fopen(file, "re");
	char line[256], idtext[32];
	bool found = false;

	if (!f)
		return false;
	snprintf(idtext, sizeof(idtext), "%lu", id);
	while (!found && fgets(line, sizeof(line), f)) {
		char *name = strtok(line, ":"), *s = strtok(NULL, ":"), *c = strtok(NULL, ":\n");

		if (name && s && c && (strcmp(name, user) == 0 || strcmp(name, idtext) == 0)) {
			*start = strtoul(s, NULL, 10);
			*count = strtoul(c, NULL, 10);
			found = *count > 0;
		}
	}
	fclose(f);
	return found;
}

static int run_idmap_tool(const char *tool, pid_t pid, unsigned long id, unsigned long start,
                          unsigned long count)
{
	char p[32], a[32], b[32], c[32];
	pid_t child;
	int st;

	snprintf(p, sizeof(p), "%ld", (long)pid);
	snprintf(a, sizeof(a), "%lu", id);
	snprintf(b, sizeof(b), "%lu", start);
	snprintf(c, sizeof(c), "%lu", count);
	child = fork();
	if (child == 0) {
		execlp(tool, tool, p, "0", a, "1", "1", b, c, (char *)NULL);
		_exit(127);
	}
	return child > 0 && waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0
	           ? 0
	           : -1;
}

static int write_proc(pid_t pid, const char *file, const char *text)
{
	char path[64];
	int fd, rc;

	/* These files take one write(2) of the whole text, in place. */
	snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -1;
	close(fd);
	return rc;
}

/* Root maps every id; a user with a subordinate range gets it through the
 * setuid newuidmap/newgidmap; anyone else maps just their own id to root
 * (the upper layer's xattrs then keep other owners). */
int run_write_id_maps(pid_t pid, uid_t uid, gid_t gid)
{
	unsigned long us, uc, gs, gc;
	struct passwd *pw;
	const char *user;
	char text[64];

	if (uid == 0)
		return write_proc(pid, "uid_map", "0 0 4294967295") ||
		       write_proc(pid, "gid_map", "0 0 4294967295");
	/* /etc/subuid names users; newuidmap checks by the same name.  Looked
	 * up only where there is a /etc/subuid: the NSS set-up it takes
	 * (nsswitch.conf, nscd's socket, modules) is on every start's path. */
	pw = access("/etc/subuid", R_OK) == 0 ? getpwuid(uid) : NULL;
	user = pw ? pw->pw_name : getenv("USER") ?: getenv("LOGNAME") ?: "";
	if (subid_range("/etc/subuid", user, uid, &us, &uc) &&
	    subid_range("/etc/subgid", user, uid, &gs, &gc) &&
	    run_idmap_tool("newuidmap", pid, uid, us, uc) == 0) {
		/* uid_map can be written once: no falling back after this. */
		if (run_idmap_tool("newgidmap", pid, gid, gs, gc) == 0)
			return 0;
		errno = EPERM;
		return -1;
	}
	snprintf(text, sizeof(text), "0 %lu 1", (unsigned long)uid);
	if (write_proc(pid, "uid_map", text) || write_proc(pid, "setgroups", "deny"))
		return -1;
	snprintf(text, sizeof(text), "0 %lu 1", (unsigned long)gid);
	return write_proc(pid, "gid_map", text);
}

/* A process in new namespaces: clone() without CLONE_VM, so the child runs
 * on its own copy of this stack (mmap'd, 8 MiB like a main thread's: the
 * daemon serves FUSE from it, and sanitizer builds need the room). */
pid_t run_clone(int (*fn)(void *), void *arg, int flags)
{
	const size_t size = 8u << 20;
	char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE,
	                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	pid_t pid;
	int en;

	if (stack == MAP_FAILED)
		return -1;
	pid = clone(fn, stack + size, flags, arg);
	en = errno;
	munmap(stack, size);
	errno = en;
	return pid;
}

struct userns_rm {
	int pipe[2]; /* parent → child: the maps are written */
	char path[PATH_MAX];
};

static int remove_in_child(void *arg)
{
	struct userns_rm *rm = arg;
	char go;

	close(rm->pipe[1]);
	if (read(rm->pipe[0], &go, 1) != 1)
		return 1;
	return store_remove_tree(rm->path, NULL) == 0 ? 0 : 1;
}

/* A container run with subordinate ids leaves files its owner cannot
 * remove from outside: remove them again from inside a user namespace with
 * the same map, where those ids are ours. */
int run_remove_in_userns(const char *path)
{
	struct userns_rm *arg = malloc(sizeof(*arg));
	pid_t pid;
	int st, rc = -1;

	if (!arg || pipe2(arg->pipe, O_CLOEXEC) < 0)
		goto out;
	snprintf(arg->path, sizeof(arg->path), "%s", path);
	pid = run_clone(remove_in_child, arg, CLONE_NEWUSER | SIGCHLD);
	if (pid < 0)
		goto out;
	close(arg->pipe[0]);
	if (run_write_id_maps(pid, getuid(), getgid()) == 0)
		(void)write(arg->pipe[1], "g", 1);
	close(arg->pipe[1]);
	if (waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		rc = 0;
out:
	free(arg);
	return rc;
}
