/* SPDX-License-Identifier: MIT */
/*
 * Capability names for --cap-add / --cap-drop.  Root in the container starts
 * from docker's default set, not from everything a user namespace grants:
 * the rest (CAP_SYS_ADMIN above all) widens what a compromised container
 * can reach in the kernel, even when it is confined to its namespaces.
 */
#include <ctype.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "run.h"

static const char *const cap_names[] = {
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
};

#define N_CAPS (sizeof(cap_names) / sizeof(cap_names[0]))

uint64_t run_caps_default(void)
{
	static const int keep[] = {
	    CAP_CHOWN,      CAP_DAC_OVERRIDE, CAP_FOWNER,      CAP_FSETID,           CAP_KILL,
	    CAP_SETGID,     CAP_SETUID,       CAP_SETPCAP,     CAP_NET_BIND_SERVICE, CAP_NET_RAW,
	    CAP_SYS_CHROOT, CAP_MKNOD,        CAP_AUDIT_WRITE, CAP_SETFCAP};
	uint64_t mask = 0;

	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		mask |= 1ULL << keep[i];
	return mask;
}

int run_cap_number(const char *name)
{
	const char *bare = strncasecmp(name, "cap_", 4) == 0 ? name + 4 : name;

	for (size_t i = 0; i < N_CAPS; i++)
		if (strcasecmp(bare, cap_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *run_cap_name(int cap)
{
	return cap >= 0 && (size_t)cap < N_CAPS ? cap_names[cap] : NULL;
}

/* "CAP_SYS_ADMIN", "sys_admin" or "ALL". */
int run_caps_change(uint64_t *mask, const char *list, bool add)
{
	char copy[1024], *save = NULL;

	snprintf(copy, sizeof(copy), "%s", list);
	for (char *name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		int cap = run_cap_number(name);
		uint64_t bit = cap >= 0 ? 1ULL << cap : 0;

		if (strcasecmp(name, "all") == 0 || strcasecmp(name, "cap_all") == 0)
			bit = (1ULL << N_CAPS) - 1;
		if (!bit)
			return cli_usage_error("run", "--cap-%s %s: no such capability",
			                       add ? "add" : "drop", name);
		*mask = add ? *mask | bit : *mask & ~bit;
	}
	return 0;
}
