/* SPDX-License-Identifier: MIT */
/*
 * overlayfs' -o options (tools/ovl_opts.c): lowerdir='s order and escapes,
 * fuse-overlayfs' id mappings turned into strata's map lines, options
 * passed to FUSE, ignored or refused.
 */
#include <string.h>

#include "ovl_opts.h"
#include "testlib.h"

static void parses(struct ovl_opts *o, const char *text)
{
	char why[256] = "";

	ovl_opts_init(o);
	ck_assert_msg(ovl_opts_parse(o, text, why, sizeof(why)) == 0, "%s refused: %s", text, why);
}

static void refuses(const char *text, const char *because)
{
	struct ovl_opts o;
	char why[256] = "";

	ovl_opts_init(&o);
	ck_assert_msg(ovl_opts_parse(&o, text, why, sizeof(why)) < 0, "%s accepted", text);
	ck_assert_msg(strstr(why, because), "%s: '%s' does not say '%s'", text, why, because);
	ck_assert_msg(!strchr(why, '\n'), "%s: more than one line", text);
	ovl_opts_free(&o);
}

START_TEST(test_dirs)
{
	struct ovl_opts o;

	parses(&o, "lowerdir=/a:/b/c:rel,upperdir=/u,workdir=/w");
	ck_assert_int_eq(o.n_lowers, 3);
	ck_assert_str_eq(o.lowers[0], "/a");
	ck_assert_str_eq(o.lowers[1], "/b/c");
	ck_assert_str_eq(o.lowers[2], "rel");
	ck_assert_str_eq(o.upperdir, "/u");
	ck_assert_str_eq(o.workdir, "/w");
	ck_assert_ptr_null(o.fuse);
	ovl_opts_free(&o);

	/* overlayfs' escapes: a colon and a comma in a name, a backslash. */
	parses(&o, "lowerdir=/x\\:y:/p\\,q:/b\\\\s,upperdir=/u\\,v,workdir=/w");
	ck_assert_int_eq(o.n_lowers, 3);
	ck_assert_str_eq(o.lowers[0], "/x:y");
	ck_assert_str_eq(o.lowers[1], "/p,q");
	ck_assert_str_eq(o.lowers[2], "/b\\s");
	ck_assert_str_eq(o.upperdir, "/u,v");
	ovl_opts_free(&o);

	/* Several -o add up; a later lowerdir= replaces an earlier one. */
	parses(&o, "lowerdir=/a");
	char why[128];
	ck_assert_int_eq(ovl_opts_parse(&o, "lowerdir=/b:/c,ro", why, sizeof(why)), 0);
	ck_assert_int_eq(o.n_lowers, 2);
	ck_assert_str_eq(o.lowers[0], "/b");
	ck_assert(o.ro);
	ovl_opts_free(&o);

	refuses("lowerdir=", "names no directory");
	refuses("lowerdir=/a::/b", "entry 2 is empty");
	refuses("lowerdir=/a:", "entry 2 is empty");
	refuses("lowerdir=:/a", "entry 1 is empty");
	refuses("upperdir=", "upperdir= names no directory");
}
END_TEST

START_TEST(test_mappings)
{
	struct ovl_opts o;

	/* fuse-overlayfs' DISK:SHOWN:LEN → "SHOWN DISK LEN" lines. */
	parses(&o, "uidmapping=0:100000:65536,gidmapping=0:1000:1:1:110000:65536");
	ck_assert_str_eq(o.uid_map, "100000 0 65536\n");
	ck_assert_str_eq(o.gid_map, "1000 0 1\n110000 1 65536\n");
	ovl_opts_free(&o);

	parses(&o, "squash_to_uid=1000,squash_to_root");
	ck_assert_int_eq(o.squash_uid, 1000);
	ck_assert_int_eq(o.squash_gid, -1);
	ck_assert(o.squash_to_root);
	ovl_opts_free(&o);

	refuses("uidmapping=0:1", "triples");
	refuses("uidmapping=0:1:x", "triples");
	refuses("uidmapping=0:1:2:3", "triples");
	refuses("gidmapping=", "no mapping");
	refuses("uidmapping=0:4294967296:1", "triples");
	refuses("squash_to_uid=-1", "not a user or group id");
	refuses("squash_to_gid=", "not a user or group id");
}
END_TEST

START_TEST(test_flags)
{
	struct ovl_opts o;

	parses(&o, "rw,nosuid,nodev,noatime,allow_other,fsname=a\\,b,xattr_permissions=2,"
	           "volatile,noacl,metacopy=on,redirect_dir=on,index=off,userxattr,xino=auto,"
	           "upper_format=overlay,defaults,_netdev,x-systemd.automount,nonempty,"
	           "span_cache=16M,,");
	ck_assert_str_eq(o.fuse, "rw,nosuid,nodev,noatime,allow_other,fsname=a\\,b");
	ck_assert_int_eq(o.xattr_permissions, 2);
	ck_assert(o.is_volatile && o.noacl && o.metacopy && o.nonempty && !o.ro);
	ck_assert_int_eq(o.upper_format, OVL_UPPER_OVERLAY);
	ck_assert_str_eq(o.span_cache, "16M");
	ovl_opts_free(&o);

	parses(&o, "upper_format=oci,ro");
	ck_assert_int_eq(o.upper_format, OVL_UPPER_OCI);
	ck_assert(o.ro);
	ovl_opts_free(&o);

	refuses("frobnicate", "unknown mount option 'frobnicate'");
	refuses("lowerdir=/a,bogus=1", "unknown mount option 'bogus=1'");
	refuses("upper_format=tar", "oci or overlay");
	refuses("xattr_permissions=3", "0, 1 or 2");
	refuses("metacopy=yes", "on or off");
	refuses("remount", "unknown mount option");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ovl_opts");
	TCase *tc = tcase_create("ovl_opts");

	tcase_add_test(tc, test_dirs);
	tcase_add_test(tc, test_mappings);
	tcase_add_test(tc, test_flags);
	suite_add_tcase(s, tc);
	return tl_run_suite(s);
}
