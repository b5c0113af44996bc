/* SPDX-License-Identifier: MIT */
/*
 * The union rules (fs/stack.c), differentially: random stacks of tar
 * layers are resolved (a) offline, by strata_stack_resolve and
 * strata_stack_walk, and (b) through a mount by `strata mount`, and both
 * must agree with (c) the tree GNU tar makes of the layers extracted one
 * over the other, resolved by the kernel as a chroot (stackref.c,
 * stackprobe.c).  Every path the layers name is resolved with and without
 * following its last symlink, and so are paths through symlinks with "..".
 *
 * Case "offline" is in the unit suite; case "mount" (root and /dev/fuse,
 * $STRATA naming the binary) in the integration suite.  STACKDIFF_STACKS
 * and STACKDIFF_SEED change how many stacks and which.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "../../fs/layer.h"
#include "stackgen.h"
#include "testlib.h"

extern char **environ;

/* Stop adding stacks after this long, whatever the count: the suite must
 * stay fast on a slow machine (the count run is reported). */
#define TIME_BUDGET 100.0

struct run {
	char *dir, *cache, *ref, *mnt;
	char *tars[SG_MAX_LAYERS];
	struct strata_layer *layers[SG_MAX_LAYERS];
	size_t n;
};

struct diffs {
	unsigned n, checked;
	char first[4096];
	size_t len;
};

static void diff_note(struct diffs *d, const char *fmt, const char *path, int follow,
                      const char *want, const char *got)
{
	d->n++;
	if (d->len < sizeof(d->first) - 1)
		d->len += (size_t)snprintf(d->first + d->len, sizeof(d->first) - d->len, fmt, path,
		                           follow ? "follow" : "nofollow", want, got);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned env_uint(const char *name, unsigned dflt)
{
	const char *v = getenv(name);

	return v && *v ? (unsigned)strtoul(v, NULL, 0) : dflt;
}

/* Writes the layers, opens them, and extracts the reference. */
static void run_build(struct run *r, const struct sg_stack *st)
{
	memset(r, 0, sizeof(*r));
	r->dir = tl_mkdtemp("stack");
	r->cache = tl_path(r->dir, "cache");
	r->ref = tl_path(r->dir, "ref");
	r->mnt = tl_path(r->dir, "mnt");
	ck_assert_int_eq(mkdir(r->ref, 0755), 0);
	ck_assert_int_eq(chmod(r->ref, 0755), 0); /* the root's default, as the index's */
	ck_assert_int_eq(mkdir(r->mnt, 0755), 0);
	r->n = st->n;
	for (size_t i = 0; i < st->n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "layer%zu.tar", i);
		r->tars[i] = tl_path(r->dir, name);
		sg_write_layer(st, i, r->tars[i]);
		r->layers[i] = tl_open_layer(r->tars[i], r->cache, NULL);
	}
	sg_apply_reference(st, r->tars, r->ref);
}

static void run_free(struct run *r)
{
	for (size_t i = 0; i < r->n; i++) {
		strata_layer_close(r->layers[i]);
		free(r->tars[i]);
	}
	tl_rmrf(r->dir);
	free(r->dir);
	free(r->cache);
	free(r->ref);
	free(r->mnt);
}

/* Resolves every path on @side (the offline stack when @side_fd < 0, else
 * the tree under it through the kernel) and on the reference. */
static void compare_paths(struct run *r, int side_fd, char **paths, size_t n_paths, struct diffs *d)
{
	int ref_fd = open(r->ref, O_PATH | O_DIRECTORY | O_CLOEXEC);
	char want[4200], got[4200];

	ck_assert_int_ge(ref_fd, 0);
	for (size_t i = 0; i < n_paths; i++)
		for (int follow = 0; follow < 2; follow++) {
			sg_probe_kernel(ref_fd, paths[i], follow, want, sizeof(want));
			if (side_fd < 0)
				sg_probe_stack(r->layers, r->n, paths[i], follow, got, sizeof(got));
			else
				sg_probe_kernel(side_fd, paths[i], follow, got, sizeof(got));
			d->checked++;
			if (strcmp(want, got) != 0)
				diff_note(d, "  '%s' (%s): reference '%s', got '%s'\n", paths[i],
				          follow, want, got);
		}
	close(ref_fd);
}

static void compare_lists(const char *want, const char *got, struct diffs *d)
{
	d->checked++;
	if (strcmp(want, got) != 0)
		diff_note(d, "  listing%s (%s):\n--- reference\n%s--- got\n%s", "", 0, want, got);
}

