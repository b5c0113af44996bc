/* SPDX-License-Identifier: MIT */
/* strata run's options (run_args.h): one helper per group of them. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "run_args.h"
#include "run_seccomp.h"

enum {
	OPT_NAME = 256,
	OPT_RM,
	OPT_RO,
	OPT_ENTRY,
	OPT_HOST,
	OPT_NET,
	OPT_ROOT,
	OPT_CAP_ADD,
	OPT_CAP_DROP,
	OPT_ENV_FILE,
	OPT_LIMIT, /* the resource limits: run_limit_option() tells them apart */
	OPT_PULL,
	OPT_LAZY,
	OPT_FETCH_TIMEOUT,
	OPT_TLS,
	OPT_SPAN_CACHE,
	OPT_SECURITY,
	OPT_LOG_OPT,
	OPT_ATTACH_HOLD,
	OPT_DETACH_KEYS,
	OPT_RESTART,
	OPT_MOUNT, /* --mount, --tmpfs, --device: run_mount_option() tells them apart */
	OPT_ULIMIT,
	OPT_INIT,
	OPT_NETWORK,
};

static void run_usage(FILE *out)
{
	fputs("Usage: strata run [OPTIONS] IMAGE [COMMAND [ARG...]]\n"
	      "\n"
	      "Run COMMAND (default: the image's entrypoint and cmd) with the image as its\n"
	      "root, in new user, mount, pid, uts and ipc namespaces, as an ordinary user\n"
	      "or as root.  A tiny init is pid 1: it reaps zombies and forwards signals.\n"
	      "The exit status is the command's (128+N when killed by signal N).\n"
	      "\n"
	      "Options:\n"
	      "      --name NAME       keep the container's changes under NAME between runs\n"
	      "      --rm              remove the container's changes when it exits\n"
	      "  -d, --detach          run in the background: print the container's name\n"
	      "                        once its command has started; its output goes to\n"
	      "                        its log (strata logs)\n"
	      "      --log-opt max-size=SIZE  -d: the log's size before its one rotation\n"
	      "                        (default 10m)\n"
	      "      --restart POLICY  run it again when its command ends: no (default),\n"
	      "                        on-failure[:N] (a status other than 0, N times at\n"
	      "                        most) or always; never after strata stop\n"
	      "      --read-only       no writable layer: writes fail with EROFS\n"
	      "  -e, --env K[=V]       set an environment variable (repeatable; K alone: ours)\n"
	      "  -w, --workdir DIR     working directory in the container\n"
	      "  -u, --user USER       user[:group], by name (from the image) or number\n"
	      "      --entrypoint CMD  replace the image's entrypoint\n"
	      "  -t, --tty             give the command a terminal (a pty)\n"
	      "  -i, --interactive     attach standard input (else it is /dev/null; with\n"
	      "                        -d, strata attach's input, never at its end)\n"
	      "      --detach-keys     not accepted: a foreground run cannot be left\n"
	      "                        running; run it with -d and use strata attach\n"
	      "      --hostname NAME   the container's hostname\n"
	      "  -v, --volume SRC:DST[:ro]  bind SRC from the host at DST\n"
	      "      --mount type=bind,source=SRC,destination=DST[,ro][,bind-propagation=P]\n"
	      "      --mount type=tmpfs,destination=DST[,tmpfs-size=SIZE][,tmpfs-mode=OCTAL]\n"
	      "      --tmpfs DST[:OPTS]  a tmpfs at DST (OPTS: size=, mode=, ro, [no]exec,\n"
	      "                        [no]suid, [no]dev; default rw,noexec,nosuid,nodev)\n"
	      "      --device HOST[:DST][:PERMS]  the host's device node HOST at DST (rwm)\n"
	      "      --ulimit NAME=SOFT[:HARD]  a resource limit of the command (nofile,\n"
	      "                        nproc, core, ...; unlimited for none)\n"
	      "      --init            accepted: strata's own init is always pid 1\n"
	      "      --network MODE    host (default), none (loopback only) or pasta (a\n"
	      "                        network of its own through pasta, from Debian's\n"
	      "                        passt package); --net is the same\n"
	      "  -p, --publish [IP:]HOST:CONTAINER[/tcp|/udp]  forward the host's port HOST\n"
	      "                        (on IP, an IPv4 address; default every address)\n"
	      "                        to the container's port CONTAINER (repeatable;\n"
	      "                        implies --network pasta)\n"
	      "      --cap-add CAPS    give root in the container these capabilities too\n"
	      "      --cap-drop CAPS   take these away (comma-separated; ALL for every one)\n"
	      "      --security-opt seccomp=unconfined|FILE  no seccomp filter, or docker's\n"
	      "                        JSON profile FILE instead of the default one\n"
	      "      --security-opt no-new-privileges  accepted: always so\n"
	      "      --env-file FILE   KEY=VALUE lines (KEY alone: the value here)\n"
	      "      --span-cache SIZE memory for decompressed spans of gzip layers (64M)\n"
	      "Resource limits (cgroup v2, or v1 as root; see strata-run(1)):\n"
	      "      --memory SIZE     memory limit (e.g. 512m, 2g); past it, the OOM killer\n"
	      "      --memory-swap SIZE  memory + swap (default twice --memory; negative: none)\n"
	      "      --memory-reservation SIZE  soft limit, reclaimed down to under pressure\n"
	      "      --cpus N          CPU time limit in CPUs (e.g. 0.5, 1.5)\n"
	      "      --cpu-shares N    relative CPU weight, 2..262144 (v1 scale, 1024 default)\n"
	      "      --cpu-weight N    relative CPU weight, 1..10000 (v2 scale, 100 default)\n"
	      "      --cpuset-cpus L   CPUs it may run on (e.g. 0-1,3)\n"
	      "      --pids-limit N    at most N processes (default 2048; 0 or negative: none)\n"
	      "      --blkio-weight N  relative block I/O weight, 10..1000\n"
	      "      --cgroups MODE    enabled (default), or disabled: no cgroups, no limits\n"
	      "      --pull WHEN       pull the image from its registry: missing (default),\n"
	      "                        always or never\n"
	      "      --lazy[=background]  a pull leaves the layers its index artifact\n"
	      "                        describes to be fetched as they are read (strata pull\n"
	      "                        --lazy); =background also completes them meanwhile\n"
	      "      --fetch-timeout SECONDS  a lazy layer's read fails with EIO when its\n"
	      "                        registry sends nothing for this long (default 30)\n"
	      "      --tls-verify=false  the pull may use plain HTTP or unverified TLS\n"
	      "      --root DIR        the image store\n"
	      "  -h, --help            show this help\n",
	      out);
}

