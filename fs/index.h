/* SPDX-License-Identifier: MIT */
/*
 * The layer index: its on-disk format (docs/index-format.md) and the
 * internal API of its builder and reader.  Private to libstrata-fs.
 *
 * An index is one file, mmapped read-only.  Integers are in host byte order:
 * the index is a local cache, and one written elsewhere fails the magic and
 * version checks and is rebuilt.
 * Entries are numbered breadth-first: entry 0 is the layer's root, and the
 * children of every directory are contiguous and sorted by name (memcmp,
 * shorter first), so lookup is a binary search and readdir is a range.
 *
 * Errors: as strata-fs.h's functions, whose opens these feed: -1 with a
 * struct strata_error filled.
 */
#ifndef STRATA_INDEX_H
#define STRATA_INDEX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "strata-fs.h"

#define IX_MAGIC "STRATAIX"
/* 2: a directory a layer whites out and has entries below is no longer
 * IXE_IMPLICIT (its attributes are tar's defaults, not the lower one's).
 * 3: ACLs from SCHILY.acl.* are kept, as system.posix_acl_* xattrs.
 * 4: gzip layers carry checkpoints and are read in place (no copy).
 * 5: so do zstd layers of several frames and xz ones of several blocks.
 * 6: 32-byte entries (attributes in a shared table, directories in their
 *    own), strings in entry order, a CRC per 4 KiB block so a mount checks
 *    only what it reads. */
#define IX_VERSION 6

/* The body is checked in blocks of this many bytes, each when first used. */
#define IX_BLOCK 4096

enum ix_compression {
	IX_COMP_NONE = 0,
	IX_COMP_GZIP,
	IX_COMP_ZSTD,
	IX_COMP_XZ,
	IX_COMP_BZIP2,
	IX_COMP_LZ4,
	IX_COMP_OTHER,
};

struct ix_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;
	uint64_t total_size; /* of the whole index file */
	uint32_t header_crc; /* crc32 of this header with header_crc = 0 */
	uint32_t blocks_crc; /* crc32 of the block CRC table */
	/* Identity of the layer file the index describes: any change → rebuild. */
	uint64_t src_size;
	int64_t src_mtime_sec;
	int64_t src_mtime_nsec;
	uint64_t src_ino;
	uint64_t stream_size; /* bytes of uncompressed tar */
	uint32_t compression; /* enum ix_compression */
	uint32_t flags;       /* IXH_* */
	uint64_t total_data;  /* sum of regular file sizes, for statfs */
	uint32_t n_entries;
	uint32_t n_dirs;
	uint32_t n_attrs;
	uint32_t n_xattrs;
	uint32_t n_extents;
	uint32_t n_checkpoints; /* read in place: struct ix_checkpoint */
	uint64_t n_crcs;        /* CRC-32 of each GZ_CHUNK of each span: uint32_t */
	uint64_t entries_off;
	uint64_t dirs_off;
	uint64_t attrs_off;
	uint64_t xattrs_off;
	uint64_t extents_off;
	uint64_t checkpoints_off;
	uint64_t crcs_off;
	uint64_t windows_off; /* the checkpoints' deflated windows */
	uint64_t windows_size;
	uint64_t strings_off;
	uint64_t strings_size;
	uint64_t blocks_off; /* n_blocks CRC-32s of [header_size, blocks_off) */
	uint64_t n_blocks;
	uint64_t reserved[4];
};

/* The uncompressed stream lives in a cached copy next to the index. */
#define IXH_DATA_COPY 0x1

/* ix_entry.flags */
#define IXE_WHITEOUT 0x1  /* this name hides the same name in lower layers */
#define IXE_OPAQUE   0x2  /* dir: hides all lower content (also: whiteout + entry in one layer) */
#define IXE_HARDLINK 0x4  /* data and attributes are those of entry `ref` */
#define IXE_SPARSE   0x8  /* data is extents: ref = first | count << 32 */
#define IXE_IMPLICIT 0x10 /* dir not in the tar, made for an entry below it */
#define IXE_ALL      0x1f

/* The largest sparse file a layer may declare: 16 TiB, as much as ext4
 * (4 KiB blocks) holds, so that a copy-up into an ext4 upper, and GNU tar
 * extracting the layer there, can hold it.  A tar header can declare up to
 * 2^63 - 1 bytes in a few hundred bytes of archive, a file whose read never
 * ends; real sparse files (VM disks, the lastlog of a uid near 2^32: 1.2
 * TB) are smaller.  The builder skips a bigger one with a warning, and an
 * index that holds one is invalid (docs/index-format.md). */
#define IX_SPARSE_MAX ((uint64_t)1 << 44)

