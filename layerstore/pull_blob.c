/* SPDX-License-Identifier: MIT */
/*
 * A pull's layer blobs: downloaded in parallel (one libcurl multi handle, a
 * bounded number of transfers at once), each one hashed as it is written
 * and indexed in the same pass, by a thread per layer that reads the bytes
 * right behind the writer (strata_layer_index_stream(), fed from the page
 * cache, never from the network twice).
 *
 * A blob in progress is a named file, strata/tmp/pull-<hex>.partial, locked
 * while a pull writes it: a dropped connection resumes with a Range
 * request, and so does the next pull after a kill.  Retries are bounded,
 * with backoff (429's Retry-After honoured).  A blob that checks out is
 * linked into blobs/ only when every layer of the image has: until then
 * nothing in the store names it.  gc sweeps strata/tmp, so partial blobs
 * last until the next gc, which cannot run during a pull (the import lock).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "curl_dl.h"
#include "lazy_blob.h"
#include "registry.h"
#include "sys.h"

#define MAX_ATTEMPTS     5
#define RETRY_AFTER_MAX  60.0
#define DEFAULT_PARALLEL 4
/* Writeback is started every this many bytes: the fsync before a blob is
 * named then waits for little (on loopback the fsyncs at the end were
 * 0.4 s of a 2.1 s pull, after the download had long finished). */
#define WRITEBACK_STEP (8u << 20)
#define BLOB_READ_SIZE 524288L

enum job_state { J_QUEUED, J_ACTIVE, J_WAIT, J_DONE };

struct pull_run;

struct job {
	struct pull_run *run;
	size_t i;
	struct pull_layer *l;
	char name[96];       /* pull-<hex>.partial, in strata/tmp */
	char path[PATH_MAX]; /* the same, whole: the index names its identity */
	char key[LAYER_KEY_MAX];
	int fd, cache_lock;
	struct sha256 *sha;
	uint64_t have;    /* bytes in the file, all hashed */
	uint64_t start;   /* bytes there when the current transfer began */
	uint64_t flushed; /* bytes before this handed to writeback */
	uint64_t skip;    /* bytes of the response to drop: a Range ignored */
	bool decided;     /* the response's status was looked at */
	bool restarted;   /* a resumed blob that failed its digest, started over */
	bool refreshed;   /* a 401 got a new token once */
	int attempts;
	double not_before;
	enum job_state state;
	CURL *easy;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
	uint64_t range_start; /* Content-Range of a 206 */
	long retry_after;
	int write_errno;
	bool overflow;
	/* The indexer, reading behind the writer. */
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t readable, read_off;
	int end; /* 0 more to come, 1 all verified, -1 abandoned */
	int index_rc;
	struct strata_error index_err;
	char diff_id[72];
};

