/* SPDX-License-Identifier: MIT */
/*
 * A seccomp profile in docker's JSON format (--security-opt seccomp=FILE),
 * read into the struct sc_profile that docker's default one also is
 * (run_seccomp.h).  The subset: defaultAction, defaultErrnoRet, architectures
 * or archMap, and syscalls[] with names (or name), action, errnoRet, args
 * (index, value, valueTwo, op), includes and excludes (caps, arches,
 * minKernel), comment.  Anything else is refused by name rather than
 * ignored: a profile that silently meant less than it says would be worse
 * than none.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "run.h"
#include "run_seccomp.h"

struct reader {
	char *why;
	size_t size;
};

static int __attribute__((format(printf, 2, 3))) bad(struct reader *rd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rd->why, rd->size, fmt, ap);
	va_end(ap);
	return -1;
}

/* Every key of @obj is one of @known (NULL-terminated). */
static int check_keys(struct reader *rd, json_t *obj, const char *where, const char *const *known)
{
	const char *key;
	json_t *v;

	if (!json_is_object(obj))
		return bad(rd, "%s: not a JSON object", where);
	json_object_foreach(obj, key, v)
	{
		size_t i = 0;

		while (known[i] && strcmp(known[i], key))
			i++;
		if (!known[i])
			return bad(rd, "%s: \"%s\" is not supported", where, key);
	}
	return 0;
}

/* A JSON array of strings (or one string, for "name"), NULL-terminated and
 * malloc'ed, each string passed through @map when given. */
static const char **strings(struct reader *rd, json_t *arr, const char *where, void (*map)(char *))
{
	size_t n = json_is_array(arr) ? json_array_size(arr) : 1, i;
	const char **v = calloc(n + 1, sizeof(*v));
	json_t *s;

	if (!v || (!json_is_array(arr) && !json_is_string(arr))) {
		free(v);
		bad(rd, "%s: expected a list of strings", where);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		s = json_is_array(arr) ? json_array_get(arr, i) : arr;
		if (!json_is_string(s) || !(v[i] = strdup(json_string_value(s)))) {
			for (size_t j = 0; j < i; j++)
				free((char *)v[j]);
			free(v);
			bad(rd, "%s: expected a list of strings", where);
			return NULL;
		}
		if (map)
			map((char *)v[i]);
	}
	return v;
}

static void free_strings(const char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free((char *)v[i]);
	free(v);
}

/* @name (ALLOW, KILL, ...; ERRNO takes @e) → libseccomp's action, or -1. */
static int64_t action(const char *name, int e)
{
	static const struct {
		const char *name;
		uint32_t action;
	} map[] = {{"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW},
	           {"SCMP_ACT_KILL", SCMP_ACT_KILL},
	           {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD},
	           {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS},
	           {"SCMP_ACT_TRAP", SCMP_ACT_TRAP},
	           {"SCMP_ACT_LOG", SCMP_ACT_LOG}};

	if (name && strcmp(name, "SCMP_ACT_ERRNO") == 0)
		return SCMP_ACT_ERRNO((uint32_t)e);
	for (size_t i = 0; name && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(name, map[i].name) == 0)
			return map[i].action;
	return -1;
}

/* podman's profiles name the errno too ("errno": "ENOSYS"), beside the
 * number; the names its profiles use, for a profile with the name only. */
static int errno_by_name(const char *name)
{
	static const struct {
		const char *name;
		int e;
	} map[] = {{"EPERM", EPERM},     {"ENOENT", ENOENT},        {"EACCES", EACCES},
	           {"EINVAL", EINVAL},   {"ENOSYS", ENOSYS},        {"EAFNOSUPPORT", EAFNOSUPPORT},
	           {"ENOTSUP", ENOTSUP}, {"EOPNOTSUPP", EOPNOTSUPP}};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(name, map[i].name) == 0)
			return map[i].e;
	return -1;
}

/* The errno of an ERRNO action: @number_key ("errnoRet"), else the name
 * under @name_key ("errno"), else EPERM.  -1 after saying why. */
static int read_errno(struct reader *rd, json_t *obj, const char *number_key, const char *name_key,
                      const char *where)
{
	json_t *n = json_object_get(obj, number_key), *s = json_object_get(obj, name_key);
	int e = EPERM;

	if (s && !json_is_string(s))
		return bad(rd, "%s: %s: not a string", where, name_key);
	if (n && (!json_is_integer(n) || json_integer_value(n) < 1 || json_integer_value(n) > 4095))
		return bad(rd, "%s: %s: not an errno (1-4095)", where, number_key);
	if (n)
		e = (int)json_integer_value(n);
	else if (s && (e = errno_by_name(json_string_value(s))) < 0)
		return bad(rd, "%s: %s \"%s\": unknown; give %s", where, name_key,
		           json_string_value(s), number_key);
	return e;
}

