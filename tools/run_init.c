/* SPDX-License-Identifier: MIT */
/*
 * The container's init: pid 1 of a new pid namespace, in a copy of the
 * daemon's mount namespace where the image is mounted.  It builds the root
 * (binds, /proc, /dev, /sys, /etc files), pivots into it and detaches the
 * old root, then starts the command and stays as a tiny init: it reaps
 * zombies, forwards the signals the launcher sends, and exits with the
 * command's status.
 *
 * Security reasoning: every path inside the image is resolved with
 * openat2(RESOLVE_IN_ROOT), so a symlink in the image (/etc -> /host/etc)
 * can never make us mount over, or create, something on the host.  After
 * pivot_root the old root is unmounted (MNT_DETACH): nothing of the host is
 * reachable but what -v binds.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "run.h"
#include "run_seccomp.h"

extern char **environ;

static int root_fd = -1;    /* the image's root, before pivot_root */
static int made_fd = -1;    /* where to report the mount points we make */
static int started_fd = -1; /* -d: 'e' here when the command cannot start */
static int msg_fd = 2;      /* where die() says why */
static int cloned_fd = -1;  /* the command's word that the exec server is cloned */

/* Mount points made in the writable layer are not the container's
 * changes: the launcher records them for diff and commit to leave out. */
static void report_made(const char *path)
{
	char line[PATH_MAX + 2];
	int n;

	while (*path == '/')
		path++;
	n = snprintf(line, sizeof(line), "%s\n", path);
	if (made_fd >= 0 && n > 0 && n < (int)sizeof(line))
		(void)!write(made_fd, line, (size_t)n);
}

static int __attribute__((format(printf, 1, 2))) die(const char *fmt, ...)
{
	char msg[PATH_MAX + 256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n > (int)sizeof(msg) - 2)
		n = (int)sizeof(msg) - 2;
	msg[n++] = '\n';
	(void)!write(msg_fd, "strata: run: ", 13);
	(void)!write(msg_fd, msg, (size_t)n);
	if (started_fd >= 0)
		(void)!write(started_fd, "e", 1);
	_exit(1);
}

/* @path inside the image, never leaving it. */
static int open_in_root(const char *path, int flags)
{
	struct open_how how = {
	    .flags = (uint64_t)(flags | O_CLOEXEC),
	    .mode = (flags & O_CREAT) ? 0644 : 0,
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};

	while (*path == '/')
		path++;
	return (int)syscall(SYS_openat2, root_fd, *path ? path : ".", &how, sizeof(how));
}

/* mkdir -p inside the image. */
static void mkdirs_in_root(const char *path)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			int fd;

			*p = '\0';
			fd = open_in_root(buf, O_PATH | O_DIRECTORY);
			if (fd < 0) {
				char *slash = strrchr(buf, '/');
				int parent;

				*slash = '\0';
				parent = open_in_root(*buf ? buf : "/", O_PATH | O_DIRECTORY);
				*slash = '/';
				if (parent < 0 ||
				    (mkdirat(parent, slash + 1, 0755) < 0 && errno != EEXIST))
					die("%s: cannot create it in the image: %s", buf,
					    strerror(errno));
				else
					report_made(buf);
				close(parent);
			} else {
				close(fd);
			}
			*p = c;
			if (!c)
				break;
		}
	}
}

/* A mount point inside the image: a directory, or a file for file binds. */
static int mount_target(const char *path, bool dir, bool create)
{
	int fd;

	if (create) {
		char parent[PATH_MAX];

		snprintf(parent, sizeof(parent), "%s", path);
		*strrchr(parent, '/') = '\0';
		if (*parent)
			mkdirs_in_root(parent);
		if (dir)
			mkdirs_in_root(path);
	}
	fd = open_in_root(path, dir ? O_PATH | O_DIRECTORY : O_PATH);
	if (fd < 0 && !dir && create) {
		int w = open_in_root(path, O_WRONLY | O_CREAT | O_EXCL);

		if (w >= 0) {
			report_made(path);
			close(w);
		}
		fd = open_in_root(path, O_PATH);
	}
	return fd;
}

static void mount_at(int target, const char *src, const char *type, unsigned long flags,
                     const char *data, const char *what)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", target);
	if (mount(src, proc, type, flags, data) < 0)
		die("%s: %s", what, strerror(errno));
}

