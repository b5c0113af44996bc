/* SPDX-License-Identifier: MIT */
/*
 * The tar layer backend: a mmapped index plus one file descriptor holding
 * the uncompressed tar stream (the layer itself when plain, else the cached
 * copy).  File data is served by reference to that fd, so the FUSE layer can
 * splice it to the kernel without copying.  A gzip layer, and a zstd or xz
 * one of several frames, is read in place instead: its extents are
 * LAYER_FD_READ, and tar_read decodes the spans between the index's
 * checkpoints through the shared span cache.
 */
#include <errno.h>
#include <fuse_log.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "frame_seek.h"
#include "gzip_seek.h"
#include "index.h"
#include "layer.h"
#include "sys.h"

struct tar_layer {
	struct strata_layer base;
	struct ix_map map;
	int data_fd;
	bool in_place; /* data_fd is the layer, read through its checkpoints */
	bool lazy;     /* data_fd not whole: fetch.ensure() before a read */
	struct strata_fetch fetch;
	const struct span_ops *span_ops; /* in place: how its spans are decoded */
	bool index_reused;
	char *index_path;
	char diff_id[7 + 64 + 1]; /* "sha256:<hex>" when this open computed it */
	atomic_bool damage_logged;
};

static const struct tar_layer *tl(const struct strata_layer *l)
{
	return (const struct tar_layer *)l;
}

/* Damage a lazily checked index showed after open: said once, with the
 * fix; the index goes, so the next mount rebuilds it; the union answers
 * EIO from now on (layer.h). */
static void found_damage(const struct tar_layer *t)
{
	struct stat st;

	if (!fs_ix_damaged(&t->map) || atomic_exchange((atomic_bool *)&t->base.damaged, true))
		return;
	fuse_log(FUSE_LOG_ERR,
	         "%s: its index is damaged (%s); operations on this mount fail with EIO; "
	         "the index is removed, so the next mount rebuilds it\n",
	         t->base.name, fs_ix_damage_reason(&t->map));
	/* Not one another mount has built since. */
	if (stat(t->index_path, &st) == 0 && st.st_dev == t->map.dev && st.st_ino == t->map.ino)
		unlink(t->index_path);
}

/* Entry @node, once it and its siblings are checked; NULL if damaged. */
static const struct ix_entry *entry(const struct strata_layer *l, uint64_t node)
{
	const struct tar_layer *t = tl(l);

	if (node < t->map.hdr->n_entries && fs_ix_ready(&t->map, (uint32_t)node))
		return ix_entry_at(&t->map, (uint32_t)node);
	found_damage(t);
	return NULL;
}

/* The entry whose data and attributes @node presents, checked. */
static const struct ix_entry *canonical(const struct strata_layer *l, uint64_t node)
{
	const struct ix_entry *e = entry(l, node);

	return e && (e->flags & IXE_HARDLINK) ? entry(l, e->ref) : e;
}

/* Directory @dir's record, its children checked; NULL if it is none. */
static const struct ix_dir *dir_of(const struct strata_layer *l, uint64_t dir)
{
	const struct ix_map *m = &tl(l)->map;
	const struct ix_entry *e = entry(l, dir);
	const struct ix_dir *d;

	if (!e || (e->flags & IXE_HARDLINK) || !ix_is_dir(m, e))
		return NULL;
	d = ix_dir_of(m, e);
	if (d->n_children && !fs_ix_ready(m, d->first_child)) {
		found_damage(tl(l));
		return NULL;
	}
	return d;
}

static uint64_t tar_lookup(const struct strata_layer *l, uint64_t dir, const char *name, size_t len)
{
	int64_t r = dir_of(l, dir) ? fs_ix_lookup(&tl(l)->map, (uint32_t)dir, name, len) : -1;

	return r < 0 ? LAYER_NONE : (uint64_t)r;
}

static uint64_t tar_n_children(const struct strata_layer *l, uint64_t dir)
{
	const struct ix_dir *d = dir_of(l, dir);

	return d ? d->n_children : 0;
}

static uint64_t tar_child(const struct strata_layer *l, uint64_t dir, uint64_t i)
{
	const struct ix_dir *d = dir_of(l, dir);

	return d ? d->first_child + i : 0;
}

static const char *tar_name(const struct strata_layer *l, uint64_t node, size_t *len)
{
	const struct ix_entry *e = entry(l, node);

	*len = e ? e->name_len : 0;
	return e ? ix_name(&tl(l)->map, e) : "";
}

