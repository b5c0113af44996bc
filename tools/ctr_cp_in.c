/* SPDX-License-Identifier: MIT */
/*
 * strata cp into a stopped container: its union (image layers, mount
 * points, upper), opened as the run daemon opens it (run_open_union), is
 * served on a FUSE mount in new user and mount namespaces with the
 * container's id maps, and a child chrooted into that mount copies as a
 * copy into a running container does (run_cp.c): whiteouts, opaque
 * directories, copy-up and ownership are the union's, as its processes
 * would see them.  Under the container's lock, so it cannot start
 * meanwhile.  The mount is private: nothing of it reaches the host, and
 * it ends with the copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "ctr.h"
#include "run.h"
#include "strata-store.h"

struct cp_in {
	struct daemon_arg d;
	struct run_cp c;
	char *mnt; /* the mount point, as run's daemons use it */
	int go[2]; /* launcher → server: the id maps are written */
	pid_t copier;
	int status; /* the copier's */
};

/* Waits for the copier; unmounting then ends the FUSE session. */
static void *wait_copier(void *arg)
{
	struct cp_in *ci = arg;
	int st = 0;

	while (waitpid(ci->copier, &st, 0) < 0 && errno == EINTR)
		;
	ci->status = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
	umount2(ci->mnt, MNT_DETACH);
	return NULL;
}

/* Once the mount is live: the copier, root in the container's user
 * namespace, with the mount as its root. */
static void start_copier(void *arg)
{
	struct cp_in *ci = arg;
	pthread_t waiter;

	fflush(NULL);
	ci->copier = fork();
	if (ci->copier == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		run_cp_chroot(ci->mnt, &ci->c); /* does not return */
	}
	if (ci->copier > 0 && pthread_create(&waiter, NULL, wait_copier, ci) == 0) {
		pthread_detach(waiter);
		return;
	}
	if (ci->copier > 0)
		kill(ci->copier, SIGKILL);
	cli_error("cp: starting the copy: %s", strerror(errno));
	umount2(ci->mnt, MNT_DETACH);
}

/* The server, first process of the new user namespace: the copy's exit
 * status (exits the whole group, FUSE's threads too). */
static int serve_main(void *arg)
{
	struct cp_in *ci = arg;
	struct strata_mount_options mo = {.mountpoint = ci->mnt,
	                                  .foreground = true,
	                                  .fuse_opts = "allow_other",
	                                  .on_ready = start_copier,
	                                  .on_ready_ctx = ci,
	                                  .private_mount = true};
	struct strata_union *u = NULL;
	struct strata_error err;
	int rc = 1;
	char go;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	close(ci->go[1]);
	ci->status = 1;
	if (read(ci->go[0], &go, 1) != 1)
		;
	else if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		cli_error("cp: making mounts private: %s", strerror(errno));
	else if ((rc = run_open_union(&ci->d, &u)) == 0)
		rc = strata_fuse_run(u, &mo, &err) ? cli_fail(&err) : ci->status;
	syscall(SYS_exit_group, rc);
	return 1;
}

/* Clones the server, writes its id maps (the container's: those strata
 * run writes for this caller), lets it go, waits: the exit status. */
static int serve_and_copy(struct cp_in *ci)
{
	pid_t pid;
	int st = 0;

	if (pipe2(ci->go, O_CLOEXEC) < 0) {
		cli_error("cp: pipe: %s", strerror(errno));
		return 1;
	}
	fflush(NULL);
	pid = run_clone(serve_main, ci, CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD);
	close(ci->go[0]);
	if (pid < 0) {
		close(ci->go[1]);
		cli_error("cp: new user namespace: %s", run_userns_unavailable(errno));
		return 1;
	}
	/* A server gone before its go (killed) must not take us with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if (run_write_id_maps(pid, getuid(), getgid()) < 0)
		cli_error("cp: writing the user namespace's id maps: %s", strerror(errno));
	else
		(void)!write(ci->go[1], "g", 1);
	close(ci->go[1]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

/* Its image, by the digest it was made from: 0, or 1 after saying why. */
static int container_image(struct store *s, const char *dir, const char *name,
                           struct store_image **img)
{
	char *digest = store_container_image_digest(dir);
	struct strata_error err;
	int rc = 0;

	if (!digest) {
		cli_error("cp: %s: no record of its image", name);
		return 1;
	}
	if (store_resolve(s, digest, img, &err)) {
		cli_error("cp: %s: its image %.19s: %s", name, digest, err.msg);
		rc = 1;
	}
	free(digest);
	return rc;
}

int ctr_cp_in_stopped(struct store *s, const char *dir, const char *name, const char *cpath,
                      int host_dir, const char *host_name)
{
	struct strata_layer_options lo = {.warn = cli_warn};
	struct cp_in ci = {.c = {.into = true,
	                         .path = cpath,
	                         .host_dir = host_dir,
	                         .host_name = host_name,
	                         .pidfd = -1}};
	struct store_image *img = NULL;
	struct strata_error err;
	char *upper = NULL;
	int lock, rc = 1;

	/* Not started while we write its upper. */
	if ((lock = store_container_lock(dir, &err)) < 0) {
		cli_error("cp: %s: %s", name,
		          err.sys_errno == EBUSY ? "busy (started meanwhile, or another command "
		                                   "holds its lock); run the cp again"
		                                 : err.msg);
		return 1;
	}
	if (container_image(s, dir, name, &img))
		goto out;
	if (asprintf(&ci.mnt, "%s/strata/rootfs", store_root(s)) < 0 ||
	    asprintf(&upper, "%s/upper", dir) < 0) {
		ci.mnt = upper = NULL;
		cli_error("cp: out of memory");
		goto out;
	}
	if ((mkdir(ci.mnt, 0700) < 0 && errno != EEXIST) ||
	    (mkdir(upper, 0755) < 0 && errno != EEXIST)) {
		cli_error("cp: %s: %s", name, strerror(errno));
		goto out;
	}
	ci.d = (struct daemon_arg){.store = s, .img = img, .layer_opts = &lo, .upper = upper};
	rc = serve_and_copy(&ci);
out:
	free(ci.mnt);
	free(upper);
	store_image_free(img);
	close(lock);
	return rc;
}
