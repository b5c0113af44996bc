/* SPDX-License-Identifier: MIT */
/*
 * libstrata-util: growable arrays (vec.c) and the raw system call helpers
 * (sys.c) that every other library leans on.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata-error.h"
#include "sha256.h"
#include "sys.h"
#include "testlib.h"
#include "vec.h"

START_TEST(test_vec_grows_and_keeps)
{
	uint64_t *v = NULL;
	size_t n = 0, cap = 0;

	for (uint64_t i = 0; i < 100000; i++) {
		ck_assert_int_eq(VEC_RESERVE(v, cap, n + 1), 0);
		ck_assert_uint_ge(cap, n + 1);
		v[n++] = i * 7;
	}
	for (uint64_t i = 0; i < n; i++)
		ck_assert_uint_eq(v[i], i * 7);
	/* Doubling: capacity stays within twice what is used. */
	ck_assert_uint_le(cap, 2 * n);
	free(v);
}
END_TEST

START_TEST(test_vec_no_growth_when_room)
{
	char *v = NULL;
	size_t cap = 0;
	char *before;

	ck_assert_int_eq(VEC_RESERVE(v, cap, 10), 0);
	before = v;
	ck_assert_int_eq(VEC_RESERVE(v, cap, cap), 0);
	ck_assert_ptr_eq(v, before);
	ck_assert_int_eq(VEC_RESERVE(v, cap, 0), 0);
	free(v);
}
END_TEST

START_TEST(test_vec_overflow_leaves_array)
{
	uint64_t *v = NULL;
	size_t cap = 0;
	uint64_t *kept;
	size_t kept_cap;

	ck_assert_int_eq(VEC_RESERVE(v, cap, 3), 0);
	v[0] = 1, v[1] = 2, v[2] = 3;
	kept = v;
	kept_cap = cap;
	/* need * elem overflows size_t: refused, not wrapped. */
	errno = 0;
	ck_assert_int_eq(VEC_RESERVE(v, cap, SIZE_MAX / 4), -1);
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_int_eq(VEC_RESERVE(v, cap, SIZE_MAX), -1);
	ck_assert_ptr_eq(v, kept);
	ck_assert_uint_eq(cap, kept_cap);
	ck_assert_uint_eq(v[2], 3);
	free(v);
}
END_TEST

START_TEST(test_write_file_atomic)
{
	char dir[] = "/tmp/strata-util-XXXXXX", path[64], buf[16];
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	ck_assert_int_eq(sys_write_file_atomic(path, "one", 3), 0);
	ck_assert_int_eq(sys_write_file_atomic(path, "second", 6), 0);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(sys_pread_full(fd, buf, sizeof(buf), 0), 6);
	ck_assert_int_eq(memcmp(buf, "second", 6), 0);
	close(fd);
	/* No temp file left beside it. */
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_mkdir_p)
{
	char dir[] = "/tmp/strata-util-XXXXXX", path[96];
	struct stat st;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a/b//c/", dir);
	ck_assert_int_eq(sys_mkdir_p(path), 0);
	ck_assert_int_eq(sys_mkdir_p(path), 0); /* exists: fine */
	snprintf(path, sizeof(path), "%s/a/b/c", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0700);
	ck_assert_int_eq(rmdir(path), 0);
	snprintf(path, sizeof(path), "%s/a/b", dir);
	ck_assert_int_eq(rmdir(path), 0);
	snprintf(path, sizeof(path), "%s/a", dir);
	ck_assert_int_eq(rmdir(path), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_fail_formats)
{
	struct strata_error err;

	ck_assert_int_eq(strata_fail(&err, STRATA_ERR_SYS, EIO, "%s: %d", "x", 3), -1);
	ck_assert_int_eq(err.code, STRATA_ERR_SYS);
	ck_assert_int_eq(err.sys_errno, EIO);
	ck_assert_str_eq(err.msg, "x: 3");
	ck_assert_int_eq(strata_fail(NULL, STRATA_ERR_NOMEM, ENOMEM, "y"), -1);
}
END_TEST

static void hex(const unsigned char *md, char *out)
{
	for (int i = 0; i < SHA256_SIZE; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* FIPS 180-2's vectors, fed at once and in pieces. */
START_TEST(test_sha256_vectors)
{
	static const char abc_hex[] =
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	static const char two_blocks[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	static const char two_blocks_hex[] =
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
	unsigned char md[SHA256_SIZE];
	char out[2 * SHA256_SIZE + 1];
	struct strata_error err;
	struct sha256 *h;

	ck_assert_int_eq(sha256_buffer("abc", 3, md, &err), 0);
	hex(md, out);
	ck_assert_str_eq(out, abc_hex);
	h = sha256_new(&err);
	ck_assert_ptr_nonnull(h);
	for (size_t i = 0; i < strlen(two_blocks); i += 5)
		ck_assert_int_eq(
		    sha256_update(h, two_blocks + i,
		                  strlen(two_blocks) - i < 5 ? strlen(two_blocks) - i : 5),
		    0);
	ck_assert_int_eq(sha256_final(h, md), 0);
	hex(md, out);
	ck_assert_str_eq(out, two_blocks_hex);
	sha256_free(h);
	sha256_free(NULL);
}
END_TEST

static Suite *util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("util");

	tcase_add_test(tc, test_vec_grows_and_keeps);
	tcase_add_test(tc, test_vec_no_growth_when_room);
	tcase_add_test(tc, test_vec_overflow_leaves_array);
	tcase_add_test(tc, test_write_file_atomic);
	tcase_add_test(tc, test_mkdir_p);
	tcase_add_test(tc, test_fail_formats);
	tcase_add_test(tc, test_sha256_vectors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tl_run_suite(util_suite());
}
