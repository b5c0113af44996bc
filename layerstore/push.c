/* SPDX-License-Identifier: MIT */
/*
 * strata push: an image of the store to a registry.
 *
 * The destination is resolved as podman resolves it for a push: qualified
 * with docker.io when it names no registry, sent to its [[registry]]'s
 * location (never a mirror), insecure as registries.conf or --tls-verify
 * say.  Blobs go first, one at a time, each only when the registry lacks
 * it (push_blob.c), mounted from another repository of the same registry
 * when one is known to hold the image (--from-repo, or a name the image has
 * in the store, "registry/repo:tag" of a pull); the manifest goes last, so
 * that a push cut short names nothing.
 *
 * The manifest is sent as stored, so its digest stays the store's, unless
 * another format is asked for: then only media types change, and a
 * manifest with what the other format cannot say (zstd layers,
 * annotations) is refused rather than changed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_dl.h"
#include "curl_dl.h"
#include "index_artifact.h"
#include "lazy_blob.h"
#include "registry.h"

#define MT_DOCKER_LAYER     "application/vnd.docker.image.rootfs.diff.tar"
#define MT_DOCKER_FOREIGN   "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
#define MT_OCI_NONDIST_GZIP "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"

/* Media types with the same meaning in both formats: {oci, docker}. */
static const char *const same_type[][2] = {
    {MT_OCI_MANIFEST, MT_DOCKER_MANIFEST},     {MT_OCI_CONFIG, MT_DOCKER_CONFIG},
    {MT_OCI_LAYER_GZIP, MT_DOCKER_LAYER_GZIP}, {MT_OCI_LAYER, MT_DOCKER_LAYER},
    {MT_OCI_NONDIST_GZIP, MT_DOCKER_FOREIGN},
};

/* The media type @mt means in the other format (@to_docker), or NULL. */
static const char *converted_type(const char *mt, bool to_docker)
{
	for (size_t i = 0; mt && i < sizeof(same_type) / sizeof(same_type[0]); i++)
		if (strcmp(mt, same_type[i][0]) == 0 || strcmp(mt, same_type[i][1]) == 0)
			return same_type[i][to_docker];
	return NULL;
}

/* Whether @o holds only the keys of @allowed (a NULL-ended list). */
static const char *other_key(json_t *o, const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v)
	{
		size_t i = 0;

		(void)v;
		while (allowed[i] && strcmp(allowed[i], key) != 0)
			i++;
		if (!allowed[i])
			return key;
	}
	return NULL;
}

/* Changes the media type of descriptor @d; fails naming what cannot be. */
static int convert_descriptor(json_t *d, bool to_docker, struct strata_error *err)
{
	static const char *const keys[] = {"mediaType", "digest", "size", "urls", NULL};
	const char *mt = store_json_str(d, "mediaType"), *to = converted_type(mt, to_docker);
	const char *extra = other_key(d, keys);

	if (!to)
		return strata_fail(err, STRATA_ERR_UNSUPPORTED, 0,
		                   "blob %.19s: media type '%s' has no %s equivalent",
		                   store_json_str(d, "digest"), mt ? mt : "",
		                   to_docker ? "docker" : "OCI");
	if (to_docker && extra)
		return strata_fail(err, STRATA_ERR_UNSUPPORTED, 0,
		                   "blob %.19s: its '%s' has no docker equivalent",
		                   store_json_str(d, "digest"), extra);
	return json_object_set_new(d, "mediaType", json_string(to)) ? -1 : 0;
}

/* The manifest in the other format: media types changed, nothing else. */
static char *convert_manifest(json_t *m, bool to_docker, size_t *len, struct strata_error *err)
{
	static const char *const keys[] = {"schemaVersion", "mediaType", "config", "layers", NULL};
	const char *extra = other_key(m, keys);
	json_t *l;
	size_t i;
	char *text;

	if (to_docker && extra) {
		strata_fail(err, STRATA_ERR_UNSUPPORTED, 0,
		            "the manifest's '%s' has no docker equivalent: push it as OCI", extra);
		return NULL;
	}
	if (convert_descriptor(json_object_get(m, "config"), to_docker, err))
		return NULL;
	json_array_foreach(json_object_get(m, "layers"), i, l)
	{
		if (convert_descriptor(l, to_docker, err))
			return NULL;
	}
	json_object_set_new(m, "mediaType",
	                    json_string(to_docker ? MT_DOCKER_MANIFEST : MT_OCI_MANIFEST));
	text = json_dumps(m, JSON_COMPACT);
	if (!text)
		strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	*len = text ? strlen(text) : 0;
	return text;
}

