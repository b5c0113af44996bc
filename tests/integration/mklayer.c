/* SPDX-License-Identifier: MIT */
/*
 * mklayer: build a tar layer from a line-based spec, for the integration
 * tests.  Uses libarchive's writer, so it can make layers GNU tar will not
 * (any name, any owner, ns mtimes, xattrs, sparse entries, whiteouts).
 *
 * Usage:
 *   mklayer [-f pax|gnu|ustar] [-z none|gzip|zstd|xz|bzip2] OUT < SPEC
 *       writes the layer to OUT ("-" = stdout).  Default: pax, none.
 *   mklayer -p OFF:LEN[:SEED]
 *       prints LEN bytes of the fill pattern starting at OFF (see size=).
 *
 * SPEC: one entry per line, in archive order; blank lines and lines
 * starting with '#' are ignored.
 *
 *   TYPE NAME [KEY=VALUE ...]
 *
 * Fields are separated by blanks.  NAME and every VALUE take escapes:
 * \\ \s (space) \t \n \xHH (any byte, e.g. non-UTF-8).
 *
 * TYPE is one of
 *   file      regular file; data from content= or size=
 *   dir       directory
 *   symlink   target= required
 *   hardlink  target= required (the name of an earlier entry, or not)
 *   fifo
 *   char      dev=MAJ:MIN
 *   block     dev=MAJ:MIN
 *   sparse    size= (apparent size) and data=OFF:LEN[,OFF:LEN...] (the
 *             regions that hold data, ascending); pax format only
 *   whiteout  writes DIR/.wh.BASE (an empty file) for NAME = DIR/BASE
 *   opaque    writes NAME/.wh..wh..opq (NAME is the directory)
 *
 * KEYs (numbers may end in K, M or G, i.e. binary multiples):
 *   mode=OCTAL        permission bits incl. 07000 (default 0644 file,
 *                     0755 dir, 0777 symlink, 0644 fifo, 0600 devices)
 *   uid=N gid=N       (default 0)
 *   uname=S gname=S   (default: none stored)
 *   mtime=SEC[.FRAC]  FRAC up to 9 digits (default 1700000000)
 *   content=S         the file's bytes
 *   size=N            N bytes of the fill pattern: byte i is
 *                     (i + seed) % 251 (for sparse: i is the file offset)
 *   seed=N            (default 0)
 *   target=S          symlink or hard link target
 *   dev=MAJ:MIN
 *   data=OFF:LEN,...  sparse data regions
 *   xattr.NAME=S      an extended attribute (e.g. xattr.user.foo=bar)
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define MAX_FIELDS   64
#define MAX_REGIONS  64
#define CHUNK        (1 << 20)

static unsigned long lineno;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mklayer: ");
	if (lineno)
		fprintf(stderr, "line %lu: ", lineno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* A decoded string: may hold any byte, including NUL (for xattr values). */
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

static struct str unescape(const char *s)
{
	struct str r = { malloc(strlen(s) + 1), 0 };

	if (!r.p)
		die("out of memory");
	while (*s) {
		if (*s != '\\') {
			r.p[r.len++] = *s++;
			continue;
		}
		s++;
		switch (*s) {
		case '\\': r.p[r.len++] = '\\'; s++; break;
		case 's': r.p[r.len++] = ' '; s++; break;
		case 't': r.p[r.len++] = '\t'; s++; break;
		case 'n': r.p[r.len++] = '\n'; s++; break;
		case 'x': {
			int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);

			if (lo < 0)
				die("bad \\x escape");
			r.p[r.len++] = (char)(hi << 4 | lo);
			s += 3;
			break;
		}
		default:
			die("bad escape '\\%c'", *s ? *s : '0');
		}
	}
	r.p[r.len] = '\0';
	return r;
}

static uint64_t parse_num(const char *s, int base)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || end == s || *s == '-')
		die("bad number '%s'", s);
	switch (*end) {
	case 'K': v <<= 10; end++; break;
	case 'M': v <<= 20; end++; break;
	case 'G': v <<= 30; end++; break;
	}
	if (*end)
		die("bad number '%s'", s);
	return v;
}

/* Parses "A:B" (B may be followed by ":C" when @c is not NULL). */
static void parse_pair(const char *s, uint64_t *a, uint64_t *b, uint64_t *c)
{
	char buf[128], *p, *q;

	if (strlen(s) >= sizeof(buf))
		die("bad pair '%s'", s);
	strcpy(buf, s);
	p = strchr(buf, ':');
	if (!p)
		die("bad pair '%s' (want A:B)", s);
	*p++ = '\0';
	q = c ? strchr(p, ':') : NULL;
	if (q)
		*q++ = '\0';
	*a = parse_num(buf, 0);
	*b = parse_num(p, 0);
	if (c)
		*c = q ? parse_num(q, 0) : 0;
}

