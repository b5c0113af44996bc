/* SPDX-License-Identifier: MIT */
/*
 * posixops: runs a script of filesystem operations below a root directory,
 * one raw system call per operation, and prints one line per operation with
 * its result, for the integration tests.  Running the same script on a
 * reference directory (a kernel filesystem) and on a strata mount and
 * diffing the two outputs line by line is a differential POSIX test.
 *
 * Usage: posixops ROOT [SCRIPT]      (SCRIPT defaults to stdin)
 *
 * The process chdirs into ROOT and sets umask 022; every PATH is used as
 * given (relative to ROOT).  Exit status 0 when the script ran to its end
 * (failed operations are results, not errors), 2 on a script error.
 *
 * Output, one line per script line:
 *   LINE: OP ARGS... => ok [RESULT]
 *   LINE: OP ARGS... => ERRNONAME            (e.g. ENOENT, EEXIST)
 * Blank lines are skipped; lines starting with '#' are copied as they are.
 *
 * Arguments are separated by blanks and take escapes: \\ \s (space) \t \n
 * \xHH (any byte) \e (nothing: an empty argument).  DATA is such a string,
 * or @LEN[:SEED] for LEN bytes of the mklayer fill pattern
 * (byte i = (i + SEED) % 251).  MODE is octal.  Numbers may end in K or M.
 * FD is a name for an open file chosen by the script (e.g. f1); a name
 * that is not open (its open failed) gives EBADF.
 *
 * Files:
 *   open FD PATH FLAGS [MODE]   FLAGS: RDONLY|WRONLY|RDWR|CREAT|EXCL|TRUNC|
 *                               APPEND|DIRECTORY|NOFOLLOW|PATH (O_ prefix
 *                               optional); MODE default 0644
 *   close FD
 *   write FD DATA               at the current offset; prints n=BYTES
 *   pwrite FD OFF DATA
 *   read FD LEN                 prints what was read (see below)
 *   pread FD OFF LEN
 *   lseek FD OFF SET|CUR|END|DATA|HOLE   prints the new offset
 *   seekmap FD                  the data extents SEEK_DATA/SEEK_HOLE show
 *                               from 0 to st_size, checked: prints
 *                               size=N data=OFF+LEN,... (or data=-) and
 *                               holes=zero, or holes=nonzero@OFF when a
 *                               reported hole does not read as zeros, or
 *                               bad@OFF when the answers contradict
 *                               themselves (e.g. SEEK_DATA going back)
 *   copy_file_range FDIN OFFIN FDOUT OFFOUT LEN
 *                               OFF "-" uses (and moves) the file offset;
 *                               repeated until LEN bytes or a 0 return:
 *                               prints n=BYTES (the total)
 *   ftruncate FD LEN
 *   fallocate FD MODE OFF LEN   MODE: 0 or KEEP_SIZE|PUNCH_HOLE|ZERO_RANGE
 *   fsync FD / fdatasync FD
 *   fstat FD                    as stat
 *   fchmod FD MODE / fchown FD UID GID / futimens FD ATIME MTIME
 *   truncate PATH LEN
 *   cat PATH                    open O_RDONLY, read all, close
 *   put PATH DATA               open O_WRONLY|O_CREAT|O_TRUNC 0644, write, close
 *   append PATH DATA            open O_WRONLY|O_APPEND, write, close
 * Names:
 *   mkdir PATH MODE / rmdir PATH / unlink PATH
 *   rename OLD NEW
 *   rename2 OLD NEW FLAGS       renameat2; FLAGS: NOREPLACE|EXCHANGE|WHITEOUT|0
 *   link OLD NEW / symlink TARGET PATH / readlink PATH
 *   mknod PATH fifo|reg MODE / mknod PATH char|block MAJ:MIN MODE
 *   readdir PATH                sorted names, "." and ".." included
 * Metadata:
 *   stat PATH / lstat PATH      type= mode= nlink= uid= gid= size=
 *                               (directories: type mode uid gid only, their
 *                               size and link count are filesystem-specific)
 *   chmod PATH MODE / chown PATH UID GID / lchown PATH UID GID (-1 allowed)
 *   utimens PATH ATIME MTIME [nofollow]   each time: now, omit or SEC[.NSEC]
 *   times PATH                  atime= mtime= (lstat, SEC.NSEC)
 *   mtime PATH                  mtime (lstat)
 *   recent PATH a|m|c           "recent" when that time is within 300 s of now
 *   tsave KEY PATH / tcheck KEY PATH    mtime/ctime now vs when saved:
 *                               mtime=same|changed ctime=same|changed
 *   sameino A B                 "same" or "different" (lstat: st_dev, st_ino)
 *   inosave KEY PATH / inocheck KEY PATH   "same" or "changed"
 *   access PATH MODE            MODE: any of F R W X (faccessat, AT_EACCESS)
 *   setxattr PATH NAME VALUE [create|replace]
 *   getxattr PATH NAME / listxattr PATH (sorted) / removexattr PATH NAME
 *   statfs PATH                 prints namelen
 * Process:
 *   asuser UID GID              setfsgid + setfsuid (fs capabilities drop)
 *   asroot                      back to 0 0
 *   umask MODE
 *   sleep MS
 *
 * Data read is printed as n=BYTES "ESCAPED" up to 64 bytes, as
 * n=BYTES fnv=HASH (64-bit FNV-1a) beyond.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 16
#define MAX_FDS  64
#define MAX_KEYS 64
#define SHOW_MAX 64

static unsigned long lineno;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "posixops: ");
	if (lineno)
		fprintf(stderr, "line %lu: ", lineno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die("out of memory");
	return p;
}

/* ---- arguments ---- */