/* The manifest to send: as stored, or converted to @o->format. */
static char *manifest_to_send(struct store *s, const struct store_image *img,
                              enum store_push_format format, size_t *len, const char **mt,
                              struct strata_error *err)
{
	bool docker = strcmp(img->manifest_media_type, MT_DOCKER_MANIFEST) == 0;
	char *text = store_blob_read_json(s, img->digest, img->manifest_size, len, err);
	json_t *m;

	*mt = img->manifest_media_type;
	if (!text || format == STORE_PUSH_AS_STORED || docker == (format == STORE_PUSH_DOCKER))
		return text;
	m = store_json_parse(text, *len, img->digest, err);
	free(text);
	text = m ? convert_manifest(m, format == STORE_PUSH_DOCKER, len, err) : NULL;
	json_decref(m);
	*mt = format == STORE_PUSH_DOCKER ? MT_DOCKER_MANIFEST : MT_OCI_MANIFEST;
	return text;
}

int store_reg_put_manifest(struct reg_client *c, const char *repo, const char *ref,
                           const char *body, size_t len, const char *mt, bool *has_referrers,
                           struct strata_error *err)
{
	struct reg_request rq = {
	    .method = "PUT", .body = body, .body_len = len, .content_type = mt};
	struct reg_response rs;
	char path[1024], scope[600], what[600];
	int rc = 0;

	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", repo, ref);
	snprintf(scope, sizeof(scope), "repository:%s:push,pull", repo);
	rq.path = path;
	rq.scope = scope;
	if (store_reg_request(c, &rq, &rs, err))
		return -1;
	if (rs.status != 201) {
		snprintf(what, sizeof(what), "manifest %s:%s", repo, ref);
		rc = store_reg_status_error(c, what, &rs, err);
	}
	if (has_referrers)
		*has_referrers = rs.oci_subject != NULL;
	store_reg_response_free(&rs);
	return rc;
}

/* A repository of @registry other than @repo that the store says holds the
 * image @digest: a name it was pulled under.  malloc'd, or NULL. */
static char *known_repository(struct store *s, const char *digest, const char *registry,
                              const char *repo)
{
	struct store_entry *e;
	char *found = NULL;
	size_t n;
	struct strata_error ignored;

	if (store_list(s, &e, &n, &ignored))
		return NULL;
	for (size_t i = 0; i < n && !found; i++) {
		struct store_reference r;

		if (!e[i].name || strcmp(e[i].digest, digest) != 0 ||
		    store_reference_parse(e[i].name, &r, &ignored))
			continue;
		if (r.registry && strcmp(r.registry, registry) == 0 &&
		    strcmp(r.repository, repo) != 0)
			found = strdup(r.repository);
		store_reference_free(&r);
	}
	store_entries_free(e, n);
	return found;
}

/* The blobs of @img: its layers (each once), then its config. */
static struct push_blob *image_blobs(const struct store_image *img, size_t *n)
{
	struct push_blob *v = calloc(img->n_layers + 1, sizeof(*v));

	*n = 0;
	for (size_t i = 0; v && i < img->n_layers; i++) {
		bool dup = false;

		for (size_t k = 0; k < *n; k++)
			dup |= strcmp(v[k].digest, img->layers[i].digest) == 0;
		if (dup)
			continue;
		snprintf(v[*n].digest, STORE_DIGEST_MAX, "%s", img->layers[i].digest);
		v[*n].fd = -1;
		v[(*n)++].size = img->layers[i].size;
	}
	if (v) {
		snprintf(v[*n].digest, STORE_DIGEST_MAX, "%s", img->config_digest);
		v[*n].fd = -1;
		v[(*n)++].size = img->config_size;
	}
	return v;
}

static int push_blobs(struct reg_client *c, struct store *s, const struct store_image *img,
                      const char *repo, const char *from, const struct store_push_options *o,
                      struct store_pushed *out, struct strata_error *err)
{
	size_t n;
	struct push_blob *v = image_blobs(img, &n);
	int rc = 0;

	if (!v)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct push_progress p = {.fn = o->progress, .ctx = o->progress_ctx, .index = i};
		enum push_blob_result how;

		rc = store_push_blob(c, s, repo, from, &v[i], &p, &how, err);
		if (rc == 0 && p.fn)
			p.fn(p.ctx, i, v[i].digest, v[i].size, v[i].size);
		out->n_present += rc == 0 && how == PUSH_BLOB_PRESENT;
		out->n_mounted += rc == 0 && how == PUSH_BLOB_MOUNTED;
		out->n_uploaded += rc == 0 && how == PUSH_BLOB_UPLOADED;
		if (rc == 0 && how == PUSH_BLOB_UPLOADED)
			out->bytes_uploaded += v[i].size;
	}
	out->n_blobs = n;
	free(v);
	return rc;
}

