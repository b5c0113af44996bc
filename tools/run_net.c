/* SPDX-License-Identifier: MIT */
/* strata run's --network and -p/--publish (run.h): parsing and showing. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "run.h"

static const char *const mode_names[] = {"host", "none", "pasta"};

const char *run_net_mode_name(enum run_net_mode mode)
{
	return mode_names[mode];
}

int run_network_option(struct run_net *n, const char *arg)
{
	for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
		if (strcmp(arg, mode_names[i]) == 0) {
			n->mode = (enum run_net_mode)i;
			n->given = true;
			return 0;
		}
	return cli_usage_error("run", "--network %s: host, none or pasta", arg);
}

/* A port number, 1..65535, digits only: the number, or 0. */
static uint16_t port_number(const char *s, size_t len)
{
	unsigned long v = 0;

	if (len == 0 || len > 5 || strspn(s, "0123456789") < len)
		return 0;
	for (size_t i = 0; i < len; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	return v <= 65535 ? (uint16_t)v : 0;
}

/* Splits "[IP:]HOST:CONTAINER[/PROTO]" into @p: 0, or -1. */
static int parse_port(const char *arg, struct run_port *p)
{
	const char *slash = strchr(arg, '/'), *end = slash ? slash : arg + strlen(arg);
	const char *ctr, *host;
	struct in_addr a;

	if (slash && strcmp(slash, "/tcp") && strcmp(slash, "/udp"))
		return -1;
	p->udp = slash && strcmp(slash, "/udp") == 0;
	for (ctr = end; ctr > arg && ctr[-1] != ':'; ctr--)
		;
	if (ctr == arg)
		return -1; /* no HOST: (a port chosen for it is not done) */
	for (host = ctr - 1; host > arg && host[-1] != ':'; host--)
		;
	p->ctr = port_number(ctr, (size_t)(end - ctr));
	p->host = port_number(host, (size_t)(ctr - 1 - host));
	p->ip[0] = '\0';
	if (host > arg) {
		size_t len = (size_t)(host - 1 - arg);

		if (len >= sizeof(p->ip))
			return -1;
		memcpy(p->ip, arg, len);
		p->ip[len] = '\0';
		if (inet_pton(AF_INET, p->ip, &a) != 1)
			return -1;
	}
	return p->ctr && p->host ? 0 : -1;
}

int run_publish_option(struct run_net *n, const char *arg)
{
	struct run_port *v = realloc(n->ports, (n->n_ports + 1) * sizeof(*v));

	if (!v)
		return cli_usage_error("run", "out of memory");
	n->ports = v;
	if (parse_port(arg, &v[n->n_ports]))
		return cli_usage_error("run",
		                       "-p %s: expected [IPv4:]HOST:CONTAINER[/tcp|/udp], "
		                       "ports 1..65535",
		                       arg);
	n->n_ports++;
	return 0;
}

int run_net_check(struct run_net *n)
{
	if (!n->n_ports)
		return 0;
	if (!n->given)
		n->mode = RUN_NET_PASTA;
	if (n->mode != RUN_NET_PASTA)
		return cli_usage_error("run",
		                       "-p with --network %s: ports are published by pasta "
		                       "(--network pasta)",
		                       run_net_mode_name(n->mode));
	return 0;
}

void run_port_text(const struct run_port *p, char *out, size_t size)
{
	snprintf(out, size, "%s:%u->%u/%s", p->ip[0] ? p->ip : "0.0.0.0", p->host, p->ctr,
	         p->udp ? "udp" : "tcp");
}
