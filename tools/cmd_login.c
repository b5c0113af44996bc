/* SPDX-License-Identifier: MIT */
/* strata login: credentials for a registry, checked, then kept in podman's
 * auth file.  The password never comes from the command line (where ps(1)
 * would show it): from standard input, or asked for on the terminal. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "strata-store.h"

static const char login_usage[] =
    "Usage: strata login [OPTIONS] REGISTRY\n"
    "\n"
    "Log in to REGISTRY (host[:port]): the credentials are checked against it\n"
    "(GET /v2/, Basic or bearer token), then written to podman's auth file,\n"
    "where strata pull and push, podman and skopeo find them.  The password is\n"
    "read from standard input (--password-stdin) or asked for on the terminal,\n"
    "never taken as an argument.\n"
    "\n"
    "Options:\n"
    "  -u, --username USER       the user (default: asked for on the terminal)\n"
    "      --password-stdin      read the password from standard input\n"
    "      --authfile FILE       the auth file (default $REGISTRY_AUTH_FILE, else\n"
    "                            $XDG_RUNTIME_DIR/containers/auth.json)\n"
    "      --tls-verify=false    allow plain HTTP and unverified TLS\n"
    "  -h, --help                show this help\n";

/* One line of @in without its newline, echo off when @hide and a terminal. */
static char *read_line(FILE *in, const char *prompt, bool hide)
{
	struct termios old, quiet;
	bool tty = isatty(fileno(in)), restore = false;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (prompt && tty) {
		fputs(prompt, stderr);
		fflush(stderr);
	}
	if (hide && tty && tcgetattr(fileno(in), &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		restore = tcsetattr(fileno(in), TCSAFLUSH, &quiet) == 0;
	}
	n = getline(&line, &cap, in);
	if (restore) {
		tcsetattr(fileno(in), TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (n < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

static int login(const char *registry, const char *user, bool from_stdin,
                 const struct store_login_options *o)
{
	char *u = user ? strdup(user) : NULL, *password = NULL;
	struct strata_error err;
	int rc = 0;

	if (!u && isatty(STDIN_FILENO) && !from_stdin)
		u = read_line(stdin, "Username: ", false);
	if (!u || !*u)
		rc = cli_usage_error("login", "no username: give -u USER");
	else if (!from_stdin && !isatty(STDIN_FILENO))
		rc = cli_usage_error("login", "no terminal to ask for the password: "
		                              "use --password-stdin");
	else if (!(password = read_line(stdin, "Password: ", true)) || !*password)
		rc = cli_usage_error("login", "no password given");
	if (rc == 0)
		rc = store_login(registry, u, password, o, &err) ? cli_fail(&err) : 0;
	if (rc == 0)
		fprintf(stderr, "Login Succeeded\n");
	if (password)
		explicit_bzero(password, strlen(password));
	free(password);
	free(u);
	return rc;
}

int cmd_login(int argc, char **argv)
{
	enum { OPT_STDIN = 256, OPT_AUTHFILE, OPT_TLS };
	static const struct option longopts[] = {
	    {"username", required_argument, NULL, 'u'},
	    {"password-stdin", no_argument, NULL, OPT_STDIN},
	    {"authfile", required_argument, NULL, OPT_AUTHFILE},
	    {"tls-verify", optional_argument, NULL, OPT_TLS},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct store_login_options o = {0};
	const char *user = NULL;
	bool from_stdin = false;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "u:h", longopts, NULL)) != -1) {
		if (c == 'u')
			user = optarg;
		else if (c == OPT_STDIN)
			from_stdin = true;
		else if (c == OPT_AUTHFILE)
			o.authfile = optarg;
		else if (c == OPT_TLS &&
		         (rc = cli_parse_tls_verify(optarg, "login", &o.tls_verify_off)) >= 0)
			return rc;
		else if (c != OPT_TLS)
			return cli_other_option(c, "login", login_usage, argv);
	}
	if (argc - optind != 1)
		return cli_usage_error("login", optind == argc ? "no registry given"
		                                               : "one registry at a time");
	return login(argv[optind], user, from_stdin, &o);
}
