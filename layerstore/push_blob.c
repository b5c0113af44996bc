/* SPDX-License-Identifier: MIT */
/*
 * One blob of a push (distribution spec, "pushing blobs"): HEAD says
 * whether the repository has it; else a cross-repository mount is asked
 * for when another repository of the registry is known to hold it (201:
 * done; 202: the registry declined and opened an upload, which is used;
 * 401/403: the credentials may not read there, so a plain upload);
 * else an upload: monolithic (POST, then PUT ?digest= with the whole blob)
 * up to PUSH_CHUNK bytes, in PATCH chunks of PUSH_CHUNK beyond, each with
 * its Content-Range, then an empty PUT ?digest=.  The bytes are the
 * store's, unchanged: the registry checks them against the digest.
 *
 * A chunk is read into memory and sent from there, so that a 401 (a token
 * expired) can send it again: PUSH_CHUNK bounds the memory a push uses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "curl_dl.h"
#include "registry.h"

static int blob_error(struct reg_client *c, const char *verb, const char *digest,
                      const struct reg_response *rs, struct strata_error *err)
{
	char what[160];

	snprintf(what, sizeof(what), "%s blob %.19s", verb, digest);
	return store_reg_status_error(c, what, rs, err);
}

/* @method on /v2/@repo/blobs/@tail, no body. */
static int blobs_request(struct reg_client *c, const char *method, const char *repo,
                         const char *scope, const char *tail, struct reg_response *rs,
                         struct strata_error *err)
{
	struct reg_request rq = {.method = method, .scope = scope};
	char path[2048];

	snprintf(path, sizeof(path), "/v2/%s/blobs/%s", repo, tail);
	rq.path = path;
	return store_reg_request(c, &rq, rs, err);
}

/* 1: the repository has @digest; 0: it has not; -1. */
static int blob_present(struct reg_client *c, const char *repo, const char *scope,
                        const char *digest, struct strata_error *err)
{
	struct reg_response rs;
	int rc;

	if (blobs_request(c, "HEAD", repo, scope, digest, &rs, err))
		return -1;
	rc = rs.status == 200   ? 1
	     : rs.status == 404 ? 0
	                        : blob_error(c, "checking", digest, &rs, err);
	store_reg_response_free(&rs);
	return rc;
}

/* POST to the uploads of @repo (with @query); the Location in *@loc.
 * 1: a mount was done (201), 0: an upload is open (202), -1. */
static int start_upload(struct reg_client *c, const char *repo, const char *scope,
                        const char *query, const char *digest, char **loc, struct strata_error *err)
{
	struct reg_response rs;
	char tail[1024];
	int rc;

	snprintf(tail, sizeof(tail), "uploads/%s", query);
	if (blobs_request(c, "POST", repo, scope, tail, &rs, err))
		return -1;
	if (rs.status == 201)
		rc = 1;
	else if (rs.status == 202 && rs.location && (*loc = strdup(rs.location)))
		rc = 0;
	else if (rs.status == 202)
		rc = strata_fail(err, STRATA_ERR_CORRUPT, 0, "%s: an upload without a Location",
		                 c->registry);
	else
		rc = blob_error(c, "uploading", digest, &rs, err);
	store_reg_response_free(&rs);
	return rc;
}

/* Progress of one part: @off, where it starts in the blob, plus what is
 * sent of it. */
struct part_progress {
	const struct push_progress *p;
	const struct push_blob *b;
	uint64_t off;
};

static void part_sent(void *ctx, uint64_t bytes)
{
	struct part_progress *pp = ctx;

	if (bytes)
		pp->p->fn(pp->p->ctx, pp->p->index, pp->b->digest, pp->off + bytes, pp->b->size);
}

/* Sends @len bytes as PATCH (a chunk at @off) or as the final PUT
 * ?digest= (@digest set); *@loc follows the registry's next Location. */
static int send_part(struct reg_client *c, const char *scope, char **loc, const char *digest,
                     const void *buf, size_t len, uint64_t off, struct part_progress *pp,
                     struct strata_error *err)
{
	struct reg_request rq = {.scope = scope, .body = buf, .body_len = len};
	struct reg_response rs;
	char *url = NULL, range[64];
	int rc = 0;

