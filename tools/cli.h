/* SPDX-License-Identifier: MIT */
/*
 * What every strata subcommand shares: the one-line error format and exit
 * codes (1 for a failure, 2 for a usage error).
 */
#ifndef STRATA_CLI_H
#define STRATA_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata-fs.h"

#define EXIT_USAGE 2

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

/* "strata: <msg>" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints err->msg; returns the exit status (2 for a bad option, else 1). */
int cli_fail(const struct strata_error *err);
/* A usage error: prints the message and a hint, returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The last case of every option loop: 'h' prints @usage and gives 0, any
 * other option is a usage error naming it (getopt's argv[optind - 1]). */
int cli_other_option(int c, const char *cmd, const char *usage, char *const *argv);
/* Warnings from libstrata-fs, printed as they come. */
void cli_warn(void *ctx, const char *msg);

/* Layer options from the common flags; the default cache dir when NULL,
 * the default --max-layer-size when @max_layer_size is 0. */
int cli_layer_options(struct strata_layer_options *o, const char *cache_dir, bool reindex,
                      uint64_t max_layer_size);
void cli_layer_options_free(struct strata_layer_options *o);

/* The absolute path of @path, resolving its parent but not @path itself
 * (which may be a dead FUSE mount).  0, or -1 with errno. */
int cli_absolute_path(const char *path, char *out, size_t size);

struct store;
struct store_source;
struct json_t;
/* Opens the store at @root (NULL: the default), creating it when @create.
 * 0, or 1 after printing the error. */
int cli_open_store(const char *root, bool create, struct store **out);
/* The options of the commands that only read or tidy the store: --root,
 * --help, and --json when @json is not NULL.  Returns -1 to go on, else
 * the exit status (0 after --help). */
int cli_parse_store_opts(int argc, char **argv, const char *cmd, const char *usage,
                         const char **root, bool *json);
/* --root and --help, and no arguments: cli_parse_store_opts for the
 * commands that take none. */
int cli_parse_no_args(int argc, char **argv, const char *cmd, const char *usage, const char **root);
struct store;
struct store_source;
struct json_t;
/* Opens the store at @root and @ref in it as one of the @allowed kinds
 * (STORE_SOURCE_*).  0, or 1 after printing why (nothing left open). */
int cli_open_source(const char *root, const char *ref, unsigned allowed, struct store **s,
                    struct store_source *src);
/* Closes what cli_open_source opened. */
void cli_close_source(struct store *s, struct store_source *src);
/* Prints @v indented, with a newline, and drops it. */
void cli_print_json(struct json_t *v);
struct store_container;
/* A container as ps --json and inspect print it: its state.json, with
 * its name, status (running or exited, from its lock) and OOMKilled. */
struct json_t *cli_container_json(const struct store_container *c);
/* "512m", "2G", "1.5T", "1048576" (binary multiples; a "b" may follow)
 * → bytes; 0 when it is no size. */
uint64_t cli_parse_bytes(const char *s);
/* --max-layer-size SIZE: 0, or the exit status of a usage error. */
int cli_max_layer_size_option(const char *cmd, const char *arg, uint64_t *out);
/* --fetch-timeout SECONDS (1..3600): how long a lazy layer's fetch may go
 * without progress before its read fails with EIO (each of its bounded
 * attempts).  Set as $STRATA_REGISTRY_TIMEOUT, which the mount's daemon
 * inherits.  0, or the usage error's exit status. */
int cli_fetch_timeout_option(const char *cmd, const char *arg);
/* The default of --max-layer-size, for a cache (or store) in @dir: the
 * smaller of CLI_MAX_LAYER_SIZE and 90% of what the filesystem of @dir
 * (or of its nearest existing parent) has available now. */
#define CLI_MAX_LAYER_SIZE ((uint64_t)256 << 30)
uint64_t cli_default_max_layer_size(const char *dir);
/* "12.3 MB" */
void cli_human_size(uint64_t bytes, char *out, size_t size);

/* Progress lines of a pull or push, one per blob, redrawn in place on a
 * terminal (stderr); NULL when @quiet or not a terminal. */
struct cli_progress;
struct cli_progress *cli_progress_start(bool quiet);
/* A store_pull_progress_fn; @ctx a struct cli_progress. */
void cli_progress_show(void *ctx, size_t blob, const char *digest, uint64_t done, uint64_t total);
void cli_progress_end(struct cli_progress *p);
struct store_pull_options;
struct store_pulled;
/* store_pull with progress lines on a terminal (unless @quiet) and
 * warnings on stderr.  0, or 1 after printing the error. */
int cli_pull(struct store *s, const char *ref, const struct store_pull_options *o, bool quiet,
             struct store_pulled *out);
/* --tls-verify[=true|false] into *@off.  -1 to go on, else the exit status. */
int cli_parse_tls_verify(const char *arg, const char *cmd, bool *off);

int cmd_mount(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_logout(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_layers(int argc, char **argv);
int cmd_ls(int argc, char **argv);
/* --detach-keys @arg of @cmd into @k (attach.h): 0, or the usage exit
 * status after saying why. */
struct detach_keys;
int cli_detach_keys_option(const char *cmd, const char *arg, struct detach_keys *k);
/* --@opt[=true|false] (@arg NULL: true) into *@out: 0, or the usage exit
 * status. */
int cli_bool_option(const char *cmd, const char *opt, const char *arg, bool *out);
int cmd_cat(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_commit(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_wait(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_cp(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_restart(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_rmi(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
int cmd_umount(int argc, char **argv);
int cmd_index(int argc, char **argv);

#endif
