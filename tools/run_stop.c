/* SPDX-License-Identifier: MIT */
/* strata rm -f: a running container is stopped by killing its launcher
 * (the daemon, the init and the command follow it: PR_SET_PDEATHSIG). */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "run.h"
#include "strata-store.h"

/* Whether @pid runs the same strata binary as we do: a pid recorded long
 * ago may name another process now. */
bool run_is_strata(pid_t pid)
{
	char path[64], exe[PATH_MAX], self[PATH_MAX];
	ssize_t a, b;

	snprintf(path, sizeof(path), "/proc/%ld/exe", (long)pid);
	a = readlink(path, exe, sizeof(exe) - 1);
	b = readlink("/proc/self/exe", self, sizeof(self) - 1);
	return a > 0 && a == b && memcmp(exe, self, (size_t)a) == 0;
}

int run_stop(struct store *s, const char *name, const char *state_json)
{
	json_t *state = json_loads(state_json, 0, NULL);
	pid_t pid = (pid_t)json_integer_value(json_object_get(state, "pid"));
	char dir[PATH_MAX];

	json_decref(state);
	if (store_container_path(s, name, dir, sizeof(dir)) < 0 || pid <= 0 ||
	    !run_is_strata(pid)) {
		cli_error("rm: %s: running, and its launcher is not found to stop it", name);
		return -1;
	}
	if (kill(pid, SIGKILL) < 0 && errno != ESRCH) {
		cli_error("rm: %s: stopping its launcher (pid %ld): %s", name, (long)pid,
		          strerror(errno));
		return -1;
	}
	/* Its lock goes with the last of its processes: up to 10 s. */
	for (int i = 0; i < 1000 && store_container_running(dir); i++)
		nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
	if (store_container_running(dir)) {
		cli_error("rm: %s: still running 10 s after its launcher was killed", name);
		return -1;
	}
	/* Its pasta does not die with the launcher (run_pasta.c). */
	run_pasta_reap(state_json);
	return 0;
}
