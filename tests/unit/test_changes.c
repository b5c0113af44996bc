/* SPDX-License-Identifier: MIT */
/*
 * What changed, both ways the store tells it: the diff rules
 * (layerstore/diff.c: A/C/D, a directory C when something below changed,
 * type, mode, owner, xattr, link and content comparisons) and the commit
 * layer writer (layerstore/commit_layer.c: whiteouts, opaque directories,
 * hard links, xattrs, sparse files, sockets left out, reproducible times),
 * whose tar is read back here with libarchive itself.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "store_fixture.h"

static const struct tl_entry lower_ents[] = {
    {.type = 'd', .name = "etc"},
    {.type = 'f', .name = "etc/content", .data = "aaaa", .size = 4},
    {.type = 'f', .name = "etc/gone", .data = "x", .size = 1},
    {.type = 'l', .name = "etc/link", .target = "one"},
    {.type = 'f', .name = "etc/mode", .data = "x", .size = 1},
    {.type = 'f', .name = "etc/owner", .data = "x", .size = 1},
    {.type = 'f', .name = "etc/same", .data = "same\n", .size = 5},
    {.type = 'f', .name = "etc/type", .data = "x", .size = 1},
    {.type = 'f', .name = "etc/xattr", .data = "x", .size = 1},
    {.type = 'd', .name = "quiet"},
    {.type = 'f', .name = "quiet/file", .data = "q", .size = 1},
    {.type = 'f', .name = "readd", .data = "again", .size = 5},
};

static const struct tl_xattr an_xattr[] = {{"user.k", "v", 1}};

static const struct tl_entry upper_ents[] = {
    {.type = 'd', .name = "etc"},
    {.type = 'f', .name = "etc/content", .data = "bbbb", .size = 4},
    {.type = 'f', .name = "etc/.wh.gone", .size = 0, .data = ""},
    {.type = 'l', .name = "etc/link", .target = "two"},
    {.type = 'f', .name = "etc/mode", .data = "x", .size = 1, .perm = 0600},
    {.type = 'f', .name = "etc/new", .data = "n", .size = 1},
    {.type = 'f', .name = "etc/owner", .data = "x", .size = 1, .uid = 5},
    {.type = 'd', .name = "etc/type"},
    {.type = 'f', .name = "etc/type/inner", .data = "i", .size = 1},
    {.type = 'f', .name = "etc/xattr", .data = "x", .size = 1, .xattrs = an_xattr, .n_xattrs = 1},
    /* The same bytes again, from another layer: no change. */
    {.type = 'f', .name = "readd", .data = "again", .size = 5},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Two images: "a" (lower_ents) and "b" (a with upper_ents on top). */
static void two_images(struct sfx *f)
{
	char digest[STORE_DIGEST_MAX];

	sfx_image(f, "a", lower_ents, N(lower_ents), digest);
	sfx_stack(f, "a", "b", upper_ents, N(upper_ents), digest);
}

/* The changes as strata diff -v prints them. */
static char *render(const struct store_change *v, size_t n)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	for (size_t i = 0; i < n; i++) {
		const char *sep = " (";

		fprintf(f, "%c /%s", v[i].kind, v[i].path);
		for (unsigned b = 0; b < STORE_CHANGE_BITS; b++)
			if (v[i].what & (1u << b)) {
				fprintf(f, "%s%s", sep, store_change_name(b));
				sep = ", ";
			}
		fputs(v[i].what ? ")\n" : "\n", f);
	}
	fclose(f);
	return out;
}

static void expect_diff(struct sfx *f, const char *from, const char *to, const char *want)
{
	struct strata_error err = {0};
	struct store_source a, b;
	struct store_change *v;
	size_t n;
	char *have;

	if (from)
		sfx_source(f, from, STORE_SOURCE_ANY, &a);
	sfx_source(f, to, STORE_SOURCE_ANY, &b);
	ck_assert_msg(store_diff(from ? &a : NULL, &b, &v, &n, &err) == 0, "%s", err.msg);
	have = render(v, n);
	ck_assert_msg(strcmp(have, want) == 0, "%s -> %s:\n%s\nexpected:\n%s", from, to, have,
	              want);
	free(have);
	store_changes_free(v, n);
	if (from)
		store_source_close(&a);
	store_source_close(&b);
}

START_TEST(test_diff_rules)
{
	struct sfx f;

	sfx_open(&f, "diff");
	two_images(&f);
	expect_diff(&f, "a", "b",
	            "C /etc (contents)\n"
	            "C /etc/content (content)\n"
	            "D /etc/gone\n"
	            "C /etc/link (link)\n"
	            "C /etc/mode (mode)\n"
	            "A /etc/new\n"
	            "C /etc/owner (owner)\n"
	            "C /etc/type (type)\n"
	            "A /etc/type/inner\n"
	            "C /etc/xattr (xattrs)\n");
	sfx_close(&f);
}
END_TEST

