/* SPDX-License-Identifier: MIT */
/*
 * The layer index (index_build.c, index_read.c, through layer_tar.c): every
 * recorded data offset and extent checked against what libarchive reads for
 * the entry, the breadth-first sorted layout, lookups, attributes, hard
 * links, whiteouts, hostile names, bad input, and the index as a cache that
 * is rebuilt whenever it is damaged or stale.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <zlib.h>

#include "index.h"
#include "layer.h"
#include "sha256.h"
#include "testlib.h"

/* ---- helpers ---- */

struct opened {
	char *dir, *cache, *path;
	struct strata_layer *l;
	struct ix_map m;
	struct tl_warnings w;
	char *stream;
};

static void map_index(const struct strata_layer *l, struct ix_map *m)
{
	struct strata_layer_info info;
	struct strata_error err = {0};

	strata_layer_info(l, &info);
	ck_assert_msg(fs_ix_map_open(info.index_path, NULL, m, &err) == 0, "fs_ix_map_open %s: %s",
	              info.index_path, err.msg);
}

/* Opens the layer at o->path and maps its index a second time for raw access. */
static void open_layer(struct opened *o)
{
	o->l = tl_open_layer(o->path, o->cache, &o->w);
	map_index(o->l, &o->m);
	o->stream = tl_stream_path(o->l, o->path);
}

static void setup_dir(struct opened *o, const char *tag, const char *layer_name)
{
	memset(o, 0, sizeof(*o));
	o->dir = tl_mkdtemp(tag);
	o->cache = tl_path(o->dir, "cache");
	o->path = tl_path(o->dir, layer_name);
}

static void close_layer(struct opened *o)
{
	fs_ix_map_close(&o->m);
	strata_layer_close(o->l);
	o->l = NULL;
	free(o->stream);
	o->stream = NULL;
	tl_warnings_free(&o->w);
}

static void cleanup(struct opened *o)
{
	if (o->l)
		close_layer(o);
	tl_rmrf(o->dir);
	free(o->dir);
	free(o->cache);
	free(o->path);
}

static int cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : (alen > blen) - (alen < blen);
}

/* An entry with every field spelt out, as index versions before 6 had
 * them, so the checks below read as what they check. */
struct wide {
	uint64_t size, data_off, rdev;
	int64_t mtime_sec;
	uint32_t mtime_nsec, mode, uid, gid, parent, name_len, nlink, link, link_len;
	uint32_t first_child, n_children, xattr_first, n_xattrs, ext_first, n_ext, flags;
	const char *name;
};

static const struct wide *E(const struct ix_map *m, uint32_t i)
{
	/* A few at a time in one expression: a ring of them. */
	static struct wide ring[256];
	static unsigned next;
	struct wide *w = &ring[next++ % 256];
	const struct ix_entry *e;
	const struct ix_attr *a;

	ck_assert_uint_lt(i, m->hdr->n_entries);
	ck_assert(fs_ix_ready(m, i));
	e = ix_entry_at(m, i);
	a = ix_attr_of(m, e);
	*w = (struct wide){.size = e->size,
	                   .mtime_sec = a->mtime_sec,
	                   .mtime_nsec = a->mtime_nsec,
	                   .mode = a->mode,
	                   .uid = a->uid,
	                   .gid = a->gid,
	                   .parent = fs_ix_parent(m, i),
	                   .name_len = e->name_len,
	                   .nlink = a->nlink,
	                   .xattr_first = e->xattr_first,
	                   .n_xattrs = e->n_xattrs,
	                   .flags = e->flags,
	                   .name = ix_name(m, e)};
	if (e->flags & IXE_HARDLINK) {
		w->link = (uint32_t)e->ref;
	} else if (S_ISDIR(a->mode)) {
		w->first_child = ix_dir_of(m, e)->first_child;
		w->n_children = ix_dir_of(m, e)->n_children;
		w->nlink = ix_dir_of(m, e)->nlink;
	} else if (e->flags & IXE_SPARSE) {
		w->ext_first = ix_ext_first(e);
		w->n_ext = ix_n_ext(e);
	} else if (S_ISREG(a->mode)) {
		w->data_off = e->ref;
	} else if (S_ISLNK(a->mode)) {
		w->link = (uint32_t)e->ref;
		w->link_len = (uint32_t)e->size;
	} else if (S_ISCHR(a->mode) || S_ISBLK(a->mode)) {
		w->rdev = e->ref;
	}
	return w;
}

/* The entry @w presents (itself unless a hard link). */
static const struct wide *canon(const struct ix_map *m, uint32_t i)
{
	return E(m, ix_canonical_no(m, i));
}

/* An independent normalisation of tar member names: false when it names
 * anything outside the root. */
static bool norm_path(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	while (*in) {
		const char *s;
		size_t len;

		while (*in == '/')
			in++;
		if (!*in)
			break;
		s = in;
		while (*in && *in != '/')
			in++;
		len = (size_t)(in - s);
		if (len == 1 && s[0] == '.')
			continue;
		if (len == 2 && s[0] == '.' && s[1] == '.')
			return false;
		ck_assert_uint_lt(n + len + 2, cap);
		if (n)
			out[n++] = '/';
		memcpy(out + n, s, len);
		n += len;
	}
	out[n] = '\0';
	return true;
}

/* The entry at @path ("" is the root), or -1. */
static int64_t find(const struct ix_map *m, const char *path)
{
	uint32_t cur = 0;

	while (*path) {
		const char *s = path;
		int64_t r;

		while (*path && *path != '/')
			path++;
		if (!S_ISDIR(E(m, cur)->mode))
			return -1;
		r = fs_ix_lookup(m, cur, s, (size_t)(path - s));
		if (r < 0)
			return -1;
		cur = (uint32_t)r;
		while (*path == '/')
			path++;
	}
	return cur;
}

static uint32_t must_find(const struct ix_map *m, const char *path)
{
	int64_t r = find(m, path);

	ck_assert_msg(r >= 0, "'%s' is not in the index", path);
	return (uint32_t)r;
}

static bool name_is(const struct ix_map *m, uint32_t i, const char *name, size_t len)
{
	const struct ix_entry *e = ix_entry_at(m, i);

	return e->name_len == len && memcmp(ix_name(m, e), name, len) == 0;
}

static bool child_exists(const struct ix_map *m, uint32_t dir, const char *name, size_t len)
{
	const struct wide d_copy = *E(m, dir), *d = &d_copy;

	for (uint32_t c = d->first_child; c < d->first_child + d->n_children; c++)
		if (name_is(m, c, name, len))
			return true;
	return false;
}

static void check_lookup_result(const struct ix_map *m, uint32_t dir, const char *name, size_t len)
{
	int64_t r = fs_ix_lookup(m, dir, name, len);

	if (child_exists(m, dir, name, len)) {
		ck_assert_msg(r >= 0, "lookup missed a child of entry %u", dir);
		ck_assert(name_is(m, (uint32_t)r, name, len));
		ck_assert_uint_eq(E(m, (uint32_t)r)->parent, dir);
	} else {
		ck_assert_msg(r == -1, "lookup of an absent name in entry %u gave %lld", dir,
		              (long long)r);
	}
}

/*
 * The layout promised by index.h: entry 0 is the root, entries are numbered
 * breadth-first, each directory's children are contiguous and sorted (memcmp,
 * shorter first); every name is found by lookup and absent names are not;
 * link counts match the names that exist.
 */
