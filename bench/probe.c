/* SPDX-License-Identifier: MIT */
/*
 * bench/start.sh's probe: the command a container runs to time its start.
 * Its first instruction reads CLOCK_REALTIME and prints it in microseconds,
 * which the bench subtracts from the time it launched the runtime: "from
 * strata run to the command's first instruction", as the issue puts it.
 *
 * Freestanding (no libc, a few hundred bytes): a static glibc binary would
 * add its own start-up, and page faults through FUSE, to what is measured.
 * Built with: gcc -O2 -static -nostdlib -fno-stack-protector -o probe probe.c
 */
#include <sys/syscall.h>
#include <time.h>

#if defined(__x86_64__)
static long sys3(long n, long a, long b, long c)
{
	long r;

	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}
#elif defined(__aarch64__)
static long sys3(long n, long a, long b, long c)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;

	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	return x0;
}
#else
#error "probe.c: x86_64 or aarch64 only"
#endif

void __attribute__((noreturn)) _start(void)
{
	struct timespec t;
	char buf[32];
	int i = sizeof(buf);
	unsigned long long us;

	sys3(SYS_clock_gettime, CLOCK_REALTIME, (long)&t, 0);
	us = (unsigned long long)t.tv_sec * 1000000ULL + (unsigned long long)t.tv_nsec / 1000ULL;
	buf[--i] = '\n';
	do {
		buf[--i] = (char)('0' + us % 10);
		us /= 10;
	} while (us);
	sys3(SYS_write, 1, (long)(buf + i), (long)(sizeof(buf) - (unsigned)i));
	sys3(SYS_exit_group, 0, 0, 0);
	for (;;)
		;
}