static int add_bind(struct run_spec *spec, const char *arg)
{
	char *copy = strdup(arg), *dst, *mode;
	int rc;

	if (!copy)
		return cli_usage_error("run", "out of memory");
	dst = strchr(copy, ':');
	if (!dst || dst[1] != '/') {
		free(copy);
		return cli_usage_error("run", "-v %s: expected SRC:/DST[:ro]", arg);
	}
	*dst++ = '\0';
	mode = strchr(dst, ':');
	if (mode)
		*mode++ = '\0';
	if (mode && strcmp(mode, "ro") && strcmp(mode, "rw")) {
		free(copy);
		return cli_usage_error("run", "-v %s: mode must be ro or rw", arg);
	}
	rc = run_bind_add(spec, "-v", copy, dst, mode && strcmp(mode, "ro") == 0, 0);
	free(copy);
	return rc;
}

/* docker's --env-file: KEY=VALUE per line, # comments, KEY alone takes
 * the value from our environment (and is skipped when unset). */
static int read_env_file(struct run_args *a, const char *path)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f) {
		cli_error("run: --env-file %s: %s", path, strerror(errno));
		return 1;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *kv = line, *copy = NULL;

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		kv += strspn(kv, " \t");
		if (!*kv || *kv == '#')
			continue;
		if (!strchr(kv, '=')) {
			const char *v = getenv(kv);

			if (!v || asprintf(&copy, "%s=%s", kv, v) < 0)
				continue;
		} else if (!(copy = strdup(kv))) {
			break;
		}
		/* Room for every -e (at most argc of them) and the file's lines. */
		char **v = realloc(a->envs, ((size_t)a->argc + a->max_envs + 2) * sizeof(*v));

		if (!v) {
			free(copy);
			break;
		}
		a->envs = v;
		a->envs[a->n_envs++] = copy;
		a->max_envs++;
	}
	free(line);
	fclose(f);
	return 0;
}

/* The options that shape the container: name, lifetime, root, network. 0,
 * an exit status, or NOT_MINE. */
#define NOT_MINE (-2)

