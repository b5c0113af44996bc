/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>

#include "strata-error.h"

void strata_set_error(struct strata_error *err, enum strata_errcode code, int sys_errno,
                      const char *fmt, ...)
{
	if (err) {
		va_list ap;

		err->code = code;
		err->sys_errno = sys_errno;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
}

void strata_size_text(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = {"TiB", "GiB", "MiB", "KiB"};

	for (int i = 0; i < 4; i++) {
		uint64_t unit = (uint64_t)1 << (10 * (4 - i));

		if (bytes >= unit && bytes % unit == 0) {
			snprintf(buf, size, "%llu %s", (unsigned long long)(bytes / unit),
			         units[i]);
			return;
		}
	}
	snprintf(buf, size, "%llu bytes", (unsigned long long)bytes);
}