static void check_structure(const struct ix_map *m)
{
	uint64_t n = m->hdr->n_entries, next = 1;
	uint32_t *names_of;

	ck_assert_uint_ge(n, 1);
	ck_assert(S_ISDIR(E(m, 0)->mode));
	ck_assert_uint_eq(E(m, 0)->name_len, 0);
	for (uint32_t i = 0; i < n; i++) {
		const struct wide e_copy = *E(m, i), *e = &e_copy;

		if (i > 0)
			ck_assert_msg(memmem(e->name, e->name_len, "/", 1) == NULL &&
			                  e->name_len > 0,
			              "entry %u has a bad name", i);
		if (!S_ISDIR(e->mode) || (e->flags & (IXE_WHITEOUT | IXE_HARDLINK))) {
			ck_assert_uint_eq(e->n_children, 0);
			continue;
		}
		if (e->n_children)
			ck_assert_msg(
			    e->first_child == next,
			    "entry %u: children start at %u, breadth-first order says %llu", i,
			    e->first_child, (unsigned long long)next);
		for (uint32_t c = e->first_child; c < e->first_child + e->n_children; c++) {
			ck_assert_uint_eq(E(m, c)->parent, i);
			if (c > e->first_child)
				ck_assert_msg(cmp_bytes(E(m, c - 1)->name, E(m, c - 1)->name_len,
				                        E(m, c)->name, E(m, c)->name_len) < 0,
				              "children of entry %u not sorted at %u", i, c);
		}
		next += e->n_children;
	}
	ck_assert_uint_eq(next, n);

	/* Lookups: every name, and near misses of every name. */
	for (uint32_t i = 1; i < n; i++) {
		const struct wide e_copy = *E(m, i), *e = &e_copy;
		char buf[600];
		size_t len = e->name_len;

		ck_assert_int_eq(fs_ix_lookup(m, e->parent, e->name, len), i);
		ck_assert_uint_lt(len + 2, sizeof(buf));
		memcpy(buf, e->name, len);
		check_lookup_result(m, e->parent, buf, len - 1); /* a prefix */
		buf[len] = '\0';
		check_lookup_result(m, e->parent, buf, len + 1); /* a NUL more */
		buf[len] = '~';
		check_lookup_result(m, e->parent, buf, len + 1);
		buf[len - 1] = (char)((uint8_t)buf[len - 1] + 1);
		check_lookup_result(m, e->parent, buf, len);
		buf[len - 1] = (char)((uint8_t)buf[len - 1] - 2);
		check_lookup_result(m, e->parent, buf, len);
	}
	for (uint32_t i = 0; i < n; i++) {
		if (!S_ISDIR(E(m, i)->mode))
			continue;
		check_lookup_result(m, i, "", 0);
		check_lookup_result(m, i, "\x01", 1);
		check_lookup_result(m, i, "\xff\xff\xff", 3);
		check_lookup_result(m, i, "no such name", 12);
	}

	/* Link counts: a file's is its number of names, a directory's 2 + subdirs. */
	names_of = calloc(n, sizeof(*names_of));
	ck_assert_ptr_nonnull(names_of);
	for (uint32_t i = 1; i < n; i++) {
		const struct wide e_copy = *E(m, i), *e = &e_copy;

		if (e->flags & IXE_WHITEOUT) {
			ck_assert_uint_eq(e->mode, 0);
			continue;
		}
		if (e->flags & IXE_HARDLINK) {
			ck_assert_uint_lt(e->link, n);
			ck_assert(!(E(m, e->link)->flags & (IXE_HARDLINK | IXE_WHITEOUT)));
			ck_assert_uint_eq(E(m, e->link)->mode & S_IFMT, e->mode & S_IFMT);
			names_of[e->link]++;
		} else {
			names_of[i]++;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct wide e_copy = *E(m, i), *e = &e_copy;

		if (e->flags & (IXE_WHITEOUT | IXE_HARDLINK))
			continue;
		if (S_ISDIR(e->mode)) {
			uint32_t subdirs = 0;

			for (uint32_t c = e->first_child; c < e->first_child + e->n_children; c++)
				subdirs += S_ISDIR(E(m, c)->mode) &&
				           !(E(m, c)->flags & (IXE_WHITEOUT | IXE_HARDLINK));
			ck_assert_msg(e->nlink == 2 + subdirs, "dir entry %u: nlink %u, subdirs %u",
			              i, e->nlink, subdirs);
		} else {
			ck_assert_msg(e->nlink == names_of[i],
			              "entry '%s' (%u): nlink %u but %u names", e->name, i,
			              e->nlink, names_of[i]);
		}
	}
	free(names_of);
}

/* A file's bytes as the index records them, read from the stream directly. */
static uint8_t *read_via_index(const struct ix_map *m, uint32_t i, int fd)
{
	const struct wide e_copy = *canon(m, i), *e = &e_copy;
	uint8_t *buf = calloc(1, e->size + 1);

	ck_assert_ptr_nonnull(buf);
	if (!(e->flags & IXE_SPARSE)) {
		ck_assert_int_eq(pread(fd, buf, e->size, (off_t)e->data_off), (ssize_t)e->size);
		return buf;
	}
	for (uint32_t k = 0; k < e->n_ext; k++) {
		const struct ix_extent *x = &m->extents[e->ext_first + k];

		ck_assert_uint_le(x->logical + x->len, e->size);
		if (k > 0)
			ck_assert_uint_ge(x->logical, m->extents[e->ext_first + k - 1].logical +
			                                  m->extents[e->ext_first + k - 1].len);
		ck_assert_int_eq(pread(fd, buf + x->logical, x->len, (off_t)x->stream_off),
		                 (ssize_t)x->len);
	}
	return buf;
}

/* Reads [off, off+len) through the layer's map op, at most @max extents a call. */
static void read_range_via_map(const struct strata_layer *l, uint64_t node, uint64_t off,
                               uint64_t len, size_t max, uint8_t *out)
{
	struct layer_extent ext[8];
	uint64_t done = 0;

	ck_assert_uint_le(max, 8);
	while (done < len) {
		size_t n = l->ops->map(l, node, off + done, len - done, ext, max);

		ck_assert_msg(n > 0 && n <= max, "map returned %zu extents at %llu", n,
		              (unsigned long long)(off + done));
		for (size_t k = 0; k < n; k++) {
			ck_assert_uint_gt(ext[k].len, 0);
			ck_assert_uint_le(done + ext[k].len, len);
			ck_assert_int_eq(fs_layer_extent_read(&ext[k], out + done), 0);
			done += ext[k].len;
		}
	}
}

static uint8_t *read_via_map(const struct strata_layer *l, uint64_t node)
{
	struct stat st;
	struct layer_extent ext[2];
	uint8_t *buf, *chunked;
	uint64_t size;

	l->ops->stat(l, node, &st);
	size = (uint64_t)st.st_size;
	buf = calloc(1, size + 1);
	chunked = calloc(1, size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_ptr_nonnull(chunked);
	read_range_via_map(l, node, 0, size, 3, buf);
	/* Reads at offsets inside extents, as the kernel makes them. */
	for (uint64_t off = 0; off < size; off += 4093) {
		uint64_t len = size - off < 4093 ? size - off : 4093;

		read_range_via_map(l, node, off, len, 8, chunked + off);
	}
	ck_assert(memcmp(buf, chunked, size) == 0);
	/* Nothing at or past the end. */
	ck_assert_uint_eq(l->ops->map(l, node, size, 10, ext, 2), 0);
	ck_assert_uint_eq(l->ops->map(l, node, size + 4096, 10, ext, 2), 0);
	free(chunked);
	return buf;
}

static void check_file_data(const struct strata_layer *l, const struct ix_map *m, uint32_t i,
                            int stream_fd, const uint8_t *want, uint64_t size, const char *what)
{
	uint8_t *a = read_via_index(m, i, stream_fd), *b = read_via_map(l, i);

	ck_assert_uint_eq(canon(m, i)->size, size);
	for (uint64_t k = 0; k < size; k++)
		if (a[k] != want[k])
			ck_abort_msg("%s: byte %llu at the recorded offset is %#x, expected %#x",
			             what, (unsigned long long)k, a[k], want[k]);
	ck_assert_msg(memcmp(b, want, size) == 0, "%s: data through map differs", what);
	free(a);
	free(b);
}

static struct archive *reader(const char *path)
{
	struct archive *a = archive_read_new();

	archive_read_support_format_tar(a);
	archive_read_support_filter_all(a);
	ck_assert_msg(archive_read_open_filename(a, path, 64 * 1024) == ARCHIVE_OK, "%s: %s", path,
	              archive_error_string(a));
	return a;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Reads the layer with libarchive and checks every member whose path occurs
 * once (and is not a whiteout) against the index: type, attributes, xattrs,
 * link targets, and every data byte.  Returns how many members it checked.
 */
static int check_against_archive(struct opened *o)
{
	struct archive *a;
	struct archive_entry *ae;
	char **paths = NULL;
	size_t n_paths = 0;
	int checked = 0, r, fd;
	locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0), old;

	/* Read names as the builder does: bytes through unchanged. */
	ck_assert_ptr_nonnull(utf8);
	old = uselocale(utf8);

	a = reader(o->path);
	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
		char p[8192];

		if (!norm_path(archive_entry_pathname(ae), p, sizeof(p)))
			continue;
		paths = realloc(paths, (n_paths + 1) * sizeof(*paths));
		paths[n_paths++] = strdup(p);
	}
	ck_assert_int_eq(r, ARCHIVE_EOF);
	archive_read_free(a);
	qsort(paths, n_paths, sizeof(*paths), cmp_str);

	fd = open(o->stream, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	a = reader(o->path);
	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
		char p[8192], *key = p, *last;
		const struct wide *e;
		uint32_t i;
		size_t cnt = 0;

		if (!norm_path(archive_entry_pathname(ae), p, sizeof(p)) || !*p)
			continue;
		last = strrchr(p, '/');
		last = last ? last + 1 : p;
		if (strncmp(last, ".wh.", 4) == 0)
			continue;
		for (char **q = bsearch(&key, paths, n_paths, sizeof(*paths), cmp_str);
		     q && q < paths + n_paths && strcmp(*q, p) == 0; q++)
			cnt++;
		if (cnt != 1)
			continue;
		i = must_find(&o->m, p);
		e = E(&o->m, i);
		ck_assert_msg(!(e->flags & IXE_WHITEOUT), "%s is a whiteout", p);
		checked++;
		if (archive_entry_hardlink(ae)) {
			char t[8192];

			ck_assert(norm_path(archive_entry_hardlink(ae), t, sizeof(t)));
			ck_assert_msg(e->flags & IXE_HARDLINK, "%s is not a hard link", p);
			ck_assert_uint_eq(e->link, ix_canonical_no(&o->m, must_find(&o->m, t)));
			ck_assert_uint_eq(o->l->ops->canonical(o->l, i), e->link);
			continue;
		}
		ck_assert_msg(!(e->flags & IXE_HARDLINK), "%s is a hard link", p);
		ck_assert_uint_eq(o->l->ops->canonical(o->l, i), i);
		ck_assert_msg(e->mode == archive_entry_mode(ae), "%s: mode %o, tar says %o", p,
		              e->mode, archive_entry_mode(ae));
		ck_assert_uint_eq(e->uid, (uint32_t)archive_entry_uid(ae));
		ck_assert_uint_eq(e->gid, (uint32_t)archive_entry_gid(ae));
		ck_assert_int_eq(e->mtime_sec, archive_entry_mtime(ae));
		ck_assert_uint_eq(e->mtime_nsec, (uint32_t)archive_entry_mtime_nsec(ae));
		{
			struct stat st;

			o->l->ops->stat(o->l, i, &st);
			ck_assert_uint_eq(st.st_mode, e->mode);
			ck_assert_uint_eq(st.st_uid, e->uid);
			ck_assert_int_eq(st.st_mtim.tv_sec, archive_entry_mtime(ae));
			ck_assert_int_eq(st.st_mtim.tv_nsec, archive_entry_mtime_nsec(ae));
			ck_assert_uint_eq(st.st_nlink, e->nlink);
		}
		/* xattrs, in order.  libarchive's pax writer stores each twice
		 * (SCHILY.xattr, LIBARCHIVE.xattr) and its reader returns both:
		 * the index keeps the first of each name. */
		{
			const char *xn, *seen[64];
			const void *xv;
			size_t xs, k = 0, n_seen = 0;

			archive_entry_xattr_reset(ae);
			while (archive_entry_xattr_next(ae, &xn, &xv, &xs) == ARCHIVE_OK) {
				const char *in;
				const void *iv;
				size_t is;
				bool dup = false;

				for (size_t q = 0; q < n_seen; q++)
					dup = dup || strcmp(seen[q], xn) == 0;
				if (dup)
					continue;
				ck_assert_uint_lt(n_seen, 64);
				seen[n_seen++] = xn;
				ck_assert_msg(o->l->ops->xattr(o->l, i, (uint32_t)k, &in, &iv, &is),
				              "%s: xattr %s missing", p, xn);
				ck_assert_str_eq(in, xn);
				ck_assert_uint_eq(is, xs);
				ck_assert(memcmp(iv, xv, xs) == 0);
				k++;
			}
			ck_assert_uint_eq(k, e->n_xattrs);
		}
		switch (archive_entry_filetype(ae)) {
		case AE_IFREG: {
			uint64_t size = (uint64_t)archive_entry_size(ae);
			uint8_t *want = calloc(1, size + 1);
			const void *blk;
			size_t bs;
			la_int64_t boff;

			/* libarchive's own view: data blocks at their offsets, holes
			 * (including a trailing one) zero. */
			while ((r = archive_read_data_block(a, &blk, &bs, &boff)) == ARCHIVE_OK) {
				ck_assert_uint_le((uint64_t)boff + bs, size);
				memcpy(want + boff, blk, bs);
			}
			ck_assert_int_eq(r, ARCHIVE_EOF);
			ck_assert_uint_eq(e->size, size);
			ck_assert_uint_eq(!!(e->flags & IXE_SPARSE),
			                  archive_entry_sparse_count(ae) > 0);
			check_file_data(o->l, &o->m, i, fd, want, size, p);
			free(want);
			break;
		}
		case AE_IFLNK: {
			size_t len;
			const char *t = o->l->ops->readlink(o->l, i, &len);

			ck_assert_str_eq(t, archive_entry_symlink(ae));
			ck_assert_uint_eq(len, strlen(archive_entry_symlink(ae)));
			ck_assert_uint_eq(e->size, len);
			break;
		}
		case AE_IFCHR:
		case AE_IFBLK:
			ck_assert_uint_eq(e->rdev, archive_entry_rdev(ae));
			break;
		default:
			break;
		}
	}
	ck_assert_int_eq(r, ARCHIVE_EOF);
	archive_read_free(a);
	close(fd);
	for (size_t k = 0; k < n_paths; k++)
		free(paths[k]);
	free(paths);
	uselocale(old);
	freelocale(utf8);
	return checked;
}

/* Checks the index against what the test wrote (entries with unique names). */
static void check_written(struct opened *o, const struct tl_entry *ents, size_t n,
                          enum tl_format fmt)
{
	int fd = open(o->stream, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	for (size_t k = 0; k < n; k++) {
		const struct tl_entry *w = &ents[k];
		char p[8192];
		uint32_t i;
		const struct wide *e;
		unsigned perm =
		    w->perm ? w->perm : (w->type == 'd' || w->type == 'l' ? 0755 : 0644);

		ck_assert(norm_path(w->name, p, sizeof(p)));
		i = must_find(&o->m, p);
		e = E(&o->m, i);
		if (w->type == 'h') {
			char t[8192];

			ck_assert(norm_path(w->target, t, sizeof(t)));
			ck_assert_msg(e->flags & IXE_HARDLINK, "%s", p);
			ck_assert_uint_eq(e->link, ix_canonical_no(&o->m, must_find(&o->m, t)));
			continue;
		}
		ck_assert_uint_eq(e->mode & 07777, perm);
		ck_assert_uint_eq(e->uid, (uint32_t)w->uid);
		ck_assert_uint_eq(e->gid, (uint32_t)w->gid);
		ck_assert_int_eq(e->mtime_sec, w->mtime);
		ck_assert_uint_eq(e->mtime_nsec, fmt == TL_PAX ? (uint32_t)w->mtime_ns : 0);
		ck_assert_uint_eq(e->n_xattrs, fmt == TL_PAX ? w->n_xattrs : 0);
		for (uint32_t x = 0; x < e->n_xattrs; x++) {
			const struct ix_xattr *xa = &o->m.xattrs[e->xattr_first + x];

			ck_assert_uint_eq(xa->name_len, strlen(w->xattrs[x].name));
			ck_assert(memcmp(o->m.strings + xa->name_off, w->xattrs[x].name,
			                 xa->name_len) == 0);
			ck_assert_uint_eq(xa->value_len, w->xattrs[x].size);
			ck_assert(memcmp(o->m.strings + xa->value_off, w->xattrs[x].value,
			                 xa->value_len) == 0);
		}
		switch (w->type) {
		case 'f': {
			uint8_t *want = tl_entry_content(w);

			ck_assert_uint_eq(e->mode & S_IFMT, S_IFREG);
			ck_assert_uint_eq(!!(e->flags & IXE_SPARSE), w->n_runs > 0);
			check_file_data(o->l, &o->m, i, fd, want, (uint64_t)w->size, p);
			free(want);
			break;
		}
		case 'd':
			ck_assert_uint_eq(e->mode & S_IFMT, S_IFDIR);
			ck_assert(!(e->flags & IXE_IMPLICIT));
			break;
		case 'l':
			ck_assert_uint_eq(e->mode & S_IFMT, S_IFLNK);
			ck_assert_uint_eq(e->link_len, strlen(w->target));
			ck_assert_str_eq(o->m.strings + e->link, w->target);
			break;
		case 'p':
			ck_assert_uint_eq(e->mode & S_IFMT, S_IFIFO);
			break;
		case 'c':
		case 'b':
			ck_assert_uint_eq(e->mode & S_IFMT, w->type == 'c' ? S_IFCHR : S_IFBLK);
			ck_assert_uint_eq(e->rdev, makedev(w->devmajor, w->devminor));
			break;
		}
	}
	close(fd);
}

static uint32_t n_entries(const struct opened *o)
{
	return (uint32_t)o->m.hdr->n_entries;
}

/* ---- every format and compression ---- */

#define MAX_ENTS 400

static const uint8_t xattr_bin[] = {0x01, 0x00, 0x00, 0x02, 0xff, 0x00, 0x7f};
static const struct tl_xattr xattrs_a[] = {
    {"user.a", "1", 1},
    {"security.capability", xattr_bin, sizeof(xattr_bin)},
    {"user.empty", "", 0},
};
static const struct tl_xattr xattrs_dir[] = {{"trusted.overlay.opaque", "y", 1}};
static const struct tl_run runs_main[] = {{0, 4096}, {65536, 513}, {200000, 1}, {299488, 512}};
static const struct tl_run runs_tail_hole[] = {{8192, 100}};
static const struct tl_run runs_many[] = {{1, 1},    {1000, 511},   {3000, 512},  {5000, 513},
                                          {9000, 1}, {12000, 7000}, {40000, 100}, {50000, 1}};

static char long_component[201], long_component2[201], long_file[160], ustar_long[300];
static char long_path_file[600], long_target[400];

/* The members of the layer every format and compression is tested with. */
static size_t content_set(enum tl_format fmt, struct tl_entry *ents)
{
	size_t n = 0;
	static char many_names[200][32];
	bool ext = fmt != TL_USTAR; /* long names, big ids */

	memset(long_component, 'c', 200);
	memset(long_component2, 'd', 200);
	memset(long_file, 'f', 150);
	memset(long_target, 't', 300);
	snprintf(long_path_file, sizeof(long_path_file), "deep/%s/%s/file", long_component,
	         long_component2);
	/* ustar splits a name of up to 255 bytes into prefix and name. */
	memset(ustar_long, 0, sizeof(ustar_long));
	memcpy(ustar_long, "u/", 2);
	memset(ustar_long + 2, 'p', 120);
	ustar_long[122] = '/';
	memset(ustar_long + 123, 'n', 90);

	ents[n++] = (struct tl_entry){.type = 'd',
	                              .name = "dir",
	                              .perm = 0750,
	                              .uid = 1000,
	                              .gid = 1001,
	                              .mtime = 1600000000,
	                              .mtime_ns = 123456789,
	                              .xattrs = fmt == TL_PAX ? xattrs_dir : NULL,
	                              .n_xattrs = fmt == TL_PAX ? 1 : 0};
	ents[n++] = (struct tl_entry){.type = 'f', .name = "dir/empty", .size = 0, .mtime = 1};
	ents[n++] = (struct tl_entry){.type = 'f', .name = "dir/one", .size = 1, .perm = 0600};
	ents[n++] = (struct tl_entry){.type = 'f', .name = "dir/b511", .size = 511};
	ents[n++] = (struct tl_entry){.type = 'f',
	                              .name = "dir/b512",
	                              .size = 512,
	                              .uid = ext ? 3000000 : 65534,
	                              .gid = ext ? 4000000 : 65533,
	                              .mtime = 1700000000,
	                              .mtime_ns = 999999999,
	                              .xattrs = fmt == TL_PAX ? xattrs_a : NULL,
	                              .n_xattrs = fmt == TL_PAX ? 3 : 0};
	ents[n++] = (struct tl_entry){.type = 'f', .name = "dir/b513", .size = 513, .perm = 04755};
	ents[n++] = (struct tl_entry){.type = 'f', .name = "dir/b1023", .size = 1023};
	ents[n++] =
	    (struct tl_entry){.type = 'f', .name = "dir/b1025", .size = 1025, .perm = 01777};
	ents[n++] = (struct tl_entry){
	    .type = 'f', .name = "big", .size = (1 << 20) + 1, .mtime = 86400, .mtime_ns = 1};
	ents[n++] = (struct tl_entry){.type = 'd', .name = "many", .mtime = 5};
	for (int i = 0; i < 200; i++) {
		snprintf(many_names[i], sizeof(many_names[i]), "many/f%03d", (i * 7919) % 200);
		ents[n++] = (struct tl_entry){
		    .type = 'f', .name = many_names[i], .size = (i * 37) % 1500, .mtime = i};
	}
	ents[n++] = (struct tl_entry){.type = 'l', .name = "link", .target = "dir/one"};
	ents[n++] = (struct tl_entry){.type = 'l', .name = "dangling", .target = "../../nowhere"};
	ents[n++] = (struct tl_entry){.type = 'h', .name = "hard", .target = "dir/b513"};
	ents[n++] = (struct tl_entry){.type = 'p', .name = "fifo", .perm = 0600};
	ents[n++] = (struct tl_entry){
	    .type = 'c', .name = "null", .devmajor = 1, .devminor = 3, .perm = 0666};
	ents[n++] = (struct tl_entry){
	    .type = 'b', .name = "sda", .devmajor = 8, .devminor = 17, .perm = 0660, .gid = 6};
	ents[n++] = (struct tl_entry){.type = 'f', .name = ustar_long, .size = 700};
	if (ext) {
		static char lf[200];

		snprintf(lf, sizeof(lf), "L/%s", long_file);
		ents[n++] = (struct tl_entry){.type = 'f', .name = lf, .size = 1500};
		ents[n++] = (struct tl_entry){.type = 'f', .name = long_path_file, .size = 2049};
		ents[n++] =
		    (struct tl_entry){.type = 'l', .name = "longlink", .target = long_target};
		ents[n++] =
		    (struct tl_entry){.type = 'h', .name = "L/hardlong", .target = long_path_file};
	}
	if (fmt == TL_PAX) {
		ents[n++] = (struct tl_entry){.type = 'f',
		                              .name = "sparse",
		                              .size = 300000,
		                              .runs = runs_main,
		                              .n_runs = 4,
		                              .mtime = 42,
		                              .mtime_ns = 42};
		ents[n++] = (struct tl_entry){.type = 'f',
		                              .name = "sparse_tail_hole",
		                              .size = 1 << 20,
		                              .runs = runs_tail_hole,
		                              .n_runs = 1};
		ents[n++] = (struct tl_entry){.type = 'f',
		                              .name = "dir/sparse_many",
		                              .size = 60000,
		                              .runs = runs_many,
		                              .n_runs = 8};
		ents[n++] = (struct tl_entry){.type = 'f',
		                              .name = "negative_mtime",
		                              .size = 3,
		                              .mtime = -1000,
		                              .mtime_ns = 5};
	}
	ents[n++] = (struct tl_entry){.type = 'f', .name = "last", .size = 10};
	ck_assert_uint_le(n, MAX_ENTS);
	return n;
}

START_TEST(test_formats_and_compressions)
{
	enum tl_format fmt = (enum tl_format)(_i / 5);
	enum tl_filter filt = (enum tl_filter)(_i % 5);
	struct tl_entry *ents = calloc(MAX_ENTS, sizeof(*ents));
	struct strata_layer_info info;
	struct opened o;
	char name[64];
	size_t n;
	int checked;
	struct stat st;

	snprintf(name, sizeof(name), "layer-%s.tar.%s", tl_format_name(fmt), tl_filter_name(filt));
	setup_dir(&o, "fmt", name);
	n = content_set(fmt, ents);
	tl_write_layer(o.path, fmt, filt, ents, n);
	open_layer(&o);

	strata_layer_info(o.l, &info);
	ck_assert_str_eq(info.compression, tl_filter_name(filt));
	ck_assert(!info.index_reused);
	ck_assert_uint_eq(info.n_entries, o.m.hdr->n_entries);
	ck_assert_uint_eq(o.l->n_entries, o.m.hdr->n_entries);
	ck_assert_int_eq(stat(o.stream, &st), 0);
	ck_assert_uint_eq(info.stream_size, (uint64_t)st.st_size);
	ck_assert_uint_eq(!!(o.m.hdr->flags & IXH_DATA_COPY), filt != TL_NONE && filt != TL_GZIP);
	ck_assert_uint_eq(o.m.hdr->n_checkpoints > 0, filt == TL_GZIP);
	ck_assert_int_eq(o.w.n, 0);

	check_structure(&o.m);
	checked = check_against_archive(&o);
	ck_assert_int_eq(checked, (int)n); /* every member, all names unique */
	check_written(&o, ents, n, fmt);
	/* Implicit dirs: only those for the long paths; all else is explicit. */
	{
		uint32_t expect = 1 /* root */ + (uint32_t)n;

		expect += 1; /* "u" and its "ppp..." are implicit, "u" adds one */
		expect += 1;
		if (fmt != TL_USTAR)
			expect += 1 /* L */ + 3 /* deep, c..., d... */;
		ck_assert_uint_eq(n_entries(&o), expect);
	}
	ck_assert(E(&o.m, must_find(&o.m, "u"))->flags & IXE_IMPLICIT);
	ck_assert_uint_eq(E(&o.m, must_find(&o.m, "hard"))->link, must_find(&o.m, "dir/b513"));
	ck_assert_uint_eq(E(&o.m, must_find(&o.m, "dir/b513"))->nlink, 2);
	{
		uint64_t total = 0;

		for (size_t k = 0; k < n; k++)
			if (ents[k].type == 'f')
				total += (uint64_t)ents[k].size;
		ck_assert_uint_eq(o.m.hdr->total_data, total);
		ck_assert_uint_eq(o.l->total_data, total);
	}
	close_layer(&o);

	/* Nothing changed: the second open reuses the index and serves the same. */
	open_layer(&o);
	strata_layer_info(o.l, &info);
	ck_assert(info.index_reused);
	check_written(&o, ents, n, fmt);
	cleanup(&o);
	free(ents);
}
END_TEST

/* Old GNU sparse members ('S', with extension headers), hand-made since
 * libarchive writes sparse files only as pax. */
START_TEST(test_gnu_sparse)
{
	static const struct tl_run six[] = {{0, 100},     {4096, 4096}, {10000, 1},
	                                    {20000, 512}, {30001, 999}, {70000, 5000}};
	static const struct tl_run hole_first[] = {{1 << 20, 1}};
	struct tl_run runs30[30];
	enum tl_filter filt = (enum tl_filter)_i;
	struct tl_buf b = {0};
	struct opened o;
	uint8_t data[777];
	uint32_t i;

	for (int k = 0; k < 30; k++)
		runs30[k] = (struct tl_run){k * 1000 + 3, 17 + k};
	setup_dir(&o, "gnusparse", "gnu-sparse.tar");
	tl_pattern(1, 0, data, sizeof(data));
	tl_raw_header(&b, "before", '0', sizeof(data), 0644, NULL);
	tl_raw_data(&b, data, sizeof(data));
	tl_raw_gnu_sparse(&b, "six", 80000, six, 6, 1234);
	tl_raw_gnu_sparse(&b, "hole_first", (1 << 20) + 10, hole_first, 1, 0);
	tl_raw_gnu_sparse(&b, "thirty", 40000, runs30, 30, 0);
	tl_raw_header(&b, "after", '0', 10, 0644, NULL);
	tl_raw_data(&b, data, 10);
	tl_raw_end(&b);
	tl_write_compressed(o.path, filt, b.p, b.len);
	open_layer(&o);

	check_structure(&o.m);
	ck_assert_int_eq(check_against_archive(&o), 5);
	i = must_find(&o.m, "six");
	ck_assert(E(&o.m, i)->flags & IXE_SPARSE);
	ck_assert_uint_eq(E(&o.m, i)->size, 80000);
	ck_assert_int_eq(E(&o.m, i)->mtime_sec, 1234);
	ck_assert_uint_eq(E(&o.m, must_find(&o.m, "thirty"))->n_ext, 30);
	/* The runs, exactly. */
	{
		int fd = open(o.stream, O_RDONLY);
		uint8_t *got = read_via_index(&o.m, i, fd);
		uint8_t *want = calloc(1, 80000);

		for (int k = 0; k < 6; k++)
			tl_pattern(tl_seed("six"), (uint64_t)six[k].off, want + six[k].off,
			           (size_t)six[k].len);
		ck_assert(memcmp(got, want, 80000) == 0);
		free(got);
		free(want);
		close(fd);
	}
	{
		struct stat st;

		o.l->ops->stat(o.l, must_find(&o.m, "hole_first"), &st);
		ck_assert_int_eq(st.st_size, (1 << 20) + 10);
		ck_assert_int_eq(st.st_blocks, 8); /* one stored byte: one 4 KiB block */
	}
	tl_buf_free(&b);
	cleanup(&o);
}
END_TEST

/* Breadth-first numbering and sorted children, with the exact numbers. */
START_TEST(test_order_exact)
{
	static const struct tl_entry ents[] = {
	    {.type = 'd', .name = "x"},     {.type = 'f', .name = "b"},
	    {.type = 'd', .name = "x/y"},   {.type = 'f', .name = "x/y/z"},
	    {.type = 'd', .name = "w"},     {.type = 'f', .name = "w/v"},
	    {.type = 'f', .name = "a\xff"}, {.type = 'f', .name = "ab"},
	    {.type = 'f', .name = "a"},     {.type = 'f', .name = "B"},
	    {.type = 'f', .name = "a\x01"}, {.type = 'f', .name = "\xc3\xa9"},
	    {.type = 'f', .name = "x/a"},   {.type = 'f', .name = "w/zz"},
	    {.type = 'f', .name = "w/z"},   {.type = 'd', .name = "x/y/q"},
	};
	/* root: B a a\x01 ab a\xff b w x \xc3\xa9; then w's, x's, y's children. */
	static const char *const order[] = {"",   "B", "a", "a\x01",    "ab", "a\xff",
	                                    "b",  "w", "x", "\xc3\xa9", "v",  "z",
	                                    "zz", "a", "y", "q",        "z"};
	static const uint32_t parent[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 7, 7, 8, 8, 14, 14};
	struct opened o;

	setup_dir(&o, "order", "order.tar");
	tl_write_layer(o.path, TL_PAX, TL_NONE, ents, sizeof(ents) / sizeof(ents[0]));
	open_layer(&o);
	ck_assert_uint_eq(n_entries(&o), 17);
	for (uint32_t i = 0; i < 17; i++) {
		ck_assert_msg(name_is(&o.m, i, order[i], strlen(order[i])), "entry %u is '%s'", i,
		              E(&o.m, i)->name);
		ck_assert_uint_eq(E(&o.m, i)->parent, parent[i]);
	}
	ck_assert_uint_eq(E(&o.m, 0)->first_child, 1);
	ck_assert_uint_eq(E(&o.m, 0)->n_children, 9);
	ck_assert_uint_eq(E(&o.m, 7)->first_child, 10);
	ck_assert_uint_eq(E(&o.m, 8)->first_child, 13);
	ck_assert_uint_eq(E(&o.m, 14)->first_child, 15);
	ck_assert_uint_eq(E(&o.m, 14)->n_children, 2);
	ck_assert_uint_eq(E(&o.m, 0)->nlink, 4);
	ck_assert_uint_eq(E(&o.m, 14)->nlink, 3);
	check_structure(&o.m);
	ck_assert_int_eq(fs_ix_lookup(&o.m, 0, "a", 1), 2);
	ck_assert_int_eq(fs_ix_lookup(&o.m, 0, "a\x01", 2), 3);
	ck_assert_int_eq(fs_ix_lookup(&o.m, 0, "a\x00", 2), -1);
	ck_assert_int_eq(fs_ix_lookup(&o.m, 0, "A", 1), -1);
	ck_assert_int_eq(fs_ix_lookup(&o.m, 0, "y", 1), -1);
	ck_assert_int_eq(fs_ix_lookup(&o.m, 14, "z", 1), 16);
	ck_assert_int_eq(fs_ix_lookup(&o.m, 14, "zz", 2), -1);
	ck_assert_int_eq(fs_ix_lookup(&o.m, 7, "zz", 2), 12);
	ck_assert_int_eq(fs_ix_lookup(&o.m, 1, "x", 1), -1); /* a file has no children */
	cleanup(&o);
}
END_TEST

/* Many names in one directory, so lookup's binary search has depth. */
START_TEST(test_lookup_many)
{
	enum { N = 3000 };
	struct tl_entry *ents = calloc(N, sizeof(*ents));
	char(*names)[24] = calloc(N, sizeof(*names));
	struct opened o;

	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "d/%x", (unsigned)(i * 2654435761u));
		ents[i] = (struct tl_entry){.type = i % 3 ? 'f' : 'd', .name = names[i]};
	}
	setup_dir(&o, "many", "many.tar");
	tl_write_layer(o.path, TL_GNU, TL_NONE, ents, N);
	open_layer(&o);
	ck_assert_uint_eq(n_entries(&o), N + 2);
	check_structure(&o.m);
	for (int i = 0; i < N; i++) {
		uint32_t k = must_find(&o.m, names[i]);

		ck_assert_uint_eq(E(&o.m, k)->mode & S_IFMT, i % 3 ? S_IFREG : S_IFDIR);
	}
	ck_assert_uint_eq(E(&o.m, must_find(&o.m, "d"))->nlink, 2 + N / 3);
	cleanup(&o);
	free(names);
	free(ents);
}
END_TEST

