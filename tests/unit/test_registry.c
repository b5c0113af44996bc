/* SPDX-License-Identifier: MIT */
/*
 * The registry client's pure parts: image references as podman and docker
 * write them, and containers-registries.conf(5).
 */
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "testlib.h"

/* @text qualified with docker.io as the default, as a string. */
static char *qualified(const char *text)
{
	struct store_reference r, q;
	struct strata_error err;
	char *s;

	if (store_reference_parse(text, &r, &err) < 0)
		return NULL;
	ck_assert_int_eq(store_reference_qualify(&r, "docker.io", &q, &err), 0);
	s = store_reference_string(&q);
	store_reference_free(&r);
	store_reference_free(&q);
	return s;
}

static void check_qualified(const char *text, const char *want)
{
	char *s = qualified(text);

	ck_assert_msg(s != NULL, "%s: refused", text);
	ck_assert_str_eq(s, want);
	free(s);
}

START_TEST(test_reference_forms)
{
	const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char buf[256];

	check_qualified("debian", "docker.io/library/debian:latest");
	check_qualified("debian:12", "docker.io/library/debian:12");
	check_qualified("docker.io/debian:12", "docker.io/library/debian:12");
	check_qualified("index.docker.io/library/debian", "docker.io/library/debian:latest");
	check_qualified("user/app:v1.2-rc_3", "docker.io/user/app:v1.2-rc_3");
	check_qualified("localhost/app", "localhost/app:latest");
	check_qualified("localhost:5000/app:1", "localhost:5000/app:1");
	check_qualified("127.0.0.1:5000/a/b/c", "127.0.0.1:5000/a/b/c:latest");
	check_qualified("quay.io/org/app__x.y-z", "quay.io/org/app__x.y-z:latest");
	snprintf(buf, sizeof(buf), "localhost:5000/app@%s", d);
	check_qualified(buf, buf);
	snprintf(buf, sizeof(buf), "app:1@%s", d);
	{
		char want[256], *s = qualified(buf);

		snprintf(want, sizeof(want), "docker.io/library/app:1@%s", d);
		ck_assert_str_eq(s, want);
		free(s);
	}
}
END_TEST

START_TEST(test_reference_refused)
{
	static const char *const bad[] = {
	    "",
	    "Debian",                   /* uppercase repository */
	    "debian:",                  /* empty tag */
	    "debian:-x",                /* tag starts with '-' */
	    "a//b",                     /* empty component */
	    "app/",                     /* trailing slash */
	    "app@sha256:1234",          /* short digest */
	    "app@md5:0123456789abcdef", /* other algorithms */
	    "ap--p_",                   /* trailing separator */
	    "a___b",                    /* three underscores */
	    "localhost:5000/",          /* no repository */
	    "registry.example.com/Org/app",
	};
	struct store_reference r;
	struct strata_error err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(store_reference_parse(bad[i], &r, &err) < 0, "'%s' accepted", bad[i]);
		ck_assert_int_eq(err.code, STRATA_ERR_OPTION);
		ck_assert_ptr_nonnull(strstr(err.msg, "not an image reference"));
	}
}
END_TEST

START_TEST(test_reference_qualified_or_not)
{
	struct store_reference r;
	struct strata_error err;

	ck_assert_int_eq(store_reference_parse("debian:12", &r, &err), 0);
	ck_assert_ptr_null(r.registry);
	ck_assert_str_eq(r.repository, "debian");
	ck_assert_str_eq(r.tag, "12");
	store_reference_free(&r);
	/* "localhost" alone is a repository, with a first component it is a
	 * registry: as docker reads them. */
	ck_assert_int_eq(store_reference_parse("localhost", &r, &err), 0);
	ck_assert_ptr_null(r.registry);
	store_reference_free(&r);
	ck_assert_int_eq(store_reference_parse("my.reg/x", &r, &err), 0);
	ck_assert_str_eq(r.registry, "my.reg");
	store_reference_free(&r);
}
END_TEST

