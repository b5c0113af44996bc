/* SPDX-License-Identifier: MIT */
/* strata logout: a registry's credentials out of podman's auth file. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "strata-store.h"

static const char logout_usage[] =
    "Usage: strata logout [OPTIONS] REGISTRY\n"
    "       strata logout [OPTIONS] --all\n"
    "\n"
    "Remove the credentials for REGISTRY (or every registry's, with --all)\n"
    "from podman's auth file, as strata login wrote them; the rest of the\n"
    "file is kept.\n"
    "\n"
    "Options:\n"
    "  -a, --all                 every registry\n"
    "      --authfile FILE       the auth file (default $REGISTRY_AUTH_FILE, else\n"
    "                            $XDG_RUNTIME_DIR/containers/auth.json)\n"
    "  -h, --help                show this help\n";

int cmd_logout(int argc, char **argv)
{
	enum { OPT_AUTHFILE = 256 };
	static const struct option longopts[] = {
	    {"all", no_argument, NULL, 'a'},
	    {"authfile", required_argument, NULL, OPT_AUTHFILE},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *authfile = NULL;
	struct strata_error err;
	bool all = false;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "ah", longopts, NULL)) != -1) {
		if (c == 'a')
			all = true;
		else if (c == OPT_AUTHFILE)
			authfile = optarg;
		else
			return cli_other_option(c, "logout", logout_usage, argv);
	}
	if (argc - optind != (all ? 0 : 1))
		return cli_usage_error("logout", all              ? "--all takes no registry"
		                                 : optind == argc ? "no registry given (or --all)"
		                                                  : "one registry at a time");
	if (store_logout(all ? NULL : argv[optind], all, authfile, &err))
		return cli_fail(&err);
	return 0;
}