struct str {
	char *p;
	size_t len;
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes escapes in place; the result may hold NUL bytes (len says). */
static struct str unescape(char *s)
{
	struct str r = {s, 0};
	char *o = s;

	while (*s) {
		if (*s != '\\') {
			*o++ = *s++;
			continue;
		}
		s++;
		switch (*s) {
		case '\\':
			*o++ = '\\';
			s++;
			break;
		case 's':
			*o++ = ' ';
			s++;
			break;
		case 't':
			*o++ = '\t';
			s++;
			break;
		case 'n':
			*o++ = '\n';
			s++;
			break;
		case 'e':
			s++;
			break;
		case 'x': {
			int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);

			if (lo < 0)
				die("bad \\x escape");
			*o++ = (char)(hi << 4 | lo);
			s += 3;
			break;
		}
		default:
			die("bad escape '\\%c'", *s ? *s : '0');
		}
	}
	r.len = (size_t)(o - r.p);
	*o = '\0';
	return r;
}

static long long num(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || end == s)
		die("bad number '%s'", s);
	switch (*end) {
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'M':
		v <<= 20;
		end++;
		break;
	}
	if (*end)
		die("bad number '%s'", s);
	return v;
}

static mode_t mode_arg(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 8);
	if (errno || end == s || *end || v > 07777)
		die("bad mode '%s'", s);
	return (mode_t)v;
}

struct flagname {
	const char *name;
	long value;
};

/* Parses "A|B|C" with names from @tab (an optional @prefix is accepted). */
static long flags_arg(const char *s, const struct flagname *tab, const char *prefix)
{
	char buf[256], *tok, *save = NULL;
	long v = 0;
	size_t pl = prefix ? strlen(prefix) : 0;

	if (strlen(s) >= sizeof(buf))
		die("flags too long");
	strcpy(buf, s);
	for (tok = strtok_r(buf, "|", &save); tok; tok = strtok_r(NULL, "|", &save)) {
		const struct flagname *f;

		if (pl && strncmp(tok, prefix, pl) == 0)
			tok += pl;
		if (strcmp(tok, "0") == 0)
			continue;
		for (f = tab; f->name; f++)
			if (strcmp(f->name, tok) == 0)
				break;
		if (!f->name)
			die("unknown flag '%s'", tok);
		v |= f->value;
	}
	return v;
}

static const struct flagname open_flags[] = {
    {"RDONLY", O_RDONLY},     {"WRONLY", O_WRONLY},
    {"RDWR", O_RDWR},         {"CREAT", O_CREAT},
    {"EXCL", O_EXCL},         {"TRUNC", O_TRUNC},
    {"APPEND", O_APPEND},     {"DIRECTORY", O_DIRECTORY},
    {"NOFOLLOW", O_NOFOLLOW}, {"PATH", O_PATH},
    {"CLOEXEC", O_CLOEXEC},   {"NONBLOCK", O_NONBLOCK},
    {"SYNC", O_SYNC},         {NULL, 0},
};

static const struct flagname rename_flags[] = {
    {"NOREPLACE", RENAME_NOREPLACE},
    {"EXCHANGE", RENAME_EXCHANGE},
    {"WHITEOUT", RENAME_WHITEOUT},
    {NULL, 0},
};

static const struct flagname falloc_flags[] = {
    {"KEEP_SIZE", FALLOC_FL_KEEP_SIZE},
    {"PUNCH_HOLE", FALLOC_FL_PUNCH_HOLE},
    {"ZERO_RANGE", FALLOC_FL_ZERO_RANGE},
    {NULL, 0},
};

/* DATA: an escaped string or @LEN[:SEED]. */
static struct str data_arg(char *s)
{
	struct str r;

	if (s[0] == '@') {
		char *colon = strchr(s, ':');
		long long len, seed = 0;

		if (colon) {
			*colon = '\0';
			seed = num(colon + 1);
		}
		len = num(s + 1);
		if (len < 0 || len > (64 << 20))
			die("bad data length");
		r.len = (size_t)len;
		r.p = xmalloc(r.len);
		for (size_t i = 0; i < r.len; i++)
			r.p[i] = (char)((i + (size_t)seed) % 251);
		return r;
	}
	r = unescape(s);
	r.p = memcpy(xmalloc(r.len), r.p, r.len);
	return r;
}

/* ---- results ---- */

static void err(int e)
{
	const char *name = strerrorname_np(e);

	if (name)
		printf(" => %s\n", name);
	else
		printf(" => errno%d\n", e);
}