/* Names of any bytes but '/' and NUL survive byte for byte. */
START_TEST(test_names_any_bytes)
{
	enum tl_format fmt = (enum tl_format)_i;
	struct tl_entry ents[300];
	char names[300][300];
	char all_high[140];
	size_t n = 0;
	struct opened o;

	for (int c = 1; c < 256; c++) {
		if (c == '/')
			continue;
		snprintf(names[n], sizeof(names[n]), "n%c", c);
		ents[n] = (struct tl_entry){.type = 'f', .name = names[n], .size = c % 5};
		n++;
	}
	for (int c = 0; c < 128; c++)
		all_high[c] = (char)(0x80 + c);
	all_high[128] = '\0';
	snprintf(names[n], sizeof(names[n]), "hi/%.90s", all_high);
	ents[n] = (struct tl_entry){.type = 'f', .name = names[n], .size = 3};
	n++;
	snprintf(names[n], sizeof(names[n]), "caf\xc3\xa9/\xe2\x82\xac\xf0\x9f\x98\x80");
	ents[n] = (struct tl_entry){.type = 'f', .name = names[n], .size = 4};
	n++;
	snprintf(names[n], sizeof(names[n]), "bad\xff\xfe\xc3");
	ents[n] = (struct tl_entry){.type = 'l', .name = names[n], .target = "t\xff\x01"};
	n++;
	snprintf(names[n], sizeof(names[n]), "sp ace\ttab\nnl\\bs");
	ents[n] = (struct tl_entry){.type = 'd', .name = names[n]};
	n++;
	snprintf(names[n], sizeof(names[n]), "...");
	ents[n] = (struct tl_entry){.type = 'f', .name = names[n], .size = 1};
	n++;
	snprintf(names[n], sizeof(names[n]), ".wh");
	ents[n] = (struct tl_entry){.type = 'f', .name = names[n], .size = 1};
	n++;

	setup_dir(&o, "names", "names.tar");
	tl_write_layer(o.path, fmt, TL_NONE, ents, n);
	open_layer(&o);
	ck_assert_int_eq(o.w.n, 0);
	check_structure(&o.m);
	check_written(&o, ents, n, fmt);
	ck_assert_int_eq(check_against_archive(&o), (int)n);
	/* 'n.' is a name, not '.': every one-byte suffix is its own entry */
	ck_assert_uint_eq(E(&o.m, 0)->n_children, 254 + 6);
	cleanup(&o);
}
END_TEST

/* ---- attributes ---- */

START_TEST(test_attrs_exact)
{
	static const struct tl_xattr xa[] = {{"user.z", "last", 4}, {"user.a", "first", 5}};
	static const struct tl_entry ents[] = {
	    {.type = 'f',
	     .name = "f",
	     .size = 5,
	     .perm = 07755,
	     .uid = 4294967294LL,
	     .gid = 123456789,
	     .mtime = 4102444800LL,
	     .mtime_ns = 999999999,
	     .xattrs = xa,
	     .n_xattrs = 2},
	    {.type = 'd',
	     .name = "d",
	     .perm = 01777,
	     .uid = 7,
	     .gid = 8,
	     .mtime = 9,
	     .mtime_ns = 10},
	    {.type = 'l', .name = "d/l", .target = "../f", .uid = 11, .mtime = 12},
	    {.type = 'c', .name = "c", .devmajor = 4095, .devminor = 1048575},
	    {.type = 'b', .name = "b", .devmajor = 259, .devminor = 3},
	    {.type = 'p', .name = "p", .perm = 0640},
	};
	struct opened o;
	uint32_t i;
	struct stat st;
	size_t len;

	setup_dir(&o, "attrs", "attrs.tar");
	tl_write_layer(o.path, TL_PAX, TL_NONE, ents, sizeof(ents) / sizeof(ents[0]));
	open_layer(&o);
	i = must_find(&o.m, "f");
	o.l->ops->stat(o.l, i, &st);
	ck_assert_uint_eq(st.st_mode, S_IFREG | 07755);
	ck_assert_uint_eq(st.st_uid, 4294967294u);
	ck_assert_uint_eq(st.st_gid, 123456789);
	ck_assert_int_eq(st.st_mtim.tv_sec, 4102444800LL);
	ck_assert_int_eq(st.st_mtim.tv_nsec, 999999999);
	ck_assert_int_eq(st.st_size, 5);
	ck_assert_uint_eq(st.st_nlink, 1);
	ck_assert_uint_eq(E(&o.m, i)->n_xattrs, 2);
	{
		const char *n;
		const void *v;
		size_t s;

		/* xattrs come back in the order the tar gives them */
		ck_assert(o.l->ops->xattr(o.l, i, 0, &n, &v, &s));
		ck_assert_str_eq(n, "user.z");
		ck_assert_uint_eq(s, 4);
		ck_assert(memcmp(v, "last", 4) == 0);
		ck_assert(o.l->ops->xattr(o.l, i, 1, &n, &v, &s));
		ck_assert_str_eq(n, "user.a");
		ck_assert(!o.l->ops->xattr(o.l, i, 2, &n, &v, &s));
	}
	i = must_find(&o.m, "d");
	o.l->ops->stat(o.l, i, &st);
	ck_assert_uint_eq(st.st_mode, S_IFDIR | 01777);
	ck_assert_uint_eq(st.st_nlink, 2);
	ck_assert_int_eq(st.st_mtim.tv_nsec, 10);
	i = must_find(&o.m, "d/l");
	ck_assert_str_eq(o.l->ops->readlink(o.l, i, &len), "../f");
	ck_assert_uint_eq(len, 4);
	o.l->ops->stat(o.l, i, &st);
	ck_assert_uint_eq(st.st_mode, S_IFLNK | 0755);
	ck_assert_int_eq(st.st_size, 4);
	ck_assert_uint_eq(st.st_uid, 11);
	i = must_find(&o.m, "c");
	o.l->ops->stat(o.l, i, &st);
	ck_assert_uint_eq(st.st_mode, S_IFCHR | 0644);
	ck_assert_uint_eq(major(st.st_rdev), 4095);
	ck_assert_uint_eq(minor(st.st_rdev), 1048575);
	ck_assert_uint_eq(E(&o.m, must_find(&o.m, "b"))->rdev, makedev(259, 3));
	ck_assert_uint_eq(E(&o.m, must_find(&o.m, "p"))->mode, S_IFIFO | 0640);
	/* The root has no member: implicit, 0755, owned by root, time 0. */
	ck_assert_uint_eq(E(&o.m, 0)->mode, S_IFDIR | 0755);
	ck_assert_uint_eq(E(&o.m, 0)->flags, IXE_IMPLICIT);
	check_structure(&o.m);
	cleanup(&o);
}
END_TEST