static int read_action(struct reader *rd, json_t *obj, const char *const keys[3], const char *where,
                       uint32_t *out)
{
	const char *name = json_string_value(json_object_get(obj, keys[0]));
	int e = read_errno(rd, obj, keys[1], keys[2], where);
	int64_t a = e < 0 ? -1 : action(name, e);

	if (e < 0)
		return -1;
	if (a < 0)
		return bad(rd,
		           "%s: %s \"%s\": not supported (SCMP_ACT_ALLOW, ERRNO, KILL, "
		           "KILL_THREAD, KILL_PROCESS, TRAP, LOG)",
		           where, keys[0], name ? name : "");
	*out = (uint32_t)a;
	return 0;
}

static int read_op(struct reader *rd, json_t *op, const char *where, enum scmp_compare *out)
{
	static const char *const ops[] = {[SCMP_CMP_NE] = "SCMP_CMP_NE",
	                                  [SCMP_CMP_LT] = "SCMP_CMP_LT",
	                                  [SCMP_CMP_LE] = "SCMP_CMP_LE",
	                                  [SCMP_CMP_EQ] = "SCMP_CMP_EQ",
	                                  [SCMP_CMP_GE] = "SCMP_CMP_GE",
	                                  [SCMP_CMP_GT] = "SCMP_CMP_GT",
	                                  [SCMP_CMP_MASKED_EQ] = "SCMP_CMP_MASKED_EQ"};
	const char *name = json_string_value(op);

	for (size_t i = 0; name && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (ops[i] && strcmp(name, ops[i]) == 0) {
			*out = (enum scmp_compare)i;
			return 0;
		}
	return bad(rd, "%s: op \"%s\": not a SCMP_CMP_ operator", where, name ? name : "");
}

static int read_args(struct reader *rd, json_t *arr, const char *where, struct sc_rule *r)
{
	static const char *const keys[] = {"index", "value", "valueTwo", "op", NULL};
	struct sc_arg *args;
	size_t i;
	json_t *a;

	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > 6)
		return bad(rd, "%s: args: expected a list of at most 6", where);
	if (!(args = calloc(json_array_size(arr) + 1, sizeof(*args))))
		return bad(rd, "%s", strerror(ENOMEM));
	r->args = args;
	json_array_foreach(arr, i, a)
	{
		json_t *idx = json_object_get(a, "index");

		if (check_keys(rd, a, where, keys) ||
		    read_op(rd, json_object_get(a, "op"), where, &args[i].op))
			return -1;
		if (!json_is_integer(idx) || json_integer_value(idx) < 0 ||
		    json_integer_value(idx) > 5 || !json_is_integer(json_object_get(a, "value")))
			return bad(rd, "%s: args: index 0-5 and a numeric value needed", where);
		args[i].index = (unsigned)json_integer_value(idx);
		args[i].value = (uint64_t)json_integer_value(json_object_get(a, "value"));
		args[i].value_two = (uint64_t)json_integer_value(json_object_get(a, "valueTwo"));
		r->n_args++;
	}
	return 0;
}

static int read_cond(struct reader *rd, json_t *obj, const char *where, struct sc_cond *c)
{
	static const char *const keys[] = {"caps", "arches", "minKernel", NULL};
	json_t *caps = json_object_get(obj, "caps"), *arches = json_object_get(obj, "arches"), *v;
	const char *kernel = json_string_value(json_object_get(obj, "minKernel"));
	unsigned major, minor;
	size_t i;

	if (!obj || json_is_null(obj))
		return 0;
	if (check_keys(rd, obj, where, keys))
		return -1;
	json_array_foreach(caps, i, v)
	{
		int cap = run_cap_number(json_string_value(v) ?: "");

		if (cap < 0)
			return bad(rd, "%s: caps: %s: no such capability", where,
			           json_string_value(v) ?: "(not a string)");
		c->caps |= 1ULL << cap;
	}
	if (arches && !(c->arches = strings(rd, arches, where, NULL)))
		return -1;
	if (kernel && sscanf(kernel, "%u.%u", &major, &minor) != 2)
		return bad(rd, "%s: minKernel \"%s\": expected MAJOR.MINOR", where, kernel);
	if (kernel)
		c->min_kernel = major << 16 | minor;
	return 0;
}