	if (digest) {
		rq.method = "PUT";
		if (asprintf(&url, "%s%cdigest=%s", *loc, strchr(*loc, '?') ? '&' : '?', digest) <
		    0)
			return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	} else {
		rq.method = "PATCH";
		snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)off,
		         (unsigned long long)(off + len - 1));
		rq.content_range = range;
	}
	rq.path = url ? url : *loc;
	if (pp && pp->p->fn && len) {
		pp->off = off;
		rq.sent = part_sent;
		rq.sent_ctx = pp;
	}
	if (store_reg_request(c, &rq, &rs, err)) {
		free(url);
		return -1;
	}
	if (rs.status != (digest ? 201 : 202))
		rc = blob_error(c, "uploading", digest ? digest : "", &rs, err);
	else if (!digest && rs.location) {
		free(*loc);
		*loc = rs.location;
		rs.location = NULL;
	}
	store_reg_response_free(&rs);
	free(url);
	return rc;
}

static int read_at(int fd, void *buf, size_t len, uint64_t off, struct strata_error *err)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));

		if (r <= 0)
			return strata_fail(err, STRATA_ERR_SYS, r < 0 ? errno : EIO,
			                   "reading a blob: %s", r < 0 ? strerror(errno) : "short");
		got += (size_t)r;
	}
	return 0;
}

/* The blob in @fd (@size bytes) into the upload at *@loc. */
static int upload(struct reg_client *c, const char *scope, char **loc, int fd,
                  const struct push_blob *b, const struct push_progress *p,
                  struct strata_error *err)
{
	size_t chunk = b->size < PUSH_CHUNK ? (size_t)b->size : PUSH_CHUNK;
	char *buf = malloc(chunk ? chunk : 1);
	struct part_progress pp = {.p = p, .b = b};
	uint64_t off = 0;
	int rc = 0;

	if (!buf)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	if (b->size <= PUSH_CHUNK) { /* monolithic: the PUT carries it all */
		rc = read_at(fd, buf, chunk, 0, err) ||
		     send_part(c, scope, loc, b->digest, buf, chunk, 0, &pp, err);
		off = b->size;
	}
	while (rc == 0 && off < b->size) {
		size_t len = b->size - off < chunk ? (size_t)(b->size - off) : chunk;

		rc = read_at(fd, buf, len, off, err) ||
		     send_part(c, scope, loc, NULL, buf, len, off, &pp, err);
		off += len;
	}
	if (rc == 0 && b->size > PUSH_CHUNK)
		rc = send_part(c, scope, loc, b->digest, NULL, 0, 0, NULL, err);
	free(buf);
	return rc ? -1 : 0;
}

static char *mount_query(struct reg_client *c, const char *digest, const char *from)
{
	char *e = NULL, *q = NULL;

	if (from && (e = sym_curl_easy_escape(c->easy, from, 0)) &&
	    asprintf(&q, "?mount=%s&from=%s", digest, e) < 0)
		q = NULL;
	sym_curl_free(e);
	return q;
}

int store_push_blob(struct reg_client *c, struct store *s, const char *repo, const char *from,
                    const struct push_blob *b, const struct push_progress *p,
                    enum push_blob_result *how, struct strata_error *err)
{
	char scope[1024], mount_scope[2048], *loc = NULL, *query;
	uint64_t size = 0;
	int fd, rc;

	snprintf(scope, sizeof(scope), "repository:%s:push,pull", repo);
	if ((rc = blob_present(c, repo, scope, b->digest, err)) != 0) {
		*how = PUSH_BLOB_PRESENT;
		return rc < 0 ? -1 : 0;
	}
	query = mount_query(c, b->digest, from);
	/* A token for a mount must grant pull on the repository mounted from. */
	if (query)
		snprintf(mount_scope, sizeof(mount_scope), "%s repository:%s:pull", scope, from);
	rc = start_upload(c, repo, query ? mount_scope : scope, query ? query : "", b->digest, &loc,
	                  err);
	/* Refused (no pull there for these credentials): a plain upload. */
	if (rc < 0 && query && err->sys_errno == EACCES)
		rc = start_upload(c, repo, scope, "", b->digest, &loc, err);
	free(query);
	if (rc) {
		*how = PUSH_BLOB_MOUNTED;
		return rc < 0 ? -1 : 0;
	}
	*how = PUSH_BLOB_UPLOADED;
	fd = b->fd >= 0 ? dup(b->fd) : store_blob_open(s, b->digest, &size, err);
	if (b->fd >= 0 && fd < 0)
		strata_fail(err, STRATA_ERR_SYS, errno, "blob %.19s: %s", b->digest,
		            strerror(errno));
	size = b->fd >= 0 ? b->size : size;
	if (fd >= 0 && size != b->size)
		rc = strata_fail(err, STRATA_ERR_CORRUPT, 0, "blob %s: %llu bytes, not %llu",
		                 b->digest, (unsigned long long)size, (unsigned long long)b->size);
	else
		rc = fd < 0 ? -1 : upload(c, scope, &loc, fd, b, p, err);
	if (fd >= 0)
		close(fd);
	free(loc);
	return rc;
}
