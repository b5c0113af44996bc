/* SPDX-License-Identifier: MIT */
/* Finding a mount in /proc/self/mountinfo: see sys.h. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sys.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
	char *p, *q;

	for (p = q = s; *p; p++, q++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] && p[3]) {
			*q = (char)(((p[1] - '0') << 6) | ((p[2] - '0') << 3) | (p[3] - '0'));
			p += 3;
		} else {
			*q = *p;
		}
	}
	*q = '\0';
}

int sys_find_mount(const char *path, const char *fstype, long *minor, long *user_id)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	size_t type_len = strlen(fstype);
	char line[8192];
	int found = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char mp[PATH_MAX], *sep, *opt;
		unsigned maj, min;

		/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT ... - FSTYPE SOURCE SUPEROPTS" */
		if (sscanf(line, "%*s %*s %u:%u %*s %4095s", &maj, &min, mp) != 3 ||
		    !(sep = strstr(line, " - ")))
			continue;
		unescape_octal(mp);
		if (strcmp(mp, path) != 0 || strncmp(sep + 3, fstype, type_len) != 0 ||
		    sep[3 + type_len] != ' ')
			continue;
		/* The last one there is the one a path lookup reaches. */
		found = 1;
		*minor = (long)min;
		if (user_id) {
			opt = strstr(sep, ",user_id=");
			*user_id = opt ? strtol(opt + 9, NULL, 10) : -1;
		}
	}
	fclose(f);
	return found;
}
