/* SPDX-License-Identifier: MIT */
/* SHA-256 as a stream: see sha256.h. */
#include <errno.h>

#include "crypto_dl.h"
#include "sha256.h"

/* The handle is libcrypto's context itself: nothing to allocate beside it. */
struct sha256 *sha256_new(struct strata_error *err)
{
	EVP_MD_CTX *ctx;

	if (dl_crypto_load(err))
		return NULL;
	ctx = sym_EVP_MD_CTX_new();
	if (!ctx || !sym_EVP_DigestInit_ex(ctx, sym_EVP_sha256(), NULL)) {
		sym_EVP_MD_CTX_free(ctx);
		errno = ENOMEM;
		strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "sha256: out of memory");
		return NULL;
	}
	return (struct sha256 *)ctx;
}

int sha256_update(struct sha256 *h, const void *buf, size_t len)
{
	return sym_EVP_DigestUpdate((EVP_MD_CTX *)h, buf, len) ? 0 : -1;
}

int sha256_final(struct sha256 *h, unsigned char md[SHA256_SIZE])
{
	return sym_EVP_DigestFinal_ex((EVP_MD_CTX *)h, md, NULL) ? 0 : -1;
}

void sha256_free(struct sha256 *h)
{
	/* NULL also when libcrypto could not be loaded: sym_ is NULL then. */
	if (h)
		sym_EVP_MD_CTX_free((EVP_MD_CTX *)h);
}

int sha256_buffer(const void *buf, size_t len, unsigned char md[SHA256_SIZE],
                  struct strata_error *err)
{
	if (dl_crypto_load(err))
		return -1;
	if (!sym_EVP_Digest(buf, len, md, NULL, sym_EVP_sha256(), NULL)) {
		errno = ENOMEM;
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "sha256: out of memory");
	}
	return 0;
}
