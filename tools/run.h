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

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/filter.h>
#include <sys/types.h>

struct pollfd;

#include "strata-fs.h"

/* What the init mounts in the container's root, in the order given:
 * -v and --mount type=bind (one kind: a bind), --tmpfs and --mount
 * type=tmpfs, --device (run_mounts.c parses them, run_init.c mounts). */
enum run_mount_kind { RUN_MOUNT_BIND, RUN_MOUNT_TMPFS, RUN_MOUNT_DEVICE };
struct run_bind {
	char *src, *dst; /* src: the host's path (resolved); NULL for a tmpfs */
	bool ro;
	enum run_mount_kind kind;
	unsigned long flags; /* tmpfs: MS_NOEXEC...; bind: its propagation */
	char *data;          /* tmpfs: "size=...,mode=..."; device: "rwm" given */
};

/* --ulimit NAME=SOFT[:HARD] (run_ulimit.c). */
struct run_ulimit {
	int resource;                  /* RLIMIT_* */
	unsigned long long soft, hard; /* RLIM_INFINITY for unlimited */
};

/* -d (run_detach.c, run_supervise.c): the launcher becomes the container's
 * supervisor, in a session of its own, and its caller returns once the
 * command has started.  The command's stdout and stderr are pipes the
 * supervisor writes to the container's log; the daemon and the init send
 * theirs there too once the command is started.  started: the command's
 * exec closes the last write end ('e' first when it failed), so the
 * supervisor knows the command runs.  With -t the command's output is the
 * pty, whose master the supervisor reads instead. */
struct run_detach {
	int notify;         /* supervisor → caller: "s" once started; -1 after */
	int out[2], err[2]; /* the command's stdout, stderr */
	int in[2];          /* -i without -t: its stdin, whose write end the
	                     * supervisor keeps (no EOF while nobody is
	                     * attached, as podman); else -1 */
	int started[2];
	int tty;          /* -t: the pty's master, or -1 */
	bool interactive; /* -i: attached clients' input goes to the command */
	bool hold;        /* strata start -a: output kept for the first client */
	uint64_t log_max; /* --log-opt max-size */
};

/* --network and -p (run_net.c): the mode, and the ports pasta forwards
 * from the host into the container's network namespace (run_pasta.c). */
enum run_net_mode { RUN_NET_HOST, RUN_NET_NONE, RUN_NET_PASTA };
struct run_port {
	char ip[16]; /* the host's address to bind, "": every address */
	uint16_t host, ctr;
	bool udp;
};
struct run_net {
	enum run_net_mode mode;
	bool given; /* --network was */
	struct run_port *ports;
	size_t n_ports;
};

struct run_spec {
	char **argv;   /* the command, resolved from entrypoint + cmd */
	char **env;    /* NULL-terminated, KEY=VALUE */
	char *workdir; /* absolute, in the container */
	char *user;    /* "name", "uid" or "uid:gid", or NULL for root */
	char *hostname;
	bool net_none;             /* a network namespace of its own */
	const struct run_net *net; /* --network pasta, else NULL */
	pid_t pasta;               /* its pasta while it runs, else 0 */
	bool read_only;
	struct run_bind *binds;
	size_t n_binds;
	struct run_ulimit *ulimits; /* --ulimit, set before the command's exec */
	size_t n_ulimits;
	char *rootfs;     /* the mountpoint, on the host side */
	int tty_slave;    /* -t: the pty the command gets as its terminal, or -1 */
	char *console;    /* -t: the pty's path, bound at /dev/console */
	bool interactive; /* -i: stdin attached */
	uint64_t caps;    /* capabilities root in the container keeps */
	uid_t outer_uid;  /* who ran strata */
	gid_t outer_gid;
	int ready_pipe[2];   /* launcher → daemon: the id maps are written */
	int status_pipe[2];  /* daemon → launcher: the init's pid */
	int made_pipe[2];    /* init → launcher: mount points it made */
	char *dir;           /* the container's directory */
	char **cgroups;      /* the container's groups (NULL-terminated), or NULL */
	int *cgroup_fds;     /* their `tasks`, the init moves itself in by */
	bool cgroup_self;    /* ... so (v1), or the launcher moves it (v2) */
	int cgroup_pipe[2];  /* launcher → init: "g" once it is in them, pasta up */
	uint64_t span_cache; /* --span-cache: bytes for gzip spans, 0: the default */
	/* The command's seccomp filter, compiled (len 0: none): run_seccomp.h */
	struct sock_fprog seccomp;
	bool seccomp_early;        /* docker's profile: allows what the command calls after it */
	struct run_detach *detach; /* -d, or NULL */
	int exec_listen;           /* strata exec's socket (exec_sock.h), or -1 */
	bool caps_bounded;         /* the bounding set is @caps already (run_proc_bound()) */
};