/* A container name is a directory name in the store: room to spare. */
#define RUN_NAME_MAX 128

static int container_option(struct run_args *a, int c, const char *arg)
{
	switch (c) {
	case OPT_NAME:
		if (strlen(arg) > RUN_NAME_MAX)
			return cli_usage_error("run", "--name %.20s...: %zu characters, at most %d",
			                       arg, strlen(arg), RUN_NAME_MAX);
		if (!isalnum((unsigned char)arg[0]) ||
		    strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                "0123456789._-") != strlen(arg))
			return cli_usage_error("run",
			                       "--name %s: a letter or digit, then letters, "
			                       "digits, '.', '_', '-' only",
			                       arg);
		free((char *)a->name);
		a->name = strdup(arg);
		return 0;
	case OPT_RM:
		a->rm = true;
		return 0;
	case OPT_RO:
		a->spec.read_only = true;
		return 0;
	case OPT_HOST:
		free(a->spec.hostname);
		a->spec.hostname = strdup(arg);
		return 0;
	case OPT_ROOT:
		a->root = arg;
		return 0;
	case OPT_PULL:
		if (strcmp(arg, "missing") && strcmp(arg, "always") && strcmp(arg, "never"))
			return cli_usage_error("run", "--pull %s: missing, always or never", arg);
		a->pull = arg[0] == 'm'   ? RUN_PULL_MISSING
		          : arg[0] == 'a' ? RUN_PULL_ALWAYS
		                          : RUN_PULL_NEVER;
		return 0;
	case OPT_LAZY:
		if (arg && strcmp(arg, "background") != 0)
			return cli_usage_error("run", "--lazy=%s: only --lazy=background", arg);
		a->lazy = true;
		a->lazy_background = arg != NULL;
		return 0;
	case OPT_FETCH_TIMEOUT:
		return cli_fetch_timeout_option("run", arg);
	case OPT_TLS:
		return cli_parse_tls_verify(arg, "run", &a->tls_verify_off) < 0 ? 0 : EXIT_USAGE;
	case 'v':
		return add_bind(&a->spec, arg);
	}
	return NOT_MINE;
}

/* docker's -e KEY=VALUE, or -e KEY: our value of KEY, or nothing when
 * unset.  There is room: a->envs has a slot for every argument. */
static int add_env(struct run_args *a, const char *arg)
{
	const char *value;
	char *kv = NULL;

	if (!arg[0] || arg[0] == '=')
		return cli_usage_error("run", "-e %s: expected KEY=VALUE or KEY", arg);
	if (strchr(arg, '='))
		kv = strdup(arg);
	else if ((value = getenv(arg)) && asprintf(&kv, "%s=%s", arg, value) < 0)
		kv = NULL;
	else if (!value)
		return 0;
	if (!kv)
		return cli_usage_error("run", "out of memory");
	a->envs[a->n_envs++] = kv;
	return 0;
}

/* The options that shape the process: its environment, user, directory,
 * command and terminal. */
static int process_option(struct run_args *a, int c, const char *arg)
{
	switch (c) {
	case 'e':
		return add_env(a, arg);
	case OPT_ENV_FILE:
		return read_env_file(a, arg);
	case 'w':
		if (arg[0] != '/')
			return cli_usage_error("run", "-w %s: must be absolute", arg);
		free(a->spec.workdir);
		a->spec.workdir = strdup(arg);
		return 0;
	case 'u':
		free(a->spec.user);
		a->spec.user = strdup(arg);
		return 0;
	case OPT_ENTRY:
		a->entrypoint = arg;
		return 0;
	case 't':
		a->tty = true;
		return 0;
	case 'd':
		a->detach = true;
		return 0;
	case OPT_ATTACH_HOLD: /* strata start -a's, not for users */
		a->det.hold = true;
		return 0;
	case OPT_DETACH_KEYS:
		return cli_usage_error("run", "--detach-keys: a foreground run cannot be detached "
		                              "from; run with -d, then strata attach "
		                              "[--detach-keys=KEYS]");
	case OPT_RESTART:
		return run_restart_option(&a->restart, arg);
	case OPT_LOG_OPT:
		if (strncmp(arg, "max-size=", 9) != 0)
			return cli_usage_error("run", "--log-opt %s: only max-size=SIZE is known",
			                       arg);
		a->det.log_max = cli_parse_bytes(arg + 9);
		if (!a->det.log_max)
			return cli_usage_error("run", "--log-opt %s: not a size (e.g. 10m)", arg);
		return 0;
	case 'i':
		a->spec.interactive = true;
		return 0;
	}
	return NOT_MINE;
}