static uint32_t tar_flags(const struct strata_layer *l, uint64_t node)
{
	const struct ix_entry *e = entry(l, node);
	uint32_t out = 0;

	if (!e)
		return LAYER_HIDDEN;
	if (e->flags & IXE_WHITEOUT)
		out |= LAYER_WHITEOUT;
	if (e->flags & IXE_OPAQUE)
		out |= LAYER_OPAQUE;
	if (e->flags & IXE_IMPLICIT)
		out |= LAYER_IMPLICIT;
	return out;
}

static uint32_t tar_mode(const struct strata_layer *l, uint64_t node)
{
	const struct ix_entry *e = entry(l, node);

	return e ? ix_mode(&tl(l)->map, e) : 0;
}

static uint64_t tar_canonical(const struct strata_layer *l, uint64_t node)
{
	const struct ix_entry *e = entry(l, node);

	return e && (e->flags & IXE_HARDLINK) && entry(l, e->ref) ? e->ref : node;
}

static uint64_t stored_bytes(const struct ix_map *m, const struct ix_entry *e)
{
	uint64_t n = 0;

	if (!(e->flags & IXE_SPARSE))
		return S_ISREG(ix_mode(m, e)) ? e->size : 0;
	for (uint32_t i = 0; i < ix_n_ext(e); i++)
		n += m->extents[ix_ext_first(e) + i].len;
	return n;
}

static uint64_t tar_next_link(const struct strata_layer *l, uint64_t canonical, uint64_t after)
{
	const struct ix_map *m = &tl(l)->map;

	/* A scan: only copy-up of a hard-linked file asks, once per file. */
	for (uint64_t i = after == LAYER_NONE ? 0 : after + 1; i < m->hdr->n_entries; i++) {
		const struct ix_entry *e = entry(l, i);

		if (!e)
			return LAYER_NONE;
		if (ix_canonical_no(m, (uint32_t)i) == canonical && !(e->flags & IXE_WHITEOUT) &&
		    !ix_is_dir(m, e))
			return i;
	}
	return LAYER_NONE;
}

static uint64_t tar_parent(const struct strata_layer *l, uint64_t node)
{
	return entry(l, node) ? fs_ix_parent(&tl(l)->map, (uint32_t)node) : 0;
}

static void tar_stat(const struct strata_layer *l, uint64_t node, struct stat *st)
{
	const struct ix_map *m = &tl(l)->map;
	const struct ix_entry *e = canonical(l, node);
	const struct ix_attr *a;

	memset(st, 0, sizeof(*st));
	if (!e)
		return;
	a = ix_attr_of(m, e);
	st->st_mode = a->mode;
	st->st_nlink = S_ISDIR(a->mode) ? ix_dir_of(m, e)->nlink : a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	if (S_ISCHR(a->mode) || S_ISBLK(a->mode))
		st->st_rdev = e->ref;
	st->st_size = (off_t)e->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((stored_bytes(m, e) + 4095) / 4096 * 8);
	st->st_mtim.tv_sec = a->mtime_sec;
	st->st_mtim.tv_nsec = a->mtime_nsec;
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
	fs_idmap_stat(l, st);
}

static const char *tar_readlink(const struct strata_layer *l, uint64_t node, size_t *len)
{
	const struct ix_entry *e = canonical(l, node);

	if (!e || !S_ISLNK(ix_mode(&tl(l)->map, e))) {
		*len = 0;
		return "";
	}
	*len = e->size;
	return tl(l)->map.strings + e->ref;
}

static bool tar_xattr(const struct strata_layer *l, uint64_t node, uint32_t i, const char **name,
                      const void **value, size_t *size)
{
	const struct ix_map *m = &tl(l)->map;
	const struct ix_entry *e = canonical(l, node);
	const struct ix_xattr *x;

	if (!e || i >= e->n_xattrs)
		return false;
	x = &m->xattrs[e->xattr_first + i];
	*name = m->strings + x->name_off;
	*value = m->strings + x->value_off;
	*size = x->value_len;
	return true;
}

/* @len bytes at @stream_off of the uncompressed stream. */
static struct layer_extent data_extent(const struct tar_layer *t, uint64_t stream_off, uint64_t len)
{
	if (t->in_place || t->lazy) /* read through tar_read */
		return (struct layer_extent){LAYER_FD_READ, stream_off, len, &t->base};
	return (struct layer_extent){t->data_fd, stream_off, len, NULL};
}