/* Whether the command is forked as the init starts, before the root is
 * built, and puts on its filter then (run_init.c): only with docker's
 * profile, which allows every call the command makes after it (a profile
 * from a file goes on last, in run_proc_confine(), as every call before
 * may be one it forbids); and only where the command's cgroups are the
 * init's already (cgroup v1 or none: on v2 the launcher moves the init
 * alone, while it builds the root).  The exec server (run_forker.c) comes
 * from that command, with its filter: it exists where this holds. */
static inline bool run_spec_fork_early(const struct run_spec *spec)
{
	return spec->seccomp_early && spec->seccomp.len && !(spec->cgroups && !spec->cgroup_self);
}

/* The init's word to the command (and the exec server): go, in the root
 * of this identity. */
struct run_go_word {
	char go;
	dev_t dev;
	ino_t ino;
};
/* Drops every capability not in @mask from our bounding set (run_proc.c):
 * what run_proc_confine() does, done once by the exec server for all the
 * commands it forks. */
void run_proc_bound(uint64_t mask);
/* In strata run's command, its filter on, before it reads its go from
 * @go: starts the exec server (run_forker.c) on @spec->exec_listen, which
 * reads a go of its own from @go. */
void run_forker_start(const struct run_spec *spec, int go);

/* Whether the init waits for the launcher's go before it starts the
 * command (cgroup_pipe): to be in its cgroups, and its network up. */
static inline bool run_spec_gated(const struct run_spec *spec)
{
	return (spec->cgroups && !spec->cgroup_self) || spec->net;
}

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
/* The union the daemon serves for @d (@d->spec unused): the image's
 * layers, the mount points' base, the upper.  0, or the exit status after
 * saying why. */
int run_open_union(const struct daemon_arg *d, struct strata_union **u);
/* The container's init (pid 1): builds the root file system, starts the
 * command, reaps and forwards signals; exits with the command's status. */
int run_init(void *spec);

/* --volume, --mount, --tmpfs and --device (run_mounts.c), the long option
 * @opt with @arg, into @spec: 0, or an exit status after saying why. */
int run_mount_option(struct run_spec *spec, const char *opt, const char *arg);
/* One bind more in @spec: @src (resolved here, as given by @what for the
 * error), at the absolute @dst.  0, or 1 after saying why. */
int run_bind_add(struct run_spec *spec, const char *what, const char *src, const char *dst, bool ro,
                 unsigned long propagation);
void run_binds_free(struct run_spec *spec);
/* --device's r and w, where the node's mode alone does not hold them: as
 * rules for the container's devices cgroup in @lim (v1, as root).  0, or
 * 1 after saying why they cannot be kept here. */
struct run_limits;
int run_devices_limits(const struct run_spec *spec, struct run_limits *lim);
/* --ulimit @arg into @spec (run_ulimit.c): 0, or the usage exit status. */
int run_ulimit_option(struct run_spec *spec, const char *arg);
/* In the launcher: raises our hard limits where --ulimit asks for more
 * (root only), before the container's processes inherit them; the command
 * sets them exactly.  0, or 1 after saying why. */
int run_ulimits_raise(const struct run_spec *spec);
/* docker's name of RLIMIT_@resource ("nofile"). */
const char *run_ulimit_name(int resource);

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

