/* SPDX-License-Identifier: MIT */
/*
 * libarchive, loaded on first use.
 *
 * Linking libarchive.so.13 makes every process start load libxml2, ICU
 * (libicuuc, libicudata), libstdc++, nettle, acl, lzma, lz4 and bz2: about
 * 2 ms of each start, while `strata run`, `mount`, `ps` or `layers` on an
 * already indexed image need none of it.  So libarchive is dlopen()ed by the
 * few paths that read or write tar (indexing, import, export, commit, layer
 * digests) and called through pointers typed from its own prototypes, as
 * systemd does for its optional libraries.  A static libarchive would not
 * help: its pax writer pulls in every format, xar and libxml2 included.
 *
 * Each entry point that leads to libarchive calls dl_archive_load() first;
 * code below it calls sym_archive_*() without checking again.
 */
#ifndef STRATA_ARCHIVE_DL_H
#define STRATA_ARCHIVE_DL_H

#include <archive.h>
#include <archive_entry.h>

#include "dl.h"

/* Every libarchive function strata calls; a new one must be added here. */
#define ARCHIVE_DL_FUNCTIONS(X)                                                                    \
	X(archive_entry_acl_add_entry)                                                             \
	X(archive_entry_acl_next)                                                                  \
	X(archive_entry_acl_reset)                                                                 \
	X(archive_entry_filetype)                                                                  \
	X(archive_entry_free)                                                                      \
	X(archive_entry_gid)                                                                       \
	X(archive_entry_hardlink)                                                                  \
	X(archive_entry_mode)                                                                      \
	X(archive_entry_mtime)                                                                     \
	X(archive_entry_mtime_nsec)                                                                \
	X(archive_entry_new)                                                                       \
	X(archive_entry_pathname)                                                                  \
	X(archive_entry_pathname_utf8)                                                             \
	X(archive_entry_rdev)                                                                      \
	X(archive_entry_set_filetype)                                                              \
	X(archive_entry_set_gid)                                                                   \
	X(archive_entry_set_hardlink)                                                              \
	X(archive_entry_set_mode)                                                                  \
	X(archive_entry_set_mtime)                                                                 \
	X(archive_entry_set_pathname)                                                              \
	X(archive_entry_set_perm)                                                                  \
	X(archive_entry_set_rdev)                                                                  \
	X(archive_entry_set_size)                                                                  \
	X(archive_entry_set_symlink)                                                               \
	X(archive_entry_set_uid)                                                                   \
	X(archive_entry_size)                                                                      \
	X(archive_entry_sparse_add_entry)                                                          \
	X(archive_entry_sparse_reset)                                                              \
	X(archive_entry_symlink)                                                                   \
	X(archive_entry_symlink_utf8)                                                              \
	X(archive_entry_uid)                                                                       \
	X(archive_entry_xattr_add_entry)                                                           \
	X(archive_entry_xattr_next)                                                                \
	X(archive_entry_xattr_reset)                                                               \
	X(archive_errno)                                                                           \
	X(archive_error_string)                                                                    \
	X(archive_filter_bytes)                                                                    \
	X(archive_filter_code)                                                                     \
	X(archive_read_data_block)                                                                 \
	X(archive_read_free)                                                                       \
	X(archive_read_new)                                                                        \
	X(archive_read_next_header)                                                                \
	X(archive_read_open)                                                                       \
	X(archive_read_open_fd)                                                                    \
	X(archive_read_support_filter_all)                                                         \
	X(archive_read_support_format_raw)                                                         \
	X(archive_read_support_format_tar)                                                         \
	X(archive_set_error)                                                                       \
	X(archive_write_close)                                                                     \
	X(archive_write_data)                                                                      \
	X(archive_write_free)                                                                      \
	X(archive_write_header)                                                                    \
	X(archive_write_new)                                                                       \
	X(archive_write_open)                                                                      \
	X(archive_write_open_fd)                                                                   \
	X(archive_write_set_bytes_in_last_block)                                                   \
	X(archive_write_set_format_pax_restricted)

ARCHIVE_DL_FUNCTIONS(DL_DECLARE_SYM)

/* Loads libarchive and resolves every sym_archive_*(), once per process
 * (dl_library_load()).  On failure fills @err ("libarchive.so.13: <why>")
 * and returns -1. */
int dl_archive_load(struct strata_error *err);

#endif
