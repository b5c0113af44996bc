/* SPDX-License-Identifier: MIT */
/* strata run's command line (run_args.c). */
#ifndef STRATA_RUN_ARGS_H
#define STRATA_RUN_ARGS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "run.h"

/* --pull: when run pulls the image from its registry. */
enum run_pull { RUN_PULL_MISSING, RUN_PULL_ALWAYS, RUN_PULL_NEVER };

struct run_args {
	const char *root, *name, *entrypoint;
	enum run_pull pull;
	bool lazy;            /* --lazy: a pull leaves described layers to fetch on reads */
	bool lazy_background; /* --lazy=background: and completes them meanwhile */
	bool tls_verify_off;
	bool rm, tty, detach;
	char *stop_signal; /* the image's StopSignal, or NULL */
	/* The options as "--long=value", but those of this run alone (name,
	 * rm, detach, pull, root...): what strata start runs the container
	 * with again.  NULL-terminated. */
	char **options;
	size_t n_options;
	char **user_args; /* the command given after the image (argv's) */
	int n_user_args;
	struct run_detach det;
	struct run_restart restart;
	char **envs;
	size_t n_envs, max_envs; /* max_envs: room added for --env-file lines */
	int argc;
	struct run_limits limits;
	struct run_net net; /* --network, -p */
	uint64_t cap_add, cap_drop;
	bool fresh; /* the container directory is this run's own */
	/* --security-opt seccomp=: NULL (the default profile), unconfined, FILE */
	const char *seccomp;
	struct run_spec spec;
};

/* Parses the options into @a (whose envs has room for argc entries) and
 * sets *@first_arg to the image's index: 0, -1 after --help, else the
 * exit status. */
int run_args_parse(int argc, char **argv, struct run_args *a, int *first_arg);
void run_args_free(struct run_args *a);
/* Frees a NULL-terminated array of strings. */
void strv_free(char **v);

#endif
