/* SPDX-License-Identifier: MIT */
/*
 * libstrata-store: container images kept content-addressed, as an OCI image
 * layout (docs/store.md).
 *
 * This is the library's only public header.  What it promises:
 *
 *  - The store directory is a valid OCI image layout at all times: blobs are
 *    hashed while they are written to an unnamed temp file and only linked
 *    under blobs/sha256/<hex> once complete and fsync'd; index.json is
 *    replaced atomically under a lock.  A crash or kill leaves no partial
 *    blob and no dangling tag, only garbage for store_gc().
 *  - Every digest read from outside (archives, layout dirs, manifests) is
 *    checked against the bytes before anything refers to it.
 *  - strata's own data (layer indexes, decompressed copies, mount records,
 *    containers) lives in <root>/strata/; all of it but containers' upper
 *    directories (strata/containers/NAME/upper) can be rebuilt from blobs.
 *
 * Errors: -1 and a struct strata_error (util/strata-error.h), one line
 * "<what>: <why>"; a library function never prints and never exits.
 */
#ifndef STRATA_STORE_H
#define STRATA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "strata-fs.h"

#define STORE_DIGEST_MAX (7 + 64 + 1) /* "sha256:" + hex + NUL */

struct store;

/* The store used when none is given: $STRATA_ROOT, /var/lib/strata for root,
 * else $XDG_DATA_HOME/strata or ~/.local/share/strata.  malloc'd. */
char *store_default_root(void);

/* Opens the store at @root, creating an empty layout when @create and the
 * directory holds none. */
int store_open(const char *root, bool create, struct store **out, struct strata_error *err);
void store_close(struct store *s);
/* From now on, manifests and configs are read without hashing them again:
 * for run and mount, whose start time OpenSSL's first digest (0.5-1 ms of
 * provider set-up) was a measurable part of.  A blob is hashed as it comes
 * in and fsck hashes it again; the layer indexes a mount serves its files
 * from are not rehashed at each use either. */
void store_trust_blobs(struct store *s);
const char *store_root(const struct store *s);
/* Where layer indexes and decompressed copies live (<root>/strata/layers). */
const char *store_layer_cache(const struct store *s);

struct store_layer {
	char digest[STORE_DIGEST_MAX];  /* of the blob as stored */
	char diff_id[STORE_DIGEST_MAX]; /* of the uncompressed tar */
	char *media_type;
	uint64_t size;
};

struct store_image {
	char digest[STORE_DIGEST_MAX]; /* the manifest's */
	char config_digest[STORE_DIGEST_MAX];
	uint64_t manifest_size;
	uint64_t config_size;
	char *manifest_media_type;
	char *config_json; /* the config blob, NUL-terminated */
	char *created;     /* config "created", or NULL */
	char *os, *architecture, *variant;
	size_t n_layers;
	struct store_layer *layers;
};

void store_image_free(struct store_image *img);

/* Finds an image by tag ("debian:12"; ":latest" implied; a "docker.io/library/"
 * prefix ignored on either side), by manifest digest ("sha256:<hex>"), or by
 * a unique prefix of at least 4 hex digits of the manifest digest. */
int store_resolve(struct store *s, const char *ref, struct store_image **out,
                  struct strata_error *err);

/* One entry of index.json. */
struct store_entry {
	char *name; /* the ref.name annotation, or NULL */
	char digest[STORE_DIGEST_MAX];
};

int store_list(struct store *s, struct store_entry **out, size_t *n, struct strata_error *err);
void store_entries_free(struct store_entry *e, size_t n);

/* Tags the image @ref resolves to as @name (replacing what @name tagged). */
int store_tag(struct store *s, const char *ref, const char *name, struct strata_error *err);
/* Removes the tag @ref, or every entry of the image when @ref is a digest.
 * The blobs stay until store_gc(). */
int store_untag(struct store *s, const char *ref, struct strata_error *err);
/* store_untag, but an image that loses its last name stays as an unnamed
 * entry (found by its digest), as images of containers must. */
int store_untag_keep_image(struct store *s, const char *ref, struct strata_error *err);
/* Checks a tag is one we can store: a reference name as the OCI spec
 * allows it for ref.name, at most 255 bytes. */
bool store_valid_tag(const char *name);

/* ---- import (import.c) ---- */

typedef void (*store_progress_fn)(void *ctx, uint64_t done, uint64_t total);

