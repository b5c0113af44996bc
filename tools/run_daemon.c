/* SPDX-License-Identifier: MIT */
/*
 * The root file system's daemon, first process of the container's user
 * namespace: it mounts the image in its own mount namespace (invisible to
 * the host), then starts the container's init in new pid/mount/uts/ipc
 * (and net) namespaces, and serves FUSE until that init exits.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "run.h"
#include "strata-store.h"
#include "sys.h"

struct daemon {
	struct run_spec *spec;
	pid_t init;
	int status;
};

/* Waits for the init; when it is gone, so is every process of the
 * container, and unmounting ends the FUSE session. */
static void *wait_init(void *arg)
{
	struct daemon *d = arg;
	int st;

	while (waitpid(d->init, &st, __WALL) < 0 && errno == EINTR)
		;
	d->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	umount2(d->spec->rootfs, MNT_DETACH);
	return NULL;
}

static void start_init(void *arg)
{
	struct daemon *d = arg;
	struct run_spec *spec = d->spec;
	int flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD;
	pthread_t waiter;
	sigset_t all, old;
	char text[32];

	if (spec->net_none)
		flags |= CLONE_NEWNET;
	/* Called from the main thread, which lives as long as the daemon: the
	 * init's PR_SET_PDEATHSIG fires only when the daemon dies. */
	/* The init starts with every signal blocked (it waits for them with
	 * sigwaitinfo): an init of a pid namespace ignores the signals it has
	 * no handler for, unless they are blocked, so one sent before it
	 * blocks them itself would be lost. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	d->init = run_clone(run_init, spec, flags);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (d->init < 0) {
		cli_error("run: starting the container: %s", strerror(errno));
		d->status = 1;
		umount2(spec->rootfs, MNT_DETACH);
		return;
	}
	if (spec->tty_slave >= 0)
		close(spec->tty_slave);
	if (spec->exec_listen >= 0) /* the exec server's */
		close(spec->exec_listen);
	run_cgroup_close_fds(&spec->cgroup_fds);
	close(spec->made_pipe[1]);
	if (spec->detach) {
		close(spec->detach->started[1]);
		run_detach_quiet(spec->detach);
	}
	/* The daemon shares the caller's process group: a ^C or ^\ on the
	 * terminal is for the container, not for the root file system's
	 * server (libfuse would end the session).  It ends with the init. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGTSTP, SIG_IGN);
	/* The launcher forwards signals to the init by this pid. */
	snprintf(text, sizeof(text), "%ld\n", (long)d->init);
	(void)sys_write_all(spec->status_pipe[1], text, strlen(text));
	close(spec->status_pipe[1]);
	if (pthread_create(&waiter, NULL, wait_init, d) != 0) {
		kill(d->init, SIGKILL);
		d->status = 1;
		umount2(spec->rootfs, MNT_DETACH);
		return;
	}
	pthread_detach(waiter);
}

/* Mounts @u, starts the init once the mount is live, serves until the
 * init exits: the command's exit status. */
static int serve(struct strata_union *u, struct run_spec *spec)
{
	struct daemon d = {.spec = spec, .status = 1};
	struct strata_mount_options mo = {
	    .mountpoint = spec->rootfs,
	    .foreground = true,
	    .fuse_opts = "allow_other",
	    .on_ready = start_init,
	    .on_ready_ctx = &d,
	    .private_mount = true,
	    .span_cache = spec->span_cache,
	};
	struct strata_error err;
	char go;

	close(spec->ready_pipe[1]);
	close(spec->status_pipe[0]);
	if (spec->detach) { /* the supervisor's */
		close(spec->detach->notify);
		close(spec->detach->out[0]);
		close(spec->detach->err[0]);
		close(spec->detach->started[0]);
		if (spec->detach->in[1] >= 0)
			close(spec->detach->in[1]);
		if (spec->detach->tty >= 0)
			close(spec->detach->tty);
	}
	/* The launcher writes our uid/gid maps, then lets us go. */
	if (read(spec->ready_pipe[0], &go, 1) != 1)
		return 1;
	close(spec->ready_pipe[0]);
	/* Nothing mounted here may reach the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		cli_error("run: making mounts private: %s", strerror(errno));
		return 1;
	}
	if (strata_fuse_run(u, &mo, &err)) {
		cli_fail(&err);
		return 1;
	}
	/* The union is not freed: the daemon exits right away (exit_group),
	 * and unmapping is the kernel's job, done faster in one go. */
	return d.status;
}

/* The mount points the init needs, below the image (layerstore/container_remove.c). */
static int add_mount_points(struct store *s, struct strata_union *u, struct strata_error *err)
{
	char *dir = store_container_mount_points(s, err);
	struct strata_layer *base;
	int rc;

	if (!dir)
		return -1;
	rc = strata_layer_open_lower_dir(dir, NULL, &base, err) ||
	     strata_union_set_base(u, base, err);
	free(dir);
	return rc ? -1 : 0;
}

/* The daemon makes the union itself, while the launcher writes its id
 * maps: checking the layers' indexes (0.3 ms for a 3-layer Debian image)
 * is off the start's critical path, the index pages are touched once, in
 * the process that serves them, and the launcher has no union to free.
 * Returns 0, or the exit status after saying why. */
int run_open_union(const struct daemon_arg *d, struct strata_union **u)
{
	struct strata_layer **layers = NULL;
	struct strata_error err;
	int rc;

	rc = store_open_layers(d->store, d->img, d->layer_opts, &layers, &err) ||
	     strata_union_new(layers, d->img->n_layers, u, &err) ||
	     add_mount_points(d->store, *u, &err) || strata_union_set_upper(*u, d->upper, &err);
	free(layers);
	/* A container's upper is read with its image (diff, commit): it may
	 * leave a lower file's data below when only its metadata changes. */
	if (!rc)
		strata_union_set_metacopy(*u, true);
	if (!rc)
		return 0;
	strata_union_free(*u);
	*u = NULL;
	return cli_fail(&err);
}

int run_daemon_main(void *arg)
{
	struct daemon_arg *d = arg;
	struct strata_union *u = NULL;
	int rc;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	rc = run_open_union(d, &u);
	/* The daemon has threads (FUSE workers): the whole group must exit
	 * with the status, which returning from here (SYS_exit, this thread
	 * alone) would not do.  exit_group through syscall(): _exit() is
	 * noreturn, and a sanitizer build would warn about the cloned stack
	 * at the call. */
	syscall(SYS_exit_group, rc ? rc : serve(u, d->spec));
	return 1;
}
