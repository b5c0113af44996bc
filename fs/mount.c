/* SPDX-License-Identifier: MIT */
/*
 * Mounting a union and running the FUSE session.  Everything that can be
 * checked before mounting is, so a user gets one clear line instead of a
 * libfuse or fusermount3 message.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <syslog.h>
#include <unistd.h>

#include "atime.h"
#include "daemon.h"
#include "gzip_seek.h"
#include "ll.h"
#include "sys.h"
#include "upper.h"
#include "walkers.h"

static bool log_debug;  /* -d: let libfuse's per-request trace through */
static bool log_syslog; /* daemonized: stderr is /dev/null, errors go to syslog */

/* While parsing options libfuse reports in fragments; we collect them into
 * one line of our own.  Only the mounting thread logs at that point. */
static char *log_capture;
static size_t log_capture_size;

static void log_to_stderr(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char msg[1024];
	size_t len;

	if (level == FUSE_LOG_DEBUG && log_debug) {
		vfprintf(stderr, fmt, ap);
		return;
	}
	if (level > FUSE_LOG_NOTICE)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	for (char *p = msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
	len = strlen(msg);
	while (len > 0 && msg[len - 1] == ' ')
		msg[--len] = '\0';
	if (log_syslog) {
		syslog(level <= FUSE_LOG_ERR ? LOG_ERR : LOG_NOTICE, "%s", msg);
		return;
	}
	if (log_capture) {
		size_t used = strlen(log_capture);

		snprintf(log_capture + used, log_capture_size - used, "%s%s", used ? " " : "",
		         strncmp(msg, "fuse: ", 6) == 0 ? msg + 6 : msg);
		return;
	}
	fprintf(stderr, "strata: %s\n", msg);
}

static bool dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	bool empty = true;

	if (!d)
		return true; /* mounting will say why */
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			empty = false;
			break;
		}
	closedir(d);
	return empty;
}

/* A FUSE mount whose daemon died still answers stat from the kernel's
 * attribute cache, but never statfs. */
static bool is_dead_fuse_mount(const char *path)
{
	struct statfs sf;

	return statfs(path, &sf) < 0 && errno == ENOTCONN;
}

