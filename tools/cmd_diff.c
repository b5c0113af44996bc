/* SPDX-License-Identifier: MIT */
/*
 * strata diff: what changed between two trees (images, layers, containers),
 * as docker diff prints it: A added, C changed, D deleted, parents before
 * children, a changed directory's parents marked C too.  Files are compared
 * by content where size and mtime do not settle it, by SHA-256 computed
 * once per file.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "crypto_dl.h"
#include "source.h"

enum change {
	CH_TYPE = 1,
	CH_CONTENT = 2,
	CH_MODE = 4,
	CH_OWNER = 8,
	CH_XATTRS = 16,
	CH_LINK = 32,
	CH_DEVICE = 64,
	CH_CHILDREN = 128, /* a directory with changes below */
};

static const char *const change_names[] = {"type",   "content", "mode",   "owner",
                                           "xattrs", "link",    "device", "contents"};

struct diff {
	struct source *a, *b;
	bool verbose;
	json_t *json;
	long count;
	const char *skip;
	/* Content digests already computed: (layer, node) → sha256. */
	struct digest_cache {
		const struct strata_layer *l;
		uint64_t node;
		unsigned char md[32];
		struct digest_cache *next;
	} * cache[4096];
};

struct list {
	struct strata_entry *v;
	char **paths;
	size_t n, cap;
};

static int collect(void *ctx, const struct strata_entry *e)
{
	struct list *l = ctx;

	if (l->cap == (size_t)-1) { /* the first entry is the directory itself */
		l->cap = 0;
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 32;
		struct strata_entry *v = realloc(l->v, cap * sizeof(*v));
		char **p = v ? realloc(l->paths, cap * sizeof(*p)) : NULL;

		if (v)
			l->v = v;
		if (!p)
			return -ENOMEM;
		l->paths = p;
		l->cap = cap;
	}
	l->v[l->n] = *e;
	l->paths[l->n] = strdup(e->path);
	l->v[l->n].path = l->paths[l->n];
	l->n++;
	return 0;
}

static int list_dir(const struct source *s, const char *path, struct list *out)
{
	memset(out, 0, sizeof(*out));
	out->cap = (size_t)-1;
	return strata_stack_walk(s->layers, s->n_layers, path, false, collect, out);
}

static void list_free(struct list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->paths[i]);
	free(l->paths);
	free(l->v);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static int content_digest(struct diff *d, const struct strata_entry *e, unsigned char md[32])
{
	static char buf[1 << 17];
	size_t h = (((uintptr_t)e->src >> 4) ^ (e->node * 0x9e3779b97f4a7c15ULL)) % 4096;
	struct digest_cache *c;
	EVP_MD_CTX *sha;
	uint64_t off = 0;
	int rc = 0;

	for (c = d->cache[h]; c; c = c->next)
		if (c->l == e->src && c->node == e->node) {
			memcpy(md, c->md, 32);
			return 0;
		}
	sha = sym_EVP_MD_CTX_new();
	if (!sha || !sym_EVP_DigestInit_ex(sha, sym_EVP_sha256(), NULL))
		rc = -1;
	while (rc == 0 && off < (uint64_t)e->st.st_size) {
		ssize_t n = strata_entry_pread(e, buf, sizeof(buf), off);

		if (n <= 0 || !sym_EVP_DigestUpdate(sha, buf, (size_t)n))
			rc = -1;
		off += n > 0 ? (uint64_t)n : 0;
	}
	if (rc == 0 && !sym_EVP_DigestFinal_ex(sha, md, NULL))
		rc = -1;
	sym_EVP_MD_CTX_free(sha);
	if (rc == 0 && (c = malloc(sizeof(*c)))) {
		*c = (struct digest_cache){e->src, e->node, {0}, d->cache[h]};
		memcpy(c->md, md, 32);
		d->cache[h] = c;
	}
	return rc;
}

static bool same_xattrs(const struct strata_entry *a, const struct strata_entry *b)
{
	const char *an, *bn;
	const void *av, *bv;
	size_t as, bs;
	uint32_t i = 0;

	for (;; i++) {
		bool ha = strata_entry_xattr(a, i, &an, &av, &as);
		bool hb = strata_entry_xattr(b, i, &bn, &bv, &bs);

		if (ha != hb)
			return false;
		if (!ha)
			return true;
		/* Layers keep xattrs in a stable order; different order reads
		 * as a change, which errs on the safe side. */
		if (strcmp(an, bn) || as != bs || memcmp(av, bv, as))
			return false;
	}
}

/* The diff-id of the layer an entry comes from; NULL for a container's
 * upper, which has none. */
