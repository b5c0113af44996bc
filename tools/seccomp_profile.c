/* SPDX-License-Identifier: MIT */
/*
 * docker's (and podman's) default seccomp profile, transcribed from the
 * semantics of moby's default.json (github.com/moby/profiles, seccomp
 * v0.2.3): everything not listed fails with EPERM; the list is what
 * ordinary programs use.  What reaches kernel attack surface a container
 * does not need (keyctl, add_key, request_key, bpf, perf_event_open,
 * userfaultfd, io_uring, kexec_*, the mount API, namespaces through
 * unshare/setns/clone flags, open_by_handle_at, personality flags beyond
 * the common ones, AF_ALG and AF_VSOCK sockets) is allowed only when the
 * container keeps the capability that makes it legitimate, or not at all,
 * as docker does.  clone3 fails with ENOSYS rather than EPERM: its flags
 * live in memory a filter cannot read, and ENOSYS makes glibc fall back
 * to clone, whose flags are checked.
 *
 * This is the one place the profile lives; run_seccomp.c compiles it.
 */
#include <errno.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <sys/socket.h>

#include "run_seccomp.h"

#define CAP(c)      (1ULL << (c))
#define NAMES(...)  ((const char *[]){__VA_ARGS__, NULL})
#define ARCHES(...) ((const char *[]){__VA_ARGS__, NULL})

/* The common case: allowed when the container keeps @caps. */
#define ALLOW_WITH(need, ...)                                                                      \
	{                                                                                          \
		.names = NAMES(__VA_ARGS__), .action = SCMP_ACT_ALLOW, .includes = {               \
			.caps = (need)                                                             \
		}                                                                                  \
	}
#define ALLOW_ON(on, ...)                                                                          \
	{                                                                                          \
		.names = NAMES(__VA_ARGS__), .action = SCMP_ACT_ALLOW, .includes = {.arches = on } \
	}

/* clone's flags that make namespaces: without CAP_SYS_ADMIN, none. */
#define NS_FLAGS                                                                                   \
	(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | \
	 CLONE_NEWCGROUP)

/* socket(): every family but AF_ALG (the kernel's crypto API) and AF_VSOCK. */
static const struct sc_arg socket_below_alg[] = {{0, SCMP_CMP_LT, AF_ALG, 0}};
static const struct sc_arg socket_alg_to_vsock[] = {{0, SCMP_CMP_EQ, AF_ALG + 1, 0}};
static const struct sc_arg socket_above_vsock[] = {{0, SCMP_CMP_GT, AF_VSOCK, 0}};
/* personality(): Linux, the 32-bit variant, UNAME26 and the query. */
static const struct sc_arg pers_linux[] = {{0, SCMP_CMP_EQ, 0x0, 0}};
static const struct sc_arg pers_linux32[] = {{0, SCMP_CMP_EQ, 0x8, 0}};
static const struct sc_arg pers_uname26[] = {{0, SCMP_CMP_EQ, 0x20000, 0}};
static const struct sc_arg pers_uname26_32[] = {{0, SCMP_CMP_EQ, 0x20008, 0}};
static const struct sc_arg pers_query[] = {{0, SCMP_CMP_EQ, 0xffffffff, 0}};
/* s390's clone takes the stack first and the flags second. */
static const struct sc_arg clone_no_ns[] = {{0, SCMP_CMP_MASKED_EQ, NS_FLAGS, 0}};
static const struct sc_arg clone_no_ns_s390[] = {{1, SCMP_CMP_MASKED_EQ, NS_FLAGS, 0}};

#define PERSONALITY(cond)                                                                          \
	{                                                                                          \
		.names = NAMES("personality"), .action = SCMP_ACT_ALLOW, .args = cond, .n_args = 1 \
	}