/* Sparse files: runs of data and the holes between them, in order. */
static size_t map_sparse(const struct tar_layer *t, const struct ix_entry *e, uint64_t off,
                         uint64_t end, struct layer_extent *ext, size_t max)
{
	const struct ix_extent *x = &t->map.extents[ix_ext_first(e)];
	uint32_t n_ext = ix_n_ext(e), lo = 0, hi = n_ext;
	size_t n = 0;

	/* First run that ends after @off. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (x[mid].logical + x[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (off < end && n < max) {
		if (lo < n_ext && x[lo].logical <= off) {
			uint64_t len = x[lo].logical + x[lo].len - off;

			if (len > end - off)
				len = end - off;
			ext[n++] = data_extent(t, x[lo].stream_off + off - x[lo].logical, len);
			off += len;
			lo++;
		} else {
			uint64_t next = lo < n_ext ? x[lo].logical : end;

			if (next > end)
				next = end;
			ext[n++] = (struct layer_extent){LAYER_FD_HOLE, 0, next - off, NULL};
			off = next;
		}
	}
	return n;
}

static size_t tar_map(const struct strata_layer *l, uint64_t node, uint64_t off, uint64_t len,
                      struct layer_extent *ext, size_t max)
{
	const struct tar_layer *t = tl(l);
	const struct ix_entry *e = canonical(l, node);
	uint64_t end;

	if (!e || !S_ISREG(ix_mode(&t->map, e)) || off >= e->size || max == 0)
		return 0;
	end = len > e->size - off ? e->size : off + len;
	if (e->flags & IXE_SPARSE)
		return map_sparse(t, e, off, end, ext, max);
	ext[0] = data_extent(t, e->ref + off, end - off);
	return 1;
}

/* The span cache's view of a gzip layer (gzip_seek.h). */
static uint32_t span_count(const void *owner)
{
	return (uint32_t)((const struct tar_layer *)owner)->map.hdr->n_checkpoints;
}

static size_t span_len(const void *owner, uint32_t span)
{
	return (size_t)fs_gz_span_len(&((const struct tar_layer *)owner)->map, span);
}

/* Bytes of a lazily fetched layer a decoder may read for span @span: from
 * its checkpoint (the byte holding its first bits) to the next one, and
 * DECODER_SLACK beyond, which a decoder may read ahead without using (its
 * input buffer, ISA-L's bit reservoir) but must not find unfetched. */
#define DECODER_SLACK ((uint64_t)64 << 10)

static int lazy_span(const struct tar_layer *t, uint32_t span)
{
	const struct ix_map *m = &t->map;
	const struct ix_checkpoint *cp = &m->checkpoints[span];
	uint64_t size = m->hdr->src_size, from = cp->in - (cp->bits ? 1 : 0), to = size;

	if (span + 1 < m->hdr->n_checkpoints && cp[1].in + DECODER_SLACK < size)
		to = cp[1].in + DECODER_SLACK;
	return from < to ? t->fetch.ensure(t->fetch.ctx, from, to - from) : 0;
}

static int span_extend(const void *owner, uint32_t span, void **dec, unsigned char *data,
                       size_t have, size_t want, size_t *now)
{
	const struct tar_layer *t = owner;
	int rc = t->lazy ? lazy_span(t, span) : 0;

	if (rc)
		return rc;
	return fs_gz_span_extend(t->data_fd, &t->map, span, (struct fs_gz_decoder **)dec, data,
	                         have, want, now);
}

static void span_free_dec(void *dec)
{
	fs_gz_decoder_free(dec);
}

static const struct span_ops gz_span_ops = {
    .count = span_count,
    .len = span_len,
    .extend = span_extend,
    .free_dec = span_free_dec,
    .dec_size = GZ_DECODER_SIZE,
};

/* zstd and xz: decoded from a frame start (frame_seek.h). */
static int frame_extend(const void *owner, uint32_t span, void **dec, unsigned char *data,
                        size_t have, size_t want, size_t *now)
{
	const struct tar_layer *t = owner;
	int rc = t->lazy ? lazy_span(t, span) : 0;

	if (rc)
		return rc;
	return fs_frame_span_extend(t->data_fd, &t->map, span, dec, data, have, want, now);
}

static const struct span_ops zstd_span_ops = {
    .count = span_count,
    .len = span_len,
    .extend = frame_extend,
    .free_dec = fs_frame_decoder_free,
    .dec_size = ZSTD_DECODER_SIZE,
};

static const struct span_ops xz_span_ops = {
    .count = span_count,
    .len = span_len,
    .extend = frame_extend,
    .free_dec = fs_frame_decoder_free,
    .dec_size = XZ_DECODER_SIZE,
};

/* How a layer read in place decodes its spans. */
static const struct span_ops *span_ops_of(uint32_t compression)
{
	if (compression == IX_COMP_ZSTD)
		return &zstd_span_ops;
	if (compression == IX_COMP_XZ)
		return &xz_span_ops;
	return &gz_span_ops;
}

/* The first failed decode of a layer is logged, with the fix (the reads
 * after it fail the same way, and say nothing new). */
static void log_damage(const struct tar_layer *t, uint64_t off, int rc)
{
	if (atomic_exchange((atomic_bool *)&t->damage_logged, true))
		return;
	if (t->lazy)
		fuse_log(FUSE_LOG_ERR,
		         "%s: byte %llu of its tar stream: %s; reads of what is not fetched yet "
		         "fail with EIO until it can be\n",
		         t->base.name, (unsigned long long)off,
		         rc == EIO ? "its bytes could not be fetched or did not check out"
		                   : strerror(rc));
	else
		fuse_log(FUSE_LOG_ERR,
		         "%s: byte %llu of its tar stream: %s; reads there fail with EIO "
		         "(strata index --reindex rebuilds its index if the file changed)\n",
		         t->base.name, (unsigned long long)off,
		         rc == EIO ? "the data does not match its index (damaged, or changed since)"
		                   : strerror(rc));
}

/* A plain layer fetched lazily: its bytes, once they are there. */
static int lazy_read_plain(const struct tar_layer *t, uint64_t off, void *buf, size_t len)
{
	int rc = t->fetch.ensure(t->fetch.ctx, off, len);

	if (rc == 0 && sys_pread_full(t->data_fd, buf, len, (off_t)off) != (ssize_t)len)
		rc = EIO;
	if (rc)
		log_damage(t, off, rc);
	return rc;
}

/* A layer read in place: its stream, span by span from the cache. */
static int tar_read(const struct strata_layer *l, uint64_t off, void *buf, size_t len)
{
	const struct tar_layer *t = tl(l);
	const struct ix_map *m = &t->map;
	size_t done = 0;

	if (off > m->hdr->stream_size || len > m->hdr->stream_size - off)
		return EIO;
	if (!t->in_place)
		return t->lazy ? lazy_read_plain(t, off, buf, len) : EIO;
	while (done < len) {
		uint32_t span = fs_gz_span_at(m, off + done);
		uint64_t in_span = off + done - m->checkpoints[span].out;
		uint64_t slen = fs_gz_span_len(m, span);
		size_t n = slen - in_span < len - done ? (size_t)(slen - in_span) : len - done;
		struct span_ref *ref;
		int rc = fs_span_get(t, t->span_ops, span, (size_t)in_span + n, &ref);

		if (rc) {
			log_damage(t, off + done, rc);
			return rc;
		}
		memcpy((char *)buf + done, fs_span_data(ref) + in_span, n);
		fs_span_put(ref);
		done += n;
	}
	return 0;
}

static void tar_close(struct strata_layer *l)
{
	struct tar_layer *t = (struct tar_layer *)l;

	if (t->in_place)
		fs_span_cache_drop(t);
	if (t->fetch.release)
		t->fetch.release(t->fetch.ctx);
	fs_ix_map_close(&t->map);
	if (t->data_fd >= 0)
		close(t->data_fd);
	free(t->index_path);
	free(t->base.name);
	free(t);
}

static const struct layer_ops tar_ops = {
    .lookup = tar_lookup,
    .n_children = tar_n_children,
    .child = tar_child,
    .name = tar_name,
    .flags = tar_flags,
    .mode = tar_mode,
    .canonical = tar_canonical,
    .parent = tar_parent,
    .next_link = tar_next_link,
    .stat = tar_stat,
    .readlink = tar_readlink,
    .xattr = tar_xattr,
    .map = tar_map,
    .read = tar_read,
    .close = tar_close,
};

/* The cached copy must be exactly the stream the index describes: sets
 * *@fd, or fails (ESTALE for another file). */
static int open_copy(const char *path, uint64_t size, int *fd, struct strata_error *err)
{
	struct stat st;

	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", path, strerror(errno));
	if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size) {
		close(*fd);
		*fd = -1;
		return strata_fail(err, STRATA_ERR_SYS, ESTALE, "%s: %s", path, strerror(ESTALE));
	}
	return 0;
}

