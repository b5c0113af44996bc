/* SPDX-License-Identifier: MIT */
/* libcurl through dlopen(): see curl_dl.h for why. */
#include <errno.h>
#include <pthread.h>

#include "curl_dl.h"

DL_LIBRARY(libcurl, "libcurl.so.4", CURL_DL_FUNCTIONS)

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	/* Not thread-safe in libcurl 7.88: done once, before any handle. */
	global_rc = sym_curl_global_init(CURL_GLOBAL_DEFAULT);
}

int dl_curl_load(struct strata_error *err)
{
	if (dl_library_load(&libcurl, err))
		return -1;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return strata_fail(err, STRATA_ERR_SYS, ELIBACC, "libcurl.so.4: %s",
		                   sym_curl_easy_strerror(global_rc));
	return 0;
}
