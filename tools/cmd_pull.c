/* SPDX-License-Identifier: MIT */
/* strata pull: an image from a registry into the store. */
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "strata-store.h"

static const char pull_usage[] =
    "Usage: strata pull [OPTIONS] REFERENCE\n"
    "\n"
    "Pull an image from a registry into the store: NAME[:TAG|@DIGEST], with the\n"
    "registry named (localhost:5000/app:1) or looked up as podman does\n"
    "(registries.conf's unqualified-search-registries, else docker.io).  Layers\n"
    "download in parallel, each checked against its digest and indexed as it\n"
    "comes; the image is named only when all of it is there.  Prints the\n"
    "manifest digest and the name it stored.\n"
    "\n"
    "When the registry has the image's index artifact (strata push attaches\n"
    "one), each layer's index is taken from it instead of being built: the\n"
    "blobs are still checked against their digests, and a strata fsck started\n"
    "in the background at idle priority then indexes them again and checks\n"
    "their diff-ids (--verify).  With --lazy, the layers the\n"
    "artifact describes are not downloaded: mounts and runs fetch the pieces\n"
    "they read.  A pull without --lazy completes them.\n"
    "\n"
    "Options:\n"
    "      --lazy                fetch layers as they are read (see above)\n"
    "      --verify WHEN         layers with an artifact's index: background\n"
    "                            (default), deferred (the next strata fsck), or now\n"
    "                            (build every index and check every diff-id\n"
    "                            before the image is named)\n"
    "      --platform P          os/arch[/variant] of a multi-platform image\n"
    "                            (default: this machine's)\n"
    "      --tls-verify=false    allow plain HTTP and unverified TLS\n"
    "      --max-layer-size SIZE the most a layer may decompress to (K, M, G, T;\n"
    "                            default: as import's)\n"
    "  -q, --quiet               no progress\n"
    "      --root DIR            the store (default $STRATA_ROOT, /var/lib/strata as\n"
    "                            root, else $XDG_DATA_HOME/strata)\n"
    "  -h, --help                show this help\n";

#define MAX_SHOWN 64

/* One line per blob being moved, redrawn in place. */
struct cli_progress {
	struct timespec last;
	size_t n_lines;
	char digest[MAX_SHOWN][20];
	uint64_t done[MAX_SHOWN], total[MAX_SHOWN];
};

static void redraw(struct cli_progress *p)
{
	char d[32], t[32];

	if (p->n_lines > 1)
		fprintf(stderr, "\033[%zuA", p->n_lines - 1);
	fputc('\r', stderr);
	for (size_t i = 0; i < p->n_lines; i++) {
		cli_human_size(p->done[i], d, sizeof(d));
		cli_human_size(p->total[i], t, sizeof(t));
		fprintf(stderr, "\033[K%s  %s / %s%s%s", p->digest[i], d, t,
		        p->done[i] == p->total[i] ? "  done" : "", i + 1 < p->n_lines ? "\n" : "");
	}
	fflush(stderr);
}

void cli_progress_show(void *ctx, size_t layer, const char *digest, uint64_t done, uint64_t total)
{
	struct cli_progress *p = ctx;
	struct timespec now;
	bool changed_lines = false;

	if (layer >= MAX_SHOWN)
		return;
	while (p->n_lines <= layer) {
		if (p->n_lines)
			fputc('\n', stderr);
		p->done[p->n_lines] = p->total[p->n_lines] = 0;
		p->n_lines++;
		changed_lines = true;
	}
	snprintf(p->digest[layer], sizeof(p->digest[0]), "%.19s", digest);
	p->done[layer] = done;
	p->total[layer] = total;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!changed_lines && done < total &&
	    (now.tv_sec - p->last.tv_sec) * 1000000000L + (now.tv_nsec - p->last.tv_nsec) <
	        100000000L)
		return;
	p->last = now;
	redraw(p);
}

struct cli_progress *cli_progress_start(bool quiet)
{
	return quiet || !isatty(STDERR_FILENO) ? NULL : calloc(1, sizeof(struct cli_progress));
}

void cli_progress_end(struct cli_progress *p)
{
	if (p && p->n_lines) {
		redraw(p);
		fputc('\n', stderr);
	}
	free(p);
}

static void verify_in_background(struct store *s);

int cli_pull(struct store *s, const char *ref, const struct store_pull_options *base, bool quiet,
             struct store_pulled *out)
{
	struct store_pull_options o = *base;
	struct cli_progress *p = cli_progress_start(quiet);
	struct strata_error err;
	int rc;

