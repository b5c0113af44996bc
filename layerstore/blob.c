/* SPDX-License-Identifier: MIT */
/*
 * Blobs, as git keeps objects: hashed while they are written to an unnamed
 * temp file, fsync'd, then linked under their digest.  A reader never sees a
 * partial blob, and a name is trusted only after the bytes were hashed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "crypto_dl.h"
#include "store.h"
#include "sys.h"

int store_openat(int dirfd, const char *path, int flags)
{
	/* Nothing in a store or a layout being imported may lead outside it:
	 * no symlinks at all, no "..", no absolute paths. */
	struct open_how how = {
	    .flags = (uint64_t)(flags | O_CLOEXEC),
	    .mode = (flags & O_CREAT) ? 0644 : 0,
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));

	return (int)fd;
}

static int sys_err(struct strata_error *err, const char *what, int en)
{
	return strata_fail(err, STRATA_ERR_SYS, en, "%s: %s", what, strerror(en));
}

int store_blob_writer_start(struct store *s, struct blob_writer *w, struct strata_error *err)
{
	memset(w, 0, sizeof(*w));
	w->store = s;
	w->fd = -1;
	if (!(w->sha = sha256_new(err)))
		return -1;
	w->fd = openat(s->tmp_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		int en = errno;

		store_blob_writer_abort(w);
		return sys_err(err, "store temp file", en);
	}
	return 0;
}

int store_blob_writer_write(struct blob_writer *w, const void *buf, size_t len,
                            struct strata_error *err)
{
	if (sys_write_all(w->fd, buf, len) < 0)
		return sys_err(err, "writing a blob", errno);
	if (sha256_update(w->sha, buf, len) < 0)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "sha256 failed");
	w->size += len;
	return 0;
}

int store_blob_writer_finish(struct blob_writer *w, struct strata_error *err)
{
	unsigned char md[32];

	if (sha256_final(w->sha, md) < 0)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "sha256 failed");
	store_digest_format(md, w->digest);
	return 0;
}

int store_digest_fd(int fd, char out[STORE_DIGEST_MAX])
{
	/* From the heap: a thread-local array would be zeroed at every
	 * thread's creation in every strata process (static TLS). */
	const size_t buf_size = 1 << 17;
	unsigned char md[32];
	struct sha256 *sha = NULL;
	char *buf = NULL;
	off_t off = 0;
	ssize_t n;
	int rc = -1;

	if (!(sha = sha256_new(NULL)))
		return -1; /* errno says why */
	if (!(buf = malloc(buf_size))) {
		errno = ENOMEM;
		goto out;
	}
	while ((n = sys_pread_full(fd, buf, buf_size, off)) > 0) {
		if (sha256_update(sha, buf, (size_t)n) < 0)
			goto out;
		off += n;
	}
	if (n == 0 && sha256_final(sha, md) == 0) {
		store_digest_format(md, out);
		rc = 0;
	}
out:
	sha256_free(sha);
	free(buf);
	return rc;
}

bool store_blob_stored(struct store *s, struct blob_writer *w)
{
	char have[STORE_DIGEST_MAX];
	struct stat st;
	int fd;

	if (w->stored)
		return w->stored > 0;
	w->stored = -1;
	/* Same size is not enough: trust no name, rehash what is there. */
	fd = openat(s->blobs_fd, digest_hex(w->digest),
	            O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size == w->size && store_digest_fd(fd, have) == 0 &&
	    strcmp(have, w->digest) == 0)
		w->stored = 1;
	if (fd >= 0)
		close(fd);
	return w->stored > 0;
}

int store_blob_writer_commit(struct blob_writer *w, struct strata_error *err)
{
	struct store *s = w->store;
	const char *hex = digest_hex(w->digest);
	char proc[64], tmp_name[64];
	static unsigned counter;

	/* Same digest, same size: the same bytes are there already.  Keeping
	 * that file keeps the layer indexes that name its inode valid. */
	if (store_blob_stored(s, w))
		return 0;
	if (fsync(w->fd) < 0)
		return sys_err(err, "writing a blob", errno);
	/* Link under a private name, then rename over whatever holds the
	 * digest's name (a damaged copy, say): atomic either way. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", w->fd);
	snprintf(tmp_name, sizeof(tmp_name), "link.%ld.%u", (long)getpid(),
	         __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
	if (linkat(AT_FDCWD, proc, s->tmp_fd, tmp_name, AT_SYMLINK_FOLLOW) < 0)
		return sys_err(err, "storing a blob", errno);
	if (renameat(s->tmp_fd, tmp_name, s->blobs_fd, hex) < 0) {
		int en = errno;

		unlinkat(s->tmp_fd, tmp_name, 0);
		return sys_err(err, "storing a blob", en);
	}
	if (fsync(s->blobs_fd) < 0)
		return sys_err(err, "storing a blob", errno);
	w->stored = 1; /* a second commit (one blob, two images) is a no-op */
	return 0;
}

