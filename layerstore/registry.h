/* SPDX-License-Identifier: MIT */
/*
 * The registry client's internals, shared by its modules: references and
 * registries.conf (reference.c, registries_conf.c), credentials
 * (registry_auth.c), requests over libcurl (registry_http.c), manifests
 * (registry_manifest.c) and the pull (pull.c, pull_blob.c).
 *
 * The split is what push and login will need too: a request names its
 * method and may carry a body; auth answers a 401 for any request, not only
 * for GETs; nothing here knows which command is asking.
 */
#ifndef STRATA_REGISTRY_H
#define STRATA_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* ---- references (reference.c) ---- */

/* "name[:tag][@digest]" as podman and docker write them. */
struct store_reference {
	char *registry;   /* "docker.io", "localhost:5000"; NULL when not written */
	char *repository; /* "library/debian" once qualified with docker.io */
	char *tag;        /* NULL when none was written */
	char *digest;     /* "sha256:<hex>", or NULL */
};

/* Parses @text.  A first component with a '.' or a ':', or "localhost",
 * names the registry; "index.docker.io" is "docker.io".  Fails with
 * STRATA_ERR_OPTION naming what is wrong. */
int store_reference_parse(const char *text, struct store_reference *out, struct strata_error *err);
/* @r with @registry where it names none; Docker Hub's one-component
 * names get "library/".  ":latest" when neither tag nor digest was given. */
int store_reference_qualify(const struct store_reference *r, const char *registry,
                            struct store_reference *out, struct strata_error *err);
/* "registry/repository[:tag][@digest]", malloc'd; NULL when out of memory. */
char *store_reference_string(const struct store_reference *r);
/* The name a pulled image gets in the store: fully qualified, the tag kept
 * ("registry/repo:tag"), or "registry/repo@digest" when only a digest was
 * given. */
char *store_reference_store_name(const struct store_reference *r);
void store_reference_free(struct store_reference *r);

/* ---- containers-registries.conf(5) (registries_conf.c) ---- */

struct store_registry_mirror {
	char *location;
	bool insecure;
};

/* One [[registry]] table. */
struct store_registry_entry {
	char *prefix;   /* what it applies to; its location when not set */
	char *location; /* where to go instead; NULL: the prefix itself */
	bool insecure, blocked, mirror_by_digest_only;
	struct store_registry_mirror *mirrors;
	size_t n_mirrors;
};

struct store_registries {
	char **search; /* unqualified-search-registries */
	size_t n_search;
	bool search_set; /* the key was there (an empty list means "none") */
	struct store_registry_entry *entries;
	size_t n_entries;
};

/* Parses the TOML of a registries.conf (version 2 format: top-level keys,
 * [[registry]] and [[registry.mirror]]; other tables ignored).  @what names
 * the file in messages. */
int store_registries_parse(const char *text, const char *what, struct store_registries *out,
                           struct strata_error *err);
/* Reads $CONTAINERS_REGISTRIES_CONF, else ~/.config/containers/
 * registries.conf, else /etc/containers/registries.conf, as podman does
 * (the user's file replaces the system's).  None: empty, no error. */
int store_registries_load(struct store_registries *out, struct strata_error *err);
void store_registries_free(struct store_registries *r);

/* One place to ask for an image: a registry host and a repository in it. */
struct store_pull_source {
	char *registry;
	char *repository;
	bool insecure; /* plain HTTP, or TLS unverified */
	bool mirror;
};

/* Where to pull the qualified reference @r from, in order: its mirrors
 * (not for a tag when mirror-by-digest-only), then the place itself.  A
 * blocked registry fails ("blocked in registries.conf"). */
int store_registries_sources(const struct store_registries *conf, const struct store_reference *r,
                             struct store_pull_source **out, size_t *n, struct strata_error *err);
void store_pull_sources_free(struct store_pull_source *v, size_t n);
/* The registries an unqualified name is tried in: the search list, or
 * docker.io when the files set none.  Static strings or @conf's. */
size_t store_registries_search(const struct store_registries *conf, const char *const **out);

/* ---- credentials (registry_auth.c) ---- */

struct store_credentials {
	char *username, *password; /* both NULL: anonymous */
};

/* The credentials podman would use for @repository (may be NULL) on
 * @registry: auth files and credential helpers in podman's order.  0 (none
 * found is anonymous, not an error), or -1 for a broken file or helper. */
int store_credentials_find(const char *registry, const char *repository,
                           struct store_credentials *out, struct strata_error *err);
void store_credentials_free(struct store_credentials *c);
/* "Basic <base64 of @plain>", malloc'd ("user:password" in @plain). */
char *store_reg_basic(const char *plain);

/* ---- requests (registry_http.c) ---- */