int store_push_target(const struct store_reference *q, struct store_pull_source *out,
                      struct strata_error *err)
{
	struct store_registries conf;
	struct store_pull_source *v;
	size_t n;
	int rc = -1;

	if (store_registries_load(&conf, err))
		return -1;
	if (store_registries_sources(&conf, q, &v, &n, err) == 0) {
		rc = n ? 0
		       : strata_fail(err, STRATA_ERR_OPTION, EINVAL, "%s: nowhere to push",
		                     q->registry);
		if (n) { /* the last is the place itself; mirrors come first */
			*out = v[n - 1];
			memset(&v[n - 1], 0, sizeof(v[n - 1]));
		}
		store_pull_sources_free(v, n);
	}
	store_registries_free(&conf);
	return rc;
}

/* The image's index artifact, after the image: a registry that refuses
 * it still has the image, which pulls whole; so a failure is a warning. */
static void push_index(struct reg_client *c, struct store *s, const struct store_image *img,
                       const char *repo, const char *from, const struct index_artifact_subject *sub,
                       const struct store_push_options *o, struct store_pushed *out)
{
	struct store_index_artifact a;
	struct strata_error err = {0};
	int rc = store_index_artifact_build(s, img, sub, &a, &err);

	if (rc == 0) {
		if (a.n_layers &&
		    (rc = store_index_artifact_push(c, repo, from, &a, sub, &err)) == 0) {
			snprintf(out->index_digest, sizeof(out->index_digest), "%s", a.digest);
			out->n_indexed = a.n_layers;
		}
		store_index_artifact_free(&a);
	}
	if (rc && o->warn) {
		char msg[sizeof(err.msg) + 64];

		snprintf(msg, sizeof(msg), "the layer index was not pushed (the image was): %s",
		         err.msg);
		o->warn(o->warn_ctx, msg);
	}
}

static int push_image(struct store *s, const struct store_image *img,
                      const struct store_reference *q, const struct store_push_options *o,
                      struct store_pushed *out, struct strata_error *err)
{
	struct store_pull_source t = {0};
	struct reg_client *c = NULL;
	char *manifest = NULL, *from = NULL;
	const char *mt;
	size_t len;
	int rc = -1;

	if (store_lazy_complete_image(s, img, err) || store_push_target(q, &t, err) ||
	    !(manifest = manifest_to_send(s, img, o->format, &len, &mt, err)) ||
	    store_reg_client_new(t.registry, t.insecure || o->tls_verify_off, 0, &c, err))
		goto out;
	from = o->from_repo ? strdup(o->from_repo)
	                    : known_repository(s, img->digest, t.registry, t.repository);
	if (store_digest_buffer(manifest, len, out->digest)) {
		strata_fail(err, STRATA_ERR_SYS, errno, "hashing the manifest: %s",
		            strerror(errno));
		goto out;
	}
	if (q->digest && strcmp(q->digest, out->digest) != 0) {
		strata_fail(err, STRATA_ERR_OPTION, EINVAL, "%s: the manifest pushed would be %s",
		            q->digest, out->digest);
		goto out;
	}
	if (push_blobs(c, s, img, t.repository, from, o, out, err) == 0)
		rc = store_reg_put_manifest(c, t.repository, q->tag ? q->tag : q->digest, manifest,
		                            len, mt, NULL, err);
	if (rc == 0 && !o->no_index) {
		struct index_artifact_subject sub = {
		    .media_type = mt, .digest = out->digest, .size = len};

		push_index(c, s, img, t.repository, from, &sub, o, out);
	}
out:
	free(t.registry);
	free(t.repository);
	free(manifest);
	free(from);
	store_reg_client_free(c);
	return rc;
}

int store_push(struct store *s, const char *src, const char *dest,
               const struct store_push_options *o, struct store_pushed *out,
               struct strata_error *err)
{
	struct store_reference r, q;
	struct store_image *img;
	int rc;

	memset(out, 0, sizeof(*out));
	if (dl_curl_load(err) || dl_crypto_load(err) || store_reference_parse(dest, &r, err))
		return -1;
	rc = store_reference_qualify(&r, r.registry ? r.registry : "docker.io", &q, err);
	store_reference_free(&r);
	if (rc)
		return -1;
	rc = store_resolve(s, src, &img, err);
	if (rc == 0) {
		rc = push_image(s, img, &q, o, out, err);
		store_image_free(img);
	}
	store_reference_free(&q);
	return rc;
}