static void ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ok(const char *fmt, ...)
{
	va_list ap;

	printf(" => ok");
	if (fmt && *fmt) {
		putchar(' ');
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
	}
	putchar('\n');
}

/* Result of a call that returns -1 and sets errno on failure. */
static void rc(long r)
{
	if (r < 0)
		err(errno);
	else
		ok(NULL);
}

static void put_escaped(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\\')
			fputs("\\\\", stdout);
		else if (c == ' ')
			fputs("\\s", stdout);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c < 0x21 || c > 0x7e || c == '"')
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

static uint64_t fnv(const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void ok_data(const char *p, size_t len)
{
	printf(" => ok n=%zu ", len);
	if (len <= SHOW_MAX) {
		putchar('"');
		put_escaped(p, len);
		putchar('"');
	} else {
		printf("fnv=%016" PRIx64, fnv(p, len));
	}
	putchar('\n');
}

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG:
		return "reg";
	case S_IFDIR:
		return "dir";
	case S_IFLNK:
		return "lnk";
	case S_IFIFO:
		return "fifo";
	case S_IFCHR:
		return "chr";
	case S_IFBLK:
		return "blk";
	case S_IFSOCK:
		return "sock";
	}
	return "?";
}

static void ok_stat(const struct stat *st)
{
	if (S_ISDIR(st->st_mode)) {
		ok("type=dir mode=%04o uid=%u gid=%u", (unsigned)(st->st_mode & 07777),
		   (unsigned)st->st_uid, (unsigned)st->st_gid);
		return;
	}
	printf(" => ok type=%s mode=%04o nlink=%lu uid=%u gid=%u size=%lld", type_name(st->st_mode),
	       (unsigned)(st->st_mode & 07777), (unsigned long)st->st_nlink, (unsigned)st->st_uid,
	       (unsigned)st->st_gid, (long long)st->st_size);
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		printf(" rdev=%u:%u", major(st->st_rdev), minor(st->st_rdev));
	putchar('\n');
}

/* ---- state ---- */

struct named_fd {
	char *name;
	int fd;
};
static struct named_fd fds[MAX_FDS];

/* -1 (so the call fails with EBADF) when no open file has that name, e.g.
 * because its open failed: the script goes on, its output shows it. */
static int fd_find(const char *name)
{
	for (int i = 0; i < MAX_FDS; i++)
		if (fds[i].name && strcmp(fds[i].name, name) == 0)
			return fds[i].fd;
	return -1;
}

static void fd_forget(const char *name)
{
	for (int i = 0; i < MAX_FDS; i++)
		if (fds[i].name && strcmp(fds[i].name, name) == 0) {
			free(fds[i].name);
			fds[i].name = NULL;
		}
}

static void fd_bind(const char *name, int fd)
{
	for (int i = 0; i < MAX_FDS; i++)
		if (fds[i].name && strcmp(fds[i].name, name) == 0) {
			close(fds[i].fd);
			fds[i].fd = fd;
			return;
		}
	for (int i = 0; i < MAX_FDS; i++)
		if (!fds[i].name) {
			fds[i].name = strdup(name);
			if (!fds[i].name)
				die("out of memory");
			fds[i].fd = fd;
			return;
		}
	die("too many open files in the script");
}

struct saved {
	char *key;
	struct stat st;
};
static struct saved saved[MAX_KEYS];

static void save(const char *key, const struct stat *st)
{
	int i;

	for (i = 0; i < MAX_KEYS; i++)
		if (!saved[i].key || strcmp(saved[i].key, key) == 0)
			break;
	if (i == MAX_KEYS)
		die("too many saved keys");
	if (!saved[i].key) {
		saved[i].key = strdup(key);
		if (!saved[i].key)
			die("out of memory");
	}
	saved[i].st = *st;
}

static const struct stat *saved_get(const char *key)
{
	for (int i = 0; i < MAX_KEYS && saved[i].key; i++)
		if (strcmp(saved[i].key, key) == 0)
			return &saved[i].st;
	die("nothing saved as '%s'", key);
}

/* ---- operations ---- */

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void op_readdir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;

	if (!d) {
		err(errno);
		return;
	}
	errno = 0;
	while ((de = readdir(d))) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = realloc(names, cap * sizeof(*names));
			if (!names)
				die("out of memory");
		}
		names[n] = strdup(de->d_name);
		if (!names[n++])
			die("out of memory");
		errno = 0;
	}
	if (errno) {
		err(errno);
	} else {
		qsort(names, n, sizeof(*names), cmp_names);
		printf(" => ok");
		for (size_t i = 0; i < n; i++) {
			putchar(' ');
			put_escaped(names[i], strlen(names[i]));
		}
		putchar('\n');
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
}