static void report(unsigned seed, const struct sg_stack *st, const struct diffs *d)
{
	if (d->n == 0)
		return;
	fprintf(stderr, "seed %u: %u of %u checks differ; layers:\n", seed, d->n, d->checked);
	for (size_t i = 0; i < st->n; i++)
		for (size_t k = 0; k < st->l[i].n; k++)
			fprintf(stderr, "  %zu %c %s %s\n", i, st->l[i].e[k].type,
			        st->l[i].e[k].path, st->l[i].e[k].target);
	fprintf(stderr, "%s", d->first);
}

/* ---- the case from the bug report ---- */

START_TEST(test_dotdot_after_symlink)
{
	struct sg_stack st = {.n = 1};
	struct strata_entry e;
	struct diffs d = {0};
	char *paths[] = {"/usr/lib/foo/../bar", "usr/lib/foo/../../x", "/usr/lib/bar"};
	char buf[16] = "";
	struct run r;

	sg_add(&st.l[0], 'f', "opt/bar", "OPT");
	sg_add(&st.l[0], 'd', "opt/x", NULL);
	sg_add(&st.l[0], 'f', "usr/lib/bar", "USR");
	sg_add(&st.l[0], 'l', "usr/lib/foo", "../../opt/x");
	run_build(&r, &st);
	ck_assert_int_eq(strata_stack_resolve(r.layers, r.n, "/usr/lib/foo/../bar", 0, &e, NULL),
	                 0);
	ck_assert_int_eq(strata_entry_pread(&e, buf, sizeof(buf), 0, NULL), 3);
	ck_assert_str_eq(buf, "OPT");
	compare_paths(&r, -1, paths, 3, &d);
	report(0, &st, &d);
	ck_assert_uint_eq(d.n, 0);
	run_free(&r);
}
END_TEST

/* ---- the error convention of strata-fs.h ---- */

struct stop_at {
	const char *path; /* stop at this entry */
	int value;        /* with this value */
	unsigned seen;
};

static int stop_at(void *ctx, const struct strata_entry *e)
{
	struct stop_at *s = ctx;

	s->seen++;
	return strcmp(e->path, s->path) == 0 ? s->value : 0;
}

static void err_poison(struct strata_error *err)
{
	memset(err, 0, sizeof(*err));
	err->code = STRATA_ERR_USAGE;
	err->sys_errno = 12345;
	strcpy(err->msg, "untouched");
}

static void assert_untouched(const struct strata_error *err)
{
	ck_assert_int_eq(err->code, STRATA_ERR_USAGE);
	ck_assert_int_eq(err->sys_errno, 12345);
	ck_assert_str_eq(err->msg, "untouched");
}

static void assert_err(const struct strata_error *err, enum strata_errcode code, int errnum,
                       const char *msg)
{
	ck_assert_int_eq(err->code, code);
	ck_assert_int_eq(err->sys_errno, errnum);
	if (msg)
		ck_assert_str_eq(err->msg, msg);
}

/* A callback's -ENOENT stops a walk and comes back in *stopped, with the
 * walk returning 1 and err untouched; a missing path is -1 with err. */
