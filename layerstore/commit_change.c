/* SPDX-License-Identifier: MIT */
/*
 * strata commit --change: one Dockerfile instruction applied to the new
 * image's config (its "config" object), as docker and podman take them:
 * CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL, VOLUME, STOPSIGNAL.
 * The keyword is followed by blanks or '=' (podman's "CMD=..."); CMD and
 * ENTRYPOINT (and VOLUME) take a JSON array or the shell form.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store.h"

static int bad(struct strata_error *err, const char *line, const char *why)
{
	return strata_fail(err, STRATA_ERR_OPTION, EINVAL, "commit: --change '%s': %s", line, why);
}

/* The next word of *@p, shell-quoted ("a b", 'a b', a\ b), into @out
 * (malloc'd): 1, 0 at the end, -1 on an unterminated quote. */
static int next_word(const char **p, char **out)
{
	const char *s = *p + strspn(*p, " \t");
	size_t n = 0;
	char *w = malloc(strlen(s) + 1), quote = 0;

	if (!w)
		return -1;
	if (!*s) {
		free(w);
		*p = s;
		return 0;
	}
	for (; *s && (quote || !isspace((unsigned char)*s)); s++) {
		if (quote && *s == quote)
			quote = 0;
		else if (!quote && (*s == '"' || *s == '\''))
			quote = *s;
		else if (*s == '\\' && quote != '\'' && s[1])
			w[n++] = *++s;
		else
			w[n++] = *s;
	}
	w[n] = '\0';
	*p = s;
	if (quote) {
		free(w);
		return -1;
	}
	*out = w;
	return 1;
}

/* CMD/ENTRYPOINT/VOLUME: a JSON array of strings, else NULL. */
static json_t *json_form(const char *args)
{
	json_t *v = args[0] == '[' ? json_loads(args, JSON_DECODE_ANY, NULL) : NULL, *e;
	size_t i;

	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e)) {
			json_decref(v);
			return NULL;
		}
	}
	if (v && !json_is_array(v)) {
		json_decref(v);
		return NULL;
	}
	return v;
}

/* CMD a b → ["/bin/sh", "-c", "a b"], as docker's shell form. */
static json_t *command(const char *args)
{
	json_t *v = json_form(args);

	return v ? v : json_pack("[s, s, s]", "/bin/sh", "-c", args);
}

/* "K=V" into the array @env, replacing K's earlier value. */
static int env_set(json_t *env, const char *kv)
{
	size_t i, klen = strcspn(kv, "=");
	json_t *e;

	json_array_foreach(env, i, e)
	{
		const char *s = json_string_value(e);

		if (s && strncmp(s, kv, klen) == 0 && s[klen] == '=')
			return json_array_set_new(env, i, json_string(kv));
	}
	return json_array_append_new(env, json_string(kv));
}

/* KEY=VALUE words into @obj (LABEL), or into the array @env (ENV).  ENV's
 * old form "ENV K V..." too: a first word without '='. */
static int pairs(json_t *obj, json_t *env, const char *line, const char *args,
                 struct strata_error *err)
{
	size_t klen = strcspn(args, " \t");
	const char *p = args;
	char *w = NULL;
	int r;

	if (env && !memchr(args, '=', klen)) {
		char *kv;

		if (!args[klen])
			return bad(err, line, "expected KEY=VALUE or KEY VALUE");
		if (asprintf(&kv, "%.*s=%s", (int)klen, args,
		             args + klen + strspn(args + klen, " \t")) < 0)
			return -1;
		r = env_set(env, kv);
		free(kv);
		return r;
	}
	while ((r = next_word(&p, &w)) > 0) {
		char *eq = strchr(w, '=');

		if (!eq || eq == w) {
			free(w);
			return bad(err, line, "expected KEY=VALUE");
		}
		if (env) {
			r = env_set(env, w);
		} else {
			*eq = '\0';
			r = json_object_set_new(obj, w, json_string(eq + 1));
		}
		free(w);
		if (r)
			return -1;
	}
	return r < 0 ? bad(err, line, "unterminated quote") : 0;
}

/* The object or array @cfg[@key], made when missing. */
static json_t *member(json_t *cfg, const char *key, bool array)
{
	json_t *v = json_object_get(cfg, key);

	if (array ? !json_is_array(v) : !json_is_object(v)) {
		v = array ? json_array() : json_object();
		json_object_set_new(cfg, key, v);
	}
	return v;
}