START_TEST(test_store_name)
{
	const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	struct store_reference r, q;
	struct strata_error err;
	char text[200], *s;

	snprintf(text, sizeof(text), "localhost:5000/app@%s", d);
	ck_assert_int_eq(store_reference_parse(text, &r, &err), 0);
	ck_assert_int_eq(store_reference_qualify(&r, "docker.io", &q, &err), 0);
	s = store_reference_store_name(&q);
	ck_assert_str_eq(s, text);
	ck_assert(store_valid_tag(s));
	free(s);
	store_reference_free(&r);
	store_reference_free(&q);
	/* A tag and a digest: the tag names it, the digest pins it. */
	snprintf(text, sizeof(text), "busybox:1@%s", d);
	ck_assert_int_eq(store_reference_parse(text, &r, &err), 0);
	ck_assert_int_eq(store_reference_qualify(&r, "docker.io", &q, &err), 0);
	s = store_reference_store_name(&q);
	ck_assert_str_eq(s, "docker.io/library/busybox:1");
	free(s);
	store_reference_free(&r);
	store_reference_free(&q);
}
END_TEST

static const char conf_text[] =
    "# a comment\n"
    "unqualified-search-registries = [\"registry.example.com\",  # first\n"
    "   'quay.io' ]\n"
    "short-name-mode = \"enforcing\"\n"
    "\n"
    "[aliases]\n"
    "\"app\" = \"quay.io/org/app\"\n"
    "\n"
    "[[registry]]\n"
    "prefix = \"example.com/foo\"\n"
    "location = \"internal.example.com:5000/bar\"\n"
    "insecure = true\n"
    "[[registry.mirror]]\n"
    "location = \"mirror.example.com/m\"\n"
    "[[registry.mirror]]\n"
    "location = \"127.0.0.1:5001/m2\"\n"
    "insecure = true\n"
    "\n"
    "[[registry]]\n"
    "location = \"evil.example.com\"\n"
    "blocked = true\n"
    "\n"
    "[[registry]]\n"
    "prefix = \"*.digest.example\"\n"
    "location = \"origin.example\"\n"
    "mirror-by-digest-only = true\n"
    "[[registry.mirror]]\n"
    "location = \"cache.example\"\n";

static void ref_in(const char *text, struct store_reference *q)
{
	struct store_reference r;
	struct strata_error err;

	ck_assert_int_eq(store_reference_parse(text, &r, &err), 0);
	ck_assert_int_eq(store_reference_qualify(&r, "docker.io", q, &err), 0);
	store_reference_free(&r);
}