START_TEST(test_walk_stopped_vs_missing)
{
	struct sg_stack st = {.n = 2};
	struct strata_error err;
	struct stop_at s;
	int stopped;
	struct run r;

	sg_add(&st.l[0], 'f', "a/f", "F");
	sg_add(&st.l[1], 'f', "a/g", "G");
	run_build(&r, &st);

	s = (struct stop_at){"a/f", -ENOENT, 0};
	err_poison(&err);
	stopped = 99;
	ck_assert_int_eq(strata_stack_walk(r.layers, r.n, "/a", true, stop_at, &s, &stopped, &err),
	                 1);
	ck_assert_int_eq(stopped, -ENOENT);
	assert_untouched(&err);

	s = (struct stop_at){"none", -ENOENT, 0};
	stopped = 99;
	ck_assert_int_eq(strata_stack_walk(r.layers, r.n, "/a", true, stop_at, &s, &stopped, &err),
	                 0);
	ck_assert_int_eq(stopped, 0);
	ck_assert_uint_eq(s.seen, 3); /* a, a/f, a/g */
	assert_untouched(&err);

	s = (struct stop_at){"", -ENOENT, 0};
	stopped = 99;
	ck_assert_int_eq(
	    strata_stack_walk(r.layers, r.n, "/nope", true, stop_at, &s, &stopped, &err), -1);
	ck_assert_int_eq(stopped, 0);
	ck_assert_uint_eq(s.seen, 0);
	assert_err(&err, STRATA_ERR_SYS, ENOENT, "/nope: No such file or directory");
	ck_assert_int_eq(
	    strata_stack_walk(r.layers, r.n, "a/f/x", false, stop_at, &s, &stopped, &err), -1);
	assert_err(&err, STRATA_ERR_SYS, ENOTDIR, "a/f/x: Not a directory");
	/* NULL for both: the walk's value alone. */
	s = (struct stop_at){"a/g", 7, 0};
	ck_assert_int_eq(strata_stack_walk(r.layers, r.n, "", true, stop_at, &s, NULL, NULL), 1);
	ck_assert_int_eq(strata_stack_walk(r.layers, r.n, "x", true, stop_at, &s, NULL, NULL), -1);

	/* One layer: the same. */
	s = (struct stop_at){"a/g", 42, 0};
	err_poison(&err);
	ck_assert_int_eq(strata_layer_walk(r.layers[1], stop_at, &s, &stopped, &err), 1);
	ck_assert_int_eq(stopped, 42);
	assert_untouched(&err);
	s = (struct stop_at){"a/f", -ENOENT, 0}; /* not in layer 1 */
	ck_assert_int_eq(strata_layer_walk(r.layers[1], stop_at, &s, &stopped, &err), 0);
	ck_assert_int_eq(stopped, 0);
	assert_untouched(&err);
	run_free(&r);
}
END_TEST

static int stop_run(void *ctx, uint64_t off, uint64_t len)
{
	(void)off;
	(void)len;
	return *(int *)ctx;
}

/* A layer whose one file maps to @fd, to make reads fail. */
struct fake_layer {
	struct strata_layer l;
	int fd;
};

static size_t fake_map(const struct strata_layer *l, uint64_t node, uint64_t off, uint64_t len,
                       struct layer_extent *ext, size_t max)
{
	(void)node;
	(void)max;
	if (off >= 4)
		return 0;
	ext[0] = (struct layer_extent){((const struct fake_layer *)l)->fd, off, len, NULL};
	return 1;
}

static const struct layer_ops fake_ops = {.map = fake_map};

/* Every other public function: -1 with err filled on failure. */
START_TEST(test_public_errors)
{
	struct sg_stack st = {.n = 1};
	struct strata_error err;
	struct strata_entry e;
	struct fake_layer fake = {
	    {.ops = &fake_ops, .name = "fake", .n_entries = 1, .total_data = 4}, -1};
	char buf[8], *dir = NULL;
	int stopped, value;
	struct run r;

	sg_add(&st.l[0], 'f', "f", "DATA");
	sg_add(&st.l[0], 'l', "loop", "loop");
	run_build(&r, &st);

	ck_assert_int_eq(strata_stack_lookup(r.layers, r.n, "f", &e, &err), 0);
	ck_assert_int_eq(strata_stack_lookup(r.layers, r.n, "nope", &e, &err), -1);
	assert_err(&err, STRATA_ERR_SYS, ENOENT, "nope: No such file or directory");
	ck_assert_int_eq(strata_stack_lookup(r.layers, r.n, "f/x", &e, &err), -1);
	assert_err(&err, STRATA_ERR_SYS, ENOTDIR, "f/x: Not a directory");

	ck_assert_int_eq(strata_stack_resolve(r.layers, r.n, "/nope", 0, &e, &err), -1);
	assert_err(&err, STRATA_ERR_SYS, ENOENT, "/nope: No such file or directory");
	ck_assert_int_eq(strata_stack_resolve(r.layers, r.n, "loop/x", 0, &e, &err), -1);
	assert_err(&err, STRATA_ERR_SYS, ELOOP, NULL);
	ck_assert_int_eq(strata_stack_resolve(r.layers, r.n, "f/", 0, &e, &err), -1);
	assert_err(&err, STRATA_ERR_SYS, ENOTDIR, NULL);
	ck_assert_int_eq(strata_stack_resolve(r.layers, r.n, "f", 0, &e, &err), 0);

	/* Data runs: a callback's value through *stopped. */
	value = -ENOENT;
	err_poison(&err);
	ck_assert_int_eq(strata_entry_data_runs(&e, stop_run, &value, &stopped, &err), 1);
	ck_assert_int_eq(stopped, -ENOENT);
	assert_untouched(&err);
	value = 0;
	ck_assert_int_eq(strata_entry_data_runs(&e, stop_run, &value, &stopped, &err), 0);
	ck_assert_int_eq(stopped, 0);

	ck_assert_int_eq(strata_entry_pread(&e, buf, sizeof(buf), 0, &err), 4);
	/* A read that fails, and a layer shorter than its index says. */
	e.src = &fake.l;
	e.node = 1;
	fake.fd = 1 << 20;
	ck_assert_int_eq(strata_entry_pread(&e, buf, 4, 0, &err), -1);
	assert_err(&err, STRATA_ERR_SYS, EBADF, "fake: Bad file descriptor");
	fake.fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fake.fd, 0);
	ck_assert_int_eq(strata_entry_pread(&e, buf, 4, 0, &err), -1);
	assert_err(&err, STRATA_ERR_CORRUPT, EIO, "fake: Input/output error");
	close(fake.fd);

	ck_assert_int_eq(strata_default_cache_dir(&dir, &err), 0);
	ck_assert_ptr_nonnull(dir);
	free(dir);
	run_free(&r);
}
END_TEST

