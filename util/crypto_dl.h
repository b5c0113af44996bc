/* SPDX-License-Identifier: MIT */
/*
 * libcrypto (OpenSSL 3), loaded on first use.
 *
 * Relocating libcrypto.so.3 (4.5 MB) costs about 0.5 ms of every process
 * start, while `strata run`, `mount` and `ps` compute no digest at all (they
 * read manifests with store_trust_blobs()).  So, as for libarchive
 * (archive_dl.h), it is dlopen()ed by the paths that hash: blob writing
 * (import, commit), manifests read without trust, layer diff-ids, fsck, diff
 * and the cache paths of layers opened without a cache key.
 *
 * Every function that starts a digest calls dl_crypto_load() first (a lock
 * after the first call); those with no struct strata_error (store_digest_buffer(),
 * store_digest_fd()) fail with -1 and errno ELIBACC, and the commands that reach
 * them load it up front to say why.
 */
#ifndef STRATA_CRYPTO_DL_H
#define STRATA_CRYPTO_DL_H

#include <openssl/evp.h>

#include "dl.h"

/* Every libcrypto function strata calls; a new one must be added here.
 * Mind OpenSSL's macros that stand for a function (EVP_MD_CTX_create). */
#define CRYPTO_DL_FUNCTIONS(X)                                                                     \
	X(EVP_Digest)                                                                              \
	X(EVP_DigestFinal_ex)                                                                      \
	X(EVP_DigestInit_ex)                                                                       \
	X(EVP_DigestUpdate)                                                                        \
	X(EVP_MD_CTX_free)                                                                         \
	X(EVP_MD_CTX_new)                                                                          \
	X(EVP_sha256)

CRYPTO_DL_FUNCTIONS(DL_DECLARE_SYM)

/* Loads libcrypto and resolves every sym_EVP_*(), once per process
 * (dl_library_load()).  On failure fills @err ("libcrypto.so.3: <why>")
 * and returns -1. */
int dl_crypto_load(struct strata_error *err);

#endif
