/* SPDX-License-Identifier: MIT */
/*
 * Compiled seccomp filters kept in the store (strata/seccomp/<key>.bpf).
 *
 * libseccomp takes about 10 ms to turn docker's profile into BPF for
 * amd64 with its x86 and x32 companions (1.5 ms for amd64 alone): more than
 * the rest of a container's start.  The BPF only depends on the profile
 * (and seccomp_new_syscalls[]), the capabilities kept, the machine, the kernel's version (for
 * minKernel rules) and libseccomp itself, so it is compiled once per combination and read back
 * after: one open and one read.  The key hashes the first four; the file records which libseccomp
 * made it (path, device, inode, size, mtime), checked with one stat(), so that an upgraded library
 * compiles afresh.  The store's owner may write these files, as they may
 * write the images the container runs: they are trusted as the store is.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run_seccomp.h"
#include "seccomp_dl.h"

/* A new one whenever what compile() asks of libseccomp changes. */
#define MAGIC "STRSCMP3"

struct cache_head {
	char magic[8];
	uint64_t key;
	uint64_t lib_dev, lib_ino, lib_size;
	int64_t lib_mtime_sec, lib_mtime_nsec;
	uint32_t n_insns, pad;
	char lib_path[256];
};

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
	return fnv(h, &v, sizeof(v));
}

/* Each string with its NUL, then a 0xff that no string holds. */
static uint64_t fnv_strings(uint64_t h, const char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		h = fnv(h, v[i], strlen(v[i]) + 1);
	return fnv(h, "\xff", 1);
}

static uint64_t fnv_cond(uint64_t h, const struct sc_cond *c)
{
	h = fnv_u64(h, c->caps);
	h = fnv_strings(h, c->arches);
	return fnv_u64(h, c->min_kernel);
}

uint64_t seccomp_profile_key(const struct sc_profile *p, uint64_t caps, unsigned kernel)
{
	uint64_t h = fnv(0xcbf29ce484222325ULL, MAGIC, 8);

	h = fnv_u64(h, p->default_action);
	h = p->arches ? fnv_strings(h, p->arches) : fnv(h, "(docker)", 8);
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct sc_rule *r = &p->rules[i];

		h = fnv_strings(h, r->names);
		h = fnv_u64(h, r->action);
		for (size_t j = 0; j < r->n_args; j++) {
			h = fnv_u64(h, r->args[j].index);
			h = fnv_u64(h, (uint64_t)r->args[j].op);
			h = fnv_u64(h, r->args[j].value);
			h = fnv_u64(h, r->args[j].value_two);
		}
		h = fnv_u64(fnv_cond(fnv_cond(h, &r->includes), &r->excludes), r->n_args);
	}
	for (size_t i = 0; i < seccomp_n_new_syscalls; i++) {
		h = fnv(h, seccomp_new_syscalls[i].name, strlen(seccomp_new_syscalls[i].name) + 1);
		h = fnv_u64(h, seccomp_new_syscalls[i].nr);
	}
	h = fnv_u64(h, caps);
	h = fnv(h, seccomp_docker_arch(), strlen(seccomp_docker_arch()) + 1);
	return fnv_u64(h, kernel);
}

static void cache_path(char *path, size_t size, const char *dir, uint64_t key)
{
	snprintf(path, size, "%s/%016llx.bpf", dir, (unsigned long long)key);
}

static bool same_library(const struct cache_head *head)
{
	struct stat st;

	return memchr(head->lib_path, '\0', sizeof(head->lib_path)) &&
	       stat(head->lib_path, &st) == 0 && (uint64_t)st.st_dev == head->lib_dev &&
	       (uint64_t)st.st_ino == head->lib_ino && (uint64_t)st.st_size == head->lib_size &&
	       st.st_mtim.tv_sec == head->lib_mtime_sec &&
	       st.st_mtim.tv_nsec == head->lib_mtime_nsec;
}

int seccomp_cache_get(const char *dir, uint64_t key, struct sock_fprog *prog)
{
	char path[4096];
	struct cache_head head;
	struct stat st;
	void *insns = NULL;
	int fd, rc = -1;

	cache_path(path, sizeof(path), dir, key);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, &st) == 0 && st.st_size > (off_t)sizeof(head) &&
	    read(fd, &head, sizeof(head)) == sizeof(head) && memcmp(head.magic, MAGIC, 8) == 0 &&
	    head.key == key && head.n_insns && head.n_insns <= BPF_MAXINSNS &&
	    (size_t)st.st_size == sizeof(head) + head.n_insns * sizeof(struct sock_filter) &&
	    same_library(&head) && (insns = malloc(head.n_insns * sizeof(struct sock_filter))) &&
	    read(fd, insns, head.n_insns * sizeof(struct sock_filter)) ==
	        (ssize_t)(head.n_insns * sizeof(struct sock_filter))) {
		prog->filter = insns;
		prog->len = (unsigned short)head.n_insns;
		insns = NULL;
		rc = 0;
	}
	free(insns);
	close(fd);
	return rc;
}

/* Best effort: a store that cannot keep it compiles again next time. */
void seccomp_cache_put(const char *dir, uint64_t key, const struct sock_fprog *prog)
{
	struct cache_head head = {.key = key, .n_insns = prog->len};
	char path[4096], tmp[4096 + 16];
	Dl_info info;
	struct stat st;
	bool ok;
	int fd;

	memcpy(head.magic, MAGIC, 8);
	if (!dladdr((void *)sym_seccomp_init, &info) || !info.dli_fname ||
	    strlen(info.dli_fname) >= sizeof(head.lib_path) || stat(info.dli_fname, &st) < 0)
		return;
	strcpy(head.lib_path, info.dli_fname);
	head.lib_dev = (uint64_t)st.st_dev;
	head.lib_ino = (uint64_t)st.st_ino;
	head.lib_size = (uint64_t)st.st_size;
	head.lib_mtime_sec = st.st_mtim.tv_sec;
	head.lib_mtime_nsec = st.st_mtim.tv_nsec;
	cache_path(path, sizeof(path), dir, key);
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return;
	ok = write(fd, &head, sizeof(head)) == sizeof(head) &&
	     write(fd, prog->filter, prog->len * sizeof(struct sock_filter)) ==
	         (ssize_t)(prog->len * sizeof(struct sock_filter));
	if (close(fd) == 0 && ok && rename(tmp, path) == 0)
		return;
	unlink(tmp);
}
