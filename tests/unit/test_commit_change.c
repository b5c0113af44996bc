/* SPDX-License-Identifier: MIT */
/*
 * strata commit --change: Dockerfile instructions applied to an image
 * config's "config" object (layerstore/commit_change.c), each form docker
 * takes, and what it refuses.
 */
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "testlib.h"

/* @lines applied in turn to @start (a JSON object's text); the result as
 * compact JSON with sorted keys, or "ERR: <message>". */
static char *apply(const char *start, const char *const *lines)
{
	json_t *cfg = json_loads(start, 0, NULL);
	struct strata_error err;
	char *out;

	ck_assert_ptr_nonnull(cfg);
	for (; *lines; lines++)
		if (store_commit_change(cfg, *lines, &err) < 0) {
			json_decref(cfg);
			ck_assert_int_ge(asprintf(&out, "ERR: %s", err.msg), 0);
			return out;
		}
	out = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(cfg);
	return out;
}

static void check(const char *start, const char *const *lines, const char *want)
{
	char *got = apply(start, lines);

	ck_assert_msg(strcmp(got, want) == 0, "%s: got %s, want %s", lines[0], got, want);
	free(got);
}

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

START_TEST(test_cmd_entrypoint)
{
	check("{}", L("CMD [\"a\",\"b c\"]"), "{\"Cmd\":[\"a\",\"b c\"]}");
	check("{}", L("CMD a b"), "{\"Cmd\":[\"/bin/sh\",\"-c\",\"a b\"]}");
	check("{}", L("cmd  echo hi  "), "{\"Cmd\":[\"/bin/sh\",\"-c\",\"echo hi\"]}");
	/* podman's KEYWORD=VALUE */
	check("{}", L("CMD=/bin/bash"), "{\"Cmd\":[\"/bin/sh\",\"-c\",\"/bin/bash\"]}");
	check("{}", L("ENTRYPOINT [\"/init\"]"), "{\"Entrypoint\":[\"/init\"]}");
	check("{}", L("CMD []"), "{\"Cmd\":[]}");
	/* Not an array of strings: the shell form, as docker falls back. */
	check("{}", L("CMD [1, 2]"), "{\"Cmd\":[\"/bin/sh\",\"-c\",\"[1, 2]\"]}");
	check("{}", L("CMD [\"a\""), "{\"Cmd\":[\"/bin/sh\",\"-c\",\"[\\\"a\\\"\"]}");
	check("{\"Cmd\":[\"old\"]}", L("CMD new"), "{\"Cmd\":[\"/bin/sh\",\"-c\",\"new\"]}");
}
END_TEST

START_TEST(test_env_label)
{
	check("{\"Env\":[\"PATH=/bin\",\"A=1\"]}", L("ENV A=2 B=\"x y\""),
	      "{\"Env\":[\"PATH=/bin\",\"A=2\",\"B=x y\"]}");
	check("{}", L("ENV K some value"), "{\"Env\":[\"K=some value\"]}");
	check("{}", L("ENV K=a\\ b", "ENV K='c d'"), "{\"Env\":[\"K=c d\"]}");
	check("{}", L("LABEL a=1 \"b c\"=2", "LABEL a=3"),
	      "{\"Labels\":{\"a\":\"3\",\"b c\":\"2\"}}");
	check("{}", L("ENV K=\"open"), "ERR: commit: --change 'ENV K=\"open': unterminated quote");
	check("{}", L("LABEL novalue"),
	      "ERR: commit: --change 'LABEL novalue': expected KEY=VALUE");
	check("{}", L("ENV =x"), "ERR: commit: --change 'ENV =x': expected KEY=VALUE");
	check("{}", L("ENV K"), "ERR: commit: --change 'ENV K': expected KEY=VALUE or KEY VALUE");
}
END_TEST

START_TEST(test_workdir_user_expose)
{
	check("{}", L("WORKDIR /x"), "{\"WorkingDir\":\"/x\"}");
	check("{\"WorkingDir\":\"/a\"}", L("WORKDIR b", "WORKDIR c"),
	      "{\"WorkingDir\":\"/a/b/c\"}");
	check("{}", L("WORKDIR rel"), "{\"WorkingDir\":\"/rel\"}");
	check("{}", L("USER app:app"), "{\"User\":\"app:app\"}");
	check("{}", L("EXPOSE 80/tcp 53/udp 8080"),
	      "{\"ExposedPorts\":{\"53/udp\":{},\"80/tcp\":{},\"8080/tcp\":{}}}");
	check("{}", L("EXPOSE 0"),
	      "ERR: commit: --change 'EXPOSE 0': expected PORT[/tcp|udp|sctp]");
	check("{}", L("EXPOSE 80/icmp"),
	      "ERR: commit: --change 'EXPOSE 80/icmp': expected PORT[/tcp|udp|sctp]");
	check("{}", L("STOPSIGNAL SIGINT", "VOLUME [\"/v\"]", "VOLUME /w /x"),
	      "{\"StopSignal\":\"SIGINT\",\"Volumes\":{\"/v\":{},\"/w\":{},\"/x\":{}}}");
}
END_TEST

START_TEST(test_refused)
{
	char *got;

	got = apply("{}", L("RUN make"));
	ck_assert_ptr_nonnull(strstr(got, "only CMD, ENTRYPOINT"));
	free(got);
	check("{}", L("CMD"), "ERR: commit: --change 'CMD': no arguments");
	check("{}", L("CMD   "), "ERR: commit: --change 'CMD   ': no arguments");
	got = apply("{}", L(""));
	ck_assert_ptr_nonnull(strstr(got, "expected INSTRUCTION ARGUMENTS"));
	free(got);
	got = apply("{}", L("C-MD x"));
	ck_assert_ptr_nonnull(strstr(got, "expected INSTRUCTION ARGUMENTS"));
	free(got);
	got = apply("{}", L("AVERYLONGINSTRUCTIONNAME x"));
	ck_assert_ptr_nonnull(strstr(got, "ERR: "));
	free(got);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("commit-change");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_cmd_entrypoint);
	tcase_add_test(tc, test_env_label);
	tcase_add_test(tc, test_workdir_user_expose);
	tcase_add_test(tc, test_refused);
	suite_add_tcase(s, tc);
	return tl_run_suite(s);
}