	o.warn = cli_warn;
	if (!o.max_layer_size) /* as import's: what a layer may decompress to */
		o.max_layer_size = cli_default_max_layer_size(store_root(s));
	if (p) {
		o.progress = cli_progress_show;
		o.progress_ctx = p;
	}
	rc = store_pull(s, ref, &o, out, &err);
	cli_progress_end(p);
	if (rc == 0 && out->n_adopted && o.verify == STORE_VERIFY_BACKGROUND)
		verify_in_background(s);
	return rc ? cli_fail(&err) : 0;
}

/* `--verify=background`: layers whose index was adopted are verified by a
 * `strata fsck --adopted` of their own, in a session of its own, at idle
 * CPU priority so that it takes only time nothing else wants (a run
 * started right after the pull goes first).  Best effort: a verifier that
 * cannot start leaves the layers to the next fsck. */
static void verify_in_background(struct store *s)
{
	struct sched_param sp = {0};
	pid_t pid = fork();
	int fd;

	if (pid > 0) {
		waitpid(pid, NULL, 0);
		return;
	}
	if (pid < 0)
		return;
	/* The middle child exits at once: the verifier is nobody's child. */
	if (fork() != 0)
		_exit(0);
	setsid();
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
	}
	sched_setscheduler(0, SCHED_IDLE, &sp);
	execl("/proc/self/exe", "strata", "fsck", "--adopted", "--root", store_root(s),
	      (char *)NULL);
	_exit(127);
}

/* "--tls-verify", "--tls-verify=false": podman's boolean flag. */
int cli_parse_tls_verify(const char *arg, const char *cmd, bool *off)
{
	bool on = true;
	int rc = cli_bool_option(cmd, "--tls-verify", arg, &on);

	*off = !on;
	return rc ? rc : -1;
}

static int parse_verify(const char *arg, enum store_pull_verify *out)
{
	static const char *const names[] = {"background", "now", "deferred"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(arg, names[i]) == 0) {
			*out = (enum store_pull_verify)i;
			return 0;
		}
	return -1;
}

int cmd_pull(int argc, char **argv)
{
	enum { OPT_PLATFORM = 256, OPT_TLS, OPT_ROOT, OPT_MAX, OPT_LAZY, OPT_VERIFY };
	static const struct option longopts[] = {
	    {"platform", required_argument, NULL, OPT_PLATFORM},
	    {"lazy", no_argument, NULL, OPT_LAZY},
	    {"verify", required_argument, NULL, OPT_VERIFY},
	    {"tls-verify", optional_argument, NULL, OPT_TLS},
	    {"max-layer-size", required_argument, NULL, OPT_MAX},
	    {"quiet", no_argument, NULL, 'q'},
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct store_pull_options o = {0};
	struct store_pulled out;
	const char *root = NULL;
	bool quiet = false;
	struct store *s;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		if (c == OPT_PLATFORM)
			o.platform = optarg;
		else if (c == OPT_LAZY)
			o.lazy = true;
		else if (c == OPT_VERIFY && parse_verify(optarg, &o.verify))
			return cli_usage_error("pull", "--verify: now, background or deferred");
		else if (c == OPT_TLS &&
		         (rc = cli_parse_tls_verify(optarg, "pull", &o.tls_verify_off)) >= 0)
			return rc;
		else if (c == OPT_MAX &&
		         (rc = cli_max_layer_size_option("pull", optarg, &o.max_layer_size)))
			return rc;
		else if (c == 'q')
			quiet = true;
		else if (c == OPT_ROOT)
			root = optarg;
		else if (c != OPT_TLS && c != OPT_MAX && c != OPT_VERIFY)
			return cli_other_option(c, "pull", pull_usage, argv);
	}
	if (optind != argc - 1)
		return cli_usage_error("pull",
		                       optind == argc ? "no image given" : "one image at a time");
	if (cli_open_store(root, true, &s))
		return 1;
	rc = cli_pull(s, argv[optind], &o, quiet, &out);
	if (rc == 0)
		printf("%s %s\n", out.digest, out.name);
	if (rc == 0 && !quiet && (out.n_lazy || out.n_completed))
		fprintf(stderr, "%zu of %zu layers %s\n", out.n_lazy ? out.n_lazy : out.n_completed,
		        out.n_layers, out.n_lazy ? "left to fetch as they are read" : "completed");
	store_pulled_free(&out);
	store_close(s);
	return rc;
}
