/* SPDX-License-Identifier: MIT */
/*
 * strata run's seccomp filter (run_seccomp.h): a profile, narrowed to the
 * container's capabilities, architecture and kernel as docker does, is
 * compiled to BPF by libseccomp in the launcher, before the first clone.
 * Each container process that needs it (the command, a later exec) then
 * installs the finished program with one seccomp() call, last thing
 * before its exec: after the launcher's and the init's own set-up calls
 * (mount, pivot_root, sethostname, setresuid, capset), which the filter
 * forbids, and after no_new_privs, which lets an unprivileged process
 * install it.  libseccomp is never needed inside the container.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cli.h"
#include "run_seccomp.h"
#include "seccomp_dl.h"

const char *seccomp_docker_arch(void)
{
	static struct utsname u;

	if (!u.machine[0] && uname(&u) < 0)
		return "";
	if (strcmp(u.machine, "x86_64") == 0)
		return "amd64";
	if (strcmp(u.machine, "aarch64") == 0)
		return "arm64";
	if (u.machine[0] == 'i' && strcmp(u.machine + 2, "86") == 0)
		return "x86";
	return u.machine; /* s390x, riscv64, ppc64le: the same in both */
}

static unsigned kernel_version(void)
{
	static unsigned version;
	struct utsname u;
	unsigned major = 0, minor = 0;

	if (!version && uname(&u) == 0 && sscanf(u.release, "%u.%u", &major, &minor) == 2)
		version = major << 16 | minor;
	return version;
}

static bool has_arch(const char **arches)
{
	const char *mine = seccomp_docker_arch();

	for (size_t i = 0; arches && arches[i]; i++)
		if (strcmp(arches[i], mine) == 0)
			return true;
	return false;
}

/* Whether rule @r applies to a container keeping @caps (docker's
 * includes/excludes, see run_seccomp.h). */
static bool rule_applies(const struct sc_rule *r, uint64_t caps)
{
	const struct sc_cond *in = &r->includes, *ex = &r->excludes;

	if ((in->arches && !has_arch(in->arches)) || (caps & in->caps) != in->caps ||
	    (in->min_kernel && kernel_version() < in->min_kernel))
		return false;
	if ((ex->arches && has_arch(ex->arches)) || (caps & ex->caps) ||
	    (ex->min_kernel && kernel_version() >= ex->min_kernel))
		return false;
	return true;
}

/* A filter being made: libseccomp's, its architectures, and the calls it
 * could not name (seccomp_bpf.c). */
struct build {
	scmp_filter_ctx ctx;
	uint32_t arches[16];
	size_t n_arches;
	struct sc_extra extra[32];
	size_t n_extra;
};

/* The architectures the filter covers: @p's, or the native one with what
 * docker adds to it (32-bit x86 and x32 on amd64, arm on arm64), so that
 * a 32-bit binary meets the same rules under its own numbers. */
static int add_arches(struct build *b, const struct sc_profile *p)
{
	static const char *const amd64[] = {"x86", "x32", NULL}, *const arm64[] = {"arm", NULL};
	const char *const *names = (const char *const *)p->arches;

	if (!names)
		names = strcmp(seccomp_docker_arch(), "amd64") == 0   ? amd64
		        : strcmp(seccomp_docker_arch(), "arm64") == 0 ? arm64
		                                                      : NULL;
	b->arches[b->n_arches++] = sym_seccomp_arch_native();
	for (size_t i = 0; names && names[i]; i++) {
		uint32_t arch = sym_seccomp_arch_resolve_name(names[i]);
		int rc = arch ? sym_seccomp_arch_add(b->ctx, arch) : -EINVAL;

		if (rc < 0 && rc != -EEXIST) {
			cli_error("run: seccomp: architecture %s: %s", names[i],
			          arch ? strerror(-rc) : "unknown");
			return -1;
		}
		if (rc == 0 && b->n_arches < sizeof(b->arches) / sizeof(b->arches[0]))
			b->arches[b->n_arches++] = arch;
	}
	return 0;
}

/* @name, which libseccomp does not know: by number, when it is a newer
 * call of seccomp_new_syscalls[] and its rule needs no argument. */
static void add_by_number(struct build *b, const struct sc_rule *r, const char *name)
{
	for (size_t i = 0; i < seccomp_n_new_syscalls; i++) {
		const struct sc_number *s = &seccomp_new_syscalls[i];

		if (strcmp(s->name, name) || r->n_args)
			continue;
		for (size_t j = 0; j < b->n_extra; j++)
			if (b->extra[j].nr == s->nr)
				return; /* the first rule that names it decides */
		if (b->n_extra < sizeof(b->extra) / sizeof(b->extra[0]))
			b->extra[b->n_extra++] = (struct sc_extra){s->nr, r->action};
		return;
	}
}

/* One rule for one system call.  libseccomp cannot AND two conditions on
 * the same argument: those become one rule each (OR), as runc does. */
static int add_syscall(scmp_filter_ctx ctx, const struct sc_rule *r, int nr)
{
	struct scmp_arg_cmp cmp[6];
	bool repeated = false;
	int rc;

	for (size_t i = 0; i < r->n_args && i < 6; i++) {
		cmp[i] = (struct scmp_arg_cmp){r->args[i].index, r->args[i].op, r->args[i].value,
		                               r->args[i].value_two};
		for (size_t j = 0; j < i; j++)
			repeated |= cmp[j].arg == cmp[i].arg;
	}
	if (!repeated)
		return sym_seccomp_rule_add_array(ctx, r->action, nr, (unsigned)r->n_args, cmp);
	for (size_t i = 0; i < r->n_args; i++)
		if ((rc = sym_seccomp_rule_add_array(ctx, r->action, nr, 1, &cmp[i])) < 0)
			return rc;
	return 0;
}

