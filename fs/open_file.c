/* SPDX-License-Identifier: MIT */
/*
 * Open files' handles (fuse_file_info.fh).  0: a layer's file opened
 * read-only, read from the layer.  fd + 1: an upper file, read and written
 * through its own fd.  A lower file opened for writing gets a pending
 * handle (the top bit set on a pointer): it is copied up at its first
 * write, not at open, so an open for writing that writes nothing (or only
 * truncates, as truncate(1) does through ftruncate) copies no data, and
 * one whose write fails (ENOSPC) leaves nothing in the upper.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "atime.h"
#include "ll.h"
#include "upper.h"

#define FH_PENDING (1ULL << 63)

struct pending_open {
	pthread_mutex_t lock;
	int fd;    /* the upper file's, once made; else -1 */
	int flags; /* to open it with */
};

static struct pending_open *pending_of(const struct fuse_file_info *fi)
{
	return (fi->fh & FH_PENDING) ? (struct pending_open *)(uintptr_t)(fi->fh & ~FH_PENDING)
	                             : NULL;
}

int fs_fh_pending(struct fuse_file_info *fi, int flags)
{
	struct pending_open *p = malloc(sizeof(*p));

	if (!p)
		return ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	p->fd = -1;
	p->flags = flags;
	fi->fh = (uint64_t)(uintptr_t)p | FH_PENDING;
	return 0;
}

/* Under p->lock: the upper file opened, copied up first for a write. */
static int pending_open_upper(struct strata_union *u, struct inode *in, struct pending_open *p,
                              bool write)
{
	struct upper_ref ref;
	int rc = write ? fs_upper_copy_up(u, in) : 0;

	if (!rc)
		rc = fs_upper_ref_get(u, in, &ref);
	if (rc)
		return rc;
	rc = fs_upper_reopen(ref.fd, p->flags | fs_atime_open_flag(u, ref.fd, false), &p->fd);
	fs_upper_ref_put(&ref);
	return rc;
}

int fs_fh_fd(struct strata_union *u, struct inode *in, const struct fuse_file_info *fi, bool write,
             int *fd)
{
	struct pending_open *p = fi ? pending_of(fi) : NULL;
	int rc = 0;

	if (!in) /* a node id never given, or no memory to make its inode */
		return ESTALE;
	*fd = fi && fi->fh && !p ? (int)(fi->fh - 1) : -1;
	if (p) {
		pthread_mutex_lock(&p->lock);
		/* Made at the first write, or by another writer meanwhile. */
		if (p->fd < 0 && (write || inode_in_upper(in)))
			rc = pending_open_upper(u, in, p, write);
		*fd = p->fd;
		pthread_mutex_unlock(&p->lock);
	}
	/* A file whose metadata alone was copied up gets its data. */
	if (!rc && write && inode_metacopy(in))
		rc = fs_upper_copy_up(u, in);
	return rc;
}

void fs_fh_release(struct fuse_file_info *fi)
{
	struct pending_open *p = pending_of(fi);

	if (p) {
		if (p->fd >= 0)
			close(p->fd);
		pthread_mutex_destroy(&p->lock);
		free(p);
	} else if (fi->fh) {
		close((int)(fi->fh - 1));
	}
}
