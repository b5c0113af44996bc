/* SPDX-License-Identifier: MIT */
/*
 * libstrata-store (layerstore/): digests, path and reference normalization,
 * opening and creating a layout, the blob writer, index.json and tags,
 * importing bare layers and OCI layouts, layers opened for a mount, gc and
 * fsck.  Each test works on a fresh store in its own temp directory.
 *
 * Expected digests are computed here with OpenSSL's EVP directly, never with
 * the store's own digest helpers, so a wrong hash in the store cannot agree
 * with itself.
 *
 * The "known-bugs" case holds tests of store bugs found while writing this
 * suite; they fail until the store is fixed, so they run only with
 * STRATA_KNOWN_BUGS=1 (then move them to the main case).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "import.h"
#include "store.h"
#include "testlib.h"

/* ---- helpers ---- */

struct fx {
	char *dir; /* the store's root: an empty temp dir when opened */
	char *src; /* a second temp dir for things to import */
	struct store *s;
};

static void fx_open(struct fx *f, const char *tag)
{
	struct strata_error err = {0};

	memset(f, 0, sizeof(*f));
	f->dir = tl_mkdtemp(tag);
	f->src = tl_mkdtemp("src");
	ck_assert_msg(store_open(f->dir, true, &f->s, &err) == 0, "%s", err.msg);
}

static void fx_close(struct fx *f)
{
	store_close(f->s);
	tl_rmrf(f->dir);
	tl_rmrf(f->src);
	free(f->dir);
	free(f->src);
}

/* A new handle on the same store.  gc and fsck each get one (see
 * bug_gc_twice and bug_fsck_twice for why). */
static void fx_reopen(struct fx *f)
{
	struct strata_error err = {0};

	store_close(f->s);
	f->s = NULL;
	ck_assert_msg(store_open(f->dir, true, &f->s, &err) == 0, "%s", err.msg);
}

/* "sha256:<hex>" of @len bytes, by EVP alone. */
static void sha256_of(const void *buf, size_t len, char out[STORE_DIGEST_MAX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	ck_assert_int_eq(EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL), 1);
	ck_assert_uint_eq(n, 32);
	strcpy(out, "sha256:");
	for (unsigned i = 0; i < n; i++)
		sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

static void sha256_file(const char *path, char out[STORE_DIGEST_MAX])
{
	size_t len;
	uint8_t *buf = tl_read_file(path, &len);

	sha256_of(buf, len, out);
	free(buf);
}

/* A file's content, NUL-terminated. */
static char *read_text(const char *path)
{
	size_t len;
	char *buf = (char *)tl_read_file(path, &len);

	buf[len] = '\0';
	return buf;
}

static char *store_file(struct fx *f, const char *rel)
{
	return tl_path(f->dir, rel);
}

static int count_sub(struct fx *f, const char *rel)
{
	char *p = store_file(f, rel);
	int n = tl_count_dir(p);

	free(p);
	return n;
}

/* Cache entries (indexes and copies) in strata/layers; the .lock files
 * that serialize building them are not entries. */
static int count_caches(struct fx *f)
{
	char *p = store_file(f, "strata/layers");
	DIR *d = opendir(p);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d))) {
		size_t len = strlen(de->d_name);

		n += len > 4 && (strcmp(de->d_name + len - 4, ".idx") == 0 ||
		                 strcmp(de->d_name + len - 4, ".tar") == 0);
	}
	if (d)
		closedir(d);
	free(p);
	return n;
}

static char *blob_file(struct fx *f, const char *digest)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "blobs/sha256/%s", digest + 7);
	return store_file(f, rel);
}

static bool contains(const char *hay, const char *needle)
{
	return hay && needle && strstr(hay, needle) != NULL;
}

