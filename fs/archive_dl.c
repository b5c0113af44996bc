/* SPDX-License-Identifier: MIT */
/* libarchive through dlopen(): see archive_dl.h for why. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "archive_dl.h"

#define ARCHIVE_DL_SONAME "libarchive.so.13"

#define DEFINE_SYM(fn) __typeof__(fn) *sym_##fn;
ARCHIVE_DL_FUNCTIONS(DEFINE_SYM)
#undef DEFINE_SYM

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_rc;
/* dlerror()'s text is gone by the next dl call: kept for every caller. */
static char load_why[512];

/* dlopen()'s message already starts with the library's name. */
static int load_failed(void *handle, const char *symbol)
{
	const char *why = dlerror();

	if (symbol)
		snprintf(load_why, sizeof(load_why), "%s: no symbol %s", ARCHIVE_DL_SONAME, symbol);
	else
		snprintf(load_why, sizeof(load_why), "%s",
		         why ? why : ARCHIVE_DL_SONAME ": cannot load");
	if (handle)
		dlclose(handle);
	return -1;
}

static int load(void)
{
	/* RTLD_NOW: a symbol missing from an older libarchive fails here, not
	 * at some call in the middle of an import. */
	void *handle = dlopen(ARCHIVE_DL_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!handle)
		return load_failed(NULL, NULL);
#define RESOLVE_SYM(fn)                                                                            \
	sym_##fn = (__typeof__(sym_##fn))dlsym(handle, #fn);                                       \
	if (!sym_##fn)                                                                             \
		return load_failed(handle, #fn);
	ARCHIVE_DL_FUNCTIONS(RESOLVE_SYM)
#undef RESOLVE_SYM
	return 0;
}

static void load_once_fn(void)
{
	load_rc = load();
}

int archive_dl_load(struct strata_error *err)
{
	pthread_once(&load_once, load_once_fn);
	if (load_rc == 0)
		return 0;
	return strata_fail(err, STRATA_ERR_SYS, ELIBACC, "%s", load_why);
}
