/* SPDX-License-Identifier: MIT */
/* A container's k8s-file log: writing, rotating, parsing (ctr_log.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctr_log.h"
#include "sys.h"

int ctr_log_open(struct ctr_log *l, const char *dir, uint64_t max)
{
	struct stat st;

	l->max = max;
	if (asprintf(&l->path, "%s/%s", dir, CTR_LOG_NAME) < 0) {
		l->path = NULL;
		return -1;
	}
	l->fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (l->fd >= 0 && fstat(l->fd, &st) < 0) {
		close(l->fd);
		l->fd = -1;
	}
	if (l->fd < 0) {
		free(l->path);
		l->path = NULL;
		return -1;
	}
	l->size = (uint64_t)st.st_size;
	return 0;
}

void ctr_log_close(struct ctr_log *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	free(l->path);
	l->path = NULL;
}

/* ctr.log → ctr.log.1, and a new ctr.log: a reader following the old one
 * sees its inode change. */
static void rotate(struct ctr_log *l)
{
	char old[PATH_MAX];
	int fd;

	snprintf(old, sizeof(old), "%s.1", l->path);
	if (rename(l->path, old) < 0)
		return;
	fd = open(l->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return; /* the old file goes on */
	close(l->fd);
	l->fd = fd;
	l->size = 0;
}

/* "2026-12-07T10:41:55.123456789Z", now. */
static size_t stamp_now(char *out, size_t size)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
	return n + (size_t)snprintf(out + n, size - n, ".%09ldZ", ts.tv_nsec);
}

/* One record: one write, so that a reader never sees two mixed. */
static void write_record(struct ctr_log *l, const char *stream, bool partial, const char *text,
                         size_t len)
{
	char head[96], *rec;
	size_t h = stamp_now(head, sizeof(head));

	h += (size_t)snprintf(head + h, sizeof(head) - h, " %s %c ", stream, partial ? 'P' : 'F');
	if (!(rec = malloc(h + len + 1)))
		return;
	memcpy(rec, head, h);
	memcpy(rec + h, text, len);
	rec[h + len] = '\n';
	if (l->max && l->size && l->size + h + len + 1 > l->max)
		rotate(l);
	if (sys_write_all(l->fd, rec, h + len + 1) == 0)
		l->size += h + len + 1;
	free(rec);
}

void ctr_log_write(struct ctr_log *l, const char *stream, const char *buf, size_t len)
{
	while (len > 0) {
		const char *nl = memchr(buf, '\n', len);
		size_t n = nl ? (size_t)(nl - buf) : len;

		write_record(l, stream, !nl, buf, n);
		n += nl ? 1 : 0;
		buf += n;
		len -= n;
	}
}

/* Days from 1970-01-01 to @y-@m-@d (Howard Hinnant's days_from_civil). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
	y -= m <= 2;
	long long era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (long long)doe - 719468;
}

/* The fraction after a '.', as nanoseconds; *@s moves past it. */
static long parse_fraction(const char **s)
{
	long ns = 0, scale = 100000000;

	if (**s != '.')
		return 0;
	for ((*s)++; isdigit((unsigned char)**s); (*s)++, scale /= 10)
		ns += (**s - '0') * scale;
	return ns;
}

int ctr_time_parse(const char *s, struct timespec *out)
{
	int y, mo, d, h, mi, sec, n = 0, oh, om;
	long long t;

	if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
	    !n || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	s += n;
	out->tv_nsec = parse_fraction(&s);
	t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec;
	if ((*s == 'Z' || *s == 'z') && !s[1]) {
		out->tv_sec = (time_t)t;
		return 0;
	}
	if ((*s != '+' && *s != '-') || sscanf(s + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || s[1 + n])
		return -1;
	out->tv_sec = (time_t)(t - (*s == '+' ? 1 : -1) * (oh * 3600 + om * 60));
	return 0;
}

/* "1h30m10.5s": seconds into @out.  0, or -1. */
static int parse_duration(const char *s, struct timespec *out)
{
	double total = 0;

	if (!*s)
		return -1;
	while (*s) {
		char *end;
		double v = strtod(s, &end);

		if (end == s || v < 0)
			return -1;
		s = end;
		if (strncmp(s, "ms", 2) == 0)
			v /= 1000, s += 2;
		else if (*s == 's')
			s++;
		else if (*s == 'm')
			v *= 60, s++;
		else if (*s == 'h')
			v *= 3600, s++;
		else
			return -1;
		total += v;
	}
	clock_gettime(CLOCK_REALTIME, out);
	out->tv_sec -= (time_t)total;
	out->tv_nsec -= (long)((total - (double)(time_t)total) * 1e9);
	if (out->tv_nsec < 0)
		out->tv_sec--, out->tv_nsec += 1000000000;
	return 0;
}

int ctr_since_parse(const char *s, struct timespec *out)
{
	char *end;
	double v;

	if (ctr_time_parse(s, out) == 0)
		return 0;
	v = strtod(s, &end);
	if (end != s && !*end && isdigit((unsigned char)*s) && v >= 0) {
		out->tv_sec = (time_t)v;
		out->tv_nsec = (long)((v - (double)out->tv_sec) * 1e9);
		return 0;
	}
	return parse_duration(s, out);
}

int ctr_log_parse(const char *line, size_t len, struct ctr_log_line *out)
{
	const char *sp = memchr(line, ' ', len), *end = line + len;
	char stamp[64];

	if (!sp || (size_t)(sp - line) >= sizeof(stamp))
		return -1;
	memcpy(stamp, line, (size_t)(sp - line));
	stamp[sp - line] = '\0';
	if (ctr_time_parse(stamp, &out->time) < 0)
		return -1;
	out->stamp = line;
	out->stamp_len = (size_t)(sp - line);
	sp++;
	if (end - sp >= 7 && memcmp(sp, "stdout ", 7) == 0)
		out->is_stderr = false;
	else if (end - sp >= 7 && memcmp(sp, "stderr ", 7) == 0)
		out->is_stderr = true;
	else
		return -1;
	sp += 7;
	if (end - sp < 1 || (*sp != 'F' && *sp != 'P'))
		return -1;
	out->partial = *sp == 'P';
	sp++;
	/* "F" alone: an empty line, as podman writes it. */
	if (sp < end && *sp++ != ' ')
		return -1;
	out->text = sp;
	out->text_len = (size_t)(end - sp);
	return 0;
}