static const char *entry_diff_id(const struct source *src, const struct strata_entry *e)
{
	size_t i = src->kind == SOURCE_LAYER ? src->layer_index : e->layer;

	if (src->kind == SOURCE_CONTAINER && e->layer >= src->img->n_layers)
		return NULL;
	return i < src->img->n_layers ? src->img->layers[i].diff_id : NULL;
}

static bool same_layer(const struct source *sa, const struct strata_entry *a,
                       const struct source *sb, const struct strata_entry *b)
{
	const char *da = entry_diff_id(sa, a), *db = entry_diff_id(sb, b);

	return da && db && strcmp(da, db) == 0;
}

static unsigned compare(struct diff *d, const struct strata_entry *a, const struct strata_entry *b)
{
	unsigned ch = 0;
	unsigned char ma[32], mb[32];

	if ((a->st.st_mode & S_IFMT) != (b->st.st_mode & S_IFMT))
		return CH_TYPE;
	if ((a->st.st_mode & 07777) != (b->st.st_mode & 07777))
		ch |= CH_MODE;
	if (a->st.st_uid != b->st.st_uid || a->st.st_gid != b->st.st_gid)
		ch |= CH_OWNER;
	if ((S_ISCHR(a->st.st_mode) || S_ISBLK(a->st.st_mode)) && a->st.st_rdev != b->st.st_rdev)
		ch |= CH_DEVICE;
	if (S_ISLNK(a->st.st_mode) &&
	    (a->link_len != b->link_len || memcmp(a->link, b->link, a->link_len)))
		ch |= CH_LINK;
	if (!same_xattrs(a, b))
		ch |= CH_XATTRS;
	if (!S_ISREG(a->st.st_mode) || (a->src == b->src && a->node == b->node))
		return ch;
	if (a->st.st_size != b->st.st_size)
		return ch | CH_CONTENT;
	/* The same entry of the same layer (by diff-id: the index numbers a
	 * layer's entries the same way every time) is the same content.  Same
	 * size and mtime settle nothing: a reproducible build gives every file
	 * one mtime.  Anything else is compared by digest. */
	if (a->node == b->node && same_layer(d->a, a, d->b, b))
		return ch;
	if (content_digest(d, a, ma) || content_digest(d, b, mb) || memcmp(ma, mb, 32))
		ch |= CH_CONTENT;
	return ch;
}

static void emit(struct diff *d, char kind, const char *path, unsigned ch)
{
	d->count++;
	if (d->json) {
		json_t *j = json_pack("{s:s+, s:s#}", "path", "/", path, "kind", &kind, 1);
		json_t *list = json_array();

		for (int i = 0; ch && i < 8; i++)
			if (ch & (1u << i))
				json_array_append_new(list, json_string(change_names[i]));
		if (kind == 'C')
			json_object_set_new(j, "changes", list);
		else
			json_decref(list);
		json_array_append_new(d->json, j);
		return;
	}
	printf("%c /%s", kind, path);
	if (d->verbose && ch) {
		const char *sep = " (";

		for (int i = 0; i < 8; i++)
			if (ch & (1u << i)) {
				printf("%s%s", sep, change_names[i]);
				sep = ", ";
			}
		putchar(')');
	}
	putchar('\n');
}

/* Everything below an added directory (the directory itself is printed). */
static int emit_added_below(void *ctx, const struct strata_entry *e)
{
	struct diff *d = ctx;

	if (strcmp(e->path, d->skip) != 0)
		emit(d, 'A', e->path, 0);
	return 0;
}

static int add_subtree(struct diff *d, const char *path)
{
	d->skip = path;
	return strata_stack_walk(d->b->layers, d->b->n_layers, path, true, emit_added_below, d);
}

static int diff_dir(struct diff *d, const char *path, bool *changed);

/* A directory's line comes before its children's, but whether it changed
 * is known only after them: their output is held, then appended. */
static int diff_subdir(struct diff *d, const struct strata_entry *a, unsigned ch, bool *changed)
{
	json_t *outer_json = d->json;
	FILE *outer = stdout, *mem = NULL;
	char *buf = NULL;
	size_t len = 0;
	bool below = false;
	int rc;

	if (outer_json)
		d->json = json_array();
	else if ((mem = open_memstream(&buf, &len)))
		stdout = mem;
	rc = diff_dir(d, a->path, &below);
	if (mem) {
		fclose(mem);
		stdout = outer;
	}
	if (below)
		ch |= CH_CHILDREN;
	if (outer_json) {
		json_t *children = d->json;

		d->json = outer_json;
		if (ch)
			emit(d, 'C', a->path, ch);
		json_array_extend(d->json, children);
		json_decref(children);
	} else {
		if (ch)
			emit(d, 'C', a->path, ch);
		if (buf)
			fwrite(buf, 1, len, stdout);
	}
	free(buf);
	*changed |= ch != 0;
	return rc;
}