/* One name of the layer.  What @ref holds depends on the type:
 * directory: its number in the dirs table; regular file: the offset of its
 * data in the uncompressed stream, or with IXE_SPARSE its extents;
 * symlink: the string offset of its target (@size bytes); hard link
 * (IXE_HARDLINK): the canonical entry; character or block device: rdev. */
struct ix_entry {
	uint64_t size; /* st_size (logical size for sparse files) */
	uint64_t ref;
	uint32_t name_off; /* into strings */
	uint32_t attr;     /* into attrs */
	uint32_t xattr_first;
	uint16_t n_xattrs;
	uint8_t name_len; /* a path component: 1..255; 0 only for the root */
	uint8_t flags;    /* IXE_* */
};

/* A directory: its children are entries [first_child, first_child +
 * n_children).  Numbered in entry order, so first_child goes up. */
struct ix_dir {
	uint32_t entry;
	uint32_t first_child;
	uint32_t n_children;
	uint32_t nlink; /* 2 + its subdirectories */
};

/* Attributes, shared by every entry that has the same ones. */
struct ix_attr {
	uint32_t mode; /* st_mode; 0 for a pure whiteout */
	uint32_t uid;
	uint32_t gid;
	uint32_t nlink; /* non-directories: 1 + hard links to it; 0 for directories */
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint32_t pad;
};

struct ix_xattr {
	uint32_t name_off;
	uint32_t name_len;
	uint32_t value_off;
	uint32_t value_len;
};

/* A run of a sparse file's data: [logical, logical+len) is stored at stream_off. */
struct ix_extent {
	uint64_t logical;
	uint64_t stream_off;
	uint64_t len;
};

/* Where decompression of a gzip layer can start (gzip.h's struct gz_point):
 * the spans between them are read on demand, checked chunk by chunk (the
 * CRC-32 of every GZ_CHUNK bytes of a span, the last one shorter).  In a
 * zstd or xz layer, the start of a frame (block): @in is where it starts in
 * the blob, and there is no window and no bits (frame_seek.h). */
struct ix_checkpoint {
	uint64_t out;     /* offset in the uncompressed stream; the first is 0 */
	uint64_t in;      /* offset in the layer file of the next whole byte */
	uint64_t win_off; /* into the windows section */
	uint32_t win_len; /* its deflated (zlib format) bytes; 0: no window */
	uint32_t win_size;
	uint32_t bits;      /* 0-7 bits of the byte before @in still to decode */
	uint32_t crc_first; /* index of the span's first chunk CRC */
};

_Static_assert(sizeof(struct ix_checkpoint) == 40, "index checkpoint layout");
_Static_assert(sizeof(struct ix_header) == 256, "index header layout");
_Static_assert(sizeof(struct ix_entry) == 32, "index entry layout");
_Static_assert(sizeof(struct ix_dir) == 16, "index dir layout");
_Static_assert(sizeof(struct ix_attr) == 32, "index attr layout");

/* ---- reader (index_read.c) ---- */

struct ix_lazy;

struct ix_map {
	const uint8_t *base;
	size_t size;
	dev_t dev; /* the mapped file's, to tell it from a rebuilt one */
	ino_t ino;
	const struct ix_header *hdr;
	const struct ix_entry *entries;
	const struct ix_dir *dirs;
	const struct ix_attr *attrs;
	const struct ix_xattr *xattrs;
	const struct ix_extent *extents;
	const struct ix_checkpoint *checkpoints;
	const uint8_t *windows;
	const uint32_t *crcs;
	const char *strings;
	/* Opened with IX_MAP_LAZY: what has been checked so far.  NULL when
	 * all of it was checked at open. */
	struct ix_lazy *lazy;
};

struct ix_source_id {
	uint64_t size;
	int64_t mtime_sec;
	int64_t mtime_nsec;
	uint64_t ino;
};

/* Maps and fully validates @path: every block's CRC and every reference.
 * Fails with STRATA_ERR_INDEX when the file is damaged or does not
 * describe @src (when @src is not NULL). */
int fs_ix_map_open(const char *path, const struct ix_source_id *src, struct ix_map *m,
                   struct strata_error *err);
/* fs_ix_map_open's flags.  IX_MAP_LAZY checks the header, the block CRC
 * table, the root and the checkpoints at open, and the rest when first
 * used: a block's CRC before any of its bytes is read, a directory's
 * children (their blocks, references and order) before any of them is
 * handed out (fs_ix_ready).  Work at open no longer grows with the entries. */
#define IX_MAP_LAZY 0x1
int fs_ix_map_open_flags(const char *path, const struct ix_source_id *src, unsigned flags,
                         struct ix_map *m, struct strata_error *err);
/* Validates an index already in memory (every block and reference). */
int fs_ix_map_validate(struct ix_map *m, const struct ix_source_id *src, struct strata_error *err);
void fs_ix_map_close(struct ix_map *m);
/* Asks the kernel for the checkpoint, window and CRC sections ahead of the
 * first reads of a layer read in place (no wait). */