/* Resource limits (run_cgroup.c), as podman spells them. */
#define RUN_PIDS_DEFAULT 2048 /* podman's --pids-limit default */
struct run_limits {
	uint64_t memory;     /* --memory, bytes; 0: none */
	int64_t memory_swap; /* --memory-swap: memory + swap; 0: twice memory, -1: no limit */
	uint64_t memory_reservation; /* --memory-reservation: a soft limit */
	double cpus;                 /* --cpus; 0: none */
	uint64_t cpu_shares;         /* --cpu-shares (v1 scale, 2..262144); 0: none */
	uint64_t cpu_weight;         /* --cpu-weight (v2 scale, 1..10000); 0: none */
	char cpuset_cpus[256];       /* --cpuset-cpus: "0-1,3"; "": any */
	int64_t pids;                /* --pids-limit; 0: RUN_PIDS_DEFAULT, -1: none */
	uint64_t blkio_weight;       /* --blkio-weight (10..1000); 0: none */
	/* --device without r or w, where the file's mode does not refuse it
	 * already: v1's devices.deny lines ("c 1:3 w\n"), as root. */
	char devices_deny[512];
	bool asked;    /* one was given: not applying it is an error */
	bool disabled; /* --cgroups disabled: no groups at all */
};
/* Parses the limit option --@opt's @arg into @lim: 0, or the usage exit
 * status after saying why. */
int run_limit_option(struct run_limits *lim, const char *opt, const char *arg);
/* What the options cannot say alone (--memory-swap needs --memory): 0, or
 * the usage exit status after saying why. */
int run_limits_check(const struct run_limits *lim);
/* Makes the container @name's cgroups with @lim applied: *@dirs, a
 * NULL-terminated malloc'd list (NULL: none, where the host gives none and
 * no limit was asked).  0, or -1 after saying why. */
int run_cgroup_create(const struct run_limits *lim, const char *name, char ***dirs);
/* Moves @pid into each of @dirs.  0, or -1 after saying why. */
int run_cgroup_join(char *const *dirs, pid_t pid);
/* Moves the calling process, which must be single-threaded, into each of
 * @dirs, without the wait for an RCU grace period that moving another
 * process costs on cgroup v1.  0, or -1 after saying why. */
int run_cgroup_enter(char *const *dirs);
/* The same in two steps, for the init, which cannot open the host's
 * files: the `tasks` files of @dirs opened (-1-terminated, malloc'd), or
 * NULL where one has none (cgroup v2: the launcher moves the init). */
int *run_cgroup_self_fds(char *const *dirs);
/* Writes "0" to each of @fds: 0, or -1 with errno set. */
int run_cgroup_enter_fds(const int *fds);
/* Closes and frees *@fds, NULL after. */
void run_cgroup_close_fds(int **fds);
/* Removes them (and frees @dirs); whether an OOM kill happened in them. */
bool run_cgroup_finish(char **dirs);

/* rm -f: kills the launcher of the running container @name (its record
 * @state_json names it) and waits, bounded, for it to end.  0, or -1
 * after saying why (run_stop.c). */
struct store;
int run_stop(struct store *s, const char *name, const char *state_json);
/* Whether @pid runs the same strata binary as we do. */
bool run_is_strata(pid_t pid);

/* Capabilities (run_caps.c): docker's default set; --cap-add/--cap-drop
 * LIST (comma-separated names, "ALL").  0, or a usage exit status. */
uint64_t run_caps_default(void);
int run_caps_change(uint64_t *mask, const char *list, bool add);
/* CAP_NAME or name (any case): the capability's number, or -1. */
int run_cap_number(const char *name);
/* The name of capability @cap, lower case without CAP_ ("sys_admin"), or
 * NULL. */
const char *run_cap_name(int cap);

/* -d: forks the supervisor (it returns -1, in a session of its own) while
 * the caller waits: the caller returns 0 once the command has started,
 * else the supervisor's exit status. */
int run_detach_fork(struct run_detach *d);
/* The pipes, before the daemon is cloned (@in: a stdin pipe too).  0, or
 * -1 after saying why. */
int run_detach_pipes(struct run_detach *d, bool in);
/* Once the daemon has them: the supervisor's side only, and its stdin and
 * stdout on /dev/null (its stderr stays the caller's until the start). */
void run_detach_spawned(struct run_detach *d);
/* The daemon's and the init's output to the log's pipes, once the command
 * is forked: a closed terminal or a reader of the caller's output must not
 * wait on them. */
void run_detach_quiet(const struct run_detach *d);
/* The supervisor: writes the command's output to @dir's log until @daemon
 * exits, tells the caller once the command started (@init_started: the
 * daemon got as far as the init); the daemon's exit status. */
