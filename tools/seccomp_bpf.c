/* SPDX-License-Identifier: MIT */
/*
 * BPF ahead of libseccomp's filter, for system calls it cannot name
 * (seccomp_new_syscalls[], seccomp_profile.c): per architecture of the
 * filter, "this architecture and this number: the profile's action", and
 * on to libseccomp's program otherwise.  Classic BPF only jumps forward,
 * so a prefix that falls through at its end leaves the program after it
 * as it was.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <string.h>

#include "run_seccomp.h"

#define X32_SYSCALL_BIT 0x40000000u

/* The architectures numbering new system calls as asm-generic does. */
static bool unified(uint32_t arch)
{
	static const uint32_t ok[] = {AUDIT_ARCH_X86_64, AUDIT_ARCH_I386,    AUDIT_ARCH_AARCH64,
	                              AUDIT_ARCH_ARM,    AUDIT_ARCH_RISCV64, AUDIT_ARCH_S390X,
	                              AUDIT_ARCH_S390,   AUDIT_ARCH_PPC64LE, AUDIT_ARCH_PPC64,
	                              AUDIT_ARCH_PPC};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (ok[i] == arch)
			return true;
	return false;
}

/* "arch == @arch: for each number, == nr → return action" (x32's numbers
 * too when @x32: they come as amd64's, with a bit set). */
static size_t emit(struct sock_filter *out, uint32_t arch, bool native, bool x32,
                   const struct sc_extra *extra, size_t n)
{
	size_t k = 0, m = n * ((native ? 1 : 0) + (x32 ? 1 : 0));

	out[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	                                        offsetof(struct seccomp_data, arch));
	out[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 0,
	                                        (unsigned char)(1 + 2 * m));
	out[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	                                        offsetof(struct seccomp_data, nr));
	for (int pass = 0; pass < 2; pass++) {
		if ((pass == 0 && !native) || (pass == 1 && !x32))
			continue;
		for (size_t i = 0; i < n; i++) {
			uint32_t nr = extra[i].nr | (pass ? X32_SYSCALL_BIT : 0);

			out[k++] =
			    (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1);
			out[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, extra[i].action);
		}
	}
	return k;
}

int seccomp_bpf_prepend(struct sock_fprog *prog, const uint32_t *arches, size_t n_arches,
                        const struct sc_extra *extra, size_t n)
{
	bool x32 = false, amd64 = false;
	struct sock_filter *out;
	size_t k = 0;

	if (!n)
		return 0;
	if (n > 60)
		return -E2BIG; /* a jump's offset is one byte: 1 + 2 * 2n < 256 */
	for (size_t i = 0; i < n_arches; i++) {
		x32 |= arches[i] == SCMP_ARCH_X32;
		amd64 |= arches[i] == SCMP_ARCH_X86_64;
	}
	out = malloc((prog->len + (n_arches + 1) * (3 + 4 * n)) * sizeof(*out));
	if (!out)
		return -ENOMEM;
	if (amd64 || x32)
		k += emit(out + k, AUDIT_ARCH_X86_64, amd64, x32, extra, n);
	for (size_t i = 0; i < n_arches; i++)
		if (arches[i] != SCMP_ARCH_X86_64 && arches[i] != SCMP_ARCH_X32 &&
		    unified(arches[i]))
			k += emit(out + k, arches[i], true, false, extra, n);
	if (k + prog->len > BPF_MAXINSNS) {
		free(out);
		return -E2BIG;
	}
	memcpy(out + k, prog->filter, prog->len * sizeof(*out));
	free(prog->filter);
	prog->filter = out;
	prog->len = (unsigned short)(prog->len + k);
	return 0;
}

/* pid 1's own filter (run_init.c): what strata's init calls once it has
 * started the command (close, write, rt_sigtimedwait, kill, wait4,
 * exit_group, and what glibc may add to them), and EPERM for the rest.
 * A few instructions instead of the profile's thousand: installing it
 * costs microseconds, not the profile's 0.5 ms. */
#if defined(__x86_64__) && !defined(__ILP32__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef NATIVE_AUDIT_ARCH
#define ALLOW_NR(nr)                                                                               \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1),                                           \
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static struct sock_filter init_filter[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_AUDIT_ARCH, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    ALLOW_NR(__NR_rt_sigtimedwait),
    ALLOW_NR(__NR_wait4),
    ALLOW_NR(__NR_waitid),
    ALLOW_NR(__NR_kill),
    ALLOW_NR(__NR_tgkill),
    ALLOW_NR(__NR_close),
    ALLOW_NR(__NR_write),
    ALLOW_NR(__NR_exit),
    ALLOW_NR(__NR_exit_group),
    ALLOW_NR(__NR_rt_sigprocmask),
    ALLOW_NR(__NR_rt_sigreturn),
    ALLOW_NR(__NR_restart_syscall),
    ALLOW_NR(__NR_futex),
    ALLOW_NR(__NR_brk),
    ALLOW_NR(__NR_mmap),
    ALLOW_NR(__NR_munmap),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
};
#endif

const struct sock_fprog *seccomp_init_filter(void)
{
#ifdef NATIVE_AUDIT_ARCH
	static const struct sock_fprog prog = {
	    .len = sizeof(init_filter) / sizeof(init_filter[0]),
	    .filter = init_filter,
	};

	return &prog;
#else
	return NULL; /* elsewhere the init takes the command's filter */
#endif
}