static int check_mountpoint(const struct strata_mount_options *o, struct strata_error *err)
{
	struct statx stx;

	if (statx(AT_FDCWD, o->mountpoint, 0, STATX_TYPE, &stx) < 0) {
		if (errno == ENOTCONN)
			return strata_fail(
			    err, STRATA_ERR_SYS, errno,
			    "%s: stale mount of a daemon that died (run strata umount %s)",
			    o->mountpoint, o->mountpoint);
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", o->mountpoint,
		                   strerror(errno));
	}
	if (!S_ISDIR(stx.stx_mode))
		return strata_fail(err, STRATA_ERR_USAGE, ENOTDIR, "%s: not a directory",
		                   o->mountpoint);
	if ((stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	    (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) && is_dead_fuse_mount(o->mountpoint))
		return strata_fail(err, STRATA_ERR_SYS, ENOTCONN,
		                   "%s: stale mount of a daemon that died (run strata umount %s)",
		                   o->mountpoint, o->mountpoint);
	if ((stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	    (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
		return strata_fail(err, STRATA_ERR_USAGE, EBUSY,
		                   "%s: already a mount point (unmount it first)", o->mountpoint);
	if (!o->allow_nonempty && !dir_is_empty(o->mountpoint))
		return strata_fail(err, STRATA_ERR_USAGE, ENOTEMPTY,
		                   "%s: mountpoint is not empty (use -o nonempty to mount over it)",
		                   o->mountpoint);
	if (access("/dev/fuse", F_OK) < 0)
		return strata_fail(err, STRATA_ERR_SYS, errno,
		                   "/dev/fuse: %s (is the fuse module loaded?)", strerror(errno));
	return 0;
}

/* @fuse_opts: the -o options libfuse is to see. */
static int build_args(const struct strata_union *u, const struct strata_mount_options *o,
                      const char *fuse_opts, struct fuse_args *args, struct strata_error *err)
{
	/* The kernel checks permissions from the modes we report, as on any
	 * filesystem.  Without an upper layer "ro" comes last, so no user
	 * option can undo it. */
	const char *last = union_writable(u) ? "" : ",ro";
	const char *base = "default_permissions,fsname=strata,subtype=strata";
	char *opts = NULL;
	int rc;

	if (*fuse_opts)
		rc = asprintf(&opts, "%s,%s%s", base, fuse_opts, last);
	else
		rc = asprintf(&opts, "%s%s", base, last);
	if (rc < 0)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	if (fuse_opt_add_arg(args, "strata") || fuse_opt_add_arg(args, "-o") ||
	    fuse_opt_add_arg(args, opts) || (o->debug && fuse_opt_add_arg(args, "-d"))) {
		free(opts);
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	}
	free(opts);
	return 0;
}

/* Each libfuse worker has a 1 MiB request buffer.  glibc raises its mmap
 * threshold after the first such buffer is freed, and from then on serves
 * them from per-thread arenas that stay dirty: ~1 MiB of RSS per thread.  A
 * fixed threshold keeps big buffers mmapped and returns them whole; two
 * arenas are plenty for short, allocation-light ops. */
static void tune_malloc(void)
{
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	mallopt(M_ARENA_MAX, 2);
}

/* The kernel's INIT, the first request of every mount, answered here
 * before on_ready: whoever on_ready starts (strata run's init) finds the
 * mount answering, instead of waiting for the workers serve() starts
 * after it (0.4-0.9 ms of a container's start).  A failure is left to the
 * loop, which reads the request again or sees the session end. */
static void answer_init(struct fuse_session *se)
{
	struct fuse_buf buf = {0};

	if (fuse_session_receive_buf(se, &buf) > 0)
		fuse_session_process_buf(se, &buf);
	free(buf.mem);
}

static int serve(struct fuse_session *se, const struct strata_mount_options *o)
{
	struct fuse_loop_config *cfg;
	int rc;

	cfg = fuse_loop_cfg_create();
	if (!cfg)
		return -1;
	fuse_loop_cfg_set_clone_fd(cfg, 1);
	if (o->max_threads)
		fuse_loop_cfg_set_max_threads(cfg, o->max_threads);
	rc = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return rc;
}

int strata_fuse_run(struct strata_union *u, const struct strata_mount_options *o,
                    struct strata_error *err)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	char record[4200] = "", *fuse_opts = NULL;
	int rc = -1;

	log_debug = o->debug;
	fuse_set_log_func(log_to_stderr);
	fs_span_cache_set_limit(o->span_cache ? (size_t)o->span_cache : SPAN_CACHE_DEFAULT);
	if (fs_atime_parse(o->fuse_opts, &u->atime_flags, &fuse_opts)) {
		strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
		goto out;
	}
	if (check_mountpoint(o, err) || build_args(u, o, fuse_opts, &args, err))
		goto out;
	{
		char why[512] = "";

		log_capture = why;
		log_capture_size = sizeof(why);
		se = fuse_session_new(&args, &strata_ll_ops, sizeof(strata_ll_ops), u);
		log_capture = NULL;
		if (!se) {
			strata_fail(err, STRATA_ERR_OPTION, EINVAL, "-o %s: %s",
			            o->fuse_opts ? o->fuse_opts : "",
			            *why ? why : "invalid mount options");
			goto out;
		}
	}
	fs_walkers_set_session(u->walkers, se);
	if (fuse_set_signal_handlers(se)) {
		strata_fail(err, STRATA_ERR_SYS, errno, "signal handlers: %s", strerror(errno));
		goto out;
	}
	if (fuse_session_mount(se, o->mountpoint)) {
		strata_fail(err, STRATA_ERR_SYS, errno, "%s: mount failed", o->mountpoint);
		goto out_handlers;
	}
	fs_atime_show(o->mountpoint, u->atime_flags);
	/* The parent returns only now, with the mount live. */
	if (fuse_daemonize(o->foreground)) {
		strata_fail(err, STRATA_ERR_SYS, errno, "daemonize: %s", strerror(errno));
		goto out_unmount;
	}
	if (!o->foreground) {
		openlog("strata", LOG_PID, LOG_DAEMON);
		log_syslog = true;
	}
	if (!o->private_mount)
		fs_daemon_record_write(o->mountpoint, record, sizeof(record));
	tune_malloc();
	if (o->on_ready) {
		answer_init(se);
		o->on_ready(o->on_ready_ctx);
	}
	/* The kernel already applied the caller's umask to every mode it
	 * sends; ours must not apply again to what we create in the upper. */
	umask(0);
	/* A signal (positive) is the normal way to stop: unmount and succeed. */
	rc = serve(se, o);
	fs_walkers_stop(u->walkers);
	if (rc > 0)
		rc = 0;
	if (rc)
		strata_fail(err, STRATA_ERR_SYS, rc < 0 ? -rc : EIO, "%s: FUSE session failed",
		            o->mountpoint);
out_unmount:
	fuse_session_unmount(se);
	fs_daemon_record_remove(record);
out_handlers:
	fuse_remove_signal_handlers(se);
out:
	if (se)
		fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	free(fuse_opts);
	return rc ? -1 : 0;
}
