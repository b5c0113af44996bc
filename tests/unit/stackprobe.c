/* SPDX-License-Identifier: MIT */
/*
 * Describing what a path resolves to, the same way for the three sides of
 * the differential test: the offline resolution (strata_stack_resolve and
 * strata_stack_walk), a mount, and the reference tree, the last two read
 * through the kernel.  Two sides agree when their lines are equal.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stackgen.h"
#include "testlib.h"

static uint64_t fnv(const void *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ ((const uint8_t *)p)[i]) * 0x100000001b3ULL;
	return h;
}

static const char *err_name(int e)
{
	switch (e) {
	case ENOENT:
		return "ENOENT";
	case ENOTDIR:
		return "ENOTDIR";
	case ELOOP:
		return "ELOOP";
	case ENAMETOOLONG:
		return "ENAMETOOLONG";
	default:
		return strerror(e);
	}
}

/* Symlinks' own permissions differ between tar and Linux: not compared. */
static void describe(const struct stat *st, const char *link, size_t link_len, const void *data,
                     char *out, size_t size)
{
	unsigned perm = st->st_mode & 07777;

	if (S_ISDIR(st->st_mode))
		snprintf(out, size, "dir %04o", perm);
	else if (S_ISLNK(st->st_mode))
		snprintf(out, size, "link -> %.*s", (int)link_len, link);
	else if (S_ISREG(st->st_mode))
		snprintf(out, size, "file %04o %lld %016llx", perm, (long long)st->st_size,
		         (unsigned long long)fnv(data, (size_t)st->st_size));
	else
		snprintf(out, size, "other %o", st->st_mode);
}

void sg_probe_stack(struct strata_layer *const *layers, size_t n, const char *path, int follow,
                    char *out, size_t size)
{
	struct strata_entry e;
	struct strata_error err;
	char data[256] = "";
	int rc =
	    strata_stack_resolve(layers, n, path, follow ? STRATA_RESOLVE_FOLLOW : 0, &e, &err);

	if (rc < 0) {
		ck_assert_int_eq(rc, -1);
		snprintf(out, size, "error %s", err_name(err.sys_errno));
		return;
	}
	if (S_ISREG(e.st.st_mode))
		ck_assert_int_eq(strata_entry_pread(&e, data, sizeof(data), 0, NULL), e.st.st_size);
	describe(&e.st, e.link, e.link_len, data, out, size);
}

static int open_in_root(int rootfd, const char *path, int follow)
{
	struct open_how how = {
	    .flags = O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW),
	    .resolve = RESOLVE_IN_ROOT,
	};

	int fd = -1;

	/* EAGAIN: the kernel could not rule out a race on ".." under
	 * RESOLVE_IN_ROOT (seqlock retry), and asks the caller to try again. */
	for (int i = 0; i < 100; i++) {
		fd = (int)syscall(SYS_openat2, rootfd, *path ? path : ".", &how, sizeof(how));
		if (fd >= 0 || errno != EAGAIN)
			break;
	}
	return fd;
}

void sg_probe_kernel(int rootfd, const char *path, int follow, char *out, size_t size)
{
	char link[4096], data[256] = "", proc[64];
	ssize_t ll = 0;
	struct stat st;
	int fd = open_in_root(rootfd, path, follow);

	if (fd < 0) {
		snprintf(out, size, "error %s", err_name(errno));
		return;
	}
	ck_assert_int_eq(fstat(fd, &st), 0);
	if (S_ISLNK(st.st_mode)) {
		ll = readlinkat(fd, "", link, sizeof(link));
		ck_assert_int_ge(ll, 0);
	} else if (S_ISREG(st.st_mode)) {
		int rd;

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		rd = open(proc, O_RDONLY | O_CLOEXEC);
		ck_assert_int_ge(rd, 0);
		ck_assert_int_eq(read(rd, data, sizeof(data)), st.st_size);
		close(rd);
	}
	close(fd);
	describe(&st, link, (size_t)ll, data, out, size);
}

/* ---- listings ---- */

struct text {
	char *p;
	size_t len, cap;
};

static void text_add(struct text *t, const char *path, const char *what)
{
	size_t need = strlen(path) + strlen(what) + 3;

	if (t->len + need + 1 > t->cap) {
		t->cap = (t->len + need + 1) * 2;
		t->p = realloc(t->p, t->cap);
		ck_assert_ptr_nonnull(t->p);
	}
	t->len += (size_t)sprintf(t->p + t->len, "%s: %s\n", path, what);
}

static int list_entry(void *ctx, const struct strata_entry *e)
{
	char data[256] = "", what[4200];

	if (S_ISREG(e->st.st_mode))
		ck_assert_int_eq(strata_entry_pread(e, data, sizeof(data), 0, NULL), e->st.st_size);
	describe(&e->st, e->link, e->link_len, data, what, sizeof(what));
	text_add(ctx, e->path, what);
	return 0;
}

char *sg_list_stack(struct strata_layer *const *layers, size_t n)
{
	struct text t = {0};

	ck_assert_int_eq(strata_stack_walk(layers, n, "", true, list_entry, &t, NULL, NULL), 0);
	return t.p ? t.p : strdup("");
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_dir(const char *root, const char *rel, struct text *t, int depth);

static void list_one(const char *root, const char *rel, struct text *t, int depth)
{
	char full[8192 + 16], what[4200], link[4096], data[256] = "";
	struct stat st;
	ssize_t ll = 0;

	snprintf(full, sizeof(full), "%s/%s", root, rel);
	ck_assert_int_eq(lstat(full, &st), 0);
	if (S_ISLNK(st.st_mode))
		ll = readlink(full, link, sizeof(link));
	if (S_ISREG(st.st_mode)) {
		int fd = open(full, O_RDONLY | O_CLOEXEC);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(read(fd, data, sizeof(data)), st.st_size);
		close(fd);
	}
	describe(&st, link, ll > 0 ? (size_t)ll : 0, data, what, sizeof(what));
	text_add(t, rel, what);
	if (S_ISDIR(st.st_mode))
		list_dir(root, rel, t, depth + 1);
}

static void list_dir(const char *root, const char *rel, struct text *t, int depth)
{
	char full[8192 + 16], sub[8192];
	char *names[256];
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	ck_assert_int_lt(depth, 32);
	snprintf(full, sizeof(full), "%s/%s", root, rel);
	d = opendir(full);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) && n < 256)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), by_name);
	for (size_t i = 0; i < n; i++) {
		snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", names[i]);
		list_one(root, sub, t, depth);
		free(names[i]);
	}
}

char *sg_list_kernel(const char *root)
{
	struct text t = {0};

	list_one(root, "", &t, 0); /* the root first, as strata_stack_walk */
	return t.p ? t.p : strdup("");
}