/* A "./" member sets the root's own attributes. */
START_TEST(test_root_member)
{
	static const struct tl_xattr xa[] = {{"user.root", "r", 1}};
	static const struct tl_entry ents[] = {
	    {.type = 'd',
	     .name = "./",
	     .perm = 0700,
	     .uid = 5,
	     .gid = 6,
	     .mtime = 77,
	     .xattrs = xa,
	     .n_xattrs = 1},
	    {.type = 'f', .name = "./f", .size = 2},
	    {.type = 'l', .name = ".", .target = "x"}, /* the root as a symlink: skipped */
	};
	struct opened o;

	setup_dir(&o, "root", "root.tar");
	tl_write_layer(o.path, TL_PAX, TL_NONE, ents, 3);
	open_layer(&o);
	ck_assert_uint_eq(E(&o.m, 0)->mode, S_IFDIR | 0700);
	ck_assert_uint_eq(E(&o.m, 0)->uid, 5);
	ck_assert_int_eq(E(&o.m, 0)->mtime_sec, 77);
	ck_assert_uint_eq(E(&o.m, 0)->n_xattrs, 1);
	ck_assert_uint_eq(E(&o.m, 0)->flags & IXE_IMPLICIT, 0);
	ck_assert_uint_eq(n_entries(&o), 2);
	ck_assert_int_eq(o.w.n, 1);
	ck_assert(tl_warned(&o.w, "the layer root is not a directory"));
	cleanup(&o);
}
END_TEST

/* ---- hard links ---- */

START_TEST(test_hardlinks)
{
	static const struct tl_entry ents[] = {
	    {.type = 'f', .name = "f", .size = 1000, .uid = 3, .mtime = 33},
	    {.type = 'h', .name = "g", .target = "f"},
	    {.type = 'd', .name = "sub"},
	    {.type = 'h', .name = "sub/h", .target = "./f"},
	    {.type = 'h', .name = "k", .target = "g"}, /* a link to a link */
	    {.type = 'l', .name = "sl", .target = "f"},
	    {.type = 'h', .name = "sl2", .target = "sl"},
	    {.type = 'p', .name = "fifo"},
	    {.type = 'h', .name = "fifo2", .target = "fifo"},
	    {.type = 'h', .name = "missing", .target = "nope"},
	    {.type = 'h', .name = "missing2", .target = "sub/nope/deeper"},
	    {.type = 'h', .name = "todir", .target = "sub"},
	    {.type = 'h', .name = "outside", .target = "../f"},
	    {.type = 'h', .name = "self", .target = "self"},
	    {.type = 'h', .name = "toroot", .target = "./"},
	    {.type = 'f', .name = "z", .size = 1},
	};
	struct opened o;
	uint32_t f, g, h, k;
	uint8_t *a, *b;
	struct stat st;

	setup_dir(&o, "hardlinks", "hl.tar");
	tl_write_layer(o.path, TL_GNU, TL_NONE, ents, sizeof(ents) / sizeof(ents[0]));
	open_layer(&o);
	check_structure(&o.m);
	f = must_find(&o.m, "f");
	g = must_find(&o.m, "g");
	h = must_find(&o.m, "sub/h");
	k = must_find(&o.m, "k");
	ck_assert_uint_eq(E(&o.m, f)->flags & IXE_HARDLINK, 0);
	ck_assert_uint_eq(E(&o.m, f)->nlink, 4);
	for (uint32_t x = 0; x < 3; x++) {
		uint32_t n = x == 0 ? g : x == 1 ? h : k;

		ck_assert_uint_eq(E(&o.m, n)->flags, IXE_HARDLINK);
		ck_assert_uint_eq(E(&o.m, n)->link, f);
		ck_assert_uint_eq(o.l->ops->canonical(o.l, n), f);
		o.l->ops->stat(o.l, n, &st);
		ck_assert_uint_eq(st.st_nlink, 4);
		ck_assert_uint_eq(st.st_uid, 3);
		ck_assert_int_eq(st.st_size, 1000);
		ck_assert_int_eq(st.st_mtim.tv_sec, 33);
	}
	a = read_via_map(o.l, f);
	b = read_via_map(o.l, k);
	ck_assert(memcmp(a, b, 1000) == 0);
	free(a);
	free(b);
	ck_assert_uint_eq(E(&o.m, must_find(&o.m, "sl2"))->link, must_find(&o.m, "sl"));
	ck_assert_uint_eq(E(&o.m, must_find(&o.m, "sl"))->nlink, 2);
	ck_assert_uint_eq(E(&o.m, must_find(&o.m, "sl2"))->mode & S_IFMT, S_IFLNK);
	{
		size_t len;

		ck_assert_str_eq(o.l->ops->readlink(o.l, must_find(&o.m, "sl2"), &len), "f");
	}
	ck_assert_uint_eq(E(&o.m, must_find(&o.m, "fifo"))->nlink, 2);
	for (const char *const *p = (const char *const[]){"missing", "missing2", "todir", "outside",
	                                                  "self", "toroot", NULL};
	     *p; p++)
		ck_assert_msg(find(&o.m, *p) < 0, "'%s' should have been skipped", *p);
	ck_assert_int_eq(o.w.n, 6);
	ck_assert(tl_warned(&o.w, ": skipping 'missing': hard link to a missing target"));
	ck_assert(tl_warned(&o.w, ": skipping 'missing2': hard link to a missing target"));
	ck_assert(tl_warned(&o.w, ": skipping 'todir': hard link to a directory"));
	ck_assert(tl_warned(&o.w, ": skipping 'outside': path contains '..'"));
	ck_assert(tl_warned(&o.w, ": skipping 'self': "));
	ck_assert(tl_warned(&o.w, ": skipping 'toroot': "));
	ck_assert_msg(strncmp(o.w.all, o.path, strlen(o.path)) == 0,
	              "warnings should name the layer: %s", o.w.all);
	ck_assert_uint_eq(n_entries(&o), 1 + 10);
	cleanup(&o);
}
END_TEST

/* "f", "g" hard-linked to it, then a new "f": as GNU tar extracts it, g keeps
 * the first content and f gets the second; each has one name. */
START_TEST(test_hardlink_target_replaced)
{
	static const struct tl_entry ents[] = {
	    {.type = 'f', .name = "f", .data = "first", .size = 5, .uid = 7},
	    {.type = 'h', .name = "g", .target = "f"},
	    {.type = 'h', .name = "h", .target = "f"},
	    {.type = 'f', .name = "f", .data = "second!", .size = 7},
	};
	struct opened o;
	uint8_t *d;
	uint32_t g, h;

	setup_dir(&o, "hlreplace", "hlr.tar");
	tl_write_layer(o.path, TL_PAX, TL_NONE, ents, 4);
	open_layer(&o);
	d = read_via_map(o.l, must_find(&o.m, "f"));
	ck_assert(memcmp(d, "second!", 7) == 0);
	free(d);
	g = must_find(&o.m, "g");
	h = must_find(&o.m, "h");
	for (int k = 0; k < 2; k++) {
		d = read_via_map(o.l, k ? h : g);
		ck_assert_msg(memcmp(d, "first", 5) == 0, "%s serves '%.7s', not 'first'",
		              k ? "h" : "g", d);
		free(d);
	}
	ck_assert_uint_eq(E(&o.m, must_find(&o.m, "f"))->nlink, 1);
	ck_assert_uint_eq(E(&o.m, must_find(&o.m, "f"))->flags & IXE_HARDLINK, 0);
	/* g, the first other name, holds the old file now; h links to it */
	ck_assert_uint_eq(E(&o.m, g)->flags & IXE_HARDLINK, 0);
	ck_assert_uint_eq(E(&o.m, g)->nlink, 2);
	ck_assert_uint_eq(E(&o.m, g)->uid, 7);
	ck_assert_uint_eq(E(&o.m, h)->flags & IXE_HARDLINK, IXE_HARDLINK);
	ck_assert_uint_eq(E(&o.m, h)->link, g);
	check_structure(&o.m);
	cleanup(&o);
}
END_TEST

/* The target goes with its directory, replaced by a file: the link made
 * before keeps the file, as GNU tar extracts it. */
START_TEST(test_hardlink_target_dir_replaced)
{
	static const struct tl_entry ents[] = {
	    {.type = 'f', .name = "d/f", .data = "old", .size = 3},
	    {.type = 'h', .name = "g", .target = "d/f"},
	    {.type = 'f', .name = "d", .data = "file", .size = 4},
	};
	struct opened o;
	uint8_t *d;
	int64_t g;

	setup_dir(&o, "hldirgone", "hldg.tar");
	tl_write_layer(o.path, TL_PAX, TL_NONE, ents, 3);
	open_layer(&o);
	check_structure(&o.m);
	ck_assert(S_ISREG(E(&o.m, must_find(&o.m, "d"))->mode));
	g = find(&o.m, "g");
	ck_assert_msg(g >= 0, "g, a name of d/f made before d was replaced, is gone");
	d = read_via_map(o.l, (uint64_t)g);
	ck_assert(memcmp(d, "old", 3) == 0);
	free(d);
	ck_assert_uint_eq(E(&o.m, ix_canonical_no(&o.m, (uint32_t)g))->nlink, 1);
	cleanup(&o);
}
END_TEST

/* The target of a hard link replaced by a directory: a valid tar that must
 * still index (g keeps f's old content). */
START_TEST(test_hardlink_target_replaced_by_dir)
{
	static const struct tl_entry ents[] = {
	    {.type = 'f', .name = "f", .data = "data", .size = 4},
	    {.type = 'h', .name = "g", .target = "f"},
	    {.type = 'd', .name = "f"},
	};
	struct strata_layer_options opts = {0};
	struct strata_error err = {0};
	struct strata_layer *l = NULL;
	struct opened o;

	setup_dir(&o, "hldir", "hld.tar");
	tl_write_layer(o.path, TL_PAX, TL_NONE, ents, 3);
	opts.cache_dir = o.cache;
	ck_assert_msg(strata_layer_open_tar(o.path, &opts, &l, &err) == 0,
	              "a valid tar fails to index: %s", err.msg);
	strata_layer_close(l);
	open_layer(&o);
	ck_assert(S_ISDIR(E(&o.m, must_find(&o.m, "f"))->mode));
	ck_assert(S_ISREG(E(&o.m, ix_canonical_no(&o.m, must_find(&o.m, "g")))->mode));
	check_structure(&o.m);
	cleanup(&o);
}
END_TEST

/* Link counts count names that exist, whatever happened to the others. */
START_TEST(test_hardlink_nlink_exact)
{
	static const struct tl_entry dup[] = {
	    {.type = 'f', .name = "f", .size = 1},
	    {.type = 'h', .name = "g", .target = "f"},
	    {.type = 'h', .name = "g", .target = "f"}, /* the same link twice */
	};
	static const struct tl_entry relinked[] = {
	    {.type = 'f', .name = "f", .size = 1},
	    {.type = 'h', .name = "g", .target = "f"},
	    {.type = 'f', .name = "g", .size = 2}, /* g becomes its own file */
	};
	static const struct tl_entry dir_gone[] = {
	    {.type = 'f', .name = "f", .size = 1},
	    {.type = 'h', .name = "d/g", .target = "f"},
	    {.type = 'f', .name = "d", .size = 2}, /* d and d/g are gone */
	};
	const struct tl_entry *sets[] = {dup, relinked, dir_gone};
	const char *names[] = {"dup.tar", "relinked.tar", "dirgone.tar"};
	struct opened o;

	setup_dir(&o, "nlink", names[_i]);
	tl_write_layer(o.path, TL_PAX, TL_NONE, sets[_i], 3);
	open_layer(&o);
	ck_assert_msg(E(&o.m, must_find(&o.m, "f"))->nlink == (_i == 0 ? 2 : 1),
	              "%s: f has nlink %u", names[_i], E(&o.m, must_find(&o.m, "f"))->nlink);
	check_structure(&o.m);
	cleanup(&o);
}
END_TEST

/* ---- whiteouts ---- */

START_TEST(test_whiteouts)
{
	static const struct tl_entry ents[] = {
	    {.type = 'f', .name = ".wh.gone"},
	    {.type = 'd', .name = "d"},
	    {.type = 'f', .name = "d/.wh.x"},
	    {.type = 'f', .name = "d/keep", .size = 3},
	    {.type = 'f', .name = "o/.wh..wh..opq"},
	    {.type = 'f', .name = "o/inside", .size = 1},
	    {.type = 'f', .name = "both", .data = "real", .size = 4},
	    {.type = 'f', .name = ".wh.both"}, /* after the real entry */
	    {.type = 'f', .name = ".wh.both2"},
	    {.type = 'f', .name = "both2", .data = "real2", .size = 5}, /* before */
	    {.type = 'f', .name = ".wh..wh.plnk"},
	    {.type = 'f', .name = ".wh..wh.aufs"},
	    {.type = 'f', .name = "e/.wh."},
	    {.type = 'f', .name = ".wh.r"},
	    {.type = 'f', .name = "r/new", .size = 2}, /* "rm -r r; mkdir -p r" */
	    {.type = 'd', .name = "dd"},
	    {.type = 'f', .name = "dd/c", .size = 1},
	    {.type = 'f', .name = ".wh.dd"}, /* hides lower dd, keeps this one */
	    {.type = 'd', .name = "od"},
	    {.type = 'f', .name = "od/.wh..wh..opq"},
	    {.type = 'f', .name = ".wh.wd"},
	    {.type = 'd', .name = "wd"},           /* a directory after its own whiteout */
	    {.type = 'f', .name = ".wh..wh..opq"}, /* the root is opaque */
	};
	struct opened o;
	uint32_t i;

	setup_dir(&o, "whiteouts", "wh.tar");
	tl_write_layer(o.path, TL_PAX, TL_NONE, ents, sizeof(ents) / sizeof(ents[0]));
	open_layer(&o);
	check_structure(&o.m);
	for (uint32_t k = 0; k < n_entries(&o); k++) {
		const struct wide e_copy = *E(&o.m, k), *e = &e_copy;

		ck_assert_msg(e->name_len < 4 || memcmp(e->name, ".wh.", 4) != 0,
		              "entry %u is named '%s'", k, e->name);
	}
	i = must_find(&o.m, "gone");
	ck_assert_uint_eq(E(&o.m, i)->flags, IXE_WHITEOUT);
	ck_assert_uint_eq(E(&o.m, i)->mode, 0);
	ck_assert_uint_eq(o.l->ops->flags(o.l, i), LAYER_WHITEOUT);
	i = must_find(&o.m, "d/x");
	ck_assert_uint_eq(E(&o.m, i)->flags, IXE_WHITEOUT);
	ck_assert_uint_eq(E(&o.m, must_find(&o.m, "d"))->flags, 0);
	ck_assert_uint_eq(E(&o.m, must_find(&o.m, "d"))->n_children, 2);
	i = must_find(&o.m, "o");
	ck_assert_uint_eq(E(&o.m, i)->flags, IXE_IMPLICIT | IXE_OPAQUE);
	ck_assert_uint_eq(o.l->ops->flags(o.l, i), LAYER_OPAQUE | LAYER_IMPLICIT);
	ck_assert_uint_eq(E(&o.m, i)->n_children, 1);
	for (int k = 0; k < 2; k++) {
		const char *nm = k ? "both2" : "both";
		uint8_t *d;

		i = must_find(&o.m, nm);
		ck_assert_msg(E(&o.m, i)->flags == IXE_OPAQUE, "%s: flags %#x", nm,
		              E(&o.m, i)->flags);
		ck_assert_uint_eq(E(&o.m, i)->mode, S_IFREG | 0644);
		d = read_via_map(o.l, i);
		ck_assert(memcmp(d, k ? "real2" : "real", k ? 5 : 4) == 0);
		free(d);
	}
	ck_assert_int_lt(find(&o.m, "plnk"), 0);
	ck_assert_int_lt(find(&o.m, "aufs"), 0);
	ck_assert_int_lt(find(&o.m, ".wh.plnk"), 0);
	ck_assert(tl_warned(&o.w, "skipping 'e/.wh.': whiteout without a name"));
	ck_assert_int_eq(o.w.n, 1);
	ck_assert_uint_eq(E(&o.m, must_find(&o.m, "e"))->n_children, 0);
	/* Whited out, then entries below: made afresh, described with tar's
	 * defaults (not implied, which would take the lower r's). */
	i = must_find(&o.m, "r");
	ck_assert_uint_eq(E(&o.m, i)->flags, IXE_OPAQUE);
	ck_assert_uint_eq(E(&o.m, i)->mode, S_IFDIR | 0755);
	must_find(&o.m, "r/new");
	i = must_find(&o.m, "dd");
	ck_assert_uint_eq(E(&o.m, i)->flags, IXE_OPAQUE);
	ck_assert(S_ISDIR(E(&o.m, i)->mode));
	must_find(&o.m, "dd/c");
	ck_assert_uint_eq(E(&o.m, must_find(&o.m, "od"))->flags, IXE_OPAQUE);
	ck_assert_uint_eq(E(&o.m, must_find(&o.m, "od"))->n_children, 0);
	i = must_find(&o.m, "wd");
	ck_assert_uint_eq(E(&o.m, i)->flags, IXE_OPAQUE);
	ck_assert_uint_eq(E(&o.m, i)->mode, S_IFDIR | 0755);
	ck_assert_uint_eq(E(&o.m, 0)->flags & IXE_OPAQUE, IXE_OPAQUE);
	ck_assert_uint_eq(o.l->ops->flags(o.l, 0), LAYER_OPAQUE | LAYER_IMPLICIT);
	/* root: both both2 d dd e gone o od r wd */
	ck_assert_uint_eq(E(&o.m, 0)->n_children, 10);
	cleanup(&o);
}
END_TEST

