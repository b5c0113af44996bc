/* SPDX-License-Identifier: MIT */
/* libseccomp through dlopen(): see seccomp_dl.h for why. */
#include "seccomp_dl.h"

DL_LIBRARY(libseccomp, "libseccomp.so.2", SECCOMP_DL_FUNCTIONS)

int dl_seccomp_load(struct strata_error *err)
{
	return dl_library_load(&libseccomp, err);
}