struct store_import_options {
	const char *tag;      /* tags the image (only when one image is imported) */
	const char *ref;      /* OCI layout/archive: only the image with this ref.name */
	const char *platform; /* "os/arch[/variant]" for multi-platform images */
	store_progress_fn progress;
	void *progress_ctx;
	strata_warn_fn warn;
	void *warn_ctx;
	/* The most bytes a layer may decompress to, and a member of a
	 * compressed image archive; past it the import fails and leaves
	 * nothing.  0: no limit. */
	uint64_t max_layer_size;
};

struct store_imported {
	char digest[STORE_DIGEST_MAX];
	char *name; /* tag given to it, or NULL */
};

/* Imports @path: a docker-archive, an oci-archive, an OCI layout directory or
 * a bare layer tar (any compression), told apart by content.  Every image is
 * imported; *out lists them (free with store_imported_free). */
int store_import(struct store *s, const char *path, const struct store_import_options *opts,
                 struct store_imported **out, size_t *n_out, struct strata_error *err);
void store_imported_free(struct store_imported *v, size_t n);

/* ---- images from a registry (pull.c) ---- */

/* A layer's download moved: @layer of the image (its blob @digest), @done
 * of @total bytes.  From the pulling thread, at every block received. */
typedef void (*store_pull_progress_fn)(void *ctx, size_t layer, const char *digest, uint64_t done,
                                       uint64_t total);

struct store_pull_options {
	const char *platform; /* "os/arch[/variant]"; NULL: this machine's */
	bool tls_verify_off;  /* --tls-verify=false: HTTP, or TLS unverified */
	unsigned parallel;    /* blobs at once; 0: 4 */
	/* A layer that decompresses to more is refused (0: no limit); the
	 * command sets import's default. */
	uint64_t max_layer_size;
	store_pull_progress_fn progress;
	void *progress_ctx;
	strata_warn_fn warn; /* what layers skip, and sources that failed */
	void *warn_ctx;
	/* Layers its index artifact describes are fetched as reads need them
	 * (docs/index-artifact.md); without it, lazy layers in the store are
	 * completed. */
	bool lazy;
	/* When the image's index artifact describes a layer, its index is
	 * adopted and the layer verified later (store_verify_adopted): the
	 * caller starts that in the background (strata: `fsck --adopted` at
	 * idle priority), or leaves it to the next fsck.  NOW: every layer
	 * indexed as it downloads and its diff-id checked before the name. */
	enum store_pull_verify {
		STORE_VERIFY_BACKGROUND,
		STORE_VERIFY_NOW,
		STORE_VERIFY_DEFERRED,
	} verify;
};

struct store_pulled {
	char digest[STORE_DIGEST_MAX]; /* the image manifest's */
	char *name;                    /* fully qualified: "docker.io/library/debian:12" */
	size_t n_layers, n_fetched;    /* layers, and of them those downloaded */
	size_t n_lazy;                 /* layers left to fetch as they are read */
	size_t n_completed;            /* lazy layers this pull made whole */
	size_t n_adopted;              /* layers whose artifact index was adopted */
};

/* Pulls @ref ("debian:12", "localhost:5000/app@sha256:...") from the
 * registry it names, or from those registries.conf lists for unqualified
 * names (mirrors first), into the store: every blob verified and every
 * layer indexed before the image gets its name.  Works beside imports,
 * runs and gc as an import does. */
int store_pull(struct store *s, const char *ref, const struct store_pull_options *o,
               struct store_pulled *out, struct strata_error *err);
void store_pulled_free(struct store_pulled *p);

/* ---- adopted indexes, verified (verify.c) ---- */

struct store_verify_options {
	/* Each layer that could not be checked or whose index was replaced,
	 * and with @warn_failed each that failed. */
	strata_warn_fn warn;
	void *warn_ctx;
	bool warn_failed;
};

struct store_verify_result {
	size_t verified;  /* layers found as their config says */
	size_t replaced;  /* of them, those whose adopted index was not right */
	size_t failed;    /* layers whose diff-id is not their config's: unusable */
	size_t undecided; /* layers that could not be checked (left for later) */
};

/* Verifies every layer whose index a pull adopted from the registry's
 * index artifact instead of building it (strata/lazy/<hex>.unverified):
 * indexed again from its blob, its diff-id checked, the adopted index
 * compared and replaced when it differs.  A layer whose diff-id differs is
 * marked failed, and opening it fails from then on.  Layers another
 * verifier holds are skipped.  0, or -1 when some could not be checked. */