START_TEST(test_diff_reverse_and_same)
{
	struct sfx f;

	sfx_open(&f, "reverse");
	two_images(&f);
	expect_diff(&f, "b", "a",
	            "C /etc (contents)\n"
	            "C /etc/content (content)\n"
	            "A /etc/gone\n"
	            "C /etc/link (link)\n"
	            "C /etc/mode (mode)\n"
	            "D /etc/new\n"
	            "C /etc/owner (owner)\n"
	            "C /etc/type (type)\n"
	            "C /etc/xattr (xattrs)\n");
	expect_diff(&f, "a", "a", "");
	expect_diff(&f, "b", "b", "");
	sfx_close(&f);
}
END_TEST

START_TEST(test_diff_directory_itself)
{
	static const struct tl_entry top[] = {
	    {.type = 'd', .name = "quiet", .perm = 0700},
	};
	char digest[STORE_DIGEST_MAX];
	struct sfx f;

	sfx_open(&f, "dirmode");
	sfx_image(&f, "a", lower_ents, N(lower_ents), digest);
	sfx_stack(&f, "a", "c", top, N(top), digest);
	/* Its own change, and nothing below. */
	expect_diff(&f, "a", "c", "C /quiet (mode)\n");
	sfx_close(&f);
}
END_TEST

/* A container of image "a" whose upper holds @setup's files. */
static char *container_of_a(struct sfx *f, const char *name)
{
	char digest[STORE_DIGEST_MAX];
	struct strata_error err = {0};
	struct store_image *img = NULL;
	char *dir;

	ck_assert_int_eq(store_resolve(f->s, "a", &img, &err), 0);
	snprintf(digest, sizeof(digest), "%s", img->digest);
	store_image_free(img);
	dir = sfx_container(f, name, "a", digest);
	return dir;
}

static void put(const char *dir, const char *rel, const char *text)
{
	char *p = sfx_upper(dir, rel);

	tl_write_file(p, text, strlen(text));
	free(p);
}

static void put_dir(const char *dir, const char *rel, mode_t mode)
{
	char *p = sfx_upper(dir, rel);

	ck_assert_int_eq(mkdir(p, mode), 0);
	ck_assert_int_eq(chmod(p, mode), 0);
	free(p);
}

START_TEST(test_diff_container)
{
	char digest[STORE_DIGEST_MAX], *dir;
	struct sfx f;

	sfx_open(&f, "cdiff");
	sfx_image(&f, "a", lower_ents, N(lower_ents), digest);
	dir = container_of_a(&f, "c1");
	put_dir(dir, "etc", 0755);
	put(dir, "etc/added", "new\n");
	put(dir, "etc/.wh.same", "");
	put(dir, "etc/content", "cccc");
	/* What the init made to mount over is no change of the container's. */
	put(dir, "etc/hosts", "");
	store_container_add_mount_points(dir, "etc/hosts\n");
	expect_diff(&f, NULL, "c1",
	            "C /etc (contents)\n"
	            "A /etc/added\n"
	            "C /etc/content (content)\n"
	            "D /etc/same\n");
	/* Against the image by name, the same. */
	expect_diff(&f, "a", "c1",
	            "C /etc (contents)\n"
	            "A /etc/added\n"
	            "C /etc/content (content)\n"
	            "D /etc/same\n");
	free(dir);
	sfx_close(&f);
}
END_TEST

START_TEST(test_diff_needs_container)
{
	struct strata_error err = {0};
	char digest[STORE_DIGEST_MAX];
	struct store_source b;
	struct store_change *v;
	struct sfx f;
	size_t n;

	sfx_open(&f, "needc");
	sfx_image(&f, "a", lower_ents, N(lower_ents), digest);
	sfx_source(&f, "a", STORE_SOURCE_ANY, &b);
	ck_assert_int_eq(store_diff(NULL, &b, &v, &n, &err), -1);
	ck_assert_str_eq(err.msg, "a: not a container");
	store_source_close(&b);
	sfx_close(&f);
}
END_TEST

/* ---- the commit writer ---- */

struct member {
	char path[256];
	mode_t type;
	int64_t size, mtime;
	char hardlink[256];
	char xattr[64]; /* "name=value" of the first */
	int sparse_runs;
	char data[8];    /* the first bytes of data */
	int64_t data_at; /* where the first data run starts */
};

