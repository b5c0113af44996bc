/* SPDX-License-Identifier: MIT */
/*
 * strata run's mounts, parsed: -v's binds (one home for a bind:
 * run_bind_add), --mount type=bind|tmpfs, --tmpfs and --device.  They land
 * in the spec's one list, in the order given; the init mounts them
 * (run_init.c), each target resolved inside the container's root.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cgroup.h"
#include "cli.h"
#include "run.h"

/* podman's defaults for a tmpfs: rw,noexec,nosuid,nodev. */
#define TMPFS_DEFAULT_FLAGS (MS_NOEXEC | MS_NOSUID | MS_NODEV)

static struct run_bind *new_mount(struct run_spec *spec)
{
	struct run_bind *v = realloc(spec->binds, (spec->n_binds + 1) * sizeof(*v));

	if (!v)
		return NULL;
	spec->binds = v;
	memset(&v[spec->n_binds], 0, sizeof(*v));
	return &v[spec->n_binds];
}

int run_bind_add(struct run_spec *spec, const char *what, const char *src, const char *dst, bool ro,
                 unsigned long propagation)
{
	struct run_bind *b = new_mount(spec);

	if (!b)
		return cli_usage_error("run", "out of memory");
	if (dst[0] != '/')
		return cli_usage_error("run", "%s %s: the destination must be absolute", what, dst);
	if (!(b->src = realpath(src, NULL))) {
		cli_error("run: %s %s: %s", what, src, strerror(errno));
		return 1;
	}
	b->dst = strdup(dst);
	b->ro = ro;
	b->kind = RUN_MOUNT_BIND;
	b->flags = propagation;
	spec->n_binds++;
	return 0;
}

void run_binds_free(struct run_spec *spec)
{
	for (size_t i = 0; i < spec->n_binds; i++) {
		free(spec->binds[i].src);
		free(spec->binds[i].dst);
		free(spec->binds[i].data);
	}
	free(spec->binds);
	spec->binds = NULL;
	spec->n_binds = 0;
}

/* A tmpfs at @dst with @flags and @size (0: the kernel's default) and
 * @mode (-1: 1777, the kernel's). */
static int tmpfs_add(struct run_spec *spec, const char *what, const char *dst, unsigned long flags,
                     uint64_t size, long mode)
{
	struct run_bind *b;
	char data[64] = "";

	if (dst[0] != '/')
		return cli_usage_error("run", "%s %s: the destination must be absolute", what, dst);
	if (size)
		snprintf(data, sizeof(data), "size=%llu", (unsigned long long)size);
	if (mode >= 0)
		snprintf(data + strlen(data), sizeof(data) - strlen(data), "%smode=%lo",
		         *data ? "," : "", (unsigned long)mode);
	if (!(b = new_mount(spec)) || !(b->dst = strdup(dst)) || !(b->data = strdup(data)))
		return cli_usage_error("run", "out of memory");
	b->kind = RUN_MOUNT_TMPFS;
	b->flags = flags;
	b->ro = flags & MS_RDONLY;
	spec->n_binds++;
	return 0;
}

/* An octal mode of at most 07777: -1 when @s is none. */
static long parse_mode(const char *s)
{
	char *end;
	long m;

	if (!*s || strspn(s, "01234567") != strlen(s))
		return -1;
	m = strtol(s, &end, 8);
	return m > 07777 ? -1 : m;
}

/* One of --tmpfs's flag words into @flags: whether it is one. */
static bool tmpfs_flag(const char *word, unsigned long *flags)
{
	static const struct {
		const char *on, *off;
		unsigned long flag;
	} words[] = {{"noexec", "exec", MS_NOEXEC},
	             {"nosuid", "suid", MS_NOSUID},
	             {"nodev", "dev", MS_NODEV},
	             {"ro", "rw", MS_RDONLY}};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcmp(word, words[i].on) == 0)
			*flags |= words[i].flag;
		else if (strcmp(word, words[i].off) == 0)
			*flags &= ~words[i].flag;
		else
			continue;
		return true;
	}
	return false;
}

/* --tmpfs PATH[:OPTS]: OPTS comma-separated, podman's mount words. */
static int tmpfs_option(struct run_spec *spec, const char *arg)
{
	char *copy = strdup(arg), *opts, *word, *save = NULL;
	unsigned long flags = TMPFS_DEFAULT_FLAGS;
	uint64_t size = 0;
	long mode = -1;
	int rc = 0;

	if (!copy)
		return cli_usage_error("run", "out of memory");
	if ((opts = strchr(copy, ':')))
		*opts++ = '\0';
	for (word = opts ? strtok_r(opts, ",", &save) : NULL; word && !rc;
	     word = strtok_r(NULL, ",", &save)) {
		if (strncmp(word, "size=", 5) == 0 && (size = cli_parse_bytes(word + 5)))
			continue;
		if (strncmp(word, "mode=", 5) == 0 && (mode = parse_mode(word + 5)) >= 0)
			continue;
		if (!tmpfs_flag(word, &flags))
			rc = cli_usage_error("run",
			                     "--tmpfs %s: '%s': expected size=SIZE, mode=OCTAL, "
			                     "[no]exec, [no]suid, [no]dev, ro or rw",
			                     arg, word);
	}
	if (!rc)
		rc = tmpfs_add(spec, "--tmpfs", copy, flags, size, mode);
	free(copy);
	return rc;
}

