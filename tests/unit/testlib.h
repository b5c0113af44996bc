/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers for the unit suites: a per-process temp directory that is
 * removed at exit, tar layers written with libarchive (every format and
 * compression strata reads), hand-made tar members for what libarchive's
 * writer cannot produce (old GNU sparse files), and small file utilities.
 */
#ifndef STRATA_TESTLIB_H
#define STRATA_TESTLIB_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "strata-fs.h"

/*
 * Check's ck_assert_msg records every *passing* assertion's location with a
 * write(2) to the parent process (for "after this point" in crash
 * reports).  The loops here pass millions of them, which costs seconds.
 * With this definition a passing check costs nothing; a failing one reports
 * exactly as before.  (A crash then points at the test's start, or at the
 * last explicit mark_point().)
 */
#undef ck_assert_msg
#define ck_assert_msg(expr, ...)                                                                   \
	((expr) ? (void)0                                                                          \
	        : _ck_assert_failed(__FILE__, __LINE__, "Assertion '" #expr "' failed",            \
	                            ##__VA_ARGS__))

/* ---- temp directories ---- */

/* Creates a fresh directory under the process's temp root (made on first
 * use, removed by tl_run_suite).  Returns a malloc'd path. */
char *tl_mkdtemp(const char *tag);
/* A malloc'd "@dir/@name". */
char *tl_path(const char *dir, const char *name);
void tl_rmrf(const char *path);
/* Number of directory entries in @dir other than "." and "..". */
int tl_count_dir(const char *dir);

/* Runs @s (forking per test unless CK_FORK=no), removes the temp root, and
 * returns the process exit status. */
int tl_run_suite(Suite *s);

/* ---- files ---- */

uint8_t *tl_read_file(const char *path, size_t *len);
void tl_write_file(const char *path, const void *buf, size_t len);
void tl_truncate(const char *path, off_t len);

/* Deterministic content: byte @i of the stream named by @seed. */
uint8_t tl_pattern_byte(uint32_t seed, uint64_t i);
void tl_pattern(uint32_t seed, uint64_t off, void *buf, size_t len);
uint32_t tl_seed(const char *name);

/* ---- building layers ---- */

enum tl_format { TL_PAX, TL_GNU, TL_USTAR };
enum tl_filter { TL_NONE, TL_GZIP, TL_ZSTD, TL_XZ, TL_BZIP2 };

const char *tl_format_name(enum tl_format f);
const char *tl_filter_name(enum tl_filter f);

struct tl_xattr {
	const char *name;
	const void *value;
	size_t size;
};

struct tl_run {
	int64_t off, len;
};

/*
 * One tar member.  Zero fields take defaults: perm 0644 (0755 for dirs and
 * symlinks), uid/gid 0, mtime 0.  A regular file's content is @data, or when
 * @data is NULL the pattern of tl_seed(name) — for a sparse file (@runs) the
 * pattern at the runs' logical offsets and zeros elsewhere.
 */
struct tl_entry {
	char type; /* 'f' file, 'd' dir, 'l' symlink, 'h' hard link, 'p' fifo,
	              'c' char device, 'b' block device */
	const char *name;
	const void *data;
	int64_t size;
	const char *target; /* 'l', 'h' */
	unsigned perm;
	int64_t uid, gid;
	int64_t mtime;
	long mtime_ns;
	unsigned devmajor, devminor;
	const struct tl_xattr *xattrs;
	size_t n_xattrs;
	const struct tl_run *runs;
	size_t n_runs;
};

/* The logical content of a regular-file entry (malloc'd, entry->size bytes). */
uint8_t *tl_entry_content(const struct tl_entry *e);

/* Writes @n entries as a tar layer to @path; fails the test on any libarchive
 * error (so a test never runs on a layer other than the one it describes). */
void tl_write_layer(const char *path, enum tl_format fmt, enum tl_filter filt,
                    const struct tl_entry *ents, size_t n);
/* Compresses raw bytes (e.g. a hand-made tar) with @filt into @path. */
void tl_write_compressed(const char *path, enum tl_filter filt, const void *buf, size_t len);

/* zstd with a content checksum (libarchive's writer leaves it out).  False
 * when the tests were built without libzstd. */
bool tl_write_zstd_checksummed(const char *path, const void *buf, size_t len);

/* A growable byte buffer for hand-made tars. */
struct tl_buf {
	uint8_t *p;
	size_t len, cap;
};
void tl_buf_add(struct tl_buf *b, const void *p, size_t len);
void tl_buf_zero(struct tl_buf *b, size_t len);
void tl_buf_free(struct tl_buf *b);

/* Appends one ustar header block (typeflag @type, @size bytes of data follow). */
void tl_raw_header(struct tl_buf *b, const char *name, char type, uint64_t size, unsigned mode,
                   const char *linkname);
/* Appends data padded to 512 bytes. */
void tl_raw_data(struct tl_buf *b, const void *p, size_t len);
/* Appends an old-GNU sparse member ('S', with extension headers beyond four
 * runs): @realsize bytes whose runs hold the pattern of tl_seed(name). */
void tl_raw_gnu_sparse(struct tl_buf *b, const char *name, uint64_t realsize,
                       const struct tl_run *runs, size_t n_runs, int64_t mtime);
/* Appends the two zero blocks ending an archive. */
void tl_raw_end(struct tl_buf *b);

/* ---- opening layers ---- */

/* Collects warnings from a layer build. */
struct tl_warnings {
	int n;
	char *all; /* every message, one per line */
};
void tl_warn_cb(void *ctx, const char *msg);
void tl_warnings_free(struct tl_warnings *w);
bool tl_warned(const struct tl_warnings *w, const char *needle);

/* Opens @path with @cache; fails the test with the error if it cannot. */
struct strata_layer *tl_open_layer(const char *path, const char *cache, struct tl_warnings *w);

/* The uncompressed tar stream of an open layer: the layer file itself when
 * plain, the cached copy beside the index when it has one, and for a layer
 * read in place (seekable) a file "<layer>.stream" of what its read op gives.
 * Malloc'd. */
char *tl_stream_path(const struct strata_layer *l, const char *layer_path);

#endif
