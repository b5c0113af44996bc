/* SPDX-License-Identifier: MIT */
/* --ulimit NAME=SOFT[:HARD], as docker names the limits; the command's
 * process sets them before its exec (run_proc.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"
#include "run.h"

static const struct {
	const char *name;
	int resource;
} names[] = {
    {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
    {"data", RLIMIT_DATA},         {"fsize", RLIMIT_FSIZE},
    {"locks", RLIMIT_LOCKS},       {"memlock", RLIMIT_MEMLOCK},
    {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
    {"nofile", RLIMIT_NOFILE},     {"nproc", RLIMIT_NPROC},
    {"rss", RLIMIT_RSS},           {"rtprio", RLIMIT_RTPRIO},
    {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
    {"stack", RLIMIT_STACK},       {"as", RLIMIT_AS},
};

const char *run_ulimit_name(int resource)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].resource == resource)
			return names[i].name;
	return "?";
}

/* A limit's value: digits, or -1/unlimited.  0, or -1 when it is none. */
static int limit_value(const char *s, size_t len, unsigned long long *out)
{
	char buf[32], *end;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (strcmp(buf, "-1") == 0 || strcmp(buf, "unlimited") == 0) {
		*out = RLIM_INFINITY;
		return 0;
	}
	if (strspn(buf, "0123456789") != len)
		return -1;
	*out = strtoull(buf, &end, 10);
	return *out == RLIM_INFINITY ? -1 : 0;
}

int run_ulimit_option(struct run_spec *spec, const char *arg)
{
	const char *eq = strchr(arg, '='), *colon;
	struct run_ulimit u = {.resource = -1}, *v;
	size_t i;

	for (i = 0; eq && i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == (size_t)(eq - arg) &&
		    strncmp(arg, names[i].name, (size_t)(eq - arg)) == 0)
			u.resource = names[i].resource;
	if (!eq || u.resource < 0) {
		char known[256] = "";

		/* The names from the table: the message never misses one. */
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s",
			         i ? ", " : "", names[i].name);
		return cli_usage_error(
		    "run", "--ulimit %s: expected NAME=SOFT[:HARD], NAME one of %s", arg, known);
	}
	colon = strchr(eq + 1, ':');
	if (limit_value(eq + 1, colon ? (size_t)(colon - eq - 1) : strlen(eq + 1), &u.soft) < 0 ||
	    limit_value(colon ? colon + 1 : eq + 1, strlen(colon ? colon + 1 : eq + 1), &u.hard) <
	        0)
		return cli_usage_error("run", "--ulimit %s: a limit is a number, -1 or unlimited",
		                       arg);
	if (u.soft > u.hard)
		return cli_usage_error("run", "--ulimit %s: the soft limit is above the hard one",
		                       arg);
	/* The last one given for a name counts. */
	for (i = 0; i < spec->n_ulimits; i++)
		if (spec->ulimits[i].resource == u.resource) {
			spec->ulimits[i] = u;
			return 0;
		}
	if (!(v = realloc(spec->ulimits, (spec->n_ulimits + 1) * sizeof(*v))))
		return cli_usage_error("run", "out of memory");
	spec->ulimits = v;
	v[spec->n_ulimits++] = u;
	return 0;
}

int run_ulimits_raise(const struct run_spec *spec)
{
	for (size_t i = 0; i < spec->n_ulimits; i++) {
		const struct run_ulimit *u = &spec->ulimits[i];
		struct rlimit rl;
		unsigned long long had;

		if (getrlimit(u->resource, &rl) < 0 || (unsigned long long)rl.rlim_max >= u->hard)
			continue;
		had = (unsigned long long)rl.rlim_max;
		rl.rlim_max = (rlim_t)u->hard;
		if (setrlimit(u->resource, &rl) < 0) {
			cli_error("run: --ulimit %s: the hard limit here is %llu; raising it needs "
			          "CAP_SYS_RESOURCE, as root has (%s)",
			          run_ulimit_name(u->resource), had, strerror(errno));
			return 1;
		}
	}
	return 0;
}
