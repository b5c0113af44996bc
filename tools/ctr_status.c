/* SPDX-License-Identifier: MIT */
/* A container's status as podman's ps says it (ctr.h). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "ctr.h"
#include "run.h"
#include "ctr_log.h"
#include "strata-store.h"

/* "5 seconds", "3 minutes", "2 hours", "4 days" */
static void duration(time_t secs, char *out, size_t size)
{
	static const struct {
		time_t unit;
		const char *name;
	} units[] = {{86400, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"}};
	size_t i = 0;

	if (secs < 0)
		secs = 0;
	while (i < 3 && secs < units[i].unit)
		i++;
	secs /= units[i].unit;
	snprintf(out, size, "%lld %s%s", (long long)secs, units[i].name, secs == 1 ? "" : "s");
}

/* @key's time in @st, as seconds; 0 without. */
static time_t when(json_t *st, const char *key)
{
	const char *s = json_string_value(json_object_get(st, key));
	struct timespec ts;

	return s && ctr_time_parse(s, &ts) == 0 ? ts.tv_sec : 0;
}

void ctr_status_text(const struct store_container *c, time_t now, char *out, size_t size)
{
	json_t *st = json_loads(c->state_json, 0, NULL);
	const char *reason = json_string_value(json_object_get(st, "reason"));
	time_t t = when(st, c->running ? "started_at" : "finished_at");
	char code[64], ago[32] = "";

	if (t)
		duration(now - t, ago, sizeof(ago));
	if (c->running)
		snprintf(out, size, "Up%s%s", t ? " " : "", ago);
	else {
		if (c->has_exit_code)
			snprintf(code, sizeof(code), c->oom_killed ? "%d, OOMKilled" : "%d",
			         c->exit_code);
		else
			snprintf(code, sizeof(code), "%s", reason ? reason : "killed");
		snprintf(out, size, "Exited (%s)%s%s%s", code, t ? " " : "", ago, t ? " ago" : "");
	}
	json_decref(st);
}

/* One recorded port ({"host_ip", "host_port", "container_port",
 * "protocol"}) as run.h's. */
static void port_of(json_t *j, struct run_port *p)
{
	const char *ip = json_string_value(json_object_get(j, "host_ip"));

	snprintf(p->ip, sizeof(p->ip), "%s", ip && strcmp(ip, "0.0.0.0") ? ip : "");
	p->host = (uint16_t)json_integer_value(json_object_get(j, "host_port"));
	p->ctr = (uint16_t)json_integer_value(json_object_get(j, "container_port"));
	p->udp = json_is_string(json_object_get(j, "protocol")) &&
	         strcmp(json_string_value(json_object_get(j, "protocol")), "udp") == 0;
}

void ctr_ports_text(const struct store_container *c, char *out, size_t size)
{
	json_t *st = json_loads(c->state_json, 0, NULL), *j;
	json_t *ports = json_object_get(json_object_get(st, "process"), "ports");
	size_t i, len = 0;
	struct run_port p;
	char one[64];

	out[0] = '\0';
	json_array_foreach(ports, i, j)
	{
		port_of(j, &p);
		run_port_text(&p, one, sizeof(one));
		if (len < size)
			len += (size_t)snprintf(out + len, size - len, "%s%s", i ? ", " : "", one);
	}
	json_decref(st);
}