/* Reads the layer tar of @l back with libarchive. */
static size_t read_tar(struct sfx *f, const struct store_layer *l, struct member *m, size_t max)
{
	char path[4096];
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", f->dir, l->digest + 7);
	archive_read_support_format_tar(a);
	ck_assert_int_eq(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
	while (n < max && archive_read_next_header(a, &ae) == ARCHIVE_OK) {
		struct member *e = &m[n++];
		const char *name;
		const void *value, *buf;
		size_t size;
		la_int64_t off;

		memset(e, 0, sizeof(*e));
		snprintf(e->path, sizeof(e->path), "%s", archive_entry_pathname(ae));
		e->type = archive_entry_filetype(ae);
		e->size = archive_entry_size(ae);
		e->mtime = archive_entry_mtime(ae);
		if (archive_entry_hardlink(ae))
			snprintf(e->hardlink, sizeof(e->hardlink), "%s",
			         archive_entry_hardlink(ae));
		if (archive_entry_xattr_reset(ae) > 0 &&
		    archive_entry_xattr_next(ae, &name, &value, &size) == ARCHIVE_OK)
			snprintf(e->xattr, sizeof(e->xattr), "%s=%.*s", name, (int)size,
			         (const char *)value);
		e->sparse_runs = archive_entry_sparse_reset(ae);
		e->data_at = -1;
		if (archive_read_data_block(a, &buf, &size, &off) == ARCHIVE_OK && size) {
			memcpy(e->data, buf, size < sizeof(e->data) ? size : sizeof(e->data));
			e->data_at = off;
		}
	}
	archive_read_free(a);
	return n;
}

static const struct member *member(const struct member *m, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(m[i].path, path) == 0)
			return &m[i];
	return NULL;
}

