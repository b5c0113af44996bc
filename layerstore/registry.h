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

#endif
