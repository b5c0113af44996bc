/* SPDX-License-Identifier: MIT */
#ifndef STRATA_LL_H
#define STRATA_LL_H

#include <fuse_lowlevel.h>

/* The FUSE operations; userdata is the struct strata_union. */
extern const struct fuse_lowlevel_ops strata_ll_ops;

#endif