/* ---- implicit parents, duplicates ---- */

START_TEST(test_implicit_parents)
{
	static const struct tl_entry ents[] = {
	    {.type = 'f', .name = "a/b/c/f", .size = 3, .uid = 9, .mtime = 99},
	    {.type = 'd', .name = "a/b", .perm = 0700, .uid = 5, .mtime = 55},
	    {.type = 'l', .name = "x/y/link", .target = "t"},
	};
	struct opened o;

	setup_dir(&o, "implicit", "imp.tar");
	tl_write_layer(o.path, TL_GNU, TL_NONE, ents, 3);
	open_layer(&o);
	check_structure(&o.m);
	ck_assert_uint_eq(n_entries(&o), 1 + 4 + 3);
	for (const char *const *p = (const char *const[]){"a", "a/b/c", "x", "x/y", NULL}; *p;
	     p++) {
		const struct wide e_copy = *E(&o.m, must_find(&o.m, *p)), *e = &e_copy;

		ck_assert_msg(e->flags == IXE_IMPLICIT, "%s flags %#x", *p, e->flags);
		ck_assert_uint_eq(e->mode, S_IFDIR | 0755);
		ck_assert_uint_eq(e->uid, 0);
		ck_assert_uint_eq(e->gid, 0);
		ck_assert_int_eq(e->mtime_sec, 0);
		ck_assert_uint_eq(e->mtime_nsec, 0);
		ck_assert_uint_eq(e->n_children, 1);
	}
	{
		const struct wide e_copy = *E(&o.m, must_find(&o.m, "a/b")), *e = &e_copy;

		ck_assert_uint_eq(e->flags, 0);
		ck_assert_uint_eq(e->mode, S_IFDIR | 0700);
		ck_assert_uint_eq(e->uid, 5);
		ck_assert_int_eq(e->mtime_sec, 55);
		ck_assert_uint_eq(e->n_children, 1);
	}
	ck_assert_uint_eq(E(&o.m, must_find(&o.m, "a/b/c/f"))->uid, 9);
	ck_assert_int_eq(o.w.n, 0);
	cleanup(&o);
}
END_TEST

START_TEST(test_duplicates)
{
	static const struct tl_entry ents[] = {
	    {.type = 'f', .name = "x", .data = "AAAA", .size = 4, .uid = 1},
	    {.type = 'd', .name = "d"},
	    {.type = 'f', .name = "d/f", .size = 10},
	    {.type = 'd', .name = "d/sub"},
	    {.type = 'f', .name = "d/sub/g", .size = 10},
	    {.type = 'f', .name = "x", .data = "BBBBBB", .size = 6, .uid = 2},
	    {.type = 'f', .name = "d", .data = "file", .size = 4}, /* replaces the tree */
	    {.type = 'f', .name = "y", .size = 1},
	    {.type = 'd', .name = "y", .perm = 0711}, /* file replaced by dir */
	    {.type = 'f', .name = "y/z", .size = 1},
	    {.type = 'd', .name = "e", .perm = 0700},
	    {.type = 'f', .name = "e/1", .size = 1},
	    {.type = 'd', .name = "e", .perm = 0751, .uid = 3}, /* dir again: merged */
	    {.type = 'l', .name = "s", .target = "one"},
	    {.type = 'l', .name = "s", .target = "two"},
	    {.type = 'd', .name = "t"},
	    {.type = 'f', .name = "t/1", .size = 1},
	    {.type = 'l', .name = "t", .target = "x"}, /* dir replaced by symlink */
	    {.type = 'd', .name = "t"},                /* and a new, empty dir */
	};
	struct opened o;
	uint32_t i;
	uint8_t *d;
	size_t len;

	setup_dir(&o, "dups", "dups.tar");
	tl_write_layer(o.path, TL_PAX, TL_NONE, ents, sizeof(ents) / sizeof(ents[0]));
	open_layer(&o);
	check_structure(&o.m);
	i = must_find(&o.m, "x");
	ck_assert_uint_eq(E(&o.m, i)->size, 6);
	ck_assert_uint_eq(E(&o.m, i)->uid, 2);
	d = read_via_map(o.l, i);
	ck_assert(memcmp(d, "BBBBBB", 6) == 0);
	free(d);
	i = must_find(&o.m, "d");
	ck_assert_uint_eq(E(&o.m, i)->mode, S_IFREG | 0644);
	ck_assert_uint_eq(E(&o.m, i)->n_children, 0);
	d = read_via_map(o.l, i);
	ck_assert(memcmp(d, "file", 4) == 0);
	free(d);
	ck_assert_int_lt(find(&o.m, "d/f"), 0);
	i = must_find(&o.m, "y");
	ck_assert_uint_eq(E(&o.m, i)->mode, S_IFDIR | 0711);
	must_find(&o.m, "y/z");
	i = must_find(&o.m, "e");
	ck_assert_uint_eq(E(&o.m, i)->mode, S_IFDIR | 0751);
	ck_assert_uint_eq(E(&o.m, i)->uid, 3);
	must_find(&o.m, "e/1");
	ck_assert_str_eq(o.l->ops->readlink(o.l, must_find(&o.m, "s"), &len), "two");
	i = must_find(&o.m, "t");
	ck_assert(S_ISDIR(E(&o.m, i)->mode));
	ck_assert_uint_eq(E(&o.m, i)->n_children, 0);
	/* root d e s t x y; y/z; e/1: no trace of d/f, d/sub, d/sub/g, t/1 */
	ck_assert_uint_eq(n_entries(&o), 1 + 6 + 2);
	cleanup(&o);
}
END_TEST

/* ---- hostile names ---- */

START_TEST(test_hostile_names)
{
	static char c256[300], c255[300];
	static const struct tl_entry ents0[] = {
	    {.type = 'f', .name = "../x", .size = 1},
	    {.type = 'f', .name = "a/../../x", .size = 1},
	    {.type = 'f', .name = "q/../r", .size = 1},
	    {.type = 'f', .name = "..", .size = 1},
	    {.type = 'f', .name = "/abs/x", .size = 2},
	    {.type = 'f', .name = "./dot/./y", .size = 3},
	    {.type = 'f', .name = "//double//slash", .size = 4},
	    {.type = 'l', .name = "evil", .target = "/etc/passwd"}, /* a target: fine */
	    {.type = 'h', .name = "evil2", .target = "../../etc/passwd"},
	    {.type = 'f', .name = "./abs/x2", .size = 1},
	    {.type = 'f', .name = c256, .size = 1},
	    {.type = 'f', .name = c255, .size = 1},
	};
	struct opened o;

	memset(c256, 'l', 256);
	memset(c255, 'm', 255);
	setup_dir(&o, "hostile", "hostile.tar");
	tl_write_layer(o.path, TL_PAX, TL_NONE, ents0, sizeof(ents0) / sizeof(ents0[0]));
	open_layer(&o);
	check_structure(&o.m);
	ck_assert_int_lt(find(&o.m, "x"), 0);
	ck_assert_int_lt(find(&o.m, "a"), 0);
	ck_assert_int_lt(find(&o.m, "q"), 0);
	ck_assert_int_lt(find(&o.m, "r"), 0);
	ck_assert_int_lt(find(&o.m, "evil2"), 0);
	ck_assert_uint_eq(E(&o.m, must_find(&o.m, "abs/x"))->size, 2);
	must_find(&o.m, "abs/x2");
	ck_assert_uint_eq(E(&o.m, must_find(&o.m, "dot/y"))->size, 3);
	ck_assert_uint_eq(E(&o.m, must_find(&o.m, "double/slash"))->size, 4);
	must_find(&o.m, "evil");
	must_find(&o.m, c255);
	ck_assert_int_lt(find(&o.m, c256), 0);
	/* root: abs c255 dot double evil */
	ck_assert_uint_eq(E(&o.m, 0)->n_children, 5);
	ck_assert_int_eq(o.w.n, 6);
	ck_assert(tl_warned(&o.w, "skipping '../x': path contains '..'"));
	ck_assert(tl_warned(&o.w, "skipping 'a/../../x': path contains '..'"));
	ck_assert(tl_warned(&o.w, "skipping 'q/../r': path contains '..'"));
	ck_assert(tl_warned(&o.w, "skipping '..': path contains '..'"));
	ck_assert(tl_warned(&o.w, "skipping 'evil2': path contains '..'"));
	ck_assert(tl_warned(&o.w, "a path component is longer than 255 bytes"));
	/* each warning names the layer */
	for (const char *p = o.w.all; *p; p = strchr(p, '\n') + 1)
		ck_assert_msg(strncmp(p, o.path, strlen(o.path)) == 0, "warning: %s", p);
	cleanup(&o);
}
END_TEST

/* A parent that is not a directory: the member is skipped with a warning. */
START_TEST(test_parent_not_dir)
{
	static const struct tl_entry ents[] = {
	    {.type = 'f', .name = "f", .size = 1},
	    {.type = 'f', .name = "f/child", .size = 1},
	    {.type = 'l', .name = "s", .target = "d"},
	    {.type = 'd', .name = "d"},
	    {.type = 'f', .name = "s/through", .size = 1}, /* never through a symlink */
	};
	struct opened o;

	setup_dir(&o, "notdir", "nd.tar");
	tl_write_layer(o.path, TL_PAX, TL_NONE, ents, 5);
	open_layer(&o);
	check_structure(&o.m);
	ck_assert_uint_eq(n_entries(&o), 4);
	ck_assert_uint_eq(E(&o.m, must_find(&o.m, "d"))->n_children, 0);
	ck_assert_int_eq(o.w.n, 2);
	ck_assert(tl_warned(&o.w, "skipping 'f/child': a parent is not a directory"));
	ck_assert(tl_warned(&o.w, "skipping 's/through': a parent is not a directory"));
	cleanup(&o);
}
END_TEST

/* ---- bad input ---- */

static void expect_open_fails(struct opened *o, const char *what, enum strata_errcode code)
{
	struct strata_layer_options opts = {.cache_dir = o->cache};
	struct strata_error err = {0};
	struct strata_layer *l = NULL;

	ck_assert_msg(strata_layer_open_tar(o->path, &opts, &l, &err) == -1,
	              "%s: opened a damaged layer", what);
	ck_assert_ptr_null(l);
	ck_assert_msg(strstr(err.msg, o->path) != NULL, "%s: message does not name the layer: %s",
	              what, err.msg);
	ck_assert_msg(strchr(err.msg, '\n') == NULL, "%s: message is not one line", what);
	if (code != STRATA_OK)
		ck_assert_msg(err.code == code, "%s: error code %d, expected %d (%s)", what,
		              err.code, code, err.msg);
	else
		ck_assert_msg(err.code == STRATA_ERR_FORMAT || err.code == STRATA_ERR_CORRUPT,
		              "%s: error code %d (%s)", what, err.code, err.msg);
	/* Nothing left behind: no index, no copy, no temp file. */
	ck_assert_msg(tl_count_dir(o->cache) == 0, "%s: files left in the cache", what);
}

static uint8_t *valid_tar(size_t *len, enum tl_filter filt, const char *dir)
{
	static const struct tl_entry ents[] = {
	    {.type = 'f', .name = "a", .size = 1000},
	    {.type = 'f', .name = "big", .size = 300000},
	    {.type = 'f', .name = "c", .size = 10},
	};
	char *p = tl_path(dir, "valid");
	uint8_t *b;

	tl_write_layer(p, TL_USTAR, filt, ents, 3);
	b = tl_read_file(p, len);
	unlink(p);
	free(p);
	return b;
}

START_TEST(test_bad_not_tar)
{
	struct opened o;
	char text[5000];

	for (size_t k = 0; k < sizeof(text); k++)
		text[k] = "The quick brown fox jumps over the lazy dog.\n"[k % 45];
	setup_dir(&o, "bad", "text.tar");
	tl_write_file(o.path, text, sizeof(text));
	expect_open_fails(&o, "text", STRATA_ERR_FORMAT);
	tl_write_file(o.path, "hello", 5);
	expect_open_fails(&o, "5 bytes", STRATA_ERR_FORMAT);
	/* A gzip stream of text is not a tar either. */
	tl_write_compressed(o.path, TL_GZIP, text, sizeof(text));
	expect_open_fails(&o, "gzip of text", STRATA_ERR_FORMAT);
	cleanup(&o);
}
END_TEST

START_TEST(test_bad_truncated_tar)
{
	struct opened o;
	size_t len;
	uint8_t *b;
	/* in a's header, in a's data, in big's header, in big's data, in c's header */
	const size_t cuts[] = {0, 1, 2, 3, 4};
	size_t at[5];

	setup_dir(&o, "trunc", "trunc.tar");
	b = valid_tar(&len, TL_NONE, o.dir);
	/* ustar: a's header at 0, big's at 1536, c's at 302080 */
	at[0] = 100;           /* a's header */
	at[1] = 512 + 600;     /* a's data */
	at[2] = 1536 + 200;    /* big's header */
	at[3] = 2048 + 150000; /* big's data */
	at[4] = 302080 + 300;  /* c's header */
	for (size_t k = 0; k < 5; k++) {
		char what[64];

		ck_assert_uint_lt(at[cuts[k]], len);
		tl_write_file(o.path, b, at[cuts[k]]);
		snprintf(what, sizeof(what), "cut at %zu", at[cuts[k]]);
		/* Cut in the first header, it may not be recognised as a tar at all;
		 * after whole members it is a truncated tar, whatever the cut. */
		expect_open_fails(&o, what, k == 0 ? STRATA_OK : STRATA_ERR_CORRUPT);
	}
	free(b);
	cleanup(&o);
}
END_TEST

/* Compressed layers cut short, at several points. */
START_TEST(test_bad_truncated_compressed)
{
	enum tl_filter filt = (enum tl_filter)(_i + 1);
	struct opened o;
	size_t len;
	uint8_t *b;
	char name[32];

	snprintf(name, sizeof(name), "trunc.tar.%s", tl_filter_name(filt));
	setup_dir(&o, "truncz", name);
	b = valid_tar(&len, filt, o.dir);
	for (int k = 1; k <= 4; k++) {
		size_t cut = k < 4 ? len * (size_t)k / 4 : len - 1;
		char what[64];

		tl_write_file(o.path, b, cut);
		snprintf(what, sizeof(what), "%s cut at %zu of %zu", tl_filter_name(filt), cut,
		         len);
		expect_open_fails(&o, what, STRATA_OK);
	}
	free(b);
	cleanup(&o);
}
END_TEST

