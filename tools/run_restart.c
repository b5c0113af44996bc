/* SPDX-License-Identifier: MIT */
/*
 * --restart: the launcher (a -d container's supervisor) runs the container
 * again when its command ends, as podman's conmon does: no (the default),
 * on-failure[:N] (a status other than 0, at most N times), always.  Never
 * after strata stop (it marks the record "stopping" first), never when
 * the command did not start at all, and after a pause that doubles from
 * 100 ms to 10 s, so that a command that fails at once does not spin.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ctr.h"
#include "run.h"
#include "strata-store.h"

int run_restart_option(struct run_restart *r, const char *arg)
{
	char *end;

	r->max = 0;
	if (strcmp(arg, "no") == 0) {
		r->policy = RUN_RESTART_NO;
	} else if (strcmp(arg, "always") == 0) {
		r->policy = RUN_RESTART_ALWAYS;
	} else if (strncmp(arg, "on-failure", 10) == 0 && (!arg[10] || arg[10] == ':')) {
		r->policy = RUN_RESTART_ON_FAILURE;
		if (arg[10]) {
			long n = strtol(arg + 11, &end, 10);

			if (end == arg + 11 || *end || n < 0 || n > INT_MAX)
				return cli_usage_error(
				    "run", "--restart %s: on-failure:N, N a count", arg);
			r->max = (int)n;
		}
	} else {
		return cli_usage_error("run", "--restart %s: no, on-failure[:N] or always", arg);
	}
	return 0;
}

/* Whether strata stop has been asked to stop the container in @dir. */
static bool stopping(const char *dir)
{
	json_t *st = ctr_state(dir);
	bool yes = json_is_true(json_object_get(st, "stopping"));

	json_decref(st);
	return yes;
}

bool run_restart_again(const struct run_restart *r, const char *dir, int status, bool started)
{
	long ms;

	if (r->policy == RUN_RESTART_NO || !started || stopping(dir) ||
	    (r->policy == RUN_RESTART_ON_FAILURE && (status == 0 || (r->max && r->runs >= r->max))))
		return false;
	ms = r->runs < 7 ? 100L << r->runs : 10000;
	/* A signal (strata stop's, forwarded to nobody) cuts the pause short. */
	nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000}, NULL);
	return !stopping(dir);
}
