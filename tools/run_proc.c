/* SPDX-License-Identifier: MIT */
/*
 * The container's command, just before its exec: its user, capabilities,
 * terminal, no_new_privs and seccomp filter.  strata run's command
 * (run_init.c) and strata exec's (run_exec.c) go through the same calls, so
 * that a process joining a container never holds more than the container's
 * own command did.
 *
 * Built without AddressSanitizer (tools/meson.build): it runs inside the
 * container's root, where the host's files are out of reach.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/close_range.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "run.h"
#include "run_seccomp.h"

/* The image's own files, parsed directly: NSS would load the host's
 * libnss modules from inside the image (or fail to). */
static struct passwd *find_user(const char *name)
{
	FILE *f = fopen("/etc/passwd", "re");
	bool numeric = *name && strspn(name, "0123456789") == strlen(name);
	struct passwd *pw = NULL;

	while (f && (pw = fgetpwent(f)))
		if (strcmp(pw->pw_name, name) == 0 ||
		    (numeric && pw->pw_uid == strtoul(name, NULL, 10)))
			break;
	if (f)
		fclose(f);
	return pw;
}

static struct group *find_group(const char *name)
{
	FILE *f = fopen("/etc/group", "re");
	struct group *gr = NULL;

	while (f && (gr = fgetgrent(f)))
		if (strcmp(gr->gr_name, name) == 0)
			break;
	if (f)
		fclose(f);
	return gr;
}

/* Says why in @why: -1. */
static int __attribute__((format(printf, 3, 4))) fail(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return -1;
}

static bool all_digits(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

int run_proc_user(const char *user, char *why, size_t size)
{
	uid_t uid = 0;
	gid_t gid = 0;
	char name[256], *colon;
	bool gid_given = false;
	struct passwd *pw;

	if (!user)
		return 0;
	snprintf(name, sizeof(name), "%s", user);
	if ((colon = strchr(name, ':'))) {
		struct group *gr;

		*colon++ = '\0';
		gid_given = true;
		if ((gr = find_group(colon)))
			gid = gr->gr_gid;
		else if (all_digits(colon))
			gid = (gid_t)strtoul(colon, NULL, 10);
		else
			return fail(why, size, "-u %s: no group '%s' in the image", user, colon);
	}
	/* The image's /etc/passwd: we are already inside its root. */
	pw = find_user(name);
	if (!pw && all_digits(name))
		uid = (uid_t)strtoul(name, NULL, 10);
	else if (!pw)
		return fail(why, size, "-u %s: no user '%s' in the image's /etc/passwd", user,
		            name);
	if (pw) {
		uid = pw->pw_uid;
		if (!gid_given)
			gid = pw->pw_gid;
		if (!getenv("HOME") || strcmp(getenv("HOME"), "/root") == 0)
			setenv("HOME", pw->pw_dir, 1);
	}
	if (setgroups(0, NULL) < 0 && errno != EPERM)
		return fail(why, size, "setgroups: %s", strerror(errno));
	if (setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return fail(why, size, "-u %s: %s (is that id mapped into the container?)", user,
		            strerror(errno));
	return 0;
}

/* Root in the container keeps @mask (docker's default set unless changed
 * with --cap-add/--cap-drop), dropped from the bounding set too so that no
 * setuid or file-capability binary can get the rest back. */
void run_proc_bound(uint64_t mask)
{
	for (int cap = 0; cap <= 63; cap++)
		if (!(mask & (1ULL << cap)) && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1)
			prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
}

static void drop_capabilities(uint64_t mask, bool bounded)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2] = {{0}};

	if (!bounded)
		run_proc_bound(mask);
	if (syscall(SYS_capget, &hdr, data) < 0)
		return;
	for (int i = 0; i < 2; i++) {
		uint32_t m = (uint32_t)(mask >> (32 * i));

		data[i].effective &= m;
		data[i].permitted &= m;
		data[i].inheritable &= m;
	}
	syscall(SYS_capset, &hdr, data);
}

/* --ulimit: the launcher raised the hard limits that are above ours
 * (run_ulimits_raise()); lowering needs no privilege.  Before the user
 * changes: RLIMIT_NPROC counts the new user's processes. */
static int set_ulimits(const struct run_spec *spec, char *why, size_t size)
{
	for (size_t i = 0; i < spec->n_ulimits; i++) {
		const struct run_ulimit *u = &spec->ulimits[i];
		struct rlimit rl = {(rlim_t)u->soft, (rlim_t)u->hard};

		if (setrlimit(u->resource, &rl) < 0)
			return fail(why, size, "--ulimit %s: %s", run_ulimit_name(u->resource),
			            strerror(errno));
	}
	return 0;
}

int run_proc_confine(const struct run_spec *spec, char *why, size_t size)
{
	/* Nothing but stdio goes through the exec: the daemon's fds (an O_PATH
	 * fd of the upper, on the host, leads out of the root by "..") and the
	 * caller's.  Close-on-exec, as the started pipe of -d is closed by the
	 * exec itself (run.h). */
	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		return fail(why, size, "close_range: %s", strerror(errno));
	if (set_ulimits(spec, why, size) < 0)
		return -1;
	if (run_proc_user(spec->user, why, size) < 0)
		return -1;
	drop_capabilities(spec->caps, spec->caps_bounded);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	/* Last: every call above is one the filter may forbid. */
	if (run_seccomp_install(&spec->seccomp) < 0)
		return fail(why, size, "seccomp filter: %s", strerror(errno));
	return 0;
}

int run_proc_tty(const struct run_spec *spec, char *why, size_t size)
{
	int in = spec->interactive ? spec->tty_slave : open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (setsid() < 0 || ioctl(spec->tty_slave, TIOCSCTTY, 0) < 0)
		return fail(why, size, "controlling terminal: %s", strerror(errno));
	if (in < 0 || dup2(in, 0) < 0 || dup2(spec->tty_slave, 1) < 0 ||
	    dup2(spec->tty_slave, 2) < 0)
		return fail(why, size, "terminal: %s", strerror(errno));
	if (spec->tty_slave > 2)
		close(spec->tty_slave);
	return 0;
}

void run_proc_vsay(const char *cmd, const char *fmt, va_list ap)
{
	char msg[PATH_MAX + 256];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	dprintf(2, "strata: %s: %s\n", cmd, msg);
}