/* Trailing slashes, loops, files used as directories, ".." at the root. */
START_TEST(test_resolve_edges)
{
	struct sg_stack st = {.n = 2};
	struct diffs d = {0};
	char *paths[] = {"f/",     "lf/",    "ld/", "ld/.",     "ld/..",   "loop",     "loop/",
	                 "loop/x", "f/..",   "f/.", "/../../d", "lr/../f", "dd/lup/f", "lup/",
	                 "ld//f",  "//d///", ".",   "..",       "/..",     "lempty/x", "lnone/"};
	struct run r;

	sg_add(&st.l[0], 'f', "f", "F");
	sg_add(&st.l[0], 'f', "d/f", "DF");
	sg_add(&st.l[0], 'l', "lf", "f");
	sg_add(&st.l[0], 'l', "ld", "/d");
	sg_add(&st.l[0], 'l', "loop", "loop");
	sg_add(&st.l[1], 'l', "lr", "../../..");
	sg_add(&st.l[1], 'l', "dd/lup", "..");
	sg_add(&st.l[1], 'l', "lup", "../..");
	sg_add(&st.l[1], 'l', "lnone", "nothing/");
	run_build(&r, &st);
	compare_paths(&r, -1, paths, sizeof(paths) / sizeof(paths[0]), &d);
	report(0, &st, &d);
	ck_assert_uint_eq(d.n, 0);
	run_free(&r);
}
END_TEST

/* ---- random stacks, offline ---- */

static void check_offline(unsigned seed, struct diffs *d)
{
	uint64_t rng = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)seed * 0x100000001b3ULL);
	struct sg_stack *st = malloc(sizeof(*st));
	char **paths, *want, *got;
	size_t n;
	struct run r;

	ck_assert_ptr_nonnull(st);
	sg_rand(&rng);
	sg_generate(st, &rng);
	run_build(&r, st);
	n = sg_paths(st, &rng, &paths);
	compare_paths(&r, -1, paths, n, d);
	want = sg_list_kernel(r.ref);
	got = sg_list_stack(r.layers, r.n);
	compare_lists(want, got, d);
	report(seed, st, d);
	free(want);
	free(got);
	sg_paths_free(paths, n);
	run_free(&r);
	free(st);
}

START_TEST(test_random_offline)
{
	unsigned n = env_uint("STACKDIFF_STACKS", 500), base = env_uint("STACKDIFF_SEED", 1);
	unsigned done = 0, failed = 0, checks = 0;
	double start = now();

	for (unsigned i = 0; i < n && now() - start < TIME_BUDGET; i++, done++) {
		struct diffs d = {0};

		check_offline(base + i, &d);
		checks += d.checked;
		failed += d.n > 0;
	}
	fprintf(stderr, "offline: %u stacks, %u checks, %.1fs\n", done, checks, now() - start);
	ck_assert_msg(failed == 0, "%u of %u stacks differ from the reference", failed, done);
	ck_assert_uint_ge(done, n < 50 ? n : 50);
}
END_TEST

/* ---- random stacks, mounted ---- */

/* The mount a failing check may leave behind: ended at exit, since a
 * failed assertion ends the test process. */
static pid_t live_pid = -1;
static char live_mnt[4096];

static void spawn_wait(char *const argv[])
{
	pid_t pid;
	int status;

	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) == 0)
		waitpid(pid, &status, 0);
}