/* Maps a valid cached index, or builds one.  Takes over nothing. */
static int load_index(struct tar_layer *t, int layer_fd, const struct ix_source_id *src,
                      const struct fs_cache_paths *paths, const struct strata_layer_options *opts,
                      struct strata_error *err)
{
	struct ix_build_options bopts = {
	    .warn = opts->warn,
	    .warn_ctx = opts->warn_ctx,
	    .layer_name = t->base.name,
	    .copy_path = paths->copy,
	    .max_stream = opts->max_layer_size,
	};
	struct strata_error ignored;
	unsigned char sha[32];

	if (opts->want_diff_id)
		bopts.stream_sha256 = sha;

	if (!opts->force_reindex &&
	    fs_ix_map_open_flags(paths->index, src, IX_MAP_LAZY, &t->map, &ignored) == 0) {
		if (!(t->map.hdr->flags & IXH_DATA_COPY))
			goto reused;
		if (open_copy(paths->copy, t->map.hdr->stream_size, &t->data_fd, &ignored) == 0)
			goto reused;
		fs_ix_map_close(&t->map);
	}
	if (fs_ix_build(layer_fd, src, paths->index, &bopts, err))
		return -1;

	if (fs_ix_map_open(paths->index, src, &t->map, err)) {
		/* The index we just wrote does not check out: a bug, never the
		 * layer's fault, but say which layer. */
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%s", err->msg);
		return strata_fail(err, STRATA_ERR_INDEX, 0, "%s: fresh %s", t->base.name, why);
	}
	if ((t->map.hdr->flags & IXH_DATA_COPY) &&
	    open_copy(paths->copy, t->map.hdr->stream_size, &t->data_fd, err))
		return -1;
	/* Computed in the pass that decompressed: gzip too, copy or not. */
	if (bopts.stream_sha256 && t->map.hdr->compression != IX_COMP_NONE) {
		memcpy(t->diff_id, "sha256:", 7);
		for (int i = 0; i < 32; i++)
			snprintf(t->diff_id + 7 + 2 * i, 3, "%02x", sha[i]);
	}
	return 0;
reused:
	t->index_reused = true;
	return 0;
}