struct store_registry_options {
	bool tls_verify_off; /* --tls-verify=false: HTTP, or TLS unverified */
	long timeout;        /* seconds without progress before giving up; 0: default */
};

struct reg_token {
	char *scope, *value;
};

/* One registry, as one client talks to it: its address, how to reach it
 * (scheme, TLS trust, client certificate), who we are there, and the
 * tokens we were given, one per scope. */
struct reg_client {
	char *registry; /* "host[:port]", as in references */
	char *base;     /* "https://host:port" once known */
	bool insecure;  /* plain HTTP allowed, TLS not verified */
	long timeout;
	struct store_credentials cred;
	bool cred_loaded;
	/* What /v2/ answered: "Bearer realm=...", "Basic ...", or NULL. */
	char *challenge;
	struct reg_token *tokens;
	size_t n_tokens;
	/* certs.d: CAs (PEM, with the system's), a client certificate. */
	char *ca_pem;
	size_t ca_len;
	char *client_cert, *client_key;
	void *easy; /* CURL *, for requests one at a time */
};

/* A response's body as far as it was kept, and the headers that matter. */
struct reg_response {
	long status;
	char *body; /* NUL-terminated */
	size_t len;
	char *content_type, *digest, *location, *challenge;
	char *oci_subject;      /* a manifest PUT: the registry keeps its referrers */
	long retry_after;       /* seconds, or -1 */
	int64_t content_length; /* -1: not said */
};

struct reg_request {
	const char *method; /* "GET", "HEAD", "PUT", "POST", "PATCH" */
	const char *path;   /* under the registry ("/v2/..."), or an absolute URL */
	const char *scope;  /* the token scope it needs: "repository:NAME:pull" */
	const char *accept; /* an Accept header value, or NULL */
	size_t max_body;    /* a longer body fails the request */
	/* What a PUT, POST or PATCH sends (none: an empty body). */
	const void *body;
	size_t body_len;
	const char *content_type, *content_range;
	const char *range; /* a GET of part of a blob: "FIRST-LAST" (bytes) */
	/* Told the bytes of the body sent so far, as they go (or NULL). */
	void (*sent)(void *ctx, uint64_t bytes);
	void *sent_ctx;
};

/* A client of @registry; nothing is sent yet.  @insecure from
 * registries.conf or --tls-verify=false. */
int store_reg_client_new(const char *registry, bool insecure, long timeout, struct reg_client **out,
                         struct strata_error *err);
void store_reg_client_free(struct reg_client *c);
/* Sends @rq, answering the registry's auth challenges (anonymous or Basic
 * credentials, a bearer token for @rq->scope fetched, reused, and fetched
 * again when refused).  Any status comes back in @rs (free with
 * store_reg_response_free); -1 only when no answer came, with @err saying
 * why in one line that names the fix. */
int store_reg_request(struct reg_client *c, const struct reg_request *rq, struct reg_response *rs,
                      struct strata_error *err);
void store_reg_response_free(struct reg_response *rs);
/* The Authorization header value for @scope from what the client already
 * holds (a token, Basic credentials), or NULL: for transfers the caller
 * drives itself (the pull's parallel blobs).  malloc'd. */
char *store_reg_auth_header(struct reg_client *c, const char *scope);
/* Drops the token of @scope (refused) and gets a new one.  0 or -1. */
int store_reg_refresh_token(struct reg_client *c, const char *scope, struct strata_error *err);
/* Sets on the CURL handle @easy what every request to @c carries: TLS
 * trust and client certificate, timeouts, redirects, protocols. */
void store_reg_setup_handle(struct reg_client *c, void *easy);
/* ---- manifests and small blobs (registry_manifest.c) ---- */

struct reg_manifest {
	char *body;
	size_t len;
	char digest[STORE_DIGEST_MAX];
	char *media_type;
};

/* The image manifest @reference (a tag or "sha256:...") of @repo names,
 * an index resolved to @platform ("os/arch[/variant]"; NULL: this
 * machine's).  HEAD first: a manifest @s already holds is read from it.
 * Checked against the digest asked for or said; parsed into *@json. */
int store_reg_get_manifest(struct reg_client *c, struct store *s, const char *repo,
                           const char *reference, const char *platform, struct reg_manifest *out,
                           json_t **json, struct strata_error *err);
void store_reg_manifest_free(struct reg_manifest *m);
/* Blob @digest of @repo in memory (a config), checked against its digest
 * and @size; at most JSON_BLOB_MAX bytes.  malloc'd, NUL-terminated. */
char *store_reg_get_blob_small(struct reg_client *c, const char *repo, const char *digest,
                               uint64_t size, size_t *len, struct strata_error *err);
/* The same for a blob of any size the caller bounds (an index artifact's
 * index): @size bytes in memory. */
