/* SPDX-License-Identifier: MIT */
/*
 * strata run's seccomp filter: a profile (docker's model: a default action,
 * then rules naming system calls, with argument conditions and conditions
 * on the container's capabilities, architecture and kernel) compiled to BPF
 * by libseccomp in the launcher, and installed by the container's command
 * just before its exec.
 *
 *   seccomp_profile.c  docker's default profile, as a C table
 *   seccomp_json.c     a profile in docker's JSON format (--security-opt)
 *   run_seccomp.c      profile + capabilities → BPF; installing it
 *   seccomp_bpf.c      calls libseccomp cannot name, matched ahead of its BPF
 *   run_seccomp_cache.c  compiled filters kept in the store
 */
#ifndef STRATA_RUN_SECCOMP_H
#define STRATA_RUN_SECCOMP_H

#include <linux/filter.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One condition on an argument (docker's "args" entry). */
struct sc_arg {
	unsigned index; /* 0..5 */
	enum scmp_compare op;
	uint64_t value, value_two;
};

/* docker's "includes" and "excludes": a rule is kept when the container
 * has every one of includes.caps, runs on one of includes.arches and on at
 * least includes.min_kernel; it is left out when it has any of
 * excludes.caps, runs on one of excludes.arches or on min_kernel or later. */
struct sc_cond {
	uint64_t caps;       /* 1 << CAP_* */
	const char **arches; /* NULL-terminated, docker's names: amd64, arm64, x86... */
	unsigned min_kernel; /* major << 16 | minor; 0: none */
};

struct sc_rule {
	const char **names; /* NULL-terminated system call names */
	uint32_t action;    /* SCMP_ACT_ALLOW, SCMP_ACT_ERRNO(e), ... */
	const struct sc_arg *args;
	size_t n_args;
	struct sc_cond includes, excludes;
};

struct sc_profile {
	uint32_t default_action;
	/* libseccomp's architecture names (x86_64, x86, x32, aarch64, ...);
	 * NULL: the native one and the ones docker adds to it. */
	const char **arches;
	const struct sc_rule *rules;
	size_t n_rules;
};

/* docker's default profile (seccomp_profile.c). */
extern const struct sc_profile seccomp_default_profile;

/* A system call by number, for those libseccomp may not know by name. */
struct sc_number {
	const char *name;
	uint32_t nr;
};
extern const struct sc_number seccomp_new_syscalls[];
extern const size_t seccomp_n_new_syscalls;

/* One of those, with the profile's action for it. */
struct sc_extra {
	uint32_t nr, action;
};
/* Puts, ahead of @prog (malloc'ed, replaced), the matches of @extra's
 * numbers on each of the filter's architectures (libseccomp's SCMP_ARCH_*)
 * that numbers new calls alike (seccomp_bpf.c).  0, or a negative errno. */
int seccomp_bpf_prepend(struct sock_fprog *prog, const uint32_t *arches, size_t n_arches,
                        const struct sc_extra *extra, size_t n);

/* Reads a profile in docker's JSON format (seccomp_json.c): 0, or -1 with
 * a one-line reason in @why.  seccomp_profile_free() frees what it made. */
int seccomp_profile_read(const char *path, struct sc_profile *p, char *why, size_t size);
void seccomp_profile_free(struct sc_profile *p);

/* The native architecture as docker spells it in includes/excludes. */
const char *seccomp_docker_arch(void);

/* --security-opt seccomp=...: NULL (docker's default profile),
 * "unconfined" or a JSON file.  The filter for a container whose
 * processes keep the capabilities @caps, into @prog (its filter malloc'ed;
 * len 0 when unconfined): read from the directory @cache, or compiled and
 * kept there (@cache NULL: compiled).  0, or -1 after printing why. */
int run_seccomp_prepare(const char *setting, uint64_t caps, const char *cache,
                        struct sock_fprog *prog);
/* The cache (run_seccomp_cache.c): what a compiled filter depends on,
 * libseccomp aside (the file records it); a filter read back (0) or not
 * there (-1); a filter kept, when the directory can take it. */
uint64_t seccomp_profile_key(const struct sc_profile *p, uint64_t caps, unsigned kernel);
int seccomp_cache_get(const char *dir, uint64_t key, struct sock_fprog *prog);
void seccomp_cache_put(const char *dir, uint64_t key, const struct sock_fprog *prog);

/* strata's init's own filter, once it has started the command; NULL where
 * there is none for this machine (seccomp_bpf.c). */
const struct sock_fprog *seccomp_init_filter(void);

/* In the container, after no_new_privs, just before exec: 0 or -1 (errno). */
int run_seccomp_install(const struct sock_fprog *prog);
/* --security-opt VALUE into *@seccomp: 0, or the usage exit status. */
int run_security_opt(const char **seccomp, const char *value);

#endif
