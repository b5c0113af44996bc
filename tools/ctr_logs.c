/* SPDX-License-Identifier: MIT */
/* strata logs: a container's k8s-file log, printed and followed (ctr.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "ctr.h"
#include "ctr_log.h"
#include "strata-store.h"

struct buf {
	char *data;
	size_t len, cap;
};

/* Appends what @fd has, to its end.  0, or -1 with errno. */
static int read_rest(int fd, struct buf *b)
{
	for (;;) {
		if (b->cap - b->len < 65536) {
			char *d = realloc(b->data, b->cap * 2 + 65536);

			if (!d)
				return -1;
			b->data = d;
			b->cap = b->cap * 2 + 65536;
		}
		ssize_t n = read(fd, b->data + b->len, b->cap - b->len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -1 : 0;
		b->len += (size_t)n;
	}
}

struct printer {
	const struct ctr_logs_opts *o;
	bool mid_line[2]; /* a partial record was the last of stdout, stderr */
};

static bool before_since(const struct ctr_logs_opts *o, const struct timespec *t)
{
	return o->since_set && (t->tv_sec < o->since.tv_sec ||
	                        (t->tv_sec == o->since.tv_sec && t->tv_nsec < o->since.tv_nsec));
}

static void print_record(struct printer *p, const struct ctr_log_line *l)
{
	FILE *f = l->is_stderr ? stderr : stdout;

	if (before_since(p->o, &l->time))
		return;
	if (p->o->timestamps && !p->mid_line[l->is_stderr])
		fprintf(f, "%.*s ", (int)l->stamp_len, l->stamp);
	fwrite(l->text, 1, l->text_len, f);
	if (!l->partial)
		fputc('\n', f);
	p->mid_line[l->is_stderr] = l->partial;
}

/* Whether record @line (up to its newline) is a whole line's end. */
static bool is_full(const char *line, size_t len)
{
	struct ctr_log_line l;

	return ctr_log_parse(line, len, &l) == 0 && !l.partial;
}

/* Where the last @tail lines of @b start (every record when tail < 0). */
static size_t tail_start(const struct buf *b, long tail)
{
	size_t end = b->len;
	long seen = 0;

	if (tail < 0)
		return 0;
	while (end > 0 && b->data[end - 1] != '\n') /* a record being written */
		end--;
	/* Backwards, record by record: the (tail+1)th whole line from the
	 * end is where printing starts after. */
	while (end > 0) {
		size_t start = end - 1;

		while (start > 0 && b->data[start - 1] != '\n')
			start--;
		if (is_full(b->data + start, end - 1 - start) && ++seen > tail)
			return end;
		end = start;
	}
	return 0;
}

/* Prints the whole records of @b from @from; what is left (a record still
 * being written) moves to its start. */
static void print_from(struct printer *p, struct buf *b, size_t from)
{
	char *nl;

	while (from < b->len && (nl = memchr(b->data + from, '\n', b->len - from))) {
		struct ctr_log_line l;

		if (ctr_log_parse(b->data + from, (size_t)(nl - b->data) - from, &l) == 0)
			print_record(p, &l);
		from = (size_t)(nl - b->data) + 1;
	}
	memmove(b->data, b->data + from, b->len - from);
	b->len -= from;
}

/* -f: what comes, until the container has stopped (its supervisor writes
 * the last of the log before it lets go of the lock).  A rotation shows
 * as a new file at the log's path: the old one is read out first. */
static void follow(struct printer *p, const char *dir, const char *path, int fd, struct buf *b)
{
	struct timespec tick = {.tv_nsec = 100000000};
	bool last = false;

	for (;;) {
		struct stat a, c;
		int nfd;

		read_rest(fd, b);
		print_from(p, b, 0);
		if (stat(path, &a) == 0 && fstat(fd, &c) == 0 && a.st_ino != c.st_ino &&
		    (nfd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
			read_rest(fd, b);
			print_from(p, b, 0);
			close(fd);
			fd = nfd;
			continue;
		}
		if (last)
			break;
		last = !store_container_running(dir);
		fflush(stdout);
		fflush(stderr);
		if (!last)
			nanosleep(&tick, NULL);
	}
	close(fd);
}

int ctr_logs(const char *dir, const char *name, const struct ctr_logs_opts *o)
{
	struct printer p = {.o = o};
	struct buf b = {0};
	char path[PATH_MAX], old[PATH_MAX];
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, CTR_LOG_NAME) >= (int)sizeof(path) ||
	    snprintf(old, sizeof(old), "%s/%s.1", dir, CTR_LOG_NAME) >= (int)sizeof(old)) {
		cli_error("logs: %s: path too long", dir);
		return 1;
	}
	if ((fd = open(old, O_RDONLY | O_CLOEXEC)) >= 0) {
		read_rest(fd, &b);
		close(fd);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && !b.len) {
		if (errno == ENOENT)
			cli_error("logs: %s: no log (only a container run with -d has one)", name);
		else
			cli_error("logs: %s: %s", path, strerror(errno));
		return 1;
	}
	if (fd >= 0)
		read_rest(fd, &b);
	print_from(&p, &b, tail_start(&b, o->tail));
	if (o->follow && fd >= 0)
		follow(&p, dir, path, fd, &b);
	else if (fd >= 0)
		close(fd);
	free(b.data);
	return 0;
}