/* A lazily fetched layer's index, adopted before: its own checks only,
 * and that it describes a file of this size read without a copy. */
static int load_lazy_index(struct tar_layer *t, const struct ix_source_id *src,
                           const struct fs_cache_paths *paths, struct strata_error *err)
{
	struct strata_error why;

	if (fs_ix_map_open_flags(paths->index, NULL, IX_MAP_LAZY, &t->map, &why))
		return strata_fail(err, STRATA_ERR_INDEX, why.sys_errno,
		                   "%s: a lazily fetched layer without its index: %s", t->base.name,
		                   why.msg);
	t->index_reused = true;
	if (t->map.hdr->src_size == src->size && !(t->map.hdr->flags & IXH_DATA_COPY))
		return 0;
	return strata_fail(err, STRATA_ERR_INDEX, 0, "%s: its index describes another file",
	                   t->base.name);
}

int strata_layer_open_tar(const char *path, const struct strata_layer_options *opts,
                          struct strata_layer **out, struct strata_error *err)
{
	struct fs_cache_paths paths;
	struct ix_source_id src;
	struct tar_layer *t;
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return strata_fail(err, STRATA_ERR_USAGE, 0, "%s: not a regular file", path);
	}
	src = (struct ix_source_id){(uint64_t)st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
	                            (uint64_t)st.st_ino};
	if (opts->cache_key ? fs_cache_paths_keyed(opts->cache_dir, opts->cache_key, &paths, err)
	                    : fs_cache_paths(opts->cache_dir, path, &paths, err)) {
		close(fd);
		return -1;
	}
	t = calloc(1, sizeof(*t));
	if (!t || !(t->base.name = strdup(opts->name ? opts->name : path)) ||
	    !(t->index_path = strdup(paths.index))) {
		if (t)
			free(t->base.name);
		free(t);
		close(fd);
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "%s: out of memory", path);
	}
	t->base.ops = &tar_ops;
	t->data_fd = -1;
	if (opts->fetch) { /* its ctx is the caller's until the open succeeds */
		t->lazy = true;
		t->fetch = (struct strata_fetch){opts->fetch->ensure, opts->fetch->ctx, NULL};
	}
	if (opts->fetch ? load_lazy_index(t, &src, &paths, err)
	                : load_index(t, fd, &src, &paths, opts, err)) {
		close(fd);
		tar_close(&t->base);
		return -1;
	}
	t->in_place = t->map.hdr->n_checkpoints > 0;
	if (t->in_place)
		fs_ix_map_prefetch_seek(&t->map);
	t->span_ops = span_ops_of(t->map.hdr->compression);
	if (t->data_fd < 0)
		t->data_fd = fd;
	else
		close(fd);
	if (opts->fetch)
		t->fetch.release = opts->fetch->release;
	t->base.n_entries = t->map.hdr->n_entries;
	t->base.no_xattrs = t->map.hdr->n_xattrs == 0;
	t->base.total_data = t->map.hdr->total_data;
	*out = &t->base;
	return 0;
}

