/* SPDX-License-Identifier: MIT */
/*
 * Shared libraries loaded on first use: what archive_dl and crypto_dl share.
 *
 * Each of them lists the functions strata calls once, as an X-macro, and
 * keeps one pointer per function, typed from the library's own prototype
 * (sym_<name>), so that a call through it is checked as a direct call would
 * be.  dl_library_load() opens the library and fills every pointer, once per
 * process.  archive_dl.h and crypto_dl.h say why each library is worth it.
 */
#ifndef STRATA_DL_H
#define STRATA_DL_H

#include <stddef.h>

#include "strata-error.h"

/* The pointers' declarations, for the header that lists @FUNCTIONS. */
#define DL_DECLARE_SYM(fn) extern __typeof__(fn) *sym_##fn;

/* In one .c file: defines the pointers of the X-macro list @FUNCTIONS and
 * @lib, the struct dl_library that fills them from @so_name. */
#define DL_LIBRARY(lib, so_name, FUNCTIONS)                                                        \
	FUNCTIONS(DL_DEFINE_SYM)                                                                   \
	static const struct dl_symbol lib##_symbols[] = {FUNCTIONS(DL_SYMBOL)};                    \
	static struct dl_library lib = {                                                           \
	    .soname = so_name,                                                                     \
	    .symbols = lib##_symbols,                                                              \
	    .n_symbols = sizeof(lib##_symbols) / sizeof(lib##_symbols[0]),                         \
	};
/* DL_LIBRARY's helpers. */
#define DL_DEFINE_SYM(fn) __typeof__(fn) *sym_##fn;
#define DL_SYMBOL(fn)     {#fn, (void *)&sym_##fn},

struct dl_symbol {
	const char *name;
	void *slot; /* &sym_<name>, a function pointer */
};

struct dl_library {
	const char *soname;
	const struct dl_symbol *symbols;
	size_t n_symbols;
	/* The first dl_library_load()'s outcome, for every later one. */
	int state;     /* 0 not tried yet, 1 loaded, -1 failed */
	char why[512]; /* when failed: "<soname>: <why>" */
};

/* Opens @lib->soname and resolves every symbol, once per process
 * (thread-safe); later calls only report the first one's outcome.  On
 * failure fills @err (STRATA_ERR_SYS, ELIBACC, "<soname>: <why>"), sets
 * errno to ELIBACC and returns -1; every sym_* of @lib stays NULL. */
int dl_library_load(struct dl_library *lib, struct strata_error *err);

#endif
