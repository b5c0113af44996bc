/* SPDX-License-Identifier: MIT */
/* strata cat: files of an image, a layer or a container to stdout. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "strata-store.h"
#include "read_opts.h"
#include "sys.h"

int cmd_cat(int argc, char **argv)
{
	static const char usage[] = "Usage: strata cat [--root DIR] SOURCE PATH...\n"
	                            "\n"
	                            "Write files of an image, a layer or a container to standard\n"
	                            "output, following symlinks inside the image.\n";
	static char buf[1 << 17];
	struct read_opts o = {0};
	struct store_source src;
	struct store *s;
	int rc = read_opts_parse(argc, argv, "cat", usage, &o);

	if (rc >= 0)
		return rc;
	if (argc - optind < 2)
		return cli_usage_error("cat", "expected SOURCE PATH...");
	if (cli_open_source(o.root, argv[optind], STORE_SOURCE_ANY, &s, &src))
		return 1;
	rc = 0;
	for (int i = optind + 1; i < argc; i++) {
		struct strata_entry e;
		struct strata_error err;
		/* As the kernel resolves it inside the image's root: symlinks
		 * followed before "..", absolute targets from the image's root. */
		int r = strata_stack_resolve(src.layers, src.n_layers, argv[i],
		                             STRATA_RESOLVE_FOLLOW, &e, &err) < 0
		            ? err.sys_errno
		            : 0;
		uint64_t off = 0;

		if (r == 0 && !S_ISREG(e.st.st_mode))
			r = S_ISDIR(e.st.st_mode) ? EISDIR : EINVAL;
		if (r) {
			cli_error("cat: %s: %s", argv[i],
			          r == EINVAL ? "not a regular file" : strerror(r));
			rc = 1;
			continue;
		}
		while (off < (uint64_t)e.st.st_size) {
			ssize_t n = strata_entry_pread(&e, buf, sizeof(buf), off, &err);

			if (n <= 0 || sys_write_all(STDOUT_FILENO, buf, (size_t)n) < 0) {
				cli_error("cat: %s: %s", argv[i],
				          strerror(n < 0 ? err.sys_errno : EIO));
				rc = 1;
				break;
			}
			off += (uint64_t)n;
		}
	}
	cli_close_source(s, &src);
	return rc;
}
