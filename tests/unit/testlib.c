/* SPDX-License-Identifier: MIT */
#include "testlib.h"
#include "layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#ifdef TL_HAVE_ZSTD
#include <zstd.h>
#endif

/* ---- temp directories ---- */

static char tl_root[4096];

static const char *root_dir(void)
{
	if (!tl_root[0]) {
		const char *base = getenv("TMPDIR");

		snprintf(tl_root, sizeof(tl_root), "%s/strata-unit.XXXXXX",
		         base && *base ? base : "/tmp");
		if (!mkdtemp(tl_root)) {
			perror("mkdtemp");
			abort();
		}
	}
	return tl_root;
}

char *tl_mkdtemp(const char *tag)
{
	char *p = NULL;

	ck_assert_int_ge(asprintf(&p, "%s/%s.XXXXXX", root_dir(), tag), 0);
	ck_assert_msg(mkdtemp(p) != NULL, "mkdtemp %s: %s", p, strerror(errno));
	return p;
}

char *tl_path(const char *dir, const char *name)
{
	char *p = NULL;

	ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
	return p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
	return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

void tl_rmrf(const char *path)
{
	nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

int tl_count_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	ck_assert_msg(d != NULL, "opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

int tl_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	/* Create the root before forking, so every test shares (and the
	 * parent removes) one directory. */
	root_dir();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	tl_rmrf(tl_root);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- files ---- */

uint8_t *tl_read_file(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;
	size_t done = 0;

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_int_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(buf);
	while (done < (size_t)st.st_size &&
	       (r = read(fd, buf + done, (size_t)st.st_size - done)) > 0)
		done += (size_t)r;
	ck_assert_uint_eq(done, (size_t)st.st_size);
	close(fd);
	*len = done;
	return buf;
}

void tl_write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t done = 0;

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	while (done < len) {
		ssize_t r = write(fd, (const uint8_t *)buf + done, len - done);

		ck_assert_msg(r > 0, "write %s: %s", path, strerror(errno));
		done += (size_t)r;
	}
	ck_assert_int_eq(close(fd), 0);
}

void tl_truncate(const char *path, off_t len)
{
	ck_assert_msg(truncate(path, len) == 0, "truncate %s: %s", path, strerror(errno));
}

uint8_t tl_pattern_byte(uint32_t seed, uint64_t i)
{
	/* Varies with position and seed, and is never all zeros over a run, so
	 * a hole served as data (or data as a hole) shows. */
	uint64_t x = (i / 7) * 0x9e3779b97f4a7c15ULL + seed;

	x ^= x >> 29;
	return (uint8_t)('a' + (x % 26) + (i % 7 == 0));
}

void tl_pattern(uint32_t seed, uint64_t off, void *buf, size_t len)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = tl_pattern_byte(seed, off + i);
}

uint32_t tl_seed(const char *name)
{
	uint32_t h = 2166136261u;

	for (; *name; name++)
		h = (h ^ (uint8_t)*name) * 16777619u;
	return h;
}

/* ---- building layers ---- */

const char *tl_format_name(enum tl_format f)
{
	static const char *const n[] = {"pax", "gnu", "ustar"};

	return n[f];
}

const char *tl_filter_name(enum tl_filter f)
{
	static const char *const n[] = {"none", "gzip", "zstd", "xz", "bzip2"};

	return n[f];
}

uint8_t *tl_entry_content(const struct tl_entry *e)
{
	uint8_t *buf = calloc(1, (size_t)e->size + 1);

	ck_assert_ptr_nonnull(buf);
	if (e->data) {
		memcpy(buf, e->data, (size_t)e->size);
	} else if (e->n_runs) {
		for (size_t i = 0; i < e->n_runs; i++)
			tl_pattern(tl_seed(e->name), (uint64_t)e->runs[i].off, buf + e->runs[i].off,
			           (size_t)e->runs[i].len);
	} else {
		tl_pattern(tl_seed(e->name), 0, buf, (size_t)e->size);
	}
	return buf;
}

static void add_filter(struct archive *a, enum tl_filter filt)
{
	int r = ARCHIVE_OK;

	switch (filt) {
	case TL_NONE:
		r = archive_write_add_filter_none(a);
		break;
	case TL_GZIP:
		r = archive_write_add_filter_gzip(a);
		break;
	case TL_ZSTD:
		r = archive_write_add_filter_zstd(a);
		break;
	case TL_XZ:
		r = archive_write_add_filter_xz(a);
		if (r == ARCHIVE_OK)
			r = archive_write_set_filter_option(a, "xz", "compression-level", "1");
		break;
	case TL_BZIP2:
		r = archive_write_add_filter_bzip2(a);
		break;
	}
	ck_assert_msg(r == ARCHIVE_OK, "filter %s: %s", tl_filter_name(filt),
	              archive_error_string(a));
}

static unsigned default_perm(char type)
{
	return type == 'd' || type == 'l' ? 0755 : 0644;
}

void tl_write_layer(const char *path, enum tl_format fmt, enum tl_filter filt,
                    const struct tl_entry *ents, size_t n)
{
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();
	int r;

	ck_assert_ptr_nonnull(a);
	switch (fmt) {
	case TL_PAX:
		r = archive_write_set_format_pax(a);
		break;
	case TL_GNU:
		r = archive_write_set_format_gnutar(a);
		break;
	default:
		r = archive_write_set_format_ustar(a);
		break;
	}
	ck_assert_int_eq(r, ARCHIVE_OK);
	add_filter(a, filt);
	/* No padding of the compressed output to 10 KiB blocks for the tests'
	 * byte-exact truncation; plain tars keep the usual blocking. */
	if (filt != TL_NONE)
		archive_write_set_bytes_in_last_block(a, 1);
	ck_assert_msg(archive_write_open_filename(a, path) == ARCHIVE_OK, "%s: %s", path,
	              archive_error_string(a));
	for (size_t i = 0; i < n; i++) {
		const struct tl_entry *e = &ents[i];
		unsigned perm = e->perm ? e->perm : default_perm(e->type);
		uint8_t *content = NULL;

		archive_entry_clear(ae);
		archive_entry_copy_pathname(ae, e->name);
		archive_entry_set_uid(ae, e->uid);
		archive_entry_set_gid(ae, e->gid);
		archive_entry_set_mtime(ae, e->mtime, e->mtime_ns);
		switch (e->type) {
		case 'f':
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_size(ae, e->size);
			for (size_t k = 0; k < e->n_runs; k++)
				archive_entry_sparse_add_entry(ae, e->runs[k].off, e->runs[k].len);
			break;
		case 'd':
			archive_entry_set_filetype(ae, AE_IFDIR);
			break;
		case 'l':
			archive_entry_set_filetype(ae, AE_IFLNK);
			archive_entry_copy_symlink(ae, e->target);
			break;
		case 'h':
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_copy_hardlink(ae, e->target);
			archive_entry_set_size(ae, 0);
			break;
		case 'p':
			archive_entry_set_filetype(ae, AE_IFIFO);
			break;
		case 'c':
		case 'b':
			archive_entry_set_filetype(ae, e->type == 'c' ? AE_IFCHR : AE_IFBLK);
			archive_entry_set_rdevmajor(ae, e->devmajor);
			archive_entry_set_rdevminor(ae, e->devminor);
			break;
		default:
			ck_abort_msg("unknown entry type '%c'", e->type);
		}
		archive_entry_set_perm(ae, perm);
		for (size_t k = 0; k < e->n_xattrs; k++)
			archive_entry_xattr_add_entry(ae, e->xattrs[k].name, e->xattrs[k].value,
			                              e->xattrs[k].size);
		r = archive_write_header(a, ae);
		/* pax in the C locale stores names that are not ASCII as raw bytes
		 * (hdrcharset=BINARY) and says so with a warning: that is wanted. */
		if (r == ARCHIVE_WARN && archive_error_string(a) &&
		    strncmp(archive_error_string(a), "Can't translate", 15) == 0)
			r = ARCHIVE_OK;
		ck_assert_msg(r == ARCHIVE_OK, "%s: writing header of '%s': %s", path, e->name,
		              archive_error_string(a));
		if (e->type != 'f' || e->size == 0)
			continue;
		/* The whole logical content, also for a sparse file: the pax
		 * writer skips what falls in its holes. */
		content = tl_entry_content(e);
		{
			size_t done = 0;

			while (done < (size_t)e->size) {
				la_ssize_t w =
				    archive_write_data(a, content + done, (size_t)e->size - done);

				ck_assert_msg(w > 0, "%s: data of '%s': %s", path, e->name,
				              archive_error_string(a));
				done += (size_t)w;
			}
		}
		free(content);
	}
	ck_assert_msg(archive_write_close(a) == ARCHIVE_OK, "%s: %s", path,
	              archive_error_string(a));
	archive_write_free(a);
	archive_entry_free(ae);
}

void tl_write_compressed(const char *path, enum tl_filter filt, const void *buf, size_t len)
{
	struct archive *a;
	struct archive_entry *ae;
	size_t done = 0;

	if (filt == TL_NONE) {
		tl_write_file(path, buf, len);
		return;
	}
	a = archive_write_new();
	ae = archive_entry_new();
	ck_assert_int_eq(archive_write_set_format_raw(a), ARCHIVE_OK);
	add_filter(a, filt);
	archive_write_set_bytes_in_last_block(a, 1);
	ck_assert_int_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
	archive_entry_set_pathname(ae, "data");
	archive_entry_set_filetype(ae, AE_IFREG);
	archive_entry_set_size(ae, (la_int64_t)len);
	ck_assert_int_eq(archive_write_header(a, ae), ARCHIVE_OK);
	while (done < len) {
		la_ssize_t w = archive_write_data(a, (const uint8_t *)buf + done, len - done);

		ck_assert_msg(w > 0, "%s: %s", path, archive_error_string(a));
		done += (size_t)w;
	}
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	archive_entry_free(ae);
}

bool tl_write_zstd_checksummed(const char *path, const void *buf, size_t len)
{
#ifdef TL_HAVE_ZSTD
	ZSTD_CCtx *c = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(len), n;
	void *out = malloc(cap);

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(out);
	ck_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)));
	n = ZSTD_compress2(c, out, cap, buf, len);
	ck_assert_msg(!ZSTD_isError(n), "zstd: %s", ZSTD_getErrorName(n));
	tl_write_file(path, out, n);
	free(out);
	ZSTD_freeCCtx(c);
	return true;