/* An upper with one of everything the writer handles. */
static char *rich_container(struct sfx *f)
{
	char *dir = container_of_a(f, "rich"), *p;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, sock;

	put_dir(dir, "etc", 0755);
	put(dir, "etc/.wh.same", "");
	put_dir(dir, "quiet", 0755);
	put(dir, "quiet/.wh..wh..opq", "");
	put(dir, "quiet/fresh", "f");
	put(dir, "hl1", "link me");
	p = sfx_upper(dir, "hl1");
	{
		char *p2 = sfx_upper(dir, "hl2");

		ck_assert_int_eq(link(p, p2), 0);
		free(p2);
	}
	free(p);
	put(dir, "xa", "x");
	p = sfx_upper(dir, "xa");
	ck_assert_msg(setxattr(p, "user.note", "hello", 5, 0) == 0, "user xattrs: %s",
	              strerror(errno));
	free(p);
	p = sfx_upper(dir, "sparse");
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "data", 4, 512 * 1024), 4);
	ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
	close(fd);
	free(p);
	p = sfx_upper(dir, "sock");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p);
	sock = socket(AF_UNIX, SOCK_STREAM, 0);
	/* A path too long for sun_path just leaves the socket out of the test. */
	if (strlen(p) < sizeof(sa.sun_path))
		ck_assert_int_eq(bind(sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(sock);
	free(p);
	return dir;
}

static void commit_layer(struct sfx *f, const char *name, struct store_layer_options *o,
                         struct store_layer *out)
{
	struct strata_error err = {0};
	struct store_source src;

	sfx_source(f, name, STORE_SOURCE_CONTAINER, &src);
	ck_assert_msg(store_commit_layer(f->s, &src, o, out, &err) == 0, "%s", err.msg);
	store_source_close(&src);
}

START_TEST(test_commit_layer_members)
{
	struct store_layer_options o = {.compression = STORE_COMPRESS_NONE, .warn = tl_warn_cb};
	struct tl_warnings w = {0};
	char digest[STORE_DIGEST_MAX], *dir;
	struct store_layer l = {0};
	const struct member *e;
	struct member m[64];
	struct sfx f;
	size_t n;

	o.warn_ctx = &w;
	sfx_open(&f, "commit");
	sfx_image(&f, "a", lower_ents, N(lower_ents), digest);
	dir = rich_container(&f);
	commit_layer(&f, "rich", &o, &l);
	ck_assert_str_eq(l.digest, l.diff_id); /* uncompressed */
	n = read_tar(&f, &l, m, 64);
	e = member(m, n, "etc/.wh.same");
	ck_assert_msg(e && e->type == AE_IFREG && e->size == 0, "whiteout");
	e = member(m, n, "quiet/.wh..wh..opq");
	ck_assert_msg(e && e->type == AE_IFREG && e->size == 0, "opaque marker");
	ck_assert_ptr_nonnull(member(m, n, "quiet/fresh"));
	ck_assert_ptr_null(member(m, n, "quiet/file"));
	e = member(m, n, "hl1");
	ck_assert(e && !e->hardlink[0] && e->size == 7 && memcmp(e->data, "link me", 7) == 0);
	e = member(m, n, "hl2");
	ck_assert_msg(e && strcmp(e->hardlink, "hl1") == 0, "hl2 links to '%s'",
	              e ? e->hardlink : "?");
	e = member(m, n, "xa");
	ck_assert_msg(e && strcmp(e->xattr, "user.note=hello") == 0, "xattr '%s'",
	              e ? e->xattr : "?");
	e = member(m, n, "sparse");
	ck_assert(e && e->size == 1 << 20);
	ck_assert_int_ge(e->sparse_runs, 1);
	ck_assert_int_eq(e->data_at, 512 * 1024);
	ck_assert(memcmp(e->data, "data", 4) == 0);
	/* Entries come sorted, parents first. */
	for (size_t i = 1; i < n; i++)
		ck_assert_msg(strcmp(m[i - 1].path, m[i].path) < 0, "%s before %s", m[i - 1].path,
		              m[i].path);
	ck_assert_ptr_null(member(m, n, "sock"));
	ck_assert_msg(tl_warned(&w, "commit: /sock: a socket, left out"), "%s",
	              w.all ? w.all : "(no warning)");
	tl_warnings_free(&w);
	free(l.media_type);
	free(dir);
	sfx_close(&f);
}
END_TEST

START_TEST(test_commit_layer_reproducible)
{
	struct store_layer_options o = {
	    .compression = STORE_COMPRESS_GZIP, .reproducible = true, .epoch = 1000};
	struct store_layer one = {0}, two = {0}, plain = {0};
	char digest[STORE_DIGEST_MAX], *dir;
	struct member m[64];
	struct sfx f;
	size_t n;

	sfx_open(&f, "repro");
	sfx_image(&f, "a", lower_ents, N(lower_ents), digest);
	dir = container_of_a(&f, "c1");
	put(dir, "file", "text");
	commit_layer(&f, "c1", &o, &one);
	commit_layer(&f, "c1", &o, &two);
	ck_assert_str_eq(one.digest, two.digest);
	ck_assert_str_ne(one.digest, one.diff_id); /* gzip */
	o.compression = STORE_COMPRESS_NONE;
	commit_layer(&f, "c1", &o, &plain);
	ck_assert_str_eq(plain.diff_id, one.diff_id);
	n = read_tar(&f, &plain, m, 64);
	ck_assert_uint_ge(n, 1);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_le(m[i].mtime, 1000);
	free(one.media_type);
	free(two.media_type);
	free(plain.media_type);
	free(dir);
	sfx_close(&f);
}
END_TEST

START_TEST(test_commit_container)
{
	struct store_layer_options lo = {.compression = STORE_COMPRESS_GZIP};
	struct store_commit_options co = {.tag = "snap", .created = 0};
	struct strata_error err = {0};
	char digest[STORE_DIGEST_MAX], made[STORE_DIGEST_MAX], *dir;
	struct store_image *img = NULL;
	struct sfx f;
	int lock;

	sfx_open(&f, "ccommit");
	sfx_image(&f, "a", lower_ents, N(lower_ents), digest);
	dir = container_of_a(&f, "c1");
	put(dir, "file", "text");
	lock = store_container_lock(dir, &err);
	ck_assert_int_ge(lock, 0);
	ck_assert_int_eq(store_commit_container(f.s, "c1", &lo, &co, made, &err), -1);
	ck_assert_str_eq(err.msg, "commit: c1: still running; stop it first, so the layer is a "
	                          "consistent snapshot");
	close(lock);
	ck_assert_msg(store_commit_container(f.s, "c1", &lo, &co, made, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_resolve(f.s, "snap", &img, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(img->digest, made);
	ck_assert_uint_eq(img->n_layers, 2);
	store_image_free(img);
	ck_assert_int_eq(store_commit_container(f.s, "nope", &lo, &co, made, &err), -1);
	ck_assert_str_eq(err.msg, "nope: no such container");
	/* The new image diffs from the old as the container did. */
	expect_diff(&f, "a", "snap", "A /file\n");
	free(dir);
	sfx_close(&f);
}
END_TEST

static Suite *changes_suite(void)
{
	Suite *s = suite_create("changes");
	TCase *d = tcase_create("diff");
	TCase *c = tcase_create("commit");

	tcase_set_timeout(d, 60);
	tcase_set_timeout(c, 60);
	tcase_add_test(d, test_diff_rules);
	tcase_add_test(d, test_diff_reverse_and_same);
	tcase_add_test(d, test_diff_directory_itself);
	tcase_add_test(d, test_diff_container);
	tcase_add_test(d, test_diff_needs_container);
	tcase_add_test(c, test_commit_layer_members);
	tcase_add_test(c, test_commit_layer_reproducible);
	tcase_add_test(c, test_commit_container);
	suite_add_tcase(s, d);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	return tl_run_suite(changes_suite());
}
