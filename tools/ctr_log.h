/* SPDX-License-Identifier: MIT */
/*
 * A detached container's log (ctr_log.c): its stdout and stderr in
 * podman's k8s-file format, one record a line,
 *
 *   2026-12-07T10:41:55.123456789Z stdout F a whole line
 *   2026-12-07T10:41:55.123500000Z stderr P the start of a line, no newline
 *
 * in <container>/ctr.log, which the supervisor writes; past its size cap
 * it becomes ctr.log.1 (one rotation) and a new ctr.log starts.
 */
#ifndef STRATA_CTR_LOG_H
#define STRATA_CTR_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CTR_LOG_NAME        "ctr.log"
#define CTR_LOG_MAX_DEFAULT ((uint64_t)10 << 20) /* --log-opt max-size */

struct ctr_log {
	int fd;
	char *path;
	uint64_t size, max;
};

/* Opens (appends to) @dir's log, capped at @max bytes.  0, or -1 with errno. */
int ctr_log_open(struct ctr_log *l, const char *dir, uint64_t max);
/* Records @len bytes of @stream ("stdout" or "stderr"): a record per
 * line, the last one partial (P) when it has no newline. */
void ctr_log_write(struct ctr_log *l, const char *stream, const char *buf, size_t len);
void ctr_log_close(struct ctr_log *l);

/* One record, parsed: pointers into the line. */
struct ctr_log_line {
	struct timespec time;
	const char *stamp; /* the time as written */
	size_t stamp_len;
	bool is_stderr, partial;
	const char *text; /* without the record's newline */
	size_t text_len;
};
/* Parses the record @line of @len bytes (no newline).  0, or -1 when it is
 * not one. */
int ctr_log_parse(const char *line, size_t len, struct ctr_log_line *out);
/* RFC 3339 ("2026-12-07T10:41:55.5Z", "...+01:00") into @out.  0, or -1. */
int ctr_time_parse(const char *s, struct timespec *out);
/* --since: an RFC 3339 time, a Unix time (seconds, maybe fractional) or a
 * duration before now ("10s", "5m", "1h30m").  0, or -1. */
int ctr_since_parse(const char *s, struct timespec *out);

#endif