int store_verify_adopted(struct store *s, const struct store_verify_options *o,
                         struct store_verify_result *res, struct strata_error *err);
/* Whether a layer's blob failed that verification (why into @why). */
bool store_adopted_failed(struct store *s, const char *digest, char *why, size_t size);

/* ---- credentials for registries (registry_login.c) ---- */

struct store_login_options {
	bool tls_verify_off;  /* --tls-verify=false: HTTP, or TLS unverified */
	const char *authfile; /* NULL: podman's (store_auth_file_path) */
};

/* The auth file login writes: @authfile, else $REGISTRY_AUTH_FILE, else
 * $XDG_RUNTIME_DIR/containers/auth.json, else /run/containers/UID/auth.json.
 * malloc'd. */
char *store_auth_file_path(const char *authfile);
/* Checks @user and @password against @registry (GET /v2/, Basic or a
 * bearer token), then writes them to the auth file: atomically, 0600,
 * other entries kept.  A refusal writes nothing. */
int store_login(const char *registry, const char *user, const char *password,
                const struct store_login_options *o, struct strata_error *err);
/* Removes @registry's entry from the auth file (every entry when @all). */
int store_logout(const char *registry, bool all, const char *authfile, struct strata_error *err);

/* ---- images to a registry (push.c) ---- */

enum store_push_format { STORE_PUSH_AS_STORED, STORE_PUSH_OCI, STORE_PUSH_DOCKER };

struct store_push_options {
	bool tls_verify_off; /* --tls-verify=false: HTTP, or TLS unverified */
	/* The manifest's media types; converting refuses what it would lose. */
	enum store_push_format format;
	/* A repository of the same registry to mount blobs from; NULL: those
	 * the image's names in the store say it came from. */
	const char *from_repo;
	store_pull_progress_fn progress; /* per blob, as the pull's */
	void *progress_ctx;
	/* No index artifact (docs/index-artifact.md) after the image. */
	bool no_index;
	/* Told why the index artifact could not be pushed (the image was). */
	void (*warn)(void *ctx, const char *msg);
	void *warn_ctx;
};

struct store_pushed {
	char digest[STORE_DIGEST_MAX];       /* the manifest as pushed */
	char index_digest[STORE_DIGEST_MAX]; /* its index artifact, or "" */
	size_t n_indexed;                    /* layers the artifact describes */
	size_t n_blobs, n_present, n_mounted, n_uploaded;
	uint64_t bytes_uploaded;
};

/* Pushes image @src of the store to @dest ("localhost:5000/app:1"): the
 * blobs the registry lacks, byte for byte as stored (mounted from another
 * repository of the registry when it has them), then the manifest. */
int store_push(struct store *s, const char *src, const char *dest,
               const struct store_push_options *o, struct store_pushed *out,
               struct strata_error *err);

/* ---- index artifacts of images in a registry (index_remote.c) ---- */

struct store_index_push_options {
	const char *platform; /* of a multi-platform image; NULL: this machine's */
	bool tls_verify_off;
	uint64_t max_layer_size;
	store_pull_progress_fn progress; /* of the pull that reads the layers */
	void *progress_ctx;
};

/* Attaches the index artifact (docs/index-artifact.md) to image @ref of a
 * registry, in its repository: the image pulled into @s first (each layer
 * read once, indexed as it comes).  @out: the manifest's digest, the
 * artifact's and how many layers it describes. */
int store_index_push(struct store *s, const char *ref, const struct store_index_push_options *o,
                     struct store_pushed *out, struct strata_error *err);

/* ---- layers of an image, ready to mount (layers.c) ---- */

/* Opens every layer of @img, lowest first, indexing it when needed (keyed by
 * diff-id).  @opts' cache_dir and cache_key are set by the store. */
int store_open_layers(struct store *s, const struct store_image *img,
                      const struct strata_layer_options *opts, struct strata_layer ***out,
                      struct strata_error *err);

/* Records that this process serves a mount of @img, so store_gc() keeps its
 * blobs while the process lives.  The record is a locked file that goes
 * with the process (the lock is inherited across fork). */
int store_pin(struct store *s, const struct store_image *img, struct strata_error *err);
/* Removes this process's record when the mount ends (gc would, later). */
void store_unpin(void);

