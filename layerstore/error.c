/* SPDX-License-Identifier: MIT */
/* Errors that gain context on the way up. */
#include <stdio.h>
#include <string.h>

#include "store.h"

int store_fail_prefix(struct strata_error *err, const char *fmt, const char *what)
{
	char msg[sizeof(err->msg)];

	if (!err)
		return -1;
	/* strata_fail would read err->msg while writing it. */
	snprintf(msg, sizeof(msg), "%s", err->msg);
	return strata_fail(err, err->code, err->sys_errno, fmt, what, msg);
}