int run_supervise(struct run_detach *d, const char *dir, pid_t daemon, bool init_started);

/* The supervisor's attach socket (run_attach.c, attach.h). */
#define RUN_ATTACH_CLIENTS 16
struct run_attach {
	int listen; /* -1: none (it could not be made) */
	int clients[RUN_ATTACH_CLIENTS];
	size_t n;
	int in;  /* where clients' input goes (stdin's pipe, the pty), or -1 */
	int tty; /* -t: the pty's master, for window sizes; else -1 */
	/* strata start -a (run_detach's hold): the output since the start,
	 * as the packets to send, until the first client comes (then sent
	 * it) or RUN_ATTACH_HOLD_MS passed; NULL when not held. */
	char *held;
	size_t n_held;
	long long hold_until; /* CLOCK_MONOTONIC ms */
};
#define RUN_ATTACH_HOLD_MAX (64 * 1024)
#define RUN_ATTACH_HOLD_MS  10000
/* Starts holding output for the first client: 0, or -1 (out of memory:
 * not held). */
int run_attach_hold(struct run_attach *a);
/* While held: whether there is room for another read's packet (else the
 * output waits in its pipe: the command blocks rather than loses it), and
 * the poll timeout until the hold ends (-1: not held).  Ends the hold when
 * its time is up. */
bool run_attach_room(struct run_attach *a);
int run_attach_timeout(struct run_attach *a);
/* Listens on @dir's socket: 0, or -1 after saying why (the container runs
 * on, unreachable). */
int run_attach_listen(struct run_attach *a, const char *dir);
/* Its pollfds: the listening socket, then RUN_ATTACH_CLIENTS clients (-1
 * where none), into @p; run_attach_handle() reads their revents. */
void run_attach_poll(const struct run_attach *a, struct pollfd *p);
void run_attach_handle(struct run_attach *a, const struct pollfd *p);
/* Output of @type (ATTACH_OUT, ATTACH_ERR) to every client. */
void run_attach_send(struct run_attach *a, char type, const char *buf, size_t n);
/* The end: the exit @status to every client, and the socket goes. */
void run_attach_end(struct run_attach *a, const char *dir, int status);

/* --network MODE (host, none, pasta) into @n: 0, or the usage exit
 * status after saying why. */
int run_network_option(struct run_net *n, const char *arg);
/* -p [IP:]HOST:CONTAINER[/tcp|/udp] into @n: 0, or the usage exit status. */
int run_publish_option(struct run_net *n, const char *arg);
/* What the options cannot say alone (-p needs pasta, and implies it):
 * 0, or the usage exit status after saying why. */
int run_net_check(struct run_net *n);
const char *run_net_mode_name(enum run_net_mode mode);
/* The port @p as podman shows it: "127.0.0.1:8080->80/tcp". */
void run_port_text(const struct run_port *p, char *out, size_t size);

/* Whether pasta is on PATH (run_pasta.c): said before anything starts. */
bool run_pasta_found(void);
/* Starts pasta on the network namespace of @init, forwarding @n's ports,
 * recorded in @dir's state (run_pasta_note), and returns once it has set
 * the namespace up and bound them: its pid (our child), or -1 after
 * saying why (pasta's own words are in @dir/pasta.log). */
pid_t run_pasta_start(const struct run_net *n, pid_t init, const char *dir);
/* Stops and reaps *@pid (0: none) and forgets it. */
void run_pasta_stop(pid_t *pid);
/* Records the running pasta @pid in @dir's state (what a container found
 * dead is cleaned up by), or forgets it (@pid 0). */
void run_pasta_note(const char *dir, pid_t pid);
/* A container found dead: kills the pasta its state @state_json names, if
 * that process is still the one (its start time) and still pasta. */
void run_pasta_reap(const char *state_json);

/* --restart (run_restart.c). */
enum run_restart_policy { RUN_RESTART_NO, RUN_RESTART_ON_FAILURE, RUN_RESTART_ALWAYS };
struct run_restart {
	enum run_restart_policy policy;
	int max;  /* on-failure:N; 0: no limit */
	int runs; /* restarts so far */
};
/* --restart @arg into @r: 0, or the usage exit status after saying why. */
int run_restart_option(struct run_restart *r, const char *arg);
/* Whether to run the container in @dir again after its command ended with
 * @status (@started: it did start), after the pause between runs. */