static void fill(unsigned char *buf, uint64_t off, size_t len, uint64_t seed)
{
	unsigned v = (unsigned)((off + seed) % 251);

	for (size_t i = 0; i < len; i++) {
		buf[i] = (unsigned char)v;
		if (++v == 251)
			v = 0;
	}
}

static void xwrite_data(struct archive *a, const void *buf, size_t len)
{
	la_ssize_t n = archive_write_data(a, buf, len);

	if (n < 0 || (size_t)n != len)
		die("writing data: %s", archive_error_string(a));
}

/* Writes [off, off+len) of the fill pattern. */
static void write_pattern(struct archive *a, unsigned char *buf, uint64_t off, uint64_t len,
			  uint64_t seed)
{
	while (len) {
		size_t n = len > CHUNK ? CHUNK : (size_t)len;

		fill(buf, off, n, seed);
		xwrite_data(a, buf, n);
		off += n;
		len -= n;
	}
}

struct spec {
	char *type;
	struct str name;
	unsigned mode;
	int have_mode;
	uint64_t uid, gid, size, seed, dev_major, dev_minor;
	int have_size, have_dev;
	int64_t mtime_sec;
	long mtime_nsec;
	struct str content, target, uname, gname;
	int have_content;
	uint64_t region[MAX_REGIONS][2];
	int n_regions;
};

static void parse_mtime(struct spec *sp, const char *v)
{
	char *end;
	long long sec;

	errno = 0;
	sec = strtoll(v, &end, 10);
	if (errno || end == v)
		die("bad mtime '%s'", v);
	sp->mtime_sec = sec;
	sp->mtime_nsec = 0;
	if (*end == '.') {
		long mult = 100000000;

		for (end++; *end >= '0' && *end <= '9' && mult; end++, mult /= 10)
			sp->mtime_nsec += (*end - '0') * mult;
	}
	if (*end)
		die("bad mtime '%s'", v);
}

static void parse_regions(struct spec *sp, const char *v)
{
	char *copy = strdup(v), *save = NULL;
	uint64_t end = 0;

	if (!copy)
		die("out of memory");
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (sp->n_regions == MAX_REGIONS)
			die("too many data regions");
		parse_pair(tok, &sp->region[sp->n_regions][0], &sp->region[sp->n_regions][1], NULL);
		if (sp->region[sp->n_regions][0] < end || sp->region[sp->n_regions][1] == 0)
			die("data regions must be non-empty, ascending and disjoint");
		end = sp->region[sp->n_regions][0] + sp->region[sp->n_regions][1];
		sp->n_regions++;
	}
	free(copy);
}

static void set_xattr(struct archive_entry *e, const char *key, const char *val)
{
	struct str v = unescape(val);
	struct str k = unescape(key);

	archive_entry_xattr_add_entry(e, k.p, v.p, v.len);
	free(v.p);
	free(k.p);
}

static char *path_join(const struct str *dir, const char *base)
{
	size_t dl = dir->len;
	char *r;

	while (dl && dir->p[dl - 1] == '/')
		dl--;
	r = malloc(dl + strlen(base) + 2);
	if (!r)
		die("out of memory");
	memcpy(r, dir->p, dl);
	r[dl] = '\0';
	if (dl)
		strcat(r, "/");
	strcat(r, base);
	return r;
}