static void read_and_print(int fd, long long off, size_t len, int positional)
{
	char *buf = xmalloc(len);
	size_t got = 0;

	/* Loop: a short read is not the end of the data (FUSE may split). */
	while (got < len) {
		ssize_t n = positional
		                ? pread(fd, buf + got, len - got, (off_t)(off + (long long)got))
		                : read(fd, buf + got, len - got);

		if (n < 0) {
			err(errno);
			free(buf);
			return;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	ok_data(buf, got);
	free(buf);
}

static void write_all(int fd, long long off, const struct str *d, int positional)
{
	size_t done = 0;

	while (done < d->len) {
		ssize_t n = positional ? pwrite(fd, d->p + done, d->len - done,
		                                (off_t)(off + (long long)done))
		                       : write(fd, d->p + done, d->len - done);

		if (n < 0) {
			err(errno);
			return;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	ok("n=%zu", done);
}

static void op_cat(const char *path)
{
	int fd = open(path, O_RDONLY);
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (fd < 0) {
		err(errno);
		return;
	}
	for (;;) {
		ssize_t n;

		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			if (!buf)
				die("out of memory");
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			err(errno);
			free(buf);
			close(fd);
			return;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	ok_data(buf, len);
	free(buf);
	close(fd);
}

/* put/append: open, write everything, close; the first failure is the result. */
static void op_put(const char *path, int flags, char *data)
{
	struct str d = data_arg(data);
	int fd = open(path, flags, 0644);
	size_t done = 0;

	if (fd < 0) {
		err(errno);
		free(d.p);
		return;
	}
	while (done < d.len) {
		ssize_t n = write(fd, d.p + done, d.len - done);

		if (n <= 0) {
			err(n < 0 ? errno : EIO);
			close(fd);
			free(d.p);
			return;
		}
		done += (size_t)n;
	}
	free(d.p);
	if (close(fd) < 0) {
		err(errno);
		return;
	}
	ok("n=%zu", done);
}

/* 1 when [off, end) of @fd reads as zeros, 0 (and *@where set) when not,
 * -1 (errno set) when it cannot be read. */
static int reads_as_zeros(int fd, off_t off, off_t end, off_t *where)
{
	static char buf[1 << 20];

	while (off < end) {
		size_t want = end - off < (off_t)sizeof(buf) ? (size_t)(end - off) : sizeof(buf);
		ssize_t n = pread(fd, buf, want, off);

		if (n < 0)
			return -1;
		if (n == 0) { /* short file: the rest is no data at all */
			errno = EIO;
			return -1;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i]) {
				*where = off + i;
				return 0;
			}
		off += n;
	}
	return 1;
}

/*
 * seekmap: walks the file with SEEK_DATA and SEEK_HOLE from 0 and prints
 * the data extents.  Whatever a file system may call data (all of it, in
 * the simplest implementation), what it calls a hole must read as zeros:
 * that is checked here, so that the map is a verdict and not just a list.
 */
static void op_seekmap(int fd)
{
	struct stat st;
	char *map = NULL;
	size_t maplen = 0;
	FILE *m;
	off_t pos = 0, where = 0;
	int extents = 0, z;
	const char *verdict = "zero";

	if (fstat(fd, &st) < 0) {
		err(errno);
		return;
	}
	m = open_memstream(&map, &maplen);
	if (!m)
		die("out of memory");
	while (pos < st.st_size) {
		off_t d = lseek(fd, pos, SEEK_DATA), h;

		if (d < 0 && errno == ENXIO) /* no data from pos on */
			break;
		if (d < 0)
			goto fail;
		if (d < pos || d >= st.st_size) {
			verdict = "bad";
			where = pos;
			break;
		}
		h = lseek(fd, d, SEEK_HOLE);
		if (h < 0)
			goto fail;
		if (h <= d || h > st.st_size) {
			verdict = "bad";
			where = d;
			break;
		}
		if (d > pos) {
			z = reads_as_zeros(fd, pos, d, &where);
			if (z < 0)
				goto fail;
			if (!z) {
				verdict = "nonzero";
				break;
			}
		}
		fprintf(m, "%s%lld+%lld", extents++ ? "," : "", (long long)d, (long long)(h - d));
		pos = h;
	}
	if (!strcmp(verdict, "zero") && pos < st.st_size) {
		z = reads_as_zeros(fd, pos, st.st_size, &where);
		if (z < 0)
			goto fail;
		if (!z)
			verdict = "nonzero";
	}
	fclose(m);
	if (!strcmp(verdict, "zero"))
		ok("size=%lld data=%s holes=zero", (long long)st.st_size, extents ? map : "-");
	else
		ok("size=%lld data=%s holes=%s@%lld", (long long)st.st_size, extents ? map : "-",
		   verdict, (long long)where);
	free(map);
	return;
fail:
	err(errno);
	fclose(m);
	free(map);
}

/* OFF of copy_file_range: a number, or "-" for the file offset (NULL). */
static loff_t *cfr_off(const char *s, loff_t *store)
{
	if (strcmp(s, "-") == 0)
		return NULL;
	*store = (loff_t)num(s);
	return store;
}

static void fs_op_copy_file_range(int in, const char *off_in, int out, const char *off_out,
                                  long long len)
{
	loff_t in_store, out_store, *pin = cfr_off(off_in, &in_store),
	                            *pout = cfr_off(off_out, &out_store);
	long long done = 0;

	if (len < 0)
		die("bad length");
	/* A short copy is not the end (FUSE and file systems may split). */
	do {
		ssize_t n = copy_file_range(in, pin, out, pout, (size_t)(len - done), 0);

		if (n < 0) {
			err(errno);
			return;
		}
		if (n == 0)
			break;
		done += n;
	} while (done < len);
	ok("n=%lld", done);
}

static struct timespec time_arg(const char *s)
{
	struct timespec ts = {0, 0};
	const char *dot;

	if (strcmp(s, "now") == 0) {
		ts.tv_nsec = UTIME_NOW;
		return ts;
	}
	if (strcmp(s, "omit") == 0) {
		ts.tv_nsec = UTIME_OMIT;
		return ts;
	}
	dot = strchr(s, '.');
	if (dot) {
		char sec[32], frac[10] = "000000000";
		size_t fl = strlen(dot + 1);

		if ((size_t)(dot - s) >= sizeof(sec) || fl == 0 || fl > 9)
			die("bad time '%s'", s);
		memcpy(sec, s, (size_t)(dot - s));
		sec[dot - s] = '\0';
		memcpy(frac, dot + 1, fl);
		ts.tv_sec = (time_t)num(sec);
		ts.tv_nsec = (long)strtol(frac, NULL, 10);
	} else {
		ts.tv_sec = (time_t)num(s);
	}
	return ts;
}

static void op_xattr_list(const char *path)
{
	ssize_t n = llistxattr(path, NULL, 0);
	char *buf, **names;
	size_t count = 0;

	if (n < 0) {
		err(errno);
		return;
	}
	buf = xmalloc((size_t)n + 1);
	n = llistxattr(path, buf, (size_t)n);
	if (n < 0) {
		err(errno);
		free(buf);
		return;
	}
	names = xmalloc(((size_t)n + 1) * sizeof(*names));
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1)
		names[count++] = buf + i;
	qsort(names, count, sizeof(*names), cmp_names);
	printf(" => ok");
	for (size_t i = 0; i < count; i++) {
		putchar(' ');
		put_escaped(names[i], strlen(names[i]));
	}
	putchar('\n');
	free(names);
	free(buf);
}

static void op_xattr_get(const char *path, const char *name)
{
	ssize_t n = lgetxattr(path, name, NULL, 0);
	char *buf;

	if (n < 0) {
		err(errno);
		return;
	}
	buf = xmalloc((size_t)n);
	n = lgetxattr(path, name, buf, (size_t)n);
	if (n < 0)
		err(errno);
	else
		ok_data(buf, (size_t)n);
	free(buf);
}

static void print_ts(const char *label, const struct timespec *ts)
{
	printf("%s%lld.%09ld", label, (long long)ts->tv_sec, ts->tv_nsec);
}

static int same_ts(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static void need(int argc, int want, const char *usage)
{
	if (argc != want)
		die("usage: %s", usage);
}

static void run(int argc, char **argv)
{
	const char *op = argv[0];
	struct stat st, st2;
	size_t arglen[MAX_ARGS] = {0};

	/* Every argument but data, which data_arg decodes, is unescaped here. */
	if (strcmp(op, "write") != 0 && strcmp(op, "pwrite") != 0 && strcmp(op, "put") != 0 &&
	    strcmp(op, "append") != 0)
		for (int i = 1; i < argc; i++)
			arglen[i] = unescape(argv[i]).len;

	if (strcmp(op, "open") == 0) {
		int fd;

		if (argc != 4 && argc != 5)
			die("usage: open FD PATH FLAGS [MODE]");
		fd = open(argv[2], (int)flags_arg(argv[3], open_flags, "O_"),
		          argc == 5 ? mode_arg(argv[4]) : 0644);
		if (fd < 0) {
			err(errno);
			return;
		}
		fd_bind(argv[1], fd);
		ok(NULL);
	} else if (strcmp(op, "close") == 0) {
		need(argc, 2, "close FD");
		rc(close(fd_find(argv[1])));
		fd_forget(argv[1]);
	} else if (strcmp(op, "write") == 0) {
		struct str d;

		need(argc, 3, "write FD DATA");
		(void)unescape(argv[1]);
		d = data_arg(argv[2]);
		write_all(fd_find(argv[1]), 0, &d, 0);
		free(d.p);
	} else if (strcmp(op, "pwrite") == 0) {
		struct str d;

		need(argc, 4, "pwrite FD OFF DATA");
		(void)unescape(argv[1]);
		d = data_arg(argv[3]);
		write_all(fd_find(argv[1]), num(argv[2]), &d, 1);
		free(d.p);
	} else if (strcmp(op, "read") == 0) {
		need(argc, 3, "read FD LEN");
		read_and_print(fd_find(argv[1]), 0, (size_t)num(argv[2]), 0);
	} else if (strcmp(op, "pread") == 0) {
		need(argc, 4, "pread FD OFF LEN");
		read_and_print(fd_find(argv[1]), num(argv[2]), (size_t)num(argv[3]), 1);
	} else if (strcmp(op, "lseek") == 0) {
		int whence;
		off_t r;

		need(argc, 4, "lseek FD OFF SET|CUR|END|DATA|HOLE");
		if (strcmp(argv[3], "SET") == 0)
			whence = SEEK_SET;
		else if (strcmp(argv[3], "CUR") == 0)
			whence = SEEK_CUR;
		else if (strcmp(argv[3], "END") == 0)
			whence = SEEK_END;
		else if (strcmp(argv[3], "DATA") == 0)
			whence = SEEK_DATA;
		else if (strcmp(argv[3], "HOLE") == 0)
			whence = SEEK_HOLE;
		else
			die("bad whence '%s'", argv[3]);
		r = lseek(fd_find(argv[1]), (off_t)num(argv[2]), whence);
		if (r < 0)
			err(errno);
		else
			ok("%lld", (long long)r);
	} else if (strcmp(op, "seekmap") == 0) {
		need(argc, 2, "seekmap FD");
		op_seekmap(fd_find(argv[1]));
	} else if (strcmp(op, "copy_file_range") == 0) {
		need(argc, 6, "copy_file_range FDIN OFFIN FDOUT OFFOUT LEN");
		fs_op_copy_file_range(fd_find(argv[1]), argv[2], fd_find(argv[3]), argv[4],
		                      num(argv[5]));
	} else if (strcmp(op, "ftruncate") == 0) {
		need(argc, 3, "ftruncate FD LEN");
		rc(ftruncate(fd_find(argv[1]), (off_t)num(argv[2])));
	} else if (strcmp(op, "fallocate") == 0) {
		need(argc, 5, "fallocate FD MODE OFF LEN");
		rc(fallocate(fd_find(argv[1]), (int)flags_arg(argv[2], falloc_flags, "FALLOC_FL_"),
		             (off_t)num(argv[3]), (off_t)num(argv[4])));
	} else if (strcmp(op, "fsync") == 0) {
		need(argc, 2, "fsync FD");
		rc(fsync(fd_find(argv[1])));
	} else if (strcmp(op, "fdatasync") == 0) {
		need(argc, 2, "fdatasync FD");
		rc(fdatasync(fd_find(argv[1])));
	} else if (strcmp(op, "fstat") == 0) {
		need(argc, 2, "fstat FD");
		if (fstat(fd_find(argv[1]), &st) < 0)
			err(errno);
		else
			ok_stat(&st);
	} else if (strcmp(op, "fchmod") == 0) {
		need(argc, 3, "fchmod FD MODE");
		rc(fchmod(fd_find(argv[1]), mode_arg(argv[2])));
	} else if (strcmp(op, "fchown") == 0) {
		need(argc, 4, "fchown FD UID GID");
		rc(fchown(fd_find(argv[1]), (uid_t)num(argv[2]), (gid_t)num(argv[3])));
	} else if (strcmp(op, "futimens") == 0) {
		struct timespec ts[2];

		need(argc, 4, "futimens FD ATIME MTIME");
		ts[0] = time_arg(argv[2]);
		ts[1] = time_arg(argv[3]);
		rc(futimens(fd_find(argv[1]), ts));
	} else if (strcmp(op, "truncate") == 0) {
		need(argc, 3, "truncate PATH LEN");
		rc(truncate(argv[1], (off_t)num(argv[2])));
	} else if (strcmp(op, "cat") == 0) {
		need(argc, 2, "cat PATH");
		op_cat(argv[1]);
	} else if (strcmp(op, "put") == 0) {
		need(argc, 3, "put PATH DATA");
		op_put(unescape(argv[1]).p, O_WRONLY | O_CREAT | O_TRUNC, argv[2]);
	} else if (strcmp(op, "append") == 0) {
		need(argc, 3, "append PATH DATA");
		op_put(unescape(argv[1]).p, O_WRONLY | O_APPEND, argv[2]);
	} else if (strcmp(op, "mkdir") == 0) {
		need(argc, 3, "mkdir PATH MODE");
		rc(mkdir(argv[1], mode_arg(argv[2])));
	} else if (strcmp(op, "rmdir") == 0) {
		need(argc, 2, "rmdir PATH");
		rc(rmdir(argv[1]));
	} else if (strcmp(op, "unlink") == 0) {
		need(argc, 2, "unlink PATH");
		rc(unlink(argv[1]));
	} else if (strcmp(op, "rename") == 0) {
		need(argc, 3, "rename OLD NEW");
		rc(rename(argv[1], argv[2]));
	} else if (strcmp(op, "rename2") == 0) {
		need(argc, 4, "rename2 OLD NEW FLAGS");
		rc(renameat2(AT_FDCWD, argv[1], AT_FDCWD, argv[2],
		             (unsigned)flags_arg(argv[3], rename_flags, "RENAME_")));
	} else if (strcmp(op, "link") == 0) {
		need(argc, 3, "link OLD NEW");
		rc(linkat(AT_FDCWD, argv[1], AT_FDCWD, argv[2], 0));
	} else if (strcmp(op, "symlink") == 0) {
		need(argc, 3, "symlink TARGET PATH");
		rc(symlink(argv[1], argv[2]));
	} else if (strcmp(op, "readlink") == 0) {
		char buf[8192];
		ssize_t n;

		need(argc, 2, "readlink PATH");
		n = readlink(argv[1], buf, sizeof(buf));
		if (n < 0)
			err(errno);
		else
			ok_data(buf, (size_t)n);
	} else if (strcmp(op, "mknod") == 0) {
		mode_t type;
		dev_t dev = 0;

		if (argc < 4)
			die("usage: mknod PATH fifo|reg MODE | mknod PATH char|block MAJ:MIN MODE");
		if (strcmp(argv[2], "fifo") == 0)
			type = S_IFIFO;
		else if (strcmp(argv[2], "reg") == 0)
			type = S_IFREG;
		else if (strcmp(argv[2], "char") == 0)
			type = S_IFCHR;
		else if (strcmp(argv[2], "block") == 0)
			type = S_IFBLK;
		else
			die("bad mknod type '%s'", argv[2]);
		if (type == S_IFCHR || type == S_IFBLK) {
			unsigned maj, min;

			need(argc, 5, "mknod PATH char|block MAJ:MIN MODE");
			if (sscanf(argv[3], "%u:%u", &maj, &min) != 2)
				die("bad device '%s'", argv[3]);
			dev = makedev(maj, min);
		} else {
			need(argc, 4, "mknod PATH fifo|reg MODE");
		}
		rc(mknod(argv[1], type | mode_arg(argv[argc - 1]), dev));
	} else if (strcmp(op, "readdir") == 0) {
		need(argc, 2, "readdir PATH");
		op_readdir(argv[1]);
	} else if (strcmp(op, "stat") == 0 || strcmp(op, "lstat") == 0) {
		need(argc, 2, "stat|lstat PATH");
		if ((op[0] == 'l' ? lstat(argv[1], &st) : stat(argv[1], &st)) < 0)
			err(errno);
		else
			ok_stat(&st);
	} else if (strcmp(op, "chmod") == 0) {
		need(argc, 3, "chmod PATH MODE");
		rc(chmod(argv[1], mode_arg(argv[2])));
	} else if (strcmp(op, "chown") == 0) {
		need(argc, 4, "chown PATH UID GID");
		rc(chown(argv[1], (uid_t)num(argv[2]), (gid_t)num(argv[3])));
	} else if (strcmp(op, "lchown") == 0) {
		need(argc, 4, "lchown PATH UID GID");
		rc(lchown(argv[1], (uid_t)num(argv[2]), (gid_t)num(argv[3])));
	} else if (strcmp(op, "utimens") == 0) {
		struct timespec ts[2];
		int flags = 0;

		if (argc == 5 && strcmp(argv[4], "nofollow") == 0)
			flags = AT_SYMLINK_NOFOLLOW;
		else
			need(argc, 4, "utimens PATH ATIME MTIME [nofollow]");
		ts[0] = time_arg(argv[2]);
		ts[1] = time_arg(argv[3]);
		rc(utimensat(AT_FDCWD, argv[1], ts, flags));
	} else if (strcmp(op, "times") == 0 || strcmp(op, "mtime") == 0) {
		need(argc, 2, "times|mtime PATH");
		if (lstat(argv[1], &st) < 0) {
			err(errno);
			return;
		}
		printf(" => ok ");
		if (op[0] == 't') {
			print_ts("atime=", &st.st_atim);
			print_ts(" mtime=", &st.st_mtim);
		} else {
			print_ts("", &st.st_mtim);
		}
		putchar('\n');
	} else if (strcmp(op, "recent") == 0) {
		const struct timespec *t;
		struct timespec now;

		need(argc, 3, "recent PATH a|m|c");
		if (lstat(argv[1], &st) < 0) {
			err(errno);
			return;
		}
		switch (argv[2][0]) {
		case 'a':
			t = &st.st_atim;
			break;
		case 'm':
			t = &st.st_mtim;
			break;
		case 'c':
			t = &st.st_ctim;
			break;
		default:
			die("recent: want a, m or c");
		}
		clock_gettime(CLOCK_REALTIME, &now);
		if (llabs((long long)(now.tv_sec - t->tv_sec)) <= 300)
			ok("recent");
		else
			ok("old");
	} else if (strcmp(op, "tsave") == 0 || strcmp(op, "inosave") == 0) {
		need(argc, 3, "tsave|inosave KEY PATH");
		if (lstat(argv[2], &st) < 0) {
			err(errno);
			return;
		}
		save(argv[1], &st);
		ok(NULL);
	} else if (strcmp(op, "tcheck") == 0) {
		const struct stat *old;

		need(argc, 3, "tcheck KEY PATH");
		old = saved_get(argv[1]);
		if (lstat(argv[2], &st) < 0) {
			err(errno);
			return;
		}
		ok("mtime=%s ctime=%s", same_ts(&old->st_mtim, &st.st_mtim) ? "same" : "changed",
		   same_ts(&old->st_ctim, &st.st_ctim) ? "same" : "changed");
	} else if (strcmp(op, "inocheck") == 0) {
		const struct stat *old;

		need(argc, 3, "inocheck KEY PATH");
		old = saved_get(argv[1]);
		if (lstat(argv[2], &st) < 0) {
			err(errno);
			return;
		}
		ok("%s", old->st_ino == st.st_ino && old->st_dev == st.st_dev ? "same" : "changed");
	} else if (strcmp(op, "sameino") == 0) {
		need(argc, 3, "sameino A B");
		if (lstat(argv[1], &st) < 0 || lstat(argv[2], &st2) < 0) {
			err(errno);
			return;
		}
		ok("%s", st.st_ino == st2.st_ino && st.st_dev == st2.st_dev ? "same" : "different");
	} else if (strcmp(op, "access") == 0) {
		int mode = 0;

		need(argc, 3, "access PATH MODE");
		for (const char *c = argv[2]; *c; c++) {
			switch (*c) {
			case 'F':
				mode |= F_OK;
				break;
			case 'R':
				mode |= R_OK;
				break;
			case 'W':
				mode |= W_OK;
				break;
			case 'X':
				mode |= X_OK;
				break;
			default:
				die("access: bad mode letter '%c'", *c);
			}
		}
		rc(faccessat(AT_FDCWD, argv[1], mode, AT_EACCESS));
	} else if (strcmp(op, "setxattr") == 0) {
		int flags = 0;

		if (argc == 5 && strcmp(argv[4], "create") == 0)
			flags = XATTR_CREATE;
		else if (argc == 5 && strcmp(argv[4], "replace") == 0)
			flags = XATTR_REPLACE;
		else
			need(argc, 4, "setxattr PATH NAME VALUE [create|replace]");
		/* argv[3] was unescaped already; it may hold NUL bytes. */
		rc(lsetxattr(argv[1], argv[2], argv[3], arglen[3], flags));
	} else if (strcmp(op, "getxattr") == 0) {
		need(argc, 3, "getxattr PATH NAME");
		op_xattr_get(argv[1], argv[2]);
	} else if (strcmp(op, "listxattr") == 0) {
		need(argc, 2, "listxattr PATH");
		op_xattr_list(argv[1]);
	} else if (strcmp(op, "removexattr") == 0) {
		need(argc, 3, "removexattr PATH NAME");
		rc(lremovexattr(argv[1], argv[2]));
	} else if (strcmp(op, "statfs") == 0) {
		struct statfs sf;

		need(argc, 2, "statfs PATH");
		if (statfs(argv[1], &sf) < 0)
			err(errno);
		else
			ok("namelen=%ld", (long)sf.f_namelen);
	} else if (strcmp(op, "asuser") == 0) {
		need(argc, 3, "asuser UID GID");
		setfsgid((gid_t)num(argv[2]));
		setfsuid((uid_t)num(argv[1]));
		if (setfsuid((uid_t)-1) != (int)num(argv[1]) ||
		    setfsgid((gid_t)-1) != (int)num(argv[2]))
			die("setfsuid/setfsgid did not take");
		ok(NULL);
	} else if (strcmp(op, "asroot") == 0) {
		need(argc, 1, "asroot");
		setfsuid(0);
		setfsgid(0);
		ok(NULL);
	} else if (strcmp(op, "umask") == 0) {
		need(argc, 2, "umask MODE");
		umask(mode_arg(argv[1]));
		ok(NULL);
	} else if (strcmp(op, "sleep") == 0) {
		struct timespec ts;
		long long ms;

		need(argc, 2, "sleep MS");
		ms = num(argv[1]);
		ts.tv_sec = (time_t)(ms / 1000);
		ts.tv_nsec = (long)(ms % 1000) * 1000000L;
		nanosleep(&ts, NULL);
		ok(NULL);
	} else {
		die("unknown operation '%s'", op);
	}
}

int main(int argc, char **argv)
{
	FILE *in = stdin;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: posixops ROOT [SCRIPT]\n");
		return 2;
	}
	if (argc == 3 && !(in = fopen(argv[2], "r"))) {
		fprintf(stderr, "posixops: %s: %s\n", argv[2], strerror(errno));
		return 2;
	}
	if (chdir(argv[1]) < 0) {
		fprintf(stderr, "posixops: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	umask(022);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((len = getline(&line, &cap, in)) >= 0) {
		char *args[MAX_ARGS], *p, *save = NULL;
		int n = 0;

		lineno++;
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		p = line + strspn(line, " \t");
		if (!*p)
			continue;
		if (*p == '#') {
			printf("%s\n", p);
			continue;
		}
		printf("%lu: %s", lineno, p);
		for (char *tok = strtok_r(p, " \t", &save); tok;
		     tok = strtok_r(NULL, " \t", &save)) {
			if (n == MAX_ARGS)
				die("too many arguments");
			args[n++] = tok;
		}
		run(n, args);
	}
	free(line);
	return 0;
}