/* Whether @layer is read in place (strata_layer_index_seekable), from its
 * cached index: 1 or 0, or -1 when it is not indexed yet. */
int store_layer_seekable(struct store *s, const struct store_layer *layer);

/* The one layer of @img whose digest or diff-id is @layer, ready to read. */
int store_open_layer(struct store *s, const struct store_layer *layer,
                     const struct strata_layer_options *opts, struct strata_layer **out,
                     struct strata_error *err);

/* ---- new layers and images (commit.c) ---- */

enum store_compression { STORE_COMPRESS_GZIP, STORE_COMPRESS_ZSTD, STORE_COMPRESS_NONE };

struct store_layer_writer;

/* A new layer blob: feed it the uncompressed tar; finish hashes both forms
 * (digest and diff-id), links the blob and fills @out (free out->media_type).
 * Deterministic: the same tar gives the same blob. */
int store_layer_begin(struct store *s, enum store_compression comp, struct store_layer_writer **out,
                      struct strata_error *err);
int store_layer_write(struct store_layer_writer *w, const void *buf, size_t len,
                      struct strata_error *err);
int store_layer_finish(struct store_layer_writer *w, struct store_layer *out,
                       struct strata_error *err);
void store_layer_abort(struct store_layer_writer *w);

struct store_commit_options {
	const char *tag;     /* NULL: untagged */
	const char *message; /* history comment */
	const char *author;
	const char *created_by; /* history created_by; NULL: the container's command */
	char *const *changes;   /* --change: Dockerfile instructions (store_commit_change) */
	size_t n_changes;
	long long created; /* seconds since the epoch; -1: now */
	bool force;        /* move @tag from another image */
};

/* @base plus @layer on top: a new config (diff-id and history appended), a
 * manifest, and the tag. */
int store_commit_image(struct store *s, const struct store_image *base,
                       const struct store_layer *layer, const struct store_commit_options *o,
                       char digest[STORE_DIGEST_MAX], struct strata_error *err);

/* ---- export (export.c) ---- */

enum store_export_format { STORE_EXPORT_OCI, STORE_EXPORT_DOCKER };

/* Writes @ref as an archive to @path ("-": stdout): an oci-archive or a
 * docker-archive that `podman load`, `docker load` and skopeo read. */
int store_export(struct store *s, const char *ref, enum store_export_format fmt, const char *path,
                 struct strata_error *err);

/* ---- maintenance (gc.c, fsck.c) ---- */

struct store_gc_result {
	uint64_t blobs, blob_bytes;   /* blobs removed */
	uint64_t caches, cache_bytes; /* indexes and copies removed */
	uint64_t temps, temp_bytes;   /* leftovers of interrupted imports */
};

/* Removes what no tag, untagged image or live mount refers to.  Waits for
 * imports in flight to finish first. */
int store_gc(struct store *s, struct store_gc_result *res, struct strata_error *err);
/* store_gc, keeping also the images whose manifest digests @keep lists
 * (the containers' images: strata gc passes them). */
int store_gc_keeping(struct store *s, const char *const *keep, size_t n_keep,
                     struct store_gc_result *res, struct strata_error *err);

/* Rehashes every blob and checks every reference and layer index.  Each
 * problem is one line to @report ("<what>: <why>").  Returns the number of
 * problems, or -1 when the check itself could not run. */
long store_fsck(struct store *s, FILE *report, struct strata_error *err);

/* ---- containers (container.c, container_remove.c) ----
 *
 * <root>/strata/containers/<name>/ holds upper/ (the writable layer),
 * state.json and a lock file that the launcher holds for as long as the
 * container runs: a container is running exactly when its lock is held.
 * Every container mounts its root at <root>/strata/rootfs, in a mount
 * namespace of its own. */

/* <root>/strata/containers/@name into @out.  -1 (errno EINVAL) when @name
 * is no container name (a '/' in it, or a leading '.'), ENAMETOOLONG when
 * it does not fit. */
int store_container_path(const struct store *s, const char *name, char *out, size_t size);
/* Makes the directory of container @name (and those above it); *@fresh
 * tells whether it is new.  The directory, malloc'd, or NULL. */
char *store_container_create(struct store *s, const char *name, bool *fresh,
                             struct strata_error *err);
/* Takes the lock of the container in @dir (fails, EBUSY, when it runs) and
 * records what it runs, and the members of the JSON object @extra_json
 * (NULL: none) the launcher adds (rm, detached, stop_signal...).  Returns
 * the lock fd, to keep open while it runs. */