/* Damage in the middle of a compressed stream must not index silently: the
 * uncompressed copy would serve wrong file data.  Bytes spread over the
 * middle third are flipped in turn.  Every format here carries a check of
 * its data (gzip's CRC-32, xz's CRC-64, bzip2's block CRCs, zstd's content
 * checksum — libarchive writes zstd without one, so libzstd makes it). */
static bool compress_checked(const char *path, enum tl_filter filt, const uint8_t *tar, size_t len)
{
	if (filt == TL_ZSTD)
		return tl_write_zstd_checksummed(path, tar, len);
	tl_write_compressed(path, filt, tar, len);
	return true;
}

START_TEST(test_bad_corrupt_compressed)
{
	enum tl_filter filt = (enum tl_filter)(_i + 1);
	struct opened o;
	size_t len, tlen, undetected = 0, wrong = 0, first = 0, tried = 0;
	uint8_t *b, *tar;
	char name[32];

	snprintf(name, sizeof(name), "corrupt.tar.%s", tl_filter_name(filt));
	setup_dir(&o, "corrupt", name);
	tar = valid_tar(&tlen, TL_NONE, o.dir);
	if (!compress_checked(o.path, filt, tar, tlen)) {
		fprintf(stderr, "test_bad_corrupt_compressed: no libzstd, zstd not tested\n");
		free(tar);
		cleanup(&o);
		return;
	}
	b = tl_read_file(o.path, &len);
	for (size_t pos = len / 3; pos < 2 * len / 3; pos += 1 + len / 300) {
		struct strata_layer_options opts = {.cache_dir = o.cache};
		struct strata_error err = {0};
		struct strata_layer *l = NULL;

		b[pos] ^= 0x55;
		tl_write_file(o.path, b, len);
		b[pos] ^= 0x55;
		tried++;
		if (strata_layer_open_tar(o.path, &opts, &l, &err) == 0) {
			char *copy = tl_stream_path(l, o.path);
			size_t clen;
			uint8_t *c = tl_read_file(copy, &clen);

			if (!undetected++)
				first = pos;
			wrong += clen != tlen || memcmp(c, tar, tlen) != 0;
			free(c);
			free(copy);
			strata_layer_close(l);
			tl_rmrf(o.cache);
			continue;
		}
		ck_assert_msg(strstr(err.msg, o.path) != NULL,
		              "message does not name the layer: %s", err.msg);
		ck_assert_int_eq(tl_count_dir(o.cache), 0);
	}
	ck_assert_msg(undetected == 0,
	              "%s: %zu of %zu single-byte corruptions indexed without error, %zu of them "
	              "with a wrong uncompressed copy (first at byte %zu of %zu)",
	              tl_filter_name(filt), undetected, tried, wrong, first, len);
	free(b);
	free(tar);
	cleanup(&o);
}
END_TEST

/* The gzip trailer's CRC-32 and length are the only check of the data. */
START_TEST(test_bad_gzip_trailer)
{
	struct opened o;
	size_t len;
	uint8_t *b;

	setup_dir(&o, "gztrailer", "trailer.tar.gz");
	b = valid_tar(&len, TL_GZIP, o.dir);
	b[len - 8] ^= 0x01; /* CRC-32 */
	tl_write_file(o.path, b, len);
	expect_open_fails(&o, "gzip CRC", STRATA_ERR_CORRUPT);
	b[len - 8] ^= 0x01;
	b[len - 2] ^= 0x01; /* ISIZE */
	tl_write_file(o.path, b, len);
	expect_open_fails(&o, "gzip ISIZE", STRATA_ERR_CORRUPT);
	free(b);
	cleanup(&o);
}
END_TEST

/* A gzip file of several members (pigz -i, bgzip, or `cat a.gz b.gz`) is
 * valid, and its members' CRCs are all there is to catch damage in it. */
static uint8_t *gzip_members(const char *dir, const uint8_t *tar, size_t len, size_t parts,
                             size_t *out_len, size_t *second_start)
{
	struct tl_buf b = {0};
	char *p = tl_path(dir, "member.gz");

	for (size_t k = 0; k < parts; k++) {
		size_t from = len * k / parts, to = len * (k + 1) / parts, mlen;
		uint8_t *m;

		tl_write_compressed(p, TL_GZIP, tar + from, to - from);
		m = tl_read_file(p, &mlen);
		if (k == 1)
			*second_start = b.len;
		tl_buf_add(&b, m, mlen);
		free(m);
	}
	unlink(p);
	free(p);
	*out_len = b.len;
	return b.p;
}

START_TEST(test_bad_corrupt_gzip_members)
{
	struct opened o;
	size_t tlen, len, second, undetected = 0, wrong = 0, tried = 0;
	uint8_t *tar, *b;

	setup_dir(&o, "members", "members.tar.gz");
	tar = valid_tar(&tlen, TL_NONE, o.dir);
	b = gzip_members(o.dir, tar, tlen, 2, &len, &second);
	/* intact, it is a good layer */
	tl_write_file(o.path, b, len);
	open_layer(&o);
	ck_assert_int_eq(check_against_archive(&o), 3);
	close_layer(&o);
	tl_rmrf(o.cache);
	/* damage in the second member's data */
	for (size_t pos = second + (len - second) / 3; pos < second + 2 * (len - second) / 3;
	     pos += 1 + (len - second) / 200) {
		struct strata_layer_options opts = {.cache_dir = o.cache};
		struct strata_error err = {0};
		struct strata_layer *l = NULL;

		b[pos] ^= 0x55;
		tl_write_file(o.path, b, len);
		b[pos] ^= 0x55;
		tried++;
		if (strata_layer_open_tar(o.path, &opts, &l, &err) == 0) {
			char *copy = tl_stream_path(l, o.path);
			size_t clen;
			uint8_t *c = tl_read_file(copy, &clen);

			undetected++;
			wrong += clen != tlen || memcmp(c, tar, tlen) != 0;
			free(c);
			free(copy);
			strata_layer_close(l);
			tl_rmrf(o.cache);
			continue;
		}
		ck_assert_int_eq(tl_count_dir(o.cache), 0);
	}
	ck_assert_msg(undetected == 0,
	              "2-member gzip: %zu of %zu single-byte corruptions in the second member "
	              "indexed without error, %zu of them with a wrong uncompressed copy",
	              undetected, tried, wrong);
	/* a damaged CRC of the first member */
	b[second - 8] ^= 0x01;
	tl_write_file(o.path, b, len);
	expect_open_fails(&o, "first member's CRC", STRATA_ERR_CORRUPT);
	free(b);
	free(tar);
	cleanup(&o);
}
END_TEST

/* ---- empty layers ---- */

START_TEST(test_empty_layers)
{
	static const uint8_t zeros[1024];
	struct strata_layer_info info;
	struct opened o;

	setup_dir(&o, "empty", "empty.tar");
	for (int k = 0; k < 4; k++) {
		if (k == 0)
			tl_write_file(o.path, "", 0);
		else if (k == 1)
			tl_write_file(o.path, zeros, sizeof(zeros));
		else if (k == 2)
			tl_write_compressed(o.path, TL_GZIP, zeros, sizeof(zeros));
		else
			tl_write_layer(o.path, TL_USTAR, TL_ZSTD, NULL, 0);
		open_layer(&o);
		strata_layer_info(o.l, &info);
		ck_assert_uint_eq(info.n_entries, 1);
		ck_assert_uint_eq(n_entries(&o), 1);
		ck_assert_uint_eq(E(&o.m, 0)->n_children, 0);
		ck_assert_uint_eq(E(&o.m, 0)->mode, S_IFDIR | 0755);
		ck_assert_uint_eq(E(&o.m, 0)->nlink, 2);
		ck_assert_uint_eq(o.m.hdr->total_data, 0);
		ck_assert_str_eq(info.compression, k < 2 ? "none" : k == 2 ? "gzip" : "zstd");
		if (k == 0)
			ck_assert_uint_eq(info.stream_size, 0);
		if (k == 1)
			ck_assert_uint_eq(info.stream_size, 1024);
		ck_assert_int_eq(o.w.n, 0);
		close_layer(&o);
		tl_rmrf(o.cache);
	}
	cleanup(&o);
}
END_TEST

/* ---- the index as a cache ---- */

static struct ix_source_id source_id(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return (struct ix_source_id){(uint64_t)st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
	                             (uint64_t)st.st_ino};
}

static bool reopen_reused(struct opened *o)
{
	struct strata_layer_info info;
	bool r;

	open_layer(o);
	strata_layer_info(o->l, &info);
	r = info.index_reused;
	return r;
}

static void exercise_layer(const struct strata_layer *l, uint64_t stream_size);

/* Opens @o's layer as a mount does (its index checked lazily) and walks all
 * of it: true when a damaged index was used and nothing noticed. */
static bool damage_unnoticed(struct opened *o, uint64_t stream_size)
{
	struct strata_layer_info info;
	struct strata_layer *l = tl_open_layer(o->path, o->cache, &o->w);
	bool r;

	strata_layer_info(l, &info);
	if (info.index_reused)
		exercise_layer(l, stream_size);
	r = info.index_reused && !atomic_load(&l->damaged);
	strata_layer_close(l);
	tl_warnings_free(&o->w);
	return r;
}

static char *index_path_of(struct opened *o)
{
	struct strata_layer_info info;

	strata_layer_info(o->l, &info);
	return strdup(info.index_path);
}

static void write_small_layer(struct opened *o, enum tl_filter filt)
{
	static const struct tl_xattr xa[] = {{"user.k", "v", 1}};
	static const struct tl_run runs[] = {{10, 5}, {100, 7}};
	static const struct tl_entry ents[] = {
	    {.type = 'f', .name = "f", .size = 3, .xattrs = xa, .n_xattrs = 1},
	    {.type = 'l', .name = "l", .target = "f"},
	    {.type = 'f', .name = "s", .size = 200, .runs = runs, .n_runs = 2},
	    {.type = 'h', .name = "h", .target = "f"},
	    {.type = 'f', .name = ".wh.w"},
	};

	tl_write_layer(o->path, TL_PAX, filt, ents, sizeof(ents) / sizeof(ents[0]));
}

/* Every single-byte change to a small index is caught, and the layer is
 * then rebuilt to exactly the index it had. */
START_TEST(test_index_every_byte_flipped)
{
	struct opened o;
	char *ipath;
	uint8_t *good, *now;
	size_t len, nlen;
	struct ix_source_id src;
	uint64_t stream_size;

	setup_dir(&o, "flip", "small.tar");
	write_small_layer(&o, TL_NONE);
	open_layer(&o);
	ipath = index_path_of(&o);
	stream_size = o.m.hdr->stream_size;
	close_layer(&o);
	good = tl_read_file(ipath, &len);
	src = source_id(o.path);
	ck_assert_uint_lt(len, 4096);
	for (size_t pos = 0; pos < len; pos++) {
		struct ix_map m;
		struct strata_error err = {0};

		good[pos] ^= 0x01;
		tl_write_file(ipath, good, len);
		good[pos] ^= 0x01;
		ck_assert_msg(fs_ix_map_open(ipath, &src, &m, &err) == -1,
		              "index with byte %zu changed was accepted", pos);
		ck_assert_int_eq(err.code, STRATA_ERR_INDEX);
		ck_assert_ptr_null(m.base);
		ck_assert_msg(!damage_unnoticed(&o, stream_size),
		              "byte %zu: a damaged index was used", pos);
		open_layer(&o); /* rebuilt */
		close_layer(&o);
		now = tl_read_file(ipath, &nlen);
		ck_assert_uint_eq(nlen, len);
		ck_assert_msg(memcmp(now, good, len) == 0, "byte %zu: rebuilt index differs", pos);
		free(now);
	}
	/* and a few other kinds of change, per byte: all bits, zero */
	for (size_t pos = 0; pos < len; pos += 7) {
		struct ix_map m;
		uint8_t save = good[pos];

		good[pos] = (uint8_t)~save;
		tl_write_file(ipath, good, len);
		ck_assert_int_eq(fs_ix_map_open(ipath, &src, &m, NULL), -1);
		good[pos] = save;
	}
	tl_write_file(ipath, good, len);
	ck_assert(reopen_reused(&o));
	close_layer(&o);
	free(good);
	free(ipath);
	cleanup(&o);
}
END_TEST

/* A mount checks its index lazily (IX_MAP_LAZY): a changed name opens,
 * fails the first lookup there (its block's CRC), marks the layer damaged,
 * and removes the index so the next open rebuilds it.  A full check
 * refuses it at open. */
START_TEST(test_index_lazy_damage)
{
	enum { N = 2000 };
	struct tl_entry *ents = calloc(N + 2, sizeof(*ents));
	char(*names)[16] = calloc(N, sizeof(*names));
	struct opened o;
	struct ix_source_id src;
	struct strata_error err;
	struct strata_layer *l;
	struct tl_warnings w = {0};
	struct ix_map m;
	uint8_t *buf;
	char *ipath;
	size_t len, off;
	uint64_t d;
	int64_t f;

	/* Several blocks: the name changed is in one that open does not read. */
	ents[0] = (struct tl_entry){.type = 'f', .name = "f", .size = 3};
	ents[1] = (struct tl_entry){.type = 'd', .name = "d"};
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "d/n%04d", i);
		ents[i + 2] = (struct tl_entry){.type = 'f', .name = names[i], .size = 1};
	}
	setup_dir(&o, "lazy", "many.tar");
	tl_write_layer(o.path, TL_PAX, TL_NONE, ents, N + 2);
	open_layer(&o);
	ipath = index_path_of(&o);
	f = find(&o.m, "d/n1200");
	ck_assert_int_ge(f, 0);
	off = (size_t)(ix_name(&o.m, ix_entry_at(&o.m, (uint32_t)f)) - (const char *)o.m.base);
	ck_assert_uint_gt(o.m.hdr->n_blocks, 8);
	close_layer(&o);
	buf = tl_read_file(ipath, &len);
	src = source_id(o.path);
	ck_assert_int_eq(memcmp(buf + off, "n1200", 6), 0);

	buf[off] = 'x';
	tl_write_file(ipath, buf, len);
	ck_assert_int_eq(fs_ix_map_open(ipath, &src, &m, &err), -1);
	ck_assert_int_eq(err.code, STRATA_ERR_INDEX);
	ck_assert_msg(fs_ix_map_open_flags(ipath, &src, IX_MAP_LAZY, &m, &err) == 0, "%s", err.msg);
	ck_assert(!fs_ix_damaged(&m));
	ck_assert(fs_ix_ready(&m, 1)); /* the root's children */
	ck_assert(!fs_ix_ready(&m, (uint32_t)f));
	ck_assert(fs_ix_damaged(&m));
	ck_assert(!fs_ix_ready(&m, (uint32_t)f + 1));
	fs_ix_map_close(&m);

	/* Through the layer: reused, damaged at the first lookup there, then
	 * gone, so the next open rebuilds it. */
	l = tl_open_layer(o.path, o.cache, &w);
	d = l->ops->lookup(l, 0, "d", 1);
	ck_assert_uint_ne(d, LAYER_NONE);
	ck_assert(!atomic_load(&l->damaged));
	ck_assert_uint_eq(l->ops->lookup(l, d, "n1199", 5), LAYER_NONE);
	ck_assert_uint_eq(l->ops->n_children(l, d), 0);
	ck_assert(atomic_load(&l->damaged));
	ck_assert_int_eq(access(ipath, F_OK), -1);
	strata_layer_close(l);
	tl_warnings_free(&w);
	ck_assert(!reopen_reused(&o));
	ck_assert_int_ge(find(&o.m, "d/n1200"), 0);
	close_layer(&o);
	free(buf);
	free(ipath);
	free(names);
	free(ents);
	cleanup(&o);
}
END_TEST

