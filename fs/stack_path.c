/* SPDX-License-Identifier: MIT */
/*
 * Whole paths through a stack of layers, resolved as the kernel resolves
 * them (path_resolution(7)) in a chroot at the stack's root: what `strata
 * cat` must show is what a process inside the mounted image would read.
 *
 * The order matters: a symlink is followed when its component is reached,
 * before any ".." after it, and ".." goes to the parent of the directory
 * actually reached, so "usr/lib/foo/../bar" with foo -> ../../opt/x is
 * opt/bar, not usr/lib/bar.  The state is the directory reached (its
 * sources and its path of real directory names, from which ".." is walked
 * again from the root) and the rest of the path still to resolve.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "stack.h"

struct walk {
	const struct stack *s;
	struct union_src cur[STACK_MAX]; /* the directory reached */
	uint32_t n_cur;
	struct union_src next[STACK_MAX];
	char canon[PATH_MAX]; /* its path: real directory names only */
	size_t canon_len;
	char *rest; /* malloc'd: what is left to resolve */
	unsigned links;
};

static void go_root(struct walk *w)
{
	w->n_cur = fs_stack_root(w->s, w->s->n, w->cur);
	w->canon_len = 0;
	w->canon[0] = '\0';
}

/* "..": the parent of the directory reached (the root's is the root). */
static int go_up(struct walk *w)
{
	char *slash;

	if (w->canon_len == 0)
		return 0;
	slash = strrchr(w->canon, '/');
	w->canon_len = slash ? (size_t)(slash - w->canon) : 0;
	w->canon[w->canon_len] = '\0';
	/* Every component of canon is a directory, so this walk cannot fail
	 * unless the layers changed under us, which they do not. */
	return fs_stack_walk_path(w->s, w->s->n, w->canon, w->cur, &w->n_cur);
}

static int go_down(struct walk *w, const char *name, size_t len, uint32_t n)
{
	if (w->canon_len + 1 + len >= sizeof(w->canon))
		return ENAMETOOLONG;
	if (w->canon_len)
		w->canon[w->canon_len++] = '/';
	memcpy(w->canon + w->canon_len, name, len);
	w->canon_len += len;
	w->canon[w->canon_len] = '\0';
	memcpy(w->cur, w->next, n * sizeof(w->next[0]));
	w->n_cur = n;
	return 0;
}

/* Replaces the symlink at w->next[0] by its target, ahead of @after (what
 * followed the link's component; @slash: a trailing slash did, which still
 * asks for a directory).  A relative target continues from the link's
 * directory (the one reached), an absolute one from the root. */
static int follow(struct walk *w, const char *after, bool slash)
{
	const struct strata_layer *l = stack_layer(w->s, &w->next[0]);
	size_t tlen, alen = strlen(after);
	const char *target = l->ops->readlink(l, w->next[0].node, &tlen);
	char *rest;

	if (++w->links > STACK_MAXLINK)
		return ELOOP;
	if (!target || tlen == 0)
		return ENOENT; /* as Linux does for an empty symlink */
	if (tlen >= PATH_MAX)
		return ENAMETOOLONG;
	rest = malloc(tlen + 1 + alen + 1);
	if (!rest)
		return ENOMEM;
	memcpy(rest, target, tlen);
	if (alen || slash)
		rest[tlen++] = '/';
	memcpy(rest + tlen, after, alen + 1);
	free(w->rest);
	w->rest = rest;
	if (target[0] == '/')
		go_root(w);
	return 0;
}

/* One component at *pos; advances *pos.  0 to go on, or an errno; *@done
 * when the walk is over (the result in w->cur). */
static int step(struct walk *w, const char **pos, unsigned flags, bool *done)
{
	const char *name = *pos, *after;
	size_t len = strcspn(name, "/");
	bool slash, last;
	uint32_t n, mode;

	after = name + len;
	slash = *after == '/';
	while (*after == '/')
		after++;
	last = *after == '\0';
	*pos = after;
	if (len > NAME_MAX)
		return ENAMETOOLONG;
	if (len == 1 && name[0] == '.') {
		*done = last;
		return 0;
	}
	if (len == 2 && name[0] == '.' && name[1] == '.') {
		*done = last;
		return go_up(w);
	}
	n = fs_stack_child(w->s, w->cur, w->n_cur, name, len, w->next);
	if (n == 0)
		return ENOENT;
	mode = stack_src_mode(w->s, &w->next[0]);
	/* A trailing slash asks for a directory: it follows a last link too. */
	if (S_ISLNK(mode) && (!last || slash || (flags & STACK_FOLLOW))) {
		int rc = follow(w, after, slash);

		*pos = w->rest;
		return rc;
	}
	if (last && !slash) {
		memcpy(w->cur, w->next, n * sizeof(w->next[0]));
		w->n_cur = n;
		*done = true;
		return 0;
	}
	if (!S_ISDIR(mode))
		return ENOTDIR;
	*done = last;
	return go_down(w, name, len, n);
}

int fs_stack_resolve(const struct stack *s, const char *path, unsigned flags, struct union_src *out,
                     uint32_t *n_out)
{
	struct walk *w;
	const char *pos;
	bool done = false;
	int rc = 0;

	if (strlen(path) >= PATH_MAX)
		return ENAMETOOLONG;
	if (s->n == 0)
		return ENOENT;
	w = calloc(1, sizeof(*w));
	if (!w)
		return ENOMEM;
	w->s = s;
	go_root(w);
	pos = path;
	while (*pos == '/')
		pos++;
	while (rc == 0 && !done && *pos) {
		rc = step(w, &pos, flags, &done);
		/* After a followed link, the rest may start with slashes. */
		while (rc == 0 && !done && *pos == '/')
			pos++;
	}
	if (rc == 0) {
		memcpy(out, w->cur, w->n_cur * sizeof(w->cur[0]));
		*n_out = w->n_cur;
	}
	free(w->rest);
	free(w);
	return rc;
}
