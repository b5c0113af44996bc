/* SPDX-License-Identifier: MIT */
/* Internals shared by the container modules (container*.c). */
#ifndef STRATA_STORE_CONTAINER_H
#define STRATA_STORE_CONTAINER_H

#include <jansson.h>

/* The container's state.json, or NULL when it has none (or it is bad). */
json_t *store_container_load_state(const char *dir);

#endif