static int read_rule(struct reader *rd, json_t *obj, size_t n, struct sc_rule *r)
{
	static const char *const keys[] = {"names", "name",     "action",   "errnoRet", "errno",
	                                   "args",  "includes", "excludes", "comment",  NULL};
	static const char *const action_keys[3] = {"action", "errnoRet", "errno"};
	json_t *names = json_object_get(obj, "names") ?: json_object_get(obj, "name");
	char where[64];

	snprintf(where, sizeof(where), "syscalls[%zu]", n);
	if (check_keys(rd, obj, where, keys))
		return -1;
	if (!names)
		return bad(rd, "%s: no names", where);
	if (!(r->names = strings(rd, names, where, NULL)))
		return -1;
	if (read_action(rd, obj, action_keys, where, &r->action) ||
	    read_args(rd, json_object_get(obj, "args"), where, r))
		return -1;
	strncat(where, ".includes", sizeof(where) - strlen(where) - 1);
	if (read_cond(rd, json_object_get(obj, "includes"), where, &r->includes))
		return -1;
	strcpy(strrchr(where, '.'), ".excludes");
	return read_cond(rd, json_object_get(obj, "excludes"), where, &r->excludes);
}

/* "SCMP_ARCH_X86_64" → "x86_64", libseccomp's name. */
static void arch_name(char *s)
{
	const char *from = strncmp(s, "SCMP_ARCH_", 10) == 0 ? s + 10 : s;

	/* Forward, in place: from never falls behind s. */
	for (;; from++, s++) {
		*s = (char)tolower((unsigned char)*from);
		if (!*from)
			break;
	}
}

/* "architectures", or archMap's entry for this machine and its
 * subArchitectures; neither: the native architecture only. */
static int read_arches(struct reader *rd, json_t *root, struct sc_profile *p)
{
	static const char *const keys[] = {"architecture", "subArchitectures", NULL};
	json_t *list = json_object_get(root, "architectures"), *e;
	struct utsname u;
	size_t i;

	if (list)
		return (p->arches = strings(rd, list, "architectures", arch_name)) ? 0 : -1;
	uname(&u);
	json_array_foreach(json_object_get(root, "archMap"), i, e)
	{
		char *main = NULL;

		if (check_keys(rd, e, "archMap", keys) ||
		    !json_is_string(json_object_get(e, "architecture")))
			return bad(rd, "archMap: entries need an architecture");
		main = strdup(json_string_value(json_object_get(e, "architecture")));
		if (!main)
			return bad(rd, "%s", strerror(ENOMEM));
		arch_name(main);
		if (strcmp(main, u.machine) == 0) {
			json_t *sub = json_object_get(e, "subArchitectures");

			free(main);
			if (!sub)
				break;
			p->arches = strings(rd, sub, "archMap", arch_name);
			return p->arches ? 0 : -1;
		}
		free(main);
	}
	p->arches = calloc(1, sizeof(*p->arches));
	return p->arches ? 0 : bad(rd, "%s", strerror(ENOMEM));
}

static int read_profile(struct reader *rd, json_t *root, struct sc_profile *p)
{
	static const char *const keys[] = {"defaultAction",
	                                   "defaultErrnoRet",
	                                   "defaultErrno",
	                                   "architectures",
	                                   "archMap",
	                                   "syscalls",
	                                   NULL};
	static const char *const default_keys[3] = {"defaultAction", "defaultErrnoRet",
	                                            "defaultErrno"};
	json_t *calls = json_object_get(root, "syscalls"), *e;
	struct sc_rule *rules;
	size_t i;

	if (check_keys(rd, root, "the profile", keys) ||
	    read_action(rd, root, default_keys, "the profile", &p->default_action) ||
	    read_arches(rd, root, p))
		return -1;
	if (calls && !json_is_array(calls))
		return bad(rd, "syscalls: expected a list");
	if (!(rules = calloc(json_array_size(calls) + 1, sizeof(*rules))))
		return bad(rd, "%s", strerror(ENOMEM));
	p->rules = rules;
	json_array_foreach(calls, i, e)
	{
		p->n_rules++;
		if (read_rule(rd, e, i, &rules[i]))
			return -1;
	}
	return 0;
}

int seccomp_profile_read(const char *path, struct sc_profile *p, char *why, size_t size)
{
	struct reader rd = {why, size};
	json_error_t jerr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	int rc;

	*p = (struct sc_profile){0};
	if (!root) {
		/* jansson's text for a missing file is "unable to open X: why". */
		if (jerr.line < 1)
			return bad(&rd, "%s", strerror(errno ? errno : EINVAL));
		return bad(&rd, "line %d: %s", jerr.line, jerr.text);
	}
	rc = read_profile(&rd, root, p);
	json_decref(root);
	if (rc)
		seccomp_profile_free(p);
	return rc;
}

void seccomp_profile_free(struct sc_profile *p)
{
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct sc_rule *r = &p->rules[i];

		free_strings(r->names);
		free((void *)r->args);
		free_strings(r->includes.arches);
		free_strings(r->excludes.arches);
	}
	free((void *)p->rules);
	free_strings(p->arches);
	*p = (struct sc_profile){0};
}
