/* SPDX-License-Identifier: MIT */
/*
 * A layer blob pulled lazily (docs/index-artifact.md): its bytes fetched
 * from the registry when a read needs them, in pieces of the index
 * artifact's chunk table, each checked against its SHA-256 before a byte
 * of it is written where a reader can see it.
 *
 * In the store: strata/lazy/<hex>, the blob's size with holes where it is
 * not fetched yet; <hex>.have, a byte per piece, set once the piece is on
 * disk (written and fdatasync'd first, so that a crash never leaves a
 * piece marked that is not there); <hex>.json, the chunk table and where
 * to fetch from.  Nothing in blobs/ names the blob until it is whole and
 * its digest checks (store_lazy_complete): a lazy blob is never a
 * half-written blob in the store.
 *
 * Several processes may fetch one blob at once (two mounts, a pull
 * completing it): a piece is the same checked bytes whoever writes it, so
 * they need no lock between them, and each reads a piece's mark on disk
 * before fetching it.  Within a process up to FETCHES runs of pieces are
 * fetched at once; one mutex guards the piece map, never held over I/O.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lazy_blob.h"
#include "sha256.h"
#include "sys.h"

#define RUN_MAX    16 /* pieces in one request */
#define READ_AHEAD 4  /* pieces fetched past a request when missing too */
#define ATTEMPTS   3  /* per request: a dropped connection (a bad piece: 2) */
#define FETCHES    4  /* requests in flight per blob */
#define FAIL_HOLD  5  /* seconds a failed fetch fails the others at once */
#define CHUNK_MIN  ((uint64_t)4 << 10)
#define CHUNK_MAX  ((uint64_t)64 << 20)

struct store_lazy_blob {
	char digest[STORE_DIGEST_MAX];
	uint64_t size, chunk;
	size_t n_chunks;
	unsigned char (*sums)[SHA256_SIZE];
	unsigned char *have;
	int data_fd, have_fd;
	char *registry, *repository;
	bool insecure;
	char index[STORE_DIGEST_MAX]; /* "": an older pull's, none named */
	uint64_t index_size;
	/* Several runs of pieces fetched at once (FUSE reads from several
	 * threads, the kernel reads ahead), each with a client of its own;
	 * a piece being fetched is busy, and whoever needs it waits. */
	struct reg_client *clients[FETCHES];
	bool client_used[FETCHES];
	bool *busy;
	/* After a fetch failed (its attempts spent), other reads of missing
	 * pieces fail at once until then, rather than each spending its own
	 * attempts on a registry that is gone: a read's EIO stays bounded. */
	struct timespec fail_until;
	/* Marked bad by whoever completed it (lazy_bad.c): looked for at
	 * most once a second, so reads fail soon after in every mount. */
	char bad_path[PATH_MAX];
	time_t bad_checked;
	bool bad;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	strata_warn_fn warn;
	void *warn_ctx;
	struct strata_fetch fetch;
};