#else
	(void)path;
	(void)buf;
	(void)len;
	return false;
#endif
}

void tl_buf_add(struct tl_buf *b, const void *p, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + len)
			cap *= 2;
		b->p = realloc(b->p, cap);
		ck_assert_ptr_nonnull(b->p);
		b->cap = cap;
	}
	if (p)
		memcpy(b->p + b->len, p, len);
	else
		memset(b->p + b->len, 0, len);
	b->len += len;
}

void tl_buf_zero(struct tl_buf *b, size_t len)
{
	tl_buf_add(b, NULL, len);
}

void tl_buf_free(struct tl_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void octal(uint8_t *field, size_t width, uint64_t v)
{
	/* width-1 digits and a NUL, as GNU tar writes them. */
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "%0*llo", (int)width - 1, (unsigned long long)v);
	ck_assert_uint_eq(strlen(tmp), width - 1);
	memcpy(field, tmp, width);
}

static void checksum(uint8_t *h)
{
	unsigned sum = 0;

	memset(h + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
}

static void fill_header(uint8_t *h, const char *name, char type, uint64_t size, unsigned mode,
                        const char *linkname, int64_t mtime, bool gnu)
{
	memset(h, 0, 512);
	ck_assert_uint_lt(strlen(name), 100);
	memcpy(h, name, strlen(name));
	octal(h + 100, 8, mode);
	octal(h + 108, 8, 0);
	octal(h + 116, 8, 0);
	octal(h + 124, 12, size);
	octal(h + 136, 12, (uint64_t)mtime);
	h[156] = (uint8_t)type;
	if (linkname) {
		ck_assert_uint_lt(strlen(linkname), 100);
		memcpy(h + 157, linkname, strlen(linkname));
	}
	if (gnu)
		memcpy(h + 257, "ustar  ", 8); /* old GNU magic + version */
	else
		memcpy(h + 257,
		       "ustar\0"
		       "00",
		       8);
}

void tl_raw_header(struct tl_buf *b, const char *name, char type, uint64_t size, unsigned mode,
                   const char *linkname)
{
	uint8_t h[512];

	fill_header(h, name, type, size, mode, linkname, 0, false);
	checksum(h);
	tl_buf_add(b, h, 512);
}

void tl_raw_data(struct tl_buf *b, const void *p, size_t len)
{
	tl_buf_add(b, p, len);
	if (len % 512)
		tl_buf_zero(b, 512 - len % 512);
}

void tl_raw_gnu_sparse(struct tl_buf *b, const char *name, uint64_t realsize,
                       const struct tl_run *runs, size_t n_runs, int64_t mtime)
{
	uint8_t h[512];
	uint64_t stored = 0;
	size_t k = 0;

	for (size_t i = 0; i < n_runs; i++)
		stored += (uint64_t)runs[i].len;
	fill_header(h, name, 'S', stored, 0644, NULL, mtime, true);
	for (; k < n_runs && k < 4; k++) {
		octal(h + 386 + 24 * k, 12, (uint64_t)runs[k].off);
		octal(h + 386 + 24 * k + 12, 12, (uint64_t)runs[k].len);
	}
	h[482] = k < n_runs;
	octal(h + 483, 12, realsize);
	checksum(h);
	tl_buf_add(b, h, 512);
	while (k < n_runs) {
		uint8_t x[512];
		size_t j;

		memset(x, 0, sizeof(x));
		for (j = 0; k < n_runs && j < 21; j++, k++) {
			octal(x + 24 * j, 12, (uint64_t)runs[k].off);
			octal(x + 24 * j + 12, 12, (uint64_t)runs[k].len);
		}
		x[504] = k < n_runs;
		tl_buf_add(b, x, 512);
	}
	for (size_t i = 0; i < n_runs; i++) {
		uint8_t *d = malloc((size_t)runs[i].len + 1);

		tl_pattern(tl_seed(name), (uint64_t)runs[i].off, d, (size_t)runs[i].len);
		tl_buf_add(b, d, (size_t)runs[i].len);
		free(d);
	}
	if (stored % 512)
		tl_buf_zero(b, 512 - stored % 512);
}

void tl_raw_end(struct tl_buf *b)
{
	tl_buf_zero(b, 1024);
}

/* ---- opening layers ---- */

void tl_warn_cb(void *ctx, const char *msg)
{
	struct tl_warnings *w = ctx;
	size_t old = w->all ? strlen(w->all) : 0;

	w->all = realloc(w->all, old + strlen(msg) + 2);
	ck_assert_ptr_nonnull(w->all);
	memcpy(w->all + old, msg, strlen(msg));
	w->all[old + strlen(msg)] = '\n';
	w->all[old + strlen(msg) + 1] = '\0';
	w->n++;
}

void tl_warnings_free(struct tl_warnings *w)
{
	free(w->all);
	memset(w, 0, sizeof(*w));
}

bool tl_warned(const struct tl_warnings *w, const char *needle)
{
	return w->all && strstr(w->all, needle);
}

struct strata_layer *tl_open_layer(const char *path, const char *cache, struct tl_warnings *w)
{
	struct strata_layer_options o = {
	    .cache_dir = cache,
	    .warn = w ? tl_warn_cb : NULL,
	    .warn_ctx = w,
	};
	struct strata_error err = {0};
	struct strata_layer *l = NULL;

	ck_assert_msg(strata_layer_open_tar(path, &o, &l, &err) == 0, "open %s: %s", path, err.msg);
	ck_assert_ptr_nonnull(l);
	return l;
}

/* A gzip layer has no copy: its whole stream as its read op gives it, in
 * a file beside the layer (empty if the read fails). */
static char *stream_through_read(const struct strata_layer *l, uint64_t size,
                                 const char *layer_path)
{
	char *p = NULL;
	uint8_t *buf = malloc(size ? size : 1);
	int rc;

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_ge(asprintf(&p, "%s.stream", layer_path), 0);
	rc = l->ops->read(l, 0, buf, size);
	tl_write_file(p, buf, rc ? 0 : size);
	free(buf);
	return p;
}

char *tl_stream_path(const struct strata_layer *l, const char *layer_path)
{
	struct strata_layer_info info;
	char *p;
	size_t n;

	strata_layer_info(l, &info);
	if (strcmp(info.compression, "none") == 0)
		return strdup(layer_path);
	if (info.seekable)
		return stream_through_read(l, info.stream_size, layer_path);
	p = strdup(info.index_path);
	n = strlen(p);
	ck_assert_msg(n > 4 && strcmp(p + n - 4, ".idx") == 0, "index path %s", p);
	memcpy(p + n - 4, ".tar", 4);
	return p;
}