void fs_ix_map_prefetch_seek(const struct ix_map *m);

/* Lazily opened maps: checks entry @i and its siblings if not yet done.
 * False when they are damaged (or @i is no entry): nothing of them may
 * be used, and fs_ix_damaged() says so from then on. */
bool fs_ix_ready_slow(const struct ix_map *m, uint32_t i);
bool fs_ix_damaged(const struct ix_map *m);
/* The first damage found, for messages: a static string. */
const char *fs_ix_damage_reason(const struct ix_map *m);

struct ix_lazy {
	_Atomic uint64_t *ready;  /* a bit per entry: checked with its siblings */
	_Atomic uint64_t *blocks; /* a bit per block: its CRC matched */
	_Atomic(const char *) damage;
};

static inline bool fs_ix_ready(const struct ix_map *m, uint32_t i)
{
	if (!m->lazy)
		return i < m->hdr->n_entries;
	if (i < m->hdr->n_entries &&
	    (atomic_load_explicit(&m->lazy->ready[i / 64], memory_order_acquire) >> (i % 64)) & 1)
		return true;
	return fs_ix_ready_slow(m, i);
}

static inline const struct ix_entry *ix_entry_at(const struct ix_map *m, uint32_t i)
{
	return &m->entries[i];
}

static inline const char *ix_name(const struct ix_map *m, const struct ix_entry *e)
{
	return m->strings + e->name_off;
}

static inline const struct ix_attr *ix_attr_of(const struct ix_map *m, const struct ix_entry *e)
{
	return &m->attrs[e->attr];
}

static inline uint32_t ix_mode(const struct ix_map *m, const struct ix_entry *e)
{
	return m->attrs[e->attr].mode;
}

static inline bool ix_is_dir(const struct ix_map *m, const struct ix_entry *e)
{
	return S_ISDIR(ix_mode(m, e));
}

/* A directory entry's record. */
static inline const struct ix_dir *ix_dir_of(const struct ix_map *m, const struct ix_entry *e)
{
	return &m->dirs[e->ref];
}

static inline uint32_t ix_ext_first(const struct ix_entry *e)
{
	return (uint32_t)e->ref;
}

static inline uint32_t ix_n_ext(const struct ix_entry *e)
{
	return (uint32_t)(e->ref >> 32);
}

/* The entry whose data and attributes @e presents (itself unless a hard link). */
static inline const struct ix_entry *ix_canonical(const struct ix_map *m, const struct ix_entry *e)
{
	return (e->flags & IXE_HARDLINK) ? &m->entries[e->ref] : e;
}

static inline uint32_t ix_canonical_no(const struct ix_map *m, uint32_t i)
{
	return (m->entries[i].flags & IXE_HARDLINK) ? (uint32_t)m->entries[i].ref : i;
}

/* The directory entry holding entry @i (0 for the root), by a binary
 * search of the dirs table; @i must be ready. */
uint32_t fs_ix_parent(const struct ix_map *m, uint32_t i);

/* Binary search among the children of directory @dir, which must be
 * ready, as must its children (fs_ix_ready of its first child).
 * Returns the entry number, or -1. */
int64_t fs_ix_lookup(const struct ix_map *m, uint32_t dir, const char *name, size_t len);

/* ---- builder (index_build.c) ---- */

/* A layer read as a stream, for strata_layer_index_stream(): its bytes in
 * order through @read, then the file @path they all ended up in names the
 * index.  The first bytes are read ahead to tell the compression. */
struct ix_stream {
	strata_read_fn read;
	void *ctx;
	const char *path;
	uint64_t total; /* bytes read so far */
	unsigned char head[8];
	size_t head_len, head_pos;
	unsigned char buf[128 * 1024];
};

struct ix_build_options {
	strata_warn_fn warn;
	void *warn_ctx;
	const char *layer_name; /* for messages */
	const char *copy_path;  /* compressed layers: write the uncompressed stream here */
	/* Compressed layers: when not NULL, receives the SHA-256 of the
	 * uncompressed stream (an OCI diff-id), computed in the same pass. */
	unsigned char *stream_sha256;
	uint64_t max_stream; /* strata_layer_options.max_layer_size */
	/* When set, the layer is read from it, not from fd (which is -1),
	 * and @src (NULL) is taken from the stream's file at its end. */
	struct ix_stream *stream;
};

/* One streaming pass over @fd (the layer file), or over opts->stream.
 * Writes the index to @index_path (through a temp file and rename). */
int fs_ix_build(int fd, const struct ix_source_id *src, const char *index_path,
                const struct ix_build_options *opts, struct strata_error *err);

const char *fs_ix_compression_name(uint32_t c);

#endif