/* --mount's fields, as docker spells them. */
struct mount_fields {
	const char *type, *src, *dst, *prop, *size, *mode;
	bool ro;
};

/* bind-propagation=: within the container's mount namespace (the init
 * makes every mount private first: nothing propagates back to the host). */
static int propagation(const char *s, unsigned long *out)
{
	static const struct {
		const char *name;
		unsigned long flags;
	} v[] = {{"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
	         {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
	         {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
	         {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC}};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (strcmp(s, v[i].name) == 0) {
			*out = v[i].flags;
			return 0;
		}
	return -1;
}

/* readonly, ro, readonly=true|false|1|0. */
static int read_only_field(const char *value, bool *ro)
{
	if (!value || strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
		*ro = true;
	else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
		*ro = false;
	else
		return -1;
	return 0;
}

/* One KEY[=VALUE] of --mount into @f: 0, or -1 when it is none. */
static int mount_field(struct mount_fields *f, char *field)
{
	char *value = strchr(field, '=');

	if (value)
		*value++ = '\0';
	if (strcmp(field, "readonly") == 0 || strcmp(field, "ro") == 0)
		return read_only_field(value, &f->ro);
	if (!value)
		return -1;
	if (strcmp(field, "type") == 0)
		f->type = value;
	else if (strcmp(field, "source") == 0 || strcmp(field, "src") == 0)
		f->src = value;
	else if (strcmp(field, "destination") == 0 || strcmp(field, "dst") == 0 ||
	         strcmp(field, "target") == 0)
		f->dst = value;
	else if (strcmp(field, "bind-propagation") == 0)
		f->prop = value;
	else if (strcmp(field, "tmpfs-size") == 0)
		f->size = value;
	else if (strcmp(field, "tmpfs-mode") == 0)
		f->mode = value;
	else
		return -1;
	return 0;
}

static int mount_tmpfs(struct run_spec *spec, const char *arg, const struct mount_fields *f)
{
	uint64_t size = f->size ? cli_parse_bytes(f->size) : 0;
	long mode = f->mode ? parse_mode(f->mode) : -1;

	if (f->src || f->prop)
		return cli_usage_error("run", "--mount %s: a tmpfs has no source or propagation",
		                       arg);
	if ((f->size && !size) || (f->mode && mode < 0))
		return cli_usage_error("run",
		                       "--mount %s: tmpfs-size=SIZE (e.g. 64m), "
		                       "tmpfs-mode=OCTAL (e.g. 1777)",
		                       arg);
	return tmpfs_add(spec, "--mount", f->dst, TMPFS_DEFAULT_FLAGS | (f->ro ? MS_RDONLY : 0),
	                 size, mode);
}

static int mount_bind(struct run_spec *spec, const char *arg, const struct mount_fields *f)
{
	unsigned long prop = 0;

	if (!f->src)
		return cli_usage_error("run", "--mount %s: a bind needs source=HOST_PATH", arg);
	if (f->size || f->mode)
		return cli_usage_error("run",
		                       "--mount %s: tmpfs-size and tmpfs-mode are a "
		                       "tmpfs's",
		                       arg);
	if (f->prop && propagation(f->prop, &prop) < 0)
		return cli_usage_error("run",
		                       "--mount %s: bind-propagation=%s: [r]private, "
		                       "[r]shared, [r]slave or [r]unbindable",
		                       arg, f->prop);
	return run_bind_add(spec, "--mount", f->src, f->dst, f->ro, prop);
}

/* The mount --mount's fields @f ask for. */
static int mount_kind(struct run_spec *spec, const char *arg, const struct mount_fields *f)
{
	if (!f->dst)
		return cli_usage_error("run", "--mount %s: no destination=PATH", arg);
	if (!f->type)
		return cli_usage_error("run", "--mount %s: no type=bind|tmpfs", arg);
	if (strcmp(f->type, "bind") == 0)
		return mount_bind(spec, arg, f);
	if (strcmp(f->type, "tmpfs") == 0)
		return mount_tmpfs(spec, arg, f);
	return cli_usage_error("run",
	                       "--mount %s: type=%s: only bind and tmpfs are supported (no "
	                       "named volumes)",
	                       arg, f->type);
}

/* --mount type=bind|tmpfs,KEY=VALUE,... */
static int mount_option(struct run_spec *spec, const char *arg)
{
	struct mount_fields f = {0};
	char *copy = strdup(arg), *field, *save = NULL;
	int rc = 0;

	if (!copy)
		return cli_usage_error("run", "out of memory");
	for (field = strtok_r(copy, ",", &save); field && !rc; field = strtok_r(NULL, ",", &save))
		if (mount_field(&f, field) < 0)
			rc = cli_usage_error("run", "--mount %s: unknown field '%s'", arg, field);
	if (!rc)
		rc = mount_kind(spec, arg, &f);
	free(copy);
	return rc;
}

/* Whether @s is a --device permission string: r, w and m, each once. */
static bool device_perms(const char *s)
{
	return *s && strlen(s) <= 3 && strspn(s, "rwm") == strlen(s) &&
	       (!strchr(s, 'r') || strchr(s, 'r') == strrchr(s, 'r')) &&
	       (!strchr(s, 'w') || strchr(s, 'w') == strrchr(s, 'w')) &&
	       (!strchr(s, 'm') || strchr(s, 'm') == strrchr(s, 'm'));
}

/* The host's device node @path must be one the user may open as asked:
 * a bind gives the container no more than that.  0, or 1 after saying
 * why. */
static int device_check(const char *arg, const char *path, const char *perms)
{
	int mode = (strchr(perms, 'r') ? R_OK : 0) | (strchr(perms, 'w') ? W_OK : 0);
	struct stat st;

	if (stat(path, &st) < 0) {
		cli_error("run: --device %s: %s", arg, strerror(errno));
		return 1;
	}
	if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) {
		cli_error("run: --device %s: %s is no device node (use -v for files)", arg, path);
		return 1;
	}
	if (mode && access(path, mode) < 0) {
		cli_error("run: --device %s: %s (you may not open %s for '%s': ask its owner, "
		          "or join its group)",
		          arg, strerror(errno), path, perms);
		return 1;
	}
	return 0;
}

/* --device HOST[:CONTAINER][:PERMS]. */
static int device_option(struct run_spec *spec, const char *arg)
{
	char *copy = strdup(arg), *dst, *perms = NULL;
	struct run_bind *b;
	int rc;

	if (!copy)
		return cli_usage_error("run", "out of memory");
	if ((dst = strchr(copy, ':')))
		*dst++ = '\0';
	if (dst && (perms = strchr(dst, ':')))
		*perms++ = '\0';
	else if (dst && device_perms(dst))
		perms = dst, dst = NULL;
	if (!perms)
		perms = "rwm";
	if (copy[0] != '/' || (dst && dst[0] != '/') || !device_perms(perms)) {
		free(copy);
		return cli_usage_error("run", "--device %s: expected /HOST[:/CONTAINER][:rwm]",
		                       arg);
	}
	/* Not a read-only bind for a missing w: that does not stop writes to
	 * a device (run_devices_limits() does what can be done). */
	rc = device_check(arg, copy, perms)
	         ? 1
	         : run_bind_add(spec, "--device", copy, dst ?: copy, false, 0);
	if (!rc) {
		b = &spec->binds[spec->n_binds - 1];
		b->kind = RUN_MOUNT_DEVICE;
		if (!(b->data = strdup(perms)))
			rc = cli_usage_error("run", "out of memory");
	}
	free(copy);
	return rc;
}

int run_mount_option(struct run_spec *spec, const char *opt, const char *arg)
{
	if (strcmp(opt, "tmpfs") == 0)
		return tmpfs_option(spec, arg);
	if (strcmp(opt, "mount") == 0)
		return mount_option(spec, arg);
	return device_option(spec, arg);
}

/* The access of @b->data's perms that the mode of the node would allow
 * us but the user left out: "r", "w", "rw" or "". */
static void device_denied(const struct run_bind *b, char *out)
{
	*out = '\0';
	if (!strchr(b->data, 'r') && access(b->src, R_OK) == 0)
		strcat(out, "r");
	if (!strchr(b->data, 'w') && access(b->src, W_OK) == 0)
		strcat(out, "w");
}

int run_devices_limits(const struct run_spec *spec, struct run_limits *lim)
{
	enum cg_layout layout = cg_layout();

	for (size_t i = 0; i < spec->n_binds; i++) {
		const struct run_bind *b = &spec->binds[i];
		size_t len = strlen(lim->devices_deny);
		char deny[4];
		struct stat st;

		if (b->kind != RUN_MOUNT_DEVICE || stat(b->src, &st) < 0)
			continue;
		device_denied(b, deny);
		if (!*deny)
			continue;
		if (layout == CG_V2 || layout == CG_NONE || geteuid() != 0 || lim->disabled) {
			cli_error(
			    "run: --device %s:%s: only a devices cgroup can keep the container "
			    "from %s it here (cgroup v1, as root; %s): give rw",
			    b->src, b->data, strcmp(deny, "r") ? "writing" : "reading",
			    lim->disabled       ? "not with --cgroups disabled"
			    : layout == CG_V2   ? "v2 needs a BPF program strata does not load"
			    : layout == CG_NONE ? "no cgroup file system here"
			                        : "not delegated to an unprivileged user");
			return 1;
		}
		snprintf(lim->devices_deny + len, sizeof(lim->devices_deny) - len, "%c %u:%u %s\n",
		         S_ISBLK(st.st_mode) ? 'b' : 'c', major(st.st_rdev), minor(st.st_rdev),
		         deny);
		lim->asked = true;
	}
	return 0;
}