/* A larger index (and a compressed layer): a few hundred spread positions. */
START_TEST(test_index_flips_spread)
{
	struct tl_entry *ents = calloc(MAX_ENTS, sizeof(*ents));
	struct opened o;
	char *ipath;
	uint8_t *good, *now;
	size_t len, nlen, n;
	struct ix_source_id src;
	uint64_t stream_size, win_from, win_to;

	setup_dir(&o, "flip2", "big.tar.gz");
	n = content_set(TL_PAX, ents);
	tl_write_layer(o.path, TL_PAX, TL_GZIP, ents, n);
	open_layer(&o);
	ipath = index_path_of(&o);
	stream_size = o.m.hdr->stream_size;
	win_from = o.m.hdr->windows_off;
	win_to = win_from + o.m.hdr->windows_size;
	close_layer(&o);
	good = tl_read_file(ipath, &len);
	src = source_id(o.path);
	for (size_t k = 0; k < 300; k++) {
		size_t pos = k < 160 ? k : (k * 7919u) % len; /* all the header, then spread */
		struct ix_map m;

		good[pos] ^= 0x80;
		tl_write_file(ipath, good, len);
		good[pos] ^= 0x80;
		ck_assert_msg(fs_ix_map_open(ipath, &src, &m, NULL) == -1,
		              "byte %zu changed was accepted", pos);
		/* A rebuild now and then: it is slower.  A changed window is
		 * not metadata: the spans it starts fail their chunk CRCs. */
		if (k % 30 == 0 && (pos < win_from || pos >= win_to)) {
			ck_assert_msg(!damage_unnoticed(&o, stream_size),
			              "byte %zu: a damaged index was used", pos);
			open_layer(&o);
			close_layer(&o);
			now = tl_read_file(ipath, &nlen);
			ck_assert_uint_eq(nlen, len);
			ck_assert(memcmp(now, good, len) == 0);
			free(now);
		}
	}
	tl_write_file(ipath, good, len);
	ck_assert(reopen_reused(&o));
	check_written(&o, ents, n, TL_PAX);
	close_layer(&o);
	free(good);
	free(ipath);
	free(ents);
	cleanup(&o);
}
END_TEST

START_TEST(test_index_truncated_or_extended)
{
	struct opened o;
	char *ipath;
	uint8_t *good, *big;
	size_t len;
	struct ix_source_id src;

	setup_dir(&o, "itrunc", "small.tar");
	write_small_layer(&o, TL_NONE);
	open_layer(&o);
	ipath = index_path_of(&o);
	close_layer(&o);
	good = tl_read_file(ipath, &len);
	src = source_id(o.path);
	for (size_t cut = 0; cut < len; cut += (cut < 200 ? 1 : 13)) {
		struct ix_map m;
		struct strata_error err = {0};

		tl_write_file(ipath, good, cut);
		ck_assert_msg(fs_ix_map_open(ipath, &src, &m, &err) == -1, "cut at %zu accepted",
		              cut);
		ck_assert_int_eq(err.code, STRATA_ERR_INDEX);
	}
	tl_write_file(ipath, good, len - 1);
	ck_assert(!reopen_reused(&o));
	close_layer(&o);
	/* Bytes appended are a change too. */
	big = calloc(1, len + 8);
	memcpy(big, good, len);
	tl_write_file(ipath, big, len + 8);
	ck_assert_int_eq(fs_ix_map_open(ipath, &src, &(struct ix_map){0}, NULL), -1);
	ck_assert(!reopen_reused(&o));
	close_layer(&o);
	/* A missing index is rebuilt; another file's index is not used. */
	ck_assert_int_eq(unlink(ipath), 0);
	ck_assert(!reopen_reused(&o));
	close_layer(&o);
	ck_assert(reopen_reused(&o));
	close_layer(&o);
	free(big);
	free(good);
	free(ipath);
	cleanup(&o);
}
END_TEST

START_TEST(test_index_stale)
{
	struct opened o;
	struct stat st;
	struct timespec ts[2];
	struct ix_source_id src;
	char *ipath, *other;
	struct ix_map m;
	struct strata_error err = {0};
	size_t len;
	uint8_t *content;

	setup_dir(&o, "stale", "small.tar");
	write_small_layer(&o, TL_NONE);
	ck_assert(!reopen_reused(&o));
	ipath = index_path_of(&o);
	close_layer(&o);
	ck_assert(reopen_reused(&o));
	close_layer(&o);
	/* Another mtime, nothing else: a second later, then (where the file
	 * system keeps nanoseconds) a nanosecond later. */
	for (int k = 0; k < 2; k++) {
		ck_assert_int_eq(stat(o.path, &st), 0);
		ts[0] = st.st_atim;
		ts[1] = st.st_mtim;
		if (k == 0)
			ts[1].tv_sec += 1;
		else
			ts[1].tv_nsec = (ts[1].tv_nsec + 1) % 1000000000;
		ck_assert_int_eq(utimensat(AT_FDCWD, o.path, ts, 0), 0);
		src = source_id(o.path);
		if (k == 1 && src.mtime_nsec == st.st_mtim.tv_nsec)
			break; /* no nanoseconds here */
		ck_assert_int_eq(fs_ix_map_open(ipath, &src, &m, &err), -1);
		ck_assert_int_eq(err.code, STRATA_ERR_INDEX);
		ck_assert_ptr_nonnull(strstr(err.msg, "stale"));
		ck_assert(!reopen_reused(&o));
		close_layer(&o);
		ck_assert(reopen_reused(&o));
		close_layer(&o);
	}
	/* The same size and mtime, but another file (a new inode) at the path. */
	content = tl_read_file(o.path, &len);
	ck_assert_int_eq(stat(o.path, &st), 0);
	other = tl_path(o.dir, "other");
	tl_write_file(other, content, len);
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	ck_assert_int_eq(utimensat(AT_FDCWD, other, ts, 0), 0);
	ck_assert_int_eq(rename(other, o.path), 0);
	ck_assert(!reopen_reused(&o));
	close_layer(&o);
	/* force_reindex ignores a valid index. */
	{
		struct strata_layer_options opts = {.cache_dir = o.cache, .force_reindex = true};
		struct strata_layer *l;
		struct strata_layer_info info;

		ck_assert_int_eq(strata_layer_open_tar(o.path, &opts, &l, &err), 0);
		strata_layer_info(l, &info);
		ck_assert(!info.index_reused);
		strata_layer_close(l);
	}
	ck_assert(reopen_reused(&o));
	close_layer(&o);
	free(content);
	free(other);
	free(ipath);
	cleanup(&o);
}
END_TEST

/* An index exported on one machine and adopted for a copy of the blob on
 * another (another inode, another mtime, another cache) is used there as
 * built; anything but such an index is refused and leaves no cache entry. */