START_TEST(test_conf_parse)
{
	struct store_registries c;
	struct strata_error err;
	const char *const *search;

	ck_assert_msg(store_registries_parse(conf_text, "t.conf", &c, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(store_registries_search(&c, &search), 2);
	ck_assert_str_eq(search[0], "registry.example.com");
	ck_assert_str_eq(search[1], "quay.io");
	ck_assert_uint_eq(c.n_entries, 3);
	ck_assert_str_eq(c.entries[0].prefix, "example.com/foo");
	ck_assert(c.entries[0].insecure);
	ck_assert_uint_eq(c.entries[0].n_mirrors, 2);
	ck_assert(!c.entries[0].mirrors[0].insecure && c.entries[0].mirrors[1].insecure);
	ck_assert_str_eq(c.entries[1].prefix, "evil.example.com"); /* from location */
	ck_assert(c.entries[1].blocked);
	store_registries_free(&c);

	/* No file, or no key: docker.io. */
	ck_assert_int_eq(store_registries_parse("", "empty", &c, &err), 0);
	ck_assert_uint_eq(store_registries_search(&c, &search), 1);
	ck_assert_str_eq(search[0], "docker.io");
	store_registries_free(&c);
	ck_assert_int_eq(
	    store_registries_parse("unqualified-search-registries = []\n", "e", &c, &err), 0);
	ck_assert_uint_eq(store_registries_search(&c, &search), 0);
	store_registries_free(&c);
}
END_TEST

START_TEST(test_conf_errors)
{
	static const char *const bad[] = {
	    "unqualified-search-registries = [\"a\"\n",
	    "[[registry]]\ninsecure = 1\nlocation = \"x\"\n",
	    "[[registry.mirror]]\nlocation = \"x\"\n",
	    "[[registry]]\ninsecure = true\n",
	    "key = \"unterminated\n",
	    "[[registry\n",
	};
	struct store_registries c;
	struct strata_error err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(store_registries_parse(bad[i], "bad.conf", &c, &err) < 0,
		              "accepted: %s", bad[i]);
		ck_assert_ptr_nonnull(strstr(err.msg, "bad.conf"));
	}
}
END_TEST

START_TEST(test_conf_sources)
{
	struct store_registries c;
	struct store_pull_source *v;
	struct store_reference q;
	struct strata_error err;
	size_t n;

	ck_assert_int_eq(store_registries_parse(conf_text, "t.conf", &c, &err), 0);
	/* Mirrors first, then the location the prefix is rewritten to. */
	ref_in("example.com/foo/x/app:1", &q);
	ck_assert_int_eq(store_registries_sources(&c, &q, &v, &n, &err), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(v[0].registry, "mirror.example.com");
	ck_assert_str_eq(v[0].repository, "m/x/app");
	ck_assert(v[0].mirror && !v[0].insecure);
	ck_assert_str_eq(v[1].registry, "127.0.0.1:5001");
	ck_assert(v[1].insecure);
	ck_assert_str_eq(v[2].registry, "internal.example.com:5000");
	ck_assert_str_eq(v[2].repository, "bar/x/app");
	ck_assert(v[2].insecure && !v[2].mirror);
	store_pull_sources_free(v, n);
	store_reference_free(&q);
	/* Not at a component boundary: no match. */
	ref_in("example.com/foobar", &q);
	ck_assert_int_eq(store_registries_sources(&c, &q, &v, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(v[0].registry, "example.com");
	ck_assert_str_eq(v[0].repository, "foobar");
	store_pull_sources_free(v, n);
	store_reference_free(&q);
	/* Blocked. */
	ref_in("evil.example.com/x", &q);
	ck_assert_int_eq(store_registries_sources(&c, &q, &v, &n, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "blocked"));
	store_reference_free(&q);
	/* mirror-by-digest-only: a tag goes to the origin only. */
	ref_in("a.digest.example/app:1", &q);
	ck_assert_int_eq(store_registries_sources(&c, &q, &v, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(v[0].registry, "origin.example");
	ck_assert_str_eq(v[0].repository, "app");
	store_pull_sources_free(v, n);
	store_reference_free(&q);
	ref_in("a.digest.example/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456"
	       "789abcdef",
	       &q);
	ck_assert_int_eq(store_registries_sources(&c, &q, &v, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(v[0].registry, "cache.example");
	store_pull_sources_free(v, n);
	store_reference_free(&q);
	store_registries_free(&c);
}
END_TEST

/* Credentials where podman finds them: the most specific auths key, Docker
 * Hub's legacy key, anonymous when none, a broken entry named. */
START_TEST(test_credentials)
{
	char *dir = tl_mkdtemp("auth"), *file = tl_path(dir, "auth.json");
	const char *json = "{\"auths\": {"
	                   "\"reg.example:5000/team\": {\"auth\": \"YWxpY2U6czNjcmV0\"},"
	                   "\"reg.example:5000\": {\"auth\": \"Ym9iOmIwYg==\"},"
	                   "\"https://index.docker.io/v1/\": {\"auth\": \"aHViOmh1Yg\"},"
	                   "\"broken.example\": {\"auth\": \"!!\"}}}";
	struct store_credentials c;
	struct strata_error err;
	char *basic = store_reg_basic("alice:s3cret");

	ck_assert_str_eq(basic, "Basic YWxpY2U6czNjcmV0");
	free(basic);
	tl_write_file(file, json, strlen(json));
	setenv("REGISTRY_AUTH_FILE", file, 1);
	setenv("HOME", dir, 1);
	unsetenv("XDG_RUNTIME_DIR");
	ck_assert_int_eq(store_credentials_find("reg.example:5000", "team/app", &c, &err), 0);
	ck_assert_str_eq(c.username, "alice");
	ck_assert_str_eq(c.password, "s3cret");
	store_credentials_free(&c);
	ck_assert_int_eq(store_credentials_find("reg.example:5000", "other/app", &c, &err), 0);
	ck_assert_str_eq(c.username, "bob");
	store_credentials_free(&c);
	ck_assert_int_eq(store_credentials_find("docker.io", "library/debian", &c, &err), 0);
	ck_assert_str_eq(c.username, "hub");
	store_credentials_free(&c);
	ck_assert_int_eq(store_credentials_find("quay.io", "x/y", &c, &err), 0);
	ck_assert_ptr_null(c.username);
	ck_assert_int_eq(store_credentials_find("broken.example", "x", &c, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "not base64"));
	free(file);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("registry");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_reference_forms);
	tcase_add_test(tc, test_reference_refused);
	tcase_add_test(tc, test_reference_qualified_or_not);
	tcase_add_test(tc, test_store_name);
	tcase_add_test(tc, test_conf_parse);
	tcase_add_test(tc, test_conf_errors);
	tcase_add_test(tc, test_conf_sources);
	tcase_add_test(tc, test_credentials);
	suite_add_tcase(s, tc);
	return tl_run_suite(s);
}
