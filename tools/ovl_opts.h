/* SPDX-License-Identifier: MIT */
/*
 * overlayfs' and fuse-overlayfs' mount options (`-o lowerdir=A:B,
 * upperdir=U,workdir=W,...`), parsed into what strata mount needs: the
 * lower layers, the upper, and the options libfuse is to see.  Pure text
 * work, no file system access: docs/strata-overlay-options.7 says what each
 * option does in strata.
 */
#ifndef STRATA_OVL_OPTS_H
#define STRATA_OVL_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ovl_upper_format {
	OVL_UPPER_DEFAULT, /* strata mount's: oci */
	OVL_UPPER_OCI,     /* .wh.NAME files, .wh..wh..opq: strata's own */
	OVL_UPPER_OVERLAY, /* 0/0 character devices, overlay opaque xattrs */
};

struct ovl_opts {
	char **lowers; /* lowerdir=, unescaped, TOP first as overlayfs lists them */
	size_t n_lowers;
	bool has_lowerdir; /* lowerdir= was given (even empty: an error later) */
	char *upperdir, *workdir;
	/* uidmapping=/gidmapping= as strata_dir_options wants them: "inside
	 * outside count" lines, inside being the id shown, outside the id on
	 * disk (fuse-overlayfs' DISK:SHOWN:LEN triples). */
	char *uid_map, *gid_map;
	int64_t squash_uid, squash_gid; /* -1: none (squash_to_uid= wins over */
	bool squash_to_root;            /* squash_to_root, which is 0:0) */
	int xattr_permissions;          /* 0, 1 (trusted.*), 2 (user.*) */
	bool is_volatile, noacl, ro;
	enum ovl_upper_format upper_format;
	bool nonempty;
	bool metacopy;    /* metacopy=on: strata mount's --metacopy */
	char *span_cache; /* span_cache=SIZE as given, or NULL */
	char *fuse;       /* the rest, for libfuse: mount flags, allow_other... */
};

/* Adds the comma-separated @text (backslash escapes `\,` and `\:` as
 * overlayfs writes them) to @o; several -o add up, a later one wins.
 * 0, or -1 with a one-line reason in @why (a usage error). */
int ovl_opts_parse(struct ovl_opts *o, const char *text, char *why, size_t whysize);
void ovl_opts_init(struct ovl_opts *o);
void ovl_opts_free(struct ovl_opts *o);

#endif
