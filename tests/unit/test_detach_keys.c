/* SPDX-License-Identifier: MIT */
/*
 * --detach-keys (tools/attach_keys.c): podman's spellings and what is
 * refused; the matcher across reads, a partial match's bytes passed on
 * as they came when it fails, overlapping sequences.
 */
#include <string.h>

#include "attach.h"
#include "testlib.h"

static void parses(const char *text, const char *want, size_t len)
{
	struct detach_keys k;

	ck_assert_msg(detach_keys_parse(text, &k) == 0, "%s refused", text);
	ck_assert_msg(k.len == len && memcmp(k.seq, want, len) == 0, "%s: wrong bytes", text);
}

START_TEST(test_parse)
{
	struct detach_keys k;

	parses("ctrl-p,ctrl-q", "\x10\x11", 2);
	parses("ctrl-a", "\x01", 1);
	parses("ctrl-z,ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", "\x1a\0\x1b\x1c\x1d\x1e\x1f",
	       7);
	parses("a,b,X", "abX", 3);
	parses("CTRL-P", "\x10", 1);
	parses("", "", 0);
	const char *bad[] = {"ctrl-1",  "ctrl-",   "ab",
	                     "ctrl-p,", ",ctrl-p", "meta-x",
	                     "ctrl-pp", "a,,b",    "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(detach_keys_parse(bad[i], &k) < 0, "%s accepted", bad[i]);
}
END_TEST

/* Feeds each of @reads in turn: what goes on, joined, and whether (and
 * after which read) it detached. */
static void feeds(const char *keys, const char *const *reads, const char *want, int at)
{
	struct detach_keys k;
	char got[256] = "", out[64 + DETACH_KEYS_MAX];
	int detached_at = -1;

	ck_assert_int_eq(detach_keys_parse(keys, &k), 0);
	for (int i = 0; reads[i] && detached_at < 0; i++) {
		bool d;
		size_t n = detach_keys_feed(&k, reads[i], strlen(reads[i]), out, &d);

		strncat(got, out, n);
		if (d)
			detached_at = i;
	}
	ck_assert_msg(strcmp(got, want) == 0 && detached_at == at, "%s: got '%s' (detached at %d)",
	              keys, got, detached_at);
}

#define R(...) ((const char *const[]){__VA_ARGS__, NULL})

START_TEST(test_match)
{
	feeds("ctrl-p,ctrl-q",
	      R("ab\x10\x11"
	        "cd"),
	      "ab", 0);
	feeds("ctrl-p,ctrl-q", R("ab\x10", "\x11"), "ab", 1); /* across reads */
	feeds("ctrl-p,ctrl-q",
	      R("\x10"
	        "a\n"),
	      "\x10"
	      "a\n",
	      -1); /* passed on */
	feeds("ctrl-p,ctrl-q", R("\x10", "a"),
	      "\x10"
	      "a",
	      -1);                                                       /* ... across reads */
	feeds("ctrl-p,ctrl-q", R("\x10\x10\x11"), "\x10", 0);            /* a second start */
	feeds("ctrl-p,ctrl-p,ctrl-q", R("\x10\x10\x10\x11"), "\x10", 0); /* overlapping */
	feeds("a,b,a,c", R("ababac"), "ab", 0);
	feeds("a,b,a,c", R("abab", "x"), "ababx", -1);
	feeds("ctrl-x", R("hello\x18"), "hello", 0);
	feeds("", R("\x10\x11"), "\x10\x11", -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("detach-keys");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_parse);
	tcase_add_test(tc, test_match);
	suite_add_tcase(s, tc);
	return tl_run_suite(s);
}