int store_lazy_path(struct store *s, const char *digest, const char *suffix, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/strata/lazy/%s%s", s->root, digest_hex(digest), suffix);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

bool store_lazy_exists(struct store *s, const char *digest)
{
	char name[160];
	struct stat st;

	snprintf(name, sizeof(name), "strata/lazy/%s.json", digest_hex(digest));
	return fstatat(s->root_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool parse_sum(const char *d, unsigned char out[SHA256_SIZE])
{
	if (!store_digest_valid(d))
		return false;
	for (int i = 0; i < SHA256_SIZE; i++)
		out[i] = (unsigned char)(hex_digit(d[7 + 2 * i]) << 4 | hex_digit(d[8 + 2 * i]));
	return true;
}

/* The chunk table @t, checked against the blob it is said to describe. */
static int read_table(json_t *t, const char *digest, uint64_t size, struct store_lazy_blob *b,
                      struct strata_error *err)
{
	json_t *chunks = json_object_get(t, "chunks"), *v;
	json_int_t cs = json_integer_value(json_object_get(t, "chunkSize"));
	const char *layer = store_json_str(t, "layer");
	size_t i;

	if (!layer || strcmp(layer, digest) != 0 ||
	    json_integer_value(json_object_get(t, "size")) != (json_int_t)size || cs < 0 ||
	    (uint64_t)cs < CHUNK_MIN || (uint64_t)cs > CHUNK_MAX || !json_is_array(chunks) ||
	    json_array_size(chunks) != (size + (uint64_t)cs - 1) / (uint64_t)cs)
		return strata_fail(err, STRATA_ERR_CORRUPT, 0,
		                   "blob %.19s: its chunk table describes another blob", digest);
	b->size = size;
	b->chunk = (uint64_t)cs;
	b->n_chunks = json_array_size(chunks);
	b->sums = calloc(b->n_chunks ? b->n_chunks : 1, sizeof(*b->sums));
	if (!b->sums)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	json_array_foreach(chunks, i, v)
	{
		if (!parse_sum(json_string_value(v), b->sums[i]))
			return strata_fail(err, STRATA_ERR_CORRUPT, 0,
			                   "blob %.19s: chunk %zu: not a digest", digest, i);
	}
	return 0;
}

/* Creates @path (sparse, @size bytes) unless it is there with that size. */
static int make_sized(const char *path, uint64_t size, struct strata_error *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	struct stat st;
	int rc = 0;

	if (fd < 0 || fstat(fd, &st) < 0 ||
	    ((uint64_t)st.st_size != size && ftruncate(fd, (off_t)size) < 0))
		rc = strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

int store_lazy_create(struct store *s, const char *digest, uint64_t size, const char *table,
                      size_t table_len, const struct store_lazy_source *src,
                      struct strata_error *err)
{
	struct store_lazy_blob probe = {0};
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	json_t *t = store_json_parse(table, table_len, "chunk table", err);
	char *text = NULL;
	int fd, rc = -1;

	if (!t)
		return -1;
	(void)mkdirat(s->root_fd, "strata/lazy", 0755);
	if (read_table(t, digest, size, &probe, err))
		goto out;
	if (json_object_set_new(t, "registry", json_string(src->registry)) ||
	    json_object_set_new(t, "repository", json_string(src->repository)) ||
	    json_object_set_new(t, "insecure", json_boolean(src->insecure)) ||
	    (src->index && json_object_set_new(t, "index",
	                                       json_pack("{s:s, s:I}", "digest", src->index, "size",
	                                                 (json_int_t)src->index_size))) ||
	    !(text = json_dumps(t, JSON_COMPACT))) {
		strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
		goto out;
	}
	if (store_lazy_path(s, digest, "", path, sizeof(path)) || make_sized(path, size, err))
		goto out;
	store_lazy_path(s, digest, ".have", path, sizeof(path));
	if (make_sized(path, probe.n_chunks, err))
		goto out;
	/* The table last, atomically: it is what says the blob is lazy. */
	store_lazy_path(s, digest, ".json", path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || sys_write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0 ||
	    rename(tmp, path) < 0)
		strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", path, strerror(errno));
	else
		rc = 0;
	if (fd >= 0)
		close(fd);
out:
	free(probe.sums);
	free(text);
	json_decref(t);
	return rc;
}

/* ---- fetching ---- */

static void say(struct store_lazy_blob *b, const char *fmt, const char *what)
{
	char msg[1200];

	if (!b->warn)
		return;
	snprintf(msg, sizeof(msg), fmt, b->digest, what);
	b->warn(b->warn_ctx, msg);
}

/* Pieces [@p, @q) from the registry into @buf with client *@c (made
 * if NULL): 0, or a positive errno. */
static int get_run(struct store_lazy_blob *b, struct reg_client **c, size_t p, size_t q,
                   unsigned char *buf, size_t *got)
{
	uint64_t from = p * b->chunk, to = q * b->chunk < b->size ? q * b->chunk : b->size;
	struct reg_request rq = {.method = "GET", .max_body = (size_t)(to - from)};
	char path[1024], scope[600], range[64];
	struct reg_response rs;
	struct strata_error err;

	if (!*c && store_reg_client_new(b->registry, b->insecure, 0, c, &err)) {
		say(b, "blob %.19s: %s", err.msg);
		return EIO;
	}
	snprintf(path, sizeof(path), "/v2/%s/blobs/%s", b->repository, b->digest);
	snprintf(scope, sizeof(scope), "repository:%s:pull", b->repository);
	snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)from,
	         (unsigned long long)(to - 1));
	rq.path = path;
	rq.scope = scope;
	rq.range = range;
	if (store_reg_request(*c, &rq, &rs, &err)) {
		say(b, "blob %.19s: %s", err.msg);
		return EIO;
	}
	*got = rs.len;
	if (rs.status != 206 || rs.len != to - from) {
		char what[160];

		snprintf(what, sizeof(what),
		         "a range request answered %ld with %zu bytes, not %llu", rs.status, rs.len,
		         (unsigned long long)(to - from));
		say(b, "blob %.19s: %s", what);
		store_reg_response_free(&rs);
		return EIO;
	}
	memcpy(buf, rs.body, rs.len);
	store_reg_response_free(&rs);
	return 0;
}

/* Each piece of @buf (pieces [@p, @q)) checked, then written and on disk
 * (the caller marks them). */
static int store_run(struct store_lazy_blob *b, size_t p, size_t q, const unsigned char *buf)
{
	unsigned char md[SHA256_SIZE];
	struct strata_error err;

	for (size_t i = p; i < q; i++) {
		uint64_t off = i * b->chunk,
		         len = off + b->chunk < b->size ? b->chunk : b->size - off;

		if (sha256_buffer(buf + (off - p * b->chunk), (size_t)len, md, &err) < 0)
			return EIO;
		if (memcmp(md, b->sums[i], SHA256_SIZE) != 0) {
			say(b, "blob %.19s: %s", "a piece fetched does not match its digest");
			return EBADMSG;
		}
	}
	if (sys_write_all_at(b->data_fd, buf,
	                     (size_t)((q < b->n_chunks ? q * b->chunk : b->size) - p * b->chunk),
	                     (off_t)(p * b->chunk)) < 0 ||
	    fdatasync(b->data_fd) < 0)
		return errno == ENOSPC ? ENOSPC : EIO;
	return 0;
}

/* Pieces [@p, @q), all missing: fetched, retried a bounded number of
 * times (a piece that fails its digest is fetched once more). */
static int fetch_run(struct store_lazy_blob *b, struct reg_client **c, size_t p, size_t q)
{
	size_t len = (size_t)((q < b->n_chunks ? q * b->chunk : b->size) - p * b->chunk), got;
	unsigned char *buf = malloc(len ? len : 1);
	int rc = ENOMEM, bad = 0;

	for (int attempt = 0; buf && attempt < ATTEMPTS; attempt++) {
		if (attempt)
			nanosleep(&(struct timespec){0, 200000000L * attempt}, NULL);
		rc = get_run(b, c, p, q, buf, &got);
		if (rc == 0)
			rc = store_run(b, p, q, buf);
		/* A bad piece is fetched once more, not more: a registry that
		 * serves it wrong twice will not serve it right. */
		if (rc == 0 || rc == ENOSPC || (rc == EBADMSG && bad++))
			break;
	}
	free(buf);
	return rc == EBADMSG ? EIO : rc;
}

/* Whether another process (a second mount, a pull completing the blob
 * while this mount runs) has fetched piece @p meanwhile: its mark on disk
 * is read before the piece is fetched again. */
static bool refresh_have(struct store_lazy_blob *b, size_t p)
{
	unsigned char v = 0;

	if (pread(b->have_fd, &v, 1, (off_t)p) == 1 && v == 1)
		b->have[p] = 1;
	return b->have[p];
}

/* Whether a fetch failed less than FAIL_HOLD seconds ago. */
static bool failing(const struct store_lazy_blob *b)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec < b->fail_until.tv_sec ||
	       (now.tv_sec == b->fail_until.tv_sec && now.tv_nsec < b->fail_until.tv_nsec);
}

/* A client no fetch is using, or -1: all are. */
static int free_client(const struct store_lazy_blob *b)
{
	for (int i = 0; i < FETCHES; i++)
		if (!b->client_used[i])
			return i;
	return -1;
}

/* Fetches pieces [@p, @q), marked busy, with client @k, the lock dropped
 * meanwhile; marks them present (and on disk in .have) if they came. */
static int fetch_unlocked(struct store_lazy_blob *b, int k, size_t p, size_t q)
{
	int rc;

	memset(b->busy + p, 1, q - p);
	b->client_used[k] = true;
	pthread_mutex_unlock(&b->lock);
	rc = fetch_run(b, &b->clients[k], p, q);
	pthread_mutex_lock(&b->lock);
	if (rc == 0) {
		memset(b->have + p, 1, q - p);
		if (sys_write_all_at(b->have_fd, b->have + p, q - p, (off_t)p) < 0)
			rc = EIO;
	}
	if (rc && rc != ENOSPC) {
		clock_gettime(CLOCK_MONOTONIC, &b->fail_until);
		b->fail_until.tv_sec += FAIL_HOLD;
	}
	memset(b->busy + p, 0, q - p);
	b->client_used[k] = false;
	pthread_cond_broadcast(&b->changed);
	return rc;
}

/* Whether the blob was marked bad since it was opened (b->lock held). */
static bool found_bad(struct store_lazy_blob *b)
{
	struct timespec now;

	if (b->bad)
		return true;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	if (now.tv_sec == b->bad_checked)
		return false;
	b->bad_checked = now.tv_sec;
	if (access(b->bad_path, F_OK) < 0)
		return false;
	b->bad = true;
	say(b, "blob %.19s: %s", "found not to be itself when completed: its reads fail");
	return true;
}

static int ensure(void *ctx, uint64_t off, uint64_t len)
{
	struct store_lazy_blob *b = ctx;
	size_t p, last;
	int rc = 0, k;

	if (len == 0)
		return 0;
	if (off >= b->size || len > b->size - off)
		return EIO;
	p = (size_t)(off / b->chunk);
	last = (size_t)((off + len - 1) / b->chunk);
	pthread_mutex_lock(&b->lock);
	if (found_bad(b))
		rc = EIO;
	while (rc == 0 && p <= last) {
		size_t q = p, end;

		if (b->have[p] || refresh_have(b, p)) {
			p++;
			continue;
		}
		if (failing(b)) {
			rc = EIO;
			break;
		}
		/* Being fetched by another thread, or no client free: wait (a
		 * fetch that failed leaves the piece to whoever asks next). */
		if (b->busy[p] || (k = free_client(b)) < 0) {
			pthread_cond_wait(&b->changed, &b->lock);
			continue;
		}
		end = last + 1 + READ_AHEAD < b->n_chunks ? last + 1 + READ_AHEAD : b->n_chunks;
		while (q < end && q - p < RUN_MAX && !b->have[q] && !b->busy[q])
			q++;
		rc = fetch_unlocked(b, k, p, q);
		p = q;
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

static void release(void *ctx)
{
	store_lazy_close(ctx);
}

/* ---- its index, fetched again ---- */

int store_lazy_get_index(struct store_lazy_blob *b, char **buf, size_t *len,
                         struct strata_error *err)
{
	struct reg_client *c = NULL;

	if (!b->index[0])
		return strata_fail(err, STRATA_ERR_INDEX, ENOENT,
		                   "blob %.19s: its index is gone, and an older pull did not note "
		                   "where it came from: pull the image again",
		                   b->digest);
	if (b->index_size > STORE_LAZY_INDEX_MAX)
		return strata_fail(err, STRATA_ERR_CORRUPT, EFBIG,
		                   "blob %.19s: an index of %llu bytes", b->digest,
		                   (unsigned long long)b->index_size);
	if (store_reg_client_new(b->registry, b->insecure, 0, &c, err))
		return -1;
	*buf = store_reg_get_blob_mem(c, b->repository, b->index, b->index_size, len, err);
	store_reg_client_free(c);
	return *buf ? 0 : -1;
}

/* ---- opening ---- */

static int load(struct store *s, struct store_lazy_blob *b, struct strata_error *err)
{
	char path[PATH_MAX];
	size_t len;
	char *text = NULL;
	json_t *t = NULL, *index;
	uint64_t size;
	int rc = -1, fd;
	struct stat st;

	store_lazy_path(s, b->digest, ".json", path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size > (off_t)JSON_BLOB_MAX * 4 ||
	    !(text = malloc((size_t)st.st_size + 1)) ||
	    sys_pread_full(fd, text, (size_t)st.st_size, 0) != st.st_size) {
		strata_fail(err, STRATA_ERR_SYS, errno ? errno : EIO, "%s: %s", path,
		            strerror(errno ? errno : EIO));
		goto out;
	}
	len = (size_t)st.st_size;
	if (!(t = store_json_parse(text, len, path, err)))
		goto out;
	size = (uint64_t)json_integer_value(json_object_get(t, "size"));
	b->registry = store_json_str(t, "registry") ? strdup(store_json_str(t, "registry")) : NULL;
	b->repository =
	    store_json_str(t, "repository") ? strdup(store_json_str(t, "repository")) : NULL;
	b->insecure = json_is_true(json_object_get(t, "insecure"));
	index = json_object_get(t, "index");
	if (store_digest_valid(store_json_str(index, "digest")) &&
	    json_integer_value(json_object_get(index, "size")) > 0) {
		snprintf(b->index, sizeof(b->index), "%s", store_json_str(index, "digest"));
		b->index_size = (uint64_t)json_integer_value(json_object_get(index, "size"));
	}
	if (!b->registry || !b->repository) {
		strata_fail(err, STRATA_ERR_CORRUPT, 0, "%s: no registry to fetch from", path);
		goto out;
	}
	rc = read_table(t, b->digest, size, b, err);
out:
	if (fd >= 0)
		close(fd);
	free(text);
	json_decref(t);
	return rc;
}

static int open_files(struct store *s, struct store_lazy_blob *b, struct strata_error *err)
{
	char path[PATH_MAX];
	struct stat st;

	store_lazy_path(s, b->digest, "", path, sizeof(path));
	b->data_fd = open(path, O_RDWR | O_CLOEXEC);
	if (b->data_fd < 0 || fstat(b->data_fd, &st) < 0 || (uint64_t)st.st_size != b->size)
		return strata_fail(err, STRATA_ERR_CORRUPT, errno, "%s: missing, or not %llu bytes",
		                   path, (unsigned long long)b->size);
	store_lazy_path(s, b->digest, ".have", path, sizeof(path));
	b->have_fd = open(path, O_RDWR | O_CLOEXEC);
	b->have = calloc(b->n_chunks ? b->n_chunks : 1, 1);
	b->busy = calloc(b->n_chunks ? b->n_chunks : 1, sizeof(*b->busy));
	if (b->have_fd < 0 || !b->have || !b->busy ||
	    sys_pread_full(b->have_fd, b->have, b->n_chunks, 0) != (ssize_t)b->n_chunks)
		return strata_fail(err, STRATA_ERR_CORRUPT, errno, "%s: missing or short", path);
	return 0;
}

int store_lazy_open(struct store *s, const char *digest, strata_warn_fn warn, void *warn_ctx,
                    struct store_lazy_blob **out, struct strata_error *err)
{
	struct store_lazy_blob *b = calloc(1, sizeof(*b));
	char why[256];

	if (!b)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	snprintf(b->digest, sizeof(b->digest), "%s", digest);
	b->data_fd = b->have_fd = -1;
	b->warn = warn;
	b->warn_ctx = warn_ctx;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->changed, NULL);
	b->fetch = (struct strata_fetch){ensure, b, release};
	store_lazy_path(s, digest, ".bad", b->bad_path, sizeof(b->bad_path));
	if (store_lazy_is_bad(s, digest, why, sizeof(why))) {
		strata_fail(
		    err, STRATA_ERR_CORRUPT, 0,
		    "layer blob %.19s is bad (%s): `strata pull` of its image fetches it whole",
		    digest, why);
		store_lazy_close(b);
		return -1;
	}
	if (load(s, b, err) || open_files(s, b, err)) {
		store_lazy_close(b);
		return -1;
	}
	*out = b;
	return 0;
}

const struct strata_fetch *store_lazy_fetch(const struct store_lazy_blob *b)
{
	return &b->fetch;
}

int store_lazy_missing(const struct store_lazy_blob *b, uint64_t *missing)
{
	*missing = 0;
	for (size_t i = 0; i < b->n_chunks; i++)
		if (!b->have[i])
			*missing += i + 1 < b->n_chunks ? b->chunk : b->size - i * b->chunk;
	return 0;
}

void store_lazy_close(struct store_lazy_blob *b)
{
	if (!b)
		return;
	if (b->data_fd >= 0)
		close(b->data_fd);
	if (b->have_fd >= 0)
		close(b->have_fd);
	for (int i = 0; i < FETCHES; i++)
		store_reg_client_free(b->clients[i]);
	pthread_cond_destroy(&b->changed);
	pthread_mutex_destroy(&b->lock);
	free(b->busy);
	free(b->sums);
	free(b->have);
	free(b->registry);
	free(b->repository);
	free(b);
}

int store_lazy_check(struct store *s, const char *digest, uint64_t *fetched, size_t *bad,
                     struct strata_error *err)
{
	struct store_lazy_blob *b;
	unsigned char *buf, md[SHA256_SIZE];
	int rc = 0;

	*fetched = 0;
	*bad = 0;
	if (store_lazy_open(s, digest, NULL, NULL, &b, err))
		return -1;
	buf = malloc(b->chunk);
	for (size_t i = 0; buf && rc == 0 && i < b->n_chunks; i++) {
		uint64_t off = i * b->chunk,
		         len = off + b->chunk < b->size ? b->chunk : b->size - off;

		if (!b->have[i])
			continue;
		if (sys_pread_full(b->data_fd, buf, (size_t)len, (off_t)off) != (ssize_t)len ||
		    sha256_buffer(buf, (size_t)len, md, err) < 0)
			rc = strata_fail(err, STRATA_ERR_SYS, errno ? errno : EIO,
			                 "blob %.19s: reading it: %s", digest,
			                 strerror(errno ? errno : EIO));
		else if (memcmp(md, b->sums[i], SHA256_SIZE) != 0)
			(*bad)++;
		else
			*fetched += len;
	}
	if (!buf)
		rc = strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	free(buf);
	store_lazy_close(b);
	return rc;
}

/* ---- completing ---- */

void store_lazy_remove(struct store *s, const char *digest)
{
	static const char *const suffixes[] = {".json", ".have", ""};
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (store_lazy_path(s, digest, suffixes[i], path, sizeof(path)) == 0)
			unlink(path);
}

/* The fetched blob copied into strata/tmp/@tmp, hashed on the way (the
 * bytes stored are the bytes checked): a new file, so that a mount still
 * writing pieces into the lazy copy never changes the stored blob.  Its
 * digest in @got. */
static int copy_out(struct store *s, struct store_lazy_blob *b, const char *tmp,
                    char got[STORE_DIGEST_MAX], struct strata_error *err)
{
	size_t cap = (size_t)1 << 20;
	unsigned char *buf = malloc(cap), md[SHA256_SIZE];
	struct sha256 *h = sha256_new(err);
	int out = openat(s->tmp_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), rc = -1;
	uint64_t off = 0;

	if (!buf || !h || out < 0)
		goto out;
	while (off < b->size) {
		size_t n = b->size - off < cap ? (size_t)(b->size - off) : cap;

		if (sys_pread_full(b->data_fd, buf, n, (off_t)off) != (ssize_t)n ||
		    sha256_update(h, buf, n) < 0 || sys_write_all(out, buf, n) < 0)
			goto out;
		off += n;
	}
	if (sha256_final(h, md) < 0 || fsync(out) < 0)
		goto out;
	store_digest_format(md, got);
	rc = 0;
out:
	if (rc && !err->msg[0])
		strata_fail(err, STRATA_ERR_SYS, errno ? errno : EIO, "storing blob %.19s: %s",
		            b->digest, strerror(errno ? errno : EIO));
	if (out >= 0)
		close(out);
	sha256_free(h);
	free(buf);
	return rc;
}

int store_lazy_complete(struct store *s, const char *digest, struct strata_error *err)
{
	struct store_lazy_blob *b;
	char tmp[96], got[STORE_DIGEST_MAX];
	int rc;

	memset(err, 0, sizeof(*err));
	if (store_lazy_open(s, digest, NULL, NULL, &b, err))
		return -1;
	snprintf(tmp, sizeof(tmp), "lazy-%s.tmp", digest_hex(digest));
	rc = ensure(b, 0, b->size);
	if (rc)
		rc = strata_fail(err, STRATA_ERR_SYS, rc, "blob %.19s: fetching the rest: %s",
		                 digest, strerror(rc));
	else if ((rc = copy_out(s, b, tmp, got, err)) == 0 && strcmp(got, digest) != 0) {
		char why[160];

		snprintf(why, sizeof(why), "whole, it is %.19s: its index artifact lied", got);
		rc = strata_fail(err, STRATA_ERR_CORRUPT, 0, "blob %.19s: %s", digest, why);
		store_lazy_mark_bad(s, digest, why, &(struct strata_error){0});
	}
	if (rc == 0 && (renameat(s->tmp_fd, tmp, s->blobs_fd, digest_hex(digest)) < 0 ||
	                fsync(s->blobs_fd) < 0))
		rc = strata_fail(err, STRATA_ERR_SYS, errno, "storing blob %.19s: %s", digest,
		                 strerror(errno));
	if (rc)
		unlinkat(s->tmp_fd, tmp, 0);
	store_lazy_close(b);
	if (rc == 0)
		store_lazy_remove(s, digest);
	return rc;
}

/* A layer completed from its lazy copy, indexed again from the whole blob
 * (the adopted index replaced by strata's own) and its diff-id checked. */
int store_lazy_complete_layer(struct store *s, const char *digest, const char *diff_id,
                              struct strata_error *err)
{
	struct strata_layer_options lo = {.cache_dir = s->layer_cache,
	                                  .name = digest,
	                                  .force_reindex = true,
	                                  .want_diff_id = true};
	struct strata_layer_info info;
	struct strata_layer *layer;
	char key[LAYER_KEY_MAX], path[PATH_MAX];
	int lock, rc;

	if (store_lazy_complete(s, digest, err))
		return -1;
	store_layer_cache_key(diff_id, digest, key);
	lo.cache_key = key;
	if (store_blob_path(s, digest, path, sizeof(path)) < 0)
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", s->root, strerror(errno));
	lock = store_layer_cache_lock(s, key);
	rc = strata_layer_open_tar(path, &lo, &layer, err);
	if (lock >= 0)
		close(lock);
	if (rc)
		return -1;
	strata_layer_info(layer, &info);
	rc = info.diff_id[0] && strcmp(info.diff_id, diff_id) != 0
	         ? strata_fail(err, STRATA_ERR_CORRUPT, 0,
	                       "layer %.19s: its diff-id is %s, the config says %s", digest,
	                       info.diff_id, diff_id)
	         : 0;
	strata_layer_close(layer);
	return rc;
}

int store_lazy_complete_image(struct store *s, const struct store_image *img,
                              struct strata_error *err)
{
	bool locked = false;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < img->n_layers; i++) {
		const struct store_layer *l = &img->layers[i];

		if (store_blob_exists(s, l->digest) || !store_lazy_exists(s, l->digest))
			continue;
		/* Blobs go into the store as a pull's do: gc waits. */
		if (!locked && (rc = store_import_lock(s, false, err)) == 0)
			locked = true;
		if (rc == 0)
			rc = store_lazy_complete_layer(s, l->digest, l->diff_id, err);
	}
	if (locked)
		store_import_unlock(s);
	return rc;
}