static void write_file_at(int dir, const char *name, const char *text, size_t len)
{
	int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		die("/etc/%s: %s", name, strerror(errno));
	close(fd);
}

/* Read-only bind remounts must repeat the flags the kernel locked on the
 * source mount (nosuid, nodev, ...) or a user namespace gets EPERM. */
static void remount_ro_at(int target, const char *what, bool recursive)
{
	static const struct {
		unsigned long st, ms;
	} map[] = {{ST_NOSUID, MS_NOSUID},         {ST_NODEV, MS_NODEV},
	           {ST_NOEXEC, MS_NOEXEC},         {ST_NOATIME, MS_NOATIME},
	           {ST_NODIRATIME, MS_NODIRATIME}, {ST_RELATIME, MS_RELATIME}};
	unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY;
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
	struct statvfs sv;

	/* Recursively where the kernel can (5.12+): a writable mount below a
	 * read-only bind would be a way out of it. */
	if (mount_setattr(target, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr,
	                  sizeof(attr)) == 0)
		return;
	if (fstatvfs(target, &sv) == 0)
		for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (sv.f_flag & map[i].st)
				flags |= map[i].ms;
	mount_at(target, NULL, NULL, flags, NULL, what);
}

/* Binds are read-only all the way down; the root alone is not (/proc,
 * /dev/shm and writable -v binds below it stay as they are). */
static void remount_ro(int target, const char *what)
{
	remount_ro_at(target, what, true);
}

/* --mount's bind-propagation, within the container's mount namespace. */
static void set_propagation(const struct run_bind *b)
{
	int t = open_in_root(b->dst, O_PATH);

	if (t < 0)
		die("%s: %s", b->dst, strerror(errno));
	mount_at(t, NULL, NULL, b->flags, NULL, b->dst);
	close(t);
}

/* A bind of the host's @b->src (-v, --mount type=bind, --device) at
 * @b->dst, made in the image where it is missing. */
static void bind_one(const struct run_bind *b, const char *what)
{
	struct stat st;
	int t;

	if (stat(b->src, &st) < 0)
		die("%s %s: %s", what, b->src, strerror(errno));
	t = mount_target(b->dst, S_ISDIR(st.st_mode), true);
	if (t < 0)
		die("%s %s:%s: %s", what, b->src, b->dst, strerror(errno));
	mount_at(t, b->src, NULL, MS_BIND | MS_REC, NULL, b->dst);
	close(t);
	if (b->ro) {
		t = open_in_root(b->dst, O_PATH);
		remount_ro(t, b->dst);
		close(t);
	}
	if (b->flags)
		set_propagation(b);
}

/* --tmpfs and --mount type=tmpfs. */
static void tmpfs_one(const struct run_bind *b)
{
	int t = mount_target(b->dst, true, true);

	if (t < 0)
		die("--tmpfs %s: %s", b->dst, strerror(errno));
	mount_at(t, "tmpfs", "tmpfs", b->flags, b->data, b->dst);
	close(t);
}

/* The binds and tmpfs mounts, in the order given; devices come after
 * /dev (setup_devices()). */
static void setup_binds(const struct run_spec *spec)
{
	for (size_t i = 0; i < spec->n_binds; i++) {
		const struct run_bind *b = &spec->binds[i];

		if (b->kind == RUN_MOUNT_BIND)
			bind_one(b, "-v");
		else if (b->kind == RUN_MOUNT_TMPFS)
			tmpfs_one(b);
	}
}

/* --device: the host's node bound over a file made in /dev's tmpfs (a
 * user namespace cannot mknod). */
static void setup_devices(const struct run_spec *spec)
{
	for (size_t i = 0; i < spec->n_binds; i++)
		if (spec->binds[i].kind == RUN_MOUNT_DEVICE)
			bind_one(&spec->binds[i], "--device");
}

