/* SPDX-License-Identifier: MIT */
/*
 * libseccomp (libseccomp.so.2), loaded on first use.
 *
 * Only `strata run` (and a later `exec`) builds a seccomp filter, and it
 * does so once, in the launcher, before the first clone: every other
 * command would pay for mapping and relocating the library at its start
 * for nothing, so, as libarchive, libcrypto and libcurl (archive_dl.h),
 * it is dlopen()ed and called through pointers typed from its own
 * prototypes.  There is a second reason: the filter is compiled to BPF in
 * the launcher, where the host's /usr/lib is reachable; the container's
 * processes load the BPF with one seccomp() call and never need the
 * library (after pivot_root, a dlopen() would search the image).
 */
#ifndef STRATA_SECCOMP_DL_H
#define STRATA_SECCOMP_DL_H

#include <seccomp.h>

#include "dl.h"

/* Every libseccomp function strata calls; a new one must be added here. */
#define SECCOMP_DL_FUNCTIONS(X)                                                                    \
	X(seccomp_arch_add)                                                                        \
	X(seccomp_arch_native)                                                                     \
	X(seccomp_arch_resolve_name)                                                               \
	X(seccomp_attr_set)                                                                        \
	X(seccomp_export_bpf)                                                                      \
	X(seccomp_init)                                                                            \
	X(seccomp_release)                                                                         \
	X(seccomp_rule_add_array)                                                                  \
	X(seccomp_syscall_resolve_name)

SECCOMP_DL_FUNCTIONS(DL_DECLARE_SYM)

/* Loads libseccomp and resolves every sym_seccomp_*(), once per process
 * (dl_library_load()).  On failure fills @err ("libseccomp.so.2: <why>")
 * and returns -1. */
int dl_seccomp_load(struct strata_error *err);

#endif
