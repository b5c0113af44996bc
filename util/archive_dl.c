/* SPDX-License-Identifier: MIT */
/* libarchive through dlopen(): see archive_dl.h for why. */
#include "archive_dl.h"

DL_LIBRARY(libarchive, "libarchive.so.13", ARCHIVE_DL_FUNCTIONS)

int dl_archive_load(struct strata_error *err)
{
	return dl_library_load(&libarchive, err);
}
