/* SPDX-License-Identifier: MIT */
/*
 * sysprobe NAME...: makes each named system call once, with harmless
 * arguments, and prints "NAME: ok" or "NAME: <errno name>", one a line.
 * Linked statically, it runs in any test image; the seccomp test reads
 * from its output which calls the filter stopped (EPERM, or ENOSYS for
 * clone3) and which went through to the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static long probe(const char *name)
{
	static char handle[64]; /* a struct file_handle of nothing */

	if (strcmp(name, "keyctl") == 0)
		return syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
	if (strcmp(name, "unshare") == 0)
		return unshare(CLONE_NEWUSER);
	if (strcmp(name, "mount") == 0)
		return mount("none", "/tmp", "tmpfs", 0, NULL);
	if (strcmp(name, "kexec_load") == 0)
		return syscall(SYS_kexec_load, 0, 0, NULL, 0);
	if (strcmp(name, "open_by_handle_at") == 0)
		return syscall(SYS_open_by_handle_at, AT_FDCWD, handle, O_RDONLY);
	if (strcmp(name, "bpf") == 0)
		return syscall(SYS_bpf, 0, NULL, 0);
	if (strcmp(name, "clone3") == 0)
		return syscall(SYS_clone3, NULL, 0);
	if (strcmp(name, "personality") == 0)
		return personality(ADDR_NO_RANDOMIZE);
	if (strcmp(name, "vsock") == 0)
		return socket(AF_VSOCK, SOCK_STREAM, 0);
	if (strcmp(name, "alg") == 0)
		return socket(AF_ALG, SOCK_SEQPACKET, 0);
	/* Newer than Debian 12's libseccomp: the filter matches it by number. */
	if (strcmp(name, "fchmodat2") == 0)
		return syscall(452, AT_FDCWD, "/tmp", 01777, 0);
	/* Seizing stops nothing: the tracee goes on, and is let go at exit. */
	if (strcmp(name, "ptrace1") == 0)
		return ptrace(PTRACE_SEIZE, 1, NULL, NULL);
	if (strcmp(name, "mkdir") == 0)
		return mkdir("/tmp/sysprobe", 0755);
	errno = EINVAL;
	return -2;
}

static const char *errno_name(int e)
{
	static const struct {
		int e;
		const char *name;
	} names[] = {{EPERM, "EPERM"},   {ENOSYS, "ENOSYS"}, {EINVAL, "EINVAL"},
	             {EFAULT, "EFAULT"}, {EACCES, "EACCES"}, {ENOENT, "ENOENT"},
	             {EBADF, "EBADF"},   {EEXIST, "EEXIST"}, {EAFNOSUPPORT, "EAFNOSUPPORT"}};
	static char other[32];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].e == e)
			return names[i].name;
	snprintf(other, sizeof(other), "errno %d", e);
	return other;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		long rc = probe(argv[i]);

		if (rc == -2) {
			fprintf(stderr, "sysprobe: %s: unknown probe\n", argv[i]);
			return 2;
		}
		printf("%s: %s\n", argv[i], rc < 0 ? errno_name(errno) : "ok");
	}
	return 0;
}