static void setup_dev(const char *console)
{
	static const char *const devices[] = {"null", "zero", "full", "random", "urandom", "tty"};
	char src[64];
	int dev = mount_target("/dev", true, true), fd;

	if (dev < 0)
		die("/dev: %s", strerror(errno));
	mount_at(dev, "tmpfs", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536k", "/dev");
	close(dev);
	dev = open_in_root("/dev", O_PATH | O_DIRECTORY);
	/* Device nodes cannot be made in a user namespace: bind the host's. */
	for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
		fd = openat(dev, devices[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
		if (fd < 0)
			die("/dev/%s: %s", devices[i], strerror(errno));
		close(fd);
		fd = openat(dev, devices[i], O_PATH | O_CLOEXEC);
		snprintf(src, sizeof(src), "/dev/%s", devices[i]);
		mount_at(fd, src, NULL, MS_BIND, NULL, src);
		close(fd);
	}
	if (mkdirat(dev, "pts", 0755) == 0 && (fd = openat(dev, "pts", O_PATH | O_CLOEXEC)) >= 0) {
		mount_at(fd, "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
		         "newinstance,ptmxmode=0666,mode=620", "/dev/pts");
		close(fd);
		(void)symlinkat("pts/ptmx", dev, "ptmx");
	}
	if (mkdirat(dev, "shm", 01777) == 0 && (fd = openat(dev, "shm", O_PATH | O_CLOEXEC)) >= 0) {
		mount_at(fd, "shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=65536k",
		         "/dev/shm");
		close(fd);
	}
	if (console && (fd = openat(dev, "console", O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) >= 0) {
		close(fd);
		fd = openat(dev, "console", O_PATH | O_CLOEXEC);
		mount_at(fd, console, NULL, MS_BIND, NULL, "/dev/console");
		close(fd);
	}
	(void)symlinkat("/proc/self/fd", dev, "fd");
	(void)symlinkat("/proc/self/fd/0", dev, "stdin");
	(void)symlinkat("/proc/self/fd/1", dev, "stdout");
	(void)symlinkat("/proc/self/fd/2", dev, "stderr");
	close(dev);
}

/* What runc protects in /proc: the kernel's tunables read-only (for a
 * container run by real root, /proc/sys is the host's), a few files that
 * leak host state masked with /dev/null.  Missing ones are skipped. */
static void protect_proc(void)
{
	static const char *const read_only[] = {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq",
	                                        "/proc/bus", "/proc/fs"};
	static const char *const masked[] = {"/proc/kcore", "/proc/keys", "/proc/timer_list",
	                                     "/proc/sched_debug", "/proc/latency_stats"};
	char proc[64];

	for (size_t i = 0; i < sizeof(read_only) / sizeof(read_only[0]); i++) {
		int t = open_in_root(read_only[i], O_PATH);

		if (t < 0)
			continue;
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t);
		if (mount(proc, proc, NULL, MS_BIND | MS_REC, NULL) == 0) {
			/* The fd still names what was under the bind: reopen. */
			close(t);
			t = open_in_root(read_only[i], O_PATH);
			if (t >= 0)
				remount_ro(t, read_only[i]);
		}
		if (t >= 0)
			close(t);
	}
	for (size_t i = 0; i < sizeof(masked) / sizeof(masked[0]); i++) {
		int t = open_in_root(masked[i], O_PATH);

		if (t < 0)
			continue;
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t);
		(void)mount("/dev/null", proc, NULL, MS_BIND, NULL);
		close(t);
	}
}

/* /etc/hosts, /etc/hostname and /etc/resolv.conf, written into @dir. */
static void write_etc_files(int dir, const struct run_spec *spec)
{
	char text[4096 + 1];
	ssize_t n = 0;
	int fd;

	snprintf(text, sizeof(text),
	         "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n127.0.1.1\t%s\n",
	         spec->hostname);
	write_file_at(dir, "hosts", text, strlen(text));
	snprintf(text, sizeof(text), "%s\n", spec->hostname);
	write_file_at(dir, "hostname", text, strlen(text));
	/* The host's resolvers (we still see the host's /etc), unless the
	 * container has no network (pasta's reaches what the host's does). */
	fd = spec->net_none && !spec->net ? -1 : open("/etc/resolv.conf", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, text, 4096);
		close(fd);
	}
	write_file_at(dir, "resolv.conf", text, n > 0 ? (size_t)n : 0);
}

/* The /etc files live in a tmpfs of their own, bound over the image's
 * (made in the writable layer as mount points where the image has none).
 * Not files in the container's directory: creating them on the host's
 * disk, and removing them after --rm, cost more than all the rest of the
 * launcher's set-up (some 40 us per create or unlink on ext4).  The tmpfs
 * needs a directory to be mounted on: the /proc mount point, @proc, before
 * proc covers it.  Lazily unmounted once bound, it lives on in the binds
 * alone, and a write to /etc/hosts in the container stays in memory. */