/* index.json, one update under its lock. */
static void index_add(struct store *s, const char *digest, uint64_t size, const char *name)
{
	struct strata_error err = {0};
	json_t *index;

	ck_assert_msg(store_index_lock(s, &index, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_index_add(index, digest, size, MT_OCI_MANIFEST, name, &err) == 0, "%s",
	              err.msg);
	ck_assert_msg(store_index_save(s, index, &err) == 0, "%s", err.msg);
	store_index_unlock(s, index);
}

/* store_list as "name@hex8,name@hex8,..." ("-" for an untagged entry). */
static char *listing(struct store *s)
{
	struct strata_error err = {0};
	struct store_entry *e = NULL;
	size_t n = 0;
	char *out = calloc(1, 4096);

	ck_assert_msg(store_list(s, &e, &n, &err) == 0, "%s", err.msg);
	for (size_t i = 0; i < n; i++)
		snprintf(out + strlen(out), 4096 - strlen(out), "%s%s@%.8s", i ? "," : "",
		         e[i].name ? e[i].name : "-", e[i].digest + 7);
	store_entries_free(e, n);
	return out;
}

static void expect_listing(struct store *s, const char *want)
{
	char *have = listing(s);

	ck_assert_msg(strcmp(have, want) == 0, "index.json lists '%s', expected '%s'", have, want);
	free(have);
}

/* ---- images made of blobs (no layers), for index.json and references ---- */

static const char config_text[] = "{\"architecture\":\"amd64\",\"os\":\"linux\","
                                  "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";

static int manifest_text(char *buf, size_t size, const char *cfg_digest, unsigned serial)
{
	return snprintf(buf, size,
	                "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
	                "\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"digest\":\"%s\","
	                "\"size\":%zu},\"layers\":[],\"annotations\":{\"serial\":\"%u\"}}",
	                cfg_digest, sizeof(config_text) - 1, serial);
}

struct img {
	char digest[STORE_DIGEST_MAX];
	uint64_t size;
};

/* Stores an empty image whose manifest differs by @serial. */
static struct img make_image(struct store *s, unsigned serial)
{
	struct strata_error err = {0};
	char cfg[STORE_DIGEST_MAX], want[STORE_DIGEST_MAX], text[1024];
	struct img im;
	int len;

	ck_assert_msg(store_blob_put(s, config_text, sizeof(config_text) - 1, cfg, &err) == 0, "%s",
	              err.msg);
	len = manifest_text(text, sizeof(text), cfg, serial);
	ck_assert_msg(store_blob_put(s, text, (size_t)len, im.digest, &err) == 0, "%s", err.msg);
	sha256_of(text, (size_t)len, want);
	ck_assert_str_eq(im.digest, want);
	im.size = (uint64_t)len;
	return im;
}

static char *resolve_digest(struct store *s, const char *ref, struct strata_error *err)
{
	struct store_image *img = NULL;
	char *d;

	if (store_resolve(s, ref, &img, err))
		return NULL;
	d = strdup(img->digest);
	store_image_free(img);
	return d;
}

static void expect_resolves(struct store *s, const char *ref, const char *digest)
{
	struct strata_error err = {0};
	char *d = resolve_digest(s, ref, &err);

	ck_assert_msg(d != NULL, "resolving '%s': %s", ref, err.msg);
	ck_assert_msg(strcmp(d, digest) == 0, "'%s' resolves to %s, expected %s", ref, d, digest);
	free(d);
}

static void expect_no_resolve(struct store *s, const char *ref, const char *msg_part)
{
	struct strata_error err = {0};
	char *d = resolve_digest(s, ref, &err);

	ck_assert_msg(d == NULL, "'%s' resolved to %s, expected an error", ref, d ? d : "");
	ck_assert_msg(contains(err.msg, msg_part), "'%s': message '%s' lacks '%s'", ref, err.msg,
	              msg_part);
}

/* ---- layers to import ---- */

static const struct tl_entry layer_ents[] = {
    {.type = 'd', .name = "etc"},
    {.type = 'f', .name = "etc/hostname", .data = "box\n", .size = 4},
    {.type = 'd', .name = "bin"},
    {.type = 'f', .name = "bin/sh", .size = 70000},
    {.type = 'l', .name = "bin/bash", .target = "sh"},
};
#define N_LAYER_ENTS (sizeof(layer_ents) / sizeof(layer_ents[0]))

struct bare {
	char *path;
	char diff_id[STORE_DIGEST_MAX]; /* sha256 of the uncompressed tar */
	char digest[STORE_DIGEST_MAX];  /* sha256 of the file */
	size_t tar_len, file_len;
};

/* Writes a layer named @name in @dir: a plain tar, or that tar's exact
 * bytes compressed with @filt, so the diff-id is known. */
static struct bare write_bare_filt(const char *dir, const char *name, enum tl_filter filt)
{
	struct bare b = {0};
	char *plain = tl_path(dir, "plain-source.tar");
	uint8_t *tar;

	tl_write_layer(plain, TL_PAX, TL_NONE, layer_ents, N_LAYER_ENTS);
	tar = tl_read_file(plain, &b.tar_len);
	sha256_of(tar, b.tar_len, b.diff_id);
	b.path = tl_path(dir, name);
	if (filt != TL_NONE)
		tl_write_compressed(b.path, filt, tar, b.tar_len);
	else
		tl_write_file(b.path, tar, b.tar_len);
	free(tar);
	unlink(plain);
	free(plain);
	free(tl_read_file(b.path, &b.file_len));
	sha256_file(b.path, b.digest);
	return b;
}

static struct bare write_bare(const char *dir, const char *name, bool gzip)
{
	return write_bare_filt(dir, name, gzip ? TL_GZIP : TL_NONE);
}

static void import_one(struct fx *f, const char *path, struct store_imported *out)
{
	struct store_import_options opts = {0};
	struct strata_error err = {0};
	struct store_imported *v = NULL;
	size_t n = 0;

	ck_assert_msg(store_import(f->s, path, &opts, &v, &n, &err) == 0, "import %s: %s", path,
	              err.msg);
	ck_assert_uint_eq(n, 1);
	*out = v[0];
	out->name = v[0].name ? strdup(v[0].name) : NULL;
	store_imported_free(v, n);
}

static struct store_image *resolve(struct store *s, const char *ref)
{
	struct strata_error err = {0};
	struct store_image *img = NULL;

	ck_assert_msg(store_resolve(s, ref, &img, &err) == 0, "resolving %s: %s", ref, err.msg);
	return img;
}

/* Runs fsck; returns its count and its report (malloc'd) in *text. */
static long fsck(struct store *s, char **text)
{
	struct strata_error err = {0};
	size_t len = 0;
	FILE *mem = open_memstream(text, &len);
	long n;

	ck_assert_ptr_nonnull(mem);
	n = store_fsck(s, mem, &err);
	ck_assert_int_eq(fclose(mem), 0);
	ck_assert_msg(n >= 0, "fsck could not run: %s", err.msg);
	return n;
}

/* fsck and gc, each on a new handle. */
static long fsck_fresh(struct fx *f, char **text)
{
	fx_reopen(f);
	return fsck(f->s, text);
}

static void gc_fresh(struct fx *f, struct store_gc_result *res)
{
	struct strata_error err = {0};

	fx_reopen(f);
	ck_assert_msg(store_gc(f->s, res, &err) == 0, "%s", err.msg);
}

static void flip_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	unsigned char c;

	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(pread(fd, &c, 1, off), 1);
	c ^= 0x20;
	ck_assert_int_eq(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

/* ---- digests ---- */

START_TEST(test_digest_valid)
{
	const char *hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	char d[128];

	snprintf(d, sizeof(d), "sha256:%s", hex);
	ck_assert(store_digest_valid(d));
	ck_assert_str_eq(digest_hex(d), hex);
	/* uppercase hex is not the encoded form */
	snprintf(d, sizeof(d),
	         "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855");
	ck_assert(!store_digest_valid(d));
	snprintf(d, sizeof(d), "sha256:%.63s", hex); /* short */
	ck_assert(!store_digest_valid(d));
	snprintf(d, sizeof(d), "sha512:%s", hex); /* wrong algorithm */
	ck_assert(!store_digest_valid(d));
	snprintf(d, sizeof(d), "SHA256:%s", hex);
	ck_assert(!store_digest_valid(d));
	snprintf(d, sizeof(d), "%s", hex); /* no algorithm */
	ck_assert(!store_digest_valid(d));
	snprintf(d, sizeof(d), "sha256:%s0", hex); /* trailing junk */
	ck_assert(!store_digest_valid(d));
	snprintf(d, sizeof(d), "sha256:%s\n", hex);
	ck_assert(!store_digest_valid(d));
	snprintf(d, sizeof(d), "sha256:%.62sg0", hex); /* not hex */
	ck_assert(!store_digest_valid(d));
	ck_assert(!store_digest_valid("sha256:"));
	ck_assert(!store_digest_valid(""));
	ck_assert(!store_digest_valid(NULL));
}
END_TEST

START_TEST(test_digest_buffer)
{
	/* FIPS 180-2 test vectors */
	char d[STORE_DIGEST_MAX];
	static const char two_blocks[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	memset(d, 'x', sizeof(d));
	ck_assert_int_eq(store_digest_buffer("abc", 3, d), 0);
	ck_assert_str_eq(d,
	                 "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	ck_assert(store_digest_valid(d));
	ck_assert_int_eq(store_digest_buffer("", 0, d), 0);
	ck_assert_str_eq(d,
	                 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	ck_assert_int_eq(store_digest_buffer(two_blocks, sizeof(two_blocks) - 1, d), 0);
	ck_assert_str_eq(d,
	                 "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
END_TEST

/* ---- paths and references ---- */

static void expect_norm(const char *base, const char *path, const char *want)
{
	char *got;

	errno = 0;
	got = store_path_normalize(base, path);
	if (!want) {
		ck_assert_msg(got == NULL, "store_path_normalize('%s', '%s') = '%s', expected NULL",
		              base, path, got ? got : "");
		ck_assert_msg(errno == EPERM,
		              "store_path_normalize('%s', '%s'): errno %d, expected EPERM", base,
		              path, errno);
		return;
	}
	ck_assert_msg(got != NULL,
	              "store_path_normalize('%s', '%s') = NULL (errno %d), expected '%s'", base,
	              path, errno, want);
	ck_assert_msg(strcmp(got, want) == 0,
	              "store_path_normalize('%s', '%s') = '%s', expected '%s'", base, path, got,
	              want);
	free(got);
}

START_TEST(test_path_normalize)
{
	expect_norm("", "a/./b/../c", "a/c");
	expect_norm("", "../x", NULL);
	expect_norm("", "a/../../x", NULL);
	expect_norm("", "a/..", "");
	expect_norm("", ".", "");
	expect_norm("", "./a//b/", "a/b");
	expect_norm("", "/abs/x", "abs/x");
	/* an absolute path ignores the base */
	expect_norm("d", "/abs/x", "abs/x");
	expect_norm("d", "x", "d/x");
	/* a symlink's target, relative to the symlink's directory */
	expect_norm("blobs/sha256", "../../x/y", "x/y");
	expect_norm("a/b", "../c", "a/c");
	expect_norm("a/b", "./c/../d", "a/b/d");
	expect_norm("a", "../../x", NULL);
	expect_norm("a/b", "../../..", NULL);
	expect_norm("a/b", "../..", "");
	/* "..." and "..x" are names like any other */
	expect_norm("", ".../..x", ".../..x");
}
END_TEST

static void expect_ref(const char *ref, const char *want)
{
	char *got = store_ref_normalize(ref);

	ck_assert_msg(got != NULL, "store_ref_normalize('%s') = NULL", ref);
	ck_assert_msg(strcmp(got, want) == 0, "store_ref_normalize('%s') = '%s', expected '%s'",
	              ref, got, want);
	free(got);
}

START_TEST(test_ref_normalize)
{
	const char *dig = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	char ref[256];

	expect_ref("debian", "debian:latest");
	expect_ref("debian:12", "debian:12");
	expect_ref("docker.io/library/debian:12", "debian:12");
	expect_ref("docker.io/library/debian", "debian:latest");
	expect_ref("index.docker.io/library/debian", "debian:latest");
	expect_ref("docker.io/someone/app", "someone/app:latest");
	expect_ref("localhost/x", "x:latest");
	expect_ref("reg:5000/a/b", "reg:5000/a/b:latest");
	expect_ref("reg:5000/a/b:1.0", "reg:5000/a/b:1.0");
	expect_ref("quay.io/a/b", "quay.io/a/b:latest");
	/* digests, bare or pinned, are left as they are */
	expect_ref(dig, dig);
	snprintf(ref, sizeof(ref), "debian@%s", dig);
	expect_ref(ref, ref);
	snprintf(ref, sizeof(ref), "docker.io/library/debian@%s", dig);
	snprintf(ref + 128, 128, "debian@%s", dig);
	expect_ref(ref, ref + 128);
}
END_TEST

START_TEST(test_valid_tag)
{
	char big[300];

	ck_assert(store_valid_tag("debian"));
	ck_assert(store_valid_tag("debian:12"));
	ck_assert(store_valid_tag("reg:5000/a/b_c-d.e:1.0"));
	ck_assert(store_valid_tag("9lives"));
	ck_assert(store_valid_tag(
	    "x@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	ck_assert(!store_valid_tag(""));
	ck_assert(!store_valid_tag("has space"));
	ck_assert(!store_valid_tag(" lead"));
	ck_assert(!store_valid_tag("trail "));
	ck_assert(!store_valid_tag("tab\tx"));
	ck_assert(!store_valid_tag("new\nline"));
	ck_assert(!store_valid_tag("-lead"));
	ck_assert(!store_valid_tag(".lead"));
	ck_assert(!store_valid_tag("/lead"));
	ck_assert(!store_valid_tag(":lead"));
	ck_assert(!store_valid_tag("a\"b"));
	ck_assert(!store_valid_tag("caf\xc3\xa9"));
	memset(big, 'a', sizeof(big));
	big[255] = '\0';
	ck_assert(store_valid_tag(big)); /* 255 bytes: the limit */
	big[255] = 'a';
	big[256] = '\0';
	ck_assert(!store_valid_tag(big)); /* 256 */
}
END_TEST

/* ---- opening and creating ---- */

START_TEST(test_open_creates_layout)
{
	struct strata_error err = {0};
	char *dir = tl_mkdtemp("open"), *p;
	struct store *s = NULL;
	json_error_t jerr;
	json_t *v;
	struct stat st;

	ck_assert_int_eq(tl_count_dir(dir), 0);
	ck_assert_msg(store_open(dir, true, &s, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(store_root(s), dir);

	p = tl_path(dir, "oci-layout");
	v = json_load_file(p, JSON_REJECT_DUPLICATES, &jerr);
	ck_assert_msg(v != NULL, "%s: %s", p, jerr.text);
	ck_assert(json_is_object(v));
	ck_assert_str_eq(json_string_value(json_object_get(v, "imageLayoutVersion")), "1.0.0");
	ck_assert_uint_eq(json_object_size(v), 1);
	json_decref(v);
	free(p);

	p = tl_path(dir, "index.json");
	v = json_load_file(p, JSON_REJECT_DUPLICATES, &jerr);
	ck_assert_msg(v != NULL, "%s: %s", p, jerr.text);
	ck_assert(json_is_object(v));
	ck_assert_int_eq(json_integer_value(json_object_get(v, "schemaVersion")), 2);
	ck_assert(json_is_integer(json_object_get(v, "schemaVersion")));
	ck_assert(json_is_array(json_object_get(v, "manifests")));
	ck_assert_uint_eq(json_array_size(json_object_get(v, "manifests")), 0);
	json_decref(v);
	free(p);

	p = tl_path(dir, "blobs/sha256");
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(tl_count_dir(p), 0);
	free(p);
	p = tl_path(dir, "strata/tmp");
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	free(p);
	ck_assert_str_eq(store_layer_cache(s), (p = tl_path(dir, "strata/layers")));
	free(p);
	store_close(s);

	/* Opening it again, without create, finds the same layout. */
	s = NULL;
	ck_assert_msg(store_open(dir, false, &s, &err) == 0, "%s", err.msg);
	expect_listing(s, "");
	store_close(s);

	/* A missing directory is created when asked to. */
	p = tl_path(dir, "sub/deeper");
	ck_assert_msg(store_open(p, true, &s, &err) == 0, "%s", err.msg);
	store_close(s);
	free(p);
	p = tl_path(dir, "sub/deeper/oci-layout");
	ck_assert_int_eq(stat(p, &st), 0);
	free(p);
	tl_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(test_open_refuses_non_layout)
{
	struct strata_error err = {0};
	char *dir = tl_mkdtemp("notlayout"), *p = tl_path(dir, "precious.txt");
	struct store *s = NULL;

	tl_write_file(p, "mine\n", 5);
	ck_assert_int_eq(store_open(dir, true, &s, &err), -1);
	ck_assert_ptr_null(s);
	ck_assert_msg(contains(err.msg, "not an OCI image layout"), "%s", err.msg);
	/* nothing was written into it */
	ck_assert_int_eq(tl_count_dir(dir), 1);
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(store_open(dir, false, &s, &err), -1);
	ck_assert_msg(contains(err.msg, "not an OCI image layout"), "%s", err.msg);
	ck_assert_int_eq(tl_count_dir(dir), 1);
	free(p);

	/* An empty directory is a store not made yet, as a missing one is
	 * (ENOENT: `run` pulls into it), and stays empty. */
	p = tl_path(dir, "empty");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(store_open(p, false, &s, &err), -1);
	ck_assert_msg(contains(err.msg, "no such store"), "%s", err.msg);
	ck_assert_int_eq(err.sys_errno, ENOENT);
	ck_assert_int_eq(tl_count_dir(p), 0);
	free(p);
	tl_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(test_open_existing_layout)
{
	struct strata_error err = {0};
	char *dir = tl_mkdtemp("byhand"), *p, *before, *after;
	const char *d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	char index[512];
	struct store *s = NULL;

	p = tl_path(dir, "blobs");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	free(p);
	p = tl_path(dir, "blobs/sha256");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	free(p);
	p = tl_path(dir, "oci-layout");
	tl_write_file(p, "{\"imageLayoutVersion\": \"1.0.0\"}", 31);
	free(p);
	snprintf(
	    index, sizeof(index),
	    "{\"schemaVersion\": 2, \"manifests\": [{\"mediaType\": \"%s\", \"digest\": \"%s\", "
	    "\"size\": 2, \"annotations\": {\"%s\": \"hand:1\"}}]}",
	    MT_OCI_MANIFEST, d, ANNOTATION_REF_NAME);
	p = tl_path(dir, "index.json");
	tl_write_file(p, index, strlen(index));

	ck_assert_msg(store_open(dir, false, &s, &err) == 0, "%s", err.msg);
	expect_listing(s, "hand:1@e3b0c442");
	store_close(s);
	/* With create: opened as it is, index.json left alone. */
	ck_assert_msg(store_open(dir, true, &s, &err) == 0, "%s", err.msg);
	expect_listing(s, "hand:1@e3b0c442");
	store_close(s);
	before = index;
	after = read_text(p);
	ck_assert_str_eq(after, before);
	free(after);
	free(p);
	tl_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(test_open_missing)
{
	struct strata_error err = {0};
	char *dir = tl_mkdtemp("missing"), *p = tl_path(dir, "nothere");
	struct store *s = NULL;
	struct stat st;

	ck_assert_int_eq(store_open(p, false, &s, &err), -1);
	ck_assert_ptr_null(s);
	ck_assert_msg(err.msg[0] != '\0', "no message");
	ck_assert_msg(contains(err.msg, p) && contains(err.msg, "no such store"), "%s", err.msg);
	ck_assert_int_eq(err.sys_errno, ENOENT);
	ck_assert_int_eq(stat(p, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	free(p);
	tl_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- blobs ---- */

START_TEST(test_blob_put)
{
	static const char bytes[] = "{\"hello\":\"blob\"}";
	struct strata_error err = {0};
	char d1[STORE_DIGEST_MAX], d2[STORE_DIGEST_MAX], want[STORE_DIGEST_MAX], *p;
	struct stat st1, st2;
	uint8_t *got;
	size_t len;
	struct fx f;

	fx_open(&f, "put");
	sha256_of(bytes, sizeof(bytes) - 1, want);
	ck_assert_msg(store_blob_put(f.s, bytes, sizeof(bytes) - 1, d1, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(d1, want);
	p = blob_file(&f, want);
	ck_assert_int_eq(stat(p, &st1), 0);
	ck_assert(S_ISREG(st1.st_mode));
	got = tl_read_file(p, &len);
	ck_assert_uint_eq(len, sizeof(bytes) - 1);
	ck_assert_mem_eq(got, bytes, len);
	free(got);
	ck_assert(store_blob_exists(f.s, want));

	/* The same bytes again: one file, the first one kept. */
	ck_assert_msg(store_blob_put(f.s, bytes, sizeof(bytes) - 1, d2, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(d2, want);
	ck_assert_int_eq(count_sub(&f, "blobs/sha256"), 1);
	ck_assert_int_eq(stat(p, &st2), 0);
	ck_assert_uint_eq(st2.st_ino, st1.st_ino);
	ck_assert_uint_eq(st2.st_dev, st1.st_dev);
	free(p);

	/* Other bytes: another blob; the empty blob too. */
	ck_assert_msg(store_blob_put(f.s, "x", 1, d2, &err) == 0, "%s", err.msg);
	sha256_of("x", 1, want);
	ck_assert_str_eq(d2, want);
	ck_assert_msg(store_blob_put(f.s, "", 0, d2, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(d2,
	                 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	ck_assert_int_eq(count_sub(&f, "blobs/sha256"), 3);

	/* Blobs are written through unnamed temp files: nothing left over. */
	ck_assert_int_eq(count_sub(&f, "strata/tmp"), 0);
	fx_close(&f);
}
END_TEST

START_TEST(test_blob_writer)
{
	struct strata_error err = {0};
	struct blob_writer w;
	char want[STORE_DIGEST_MAX], *p;
	uint8_t buf[100000];
	struct fx f;

	fx_open(&f, "writer");
	tl_pattern(7, 0, buf, sizeof(buf));
	sha256_of(buf, sizeof(buf), want);

	/* Written in pieces; not in the store before the commit. */
	ck_assert_msg(store_blob_writer_start(f.s, &w, &err) == 0, "%s", err.msg);
	for (size_t off = 0; off < sizeof(buf); off += 30000) {
		size_t n = sizeof(buf) - off < 30000 ? sizeof(buf) - off : 30000;

		ck_assert_msg(store_blob_writer_write(&w, buf + off, n, &err) == 0, "%s", err.msg);
	}
	ck_assert_msg(store_blob_writer_finish(&w, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(w.digest, want);
	ck_assert_uint_eq(w.size, sizeof(buf));
	ck_assert(!store_blob_exists(f.s, want));
	ck_assert(!store_blob_stored(f.s, &w));
	ck_assert_int_eq(count_sub(&f, "blobs/sha256"), 0);
	ck_assert_int_eq(count_sub(&f, "strata/tmp"), 0);
	ck_assert_msg(store_blob_writer_commit(&w, &err) == 0, "%s", err.msg);
	store_blob_writer_abort(&w);
	ck_assert(store_blob_exists(f.s, want));
	p = blob_file(&f, want);
	{
		size_t len;
		uint8_t *got = tl_read_file(p, &len);

		ck_assert_uint_eq(len, sizeof(buf));
		ck_assert_mem_eq(got, buf, len);
		free(got);
	}
	free(p);

	/* An aborted writer leaves nothing behind. */
	ck_assert_msg(store_blob_writer_start(f.s, &w, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_blob_writer_write(&w, "abandoned", 9, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_blob_writer_finish(&w, &err) == 0, "%s", err.msg);
	store_blob_writer_abort(&w);
	ck_assert_int_eq(count_sub(&f, "blobs/sha256"), 1);
	ck_assert_int_eq(count_sub(&f, "strata/tmp"), 0);

	/* A damaged copy of another size under the digest's name is replaced. */
	p = blob_file(&f, want);
	tl_truncate(p, 10);
	ck_assert_msg(store_blob_writer_start(f.s, &w, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_blob_writer_write(&w, buf, sizeof(buf), &err) == 0, "%s", err.msg);
	ck_assert_msg(store_blob_writer_finish(&w, &err) == 0, "%s", err.msg);
	ck_assert(!store_blob_stored(f.s, &w));
	ck_assert_msg(store_blob_writer_commit(&w, &err) == 0, "%s", err.msg);
	store_blob_writer_abort(&w);
	{
		char have[STORE_DIGEST_MAX];

		sha256_file(p, have);
		ck_assert_str_eq(have, want);
	}
	free(p);
	ck_assert_int_eq(count_sub(&f, "blobs/sha256"), 1);
	ck_assert_int_eq(count_sub(&f, "strata/tmp"), 0);
	fx_close(&f);
}
END_TEST

START_TEST(test_blob_read_json)
{
	static const char good[] = "{\"a\":1}", bad[] = "{\"a\":2}";
	struct strata_error err = {0};
	char d[STORE_DIGEST_MAX], other[STORE_DIGEST_MAX], *p, *text;
	size_t len = 0;
	struct fx f;

	fx_open(&f, "readjson");
	ck_assert_msg(store_blob_put(f.s, good, sizeof(good) - 1, d, &err) == 0, "%s", err.msg);
	text = store_blob_read_json(f.s, d, sizeof(good) - 1, &len, &err);
	ck_assert_msg(text != NULL, "%s", err.msg);
	ck_assert_uint_eq(len, sizeof(good) - 1);
	ck_assert_str_eq(text, good);
	free(text);
	text = store_blob_read_json(f.s, d, UINT64_MAX, &len, &err);
	ck_assert_msg(text != NULL, "%s", err.msg);
	free(text);

	/* The descriptor's size is not the blob's. */
	memset(&err, 0, sizeof(err));
	ck_assert_ptr_null(store_blob_read_json(f.s, d, sizeof(good), &len, &err));
	ck_assert_int_eq(err.code, STRATA_ERR_CORRUPT);
	ck_assert_msg(contains(err.msg, d) && contains(err.msg, "descriptor says"), "%s", err.msg);
	memset(&err, 0, sizeof(err));
	ck_assert_ptr_null(store_blob_read_json(f.s, d, 0, &len, &err));
	ck_assert_int_eq(err.code, STRATA_ERR_CORRUPT);

	/* Other bytes (same size) under the digest's name, written by hand. */
	p = blob_file(&f, d);
	ck_assert_int_eq(unlink(p), 0);
	tl_write_file(p, bad, sizeof(bad) - 1);
	sha256_of(bad, sizeof(bad) - 1, other);
	memset(&err, 0, sizeof(err));
	ck_assert_ptr_null(store_blob_read_json(f.s, d, sizeof(good) - 1, &len, &err));
	ck_assert_int_eq(err.code, STRATA_ERR_CORRUPT);
	ck_assert_msg(contains(err.msg, d) && contains(err.msg, other), "%s", err.msg);
	memset(&err, 0, sizeof(err));
	ck_assert_ptr_null(store_blob_read_json(f.s, d, UINT64_MAX, &len, &err));
	ck_assert_msg(contains(err.msg, other), "%s", err.msg);
	free(p);

	/* Missing, and not a digest at all. */
	memset(&err, 0, sizeof(err));
	ck_assert_ptr_null(store_blob_read_json(f.s, other, UINT64_MAX, &len, &err));
	ck_assert_msg(contains(err.msg, "missing"), "%s", err.msg);
	memset(&err, 0, sizeof(err));
	ck_assert_ptr_null(
	    store_blob_read_json(f.s, "sha256:../../oci-layout", UINT64_MAX, &len, &err));
	ck_assert_msg(contains(err.msg, "not a sha256 digest"), "%s", err.msg);
	fx_close(&f);
}
END_TEST

START_TEST(test_blob_open_refuses)
{
	static const char bytes[] = "{\"real\":true}";
	struct strata_error err = {0};
	char d[STORE_DIGEST_MAX], fake[STORE_DIGEST_MAX], *p, *target;
	uint64_t size = 0;
	size_t len;
	int fd;
	struct fx f;

	fx_open(&f, "refuse");
	ck_assert_msg(store_blob_put(f.s, bytes, sizeof(bytes) - 1, d, &err) == 0, "%s", err.msg);
	fd = store_blob_open(f.s, d, &size, &err);
	ck_assert_msg(fd >= 0, "%s", err.msg);
	ck_assert_uint_eq(size, sizeof(bytes) - 1);
	close(fd);

	/* A symlink under blobs/sha256, even to a good blob, is refused. */
	sha256_of("symlinked", 9, fake);
	p = blob_file(&f, fake);
	target = blob_file(&f, d);
	ck_assert_int_eq(symlink(target, p), 0);
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(store_blob_open(f.s, fake, &size, &err), -1);
	ck_assert_int_eq(err.sys_errno, ELOOP);
	ck_assert_int_eq(err.code, STRATA_ERR_CORRUPT);
	ck_assert_msg(contains(err.msg, fake) && contains(err.msg, "symlink"), "%s", err.msg);
	ck_assert(!store_blob_exists(f.s, fake));
	memset(&err, 0, sizeof(err));
	ck_assert_ptr_null(store_blob_read_json(f.s, fake, UINT64_MAX, &len, &err));
	ck_assert_int_eq(err.sys_errno, ELOOP);
	/* also a dangling one, and one to a file outside the store */
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(symlink("/etc/passwd", p), 0);
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(store_blob_open(f.s, fake, &size, &err), -1);
	ck_assert_int_eq(err.sys_errno, ELOOP);
	ck_assert_int_eq(unlink(p), 0);
	free(p);
	free(target);

	/* A directory under a digest's name is not a blob. */
	sha256_of("a directory", 11, fake);
	p = blob_file(&f, fake);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(store_blob_open(f.s, fake, &size, &err), -1);
	ck_assert_int_eq(err.code, STRATA_ERR_CORRUPT);
	ck_assert_msg(contains(err.msg, fake) && contains(err.msg, "not a regular file"), "%s",
	              err.msg);
	ck_assert(!store_blob_exists(f.s, fake));
	free(p);

	/* Missing, and names that are no digest. */
	sha256_of("nothing", 7, fake);
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(store_blob_open(f.s, fake, &size, &err), -1);
	ck_assert_int_eq(err.sys_errno, ENOENT);
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(store_blob_open(f.s, "sha256:..", &size, &err), -1);
	ck_assert_msg(contains(err.msg, "not a sha256 digest"), "%s", err.msg);
	fx_close(&f);
}
END_TEST

/* ---- index.json and tags ---- */

START_TEST(test_index_add_list)
{
	struct img a, b, c;
	char want[512];
	struct fx f;

	fx_open(&f, "index");
	a = make_image(f.s, 1);
	b = make_image(f.s, 2);
	c = make_image(f.s, 3);
	expect_listing(f.s, "");
	index_add(f.s, a.digest, a.size, "x");
	index_add(f.s, b.digest, b.size, "y:1");
	index_add(f.s, c.digest, c.size, NULL);
	snprintf(want, sizeof(want), "x@%.8s,y:1@%.8s,-@%.8s", a.digest + 7, b.digest + 7,
	         c.digest + 7);
	expect_listing(f.s, want);
	/* the same untagged image twice: one entry */
	index_add(f.s, c.digest, c.size, NULL);
	expect_listing(f.s, want);

	/* The tag x moves from a to b. */
	index_add(f.s, b.digest, b.size, "x");
	snprintf(want, sizeof(want), "y:1@%.8s,-@%.8s,x@%.8s", b.digest + 7, c.digest + 7,
	         b.digest + 7);
	expect_listing(f.s, want);
	expect_resolves(f.s, "x", b.digest);
	/* and back */
	index_add(f.s, a.digest, a.size, "x");
	snprintf(want, sizeof(want), "y:1@%.8s,-@%.8s,x@%.8s", b.digest + 7, c.digest + 7,
	         a.digest + 7);
	expect_listing(f.s, want);
	expect_resolves(f.s, "x", a.digest);

	/* index.json stays valid JSON with the annotation where the spec puts it */
	{
		char *p = store_file(&f, "index.json");
		json_error_t jerr;
		json_t *v = json_load_file(p, JSON_REJECT_DUPLICATES, &jerr), *m;

		ck_assert_msg(v != NULL, "%s", jerr.text);
		ck_assert_int_eq(json_integer_value(json_object_get(v, "schemaVersion")), 2);
		m = json_array_get(json_object_get(v, "manifests"), 2);
		ck_assert_str_eq(json_string_value(json_object_get(m, "digest")), a.digest);
		ck_assert_int_eq(json_integer_value(json_object_get(m, "size")),
		                 (json_int_t)a.size);
		ck_assert_str_eq(json_string_value(json_object_get(m, "mediaType")),
		                 MT_OCI_MANIFEST);
		ck_assert_str_eq(json_string_value(json_object_get(
		                     json_object_get(m, "annotations"), ANNOTATION_REF_NAME)),
		                 "x");
		json_decref(v);
		free(p);
	}
	fx_close(&f);
}
END_TEST

START_TEST(test_index_normalized_tags)
{
	struct img a, b, c;
	char want[512];
	struct fx f;

	fx_open(&f, "norm");
	a = make_image(f.s, 1);
	b = make_image(f.s, 2);
	c = make_image(f.s, 3);
	index_add(f.s, a.digest, a.size, "debian");
	index_add(f.s, b.digest, b.size, "docker.io/library/debian:latest");
	snprintf(want, sizeof(want), "docker.io/library/debian:latest@%.8s", b.digest + 7);
	expect_listing(f.s, want);
	index_add(f.s, c.digest, c.size, "debian:latest");
	snprintf(want, sizeof(want), "debian:latest@%.8s", c.digest + 7);
	expect_listing(f.s, want);
	expect_resolves(f.s, "debian", c.digest);
	expect_resolves(f.s, "docker.io/library/debian", c.digest);
	/* other tags of the same name are other images */
	index_add(f.s, a.digest, a.size, "debian:12");
	index_add(f.s, b.digest, b.size, "localhost/debian:12");
	snprintf(want, sizeof(want), "debian:latest@%.8s,localhost/debian:12@%.8s", c.digest + 7,
	         b.digest + 7);
	expect_listing(f.s, want);
	expect_resolves(f.s, "debian:12", b.digest);
	fx_close(&f);
}
END_TEST

START_TEST(test_tag_untag)
{
	struct strata_error err = {0};
	struct img a, b;
	char want[512], ref[128];
	struct fx f;

	fx_open(&f, "tag");
	a = make_image(f.s, 1);
	b = make_image(f.s, 2);
	index_add(f.s, a.digest, a.size, "app:1");
	index_add(f.s, b.digest, b.size, "other");

	/* by name */
	ck_assert_msg(store_tag(f.s, "app:1", "app:stable", &err) == 0, "%s", err.msg);
	/* by digest, and by prefix */
	ck_assert_msg(store_tag(f.s, a.digest, "by-digest", &err) == 0, "%s", err.msg);
	snprintf(ref, sizeof(ref), "%.12s", b.digest + 7);
	ck_assert_msg(store_tag(f.s, ref, "by-prefix", &err) == 0, "%s", err.msg);
	snprintf(want, sizeof(want),
	         "app:1@%.8s,other@%.8s,app:stable@%.8s,by-digest@%.8s,"
	         "by-prefix@%.8s",
	         a.digest + 7, b.digest + 7, a.digest + 7, a.digest + 7, b.digest + 7);
	expect_listing(f.s, want);
	expect_resolves(f.s, "app:stable", a.digest);
	expect_resolves(f.s, "by-prefix", b.digest);

	/* a tag given again moves */
	ck_assert_msg(store_tag(f.s, "other", "app:stable", &err) == 0, "%s", err.msg);
	expect_resolves(f.s, "app:stable", b.digest);
	snprintf(want, sizeof(want),
	         "app:1@%.8s,other@%.8s,by-digest@%.8s,by-prefix@%.8s,"
	         "app:stable@%.8s",
	         a.digest + 7, b.digest + 7, a.digest + 7, b.digest + 7, b.digest + 7);
	expect_listing(f.s, want);

	/* refused: bad names, unknown images */
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(store_tag(f.s, "app:1", "bad name", &err), -1);
	ck_assert_int_eq(err.code, STRATA_ERR_OPTION);
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(store_tag(f.s, "app:1", "-x", &err), -1);
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(store_tag(f.s, "nope", "fine", &err), -1);
	ck_assert_msg(contains(err.msg, "no such image"), "%s", err.msg);
	expect_listing(f.s, want);

	/* untag by name: only that tag goes */
	ck_assert_msg(store_untag(f.s, "by-digest", &err) == 0, "%s", err.msg);
	snprintf(want, sizeof(want), "app:1@%.8s,other@%.8s,by-prefix@%.8s,app:stable@%.8s",
	         a.digest + 7, b.digest + 7, b.digest + 7, b.digest + 7);
	expect_listing(f.s, want);
	/* by a name that normalizes to it */
	ck_assert_msg(store_untag(f.s, "docker.io/library/other:latest", &err) == 0, "%s", err.msg);
	snprintf(want, sizeof(want), "app:1@%.8s,by-prefix@%.8s,app:stable@%.8s", a.digest + 7,
	         b.digest + 7, b.digest + 7);
	expect_listing(f.s, want);
	/* by digest: every entry of the image */
	ck_assert_msg(store_untag(f.s, b.digest, &err) == 0, "%s", err.msg);
	snprintf(want, sizeof(want), "app:1@%.8s", a.digest + 7);
	expect_listing(f.s, want);
	expect_no_resolve(f.s, b.digest, "no such image");
	/* by prefix */
	snprintf(ref, sizeof(ref), "%.10s", a.digest + 7);
	ck_assert_msg(store_untag(f.s, ref, &err) == 0, "%s", err.msg);
	expect_listing(f.s, "");
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(store_untag(f.s, "app:1", &err), -1);
	ck_assert_msg(contains(err.msg, "no such image"), "%s", err.msg);
	/* the blobs stay until gc */
	ck_assert(store_blob_exists(f.s, a.digest));
	ck_assert(store_blob_exists(f.s, b.digest));
	fx_close(&f);
}
END_TEST

START_TEST(test_resolve)
{
	/* The first two manifests whose digests share their first 4 hex digits. */
	static short seen[65536];
	struct strata_error err = {0};
	char cfg[STORE_DIGEST_MAX], text[1024], d[STORE_DIGEST_MAX], ref[160];
	unsigned c_serial = 0, d_serial = 0;
	struct img a, b, c, dd;
	size_t k;
	struct fx f;

	fx_open(&f, "resolve");
	sha256_of(config_text, sizeof(config_text) - 1, cfg);
	memset(seen, 0xff, sizeof(seen));
	for (unsigned i = 100; i < 100 + 20000; i++) {
		int len = manifest_text(text, sizeof(text), cfg, i);
		unsigned key;

		sha256_of(text, (size_t)len, d);
		key = (unsigned)strtoul((char[5]){d[7], d[8], d[9], d[10], 0}, NULL, 16);
		if (seen[key] >= 0) {
			c_serial = (unsigned)seen[key] + 100;
			d_serial = i;
			break;
		}
		seen[key] = (short)(i - 100);
	}
	ck_assert_uint_ne(d_serial, 0);

	a = make_image(f.s, 1);
	b = make_image(f.s, 2);
	c = make_image(f.s, c_serial);
	dd = make_image(f.s, d_serial);
	ck_assert_mem_eq(c.digest, dd.digest, 11);
	ck_assert_str_ne(c.digest, dd.digest);
	index_add(f.s, a.digest, a.size, "alpha");
	index_add(f.s, b.digest, b.size, "reg:5000/team/beta:2");
	index_add(f.s, c.digest, c.size, "gamma");
	index_add(f.s, dd.digest, dd.size, NULL);

	/* by name */
	expect_resolves(f.s, "alpha", a.digest);
	expect_resolves(f.s, "alpha:latest", a.digest);
	expect_resolves(f.s, "docker.io/library/alpha:latest", a.digest);
	expect_resolves(f.s, "reg:5000/team/beta:2", b.digest);
	expect_no_resolve(f.s, "reg:5000/team/beta", "no such image");
	expect_no_resolve(f.s, "alpha:2", "no such image");
	/* by full digest, tagged or not */
	expect_resolves(f.s, a.digest, a.digest);
	expect_resolves(f.s, dd.digest, dd.digest);
	expect_resolves(f.s, digest_hex(dd.digest), dd.digest);
	/* by a unique prefix: first the shortest one that is unique */
	for (k = 4; k < 64; k++) {
		const struct img *all[] = {&b, &c, &dd};
		bool unique = true;

		for (size_t i = 0; i < 3; i++)
			unique &= strncmp(all[i]->digest + 7, a.digest + 7, k) != 0;
		if (unique)
			break;
	}
	snprintf(ref, sizeof(ref), "%.*s", (int)k, a.digest + 7);
	expect_resolves(f.s, ref, a.digest);
	snprintf(ref, sizeof(ref), "sha256:%.*s", (int)k + 2, a.digest + 7);
	expect_resolves(f.s, ref, a.digest);
	snprintf(ref, sizeof(ref), "%.12s", c.digest + 7);
	if (strncmp(ref, dd.digest + 7, 12) != 0)
		expect_resolves(f.s, ref, c.digest);
	/* fewer than 4 digits are no prefix */
	snprintf(ref, sizeof(ref), "%.3s", a.digest + 7);
	expect_no_resolve(f.s, ref, "no such image");
	/* a prefix two images share */
	snprintf(ref, sizeof(ref), "%.4s", c.digest + 7);
	expect_no_resolve(f.s, ref, "more than one image");
	memset(&err, 0, sizeof(err));
	ck_assert_ptr_null(resolve_digest(f.s, ref, &err));
	ck_assert_int_eq(err.code, STRATA_ERR_USAGE);
	/* an image tagged twice matches its prefix once, not ambiguously */
	index_add(f.s, a.digest, a.size, "alpha2");
	snprintf(ref, sizeof(ref), "%.*s", (int)k, a.digest + 7);
	expect_resolves(f.s, ref, a.digest);

	/* unknown */
	expect_no_resolve(f.s, "nope", "no such image");
	memset(&err, 0, sizeof(err));
	ck_assert_ptr_null(resolve_digest(f.s, "nope", &err));
	ck_assert_int_eq(err.code, STRATA_ERR_USAGE);
	ck_assert_msg(contains(err.msg, "nope"), "%s", err.msg);
	expect_no_resolve(f.s,
	                  "sha256:0000000000000000000000000000000000000000000000000000000000000000",
	                  "no such image");
	fx_close(&f);
}
END_TEST

/* ---- importing bare layers ---- */

static void check_bare_import(bool gzip)
{
	const char *file = gzip ? "app-1.2.tar.gz" : "Base_Image.tar";
	const char *name = gzip ? "app-1.2:latest" : "base_image:latest";
	struct store_imported imp;
	struct store_image *img;
	char want[512], *p;
	struct bare b;
	struct fx f;

	fx_open(&f, gzip ? "bare-gz" : "bare");
	b = write_bare(f.src, file, gzip);
	if (gzip)
		ck_assert_str_ne(b.digest, b.diff_id);
	else
		ck_assert_str_eq(b.digest, b.diff_id);
	import_one(&f, b.path, &imp);
	ck_assert(store_digest_valid(imp.digest));
	ck_assert_ptr_nonnull(imp.name);
	ck_assert_str_eq(imp.name, name);
	snprintf(want, sizeof(want), "%s@%.8s", name, imp.digest + 7);
	expect_listing(f.s, want);

	img = resolve(f.s, name);
	ck_assert_str_eq(img->digest, imp.digest);
	ck_assert_uint_eq(img->n_layers, 1);
	ck_assert_str_eq(img->layers[0].diff_id, b.diff_id);
	ck_assert_str_eq(img->layers[0].digest, b.digest);
	ck_assert_uint_eq(img->layers[0].size, b.file_len);
	ck_assert_str_eq(img->layers[0].media_type, gzip ? MT_OCI_LAYER_GZIP : MT_OCI_LAYER);
	ck_assert_str_eq(img->manifest_media_type, MT_OCI_MANIFEST);
	ck_assert_str_eq(img->os, "linux");
	ck_assert_ptr_nonnull(img->architecture);
	ck_assert_str_eq(img->architecture, store_host_architecture());
	ck_assert_ptr_nonnull(img->created);
	/* the config's bytes are its digest, its diff_ids the layer's */
	{
		char cd[STORE_DIGEST_MAX];
		json_error_t jerr;
		json_t *cfg = json_loads(img->config_json, 0, &jerr);

		sha256_of(img->config_json, strlen(img->config_json), cd);
		ck_assert_str_eq(cd, img->config_digest);
		ck_assert_uint_eq(strlen(img->config_json), img->config_size);
		ck_assert_msg(cfg != NULL, "%s", jerr.text);
		ck_assert_str_eq(
		    json_string_value(json_array_get(
		        json_object_get(json_object_get(cfg, "rootfs"), "diff_ids"), 0)),
		    b.diff_id);
		json_decref(cfg);
	}
	/* the stored layer is the file, byte for byte */
	p = blob_file(&f, b.digest);
	{
		char have[STORE_DIGEST_MAX];

		sha256_file(p, have);
		ck_assert_str_eq(have, b.digest);
	}
	free(p);
	/* layer, config, manifest; nothing left in tmp */
	ck_assert_int_eq(count_sub(&f, "blobs/sha256"), 3);
	ck_assert_int_eq(count_sub(&f, "strata/tmp"), 0);
	/* the index is keyed by diff-id (and, compressed, by the blob), under
	 * no temporary name */
	if (gzip)
		snprintf(want, sizeof(want), "strata/layers/%s-%.16s.idx", digest_hex(b.diff_id),
		         digest_hex(b.digest));
	else
		snprintf(want, sizeof(want), "strata/layers/%s.idx", digest_hex(b.diff_id));
	p = store_file(&f, want);
	ck_assert_msg(access(p, F_OK) == 0, "%s: %s", p, strerror(errno));
	free(p);
	/* The index only: a gzip layer is read in place, with no copy. */
	ck_assert_int_eq(count_caches(&f), 1);
	store_image_free(img);
	free(imp.name);
	free(b.path);
	fx_close(&f);
}

START_TEST(test_import_bare_plain)
{
	check_bare_import(false);
}
END_TEST

START_TEST(test_import_bare_gzip)
{
	check_bare_import(true);
}
END_TEST

/* xz has no OCI media type: the layer is stored decompressed. */
START_TEST(test_import_bare_xz)
{
	struct store_imported imp;
	struct store_image *img;
	char have[STORE_DIGEST_MAX], *p;
	struct bare b;
	struct fx f;

	fx_open(&f, "bare-xz");
	b = write_bare_filt(f.src, "tool.txz", TL_XZ);
	ck_assert_str_ne(b.digest, b.diff_id);
	import_one(&f, b.path, &imp);
	ck_assert_str_eq(imp.name, "tool:latest");
	img = resolve(f.s, "tool");
	ck_assert_uint_eq(img->n_layers, 1);
	ck_assert_str_eq(img->layers[0].media_type, MT_OCI_LAYER);
	ck_assert_str_eq(img->layers[0].diff_id, b.diff_id);
	ck_assert_str_eq(img->layers[0].digest, b.diff_id);
	ck_assert_uint_eq(img->layers[0].size, b.tar_len);
	p = blob_file(&f, b.diff_id);
	sha256_file(p, have);
	ck_assert_str_eq(have, b.diff_id);
	free(p);
	ck_assert_int_eq(count_sub(&f, "blobs/sha256"), 3);
	ck_assert_int_eq(count_sub(&f, "strata/tmp"), 0);
	store_image_free(img);
	free(imp.name);
	free(b.path);
	fx_close(&f);
}
END_TEST

START_TEST(test_import_deterministic)
{
	struct store_imported one, two, three;
	struct store_image *img;
	struct timespec ts[2] = {{.tv_sec = 1700000000}, {.tv_sec = 1700000000}};
	char want[256];
	struct bare b;
	struct fx f;

	fx_open(&f, "twice");
	b = write_bare(f.src, "layer.tar.gz", true);
	ck_assert_int_eq(utimensat(AT_FDCWD, b.path, ts, 0), 0);
	import_one(&f, b.path, &one);
	import_one(&f, b.path, &two);
	ck_assert_str_eq(one.digest, two.digest);
	ck_assert_str_eq(one.name, "layer:latest");
	snprintf(want, sizeof(want), "layer:latest@%.8s", one.digest + 7);
	expect_listing(f.s, want);
	ck_assert_int_eq(count_sub(&f, "blobs/sha256"), 3);
	ck_assert_int_eq(count_sub(&f, "strata/tmp"), 0);
	img = resolve(f.s, "layer");
	ck_assert_str_eq(img->created, "2023-11-14T22:13:20Z");
	store_image_free(img);

	/* The config's time is the file's: another mtime, another image, and
	 * the tag moves to it. */
	ts[0].tv_sec = ts[1].tv_sec = 1700000060;
	ck_assert_int_eq(utimensat(AT_FDCWD, b.path, ts, 0), 0);
	import_one(&f, b.path, &three);
	ck_assert_str_ne(three.digest, one.digest);
	img = resolve(f.s, "layer");
	ck_assert_str_eq(img->digest, three.digest);
	ck_assert_str_eq(img->created, "2023-11-14T22:14:20Z");
	store_image_free(img);
	snprintf(want, sizeof(want), "layer:latest@%.8s", three.digest + 7);
	expect_listing(f.s, want);
	free(one.name);
	free(two.name);
	free(three.name);
	free(b.path);
	fx_close(&f);
}
END_TEST

START_TEST(test_import_tag_option)
{
	struct store_import_options opts = {.tag = "mine:2"};
	struct strata_error err = {0};
	struct store_imported *v = NULL;
	char *before, *after, *p;
	size_t n = 0;
	struct bare b;
	struct fx f;

	fx_open(&f, "tagopt");
	b = write_bare(f.src, "x.tar", false);
	ck_assert_msg(store_import(f.s, b.path, &opts, &v, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(v[0].name, "mine:2");
	expect_resolves(f.s, "mine:2", v[0].digest);
	store_imported_free(v, n);

	/* an invalid tag is refused and changes nothing */
	p = store_file(&f, "index.json");
	before = read_text(p);
	opts.tag = "not valid";
	v = NULL;
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(store_import(f.s, b.path, &opts, &v, &n, &err), -1);
	ck_assert_msg(contains(err.msg, "not valid"), "%s", err.msg);
	after = read_text(p);
	ck_assert_str_eq(after, before);
	free(before);
	free(after);
	free(p);
	free(b.path);
	fx_close(&f);
}
END_TEST

START_TEST(test_open_layers)
{
	struct strata_layer_options lo = {0};
	struct strata_error err = {0};
	struct strata_layer **layers = NULL;
	struct strata_layer_info info;
	struct store_imported imp;
	struct store_image *img;
	struct bare b;
	struct fx f;

	fx_open(&f, "layers");
	b = write_bare(f.src, "l.tar.gz", true);
	import_one(&f, b.path, &imp);
	img = resolve(f.s, imp.digest);
	ck_assert_msg(store_open_layers(f.s, img, &lo, &layers, &err) == 0, "%s", err.msg);
	strata_layer_info(layers[0], &info);
	ck_assert_ptr_null(layers[1]);
	/* the root and five entries */
	ck_assert_uint_eq(info.n_entries, N_LAYER_ENTS + 1);
	ck_assert_uint_eq(info.stream_size, b.tar_len);
	ck_assert_str_eq(info.compression, "gzip");
	/* indexed at import, under the diff-id */
	ck_assert(info.index_reused);
	ck_assert_ptr_nonnull(info.index_path);
	ck_assert_msg(contains(info.index_path, digest_hex(b.diff_id)), "%s", info.index_path);
	ck_assert_msg(
	    strncmp(info.index_path, store_layer_cache(f.s), strlen(store_layer_cache(f.s))) == 0,
	    "%s", info.index_path);
	strata_layer_close(layers[0]);
	free(layers);

	/* A missing layer blob is an error naming it, not a crash. */
	{
		char *p = blob_file(&f, b.digest);

		ck_assert_int_eq(unlink(p), 0);
		free(p);
	}
	layers = NULL;
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(store_open_layers(f.s, img, &lo, &layers, &err), -1);
	ck_assert_msg(contains(err.msg, b.digest), "%s", err.msg);
	store_image_free(img);
	free(imp.name);
	free(b.path);
	fx_close(&f);
}
END_TEST

/* ---- gc and fsck ---- */

START_TEST(test_gc)
{
	struct strata_error err = {0};
	struct store_gc_result res;
	struct store_imported imp;
	struct store_image *img;
	struct strata_layer **layers = NULL;
	struct strata_layer_options lo = {0};
	int caches;
	struct bare b;
	struct fx f;

	fx_open(&f, "gc");
	b = write_bare(f.src, "g.tar.gz", true);
	import_one(&f, b.path, &imp);
	ck_assert_int_eq(count_sub(&f, "blobs/sha256"), 3);
	caches = count_sub(&f, "strata/layers");
	ck_assert_int_gt(caches, 0);

	/* Nothing to collect while the image is tagged. */
	gc_fresh(&f, &res);
	ck_assert_uint_eq(res.blobs, 0);
	ck_assert_uint_eq(res.caches, 0);
	ck_assert_int_eq(count_sub(&f, "blobs/sha256"), 3);
	ck_assert_int_eq(count_sub(&f, "strata/layers"), caches);
	img = resolve(f.s, imp.name);
	ck_assert_msg(store_open_layers(f.s, img, &lo, &layers, &err) == 0, "%s", err.msg);
	strata_layer_close(layers[0]);
	free(layers);
	store_image_free(img);

	/* Blobs no image names go, even with the image tagged. */
	{
		char d[STORE_DIGEST_MAX];

		ck_assert_msg(store_blob_put(f.s, "{}", 2, d, &err) == 0, "%s", err.msg);
		gc_fresh(&f, &res);
		ck_assert_uint_eq(res.blobs, 1);
		ck_assert_uint_eq(res.blob_bytes, 2);
		ck_assert(!store_blob_exists(f.s, d));
		ck_assert_int_eq(count_sub(&f, "blobs/sha256"), 3);
	}

	/* Untagged: everything goes. */
	ck_assert_msg(store_untag(f.s, imp.name, &err) == 0, "%s", err.msg);
	expect_listing(f.s, "");
	ck_assert_int_eq(count_sub(&f, "blobs/sha256"), 3);
	gc_fresh(&f, &res);
	ck_assert_uint_eq(res.blobs, 3);
	ck_assert_uint_eq(res.caches, (uint64_t)caches);
	ck_assert_uint_gt(res.blob_bytes, b.file_len);
	ck_assert_int_eq(count_sub(&f, "blobs/sha256"), 0);
	ck_assert_int_eq(count_sub(&f, "strata/layers"), 0);
	ck_assert_int_eq(count_sub(&f, "strata/tmp"), 0);
	/* the layout itself stays */
	{
		char *p = store_file(&f, "oci-layout");

		ck_assert_int_eq(access(p, F_OK), 0);
		free(p);
	}
	gc_fresh(&f, &res);
	ck_assert_uint_eq(res.blobs, 0);
	{
		char *report = NULL;
		long n = fsck_fresh(&f, &report);

		ck_assert_msg(n == 0, "after gc: %ld:\n%s", n, report);
		free(report);
	}
	free(imp.name);
	free(b.path);
	fx_close(&f);
}
END_TEST

START_TEST(test_fsck)
{
	struct store_imported imp;
	char *report = NULL, *p, want[128];
	long n;
	struct bare b;
	struct fx f;

	fx_open(&f, "fsck");
	n = fsck_fresh(&f, &report);
	ck_assert_msg(n == 0, "empty store: %ld problems:\n%s", n, report);
	free(report);

	b = write_bare(f.src, "f.tar.gz", true);
	import_one(&f, b.path, &imp);
	n = fsck_fresh(&f, &report);
	ck_assert_msg(n == 0, "clean store: %ld problems:\n%s", n, report);
	ck_assert_str_eq(report, "");
	free(report);

	/* One byte of the layer blob flipped (size unchanged). */
	p = blob_file(&f, b.digest);
	flip_byte(p, (off_t)(b.file_len / 2));
	free(p);
	n = fsck_fresh(&f, &report);
	ck_assert_msg(n > 0, "a damaged blob went unnoticed");
	snprintf(want, sizeof(want), "blob %s: content has digest", b.digest);
	ck_assert_msg(contains(report, want), "report lacks '%s':\n%s", want, report);
	/* one line per problem */
	{
		long lines = 0;

		for (const char *c = report; *c; c++)
			lines += *c == '\n';
		ck_assert_int_eq(lines, n);
	}
	free(report);
	free(imp.name);
	free(b.path);
	fx_close(&f);
}
END_TEST

START_TEST(test_fsck_config_and_missing)
{
	struct store_imported imp;
	struct store_image *img;
	char *report = NULL, *p;
	long n;
	struct bare b;
	struct fx f;

	fx_open(&f, "fsck2");
	b = write_bare(f.src, "c.tar", false);
	import_one(&f, b.path, &imp);
	img = resolve(f.s, imp.digest);

	/* A damaged config: named by fsck as a blob, and the image it breaks. */
	p = blob_file(&f, img->config_digest);
	flip_byte(p, 3);
	free(p);
	n = fsck_fresh(&f, &report);
	ck_assert_int_gt(n, 0);
	ck_assert_msg(contains(report, img->config_digest), "%s", report);
	ck_assert_msg(contains(report, imp.digest), "%s", report);
	free(report);
	flip_byte((p = blob_file(&f, img->config_digest)), 3);
	free(p);
	n = fsck_fresh(&f, &report);
	ck_assert_msg(n == 0, "%ld:\n%s", n, report);
	free(report);

	/* A missing layer blob. */
	p = blob_file(&f, b.digest);
	ck_assert_int_eq(unlink(p), 0);
	free(p);
	n = fsck_fresh(&f, &report);
	ck_assert_int_gt(n, 0);
	ck_assert_msg(contains(report, b.digest) && contains(report, "missing"), "%s", report);
	free(report);
	store_image_free(img);
	free(imp.name);
	free(b.path);
	fx_close(&f);
}
END_TEST

/* ---- importing an OCI layout directory ---- */

static void put_blob_named(const char *layout, const char *digest, const void *buf, size_t len)
{
	char rel[128], *p;

	snprintf(rel, sizeof(rel), "blobs/sha256/%s", digest + 7);
	p = tl_path(layout, rel);
	tl_write_file(p, buf, len);
	free(p);
}

/* An OCI layout with one image tagged "hand:1" and one gzip'd layer.  With
 * @bad_digest, the manifest names the layer by a digest that is not its
 * content's (the file sits under that name), while the config's diff-id is
 * right: only the digest check stands between the import and a wrong blob.
 * The layer's digest as the manifest names it goes to @layer_digest, its
 * diff-id to @diff_id. */
static char *make_layout(const char *parent, bool bad_digest, char layer_digest[STORE_DIGEST_MAX],
                         char diff_id[STORE_DIGEST_MAX])
{
	char *dir = tl_path(parent, bad_digest ? "layout-bad" : "layout-good"), *p;
	char cfg[1024], man[2048], idx[1024], cfg_d[STORE_DIGEST_MAX], man_d[STORE_DIGEST_MAX];
	uint8_t *gz;
	struct bare b;
	int n;

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	p = tl_path(dir, "blobs");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	free(p);
	p = tl_path(dir, "blobs/sha256");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	free(p);
	p = tl_path(dir, "oci-layout");
	tl_write_file(p, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	free(p);

	b = write_bare(parent, "oci-layer.tar.gz", true);
	gz = tl_read_file(b.path, &b.file_len);
	if (bad_digest)
		sha256_of("some other bytes", 16, layer_digest);
	else
		snprintf(layer_digest, STORE_DIGEST_MAX, "%s", b.digest);
	snprintf(diff_id, STORE_DIGEST_MAX, "%s", b.diff_id);
	put_blob_named(dir, layer_digest, gz, b.file_len);

	n = snprintf(cfg, sizeof(cfg),
	             "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
	             "\"diff_ids\":[\"%s\"]}}",
	             b.diff_id);
	sha256_of(cfg, (size_t)n, cfg_d);
	put_blob_named(dir, cfg_d, cfg, (size_t)n);
	n = snprintf(man, sizeof(man),
	             "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":\"%s\","
	             "\"digest\":\"%s\",\"size\":%d},\"layers\":[{\"mediaType\":\"%s\","
	             "\"digest\":\"%s\",\"size\":%zu}]}",
	             MT_OCI_MANIFEST, MT_OCI_CONFIG, cfg_d, (int)strlen(cfg), MT_OCI_LAYER_GZIP,
	             layer_digest, b.file_len);
	sha256_of(man, (size_t)n, man_d);
	put_blob_named(dir, man_d, man, (size_t)n);
	n = snprintf(idx, sizeof(idx),
	             "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\","
	             "\"size\":%d,\"annotations\":{\"%s\":\"hand:1\"}}]}",
	             MT_OCI_MANIFEST, man_d, (int)strlen(man), ANNOTATION_REF_NAME);
	p = tl_path(dir, "index.json");
	tl_write_file(p, idx, (size_t)n);
	free(p);
	unlink(b.path);
	free(b.path);
	free(gz);
	return dir;
}

START_TEST(test_import_oci_layout)
{
	char layer[STORE_DIGEST_MAX], diff_id[STORE_DIGEST_MAX], *dir;
	struct store_imported imp;
	struct store_image *img;
	struct fx f;

	fx_open(&f, "oci");
	dir = make_layout(f.src, false, layer, diff_id);
	import_one(&f, dir, &imp);
	ck_assert_str_eq(imp.name, "hand:1");
	img = resolve(f.s, "hand:1");
	ck_assert_uint_eq(img->n_layers, 1);
	ck_assert_str_eq(img->layers[0].digest, layer);
	ck_assert_str_eq(img->layers[0].diff_id, diff_id);
	ck_assert_str_eq(img->layers[0].media_type, MT_OCI_LAYER_GZIP);
	store_image_free(img);
	ck_assert_int_eq(count_sub(&f, "blobs/sha256"), 3);
	ck_assert_int_eq(count_sub(&f, "strata/tmp"), 0);
	{
		char *report = NULL;
		long n = fsck_fresh(&f, &report);

		ck_assert_msg(n == 0, "%ld:\n%s", n, report);
		free(report);
	}
	free(imp.name);
	free(dir);
	fx_close(&f);
}
END_TEST

START_TEST(test_import_oci_wrong_layer_digest)
{
	struct store_import_options opts = {0};
	struct strata_error err = {0};
	struct store_imported *v = NULL, imp;
	char layer[STORE_DIGEST_MAX], diff_id[STORE_DIGEST_MAX], *dir, *p, *before, *after,
	    want[256];
	size_t n = 0;
	int blobs;
	struct bare b;
	struct fx f;

	fx_open(&f, "ocibad");
	/* something in the store already, so index.json is not trivially empty */
	b = write_bare(f.src, "first.tar", false);
	import_one(&f, b.path, &imp);
	p = store_file(&f, "index.json");
	before = read_text(p);
	blobs = count_sub(&f, "blobs/sha256");

	dir = make_layout(f.src, true, layer, diff_id);
	ck_assert_int_eq(store_import(f.s, dir, &opts, &v, &n, &err), -1);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(err.code, STRATA_ERR_CORRUPT);
	ck_assert_msg(contains(err.msg, layer), "message '%s' does not name %s", err.msg, layer);
	after = read_text(p);
	ck_assert_str_eq(after, before);
	ck_assert_int_eq(count_sub(&f, "blobs/sha256"), blobs);
	ck_assert_int_eq(count_sub(&f, "strata/tmp"), 0);
	snprintf(want, sizeof(want), "first:latest@%.8s", imp.digest + 7);
	expect_listing(f.s, want);
	expect_no_resolve(f.s, "hand:1", "no such image");
	free(after);
	free(before);
	free(p);
	free(dir);
	free(imp.name);
	free(b.path);
	fx_close(&f);
}
END_TEST

/* ---- known bugs: run with STRATA_KNOWN_BUGS=1 ---- */

/* store_blob_open on a FIFO named like a blob must refuse it, not block. */
START_TEST(bug_blob_open_fifo)
{
	struct strata_error err = {0};
	char fake[STORE_DIGEST_MAX], *p;
	int status = 0;
	pid_t pid;
	struct fx f;

	fx_open(&f, "fifo");
	sha256_of("fifo", 4, fake);
	p = blob_file(&f, fake);
	ck_assert_int_eq(mkfifo(p, 0644), 0);
	free(p);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* Check's own SIGALRM handler would kill the whole group. */
		signal(SIGALRM, SIG_DFL);
		alarm(3);
		_exit(store_blob_open(f.s, fake, NULL, &err) == -1 ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(!WIFSIGNALED(status),
	              "store_blob_open on a FIFO blocked (killed by signal %d)", WTERMSIG(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	fx_close(&f);
}
END_TEST

/* One store handle, gc twice: the second gc must still sweep. */
START_TEST(bug_gc_twice)
{
	struct strata_error err = {0};
	struct store_gc_result res;
	char d[STORE_DIGEST_MAX];
	struct fx f;

	fx_open(&f, "gctwice");
	ck_assert_msg(store_blob_put(f.s, "{\"a\":1}", 7, d, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_gc(f.s, &res, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(res.blobs, 1);
	ck_assert_msg(store_blob_put(f.s, "{\"a\":2}", 7, d, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_gc(f.s, &res, &err) == 0, "%s", err.msg);
	ck_assert_msg(res.blobs == 1, "second gc on the same handle removed %llu blobs",
	              (unsigned long long)res.blobs);
	ck_assert(!store_blob_exists(f.s, d));
	fx_close(&f);
}
END_TEST

/* Roots the caller gives (containers' images) outlive their names; an
 * image untagged "keeping" stays unnamed until nothing needs it. */
START_TEST(test_gc_keeping)
{
	struct strata_error err = {0};
	struct store_gc_result res;
	char want[64];
	struct img a, b;
	struct fx f;

	fx_open(&f, "gckeep");
	a = make_image(f.s, 1);
	b = make_image(f.s, 2);
	index_add(f.s, a.digest, a.size, "a:1");
	index_add(f.s, a.digest, a.size, "a:2");
	index_add(f.s, b.digest, b.size, "b:1");

	/* A name of several goes alone; the last one leaves the image unnamed. */
	ck_assert_msg(store_untag_keep_image(f.s, "a:1", &err) == 0, "%s", err.msg);
	snprintf(want, sizeof(want), "a:2@%.8s,b:1@%.8s", a.digest + 7, b.digest + 7);
	expect_listing(f.s, want);
	ck_assert_msg(store_untag_keep_image(f.s, "a:2", &err) == 0, "%s", err.msg);
	snprintf(want, sizeof(want), "b:1@%.8s,-@%.8s", b.digest + 7, a.digest + 7);
	expect_listing(f.s, want);
	expect_resolves(f.s, a.digest, a.digest);

	/* Out of index.json altogether, a kept root still holds its blobs. */
	ck_assert_msg(store_untag(f.s, a.digest, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_untag(f.s, "b:1", &err) == 0, "%s", err.msg);
	expect_listing(f.s, "");
	{
		const char *keep[] = {a.digest, "sha256:not-a-digest"};

		ck_assert_msg(store_gc_keeping(f.s, keep, 2, &res, &err) == 0, "%s", err.msg);
	}
	ck_assert_uint_eq(res.blobs, 1); /* b's manifest; the config is a's too */
	ck_assert(store_blob_exists(f.s, a.digest));
	ck_assert(!store_blob_exists(f.s, b.digest));
	ck_assert_msg(store_gc(f.s, &res, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(res.blobs, 2);
	ck_assert(!store_blob_exists(f.s, a.digest));
	fx_close(&f);
}
END_TEST

/* One store handle, fsck twice: the second fsck must still rehash. */
START_TEST(bug_fsck_twice)
{
	struct strata_error err = {0};
	char d[STORE_DIGEST_MAX], *report = NULL, *p;
	long n;
	struct fx f;

	fx_open(&f, "fscktwice");
	ck_assert_msg(store_blob_put(f.s, "{\"a\":1}", 7, d, &err) == 0, "%s", err.msg);
	n = fsck(f.s, &report);
	ck_assert_msg(n == 0, "%ld:\n%s", n, report);
	free(report);
	flip_byte((p = blob_file(&f, d)), 2);
	free(p);
	n = fsck(f.s, &report);
	ck_assert_msg(n > 0, "second fsck on the same handle missed a damaged blob");
	ck_assert_msg(contains(report, d), "%s", report);
	free(report);
	fx_close(&f);
}
END_TEST

/* Importing the same plain layer twice leaves the store clean. */
START_TEST(bug_reimport_plain_fsck)
{
	struct store_imported one, two;
	char *report = NULL;
	long n;
	struct bare b;
	struct fx f;

	fx_open(&f, "reimport");
	b = write_bare(f.src, "p.tar", false);
	import_one(&f, b.path, &one);
	n = fsck_fresh(&f, &report);
	ck_assert_msg(n == 0, "after one import: %ld:\n%s", n, report);
	free(report);
	import_one(&f, b.path, &two);
	n = fsck_fresh(&f, &report);
	ck_assert_msg(n == 0, "after importing again: %ld:\n%s", n, report);
	free(report);
	free(one.name);
	free(two.name);
	free(b.path);
	fx_close(&f);
}
END_TEST

/* Untagging a name removes that tag only, even when the name is made of hex
 * digits that happen to begin the image's digest. */
START_TEST(bug_untag_hex_name)
{
	struct strata_error err = {0};
	char name[16], want[256];
	struct img a;
	struct fx f;

	fx_open(&f, "hexname");
	a = make_image(f.s, 1);
	index_add(f.s, a.digest, a.size, "app");
	snprintf(name, sizeof(name), "%.8s", a.digest + 7);
	ck_assert(store_valid_tag(name));
	ck_assert_msg(store_tag(f.s, "app", name, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_untag(f.s, name, &err) == 0, "%s", err.msg);
	snprintf(want, sizeof(want), "app@%.8s", a.digest + 7);
	expect_listing(f.s, want);
	fx_close(&f);
}
END_TEST

/* Importing an image again repairs a blob fsck found damaged. */
START_TEST(bug_reimport_repairs_blob)
{
	struct store_imported one, two;
	char *report = NULL, *p;
	long n;
	struct bare b;
	struct fx f;

	fx_open(&f, "repair");
	b = write_bare(f.src, "r.tar.gz", true);
	import_one(&f, b.path, &one);
	flip_byte((p = blob_file(&f, b.digest)), (off_t)(b.file_len / 2));
	free(p);
	n = fsck_fresh(&f, &report);
	ck_assert_int_gt(n, 0);
	free(report);
	import_one(&f, b.path, &two);
	n = fsck_fresh(&f, &report);
	ck_assert_msg(n == 0, "after importing the layer again: %ld:\n%s", n, report);
	free(report);
	free(one.name);
	free(two.name);
	free(b.path);
	fx_close(&f);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");
	const char *bugs = getenv("STRATA_KNOWN_BUGS");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_digest_valid);
	tcase_add_test(tc, test_digest_buffer);
	tcase_add_test(tc, test_path_normalize);
	tcase_add_test(tc, test_ref_normalize);
	tcase_add_test(tc, test_valid_tag);
	tcase_add_test(tc, test_open_creates_layout);
	tcase_add_test(tc, test_open_refuses_non_layout);
	tcase_add_test(tc, test_open_existing_layout);
	tcase_add_test(tc, test_open_missing);
	tcase_add_test(tc, test_blob_put);
	tcase_add_test(tc, test_blob_writer);
	tcase_add_test(tc, test_blob_read_json);
	tcase_add_test(tc, test_blob_open_refuses);
	tcase_add_test(tc, test_index_add_list);
	tcase_add_test(tc, test_index_normalized_tags);
	tcase_add_test(tc, test_tag_untag);
	tcase_add_test(tc, test_resolve);
	tcase_add_test(tc, test_import_bare_plain);
	tcase_add_test(tc, test_import_bare_gzip);
	tcase_add_test(tc, test_import_bare_xz);
	tcase_add_test(tc, test_import_deterministic);
	tcase_add_test(tc, test_import_tag_option);
	tcase_add_test(tc, test_open_layers);
	tcase_add_test(tc, test_gc);
	tcase_add_test(tc, test_gc_keeping);
	tcase_add_test(tc, test_fsck);
	tcase_add_test(tc, test_fsck_config_and_missing);
	tcase_add_test(tc, test_import_oci_layout);
	tcase_add_test(tc, test_import_oci_wrong_layer_digest);
	suite_add_tcase(s, tc);
	if (bugs && *bugs && strcmp(bugs, "0") != 0) {
		TCase *kb = tcase_create("known-bugs");

		tcase_set_timeout(kb, 30);
		tcase_add_test(kb, bug_gc_twice);
		tcase_add_test(kb, bug_fsck_twice);
		tcase_add_test(kb, bug_blob_open_fifo);
		tcase_add_test(kb, bug_reimport_plain_fsck);
		tcase_add_test(kb, bug_untag_hex_name);
		tcase_add_test(kb, bug_reimport_repairs_blob);
		suite_add_tcase(s, kb);
	}
	return s;
}

int main(void)
{
	return tl_run_suite(store_suite());
}
