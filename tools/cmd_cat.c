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

/* Over 60 lines, kept as it was: an fs/ function that resolves paths the
 * way a mount does is to replace it.
 *
 * Resolves @path in the image, following symlinks as the kernel would
 * inside its root (absolute targets from the image's root). */
static int lookup_follow(const struct store_source *src, const char *path, struct strata_entry *e)
{
	char cur[PATH_MAX], next[PATH_MAX];

	snprintf(cur, sizeof(cur), "%s", path);
	for (int hops = 0; hops < 40; hops++) {
		char *norm = NULL;
		int rc;

		/* Normalize ".." lexically: it cannot climb above the root. */
		{
			char *parts[PATH_MAX / 2], *save = NULL, buf[PATH_MAX];
			size_t n = 0, len = 0;

			snprintf(buf, sizeof(buf), "%s", cur);
			for (char *t = strtok_r(buf, "/", &save); t;
			     t = strtok_r(NULL, "/", &save)) {
				if (strcmp(t, ".") == 0)
					continue;
				if (strcmp(t, "..") == 0) {
					if (n)
						n--;
					continue;
				}
				parts[n++] = t;
			}
			next[0] = '\0';
			for (size_t i = 0; i < n; i++)
				len += (size_t)snprintf(next + len, sizeof(next) - len, "%s%s",
				                        i ? "/" : "", parts[i]);
			norm = next;
		}
		rc = strata_stack_lookup(src->layers, src->n_layers, norm, e);
		if (rc == 0 && S_ISLNK(e->st.st_mode)) {
			char dir[PATH_MAX], *slash;

			snprintf(dir, sizeof(dir), "%s", norm);
			slash = strrchr(dir, '/');
			if (slash)
				*slash = '\0';
			else
				dir[0] = '\0';
			if (e->link_len && e->link[0] == '/')
				snprintf(cur, sizeof(cur), "%.*s", (int)e->link_len, e->link);
			else
				snprintf(cur, sizeof(cur), "%s/%.*s", dir, (int)e->link_len,
				         e->link);
			continue;
		}
		if (rc == 0)
			return 0;
		/* A symlink in a directory component: resolve it and go on. */
		{
			char prefix[PATH_MAX];
			size_t len = 0;
			struct strata_entry d;
			bool replaced = false;

			for (char *p = norm; *p && !replaced; p++) {
				if (*p != '/')
					continue;
				len = (size_t)(p - norm);
				snprintf(prefix, sizeof(prefix), "%.*s", (int)len, norm);
				if (strata_stack_lookup(src->layers, src->n_layers, prefix, &d) ==
				        0 &&
				    S_ISLNK(d.st.st_mode)) {
					char *slash = strrchr(prefix, '/'), *joined = NULL;
					int base_len = slash ? (int)(slash - prefix) : 0;

					if (d.link_len && d.link[0] == '/'
					        ? asprintf(&joined, "%.*s/%s", (int)d.link_len,
					                   d.link, norm + len + 1) < 0
					        : asprintf(&joined, "%.*s/%.*s/%s", base_len,
					                   prefix, (int)d.link_len, d.link,
					                   norm + len + 1) < 0)
						return -ENOMEM;
					if (strlen(joined) >= sizeof(cur)) {
						free(joined);
						return -ENAMETOOLONG;
					}
					memcpy(cur, joined, strlen(joined) + 1);
					free(joined);
					replaced = true;
				}
			}
			if (!replaced)
				return rc;
		}
	}
	return -ELOOP;
}

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
		int r = lookup_follow(&src, argv[i], &e);
		uint64_t off = 0;

		if (r == 0 && !S_ISREG(e.st.st_mode))
			r = S_ISDIR(e.st.st_mode) ? -EISDIR : -EINVAL;
		if (r < 0) {
			cli_error("cat: %s: %s", argv[i],
			          r == -EINVAL ? "not a regular file" : strerror(-r));
			rc = 1;
			continue;
		}
		while (off < (uint64_t)e.st.st_size) {
			ssize_t n = strata_entry_pread(&e, buf, sizeof(buf), off);

			if (n <= 0 || sys_write_all(STDOUT_FILENO, buf, (size_t)n) < 0) {
				cli_error("cat: %s: %s", argv[i], strerror(n < 0 ? errno : EIO));
				rc = 1;
				break;
			}
			off += (uint64_t)n;
		}
	}
	cli_close_source(s, &src);
	return rc;
}