static void portable_round_trip(enum tl_filter filt, const char *name)
{
	struct opened o, p;
	struct strata_error err = {0};
	struct strata_layer_options opts;
	struct ix_header h;
	char *exported, *ipath;
	uint8_t *content, *bytes;
	size_t len, n;
	int fd;

	setup_dir(&o, "portable", name);
	write_small_layer(&o, filt);
	open_layer(&o);
	close_layer(&o);
	exported = tl_path(o.dir, "exported.idx");
	fd = open(exported, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	opts = (struct strata_layer_options){.cache_dir = o.cache};
	ck_assert_int_eq(strata_layer_index_export(o.path, &opts, fd, &err), 0);
	ck_assert_int_eq(pread(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	ck_assert(h.src_ino == 0 && h.src_mtime_sec == 0 && h.src_mtime_nsec == 0);

	/* The same bytes elsewhere: a new inode, a new mtime, an empty cache. */
	setup_dir(&p, "portable-dst", name);
	content = tl_read_file(o.path, &len);
	tl_write_file(p.path, content, len);
	opts.cache_dir = p.cache;
	ck_assert_int_eq(strata_layer_index_adopt(p.path, &opts, fd, &err), 0);
	ck_assert(reopen_reused(&p));
	exercise_layer(p.l, p.m.hdr->stream_size);
	ck_assert(!atomic_load(&p.l->damaged));
	ipath = index_path_of(&p);
	close_layer(&p);

	/* Damage anywhere (a byte past the header): refused, nothing kept. */
	bytes = tl_read_file(exported, &n);
	bytes[n / 2] ^= 0x40;
	tl_write_file(exported, bytes, n);
	ck_assert_int_eq(unlink(ipath), 0);
	close(fd);
	fd = open(exported, O_RDONLY);
	ck_assert_int_eq(strata_layer_index_adopt(p.path, &opts, fd, &err), -1);
	ck_assert_int_eq(err.code, STRATA_ERR_INDEX);
	ck_assert_int_eq(access(ipath, F_OK), -1);
	ck_assert_int_eq(tl_count_dir(p.cache), 0);
	/* An index of another layer (another size): refused. */
	bytes[n / 2] ^= 0x40;
	tl_write_file(exported, bytes, n);
	tl_write_file(p.path, content, len - 1);
	ck_assert_int_eq(strata_layer_index_adopt(p.path, &opts, fd, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "not of this one"));
	/* A truncated one: refused. */
	tl_write_file(p.path, content, len);
	tl_truncate(exported, (off_t)n - 1);
	ck_assert_int_eq(strata_layer_index_adopt(p.path, &opts, fd, &err), -1);
	ck_assert_int_eq(tl_count_dir(p.cache), 0);
	close(fd);
	free(bytes);
	free(content);
	free(ipath);
	free(exported);
	cleanup(&p);
	cleanup(&o);
}

START_TEST(test_index_portable)
{
	portable_round_trip(TL_NONE, "small.tar");
	portable_round_trip(TL_GZIP, "small.tar.gz");
}
END_TEST

/* A layer read from a decompressed copy has no portable index. */
START_TEST(test_index_portable_needs_in_place)
{
	struct opened o;
	struct strata_error err = {0};
	struct strata_layer_options opts;
	int fd;

	setup_dir(&o, "portable-bz", "small.tar.bz2");
	write_small_layer(&o, TL_BZIP2);
	open_layer(&o);
	close_layer(&o);
	fd = open(o.dir, O_TMPFILE | O_RDWR, 0600);
	ck_assert_int_ge(fd, 0);
	opts = (struct strata_layer_options){.cache_dir = o.cache};
	ck_assert_int_eq(strata_layer_index_export(o.path, &opts, fd, &err), -1);
	ck_assert_int_eq(err.code, STRATA_ERR_UNSUPPORTED);
	ck_assert_int_eq(lseek(fd, 0, SEEK_END), 0);
	close(fd);
	cleanup(&o);
}
END_TEST

/* A compressed layer's cached copy is part of the cache: if it is gone or
 * changed in size, the layer is rebuilt. */
START_TEST(test_index_copy_damaged)
{
	struct opened o;
	char *copy;

	setup_dir(&o, "copy", "small.tar.zst");
	write_small_layer(&o, TL_ZSTD);
	ck_assert(!reopen_reused(&o));
	copy = strdup(o.stream);
	close_layer(&o);
	ck_assert(reopen_reused(&o));
	close_layer(&o);
	ck_assert_int_eq(unlink(copy), 0);
	ck_assert(!reopen_reused(&o));
	ck_assert_int_eq(check_against_archive(&o), 4);
	close_layer(&o);
	tl_truncate(copy, 512);
	ck_assert(!reopen_reused(&o));
	ck_assert_int_eq(check_against_archive(&o), 4);
	close_layer(&o);
	/* Just two files: the index and the copy. */
	ck_assert_int_eq(tl_count_dir(o.cache), 2);
	free(copy);
	cleanup(&o);
}
END_TEST

/* Damage that keeps the checksums right (what the checksum cannot see):
 * the validator must still refuse anything that points outside the index or
 * the stream, and what it accepts must be served without harm. */
static void fix_crcs(uint8_t *buf, size_t len)
{
	struct ix_header h;
	bool placed;

	memcpy(&h, buf, sizeof(h));
	/* A changed header may place the blocks elsewhere: only where they fit. */
	placed = h.header_size == sizeof(h) && h.blocks_off >= sizeof(h) && h.blocks_off < len &&
	         h.n_blocks == (len - h.blocks_off) / 4 &&
	         h.n_blocks == (h.blocks_off - sizeof(h) + IX_BLOCK - 1) / IX_BLOCK;
	if (placed) {
		uint32_t *blocks = (uint32_t *)(buf + h.blocks_off);

		for (uint64_t b = 0; b < h.n_blocks; b++) {
			uint64_t from = h.header_size + b * IX_BLOCK;
			uint64_t n =
			    h.blocks_off - from < IX_BLOCK ? h.blocks_off - from : IX_BLOCK;

			blocks[b] = (uint32_t)crc32_z(0, buf + from, n);
		}
		h.blocks_crc = (uint32_t)crc32_z(0, (const Bytef *)blocks, h.n_blocks * 4);
	}
	h.header_crc = 0;
	h.header_crc = (uint32_t)crc32_z(0, (const Bytef *)&h, sizeof(h));
	memcpy(buf, &h, sizeof(h));
}

static void exercise_layer(const struct strata_layer *l, uint64_t stream_size)
{
	uint64_t n = l->n_entries;

	for (uint64_t i = 0; i < n; i++) {
		uint32_t mode = l->ops->mode(l, i);
		size_t len;
		struct stat st;
		const char *nm = l->ops->name(l, i, &len);
		const char *xn;
		const void *xv;
		size_t xs;

		ck_assert_uint_le(strlen(nm), len);
		l->ops->stat(l, i, &st);
		for (uint32_t x = 0; l->ops->xattr(l, i, x, &xn, &xv, &xs); x++)
			ck_assert_ptr_nonnull(xn);
		if (S_ISLNK(mode))
			ck_assert_ptr_nonnull(l->ops->readlink(l, i, &len));
		if (S_ISDIR(mode)) {
			uint64_t nc = l->ops->n_children(l, i);

			for (uint64_t c = 0; c < nc; c++) {
				uint64_t child = l->ops->child(l, i, c);
				const char *cn;

				ck_assert_uint_lt(child, n);
				cn = l->ops->name(l, child, &len);
				(void)l->ops->lookup(l, i, cn, len);
			}
		}
		if (S_ISREG(st.st_mode)) {
			struct layer_extent ext[4];
			uint64_t off = 0, size = (uint64_t)st.st_size;

			while (off < size) {
				size_t got = l->ops->map(l, i, off, size - off, ext, 4);

				ck_assert_msg(got > 0, "entry %llu: map stops at %llu of %llu",
				              (unsigned long long)i, (unsigned long long)off,
				              (unsigned long long)size);
				for (size_t k = 0; k < got; k++) {
					ck_assert_msg(
					    ext[k].len > 0 && ext[k].len <= size - off,
					    "entry %llu: extent of %llu bytes at %llu (size %llu)",
					    (unsigned long long)i, (unsigned long long)ext[k].len,
					    (unsigned long long)off, (unsigned long long)size);
					if (!layer_extent_is_hole(&ext[k]))
						ck_assert_uint_le(ext[k].off + ext[k].len,
						                  stream_size);
					off += ext[k].len;
				}
			}
		}
	}
}

START_TEST(test_index_crafted)
{
	struct opened o;
	char *ipath;
	uint8_t *good, *bad;
	size_t len;
	struct ix_source_id src;
	uint64_t stream_size;
	size_t accepted = 0;

	setup_dir(&o, "crafted", "small.tar");
	write_small_layer(&o, TL_NONE);
	open_layer(&o);
	ipath = index_path_of(&o);
	stream_size = o.m.hdr->stream_size;
	close_layer(&o);
	good = tl_read_file(ipath, &len);
	src = source_id(o.path);
	bad = malloc(len);
	for (size_t pos = 0; pos < len; pos++) {
		for (int v = 0; v < 4; v++) {
			static const uint8_t xors[] = {0x01, 0x80, 0xff, 0x10};
			struct ix_map m = {0};
			struct strata_error err;

			memcpy(bad, good, len);
			bad[pos] ^= xors[v];
			fix_crcs(bad, len);
			/* Validate in memory first (ASan sees any stray read). */
			m.base = bad;
			m.size = len;
			if (fs_ix_map_validate(&m, &src, &err) != 0) {
				/* Refused in full: a mount, checking lazily, notices too. */
				tl_write_file(ipath, bad, len);
				ck_assert_msg(!damage_unnoticed(&o, stream_size),
				              "byte %zu ^ %#x: refused in full, used lazily", pos,
				              xors[v]);
				continue;
			}
			accepted++;
			tl_write_file(ipath, bad, len);
			if (!reopen_reused(&o)) { /* rebuilt: fine */
				close_layer(&o);
				continue;
			}
			exercise_layer(o.l, stream_size);
			close_layer(&o);
		}
	}
	/* Some changes are harmless (a name's bytes, a mode bit): they are let
	 * through, so the test did exercise the layer. */
	ck_assert_uint_gt(accepted, 0);
	free(bad);
	free(good);
	free(ipath);
	cleanup(&o);
}
END_TEST

/* Specific inconsistencies, each with the checksums made right, that the
 * validator must refuse (and the layer then be rebuilt). */
enum craft {
	C_EXT_SWAPPED,
	C_EXT_OVERLAP,
	C_EXT_PAST_STREAM,
	C_NAME_OFF,
	C_NAME_LEN,
	C_CHILD_BEFORE_PARENT,
	C_TOO_MANY_CHILDREN,
	C_LINK_TO_DIR,
	C_LINK_OUT_OF_RANGE,
	C_LINK_TO_LINK,
	C_CHILDREN_UNSORTED,
	C_DUP_NAMES,
	C_DATA_PAST_STREAM,
	C_N_EXT,
	C_XATTR_RANGE,
	C_XATTR_NAME,
	C_WHITEOUT_MODE,
	C_ROOT_NOT_DIR,
	C_SYMLINK_TARGET,
	C_SELF_PARENT,
	C_WRONG_PARENT,
	C_UNKNOWN_TYPE,
	C_HDR_NO_ENTRIES,
	C_HDR_MISALIGNED,
	C_HDR_STRINGS_SIZE,
	C_HDR_ENTRIES_PAST_END,
	C_HDR_VERSION,
	C_HDR_STRINGS_UNTERMINATED,
	C_COUNT
};

START_TEST(test_index_crafted_rejected)
{
	enum craft c = (enum craft)_i;
	struct opened o;
	char *ipath;
	uint8_t *good, *bad;
	size_t len;
	struct ix_source_id src;
	struct ix_header *h;
	struct ix_entry *e;
	struct ix_extent *x;
	struct ix_dir *dirs;
	struct ix_attr *attrs;
	struct ix_map view = {0};
	struct strata_error err = {0};
	uint32_t f, hl, l, sp, w, sx;
	uint64_t stream_size;

	setup_dir(&o, "craft", "small.tar");
	write_small_layer(&o, TL_NONE);
	open_layer(&o);
	ipath = index_path_of(&o);
	f = must_find(&o.m, "f");
	hl = must_find(&o.m, "h");
	l = must_find(&o.m, "l");
	sp = must_find(&o.m, "s");
	w = must_find(&o.m, "w");
	stream_size = o.m.hdr->stream_size;
	close_layer(&o);
	good = tl_read_file(ipath, &len);
	src = source_id(o.path);
	bad = malloc(len);
	memcpy(bad, good, len);
	h = (struct ix_header *)bad;
	e = (struct ix_entry *)(bad + h->entries_off);
	x = (struct ix_extent *)(bad + h->extents_off);
	dirs = (struct ix_dir *)(bad + h->dirs_off);
	attrs = (struct ix_attr *)(bad + h->attrs_off);
	sx = ix_ext_first(&e[sp]);
	ck_assert_uint_eq(h->n_entries, 6);
	ck_assert_uint_eq(ix_n_ext(&e[sp]), 2);
	ck_assert(e[hl].flags & IXE_HARDLINK);
	switch (c) {
	case C_EXT_SWAPPED: {
		struct ix_extent t = x[sx];

		x[sx] = x[sx + 1];
		x[sx + 1] = t;
		break;
	}
	case C_EXT_OVERLAP:
		x[sx + 1].logical = x[sx].logical + 1;
		break;
	case C_EXT_PAST_STREAM:
		x[sx].stream_off = h->stream_size - 2;
		break;
	case C_NAME_OFF:
		e[f].name_off = (uint32_t)h->strings_size;
		break;
	case C_NAME_LEN:
		e[f].name_len = 255;
		break;
	case C_CHILD_BEFORE_PARENT:
		dirs[0].first_child = 0;
		break;
	case C_TOO_MANY_CHILDREN:
		dirs[0].n_children = 6;
		break;
	case C_LINK_TO_DIR:
		e[hl].ref = 0;
		break;
	case C_LINK_OUT_OF_RANGE:
		e[hl].ref = 6;
		break;
	case C_LINK_TO_LINK:
		e[hl].ref = hl;
		break;
	case C_CHILDREN_UNSORTED: {
		uint32_t no = e[1].name_off;
		uint8_t nl = e[1].name_len;

		e[1].name_off = e[2].name_off;
		e[1].name_len = e[2].name_len;
		e[2].name_off = no;
		e[2].name_len = nl;
		break;
	}
	case C_DUP_NAMES:
		e[2].name_off = e[1].name_off;
		e[2].name_len = e[1].name_len;
		break;
	case C_DATA_PAST_STREAM:
		e[f].ref = h->stream_size - 1;
		break;
	case C_N_EXT:
		e[sp].ref = sx | (uint64_t)3 << 32;
		break;
	case C_XATTR_RANGE:
		e[f].xattr_first = 1;
		break;
	case C_XATTR_NAME:
		((struct ix_xattr *)(bad + h->xattrs_off))[0].name_off =
		    (uint32_t)h->strings_size + 1;
		break;
	case C_WHITEOUT_MODE:
		e[w].attr = e[f].attr;
		break;
	case C_ROOT_NOT_DIR:
		e[0].attr = e[f].attr;
		break;
	case C_SYMLINK_TARGET:
		e[l].ref = (uint32_t)h->strings_size + 10;
		break;
	case C_SELF_PARENT:
		dirs[0].entry = 2;
		break;
	case C_WRONG_PARENT:
		e[f].attr = e[0].attr; /* a file that says it is a directory */
		break;
	case C_UNKNOWN_TYPE:
		attrs[e[f].attr].mode = 0170000 | 0644;
		break;
	case C_HDR_NO_ENTRIES:
		h->n_entries = 0;
		break;
	case C_HDR_MISALIGNED:
		h->xattrs_off += 1;
		break;
	case C_HDR_STRINGS_SIZE:
		h->strings_size = h->blocks_off - h->strings_off + 1;
		break;
	case C_HDR_ENTRIES_PAST_END:
		h->n_entries = UINT32_MAX;
		break;
	case C_HDR_VERSION:
		h->version = IX_VERSION + 1;
		break;
	case C_HDR_STRINGS_UNTERMINATED:
		bad[h->strings_off + h->strings_size - 1] = 'x';
		break;
	case C_COUNT:
		break;
	}
	fix_crcs(bad, len);
	view.base = bad;
	view.size = len;
	ck_assert_msg(fs_ix_map_validate(&view, &src, &err) == -1, "case %d accepted", c);
	ck_assert_int_eq(err.code, STRATA_ERR_INDEX);
	tl_write_file(ipath, bad, len);
	ck_assert_int_eq(fs_ix_map_open(ipath, &src, &view, NULL), -1);
	/* A mount checks lazily: it notices at open or at first use. */
	ck_assert_msg(!damage_unnoticed(&o, stream_size), "case %d used lazily", c);
	open_layer(&o); /* rebuilt */
	close_layer(&o);
	free(bad);
	free(good);
	free(ipath);
	cleanup(&o);
}
END_TEST

/* fs_ix_build on its own: a compressed layer needs somewhere for its copy. */
START_TEST(test_ix_build_direct)
{
	struct opened o;
	struct ix_build_options bo = {0};
	struct strata_error err = {0};
	struct ix_source_id src;
	struct ix_map m;
	char *ipath, *copy;
	int fd;

	setup_dir(&o, "direct", "d.tar.xz");
	write_small_layer(&o, TL_XZ);
	ipath = tl_path(o.dir, "x.idx");
	copy = tl_path(o.dir, "x.tar");
	src = source_id(o.path);
	fd = open(o.path, O_RDONLY);
	bo.layer_name = "LAYERNAME";
	ck_assert_int_eq(fs_ix_build(fd, &src, ipath, &bo, &err), -1);
	ck_assert_int_eq(err.code, STRATA_ERR_USAGE);
	ck_assert_ptr_nonnull(strstr(err.msg, "LAYERNAME"));
	ck_assert_int_eq(access(ipath, F_OK), -1);
	bo.copy_path = copy;
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	ck_assert_msg(fs_ix_build(fd, &src, ipath, &bo, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(fs_ix_map_open(ipath, &src, &m, &err), 0);
	ck_assert_uint_eq(m.hdr->compression, IX_COMP_XZ);
	ck_assert_str_eq(fs_ix_compression_name(m.hdr->compression), "xz");
	ck_assert_uint_eq(m.hdr->flags, IXH_DATA_COPY);
	ck_assert_uint_eq(m.hdr->n_entries, 6);
	ck_assert_uint_eq(m.hdr->n_xattrs, 1);
	ck_assert_uint_eq(m.hdr->n_extents, 2);
	check_structure(&m);
	fs_ix_map_close(&m);
	/* The source identity is checked only when given. */
	src.size++;
	ck_assert_int_eq(fs_ix_map_open(ipath, &src, &m, NULL), -1);
	ck_assert_int_eq(fs_ix_map_open(ipath, NULL, &m, NULL), 0);
	fs_ix_map_close(&m);
	/* not an index at all */
	tl_write_file(ipath, "STRATAIX", 8);
	ck_assert_int_eq(fs_ix_map_open(ipath, NULL, &m, &err), -1);
	ck_assert_int_eq(err.code, STRATA_ERR_INDEX);
	ck_assert_str_eq(fs_ix_compression_name(99), "unknown");
	close(fd);
	free(ipath);
	free(copy);
	cleanup(&o);
}
END_TEST

/* "sha256:<hex>" of the file at @path. */
static int sha256_file_hex(const char *path, char out[72])
{
	unsigned char md[32];
	size_t len;
	uint8_t *buf = tl_read_file(path, &len);
	int rc = sha256_buffer(buf, len, md, NULL);

	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
	free(buf);
	return rc;
}

/* A layer "downloading": each read copies the next odd-sized chunk of the
 * source file to the end of the destination file, as a pull writes what
 * it hashes, and fails at @fail_at bytes when set. */
struct trickle {
	int src, dst;
	uint64_t off, fail_at;
};

static ssize_t trickle_read(void *ctx, void *buf, size_t len)
{
	struct trickle *t = ctx;
	ssize_t n;

	if (len > 7777)
		len = 7777;
	if (t->fail_at && t->off + len > t->fail_at) {
		errno = ECONNRESET;
		return -1;
	}
	n = pread(t->src, buf, len, (off_t)t->off);
	if (n > 0) {
		ck_assert_int_eq(pwrite(t->dst, buf, (size_t)n, (off_t)t->off), n);
		t->off += (uint64_t)n;
	}
	return n;
}

/* strata_layer_index_stream builds, from the bytes as they arrive, the very
 * index a file open builds, and the file open then reuses it. */
START_TEST(test_stream_index)
{
	enum tl_filter filt = (enum tl_filter)_i;
	struct tl_entry *ents = calloc(MAX_ENTS, sizeof(*ents));
	struct strata_layer_options lo = {.want_diff_id = true, .cache_key = "streamed"};
	struct strata_layer_info info;
	struct strata_error err;
	struct trickle t = {0};
	struct opened o;
	char *dst, diff_id[72], want[72], name[64];
	uint8_t *a, *b;
	size_t alen, blen;
	struct ix_map m;

	snprintf(name, sizeof(name), "layer.tar.%s", tl_filter_name(filt));
	setup_dir(&o, "stream", name);
	tl_write_layer(o.path, TL_PAX, filt, ents, content_set(TL_PAX, ents));
	dst = tl_path(o.dir, "downloaded");
	lo.cache_dir = o.cache;
	mkdir(o.cache, 0755);
	t.src = open(o.path, O_RDONLY);
	t.dst = open(dst, O_RDWR | O_CREAT | O_TRUNC, 0644);
	ck_assert_msg(strata_layer_index_stream(dst, trickle_read, &t, &lo, diff_id, &err) == 0,
	              "%s", err.msg);
	/* The file open finds it valid; a fresh build of the same file gives
	 * the same index, byte for byte past the header. */
	lo.want_diff_id = false;
	ck_assert_int_eq(strata_layer_open_tar(dst, &lo, &o.l, &err), 0);
	strata_layer_info(o.l, &info);
	ck_assert(info.index_reused);
	o.stream = tl_stream_path(o.l, dst);
	ck_assert_int_eq(sha256_file_hex(o.stream, want), 0);
	ck_assert_str_eq(diff_id, want);
	a = tl_read_file(info.index_path, &alen);
	lo.cache_key = "from-file";
	strata_layer_close(o.l);
	ck_assert_int_eq(strata_layer_open_tar(dst, &lo, &o.l, &err), 0);
	strata_layer_info(o.l, &info);
	b = tl_read_file(info.index_path, &blen);
	ck_assert_uint_eq(alen, blen);
	ck_assert_int_eq(fs_ix_map_open(info.index_path, NULL, &m, &err), 0);
	ck_assert_int_eq(
	    memcmp(a + m.hdr->header_size, b + m.hdr->header_size, alen - m.hdr->header_size), 0);
	fs_ix_map_close(&m);
	free(a);
	free(b);

	/* A stream that breaks leaves no index behind. */
	lo.cache_key = "broken";
	t.off = 0;
	t.fail_at = 20000;
	ftruncate(t.dst, 0);
	ck_assert_int_eq(strata_layer_index_stream(dst, trickle_read, &t, &lo, diff_id, &err), -1);
	{
		char *ix = tl_path(o.cache, "broken.idx");

		ck_assert_int_eq(access(ix, F_OK), -1);
		free(ix);
	}
	close(t.src);
	close(t.dst);
	free(dst);
	cleanup(&o);
	free(ents);
}
END_TEST

static Suite *index_suite(void)
{
	Suite *s = suite_create("index");
	TCase *tc;

	tc = tcase_create("formats");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_formats_and_compressions, 0, 15);
	tcase_add_loop_test(tc, test_gnu_sparse, 0, 5);
	tcase_add_loop_test(tc, test_names_any_bytes, 0, 3);
	tcase_add_loop_test(tc, test_stream_index, 0, 5);
	suite_add_tcase(s, tc);

	tc = tcase_create("layout");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_order_exact);
	tcase_add_test(tc, test_lookup_many);
	tcase_add_test(tc, test_attrs_exact);
	tcase_add_test(tc, test_root_member);
	tcase_add_test(tc, test_implicit_parents);
	tcase_add_test(tc, test_duplicates);
	tcase_add_test(tc, test_parent_not_dir);
	suite_add_tcase(s, tc);

	tc = tcase_create("links_whiteouts");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_hardlinks);
	tcase_add_test(tc, test_hardlink_target_replaced);
	tcase_add_test(tc, test_hardlink_target_replaced_by_dir);
	tcase_add_test(tc, test_hardlink_target_dir_replaced);
	tcase_add_loop_test(tc, test_hardlink_nlink_exact, 0, 3);
	tcase_add_test(tc, test_whiteouts);
	tcase_add_test(tc, test_hostile_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad_input");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_bad_not_tar);
	tcase_add_test(tc, test_bad_truncated_tar);
	tcase_add_loop_test(tc, test_bad_truncated_compressed, 0, 4);
	tcase_add_loop_test(tc, test_bad_corrupt_compressed, 0, 4);
	tcase_add_test(tc, test_bad_gzip_trailer);
	tcase_add_test(tc, test_bad_corrupt_gzip_members);
	tcase_add_test(tc, test_empty_layers);
	suite_add_tcase(s, tc);

	tc = tcase_create("cache");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_index_every_byte_flipped);
	tcase_add_test(tc, test_index_flips_spread);
	tcase_add_test(tc, test_index_truncated_or_extended);
	tcase_add_test(tc, test_index_stale);
	tcase_add_test(tc, test_index_portable);
	tcase_add_test(tc, test_index_portable_needs_in_place);
	tcase_add_test(tc, test_index_copy_damaged);
	tcase_add_test(tc, test_index_crafted);
	tcase_add_test(tc, test_index_lazy_damage);
	tcase_add_loop_test(tc, test_index_crafted_rejected, 0, C_COUNT);
	tcase_add_test(tc, test_ix_build_direct);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tl_run_suite(index_suite());
}