char *store_reg_get_blob_mem(struct reg_client *c, const char *repo, const char *digest,
                             uint64_t size, size_t *len, struct strata_error *err);

/* PUTs manifest @body (of media type @mt) as @ref (a tag or its digest)
 * of @repo; *@has_referrers (may be NULL) says whether the registry
 * answered with OCI-Subject, keeping the referrers of what @body names as
 * its subject (distribution spec 1.1).  push.c. */
int store_reg_put_manifest(struct reg_client *c, const char *repo, const char *ref,
                           const char *body, size_t len, const char *mt, bool *has_referrers,
                           struct strata_error *err);

/* ---- layer blobs (pull_blob.c) ---- */

struct pull_layer {
	char digest[STORE_DIGEST_MAX];
	char diff_id[STORE_DIGEST_MAX];
	uint64_t size;
	/* The index the image's artifact gives (portable form), to adopt
	 * instead of indexing the blob as it comes; NULL: none. */
	char *index;
	size_t index_len;
	bool adopted; /* set by store_pull_layers: verified later (verify.c) */
};

/* Downloads @n layer blobs of @repo in parallel, each hashed and indexed as
 * it comes (or, with an artifact's index, hashed only and the index
 * adopted), resumed and retried within bounds; when every one checks out
 * (digest, size, diff-id where it was computed), links them all into the
 * store.  The caller holds the import lock and skips blobs the store has. */
int store_pull_layers(struct reg_client *c, struct store *s, const char *repo,
                      struct pull_layer *layers, size_t n, const struct store_pull_options *o,
                      struct strata_error *err);

/* Where a push to @q goes: its [[registry]]'s location (never a mirror),
 * insecure as registries.conf says.  push.c. */
int store_push_target(const struct store_reference *q, struct store_pull_source *out,
                      struct strata_error *err);

/* ---- lazy layers (pull_lazy.c) ---- */

/* Of the @n layers the store lacks, those the image's index artifact
 * describes are made lazy (index adopted, chunk table kept, nothing of the
 * blob fetched); @layers keeps the others, *@n of them, to pull whole.  An
 * image without an artifact leaves them all.  0 or -1. */
int store_pull_lazy_layers(struct reg_client *c, struct store *s,
                           const struct store_pull_source *src, const char *image,
                           struct pull_layer *layers, size_t *n, bool insecure,
                           struct strata_error *err);
/* For a whole pull: the artifact's index of each of the @n layers it
 * describes, into layers[i].index (the blobs are still downloaded and
 * checked; only indexing them waits, verify.c).  Anything missing or
 * failing leaves a layer to be indexed as it downloads: never an error. */
void store_pull_artifact_indexes(struct reg_client *c, struct store *s,
                                 const struct store_pull_source *src, const char *image,
                                 struct pull_layer *layers, size_t n,
                                 const struct store_pull_options *o);

/* ---- blobs of a push (push_blob.c) ---- */

/* Blobs up to this size go in one PUT; larger ones in PATCH chunks of it. */
#define PUSH_CHUNK ((size_t)16 << 20)

struct push_blob {
	char digest[STORE_DIGEST_MAX];
	uint64_t size;
	int fd; /* where its bytes are; -1: the store's blob */
};

struct push_progress {
	store_pull_progress_fn fn;
	void *ctx;
	size_t index;
};

enum push_blob_result { PUSH_BLOB_PRESENT, PUSH_BLOB_MOUNTED, PUSH_BLOB_UPLOADED };

/* Blob @b of the store into @repo, unless the registry has it there; a
 * mount from @from (another repository, or NULL) tried first. */
int store_push_blob(struct reg_client *c, struct store *s, const char *repo, const char *from,
                    const struct push_blob *b, const struct push_progress *p,
                    enum push_blob_result *how, struct strata_error *err);

/* certs.d (registry_tls.c): the CAs (*.crt, with the system's) and client
 * certificate (*.cert, *.key) of $STRATA_CERTS_D/HOST[:PORT]/, else of
 * /etc/containers/certs.d, /etc/docker/certs.d and
 * ~/.config/containers/certs.d, as podman reads them.  0 or -1. */
int store_reg_tls_load(struct reg_client *c, struct strata_error *err);
/* Puts what store_reg_tls_load found on a CURL handle. */
void store_reg_tls_setup(struct reg_client *c, void *easy);
/* A one-line error for a response that is not a success: @what names the
 * thing asked for ("manifest app:1"), the status picks the fix named. */
int store_reg_status_error(struct reg_client *c, const char *what, const struct reg_response *rs,
                           struct strata_error *err);
/* A one-line error for a transfer libcurl gave up on (@code a CURLcode,
 * @detail its error buffer). */
int store_reg_curl_error(struct reg_client *c, int code, const char *detail,
                         struct strata_error *err);

#endif
