/* SPDX-License-Identifier: MIT */
/*
 * A container's upper directory as an OCI layer tar, in one pass:
 * whiteouts as .wh. files, opaque directories with their marker, a renamed
 * lower directory (a redirect) written out whole, hard links as tar hard
 * links, xattrs (security.capability too) as PAX records, POSIX ACLs as
 * SCHILY.acl.access and .default (as GNU tar and bsdtar write them), rootless owners
 * and devices from user.strata.meta as real ids and nodes, sparse files as
 * sparse entries.  Entries come in sorted order, so with reproducible times
 * (clamped to an epoch) the same upper always makes the same digest.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "archive_dl.h"
#include "crypto_dl.h"
#include "store.h"
#include "vec.h"

#define COPY_BUF (1u << 17)

struct commit {
	char *buf; /* COPY_BUF bytes: file data on its way to the tar */
	const struct store_source *src;
	const struct store_layer_options *o;
	struct archive *a;
	struct store_layer_writer *w;
	struct strata_error err;
	char *skip; /* a redirected dir written whole: its upper part is done */
	int failed;
	/* Hard links: the first name written of each (dev, ino), so every
	 * later name links back to a member already in the tar. */
	struct link_seen {
		dev_t dev;
		ino_t ino;
		char *path;
	} * links;
	size_t n_links, cap_links;
};

/* The name an earlier member gave this file, or NULL (and it is noted). */
static const char *first_name(struct commit *c, const struct strata_entry *e)
{
	if (!S_ISREG(e->st.st_mode) || e->st.st_nlink < 2 || e->st.st_ino == 0)
		return NULL;
	for (size_t i = 0; i < c->n_links; i++)
		if (c->links[i].dev == e->st.st_dev && c->links[i].ino == e->st.st_ino)
			return c->links[i].path;
	/* Without room (or memory for the name) the next name is written as
	 * a file of its own: the same data, unlinked. */
	if (VEC_RESERVE(c->links, c->cap_links, c->n_links + 1) == 0)
		c->links[c->n_links++] =
		    (struct link_seen){e->st.st_dev, e->st.st_ino, strdup(e->path)};
	return NULL;
}

static la_ssize_t tar_out(struct archive *a, void *ctx, const void *buf, size_t len)
{
	struct commit *c = ctx;

	if (store_layer_write(c->w, buf, len, &c->err)) {
		sym_archive_set_error(a, c->err.sys_errno ? c->err.sys_errno : EIO, "%s",
		                      c->err.msg);
		return -1;
	}
	return (la_ssize_t)len;
}

static int fail_archive(struct commit *c, const char *path)
{
	if (!c->failed)
		strata_fail(&c->err, STRATA_ERR_SYS, sym_archive_errno(c->a), "/%s: %s", path,
		            sym_archive_error_string(c->a) ?: "cannot write");
	c->failed = 1;
	return -1;
}