bool run_restart_again(const struct run_restart *r, const char *dir, int status, bool started);

/* The command's process, just before its exec (run_proc.c): strata run's
 * and strata exec's alike.  Each is 0, or -1 with a one-line reason in
 * @why.  Its user (-u), capabilities, no_new_privs and seccomp filter, in
 * that order: */
int run_proc_confine(const struct run_spec *spec, char *why, size_t size);
/* -t: spec->tty_slave as its controlling terminal and stdio (stdin only
 * with -i), in a session of its own, for job control. */
int run_proc_tty(const struct run_spec *spec, char *why, size_t size);

/* "strata: @cmd: <message>" on fd 2, for code that runs where stdio's
 * buffers are not to be trusted (a child that _exits). */
void run_proc_vsay(const char *cmd, const char *fmt, va_list ap);

/* strata exec (run_exec.c): a process joining a running container, with
 * what its command has: @spec's argv, env, workdir, user, caps, seccomp,
 * tty_slave and interactive. */
struct run_exec {
	int pidfd;      /* the container's init */
	int ns_flags;   /* CLONE_NEW*: its namespaces that are not ours */
	char **cgroups; /* its groups (NULL-terminated), or NULL */
	int pid_pipe;   /* the command's pid goes here, as text */
	/* -d: the command's stdio is /dev/null, and this pipe's write end
	 * closes with its exec ('e' first when it failed); else -1 */
	int started_pipe;
	/* -d, -it with detach keys: a keeper process between (run_exec.c),
	 * which strata exec can let go of; the pid written is its */
	bool keep;
	struct run_spec *spec;
};
/* In a child of strata exec's: joins @x's cgroups and namespaces and
 * starts the command as a sibling (the caller's child, which the caller
 * waits for); _exits 0 once it has, else 1 after saying why. */
void run_exec_enter(const struct run_exec *x) __attribute__((noreturn));
/* The command of @x, in the container already: stdio, environment,
 * directory, the container's credentials (and filter, unless
 * @x->spec->seccomp.len is 0), and its exec. */
void run_exec_command(const struct run_exec *x) __attribute__((noreturn));

/* strata cp (run_cp.c): a tree copied between a running container and the
 * host, from inside the container's user and mount namespaces. */
struct run_cp {
	int pidfd;             /* the container's init */
	int ns_flags;          /* CLONE_NEWUSER | CLONE_NEWNS, as far as not ours */
	bool into;             /* host → container; else container → host */
	const char *path;      /* in the container, absolute */
	int host_dir;          /* the host's side: a directory opened before, */
	const char *host_name; /* and the name in it */
};
/* In a child of strata cp's: joins the namespaces and copies; _exits 0, or
 * 1 after saying why (for each file that could not be copied). */
void run_cp_enter(const struct run_cp *c) __attribute__((noreturn));
/* The same, for a process whose root is the container's already (a
 * stopped container's union mounted for strata cp, ctr_cp_in.c). */
void run_cp_in_root(const struct run_cp *c) __attribute__((noreturn));
/* run_cp_in_root() after chroot(@root), for a child of an instrumented
 * process on a cloned stack: not declared noreturn, so that no sanitizer
 * hook runs at the call (it does not return either). */
void run_cp_chroot(const char *root, const struct run_cp *c);
/* @path's parent into @dir and its last name into @name ("/a/b/" → "/a",
 * "b"; "b" → ".", "b"). */
void run_cp_split(const char *path, char *dir, size_t dsize, char *name, size_t nsize);

/* -t: a pty for the container, and the launcher's side of it (run_tty.c). */
int run_tty_open(struct run_spec *spec, int *master);
/* Our stdin, when a terminal, in raw mode: whether it is (*@saved to
 * restore). */
struct termios;
bool run_tty_raw(struct termios *saved);
/* Copies between the caller's terminal and @master until @daemon exits;
 * returns its exit status, or RUN_TTY_DETACHED once our input had the
 * detach @keys (NULL: none; strata exec's, run cannot detach). */
#define RUN_TTY_DETACHED (-2)
struct detach_keys;
int run_tty_proxy(int master, pid_t daemon, bool interactive, struct detach_keys *keys);

#endif