/* The network: --network (--net), -p. */
static int net_option(struct run_args *a, int c, const char *arg)
{
	switch (c) {
	case OPT_NET:
	case OPT_NETWORK:
		return run_network_option(&a->net, arg);
	case 'p':
		return run_publish_option(&a->net, arg);
	}
	return NOT_MINE;
}

/* After every option: the network mode the container gets. */
static int net_check(struct run_args *a)
{
	int rc = run_net_check(&a->net);

	a->spec.net_none = a->net.mode != RUN_NET_HOST;
	a->spec.net = a->net.mode == RUN_NET_PASTA ? &a->net : NULL;
	return rc;
}

/* The options that limit it: capabilities, seccomp, resources, spans. */
static int limit_option(struct run_args *a, int c, const char *arg, const char *opt)
{
	switch (c) {
	case OPT_CAP_ADD:
	case OPT_CAP_DROP:
		/* Collected apart: drops apply first, then adds, whatever the
		 * order given (as docker does). */
		return run_caps_change(c == OPT_CAP_ADD ? &a->cap_add : &a->cap_drop, arg, true);
	case OPT_SPAN_CACHE:
		a->spec.span_cache = cli_parse_bytes(arg);
		if (!a->spec.span_cache)
			return cli_usage_error("run", "--span-cache %s: not a size (e.g. 64M)",
			                       arg);
		return 0;
	case OPT_SECURITY:
		return run_security_opt(&a->seccomp, arg);
	case OPT_LIMIT:
		return run_limit_option(&a->limits, opt, arg);
	}
	return NOT_MINE;
}

/* The options that add to the container's root and the command's limits:
 * mounts, devices, rlimits, --init. */
static int root_option(struct run_args *a, int c, const char *arg, const char *opt)
{
	switch (c) {
	case OPT_MOUNT:
		return run_mount_option(&a->spec, opt, arg);
	case OPT_ULIMIT:
		return run_ulimit_option(&a->spec, arg);
	case OPT_INIT:
		return 0; /* strata's init is always pid 1 (run_init.c) */
	}
	return NOT_MINE;
}

/* The option @c (long @name) with @arg, kept for strata start unless it
 * belongs to this run alone. */
static int keep_option(struct run_args *a, const char *name, const char *arg)
{
	static const char *const not_kept[] = {"name", "rm",         "detach",      "pull", "root",
	                                       "help", "tls-verify", "attach-hold", "lazy", NULL};
	char **v, *opt;

	for (size_t i = 0; not_kept[i]; i++)
		if (strcmp(name, not_kept[i]) == 0)
			return 0;
	if (asprintf(&opt, arg ? "--%s=%s" : "--%s", name, arg) < 0)
		return cli_usage_error("run", "out of memory");
	if (!(v = realloc(a->options, (a->n_options + 2) * sizeof(*v)))) {
		free(opt);
		return cli_usage_error("run", "out of memory");
	}
	a->options = v;
	v[a->n_options++] = opt;
	v[a->n_options] = NULL;
	return 0;
}

/* The long name of option @c: a short one's by its letter, a long one's
 * from getopt's index (the limits share one value). */
static const char *long_name(const struct option *longopts, int c, int idx)
{
	if (c >= 256)
		return longopts[idx].name;
	for (size_t i = 0; longopts[i].name; i++)
		if (longopts[i].val == c)
			return longopts[i].name;
	return "?";
}