static void setup_etc(const struct run_spec *spec, int proc)
{
	static const char *const files[] = {"hosts", "hostname", "resolv.conf"};
	char dst[64], src[64];
	int dir;

	mount_at(proc, "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755,size=1m",
	         "/etc files");
	/* The fd names what lies under the new mount: reopen to be on it. */
	dir = open_in_root("/proc", O_PATH | O_DIRECTORY);
	if (dir < 0)
		die("/etc files: %s", strerror(errno));
	write_etc_files(dir, spec);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		int f = openat(dir, files[i], O_PATH | O_CLOEXEC), t;

		snprintf(dst, sizeof(dst), "/etc/%s", files[i]);
		t = mount_target(dst, false, true);
		if (f < 0 || t < 0) {
			/* read-only image without the file: nothing to cover */
			if (f >= 0)
				close(f);
			if (t >= 0)
				close(t);
			continue;
		}
		snprintf(src, sizeof(src), "/proc/self/fd/%d", f);
		mount_at(t, src, NULL, MS_BIND, NULL, dst);
		close(f);
		close(t);
	}
	snprintf(src, sizeof(src), "/proc/self/fd/%d", dir);
	if (umount2(src, MNT_DETACH) < 0)
		die("/etc files: unmounting the tmpfs: %s", strerror(errno));
	close(dir);
}

/* /proc, its protections, /sys; and the /etc files on the way. */
static void setup_proc_sys_etc(const struct run_spec *spec)
{
	int t = mount_target("/proc", true, true);

	if (t < 0)
		die("/proc: %s", strerror(errno));
	setup_etc(spec, t);
	mount_at(t, "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "/proc");
	close(t);
	protect_proc();
	/* A fresh sysfs needs our own network namespace; otherwise the host's,
	 * read-only.  Where neither works (/sys locked down), no /sys. */
	t = mount_target("/sys", true, true);
	if (t < 0)
		return;
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t);
	if (mount("sysfs", proc, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 &&
	    mount("/sys", proc, NULL, MS_BIND | MS_REC, NULL) == 0) {
		int s = open_in_root("/sys", O_PATH);

		remount_ro(s, "/sys");
		close(s);
	}
	close(t);
}

static void pivot(const struct run_spec *spec)
{
	if (chdir(spec->rootfs) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		die("pivot_root: %s", strerror(errno));
	/* The old root now sits under the new one: detach it, whole. */
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		die("detaching the old root: %s", strerror(errno));
}

/* ---- the command ---- */

static void __attribute__((noreturn)) exec_command(const struct run_spec *spec)
{
	char why[PATH_MAX + 128];
	sigset_t all;

	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (spec->detach) {
		/* The caller's stderr, for why the command cannot start; gone
		 * with the exec. */
		msg_fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
		if (msg_fd < 0)
			msg_fd = 2;
		if (dup2(spec->detach->out[1], 1) < 0 || dup2(spec->detach->err[1], 2) < 0)
			die("the log's pipes: %s", strerror(errno));
	}
	if (spec->tty_slave >= 0) {
		if (run_proc_tty(spec, why, sizeof(why)) < 0)
			die("%s", why);
	} else if (spec->detach && spec->detach->in[0] >= 0) {
		/* -d -i: the pipe the supervisor feeds from strata attach. */
		if (dup2(spec->detach->in[0], 0) < 0)
			die("stdin's pipe: %s", strerror(errno));
	} else if (!spec->interactive) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (null < 0 || dup2(null, 0) < 0)
			die("/dev/null: %s", strerror(errno));
	}
	environ = spec->env;
	/* As docker does, a working directory the image lacks is made. */
	if (spec->workdir && chdir(spec->workdir) < 0) {
		char path[PATH_MAX];

		for (char *p = strncpy(path, spec->workdir, sizeof(path) - 1) + 1; *p; p++)
			if (*p == '/') {
				*p = '\0';
				(void)mkdir(path, 0755);
				*p = '/';
			}
		path[sizeof(path) - 1] = '\0';
		if (mkdir(spec->workdir, 0755) < 0 && errno != EEXIST)
			die("-w %s: %s", spec->workdir, strerror(errno));
		if (chdir(spec->workdir) < 0)
			die("-w %s: %s", spec->workdir, strerror(errno));
	}
	/* The user, capabilities, no_new_privs and the filter, last. */
	if (run_proc_confine(spec, why, sizeof(why)) < 0)
		die("%s", why);
	execvp(spec->argv[0], spec->argv);
	int en = errno;

	dprintf(msg_fd, "strata: run: %s: %s\n", spec->argv[0],
	        en == ENOENT ? "command not found" : strerror(en));
	if (started_fd >= 0)
		(void)!write(started_fd, "e", 1);
	_exit(en == ENOENT ? 127 : 126);
}

/* pid 1: reap, forward, exit with the command's status. */
static int __attribute__((noreturn)) supervise(pid_t child, const sigset_t *set)
{
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(set, &si), st;
		pid_t p;

		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			/* Signals a terminal sends reach the command directly (same
			 * process group); the launcher's are forwarded. */
			if (si.si_code != SI_KERNEL)
				kill(child, sig);
			continue;
		}
		while ((p = waitpid(-1, &st, WNOHANG)) > 0)
			if (p == child)
				_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	}
}