static void set_times(struct commit *c, struct archive_entry *ae, const struct stat *st)
{
	if (c->o->reproducible && st->st_mtime > c->o->epoch)
		sym_archive_entry_set_mtime(ae, (time_t)c->o->epoch, 0);
	else
		sym_archive_entry_set_mtime(ae, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
}

/* An empty marker file: a whiteout or an opaque directory's. */
static int write_marker(struct commit *c, const char *dir, const char *name,
                        const struct stat *like)
{
	struct archive_entry *ae = sym_archive_entry_new();
	char *path = NULL;
	int rc;

	if (!ae || asprintf(&path, "%s%s%s", dir, *dir ? "/" : "", name) < 0) {
		sym_archive_entry_free(ae);
		return fail_archive(c, name);
	}
	sym_archive_entry_set_pathname(ae, path);
	sym_archive_entry_set_filetype(ae, AE_IFREG);
	sym_archive_entry_set_perm(ae, 0);
	sym_archive_entry_set_size(ae, 0);
	set_times(c, ae, like);
	rc = sym_archive_write_header(c->a, ae) == ARCHIVE_OK ? 0 : fail_archive(c, path);
	sym_archive_entry_free(ae);
	free(path);
	return rc;
}

static int add_sparse(void *ctx, uint64_t off, uint64_t len)
{
	sym_archive_entry_sparse_add_entry(ctx, (la_int64_t)off, (la_int64_t)len);
	return 0;
}

static int count_data(void *ctx, uint64_t off, uint64_t len)
{
	(void)off;
	*(uint64_t *)ctx += len;
	return 0;
}

static int write_data(struct commit *c, const struct strata_entry *e)
{
	uint64_t off = 0;

	while (off < (uint64_t)e->st.st_size) {
		struct strata_error err;
		ssize_t n = strata_entry_pread(e, c->buf, COPY_BUF, off, &err);

		if (n <= 0) {
			int errnum = n < 0 ? err.sys_errno : EIO;

			c->failed = 1;
			return strata_fail(&c->err, STRATA_ERR_SYS, errnum, "/%s: %s", e->path,
			                   strerror(errnum));
		}
		if (sym_archive_write_data(c->a, c->buf, (size_t)n) != n)
			return fail_archive(c, e->path);
		off += (uint64_t)n;
	}
	return 0;
}

static void warn_socket(struct commit *c, const char *path)
{
	char msg[PATH_MAX + 64];

	if (!c->o->warn)
		return;
	snprintf(msg, sizeof(msg), "commit: /%.4000s: a socket, left out", path);
	c->o->warn(c->o->warn_ctx, msg);
}

static int write_entry(struct commit *c, const struct strata_entry *e)
{
	struct archive_entry *ae;
	const char *first;
	int rc = 0;

	if (S_ISSOCK(e->st.st_mode)) {
		/* A socket is a live endpoint, not content: docker leaves them
		 * out too. */
		warn_socket(c, e->path);
		return 0;
	}
	ae = sym_archive_entry_new();
	if (!ae)
		return fail_archive(c, e->path);
	first = first_name(c, e);
	sym_archive_entry_set_pathname(ae, e->path);
	sym_archive_entry_set_uid(ae, e->st.st_uid);
	sym_archive_entry_set_gid(ae, e->st.st_gid);
	sym_archive_entry_set_mode(ae, e->st.st_mode);
	set_times(c, ae, &e->st);
	strata_entry_to_archive_xattrs(e, ae);
	if (first) {
		sym_archive_entry_set_hardlink(ae, first);
		sym_archive_entry_set_size(ae, 0);
	} else if (S_ISREG(e->st.st_mode)) {
		uint64_t data = 0;

		sym_archive_entry_set_size(ae, e->st.st_size);
		if (strata_entry_data_runs(e, count_data, &data, NULL, &c->err) < 0) {
			c->failed = 1;
			sym_archive_entry_free(ae);
			return -1;
		}
		if (data < (uint64_t)e->st.st_size) {
			/* add_sparse never stops, and the map did not fail above. */
			strata_entry_data_runs(e, add_sparse, ae, NULL, NULL);
			/* A file that is all hole still needs one (empty) run. */
			if (data == 0)
				sym_archive_entry_sparse_add_entry(ae, e->st.st_size, 0);
		}
	} else if (S_ISLNK(e->st.st_mode)) {
		char *target = strndup(e->link, e->link_len);

		sym_archive_entry_set_symlink(ae, target);
		free(target);
	} else if (S_ISCHR(e->st.st_mode) || S_ISBLK(e->st.st_mode)) {
		sym_archive_entry_set_rdev(ae, e->st.st_rdev);
	}
	if (sym_archive_write_header(c->a, ae) != ARCHIVE_OK)
		rc = fail_archive(c, e->path);
	else if (S_ISREG(e->st.st_mode) && !first)
		rc = write_data(c, e);
	sym_archive_entry_free(ae);
	return rc;
}

/* Below a redirected directory, everything the container saw there. */
static int merged_entry_below(void *ctx, const struct strata_entry *e)
{
	struct commit *c = ctx;

	struct strata_entry copy = *e;

	if (strcmp(e->path, c->skip) == 0)
		return 0;
	/* Layers' own inode numbers mean nothing across layers: each name
	 * of the merged content is its own file here. */
	copy.st.st_nlink = 1;
	return write_entry(c, &copy);
}

static int commit_nomem(struct commit *c)
{
	c->failed = 1;
	return strata_fail(&c->err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
}

static int upper_entry(void *ctx, const struct strata_entry *e)
{
	struct commit *c = ctx;
	size_t skip = c->skip ? strlen(c->skip) : 0;
	char *dir, *slash;
	int rc;

	if (!*e->path)
		return 0;
	if (c->skip && strncmp(e->path, c->skip, skip) == 0 && e->path[skip] == '/')
		return 0;
	free(c->skip);
	c->skip = NULL;
	if (e->flags & STRATA_ENTRY_WHITEOUT) {
		char marker[4096];

		dir = strdup(e->path);
		if (!dir)
			return commit_nomem(c);
		slash = strrchr(dir, '/');
		snprintf(marker, sizeof(marker), ".wh.%s", slash ? slash + 1 : dir);
		if (slash)
			*slash = '\0';
		else
			*dir = '\0';
		rc = write_marker(c, dir, marker, &e->st);
		free(dir);
		return rc;
	}
	if (e->redirect) {
		/* A renamed lower directory: the layer cannot say "renamed", so it
		 * carries the whole merged content, opaque over whatever the
		 * lower layers have at the new name. */
		if (write_entry(c, e) || write_marker(c, e->path, ".wh..wh..opq", &e->st))
			return -1;
		/* The walk frees e->path after this call: keep a copy. */
		c->skip = strdup(e->path);
		if (!c->skip)
			return commit_nomem(c);
		rc = strata_stack_walk(c->src->layers, c->src->n_layers, e->path, true,
		                       merged_entry_below, c, NULL, &c->err);
		if (rc < 0)
			c->failed = 1;
		return rc ? -1 : 0;
	}
	if (write_entry(c, e))
		return -1;
	if (e->flags & STRATA_ENTRY_OPAQUE)
		return write_marker(c, e->path, ".wh..wh..opq", &e->st);
	return 0;
}

static int build_layer(struct commit *c, struct store *s, struct store_layer *out)
{
	struct strata_layer *upper = c->src->layers[c->src->n_layers - 1];
	int rc = -1;

	if (dl_archive_load(&c->err) || dl_crypto_load(&c->err) ||
	    store_layer_begin(s, c->o->compression, &c->w, &c->err))
		return -1;
	c->a = sym_archive_write_new();
	/* pax: long names, big files, xattrs, sub-second times, sparse maps. */
	if (!c->a || sym_archive_write_set_format_pax_restricted(c->a) != ARCHIVE_OK ||
	    sym_archive_write_set_bytes_in_last_block(c->a, 1) != ARCHIVE_OK ||
	    sym_archive_write_open(c->a, c, NULL, tar_out, NULL) != ARCHIVE_OK) {
		strata_fail(&c->err, STRATA_ERR_NOMEM, ENOMEM, "cannot start the layer tar");
		goto out;
	}
	/* A callback that stops the walk has filled c->err. */
	if (strata_layer_walk(upper, upper_entry, c, NULL, &c->err) || c->failed)
		goto out;
	if (sym_archive_write_close(c->a) != ARCHIVE_OK) {
		fail_archive(c, "");
		goto out;
	}
	rc = store_layer_finish(c->w, out, &c->err);
out:
	if (c->a)
		sym_archive_write_free(c->a);
	store_layer_abort(c->w);
	return rc;
}

int store_commit_layer(struct store *s, const struct store_source *src,
                       const struct store_layer_options *o, struct store_layer *out,
                       struct strata_error *err)
{
	struct commit c = {.src = src, .o = o};
	int rc;

	if (src->n_layers == 0)
		return strata_fail(err, STRATA_ERR_USAGE, EINVAL, "%s: no layer to commit",
		                   src->ref);
	/* Not static: the library may commit in two threads at once. */
	c.buf = malloc(COPY_BUF);
	if (!c.buf)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	rc = build_layer(&c, s, out);
	free(c.buf);
	if (rc && err)
		*err = c.err;
	free(c.skip);
	for (size_t i = 0; i < c.n_links; i++)
		free(c.links[i].path);
	free(c.links);
	return rc;
}