static int diff_pair(struct diff *d, const struct strata_entry *a, const struct strata_entry *b,
                     bool *changed)
{
	unsigned ch = compare(d, a, b);

	if (S_ISDIR(a->st.st_mode) && !(ch & CH_TYPE))
		return diff_subdir(d, a, ch, changed);
	if (!ch)
		return 0;
	emit(d, 'C', a->path, ch);
	*changed = true;
	return (ch & CH_TYPE) && S_ISDIR(b->st.st_mode) ? add_subtree(d, b->path) : 0;
}

static int diff_dir(struct diff *d, const char *path, bool *changed)
{
	struct list la, lb;
	size_t i = 0, k = 0;
	int rc = list_dir(d->a, path, &la);

	if (rc < 0)
		return rc;
	rc = list_dir(d->b, path, &lb);
	if (rc < 0) {
		list_free(&la);
		return rc;
	}
	while (rc == 0 && (i < la.n || k < lb.n)) {
		int c = i == la.n   ? 1
		        : k == lb.n ? -1
		                    : strcmp(base_name(la.v[i].path), base_name(lb.v[k].path));

		if (c < 0) {
			emit(d, 'D', la.v[i++].path, 0);
			*changed = true;
		} else if (c > 0) {
			emit(d, 'A', lb.v[k].path, 0);
			if (S_ISDIR(lb.v[k].st.st_mode))
				rc = add_subtree(d, lb.v[k].path);
			k++;
			*changed = true;
		} else {
			rc = diff_pair(d, &la.v[i++], &lb.v[k++], changed);
		}
	}
	list_free(&la);
	list_free(&lb);
	return rc;
}

int cmd_diff(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: strata diff [-v] [--json] [--root DIR] FROM [TO]\n"
	    "\n"
	    "What changed from FROM to TO, each an image, a layer (digest or diff-id,\n"
	    "or a prefix) or a container: one line per path, A added, C changed,\n"
	    "D deleted, as docker diff prints them.  With only FROM, a container:\n"
	    "what it changed in its image.  -v says what changed (content, mode,\n"
	    "owner, xattrs, link, device, type); --json prints an array.\n";
	enum { OPT_ROOT = 256, OPT_JSON };
	static const struct option longopts[] = {
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct diff *d = calloc(1, sizeof(*d));
	struct strata_error err;
	struct source a, b;
	const char *root = NULL;
	struct store *s;
	bool json = false, changed = false;
	int c, rc;

	if (!d)
		return 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_ROOT:
			root = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case 'v':
			d->verbose = true;
			break;
		case 'h':
			fputs(usage, stdout);
			free(d);
			return 0;
		default:
			free(d);
			return cli_usage_error("diff", "unknown or incomplete option '%s'",
			                       argv[optind - 1]);
		}
	}
	if (argc - optind < 1 || argc - optind > 2) {
		free(d);
		return cli_usage_error("diff", "expected FROM [TO]");
	}
	/* Here a failure can be told; content_digest() could only count every
	 * file it hashes as changed. */
	if (crypto_dl_load(&err)) {
		free(d);
		return cli_fail(&err);
	}
	if (cli_open_store(root, false, &s)) {
		free(d);
		return 1;
	}
	rc = 1;
	if (argc - optind == 1) {
		/* A container against its own image. */
		if (source_open(s, argv[optind], SOURCE_CONTAINER, &b))
			goto out_store;
		a = b;
		a.kind = SOURCE_IMAGE;
		a.n_layers = b.n_layers - 1;
	} else {
		if (source_open(s, argv[optind], SOURCE_IMAGE | SOURCE_LAYER | SOURCE_CONTAINER,
		                &a))
			goto out_store;
		if (source_open(s, argv[optind + 1], SOURCE_IMAGE | SOURCE_LAYER | SOURCE_CONTAINER,
		                &b)) {
			source_close(&a);
			goto out_store;
		}
	}
	d->a = &a;
	d->b = &b;
	d->json = json ? json_array() : NULL;
	rc = diff_dir(d, "", &changed);
	if (rc < 0) {
		cli_error("diff: %s", strerror(-rc));
		rc = 1;
	} else {
		rc = 0;
	}
	if (d->json) {
		json_dumpf(d->json, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(d->json);
	}
	if (argc - optind == 1)
		a.layers = NULL, a.img = NULL, a.container_dir = NULL, a.n_layers = 0;
	source_close(&a);
	source_close(&b);
out_store:
	store_close(s);
	for (size_t i = 0; i < 4096; i++)
		while (d->cache[i]) {
			struct digest_cache *next = d->cache[i]->next;

			free(d->cache[i]);
			d->cache[i] = next;
		}
	free(d);
	return rc;
}
