/* SPDX-License-Identifier: MIT */
/* SHA-256 digests in OCI form, "sha256:<64 lowercase hex>". */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store.h"

bool store_digest_valid(const char *d)
{
	if (!d || strncmp(d, "sha256:", 7) != 0)
		return false;
	/* Lowercase only: the spec's encoded form, and what we name files by. */
	return strspn(d + 7, "0123456789abcdef") == 64 && d[71] == '\0';
}

void store_digest_format(const unsigned char md[32], char out[STORE_DIGEST_MAX])
{
	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

int store_digest_buffer(const void *buf, size_t len, char out[STORE_DIGEST_MAX])
{
	unsigned char md[SHA256_SIZE];

	if (sha256_buffer(buf, len, md, NULL) < 0)
		return -1;
	store_digest_format(md, out);
	return 0;
}