static int add_rules(struct build *b, const struct sc_profile *p, uint64_t caps)
{
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct sc_rule *r = &p->rules[i];

		/* libseccomp refuses a rule that only repeats the default. */
		if (!rule_applies(r, caps) || r->action == p->default_action)
			continue;
		for (const char **name = r->names; *name; name++) {
			int nr = sym_seccomp_syscall_resolve_name(*name), rc;

			/* Newer than this libseccomp: by number where we can,
			 * else skipped, as docker does. */
			if (nr == __NR_SCMP_ERROR) {
				add_by_number(b, r, *name);
				continue;
			}
			if ((rc = add_syscall(b->ctx, r, nr)) < 0) {
				cli_error("run: seccomp: rule for %s: %s", *name, strerror(-rc));
				return -1;
			}
		}
	}
	return 0;
}

/* libseccomp 2.5 exports BPF to a file descriptor only: a memfd. */
static int export_bpf(scmp_filter_ctx ctx, struct sock_fprog *prog)
{
	int fd = memfd_create("strata-seccomp", MFD_CLOEXEC), rc = fd < 0 ? -errno : 0;
	struct stat st;
	void *buf = NULL;

	if (rc == 0 && (rc = sym_seccomp_export_bpf(ctx, fd)) == 0 && fstat(fd, &st) < 0)
		rc = -errno;
	if (rc == 0 &&
	    (st.st_size <= 0 || (size_t)st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS))
		rc = -E2BIG;
	if (rc == 0 && !(buf = malloc((size_t)st.st_size)))
		rc = -ENOMEM;
	if (rc == 0 && pread(fd, buf, (size_t)st.st_size, 0) != st.st_size)
		rc = -EIO;
	if (fd >= 0)
		close(fd);
	if (rc < 0) {
		free(buf);
		cli_error("run: seccomp: compiling the filter: %s", strerror(-rc));
		return -1;
	}
	prog->filter = buf;
	prog->len = (unsigned short)((size_t)st.st_size / sizeof(struct sock_filter));
	return 0;
}

static int compile(const struct sc_profile *p, uint64_t caps, struct sock_fprog *prog)
{
	struct strata_error err;
	struct build b = {0};
	int rc = -1;

	if (dl_seccomp_load(&err)) {
		cli_error("run: seccomp: %s (--security-opt seccomp=unconfined runs without)",
		          err.msg);
		return -1;
	}
	if (!(b.ctx = sym_seccomp_init(p->default_action))) {
		cli_error("run: seccomp: %s", strerror(ENOMEM));
		return -1;
	}
	/* A binary search on the system call's number rather than a list:
	 * installing docker's profile (amd64, x86, x32) costs the kernel 0.5 ms
	 * instead of 1.1 (it runs the filter for every number to build its
	 * cache of always-allowed calls), and each call not in that cache
	 * takes a dozen steps instead of hundreds. */
	if (sym_seccomp_attr_set(b.ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) == 0 &&
	    add_arches(&b, p) == 0 && add_rules(&b, p, caps) == 0 && export_bpf(b.ctx, prog) == 0) {
		rc = seccomp_bpf_prepend(prog, b.arches, b.n_arches, b.extra, b.n_extra);
		if (rc < 0)
			cli_error("run: seccomp: %s", strerror(-rc));
	}
	sym_seccomp_release(b.ctx);
	return rc < 0 ? -1 : 0;
}

/* From the store's cache when it has it (run_seccomp_cache.c). */
static int filter_for(const struct sc_profile *p, uint64_t caps, const char *cache,
                      struct sock_fprog *prog)
{
	uint64_t key = seccomp_profile_key(p, caps, kernel_version());

	if (cache && seccomp_cache_get(cache, key, prog) == 0)
		return 0;
	if (compile(p, caps, prog))
		return -1;
	if (cache)
		seccomp_cache_put(cache, key, prog);
	return 0;
}

int run_seccomp_prepare(const char *setting, uint64_t caps, const char *cache,
                        struct sock_fprog *prog)
{
	struct sc_profile file;
	char why[512];
	int rc;

	*prog = (struct sock_fprog){0};
	if (!setting)
		return filter_for(&seccomp_default_profile, caps, cache, prog);
	if (strcmp(setting, "unconfined") == 0)
		return 0;
	if (seccomp_profile_read(setting, &file, why, sizeof(why))) {
		cli_error("run: --security-opt seccomp=%s: %s", setting, why);
		return -1;
	}
	rc = filter_for(&file, caps, cache, prog);
	seccomp_profile_free(&file);
	return rc;
}

int run_seccomp_install(const struct sock_fprog *prog)
{
	if (!prog->len)
		return 0;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog);
}

/* docker's and podman's spellings: seccomp=X (seccomp:X of old),
 * no-new-privileges[=true|:true]. */
int run_security_opt(const char **seccomp, const char *value)
{
	if (strncmp(value, "seccomp", 7) == 0 && (value[7] == '=' || value[7] == ':') && value[8]) {
		*seccomp = value + 8;
		return 0;
	}
	/* strata always sets no_new_privs: setuid binaries in an image never
	 * gain privileges.  Accepted, so that podman's command lines work. */
	if (strcmp(value, "no-new-privileges") == 0 ||
	    strcmp(value, "no-new-privileges=true") == 0 ||
	    strcmp(value, "no-new-privileges:true") == 0)
		return 0;
	if (strncmp(value, "no-new-privileges", 17) == 0)
		return cli_usage_error("run", "--security-opt %s: no_new_privs is always set",
		                       value);
	return cli_usage_error(
	    "run", "--security-opt %s: seccomp=unconfined|FILE or no-new-privileges", value);
}
