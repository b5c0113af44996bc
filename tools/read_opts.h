/* SPDX-License-Identifier: MIT */
/*
 * The options of the commands that read what the store holds without
 * mounting it: inspect, layers, ls and cat.
 */
#ifndef STRATA_READ_OPTS_H
#define STRATA_READ_OPTS_H

#include <stdbool.h>

struct read_opts {
	const char *root;
	bool json, wasted, recursive, show_layer;
	long top;
};

/* Parses them into @o; -1 to go on, else the exit status (0 after --help). */
int read_opts_parse(int argc, char **argv, const char *cmd, const char *usage, struct read_opts *o);

#endif
