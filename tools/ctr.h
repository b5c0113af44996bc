/* SPDX-License-Identifier: MIT */
/*
 * A container's life seen from outside its launcher: what strata ps,
 * logs, wait, stop and kill do (ctr_*.c).  A container runs exactly while
 * its lock is held (strata-store.h); its state.json names its launcher or
 * supervisor (pid), whose grandchild is its init, which strata stop and
 * kill signal: the init passes a signal on to the command, and a SIGKILL
 * of it ends the whole pid namespace, whose status the launcher or
 * supervisor then records.
 */
#ifndef STRATA_CTR_H
#define STRATA_CTR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "attach.h"

struct store;
struct store_container;
struct json_t;

/* The state.json of the container in @dir, or NULL. */
struct json_t *ctr_state(const char *dir);

/* Containers found dead with a record that says they run (their launcher
 * or supervisor was killed, so nobody recorded the end): each is marked
 * exited with the reason, or removed when it was run with --rm (and
 * dropped from @cs); and the groups of dead ones go (cg_reap_dead). */
void ctr_reap_dead(struct store *s, struct store_container **cs, size_t *n);
/* The directory of container @name into @dir, after reaping it if dead:
 * 0, or 1 after saying why ("@cmd: @name: no such container"). */
int ctr_find(struct store *s, const char *cmd, const char *name, char *dir, size_t size);
/* cli_open_store(@root) and ctr_find: 0, or 1 after saying why (nothing
 * left open). */
int ctr_open(const char *root, const char *cmd, const char *name, struct store **s, char *dir,
             size_t size);
/* "Up 5 seconds", "Exited (0) 3 minutes ago", "Exited (supervisor died) ..." */
void ctr_status_text(const struct store_container *c, time_t now, char *out, size_t size);
/* Its published ports as podman's ps shows them, "0.0.0.0:8080->80/tcp, ...",
 * or "". */
void ctr_ports_text(const struct store_container *c, char *out, size_t size);

/* strata wait: blocks until the container in @dir is not running; its exit
 * status, or -1 after saying why there is none. */
int ctr_wait(const char *dir, const char *name);
/* Sends @sig to the running container @name in @dir (its init, or its
 * launcher when it has no init recorded).  0, or -1 after saying why. */
int ctr_signal(const char *dir, const char *name, int sig, const char *cmd);
/* A pidfd of the running container's init in @dir (the grandchild of its
 * launcher or supervisor, checked to be it once the fd is open), its pid
 * in *@pid; or -1. */
int ctr_init_pidfd(const char *dir, pid_t *pid);
/* The namespaces of @pid that are not ours (each CLONE_NEW* flag). */
int ctr_namespaces(pid_t pid);
/* strata cp between the container @name (in @dir, of @s) and the host:
 * @cpath in it, @host here; @into: from the host.  A running container's
 * through its mount, a stopped one's out of its tree in the store.  0, or
 * 1 after saying why. */
int ctr_cp(struct store *s, const char *dir, const char *name, const char *cpath, const char *host,
           bool into);
/* Out of the stopped container @name: @cpath of its merged tree as
 * @host_name in the host's directory @host_dir.  0, or 1 after saying
 * why (ctr_cp_out.c). */
int ctr_cp_out_stopped(struct store *s, const char *dir, const char *name, const char *cpath,
                       int host_dir, const char *host_name);
/* Into the stopped container @name: @host_name of the host's directory
 * @host_dir as @cpath, through its union mounted for the copy, under its
 * lock.  0, or 1 after saying why (ctr_cp_in.c). */
int ctr_cp_in_stopped(struct store *s, const char *dir, const char *name, const char *cpath,
                      int host_dir, const char *host_name);
/* strata exec: runs @o's command in the running container @name (in @dir,
 * of the store @s): its exit status, or 1 after saying why. */
struct ctr_exec_opts {
	char **argv;
	const char **envs; /* -e, as given */
	size_t n_envs;
	const char *user, *workdir; /* NULL: the container's */
	bool tty, interactive;
	bool detach;             /* -d: back once started, stdio /dev/null */
	struct detach_keys keys; /* -it: --detach-keys */
};
int ctr_exec(const struct store *s, const char *dir, const char *name,
             const struct ctr_exec_opts *o);
/* strata exec through the container's exec server (ctr_exec_fast.c), the
 * command's environment @env, user and directory resolved: its exit
 * status (or 0 once started, -d), or -1 when the container has no server
 * to take it (nothing said: the setns path then). */
int ctr_exec_fast(const char *dir, char **env, const char *user, const char *workdir,
                  const struct ctr_exec_opts *o);
/* exec -d (ctr_exec_detach.c): waits on the started pipe @started of the
 * command, and reaps its @keeper (run_exec.c): 0 once it runs, else its
 * exit status (it said why). */
int ctr_exec_started(int started, pid_t keeper);
/* exec -it after the detach keys: lets the command's @keeper go, and the
 * pty's @master stays open for the command, read by a process of its own
 * until the command ends; 0. */
int ctr_exec_leave(int master, pid_t keeper);
/* strata inspect CONTAINER: @c (in @dir, of the store @s) as JSON, or
 * NULL. */
struct json_t *ctr_inspect(const struct store *s, const struct store_container *c, const char *dir);
/* strata stop: its stop signal (@sig, or the image's StopSignal, or
 * SIGTERM when @sig is 0), then SIGKILL after @timeout seconds.  0, or -1
 * after saying why. */
int ctr_stop(const char *dir, const char *name, int sig, double timeout);
/* strata start: runs the stopped container in @dir again (strata run -d,
 * in the store @root or the default): in this process, returning only on
 * failure (1, after saying why), or with @attach in a child, then attached
 * to it (ctr_attach: its exit status). */
struct ctr_attach_opts;
int ctr_start(const char *dir, const char *name, const char *root,
              const struct ctr_attach_opts *attach);
/* strata attach (ctr_attach.c, attach.h). */
struct ctr_attach_opts {
	struct detach_keys keys;
	bool no_stdin;  /* --no-stdin: output only */
	bool sig_proxy; /* --sig-proxy: our signals to the container */
};
/* Attaches to the running -d container @name in @dir until it ends (its
 * exit status) or the detach keys come (0); 1 after saying why not. */
int ctr_attach(const char *dir, const char *name, const struct ctr_attach_opts *o);
/* SIGTERM, TERM, term, 15: the signal's number, or -1. */
int ctr_signal_number(const char *name);

/* strata logs. */
struct ctr_logs_opts {
	bool follow, timestamps;
	long tail; /* the last lines only; -1: all */
	bool since_set;
	struct timespec since;
};
/* Prints the log of the container in @dir: 0, or 1 after saying why. */
int ctr_logs(const char *dir, const char *name, const struct ctr_logs_opts *o);

#endif
