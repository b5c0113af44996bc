/* SPDX-License-Identifier: MIT */
/* The strata command: dispatches to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ovl_mount.h"

static const struct command commands[] = {
    {"mount", cmd_mount, "mount a stack of tar layers as a directory"},
    {"umount", cmd_umount, "unmount a strata mount"},
    {"run", cmd_run, "run a command in a container of an image"},
    {"ps", cmd_ps, "list containers"},
    {"stats", cmd_stats, "what running containers use: CPU, memory, pids, I/O"},
    {"rm", cmd_rm, "remove stopped containers"},
    {"logs", cmd_logs, "print (and follow) a detached container's output"},
    {"wait", cmd_wait, "wait for a container to stop; its exit status"},
    {"stop", cmd_stop, "stop a container: its stop signal, then SIGKILL"},
    {"kill", cmd_kill, "send a signal to a container"},
    {"attach", cmd_attach, "attach our terminal to a running -d container"},
    {"exec", cmd_exec, "run a command in a running container"},
    {"cp", cmd_cp, "copy files between the host and a container"},
    {"start", cmd_start, "run a stopped container again, as it was run"},
    {"restart", cmd_restart, "stop a container and start it again"},
    {"inspect", cmd_inspect, "print an image's config and layers as JSON"},
    {"layers", cmd_layers, "what each layer of an image adds, changes, deletes, wastes"},
    {"ls", cmd_ls, "list files of an image, layer or container"},
    {"cat", cmd_cat, "print files of an image, layer or container"},
    {"diff", cmd_diff, "what changed between images, layers and containers"},
    {"commit", cmd_commit, "save a container's changes as a new image"},
    {"pull", cmd_pull, "pull an image from a registry"},
    {"push", cmd_push, "push an image to a registry"},
    {"login", cmd_login, "log in to a registry (podman's auth file)"},
    {"logout", cmd_logout, "remove a registry's credentials"},
    {"import", cmd_import, "import a docker/OCI archive, OCI layout or layer tar"},
    {"images", cmd_images, "list the images in the store"},
    {"tag", cmd_tag, "give an image another name"},
    {"rmi", cmd_rmi, "remove an image's name (blobs go at the next gc)"},
    {"export", cmd_export, "write an image as an oci-archive or docker-archive"},
    {"gc", cmd_gc, "remove blobs and caches no image uses"},
    {"fsck", cmd_fsck, "rehash and check everything in the store"},
    {"index", cmd_index, "build or check the index of tar layers"},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fputs("Usage: strata COMMAND [OPTIONS] [ARGS]\n"
	      "\n"
	      "Mount and run container images straight from their tar layers.\n"
	      "\n"
	      "Commands:\n",
	      out);
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fputs("\n"
	      "Options:\n"
	      "  -h, --help     show this help\n"
	      "  -V, --version  show the version\n"
	      "\n"
	      "'strata COMMAND --help' and 'man strata-COMMAND' describe each command.\n"
	      "'strata -o lowerdir=...,upperdir=...,workdir=... MOUNTPOINT' is fuse-overlayfs'\n"
	      "call form (podman's mount_program): see strata-overlay-options(7).\n",
	      out);
}

static bool is_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(name, commands[i].name) == 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;
	const char *self = argv[0] ? strrchr(argv[0], '/') : NULL;

	self = self ? self + 1 : argv[0] ? argv[0] : "";
	/* mount(8)'s helper: installed as a link to strata. */
	if (strncmp(self, "mount.", 6) == 0)
		return cmd_mount_helper(argc, argv);
	/* fuse-overlayfs' call form, as podman's mount_program makes it. */
	if (cmd && strncmp(cmd, "-o", 2) == 0)
		return cmd_mount_overlay(argc, argv);
	/* mount.fuse3's: "strata SRC MNT -o OPTS". */
	if (cmd && argc >= 4 && cmd[0] != '-' && !is_command(cmd) && strncmp(argv[3], "-o", 2) == 0)
		return cmd_mount_helper(argc, argv);
	if (!cmd) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
		printf("strata %s\n", STRATA_VERSION);
		return 0;
	}
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	cli_error("'%s' is not a strata command (see 'strata --help')", cmd);
	return EXIT_USAGE;
}
