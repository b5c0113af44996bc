/* SPDX-License-Identifier: MIT */
/*
 * strata run: the launcher (cmd_run.c), the daemon that serves the root
 * file system inside the user namespace (run_daemon.c) and the container's
 * init, which builds the root and runs the command (run_init.c).
 *
 *   launcher (host) ──clone(NEWUSER|NEWNS)──▶ daemon: FUSE mount of the image
 *                                              └─clone(NEWPID|NEWNS|NEWUTS|NEWIPC[|NEWNET])─▶ init
 * (pid 1) └─fork─▶ command
 *
 * The daemon stays outside the container's pid namespace: the container
 * cannot see or signal it.  Every process dies with its parent
 * (PR_SET_PDEATHSIG), so a SIGKILLed launcher takes everything with it, and
 * the mount lives only in the daemon's mount namespace.
 */
#ifndef STRATA_RUN_H
#define STRATA_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/filter.h>
#include <sys/types.h>

#include "strata-fs.h"

struct run_bind {
	char *src, *dst;
	bool ro;
};

struct run_spec {
	char **argv;   /* the command, resolved from entrypoint + cmd */
	char **env;    /* NULL-terminated, KEY=VALUE */
	char *workdir; /* absolute, in the container */
	char *user;    /* "name", "uid" or "uid:gid", or NULL for root */
	char *hostname;
	bool net_none;
	bool read_only;
	struct run_bind *binds;
	size_t n_binds;
	char *rootfs;     /* the mountpoint, on the host side */
	int tty_slave;    /* -t: the pty the command gets as its terminal, or -1 */
	char *console;    /* -t: the pty's path, bound at /dev/console */
	bool interactive; /* -i: stdin attached */
	uint64_t caps;    /* capabilities root in the container keeps */
	uid_t outer_uid;  /* who ran strata */
	gid_t outer_gid;
	int ready_pipe[2];  /* launcher → daemon: the id maps are written */
	int status_pipe[2]; /* daemon → launcher: the init's pid */
	int made_pipe[2];   /* init → launcher: mount points it made */
	char *dir;          /* the container's directory */
	/* The command's seccomp filter, compiled (len 0: none): run_seccomp.h */
	struct sock_fprog seccomp;
};

/* What the launcher hands the daemon it clones. */
struct daemon_arg {
	struct store *store;
	const struct store_image *img;
	const struct strata_layer_options *layer_opts;
	const char *upper;
	struct run_spec *spec;
};

/* The daemon's process (run_clone's entry, @arg a struct daemon_arg):
 * opens the image's union, mounts it, starts the init, serves until the
 * init exits, and exits the whole process with the command's status. */
int run_daemon_main(void *arg);
/* The container's init (pid 1): builds the root file system, starts the
 * command, reaps and forwards signals; exits with the command's status. */
int run_init(void *spec);

/* Writes the id maps of the new user namespace of @pid (run_userns.c):
 * root maps every id; a user with /etc/subuid and /etc/subgid ranges gets
 * them through newuidmap/newgidmap; anyone else maps just their own id. */
int run_write_id_maps(pid_t pid, uid_t uid, gid_t gid);
/* Removes the tree @path from inside a user namespace with the caller's id
 * map, where files the container's subordinate ids own are the caller's:
 * store_remove_tree's fallback.  0, or -1. */
int run_remove_in_userns(const char *path);
/* Why clone(CLONE_NEWUSER) failed with @err, naming the setting at fault. */
const char *run_userns_unavailable(int err);
/* clone(@flags | SIGCHLD) running @fn(@arg) on a stack of its own. */
pid_t run_clone(int (*fn)(void *), void *arg, int flags);

/* --memory / --cpus (run_cgroup.c). */
struct run_limits {
	uint64_t memory; /* bytes, 0: none */
	double cpus;     /* 0: none */
};
/* Makes the container's cgroup under the caller's (cgroup v2, delegated);
 * prints why and returns -1 when it cannot. */
int run_cgroup_create(const struct run_limits *lim, const char *name, char *dir, size_t size);
int run_cgroup_enter(const char *dir, pid_t pid);

/* Capabilities (run_caps.c): docker's default set; --cap-add/--cap-drop
 * LIST (comma-separated names, "ALL").  0, or a usage exit status. */
uint64_t run_caps_default(void);
int run_caps_change(uint64_t *mask, const char *list, bool add);
/* CAP_NAME or name (any case): the capability's number, or -1. */
int run_cap_number(const char *name);

/* -t: a pty for the container, and the launcher's side of it (run_tty.c). */
int run_tty_open(struct run_spec *spec, int *master);
/* Copies between the caller's terminal and @master until @daemon exits;
 * returns its exit status. */
int run_tty_proxy(int master, pid_t daemon, bool interactive);

#endif