/* EXPOSE 80 443/tcp 53/udp 8000-8010. */
static int expose(json_t *cfg, const char *line, const char *args, struct strata_error *err)
{
	json_t *ports = member(cfg, "ExposedPorts", false);
	const char *p = args;
	char *w, key[64];
	int r;

	while ((r = next_word(&p, &w)) > 0) {
		char *proto = strchr(w, '/');
		size_t digits = proto ? (size_t)(proto - w) : strlen(w);
		long port = strtol(w, NULL, 10);

		if (proto)
			*proto++ = '\0';
		if (!digits || strspn(w, "0123456789-") != digits || port < 1 || port > 65535 ||
		    (proto && strcmp(proto, "tcp") && strcmp(proto, "udp") &&
		     strcmp(proto, "sctp"))) {
			free(w);
			return bad(err, line, "expected PORT[/tcp|udp|sctp]");
		}
		snprintf(key, sizeof(key), "%s/%s", w, proto ? proto : "tcp");
		json_object_set_new(ports, key, json_object());
		free(w);
	}
	return r < 0 ? bad(err, line, "unterminated quote") : 0;
}

/* WORKDIR: a relative one is taken from the one before, as docker does. */
static int workdir(json_t *cfg, const char *args)
{
	const char *was = json_string_value(json_object_get(cfg, "WorkingDir"));
	char *dir;

	if (args[0] == '/' || !was || !*was)
		return json_object_set_new(cfg, "WorkingDir",
		                           json_pack("s+", args[0] == '/' ? "" : "/", args));
	if (asprintf(&dir, "%s%s%s", was, was[strlen(was) - 1] == '/' ? "" : "/", args) < 0)
		return -1;
	json_object_set_new(cfg, "WorkingDir", json_string(dir));
	free(dir);
	return 0;
}

/* VOLUME ["/a", "/b"] or VOLUME /a /b. */
static int volume(json_t *cfg, const char *line, const char *args, struct strata_error *err)
{
	json_t *vols = member(cfg, "Volumes", false), *list = json_form(args), *e;
	const char *p = args;
	char *w;
	size_t i;
	int r = 0;

	json_array_foreach(list, i, e)
	{
		json_object_set_new(vols, json_string_value(e), json_object());
	}
	while (!list && (r = next_word(&p, &w)) > 0) {
		json_object_set_new(vols, w, json_object());
		free(w);
	}
	json_decref(list);
	return r < 0 ? bad(err, line, "unterminated quote") : 0;
}

/* The instruction @kw (upper case) with @args. */
static int apply(json_t *cfg, const char *kw, const char *args, const char *line,
                 struct strata_error *err)
{
	if (strcmp(kw, "CMD") == 0 || strcmp(kw, "ENTRYPOINT") == 0)
		return json_object_set_new(cfg, strcmp(kw, "CMD") ? "Entrypoint" : "Cmd",
		                           command(args));
	if (strcmp(kw, "ENV") == 0)
		return pairs(NULL, member(cfg, "Env", true), line, args, err);
	if (strcmp(kw, "LABEL") == 0)
		return pairs(member(cfg, "Labels", false), NULL, line, args, err);
	if (strcmp(kw, "EXPOSE") == 0)
		return expose(cfg, line, args, err);
	if (strcmp(kw, "VOLUME") == 0)
		return volume(cfg, line, args, err);
	if (strcmp(kw, "WORKDIR") == 0)
		return workdir(cfg, args);
	if (strcmp(kw, "USER") == 0)
		return json_object_set_new(cfg, "User", json_string(args));
	if (strcmp(kw, "STOPSIGNAL") == 0)
		return json_object_set_new(cfg, "StopSignal", json_string(args));
	return bad(err, line,
	           "only CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME and "
	           "WORKDIR apply to a commit");
}

int store_commit_change(json_t *cfg, const char *line, struct strata_error *err)
{
	const char *p = line + strspn(line, " \t"), *args;
	char kw[16];
	size_t n = 0, end;
	int rc;

	err->msg[0] = '\0';
	while (isalpha((unsigned char)p[n]) && n < sizeof(kw) - 1) {
		kw[n] = (char)toupper((unsigned char)p[n]);
		n++;
	}
	kw[n] = '\0';
	if (!n || (p[n] && p[n] != '=' && !isspace((unsigned char)p[n])))
		return bad(err, line, "expected INSTRUCTION ARGUMENTS (e.g. 'CMD [\"sh\"]')");
	args = p + n + (p[n] == '=');
	args += strspn(args, " \t");
	end = strlen(args);
	while (end && isspace((unsigned char)args[end - 1]))
		end--;
	if (!end)
		return bad(err, line, "no arguments");
	char *trimmed = strndup(args, end);

	if (!trimmed)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	rc = apply(cfg, kw, trimmed, line, err);
	free(trimmed);
	if (rc && !err->msg[0])
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	return rc ? -1 : 0;
}
