/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 as a stream, the one way strata hashes: libcrypto's EVP
 * interface behind an opaque handle, so that no header outside util/
 * names an OpenSSL type, and loaded on first use (crypto_dl.h says why).
 */
#ifndef STRATA_SHA256_H
#define STRATA_SHA256_H

#include <stddef.h>

#include "strata-error.h"

#define SHA256_SIZE 32

struct sha256;

/* A fresh hash; NULL with @err filled and errno set (ELIBACC: libcrypto
 * missing; ENOMEM). */
struct sha256 *sha256_new(struct strata_error *err);
/* 0, or -1 (libcrypto's failure: out of memory). */
int sha256_update(struct sha256 *h, const void *buf, size_t len);
/* The digest of everything fed; the hash is then done.  0 or -1. */
int sha256_final(struct sha256 *h, unsigned char md[SHA256_SIZE]);
void sha256_free(struct sha256 *h); /* NULL is fine */

/* The digest of @len bytes at @buf, at once.  0, or -1 with @err filled
 * and errno set, as sha256_new. */
int sha256_buffer(const void *buf, size_t len, unsigned char md[SHA256_SIZE],
                  struct strata_error *err);

#endif