void store_blob_writer_abort(struct blob_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	sha256_free(w->sha);
	w->sha = NULL;
}

int store_blob_put(struct store *s, const void *buf, size_t len, char digest[STORE_DIGEST_MAX],
                   struct strata_error *err)
{
	struct blob_writer w;
	int rc;

	if (store_blob_writer_start(s, &w, err))
		return -1;
	rc = store_blob_writer_write(&w, buf, len, err);
	if (rc == 0)
		rc = store_blob_writer_finish(&w, err);
	if (rc == 0)
		rc = store_blob_writer_commit(&w, err);
	if (rc == 0)
		memcpy(digest, w.digest, STORE_DIGEST_MAX);
	store_blob_writer_abort(&w);
	return rc;
}

int store_blob_open(struct store *s, const char *digest, uint64_t *size, struct strata_error *err)
{
	struct stat st;
	int fd;

	if (!store_digest_valid(digest))
		return strata_fail(err, STRATA_ERR_CORRUPT, 0, "'%s': not a sha256 digest", digest);
	/* O_NONBLOCK: a FIFO planted under a digest's name must not hang us. */
	fd =
	    openat(s->blobs_fd, digest_hex(digest), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int en = errno;

		if (en == ENOENT)
			return strata_fail(err, STRATA_ERR_CORRUPT, en, "blob %s: missing", digest);
		if (en == ELOOP)
			return strata_fail(err, STRATA_ERR_CORRUPT, en, "blob %s: a symlink",
			                   digest);
		return strata_fail(err, STRATA_ERR_SYS, en, "blob %s: %s", digest, strerror(en));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return strata_fail(err, STRATA_ERR_CORRUPT, 0, "blob %s: not a regular file",
		                   digest);
	}
	if (size)
		*size = (uint64_t)st.st_size;
	return fd;
}

bool store_blob_exists(struct store *s, const char *digest)
{
	struct stat st;

	return store_digest_valid(digest) &&
	       fstatat(s->blobs_fd, digest_hex(digest), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(st.st_mode);
}

char *store_blob_read_json(struct store *s, const char *digest, uint64_t expect_size, size_t *len,
                           struct strata_error *err)
{
	char actual[STORE_DIGEST_MAX];
	uint64_t size;
	char *buf = NULL;
	ssize_t n;
	int fd = store_blob_open(s, digest, &size, err);

	if (fd < 0)
		return NULL;
	if (expect_size != UINT64_MAX && size != expect_size) {
		strata_fail(err, STRATA_ERR_CORRUPT, 0, "blob %s: %llu bytes, descriptor says %llu",
		            digest, (unsigned long long)size, (unsigned long long)expect_size);
		goto out;
	}
	if (size > JSON_BLOB_MAX) {
		strata_fail(err, STRATA_ERR_CORRUPT, 0, "blob %s: %llu bytes, too big for JSON",
		            digest, (unsigned long long)size);
		goto out;
	}
	buf = malloc(size + 1);
	if (!buf) {
		strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "blob %s: out of memory", digest);
		goto out;
	}
	n = sys_pread_full(fd, buf, size, 0);
	if (n < 0 || (uint64_t)n != size) {
		strata_fail(err, STRATA_ERR_SYS, n < 0 ? errno : EIO, "blob %s: short read",
		            digest);
		goto fail;
	}
	buf[size] = '\0';
	if (!s->trust_blobs) {
		if (dl_crypto_load(err))
			goto fail;
		if (store_digest_buffer(buf, size, actual)) {
			strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "blob %s: sha256 failed",
			            digest);
			goto fail;
		}
		if (strcmp(actual, digest) != 0) {
			strata_fail(err, STRATA_ERR_CORRUPT, 0, "blob %s: content has digest %s",
			            digest, actual);
			goto fail;
		}
	}
	*len = size;
	goto out;
fail:
	free(buf);
	buf = NULL;
out:
	close(fd);
	return buf;
}

int store_blob_path(struct store *s, const char *digest, char *out, size_t size)
{
	if (snprintf(out, size, "%s/blobs/sha256/%s", s->root, digest_hex(digest)) >= (int)size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}