/* Unmounts and waits (at most 10 s) for the daemon; then it is killed. */
static bool stop_daemon(void)
{
	char *argv[] = {"fusermount3", "-u", "-q", live_mnt, NULL};
	bool clean = false;
	int status;

	if (live_pid < 0)
		return true;
	spawn_wait(argv);
	for (int i = 0; i < 1000 && !clean; i++) {
		clean = waitpid(live_pid, &status, WNOHANG) == live_pid;
		if (!clean)
			usleep(10000);
	}
	if (!clean) {
		char *lazy[] = {"umount", "-l", live_mnt, NULL};

		kill(live_pid, SIGKILL);
		waitpid(live_pid, &status, 0);
		spawn_wait(lazy);
	}
	live_pid = -1;
	return clean && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void stop_at_exit(void)
{
	stop_daemon();
}

static bool mounted(const char *mnt, const char *parent)
{
	struct stat a, b;

	return stat(mnt, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

/* `strata mount -f --layer ... MNT`, in the background until mounted. */
static void start_daemon(struct run *r, const char *strata)
{
	char *argv[8 + 2 * SG_MAX_LAYERS];
	size_t n = 0;
	int status;

	argv[n++] = (char *)strata;
	argv[n++] = "mount";
	argv[n++] = "-f";
	argv[n++] = "--cache-dir";
	argv[n++] = r->cache;
	for (size_t i = 0; i < r->n; i++) {
		argv[n++] = "--layer";
		argv[n++] = r->tars[i];
	}
	argv[n++] = r->mnt;
	argv[n] = NULL;
	snprintf(live_mnt, sizeof(live_mnt), "%s", r->mnt);
	ck_assert_int_eq(posix_spawn(&live_pid, strata, NULL, NULL, argv, environ), 0);
	for (int i = 0; i < 1000 && !mounted(r->mnt, r->dir); i++) {
		ck_assert_msg(waitpid(live_pid, &status, WNOHANG) == 0, "strata mount exited");
		usleep(10000);
	}
	ck_assert_msg(mounted(r->mnt, r->dir), "%s: not mounted after 10 s", r->mnt);
}

static void check_mount(unsigned seed, const char *strata, struct diffs *d)
{
	uint64_t rng = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)seed * 0x100000001b3ULL);
	struct sg_stack *st = malloc(sizeof(*st));
	char **paths, *want, *got;
	size_t n;
	struct run r;
	int fd;

	ck_assert_ptr_nonnull(st);
	sg_rand(&rng);
	sg_generate(st, &rng);
	run_build(&r, st);
	n = sg_paths(st, &rng, &paths);
	start_daemon(&r, strata);
	fd = open(r.mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	compare_paths(&r, fd, paths, n, d);
	close(fd);
	want = sg_list_kernel(r.ref);
	got = sg_list_kernel(r.mnt);
	compare_lists(want, got, d);
	ck_assert_msg(stop_daemon(), "%s: the daemon did not end cleanly", r.mnt);
	report(seed, st, d);
	free(want);
	free(got);
	sg_paths_free(paths, n);
	run_free(&r);
	free(st);
}

START_TEST(test_random_mount)
{
	unsigned n = env_uint("STACKDIFF_STACKS", 500), base = env_uint("STACKDIFF_SEED", 1);
	unsigned done = 0, failed = 0, checks = 0;
	const char *strata = getenv("STRATA");
	double start = now();

	if (!strata || geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0) {
		fprintf(stderr, "mount: needs root, /dev/fuse and $STRATA; not run\n");
		return;
	}
	atexit(stop_at_exit);
	for (unsigned i = 0; i < n && now() - start < TIME_BUDGET; i++, done++) {
		struct diffs d = {0};

		check_mount(base + i, strata, &d);
		checks += d.checked;
		failed += d.n > 0;
	}
	fprintf(stderr, "mount: %u stacks, %u checks, %.1fs\n", done, checks, now() - start);
	ck_assert_msg(failed == 0, "%u of %u mounted stacks differ from the reference", failed,
	              done);
	ck_assert_uint_ge(done, n < 50 ? n : 50);
}
END_TEST

Suite *stack_suite(void);

Suite *stack_suite(void)
{
	Suite *s = suite_create("stack");
	TCase *tc = tcase_create("offline");

	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_dotdot_after_symlink);
	tcase_add_test(tc, test_resolve_edges);
	tcase_add_test(tc, test_walk_stopped_vs_missing);
	tcase_add_test(tc, test_public_errors);
	tcase_add_test(tc, test_random_offline);
	suite_add_tcase(s, tc);
	tc = tcase_create("mount");
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_random_mount);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	umask(022); /* what tar gives the directories it makes */
	return tl_run_suite(stack_suite());
}