/* --net none: a new network namespace has only lo, and it starts down. */
static void loopback_up(void)
{
	struct ifreq ifr = {.ifr_name = "lo"};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			fprintf(stderr, "strata: run: bringing up lo: %s\n", strerror(errno));
	}
	close(fd);
}

/* On cgroup v2 the launcher moves us into the container's cgroups while
 * we build the root: moving another process costs an RCU grace period,
 * which it waits out instead of us (on v1 we moved ourselves, without
 * one: run_init()).  All the command forks follows us in.  And it starts pasta on our network
 * namespace, so that the command's first bind is reachable.  Not done
 * ("e", or the launcher gone): the launcher said why. */
static void wait_gate(const struct run_spec *spec)
{
	char c = 0;

	if (!run_spec_gated(spec))
		return;
	close(spec->cgroup_pipe[1]);
	if (read(spec->cgroup_pipe[0], &c, 1) != 1 || c != 'g') {
		/* -d: not started (an exit alone would look like an exec). */
		if (started_fd >= 0)
			(void)!write(started_fd, "e", 1);
		_exit(1);
	}
	close(spec->cgroup_pipe[0]);
}

/* The init keeps no fd but stdio and @keep (or none, -1) once the command
 * is forked: what it holds from the daemon and the launcher (/dev/fuse,
 * O_PATH fds of the upper, which is on the host: ".." from one leads out of
 * the root) would be open to a command given CAP_SYS_PTRACE, through
 * /proc/1/fd/N. */
static void close_all_but(int keep)
{
	if (keep < 0) {
		syscall(SYS_close_range, 3U, ~0U, 0);
		return;
	}
	if (keep > 3)
		syscall(SYS_close_range, 3U, (unsigned)keep - 1, 0);
	syscall(SYS_close_range, (unsigned)keep + 1, ~0U, 0);
}

/* The command's process until its exec: waits for the init's word.  A
 * command forked before pivot_root had its root moved to the new one by
 * the kernel with the init's (pivot_root(2): every process of the mount
 * namespace whose root was the old root); its directory is set here, and
 * the root checked against the init's, so that no path of the host's
 * could stay reachable to it. */
static void __attribute__((noreturn))
command_main(const struct run_spec *spec, int go, bool filtered)
{
	struct run_spec mine = *spec;
	struct run_go_word w;
	struct stat st;

	if (filtered && run_seccomp_install(&spec->seccomp) < 0)
		die("seccomp filter: %s", strerror(errno));
	/* The init waits for our word before its pivot_root: a clone in
	 * the middle of it could keep the old root (a task is not in the
	 * list pivot_root walks until the end of its fork), and the server
	 * would then refuse to serve (run_forker.c's settle()). */
	if (filtered && spec->exec_listen >= 0)
		run_forker_start(spec, go);
	if (cloned_fd >= 0) {
		(void)!write(cloned_fd, "c", 1);
		close(cloned_fd);
	}
	if (read(go, &w, sizeof(w)) != (ssize_t)sizeof(w) || w.go != 'g')
		_exit(1); /* the init said why */
	close(go);
	if (chdir("/") < 0 || stat("/", &st) < 0 || st.st_dev != w.dev || st.st_ino != w.ino)
		die("the command's root is not the container's");
	if (filtered)
		mine.seccomp.len = 0; /* on already */
	exec_command(&mine);
}

/* Forks the command, which waits for release_command(): its pid, and the
 * write end of its go pipe in *@go. */
