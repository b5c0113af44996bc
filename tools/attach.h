/* SPDX-License-Identifier: MIT */
/*
 * strata attach and a -d container's supervisor (conmon's part): the
 * attach socket's messages, and the detach keys attach and exec share.
 *
 * The socket is CTR_ATTACH_SOCK in the container's directory, a unix
 * SOCK_SEQPACKET socket of mode 0600 that the supervisor listens on while
 * the container runs.  Each message is one packet: a type byte, then its
 * payload (at most ATTACH_MAX bytes).
 *
 *   supervisor → client   'o' DATA    the container's stdout (or its pty)
 *                         'e' DATA    its stderr
 *                         'x' STATUS  it ended: its exit status, decimal
 *                                     text; the supervisor closes next
 *   client → supervisor   'i' DATA    to the container's stdin (-i only;
 *                                     else dropped)
 *                         'w' ROWS COLS  the window size (-t), two
 *                                     uint16_t in host order
 *
 * A client that does not keep up loses output rather than holding the
 * container: the supervisor never blocks on a client.
 */
#ifndef STRATA_ATTACH_H
#define STRATA_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTR_ATTACH_SOCK "attach.sock"
#define ATTACH_MAX      8192
enum {
	ATTACH_OUT = 'o',
	ATTACH_ERR = 'e',
	ATTACH_EXIT = 'x',
	ATTACH_IN = 'i',
	ATTACH_WINSIZE = 'w',
};

/* The path to bind or connect to for the socket in the directory open as
 * @dirfd: through /proc/self/fd, so that a store's long path does not
 * overflow sun_path's 108 bytes.  0, or -1 when it does not fit. */
struct sockaddr_un;
int attach_sockaddr(int dirfd, struct sockaddr_un *sa);

/* --detach-keys, as podman spells them: comma-separated "ctrl-X" (X one
 * of a-z @ [ \ ] ^ _) or single characters; "" disables detaching. */
#define DETACH_KEYS_DEFAULT "ctrl-p,ctrl-q"
#define DETACH_KEYS_MAX     16
struct detach_keys {
	unsigned char seq[DETACH_KEYS_MAX];
	size_t len; /* 0: never detach */
	size_t pos; /* how much of seq the bytes so far matched */
};
/* Parses @text into @k: 0, or -1 when it is no sequence. */
int detach_keys_parse(const char *text, struct detach_keys *k);
/* Runs the @n bytes of @in through the matcher, across calls: the bytes
 * to pass on go to @out (room for @n + DETACH_KEYS_MAX), their count is
 * returned, and *@detach is set once the whole sequence came (the bytes
 * after it are dropped).  The bytes of a partial match are held until it
 * fails, then passed on as they came. */
size_t detach_keys_feed(struct detach_keys *k, const char *in, size_t n, char *out, bool *detach);

#endif
