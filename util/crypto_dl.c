/* SPDX-License-Identifier: MIT */
/* libcrypto through dlopen(): see crypto_dl.h for why. */
#include "crypto_dl.h"

DL_LIBRARY(libcrypto, "libcrypto.so.3", CRYPTO_DL_FUNCTIONS)

int dl_crypto_load(struct strata_error *err)
{
	return dl_library_load(&libcrypto, err);
}