static pid_t fork_command(const struct run_spec *spec, bool early, int *go)
{
	int pipefd[2];
	pid_t child;

	int cloned[2] = {-1, -1};

	if (pipe2(pipefd, O_CLOEXEC) < 0 ||
	    (early && spec->exec_listen >= 0 && pipe2(cloned, O_CLOEXEC) < 0))
		die("pipe: %s", strerror(errno));
	child = fork();
	if (child < 0)
		die("fork: %s", strerror(errno));
	if (child == 0) {
		close(pipefd[1]);
		if (made_fd >= 0)
			close(made_fd);
		if (cloned[0] >= 0)
			close(cloned[0]);
		cloned_fd = cloned[1];
		command_main(spec, pipefd[0], early);
	}
	close(pipefd[0]);
	if (cloned[1] >= 0)
		close(cloned[1]);
	cloned_fd = cloned[0];
	*go = pipefd[1];
	return child;
}

/* The init goes under a seccomp filter too: a command given --cap-add
 * SYS_PTRACE (which the profile then allows) could otherwise ptrace pid 1
 * and make it call what the command's filter refuses.  Its own, that
 * allows only what it calls from here on (seccomp_init_filter()), as it
 * costs microseconds where the profile costs 0.5 ms.  The command waits
 * for it before its exec, so that there is no moment when it could. */
static void release_command(const struct run_spec *spec, pid_t child, int go)
{
	struct run_go_word w = {.go = 'g'};
	struct stat st;

	/* -d: the command holds the started pipe alone now, and what the
	 * init still says goes to the log. */
	if (spec->detach) {
		close(started_fd);
		started_fd = -1;
		run_detach_quiet(spec->detach);
	}
	close_all_but(go);
	if (stat("/", &st) < 0) {
		kill(child, SIGKILL);
		die("/: %s", strerror(errno));
	}
	w.dev = st.st_dev;
	w.ino = st.st_ino;
	if (spec->seccomp.len) {
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		if (run_seccomp_install(seccomp_init_filter() ?: &spec->seccomp) < 0) {
			kill(child, SIGKILL);
			die("seccomp filter of the init: %s", strerror(errno));
		}
	}
	(void)!write(go, &w, sizeof(w));
	/* The exec server reads one too (command_main()). */
	if (run_spec_fork_early(spec) && spec->exec_listen >= 0)
		(void)!write(go, &w, sizeof(w));
	close(go);
}

int run_init(void *arg)
{
	const struct run_spec *spec = arg;
	sigset_t set;
	pid_t child = -1;
	int go = -1;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sigfillset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	/* Into the container's cgroups before anything is charged or forked
	 * (cgroup v1; on v2 the launcher moves us: wait_gate()). */
	if (spec->cgroup_fds && run_cgroup_enter_fds(spec->cgroup_fds) < 0)
		die("joining the container's cgroups: %s", strerror(errno));
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("making mounts private: %s", strerror(errno));
	made_fd = spec->made_pipe[1];
	if (spec->detach)
		started_fd = spec->detach->started[1];
	if (run_spec_fork_early(spec))
		child = fork_command(spec, true, &go);
	root_fd = open(spec->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		die("%s: %s", spec->rootfs, strerror(errno));
	setup_binds(spec);
	setup_proc_sys_etc(spec);
	setup_dev(spec->console);
	setup_devices(spec);
	/* --read-only: the mount points above needed the writable layer; now
	 * the root itself turns read-only (EROFS), its submounts stay as made. */
	if (spec->read_only)
		remount_ro_at(root_fd, "read-only root", false);
	close(made_fd);
	made_fd = -1;
	/* The exec server cloned before, not during, the pivot (command_main()). */
	if (cloned_fd >= 0) {
		char c;

		(void)!read(cloned_fd, &c, 1);
		close(cloned_fd);
		cloned_fd = -1;
	}
	pivot(spec);
	if (spec->hostname && sethostname(spec->hostname, strlen(spec->hostname)) < 0)
		die("hostname: %s", strerror(errno));
	if (spec->net_none)
		loopback_up();
	wait_gate(spec);
	if (child < 0)
		child = fork_command(spec, false, &go);
	/* Only the command holds the pty from here on (release_command()
	 * closes the init's): its end is the session's end. */
	release_command(spec, child, go);
	supervise(child, &set);
}