int strata_layer_index_stream(const char *path, strata_read_fn read, void *ctx,
                              const struct strata_layer_options *opts, char diff_id[72],
                              struct strata_error *err)
{
	struct ix_build_options bopts = {
	    .warn = opts->warn,
	    .warn_ctx = opts->warn_ctx,
	    .layer_name = opts->name ? opts->name : path,
	    .max_stream = opts->max_layer_size,
	};
	struct fs_cache_paths paths;
	struct ix_stream *in;
	unsigned char sha[32];
	int rc;

	diff_id[0] = '\0';
	if (!opts->cache_key)
		return strata_fail(err, STRATA_ERR_USAGE, 0, "%s: a stream needs a cache key",
		                   path);
	if (fs_cache_paths_keyed(opts->cache_dir, opts->cache_key, &paths, err))
		return -1;
	in = calloc(1, sizeof(*in));
	if (!in)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "%s: out of memory", path);
	*in = (struct ix_stream){.read = read, .ctx = ctx, .path = path};
	bopts.copy_path = paths.copy;
	bopts.stream = in;
	if (opts->want_diff_id)
		bopts.stream_sha256 = sha;
	rc = fs_ix_build(-1, NULL, paths.index, &bopts, err);
	if (rc == 0 && opts->want_diff_id) {
		memcpy(diff_id, "sha256:", 7);
		for (int i = 0; i < 32; i++)
			snprintf(diff_id + 7 + 2 * i, 3, "%02x", sha[i]);
	}
	free(in);
	return rc;
}

int strata_layer_index_seekable(const char *path, const struct strata_layer_options *opts)
{
	struct fs_cache_paths paths;
	struct ix_source_id src;
	struct strata_error err;
	struct ix_map map;
	int rc;

	if (fs_cache_layer_index(path, opts, &paths, &src, &err) ||
	    fs_ix_map_open_flags(paths.index, &src, IX_MAP_LAZY, &map, &err))
		return -1;
	rc = map.hdr->n_checkpoints > 0;
	fs_ix_map_close(&map);
	return rc;
}

int strata_layer_check_index(const char *path, const struct strata_layer_options *opts,
                             struct strata_error *err)
{
	struct fs_cache_paths paths;
	struct ix_source_id src;
	struct ix_map map;
	int fd, rc;

	if (fs_cache_layer_index(path, opts, &paths, &src, err))
		return -1;
	if (access(paths.index, F_OK) < 0 && errno == ENOENT)
		return 1;
	if (fs_ix_map_open(paths.index, &src, &map, err))
		return -1;
	rc = 0;
	if (map.hdr->flags & IXH_DATA_COPY) {
		struct strata_error why;

		if (open_copy(paths.copy, map.hdr->stream_size, &fd, &why))
			rc = strata_fail(err, STRATA_ERR_INDEX, why.sys_errno, "%s: %s", paths.copy,
			                 why.sys_errno == ESTALE ? "not the size its index says"
			                                         : strerror(why.sys_errno));
		else
			close(fd);
	}
	fs_ix_map_close(&map);
	return rc;
}

void strata_layer_info(const struct strata_layer *layer, struct strata_layer_info *info)
{
	const struct tar_layer *t = tl(layer);

	memset(info, 0, sizeof(*info));
	info->n_entries = layer->n_entries;
	info->stream_size = t->map.hdr->stream_size;
	info->compression = fs_ix_compression_name(t->map.hdr->compression);
	info->seekable = t->in_place;
	info->index_reused = t->index_reused;
	info->index_path = t->index_path;
	info->diff_id = t->diff_id;
}

void strata_layer_close(struct strata_layer *layer)
{
	if (layer)
		layer->ops->close(layer);
}