int store_container_begin(const char *dir, const char *name, const char *image, const char *digest,
                          char *const *argv, const char *extra_json, struct strata_error *err);
/* Records the exit status in state.json, and whether the OOM killer
 * killed in the container's cgroups (its groups, gone now, are dropped
 * from the record). */
void store_container_end(const char *dir, int status, bool oom_killed);
/* Sets @key of the container's state.json in @dir to the JSON text
 * @value_json (a string's quotes included).  0, or -1. */
int store_container_note(const char *dir, const char *key, const char *value_json);
/* A record that says "running" of a container found dead (its launcher
 * or supervisor killed, so nobody recorded its end) becomes "exited" with
 * @reason and the time found, under the caller's lock of it.  Whether it
 * was so marked now. */
bool store_container_mark_dead(const char *dir, const char *reason);
/* Records the cgroup directories of the running container in @dir
 * (NULL-terminated; NULL: none, and the record goes), for whoever finds
 * it dead to remove. */
void store_container_set_cgroups(const char *dir, char *const *cgroups);
/* Those recorded: NULL-terminated, malloc'd (each string too), or NULL. */
char **store_container_cgroups(const char *dir);
/* The image digest the container in @dir was made from, or NULL. malloc'd. */
char *store_container_image_digest(const char *dir);
bool store_container_running(const char *dir);
/* Takes the container's lock so it cannot start: the fd, or -1 (errno
 * EBUSY when it runs). */
int store_container_lock(const char *dir, struct strata_error *err);

struct store_container {
	char *name;
	char *image;   /* as given to run, or NULL */
	char *digest;  /* its image's manifest digest; NULL: no record */
	char *created; /* "YYYY-MM-DDTHH:MM:SSZ", or NULL */
	bool running;
	bool has_exit_code; /* exited on its own: exit_code is its status */
	int exit_code;
	bool oom_killed;  /* the OOM killer killed in its cgroups */
	char *state_json; /* the whole record, "{}" when there is none */
};

/* Records the id maps of @pid's user namespace, which the container runs
 * in, beside its upper: diff and commit map owners on disk back with them. */
void store_container_save_id_maps(const char *dir, pid_t pid);
/* Adds @lines (paths, one a line) to what the init made in the upper to
 * mount over; each path is recorded once. */
void store_container_add_mount_points(const char *dir, const char *lines);

/* Every container of the store, in directory order.  0, or -1 when the
 * containers directory exists but cannot be read. */
int store_container_list(struct store *s, struct store_container **out, size_t *n,
                         struct strata_error *err);
void store_containers_free(struct store_container *v, size_t n);

/* How to remove what the caller cannot: a container run with subordinate
 * ids leaves files owned by them.  The launcher passes a function that
 * removes @path from inside a user namespace with the same map.  0 or -1. */
typedef int (*store_remove_fn)(const char *path);
/* rm -rf @path; as the caller first, then through @fallback (may be NULL)
 * when that was refused.  0, or -1 with errno. */
int store_remove_tree(const char *path, store_remove_fn fallback);
/* Removes the stopped container @name: "not a container name", "no such
 * container", "still running" (its lock is held) or why rm -rf failed. */
int store_container_remove(struct store *s, const char *name, store_remove_fn fallback,
                           struct strata_error *err);
/* <root>/strata/mount-points.N: the mount points of a container's root
 * (proc, sys, dev, etc/hosts...) as a tree, made once per store; run puts
 * it below the image (strata_union_set_base).  malloc'd, or NULL. */
char *store_container_mount_points(struct store *s, struct strata_error *err);

/* store_gc_keeping() with the containers' images kept: a container, even
 * stopped, needs its image (its upper only makes sense on it). */
int store_gc_containers(struct store *s, struct store_gc_result *res, struct strata_error *err);
/* store_untag(@ref), unless that takes the last name of an image containers
 * were made from: then -1 ("the image of container...") unless @force,
 * which keeps the image as an unnamed entry they run on by digest. */
int store_untag_unused(struct store *s, const char *ref, bool force, struct strata_error *err);

/* ---- what a SOURCE names (source.c) ---- */

enum store_source_kind {
	STORE_SOURCE_IMAGE = 1,
	STORE_SOURCE_LAYER = 2,
	STORE_SOURCE_CONTAINER = 4,
	STORE_SOURCE_ANY = 7,
};

