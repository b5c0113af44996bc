/* SPDX-License-Identifier: MIT */
/*
 * libcurl (Debian's OpenSSL flavour, libcurl.so.4), loaded on first use.
 *
 * libcurl.so.4 brings nghttp2, libssh2, librtmp, libldap, Kerberos (gssapi,
 * krb5, k5crypto), libpsl, libidn2, brotli, zstd and libssl into a
 * process: about twenty libraries to map and relocate at every start of
 * every strata command, while only pull (and `run --pull` when the image is
 * missing) speaks HTTP.  So, as libarchive and libcrypto (archive_dl.h,
 * crypto_dl.h), it is dlopen()ed by the registry client alone, and called
 * through pointers typed from its own prototypes.
 *
 * curl_easy_setopt() and curl_easy_getinfo() are variadic: arguments go
 * through unchecked, so long options take a long (1L) and curl_off_t
 * options a curl_off_t, as with the direct calls.
 */
#ifndef STRATA_CURL_DL_H
#define STRATA_CURL_DL_H

/* The type-checking macros would wrap the names the X-macro below takes. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include "dl.h"

/* Every libcurl function strata calls; a new one must be added here. */
#define CURL_DL_FUNCTIONS(X)                                                                       \
	X(curl_easy_cleanup)                                                                       \
	X(curl_easy_escape)                                                                        \
	X(curl_easy_getinfo)                                                                       \
	X(curl_easy_init)                                                                          \
	X(curl_easy_perform)                                                                       \
	X(curl_easy_reset)                                                                         \
	X(curl_easy_setopt)                                                                        \
	X(curl_easy_strerror)                                                                      \
	X(curl_free)                                                                               \
	X(curl_global_init)                                                                        \
	X(curl_multi_add_handle)                                                                   \
	X(curl_multi_cleanup)                                                                      \
	X(curl_multi_info_read)                                                                    \
	X(curl_multi_init)                                                                         \
	X(curl_multi_perform)                                                                      \
	X(curl_multi_poll)                                                                         \
	X(curl_multi_remove_handle)                                                                \
	X(curl_slist_append)                                                                       \
	X(curl_slist_free_all)

CURL_DL_FUNCTIONS(DL_DECLARE_SYM)

/* Loads libcurl, resolves every sym_curl_*() and runs curl_global_init(),
 * once per process.  On failure fills @err ("libcurl.so.4: <why>") and
 * returns -1. */
int dl_curl_load(struct strata_error *err);

#endif
