/* SPDX-License-Identifier: MIT */
/*
 * strata start: a stopped container run again, as strata run ran it: its
 * recorded options (as given, from the directory it was given in), its
 * image by digest, the command given after it, and its name, so that its
 * directory, upper and id maps are the ones it had (ctr.h).  With -a or
 * -i, strata run runs it detached in a child of ours, with --attach-hold,
 * and we attach to it as strata attach does: its supervisor keeps what the
 * command says before we connect and sends it to us first, so that no
 * line is lost (and waits for us a little if it has already ended); the
 * container runs on if we are killed or detach, as podman's.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "ctr.h"
#include "strata-store.h"

/* Appends the strings of the JSON array @arr to @argv at *@n. */
static void append(char **argv, size_t *n, json_t *arr)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
	{
		if (json_is_string(v))
			argv[(*n)++] = (char *)json_string_value(v);
	}
}

/* strata run's arguments for @st: NULL-terminated, pointing into @st. */
static char **run_argv(json_t *st, const char *name, const char *root, bool attach)
{
	json_t *opts = json_object_get(st, "run_options"), *args = json_object_get(st, "run_args");
	const char *digest = json_string_value(json_object_get(st, "digest"));
	char **argv = calloc(json_array_size(opts) + json_array_size(args) + 12, sizeof(*argv));
	size_t n = 0;

	if (!argv)
		return NULL;
	argv[n++] = "strata";
	argv[n++] = "run";
	argv[n++] = "--detach";
	if (attach)
		argv[n++] = "--attach-hold";
	argv[n++] = "--pull=never";
	if (root) {
		argv[n++] = "--root";
		argv[n++] = (char *)root;
	}
	argv[n++] = "--name";
	argv[n++] = (char *)name;
	append(argv, &n, opts);
	argv[n++] = (char *)digest;
	append(argv, &n, args);
	return argv;
}

/* Runs strata run -d --attach-hold as our child, quiet but for errors,
 * then attaches: the container's exit status, or 0 after the detach keys,
 * or 1 after saying why. */
static int start_attached(char **argv, const char *cwd, const char *dir, const char *name,
                          const struct ctr_attach_opts *o)
{
	pid_t pid;
	int st;

	fflush(NULL);
	if ((pid = fork()) < 0) {
		cli_error("start: fork: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (null >= 0) /* its name, which run -d prints */
			dup2(null, STDOUT_FILENO);
		if (cwd && chdir(cwd) < 0)
			cli_error("start: %s: %s: %s (relative paths are from here)", name, cwd,
			          strerror(errno));
		execv("/proc/self/exe", argv);
		cli_error("start: running strata run: %s", strerror(errno));
		_exit(1);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) /* it said why */
		return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
	return ctr_attach(dir, name, o);
}

int ctr_start(const char *dir, const char *name, const char *root,
              const struct ctr_attach_opts *attach)
{
	json_t *st = ctr_state(dir);
	const char *cwd = json_string_value(json_object_get(st, "cwd"));
	char **argv, abs_root[PATH_MAX];

	/* The store as named here, before the move to the container's cwd. */
	if (root && realpath(root, abs_root))
		root = abs_root;
	if (store_container_running(dir)) {
		cli_error("start: %s: already running", name);
	} else if (!json_is_array(json_object_get(st, "run_options")) ||
	           !json_is_string(json_object_get(st, "digest"))) {
		cli_error("start: %s: its record has no options to run it with again "
		          "(made by an older strata)",
		          name);
	} else if (!(argv = run_argv(st, name, root, attach != NULL))) {
		cli_error("start: out of memory");
	} else if (attach) {
		int rc = start_attached(argv, cwd, dir, name, attach);

		free(argv);
		json_decref(st);
		return rc;
	} else {
		/* Relative paths in its options were given from there. */
		if (cwd && chdir(cwd) < 0)
			cli_error("start: %s: %s: %s (relative paths are from here)", name, cwd,
			          strerror(errno));
		execv("/proc/self/exe", argv);
		cli_error("start: running strata run: %s", strerror(errno));
		free(argv);
	}
	json_decref(st);
	return 1;
}
