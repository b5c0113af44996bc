/* SPDX-License-Identifier: MIT */
/* The options of inspect, layers, ls and cat (read_opts.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "read_opts.h"

int read_opts_parse(int argc, char **argv, const char *cmd, const char *usage, struct read_opts *o)
{
	enum { OPT_ROOT = 256, OPT_JSON, OPT_WASTED, OPT_LAYER, OPT_TOP };
	static const struct option longopts[] = {
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"wasted", no_argument, NULL, OPT_WASTED},
	    {"layer", no_argument, NULL, OPT_LAYER},
	    {"top", required_argument, NULL, OPT_TOP},
	    {"recursive", no_argument, NULL, 'R'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	o->top = 10;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "Rh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_ROOT:
			o->root = optarg;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_WASTED:
			o->wasted = true;
			break;
		case OPT_LAYER:
			o->show_layer = true;
			break;
		case OPT_TOP:
			o->top = strtol(optarg, NULL, 10);
			if (o->top <= 0)
				return cli_usage_error(cmd, "--top %s: a positive number", optarg);
			break;
		case 'R':
			o->recursive = true;
			break;
		default:
			return cli_other_option(c, cmd, usage, argv);
		}
	}
	return -1;
}
