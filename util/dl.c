/* SPDX-License-Identifier: MIT */
/* Shared libraries through dlopen() on first use: see dl.h. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "dl.h"

/* One lock for every library.  It is taken at each call, not only the
 * first: callers load once per command or per blob, not per byte, and an
 * uncontended lock is cheaper than getting double-checked locking right. */
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

static void set_sym(const struct dl_symbol *sym, void *address)
{
	/* POSIX gives void * and function pointers one representation (dlsym()
	 * relies on it): copy the bytes into the typed pointer. */
	memcpy(sym->slot, &address, sizeof(address));
}

static int load_failed(struct dl_library *lib, void *handle, const char *symbol)
{
	/* dlerror()'s text is gone by the next dl call: kept for every caller. */
	const char *why = dlerror();

	if (symbol)
		snprintf(lib->why, sizeof(lib->why), "%s: no symbol %s", lib->soname, symbol);
	else if (why) /* dlopen()'s message already starts with the library's name */
		snprintf(lib->why, sizeof(lib->why), "%s", why);
	else
		snprintf(lib->why, sizeof(lib->why), "%s: cannot load", lib->soname);
	/* None may point into a library that is closed again. */
	for (size_t i = 0; i < lib->n_symbols; i++)
		set_sym(&lib->symbols[i], NULL);
	if (handle)
		dlclose(handle);
	return -1;
}

static int load(struct dl_library *lib)
{
	/* RTLD_NOW: a symbol missing from an older library fails here, not at
	 * some call in the middle of an import.  RTLD_LOCAL: what it defines
	 * stays out of the way of the other libraries' symbols. */
	void *handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);

	if (!handle)
		return load_failed(lib, NULL, NULL);
	for (size_t i = 0; i < lib->n_symbols; i++) {
		void *address = dlsym(handle, lib->symbols[i].name);

		if (!address)
			return load_failed(lib, handle, lib->symbols[i].name);
		set_sym(&lib->symbols[i], address);
	}
	return 0; /* @handle stays open until the process exits */
}

int dl_library_load(struct dl_library *lib, struct strata_error *err)
{
	int state;

	pthread_mutex_lock(&load_lock);
	if (lib->state == 0)
		lib->state = load(lib) == 0 ? 1 : -1;
	state = lib->state;
	pthread_mutex_unlock(&load_lock);
	if (state > 0)
		return 0;
	strata_fail(err, STRATA_ERR_SYS, ELIBACC, "%s", lib->why);
	errno = ELIBACC; /* for callers with no @err */
	return -1;
}