struct pull_run {
	struct reg_client *c;
	struct store *s;
	const char *repo;
	char scope[600];
	const struct store_pull_options *o;
	struct job *jobs;
	size_t n;
	CURLM *multi;
	struct strata_error *err;
	bool failed;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress(struct job *j)
{
	const struct store_pull_options *o = j->run->o;

	if (o->progress)
		o->progress(o->progress_ctx, j->i, j->l->digest, j->have, j->l->size);
}

/* ---- the indexer thread ---- */

static ssize_t index_read(void *ctx, void *buf, size_t len)
{
	struct job *j = ctx;
	uint64_t off;
	ssize_t n;
	int end;

	pthread_mutex_lock(&j->mu);
	while (j->read_off == j->readable && j->end == 0)
		pthread_cond_wait(&j->cv, &j->mu);
	off = j->read_off;
	if (len > j->readable - off)
		len = (size_t)(j->readable - off);
	end = j->end;
	pthread_mutex_unlock(&j->mu);
	if (len == 0) {
		if (end > 0)
			return 0;
		errno = ECANCELED;
		return -1;
	}
	n = sys_pread_full(j->fd, buf, len, (off_t)off);
	if (n > 0) {
		pthread_mutex_lock(&j->mu);
		j->read_off += (uint64_t)n;
		pthread_mutex_unlock(&j->mu);
	}
	return n == 0 ? (errno = EIO, -1) : n;
}

static void *indexer(void *arg)
{
	struct job *j = arg;
	const struct store_pull_options *o = j->run->o;
	char name[200];
	struct strata_layer_options lo = {
	    .cache_dir = store_layer_cache(j->run->s),
	    .cache_key = j->key,
	    .want_diff_id = true,
	    .max_layer_size = o->max_layer_size,
	    .warn = o->warn,
	    .warn_ctx = o->warn_ctx,
	    .name = name,
	};

	snprintf(name, sizeof(name), "layer %s", j->l->digest);
	j->index_rc =
	    strata_layer_index_stream(j->path, index_read, j, &lo, j->diff_id, &j->index_err);
	return NULL;
}

/* Tells the indexer that more bytes, or the end, are there. */
static void index_feed(struct job *j, int end)
{
	pthread_mutex_lock(&j->mu);
	j->readable = j->have;
	if (end)
		j->end = end;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
}

static int index_start(struct job *j)
{
	if (j->l->index)
		return 0; /* the artifact's is adopted at the end */
	j->readable = j->have;
	j->read_off = 0;
	j->end = 0;
	j->index_rc = 0;
	if (pthread_create(&j->thread, NULL, indexer, j) != 0)
		return strata_fail(j->run->err, STRATA_ERR_SYS, EAGAIN, "layer %s: no thread",
		                   j->l->digest);
	j->thread_started = true;
	return 0;
}

static void index_join(struct job *j, int end)
{
	if (!j->thread_started)
		return;
	index_feed(j, end);
	pthread_join(j->thread, NULL);
	j->thread_started = false;
}

/* ---- the partial file ---- */

static int sys_fail(struct job *j, const char *what, int en)
{
	return strata_fail(j->run->err, STRATA_ERR_SYS, en, "layer %s: %s %s: %s%s", j->l->digest,
	                   what, j->path, strerror(en),
	                   en == ENOSPC || en == EDQUOT
	                       ? " (make room: strata gc, strata rmi; the pull resumes)"
	                       : "");
}

/* Hashes what an earlier pull left in the file. */
static int hash_existing(struct job *j)
{
	const size_t buf_size = 1 << 17;
	char *buf = malloc(buf_size);
	uint64_t off = 0;

	if (!buf || !(j->sha = sha256_new(j->run->err))) {
		free(buf);
		return strata_fail(j->run->err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	}
	while (off < j->have) {
		size_t want = j->have - off < buf_size ? (size_t)(j->have - off) : buf_size;
		ssize_t n = sys_pread_full(j->fd, buf, want, (off_t)off);

		if (n <= 0 || sha256_update(j->sha, buf, (size_t)n) < 0) {
			free(buf);
			return sys_fail(j, "reading", n < 0 ? errno : EIO);
		}
		off += (uint64_t)n;
	}
	free(buf);
	return 0;
}

/* Starts over from nothing: a new hash, an empty file. */
static int reset_file(struct job *j)
{
	sha256_free(j->sha);
	j->sha = sha256_new(j->run->err);
	j->have = 0;
	j->flushed = 0;
	if (!j->sha)
		return -1;
	if (ftruncate(j->fd, 0) < 0)
		return sys_fail(j, "truncating", errno);
	return 0;
}

/* Does the file already hold the whole blob?  (The sha is used up.) */
static bool complete_and_right(struct job *j)
{
	unsigned char md[32];
	char got[STORE_DIGEST_MAX];

	if (j->have != j->l->size || sha256_final(j->sha, md) < 0)
		return false;
	store_digest_format(md, got);
	return strcmp(got, j->l->digest) == 0;
}

/* Opens (or creates) the partial file, locked; 1 when another pull
 * stored the blob meanwhile. */
static int open_partial(struct job *j)
{
	struct store *s = j->run->s;
	struct stat st;

	snprintf(j->name, sizeof(j->name), "pull-%s.partial", digest_hex(j->l->digest));
	snprintf(j->path, sizeof(j->path), "%s/strata/tmp/%s", store_root(s), j->name);
	j->fd = openat(s->tmp_fd, j->name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (j->fd < 0)
		return sys_fail(j, "opening", errno);
	/* Another pull of the same blob: wait for it, then use its work. */
	while (flock(j->fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return sys_fail(j, "locking", errno);
	if (store_blob_exists(s, j->l->digest))
		return 1; /* (its partial file may be the blob now: not touched) */
	if (fstat(j->fd, &st) < 0)
		return sys_fail(j, "reading", errno);
	j->have = (uint64_t)st.st_size;
	if (j->have > j->l->size && reset_file(j))
		return -1;
	return hash_existing(j);
}

/* Starts writing the blob's new pages to disk, without waiting: every
 * WRITEBACK_STEP bytes, or all of them at @end.  Only a hint. */
static void start_writeback(struct job *j, bool end)
{
	if (!end && j->have - j->flushed < WRITEBACK_STEP)
		return;
	sync_file_range(j->fd, (off_t)j->flushed, (off_t)(j->have - j->flushed),
	                SYNC_FILE_RANGE_WRITE);
	j->flushed = j->have;
}

/* ---- one transfer ---- */

/* The first bytes of a response: where they go in the blob. */
static bool decide(struct job *j)
{
	long status = 0;

	sym_curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
	j->decided = true;
	if (status == 200) {
		j->skip = j->have; /* the Range was ignored: drop what we have */
		return true;
	}
	if (status == 206 && j->range_start <= j->have) {
		j->skip = j->have - j->range_start;
		return true;
	}
	return false; /* an error's body, or a range we did not ask for */
}

static size_t on_data(char *data, size_t size, size_t n, void *ctx)
{
	struct job *j = ctx;
	size_t total = size * n, len = total, drop;

	if (!j->decided && !decide(j))
		j->skip = UINT64_MAX;
	drop = j->skip < len ? (size_t)j->skip : len;
	j->skip -= drop;
	if (drop == len)
		return total;
	data += drop;
	len -= drop;
	if (j->have + len > j->l->size) {
		j->overflow = true; /* more than the descriptor says: a liar */
		return 0;
	}
	if (sys_write_all_at(j->fd, data, len, (off_t)j->have) < 0) {
		j->write_errno = errno;
		return 0;
	}
	if (sha256_update(j->sha, data, len) < 0) {
		j->write_errno = ENOMEM;
		return 0;
	}
	j->have += len;
	start_writeback(j, false);
	index_feed(j, 0);
	progress(j);
	return total;
}

static size_t on_headers(char *h, size_t size, size_t n, void *ctx)
{
	struct job *j = ctx;
	size_t len = size * n;
	unsigned long long a;

	if (len > 5 && strncmp(h, "HTTP/", 5) == 0) {
		j->decided = false;
		j->retry_after = -1;
	} else if (len > 14 && strncasecmp(h, "Content-Range:", 14) == 0 &&
	           sscanf(h + 14, " bytes %llu-", &a) == 1) {
		j->range_start = a;
	} else if (len > 12 && strncasecmp(h, "Retry-After:", 12) == 0) {
		j->retry_after = atol(h + 12);
	}
	return len;
}

static int transfer_start(struct job *j)
{
	struct pull_run *r = j->run;
	char url[2048], line[8192], *auth;

	j->easy = sym_curl_easy_init();
	if (!j->easy)
		return strata_fail(r->err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	snprintf(url, sizeof(url), "%s/v2/%s/blobs/%s", r->c->base, r->repo, j->l->digest);
	store_reg_setup_handle(r->c, j->easy);
	sym_curl_easy_setopt(j->easy, CURLOPT_URL, url);
	/* Larger reads: fewer calls into on_data, each a write, a hash
	 * update and a wake of the indexer (libcurl's default is 16 KiB). */
	sym_curl_easy_setopt(j->easy, CURLOPT_BUFFERSIZE, BLOB_READ_SIZE);
	sym_curl_easy_setopt(j->easy, CURLOPT_ERRORBUFFER, j->errbuf);
	sym_curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION, on_data);
	sym_curl_easy_setopt(j->easy, CURLOPT_WRITEDATA, j);
	sym_curl_easy_setopt(j->easy, CURLOPT_HEADERFUNCTION, on_headers);
	sym_curl_easy_setopt(j->easy, CURLOPT_HEADERDATA, j);
	sym_curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
	auth = store_reg_auth_header(r->c, r->scope);
	if (auth && snprintf(line, sizeof(line), "Authorization: %s", auth) > 0)
		j->hdrs = sym_curl_slist_append(j->hdrs, line);
	free(auth);
	if (j->have > 0) {
		snprintf(line, sizeof(line), "Range: bytes=%llu-", (unsigned long long)j->have);
		j->hdrs = sym_curl_slist_append(j->hdrs, line);
	}
	sym_curl_easy_setopt(j->easy, CURLOPT_HTTPHEADER, j->hdrs);
	j->errbuf[0] = '\0';
	j->decided = j->overflow = false;
	j->skip = 0;
	j->range_start = 0;
	j->retry_after = -1;
	j->start = j->have;
	j->state = J_ACTIVE;
	sym_curl_multi_add_handle(r->multi, j->easy);
	return 0;
}

static void transfer_end(struct job *j)
{
	if (!j->easy)
		return;
	sym_curl_multi_remove_handle(j->run->multi, j->easy);
	sym_curl_easy_cleanup(j->easy);
	sym_curl_slist_free_all(j->hdrs);
	j->easy = NULL;
	j->hdrs = NULL;
}

/* ---- what a finished transfer means ---- */

static bool retriable_curl(CURLcode r)
{
	return r == CURLE_PARTIAL_FILE || r == CURLE_RECV_ERROR || r == CURLE_SEND_ERROR ||
	       r == CURLE_GOT_NOTHING || r == CURLE_OPERATION_TIMEDOUT ||
	       r == CURLE_COULDNT_CONNECT || r == CURLE_HTTP2 || r == CURLE_HTTP2_STREAM;
}

static bool retriable_status(long status)
{
	return status == 408 || status == 429 || status >= 500;
}

/* Waits and tries again, or gives up with the error @fail sets. */
static int retry_or_fail(struct job *j, int (*fail)(struct job *, long, CURLcode), long status,
                         CURLcode r)
{
	double wait;

	if (++j->attempts >= MAX_ATTEMPTS)
		return fail(j, status, r);
	/* 0.5, 1, 2, 4 s: a registry that is busy or restarting gets time. */
	wait = 0.5 * (double)(1u << (j->attempts - 1));
	if (status == 429 && j->retry_after > 0)
		wait = j->retry_after < RETRY_AFTER_MAX ? (double)j->retry_after : RETRY_AFTER_MAX;
	j->not_before = now() + wait;
	j->state = J_WAIT;
	return 0;
}

static int transfer_failed(struct job *j, long status, CURLcode r)
{
	struct pull_run *run = j->run;
	char what[128];

	snprintf(what, sizeof(what), "layer %s", j->l->digest);
	if (r != CURLE_OK) {
		store_reg_curl_error(run->c, r, j->errbuf, run->err);
		return store_fail_prefix(run->err, "%s: %s", what);
	}
	if (status == 200 || status == 206)
		return strata_fail(
		    run->err, STRATA_ERR_SYS, EIO,
		    "%s: %s: the connection ended after %llu of %llu bytes, %d times",
		    run->c->registry, what, (unsigned long long)j->have,
		    (unsigned long long)j->l->size, j->attempts);
	{
		struct reg_response rs = {.status = status, .retry_after = j->retry_after};

		return store_reg_status_error(run->c, what, &rs, run->err);
	}
}

/* The whole blob is there: its digest decides. */
static int verify(struct job *j)
{
	unsigned char md[32];
	char got[STORE_DIGEST_MAX];

	if (sha256_final(j->sha, md) < 0)
		return strata_fail(j->run->err, STRATA_ERR_NOMEM, ENOMEM, "sha256 failed");
	store_digest_format(md, got);
	if (strcmp(got, j->l->digest) == 0) {
		start_writeback(j, true);
		j->state = J_DONE;
		index_feed(j, 1);
		progress(j);
		return 0;
	}
	/* A blob resumed from an earlier pull may hold bad bytes of that
	 * pull's: once, from scratch. */
	index_join(j, -1);
	if (j->start > 0 && !j->restarted) {
		j->restarted = true;
		if (reset_file(j) || index_start(j))
			return -1;
		return transfer_start(j);
	}
	ftruncate(j->fd, 0); /* never resumed from */
	return strata_fail(j->run->err, STRATA_ERR_CORRUPT, 0,
	                   "%s: layer %s: digest mismatch: the content is %s (nothing stored)",
	                   j->run->c->registry, j->l->digest, got);
}

static int transfer_done(struct job *j, CURLcode r)
{
	long status = 0;

	sym_curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
	transfer_end(j);
	if (j->write_errno)
		return sys_fail(j, "writing", j->write_errno);
	if (j->overflow) {
		ftruncate(j->fd, 0);
		return strata_fail(j->run->err, STRATA_ERR_CORRUPT, EFBIG,
		                   "%s: layer %s: more than the %llu bytes the manifest says "
		                   "(nothing stored)",
		                   j->run->c->registry, j->l->digest,
		                   (unsigned long long)j->l->size);
	}
	if (r == CURLE_OK && (status == 200 || status == 206) && j->have == j->l->size)
		return verify(j);
	if (r == CURLE_OK && status == 401 && !j->refreshed) {
		j->refreshed = true; /* the token expired: one more, at once */
		if (store_reg_refresh_token(j->run->c, j->run->scope, j->run->err))
			return -1;
		return transfer_start(j);
	}
	/* A server that stalls once may stall again: one more try only. */
	if (r == CURLE_OPERATION_TIMEDOUT && j->attempts >= 1)
		return transfer_failed(j, status, r);
	if ((r == CURLE_OK && (status == 200 || status == 206)) || retriable_curl(r) ||
	    (r == CURLE_OK && retriable_status(status)))
		return retry_or_fail(j, transfer_failed, status, r);
	return transfer_failed(j, status, r);
}

/* ---- the jobs ---- */

/* Opens a queued job's file and starts its indexer, and its transfer
 * unless the file already holds the blob. */
static int job_begin(struct job *j)
{
	int rc = open_partial(j);

	if (rc > 0) {
		j->state = J_DONE;
		j->have = j->l->size;
		progress(j);
		close(j->fd);
		j->fd = -1;
		return 0;
	}
	if (rc < 0)
		return -1;
	store_layer_cache_key(j->l->diff_id, j->l->digest, j->key);
	j->cache_lock = store_layer_cache_lock(j->run->s, j->key);
	if (j->have == j->l->size && j->have > 0 && complete_and_right(j)) {
		if (index_start(j))
			return -1;
		j->state = J_DONE; /* a killed pull had it all */
		index_feed(j, 1);
		progress(j);
		return 0;
	}
	if (j->have == j->l->size && reset_file(j)) /* whole but wrong */
		return -1;
	if (index_start(j))
		return -1;
	progress(j);
	return transfer_start(j);
}

/* Starts what may start: queued jobs up to the bound, waits that are over. */
static int schedule(struct pull_run *r, unsigned parallel)
{
	unsigned busy = 0;
	double t = now();

	for (size_t i = 0; i < r->n; i++)
		busy += r->jobs[i].state == J_ACTIVE || r->jobs[i].state == J_WAIT;
	for (size_t i = 0; i < r->n; i++) {
		struct job *j = &r->jobs[i];

		if (j->state == J_WAIT && j->not_before <= t && transfer_start(j))
			return -1;
		if (j->state == J_QUEUED && busy < parallel) {
			busy++;
			if (job_begin(j))
				return -1;
		}
	}
	return 0;
}

static bool all_done(const struct pull_run *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->jobs[i].state != J_DONE)
			return false;
	return true;
}

static int drive(struct pull_run *r)
{
	unsigned parallel = r->o->parallel ? r->o->parallel : DEFAULT_PARALLEL;

	while (!all_done(r)) {
		CURLMsg *msg;
		int running, left;

		if (schedule(r, parallel))
			return -1;
		sym_curl_multi_perform(r->multi, &running);
		while ((msg = sym_curl_multi_info_read(r->multi, &left))) {
			struct job *j = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			sym_curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
			if (transfer_done(j, msg->data.result))
				return -1;
		}
		sym_curl_multi_poll(r->multi, NULL, 0, 100, NULL);
	}
	return 0;
}

/* A verified blob with an artifact's index: the index adopted, the blob's
 * diff-id left to check later (verify.c); an index that will not adopt
 * (damaged, of another version) is built from the file instead. */
static void adopt_index(struct job *j)
{
	struct pull_run *r = j->run;
	struct strata_error err;
	char msg[sizeof(err.msg) + 128];

	if (store_layer_adopt_index(r->s, j->path, j->l->digest, j->l->diff_id, j->l->index,
	                            j->l->index_len, &err) == 0 &&
	    store_adopted_mark(r->s, j->l->digest, j->l->diff_id, &err) == 0) {
		j->l->adopted = true;
		return;
	}
	if (r->o->warn) {
		snprintf(msg, sizeof(msg),
		         "layer %.19s: the artifact's index: %s; indexing the blob", j->l->digest,
		         err.msg);
		r->o->warn(r->o->warn_ctx, msg);
	}
	free(j->l->index);
	j->l->index = NULL;
	if (index_start(j) == 0)
		index_feed(j, 1);
}

/* Every blob verified: the indexes must be whole, of the right diff-id. */
static int check_indexes(struct pull_run *r)
{
	int rc = 0;

	for (size_t i = 0; i < r->n; i++) {
		struct job *j = &r->jobs[i];

		if (!rc && j->fd >= 0 && j->l->index)
			adopt_index(j);
		index_join(j, 1);
		if (rc || j->fd < 0 || j->l->adopted)
			continue;
		if (j->index_rc)
			rc = strata_fail(r->err, j->index_err.code, j->index_err.sys_errno, "%s",
			                 j->index_err.msg);
		else if (strcmp(j->diff_id, j->l->diff_id) != 0)
			rc = strata_fail(r->err, STRATA_ERR_CORRUPT, 0,
			                 "layer %s: uncompressed digest %s, config says diff-id %s",
			                 j->l->digest, j->diff_id, j->l->diff_id);
	}
	return rc;
}

/* Names each blob: the file, index and all, moves into blobs/. */
static int link_blobs(struct pull_run *r)
{
	struct store *s = r->s;

	for (size_t i = 0; i < r->n; i++) {
		struct job *j = &r->jobs[i];

		if (j->fd < 0 || store_blob_exists(s, j->l->digest))
			continue;
		if (fsync(j->fd) < 0)
			return sys_fail(j, "writing", errno);
		if (renameat(s->tmp_fd, j->name, s->blobs_fd, digest_hex(j->l->digest)) < 0)
			return sys_fail(j, "storing", errno);
	}
	if (fsync(s->blobs_fd) < 0)
		return strata_fail(r->err, STRATA_ERR_SYS, errno, "storing blobs: %s",
		                   strerror(errno));
	return 0;
}

static void jobs_free(struct pull_run *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct job *j = &r->jobs[i];

		transfer_end(j);
		index_join(j, -1);
		sha256_free(j->sha);
		if (j->fd >= 0)
			close(j->fd);
		if (j->cache_lock >= 0)
			close(j->cache_lock);
		pthread_mutex_destroy(&j->mu);
		pthread_cond_destroy(&j->cv);
	}
	free(r->jobs);
}

int store_pull_layers(struct reg_client *c, struct store *s, const char *repo,
                      struct pull_layer *layers, size_t n, const struct store_pull_options *o,
                      struct strata_error *err)
{
	struct pull_run r = {.c = c, .s = s, .repo = repo, .o = o, .n = n, .err = err};
	int rc = -1;

	snprintf(r.scope, sizeof(r.scope), "repository:%s:pull", repo);
	r.jobs = calloc(n ? n : 1, sizeof(*r.jobs));
	r.multi = sym_curl_multi_init();
	if (!r.jobs || !r.multi) {
		free(r.jobs);
		if (r.multi)
			sym_curl_multi_cleanup(r.multi);
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		struct job *j = &r.jobs[i];

		*j = (struct job){.run = &r, .i = i, .l = &layers[i], .fd = -1, .cache_lock = -1};
		pthread_mutex_init(&j->mu, NULL);
		pthread_cond_init(&j->cv, NULL);
	}
	if (drive(&r) == 0 && check_indexes(&r) == 0)
		rc = link_blobs(&r);
	jobs_free(&r);
	sym_curl_multi_cleanup(r.multi);
	return rc;
}