static void write_entry(struct archive *a, char **f, int nf, int format_pax, unsigned char *buf)
{
	struct spec sp = { 0 };
	struct archive_entry *e = archive_entry_new();
	char *path;
	mode_t type;
	unsigned defmode;

	if (!e)
		die("out of memory");
	sp.type = f[0];
	sp.name = unescape(f[1]);
	sp.mtime_sec = 1700000000;
	for (int i = 2; i < nf; i++) {
		char *eq = strchr(f[i], '=');
		const char *k = f[i], *v;

		if (!eq)
			die("'%s': want KEY=VALUE", f[i]);
		*eq = '\0';
		v = eq + 1;
		if (!strcmp(k, "mode")) {
			sp.mode = (unsigned)parse_num(v, 8);
			sp.have_mode = 1;
		} else if (!strcmp(k, "uid")) {
			sp.uid = parse_num(v, 10);
		} else if (!strcmp(k, "gid")) {
			sp.gid = parse_num(v, 10);
		} else if (!strcmp(k, "uname")) {
			sp.uname = unescape(v);
		} else if (!strcmp(k, "gname")) {
			sp.gname = unescape(v);
		} else if (!strcmp(k, "mtime")) {
			parse_mtime(&sp, v);
		} else if (!strcmp(k, "content")) {
			sp.content = unescape(v);
			sp.have_content = 1;
		} else if (!strcmp(k, "size")) {
			sp.size = parse_num(v, 10);
			sp.have_size = 1;
		} else if (!strcmp(k, "seed")) {
			sp.seed = parse_num(v, 10);
		} else if (!strcmp(k, "target")) {
			sp.target = unescape(v);
		} else if (!strcmp(k, "dev")) {
			parse_pair(v, &sp.dev_major, &sp.dev_minor, NULL);
			sp.have_dev = 1;
		} else if (!strcmp(k, "data")) {
			parse_regions(&sp, v);
		} else if (!strncmp(k, "xattr.", 6) && k[6]) {
			set_xattr(e, k + 6, v);
		} else {
			die("unknown key '%s'", k);
		}
	}

	path = sp.name.p;
	if (!strcmp(sp.type, "file") || !strcmp(sp.type, "hardlink") ||
	    !strcmp(sp.type, "sparse")) {
		type = AE_IFREG;
		defmode = 0644;
	} else if (!strcmp(sp.type, "whiteout") || !strcmp(sp.type, "opaque")) {
		char *slash = strrchr(sp.name.p, '/');
		struct str dir = { sp.name.p, slash ? (size_t)(slash - sp.name.p) : 0 };
		char *base;

		if (!strcmp(sp.type, "opaque")) {
			path = path_join(&sp.name, ".wh..wh..opq");
		} else {
			base = malloc(strlen(slash ? slash + 1 : sp.name.p) + 5);
			if (!base)
				die("out of memory");
			sprintf(base, ".wh.%s", slash ? slash + 1 : sp.name.p);
			path = path_join(&dir, base);
			free(base);
		}
		type = AE_IFREG;
		defmode = 0644;
	} else if (!strcmp(sp.type, "dir")) {
		type = AE_IFDIR;
		defmode = 0755;
	} else if (!strcmp(sp.type, "symlink")) {
		type = AE_IFLNK;
		defmode = 0777;
	} else if (!strcmp(sp.type, "fifo")) {
		type = AE_IFIFO;
		defmode = 0644;
	} else if (!strcmp(sp.type, "char")) {
		type = AE_IFCHR;
		defmode = 0600;
	} else if (!strcmp(sp.type, "block")) {
		type = AE_IFBLK;
		defmode = 0600;
	} else {
		die("unknown type '%s'", sp.type);
	}

	if ((!strcmp(sp.type, "symlink") || !strcmp(sp.type, "hardlink")) && !sp.target.p)
		die("%s needs target=", sp.type);
	if ((type == AE_IFCHR || type == AE_IFBLK) && !sp.have_dev)
		die("%s needs dev=", sp.type);
	if (!strcmp(sp.type, "sparse") && (!sp.have_size || !format_pax))
		die("sparse needs size= and the pax format");
	if (sp.have_content && sp.have_size)
		die("content= and size= exclude each other");

	archive_entry_copy_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, sp.have_mode ? sp.mode : defmode);
	archive_entry_set_uid(e, (la_int64_t)sp.uid);
	archive_entry_set_gid(e, (la_int64_t)sp.gid);
	if (sp.uname.p)
		archive_entry_copy_uname(e, sp.uname.p);
	if (sp.gname.p)
		archive_entry_copy_gname(e, sp.gname.p);
	archive_entry_set_mtime(e, sp.mtime_sec, sp.mtime_nsec);
	if (sp.have_dev)
		archive_entry_set_rdev(e, makedev(sp.dev_major, sp.dev_minor));
	if (!strcmp(sp.type, "symlink"))
		archive_entry_copy_symlink(e, sp.target.p);
	if (!strcmp(sp.type, "hardlink"))
		archive_entry_copy_hardlink(e, sp.target.p);

	if (type == AE_IFREG && strcmp(sp.type, "hardlink"))
		archive_entry_set_size(e, sp.have_content ? (la_int64_t)sp.content.len
							  : (la_int64_t)sp.size);
	else
		archive_entry_set_size(e, 0);
	for (int i = 0; i < sp.n_regions; i++) {
		if (sp.region[i][0] + sp.region[i][1] > sp.size)
			die("data region past the end of the file");
		archive_entry_sparse_add_entry(e, (la_int64_t)sp.region[i][0],
					       (la_int64_t)sp.region[i][1]);
	}

	/* ARCHIVE_WARN: e.g. a non-UTF-8 name, stored as raw bytes. */
	if (archive_write_header(a, e) < ARCHIVE_WARN)
		die("'%s': %s", f[1], archive_error_string(a));

	if (sp.have_content && sp.content.len) {
		xwrite_data(a, sp.content.p, sp.content.len);
	} else if (!strcmp(sp.type, "sparse")) {
		uint64_t pos = 0;

		memset(buf, 0, CHUNK);
		for (int i = 0; i <= sp.n_regions; i++) {
			uint64_t start = i < sp.n_regions ? sp.region[i][0] : sp.size;

			/* A hole: libarchive skips it, but give it zeros anyway. */
			while (pos < start) {
				size_t n = start - pos > CHUNK ? CHUNK : (size_t)(start - pos);

				xwrite_data(a, buf, n);
				pos += n;
			}
			if (i < sp.n_regions) {
				write_pattern(a, buf, pos, sp.region[i][1], sp.seed);
				pos += sp.region[i][1];
				memset(buf, 0, CHUNK);
			}
		}
	} else if (type == AE_IFREG && sp.have_size && strcmp(sp.type, "hardlink")) {
		write_pattern(a, buf, 0, sp.size, sp.seed);
	}

	if (path != sp.name.p)
		free(path);
	free(sp.name.p);
	free(sp.content.p);
	free(sp.target.p);
	free(sp.uname.p);
	free(sp.gname.p);
	archive_entry_free(e);
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
	fprintf(stderr, "usage: mklayer [-f pax|gnu|ustar] [-z none|gzip|zstd|xz|bzip2] OUT < SPEC\n"
			"       mklayer -p OFF:LEN[:SEED]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *format = "pax", *filter = "none", *out;
	struct archive *a;
	unsigned char *buf;
	char *line = NULL;
	size_t cap = 0;
	int opt, r;

	/* Valid UTF-8 names go into pax headers as UTF-8; others as raw bytes. */
	if (!setlocale(LC_ALL, "C.UTF-8"))
		setlocale(LC_ALL, "");

	buf = malloc(CHUNK);
	if (!buf)
		die("out of memory");
	while ((opt = getopt(argc, argv, "f:z:p:")) != -1) {
		switch (opt) {
		case 'f': format = optarg; break;
		case 'z': filter = optarg; break;
		case 'p': {
			uint64_t off, len, seed;

			parse_pair(optarg, &off, &len, &seed);
			while (len) {
				size_t n = len > CHUNK ? CHUNK : (size_t)len;

				fill(buf, off, n, seed);
				if (fwrite(buf, 1, n, stdout) != n)
					die("stdout: %s", strerror(errno));
				off += n;
				len -= n;
			}
			free(buf);
			return fflush(stdout) ? 1 : 0;
		}
		default: usage();
		}
	}
	if (optind != argc - 1)
		usage();
	out = argv[optind];

	a = archive_write_new();
	if (!a)
		die("out of memory");
	if (!strcmp(format, "pax"))
		r = archive_write_set_format_pax(a);
	else if (!strcmp(format, "gnu"))
		r = archive_write_set_format_gnutar(a);
	else if (!strcmp(format, "ustar"))
		r = archive_write_set_format_ustar(a);
	else
		die("unknown format '%s'", format);
	if (r != ARCHIVE_OK)
		die("format %s: %s", format, archive_error_string(a));
	if (strcmp(filter, "none") && archive_write_add_filter_by_name(a, filter) != ARCHIVE_OK)
		die("filter %s: %s", filter, archive_error_string(a));
	if (archive_write_open_filename(a, strcmp(out, "-") ? out : NULL) != ARCHIVE_OK)
		die("%s: %s", out, archive_error_string(a));

	while (getline(&line, &cap, stdin) != -1) {
		char *f[MAX_FIELDS], *save = NULL;
		int nf = 0;

		lineno++;
		for (char *t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
			if (nf == MAX_FIELDS)
				die("too many fields");
			f[nf++] = t;
		}
		if (nf == 0 || f[0][0] == '#')
			continue;
		if (nf < 2)
			die("want TYPE NAME [KEY=VALUE...]");
		write_entry(a, f, nf, !strcmp(format, "pax"), buf);
	}
	lineno = 0;
	if (ferror(stdin))
		die("reading the spec: %s", strerror(errno));
	if (archive_write_close(a) != ARCHIVE_OK)
		die("%s: %s", out, archive_error_string(a));
	archive_write_free(a);
	free(line);
	free(buf);
	return 0;
}