/* An image, one layer, or a container (its image's layers with its upper
 * directory on top), opened as a stack of layers without mounting. */
struct store_source {
	enum store_source_kind kind;
	const char *ref;              /* as the user gave it */
	struct store_image *img;      /* an image's, a layer's or a container's image */
	struct strata_layer **layers; /* lowest first */
	size_t n_layers;
	char *container_dir; /* containers */
	size_t layer_index;  /* STORE_SOURCE_LAYER: its position in img */
};

/* Opens @ref as any of the kinds in @allowed: a container name first, then
 * an image reference, then a layer digest or diff-id (or a prefix of one of
 * at least 4 hex digits; the first match wins).  @warn (may be NULL) hears
 * what the layers skip. */
int store_source_open(struct store *s, const char *ref, unsigned allowed, strata_warn_fn warn,
                      struct store_source *out, struct strata_error *err);
void store_source_close(struct store_source *src);

/* ---- a container's changes as a layer (commit_layer.c) ---- */

struct store_layer_options {
	enum store_compression compression;
	bool reproducible; /* times clamped to @epoch */
	long long epoch;
	strata_warn_fn warn; /* what is left out (sockets); may be NULL */
	void *warn_ctx;
};

/* The upper (top layer) of container @src as an OCI layer tar, in one pass:
 * whiteouts as .wh. files, opaque directories with their marker, a renamed
 * lower directory written whole, hard links as tar hard links, xattrs as
 * PAX records, sparse files as sparse entries, in sorted order. */
int store_commit_layer(struct store *s, const struct store_source *src,
                       const struct store_layer_options *o, struct store_layer *out,
                       struct strata_error *err);
/* strata commit: locks the stopped container @name, writes its layer and
 * commits @co on its image.  The new manifest's digest in @digest. */
int store_commit_container(struct store *s, const char *name, const struct store_layer_options *lo,
                           const struct store_commit_options *co, char digest[STORE_DIGEST_MAX],
                           struct strata_error *err);

/* ---- what changed between two sources (diff.c) ---- */

enum {
	STORE_CHANGE_TYPE = 1,
	STORE_CHANGE_CONTENT = 2,
	STORE_CHANGE_MODE = 4,
	STORE_CHANGE_OWNER = 8,
	STORE_CHANGE_XATTRS = 16,
	STORE_CHANGE_LINK = 32,
	STORE_CHANGE_DEVICE = 64,
	STORE_CHANGE_CHILDREN = 128, /* a directory with changes below */
};
#define STORE_CHANGE_BITS 8

struct store_change {
	char kind;     /* 'A' added, 'C' changed, 'D' deleted */
	unsigned what; /* 'C': STORE_CHANGE_* bits */
	char *path;    /* "etc/passwd" */
};

/* The name of change bit @i ("type", "content", ... "contents"). */
const char *store_change_name(unsigned i);
/* What changed from @from to @to, as docker diff lists it: parents before
 * children, a directory with changes below marked C.  @from NULL: @to is a
 * container, compared with its own image.  Files are compared by content
 * where the layers do not settle it. */
int store_diff(const struct store_source *from, const struct store_source *to,
               struct store_change **out, size_t *n, struct strata_error *err);
void store_changes_free(struct store_change *v, size_t n);

/* ---- what each layer does (layer_stats.c) ---- */

struct store_layer_stats {
	uint64_t files, added, changed, deleted; /* entries */
	uint64_t bytes;                          /* of file data it brings */
	uint64_t wasted;                         /* of it, what later layers overwrite or delete */
	const char *compression;                 /* "none", "gzip", "zstd", ... */
	bool seekable; /* read in place, no decompressed copy (strata_layer_info) */
};

/* A file a later layer overwrites or deletes. */
struct store_wasted {
	char *path;
	uint64_t size;
	size_t layer, by; /* where it is, and the layer that hides it */
	bool deleted;     /* by a whiteout, rather than overwritten */
};

/* Fills @stats[i] for every layer of @src, and *@wasted with the files
 * wasted, biggest first (free with store_wasted_free). */
int store_layer_stats(const struct store_source *src, struct store_layer_stats *stats,
                      struct store_wasted **wasted, size_t *n_wasted, struct strata_error *err);
void store_wasted_free(struct store_wasted *v, size_t n);

#endif
