/* SPDX-License-Identifier: MIT */
/* strata exec: a command in a running container. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ctr.h"
#include "strata-store.h"

static const char usage[] =
    "Usage: strata exec [OPTIONS] CONTAINER COMMAND [ARG...]\n"
    "\n"
    "Run COMMAND in the running CONTAINER: in its namespaces (user, mount, pid,\n"
    "uts, ipc, and network when it has its own) and cgroups, with the capabilities,\n"
    "no_new_privs and seccomp filter its command has, the image's and the\n"
    "container's environment, and its user and working directory unless given.\n"
    "The exit status is COMMAND's (126: it cannot run, 127: not found).\n"
    "\n"
    "Options:\n"
    "  -e, --env K[=V]       set an environment variable (repeatable; K alone: ours)\n"
    "  -u, --user USER       user[:group], by name (from the image) or number\n"
    "  -w, --workdir DIR     working directory in the container (must exist)\n"
    "  -t, --tty             give the command a terminal (a pty)\n"
    "  -i, --interactive     attach standard input (else it is /dev/null)\n"
    "  -d, --detach          return once COMMAND has started, leaving it running\n"
    "                        (its output goes nowhere; not with -i or -t)\n"
    "      --detach-keys KEYS  with -t: the keys that leave COMMAND running and\n"
    "                        return 0 (comma-separated ctrl-X or characters, \"\"\n"
    "                        for none; default ctrl-p,ctrl-q)\n"
    "      --root DIR        the image store\n"
    "  -h, --help            show this help\n";

static int parse(int argc, char **argv, const char **root, struct ctr_exec_opts *o)
{
	enum { OPT_ROOT = 256, OPT_KEYS };
	static const struct option longopts[] = {
	    {"env", required_argument, NULL, 'e'},
	    {"user", required_argument, NULL, 'u'},
	    {"workdir", required_argument, NULL, 'w'},
	    {"tty", no_argument, NULL, 't'},
	    {"interactive", no_argument, NULL, 'i'},
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"detach", no_argument, NULL, 'd'},
	    {"detach-keys", required_argument, NULL, OPT_KEYS},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+e:u:w:tidh", longopts, NULL)) != -1) {
		if (c == OPT_ROOT)
			*root = optarg;
		else if (c == OPT_KEYS && (rc = cli_detach_keys_option("exec", optarg, &o->keys)))
			return rc;
		else if (c == OPT_KEYS)
			continue;
		else if (c == 'd')
			o->detach = true;
		else if (c == 'e' && (!optarg[0] || optarg[0] == '='))
			return cli_usage_error("exec", "-e %s: expected KEY=VALUE or KEY", optarg);
		else if (c == 'e')
			o->envs[o->n_envs++] = optarg;
		else if (c == 'u')
			o->user = optarg;
		else if (c == 'w' && optarg[0] != '/')
			return cli_usage_error("exec", "-w %s: must be absolute", optarg);
		else if (c == 'w')
			o->workdir = optarg;
		else if (c == 't')
			o->tty = true;
		else if (c == 'i')
			o->interactive = true;
		else
			return cli_other_option(c, "exec", usage, argv);
	}
	if (o->detach && (o->tty || o->interactive))
		return cli_usage_error("exec",
		                       "-d with -%s: a detached command has no terminal "
		                       "or input (run it with -it, and leave it with the "
		                       "detach keys)",
		                       o->tty ? "t" : "i");
	if (optind >= argc)
		return cli_usage_error("exec", "no container given");
	if (optind + 1 >= argc)
		return cli_usage_error("exec", "no command given");
	o->argv = argv + optind + 1;
	return -1;
}

int cmd_exec(int argc, char **argv)
{
	struct ctr_exec_opts o = {.envs = calloc((size_t)argc + 1, sizeof(char *))};
	const char *root = NULL;
	char dir[PATH_MAX];
	struct store *s;
	int rc;

	if (!o.envs)
		return 1;
	detach_keys_parse(DETACH_KEYS_DEFAULT, &o.keys);
	rc = parse(argc, argv, &root, &o);
	if (rc < 0 && ctr_open(root, "exec", argv[optind], &s, dir, sizeof(dir)) == 0) {
		rc = ctr_exec(s, dir, argv[optind], &o);
		store_close(s);
	} else if (rc < 0) {
		rc = 1;
	}
	free(o.envs);
	return rc;
}