int run_args_parse(int argc, char **argv, struct run_args *a, int *first_arg)
{
	static const struct option longopts[] = {
	    {"name", required_argument, NULL, OPT_NAME},
	    {"rm", no_argument, NULL, OPT_RM},
	    {"read-only", no_argument, NULL, OPT_RO},
	    {"env", required_argument, NULL, 'e'},
	    {"workdir", required_argument, NULL, 'w'},
	    {"user", required_argument, NULL, 'u'},
	    {"entrypoint", required_argument, NULL, OPT_ENTRY},
	    {"hostname", required_argument, NULL, OPT_HOST},
	    {"tty", no_argument, NULL, 't'},
	    {"interactive", no_argument, NULL, 'i'},
	    {"volume", required_argument, NULL, 'v'},
	    {"net", required_argument, NULL, OPT_NET},
	    {"network", required_argument, NULL, OPT_NETWORK},
	    {"publish", required_argument, NULL, 'p'},
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"cap-add", required_argument, NULL, OPT_CAP_ADD},
	    {"cap-drop", required_argument, NULL, OPT_CAP_DROP},
	    {"env-file", required_argument, NULL, OPT_ENV_FILE},
	    {"memory", required_argument, NULL, OPT_LIMIT},
	    {"memory-swap", required_argument, NULL, OPT_LIMIT},
	    {"memory-reservation", required_argument, NULL, OPT_LIMIT},
	    {"cpus", required_argument, NULL, OPT_LIMIT},
	    {"cpu-shares", required_argument, NULL, OPT_LIMIT},
	    {"cpu-weight", required_argument, NULL, OPT_LIMIT},
	    {"cpuset-cpus", required_argument, NULL, OPT_LIMIT},
	    {"pids-limit", required_argument, NULL, OPT_LIMIT},
	    {"blkio-weight", required_argument, NULL, OPT_LIMIT},
	    {"cgroups", required_argument, NULL, OPT_LIMIT},
	    {"span-cache", required_argument, NULL, OPT_SPAN_CACHE},
	    {"pull", required_argument, NULL, OPT_PULL},
	    {"lazy", optional_argument, NULL, OPT_LAZY},
	    {"fetch-timeout", required_argument, NULL, OPT_FETCH_TIMEOUT},
	    {"tls-verify", optional_argument, NULL, OPT_TLS},
	    {"security-opt", required_argument, NULL, OPT_SECURITY},
	    {"detach", no_argument, NULL, 'd'},
	    {"log-opt", required_argument, NULL, OPT_LOG_OPT},
	    {"attach-hold", no_argument, NULL, OPT_ATTACH_HOLD},
	    {"detach-keys", required_argument, NULL, OPT_DETACH_KEYS},
	    {"restart", required_argument, NULL, OPT_RESTART},
	    {"mount", required_argument, NULL, OPT_MOUNT},
	    {"tmpfs", required_argument, NULL, OPT_MOUNT},
	    {"device", required_argument, NULL, OPT_MOUNT},
	    {"ulimit", required_argument, NULL, OPT_ULIMIT},
	    {"init", no_argument, NULL, OPT_INIT},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c, rc, idx = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+e:w:u:v:p:tidh", longopts, &idx)) != -1) {
		if (c == 'h') {
			run_usage(stdout);
			return -1; /* done: exit 0 */
		}
		rc = container_option(a, c, optarg);
		if (rc == NOT_MINE)
			rc = process_option(a, c, optarg);
		if (rc == NOT_MINE)
			rc = limit_option(a, c, optarg, longopts[idx].name);
		if (rc == NOT_MINE)
			rc = root_option(a, c, optarg, longopts[idx].name);
		if (rc == NOT_MINE)
			rc = net_option(a, c, optarg);
		if (rc == NOT_MINE)
			return cli_usage_error("run", "unknown or incomplete option '%s'",
			                       argv[optind - 1]);
		if (rc || (rc = keep_option(a, long_name(longopts, c, idx), optarg)))
			return rc;
	}
	if (optind >= argc)
		return cli_usage_error("run", "no image given");
	if (a->rm && a->restart.policy != RUN_RESTART_NO)
		return cli_usage_error("run",
		                       "--rm and --restart: a container to run again is kept");
	if (a->rm && a->name)
		return cli_usage_error("run", "--rm and --name: a named container is kept");
	if ((rc = run_limits_check(&a->limits)) || (rc = net_check(a)))
		return rc;
	*first_arg = optind;
	return 0;
}

void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

void run_args_free(struct run_args *a)
{
	for (size_t i = 0; i < a->n_envs; i++)
		free(a->envs[i]);
	free(a->envs);
	free((char *)a->name);
	run_binds_free(&a->spec);
	free(a->spec.ulimits);
	free(a->net.ports);
	strv_free(a->spec.env);
	strv_free(a->spec.argv);
	free(a->spec.workdir);
	free(a->spec.user);
	free(a->spec.hostname);
	free(a->spec.rootfs);
	free(a->spec.console);
	run_cgroup_finish(a->spec.cgroups);
	free(a->spec.seccomp.filter);
	free(a->stop_signal);
	strv_free(a->options);
}