static const struct sc_rule rules[] = {
    {.names = NAMES(
         "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget",
         "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
         "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64",
         "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range", "connect",
         "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1",
         "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait",
         "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group",
         "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark",
         "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl",
         "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
         "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
         "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
         "futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid",
         "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32",
         "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
         "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit",
         "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area",
         "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "getxattrat",
         "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel",
         "ioctl", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64",
         "ioprio_get", "ioprio_set", "io_setup", "io_submit", "ipc", "kill", "landlock_add_rule",
         "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr",
         "link", "linkat", "listen", "listmount", "listxattr", "listxattrat", "llistxattr",
         "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise",
         "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
         "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
         "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
         "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "mseal", "msgctl", "msgget",
         "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at",
         "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2", "pause",
         "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
         "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2",
         "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev",
         "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom",
         "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr",
         "removexattrat", "rename", "renameat", "renameat2", "restart_syscall", "riscv_hwprobe",
         "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
         "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
         "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam",
         "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
         "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
         "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp",
         "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send",
         "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32",
         "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer",
         "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32",
         "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list",
         "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32",
         "setxattr", "setxattrat", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack",
         "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice",
         "stat", "stat64", "statfs", "statfs64", "statmount", "statx", "symlink", "symlinkat",
         "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
         "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
         "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
         "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate", "truncate64",
         "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "uretprobe", "utime", "utimensat",
         "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
         "writev"),
     .action = SCMP_ACT_ALLOW},
    /* Before 4.8 ptrace could be used to get around the filter. */
    {.names = NAMES("process_vm_readv", "process_vm_writev", "ptrace"),
     .action = SCMP_ACT_ALLOW,
     .includes = {.min_kernel = 4 << 16 | 8}},
    {.names = NAMES("socket"), .action = SCMP_ACT_ALLOW, .args = socket_below_alg, .n_args = 1},
    {.names = NAMES("socket"), .action = SCMP_ACT_ALLOW, .args = socket_alg_to_vsock, .n_args = 1},
    {.names = NAMES("socket"), .action = SCMP_ACT_ALLOW, .args = socket_above_vsock, .n_args = 1},
    PERSONALITY(pers_linux),
    PERSONALITY(pers_linux32),
    PERSONALITY(pers_uname26),
    PERSONALITY(pers_uname26_32),
    PERSONALITY(pers_query),
    ALLOW_ON(ARCHES("ppc64le"), "sync_file_range2", "swapcontext"),
    ALLOW_ON(ARCHES("arm", "arm64"), "arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2",
             "breakpoint", "cacheflush", "set_tls"),
    ALLOW_ON(ARCHES("amd64", "x32"), "arch_prctl"),
    ALLOW_ON(ARCHES("amd64", "x32", "x86"), "modify_ldt"),
    ALLOW_ON(ARCHES("s390", "s390x"), "s390_pci_mmio_read", "s390_pci_mmio_write",
             "s390_runtime_instr"),
    ALLOW_ON(ARCHES("riscv64"), "riscv_flush_icache"),
    ALLOW_WITH(CAP(CAP_DAC_READ_SEARCH), "open_by_handle_at"),
    ALLOW_WITH(CAP(CAP_SYS_ADMIN), "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount",
               "fsopen", "fspick", "lookup_dcookie", "lsm_get_self_attr", "lsm_list_modules",
               "lsm_set_self_attr", "mount", "mount_setattr", "move_mount", "open_tree",
               "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname",
               "setns", "syslog", "umount", "umount2", "unshare"),
    {.names = NAMES("clone"),
     .action = SCMP_ACT_ALLOW,
     .args = clone_no_ns,
     .n_args = 1,
     .excludes = {.caps = CAP(CAP_SYS_ADMIN), .arches = ARCHES("s390", "s390x")}},
    {.names = NAMES("clone"),
     .action = SCMP_ACT_ALLOW,
     .args = clone_no_ns_s390,
     .n_args = 1,
     .includes = {.arches = ARCHES("s390", "s390x")},
     .excludes = {.caps = CAP(CAP_SYS_ADMIN)}},
    {.names = NAMES("clone3"),
     .action = SCMP_ACT_ERRNO(ENOSYS),
     .excludes = {.caps = CAP(CAP_SYS_ADMIN)}},
    ALLOW_WITH(CAP(CAP_SYS_BOOT), "reboot"),
    ALLOW_WITH(CAP(CAP_SYS_CHROOT), "chroot"),
    ALLOW_WITH(CAP(CAP_SYS_MODULE), "delete_module", "init_module", "finit_module"),
    ALLOW_WITH(CAP(CAP_SYS_PACCT), "acct"),
    ALLOW_WITH(CAP(CAP_SYS_PTRACE), "kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
               "process_vm_writev", "ptrace"),
    ALLOW_WITH(CAP(CAP_SYS_RAWIO), "iopl", "ioperm"),
    ALLOW_WITH(CAP(CAP_SYS_TIME), "settimeofday", "stime", "clock_settime", "clock_settime64"),
    ALLOW_WITH(CAP(CAP_SYS_TTY_CONFIG), "vhangup"),
    ALLOW_WITH(CAP(CAP_SYS_NICE), "get_mempolicy", "mbind", "set_mempolicy",
               "set_mempolicy_home_node"),
    ALLOW_WITH(CAP(CAP_SYSLOG), "syslog"),
    ALLOW_WITH(CAP(CAP_BPF), "bpf"),
    ALLOW_WITH(CAP(CAP_PERFMON), "perf_event_open"),
};

/* System calls newer than Debian 12's libseccomp (2.5.4), which cannot
 * name them, so that a newer libc's calls get the profile's answer, not
 * EPERM (glibc 2.39's fchmodat() tries fchmodat2 first, and falls back
 * only on ENOSYS).  Since Linux 5.1 the architectures with asm-generic's
 * numbering from 424 on (x86, amd64 and x32, arm, arm64, riscv64, s390x,
 * ppc) give a new system call the same number: run_seccomp.c matches
 * these there, ahead of libseccomp's filter. */
const struct sc_number seccomp_new_syscalls[] = {
    {"cachestat", 451},         {"fchmodat2", 452},        {"map_shadow_stack", 453},
    {"futex_wake", 454},        {"futex_wait", 455},       {"futex_requeue", 456},
    {"statmount", 457},         {"listmount", 458},        {"lsm_get_self_attr", 459},
    {"lsm_set_self_attr", 460}, {"lsm_list_modules", 461}, {"mseal", 462},
    {"setxattrat", 463},        {"getxattrat", 464},       {"listxattrat", 465},
    {"removexattrat", 466},
};
const size_t seccomp_n_new_syscalls =
    sizeof(seccomp_new_syscalls) / sizeof(seccomp_new_syscalls[0]);

const struct sc_profile seccomp_default_profile = {
    .default_action = SCMP_ACT_ERRNO(EPERM),
    .arches = NULL, /* the native one and docker's companions (run_seccomp.c) */
    .rules = rules,
    .n_rules = sizeof(rules) / sizeof(rules[0]),
};
