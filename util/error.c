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
