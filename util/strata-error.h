/* SPDX-License-Identifier: MIT */
/*
 * How strata's libraries report failure: a typed code plus a one-line
 * message of the form "<what>: <why>", ready to be printed after
 * "strata: ".  Part of libstrata-util, so that every library (and the
 * dlopen wrappers below them all) shares one error type.
 */
#ifndef STRATA_ERROR_H
#define STRATA_ERROR_H

#include <stddef.h>
#include <stdint.h>

enum strata_errcode {
	STRATA_OK = 0,
	STRATA_ERR_SYS,         /* a system call failed; sys_errno says why */
	STRATA_ERR_FORMAT,      /* not a tar, unknown compression */
	STRATA_ERR_CORRUPT,     /* truncated or damaged layer data */
	STRATA_ERR_INDEX,       /* an index file is damaged or stale */
	STRATA_ERR_UNSUPPORTED, /* valid, but something we do not serve */
	STRATA_ERR_USAGE,       /* bad arguments from the caller */
	STRATA_ERR_OPTION,      /* an option the user gave is invalid (exit status 2) */
	STRATA_ERR_NOMEM,
};

struct strata_error {
	enum strata_errcode code;
	int sys_errno;
	char msg[1024];
};

/* Fills @err (if not NULL). */
void strata_set_error(struct strata_error *err, enum strata_errcode code, int sys_errno,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Fills @err (if not NULL) and is -1, so callers can "return strata_fail(...)".
 * A macro (a GNU statement expression, as the value may go unused), so
 * that the compiler sees the -1: a function's return value is
 * opaque to gcc's flow analysis, and -O3 then warned that what a failed
 * call left unset was used (maybe-uninitialized). */
/* @bytes as messages write a size: in the largest binary unit that holds it
 * exactly ("64 MiB", "16 TiB"), else in bytes, so that the number is the
 * one a user can compare or pass back as an option. */
void strata_size_text(uint64_t bytes, char *buf, size_t size);

#define strata_fail(err, ...)                                                                      \
	__extension__({                                                                            \
		strata_set_error((err), __VA_ARGS__);                                              \
		-1;                                                                                \
	})

#endif
