/* SPDX-License-Identifier: MIT */
/*
 * A lazy blob found bad: whole, its digest is not the manifest's, so the
 * index artifact's chunk table described other bytes (lazy_blob.h).
 * strata/lazy/<hex>.bad says why.  It outlives the blob's other lazy
 * files, which go: what a lying artifact said is never served again.
 * While the blob is not whole in blobs/, opening the layer fails with the
 * reason; mounts that have it open fail its reads within a second (so the
 * mark stays after a pull got the blob whole: they still read the lie);
 * `pull --lazy` takes it whole.  gc removes it with the blob's image.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lazy_blob.h"
#include "sys.h"

int store_lazy_write_mark(struct store *s, const char *digest, const char *suffix, const char *text,
                          struct strata_error *err)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	int fd, rc = 0;

	(void)mkdirat(s->root_fd, "strata/lazy", 0755);
	if (store_lazy_path(s, digest, suffix, path, sizeof(path)))
		return strata_fail(err, STRATA_ERR_SYS, ENAMETOOLONG, "%s: %s", s->root,
		                   strerror(ENAMETOOLONG));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || sys_write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0 ||
	    rename(tmp, path) < 0)
		rc = strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (rc)
		unlink(tmp);
	return rc;
}

bool store_lazy_read_mark(struct store *s, const char *digest, const char *suffix, char *text,
                          size_t size)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	if (store_lazy_path(s, digest, suffix, path, sizeof(path)))
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (text && size) {
		n = sys_pread_full(fd, text, size - 1, 0);
		text[n > 0 ? n : 0] = '\0';
	}
	close(fd);
	return true;
}

int store_lazy_mark_bad(struct store *s, const char *digest, const char *why,
                        struct strata_error *err)
{
	if (store_lazy_write_mark(s, digest, ".bad", why, err))
		return -1;
	store_lazy_remove(s, digest);
	return 0;
}

bool store_lazy_is_bad(struct store *s, const char *digest, char *why, size_t size)
{
	return store_lazy_read_mark(s, digest, ".bad", why, size);
}
