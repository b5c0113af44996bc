/* SPDX-License-Identifier: MIT */
/* strata rmi: a name goes, unless containers still need it to find their
 * image (they keep it from gc either way). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* Whether removing @ref takes the last name of the image @digest: it does
 * when @ref is not one of the names (a digest or a prefix of one) or when
 * the image has no other.  Unsure (a name given in another spelling) counts
 * as the last: refusing is the safe side. */
static bool removes_last_name(const struct store_entry *e, size_t n, const char *ref,
                              const char *digest)
{
	size_t names = 0;
	bool is_name = false;

	for (size_t i = 0; i < n; i++) {
		size_t len;

		if (strcmp(e[i].digest, digest) != 0 || !e[i].name)
			continue;
		names++;
		len = strlen(ref);
		if (strcmp(e[i].name, ref) == 0 ||
		    (strncmp(e[i].name, ref, len) == 0 && strcmp(e[i].name + len, ":latest") == 0))
			is_name = true;
	}
	return !is_name || names <= 1;
}

/* The containers made from @digest, as "a, b", or NULL when none. */
static char *users_of(const struct store_container *cs, size_t n_cs, const char *digest)
{
	char *out = NULL;

	for (size_t i = 0; i < n_cs; i++) {
		char *more;

		if (!cs[i].digest || strcmp(cs[i].digest, digest) != 0)
			continue;
		if (asprintf(&more, "%s%s%s", out ? out : "", out ? ", " : "", cs[i].name) < 0)
			break;
		free(out);
		out = more;
	}
	return out;
}

/* The containers whose image would lose its last name with @ref, as "a, b",
 * or NULL.  An unknown @ref is left to store_untag to report. */
static char *users_losing_name(struct store *s, const char *ref, const struct store_container *cs,
                               size_t n_cs)
{
	struct store_entry *e = NULL;
	struct store_image *img = NULL;
	struct strata_error ignored;
	char *users = NULL;
	size_t n = 0;

	if (n_cs == 0 || store_resolve(s, ref, &img, &ignored) || store_list(s, &e, &n, &ignored))
		goto out;
	users = users_of(cs, n_cs, img->digest);
	if (users && !removes_last_name(e, n, ref, img->digest)) {
		free(users);
		users = NULL;
	}
out:
	store_entries_free(e, n);
	store_image_free(img);
	return users;
}

int store_untag_unused(struct store *s, const char *ref, bool force, struct strata_error *err)
{
	struct store_container *cs;
	size_t n_cs;
	char *users;
	int rc;

	if (store_container_list(s, &cs, &n_cs, err))
		return store_fail_prefix(err, "%s: %s", "rmi");
	users = users_losing_name(s, ref, cs, n_cs);
	store_containers_free(cs, n_cs);
	if (users && !force) {
		bool many = strchr(users, ',') != NULL;

		strata_fail(
		    err, STRATA_ERR_USAGE, 0,
		    "rmi: %s: the image of container%s %s ('strata rm' %s first, or --force)", ref,
		    many ? "s" : "", users, many ? "them" : "it");
		free(users);
		return -1;
	}
	/* Forced, the image stays unnamed (strata images shows it by its
	 * digest), and its containers run on by that digest. */
	rc = (users ? store_untag_keep_image : store_untag)(s, ref, err);
	free(users);
	return rc;
}
