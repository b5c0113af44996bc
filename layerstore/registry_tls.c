/* SPDX-License-Identifier: MIT */
/*
 * certs.d, as podman reads it (containers-certs.d(5)): for a registry
 * HOST[:PORT], the directory of that name under each certs.d root holds
 * CAs to trust besides the system's (*.crt) and a client certificate
 * (NAME.cert with its key NAME.key).  The first root that has the
 * directory is used.  $STRATA_CERTS_D replaces the roots with one (tests,
 * or a user without root who keeps CAs elsewhere).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "curl_dl.h"
#include "registry.h"
#include "sys.h"
#include "vec.h"

#define CERT_FILE_MAX (1u << 20)

/* Appends the file @dir/@name to @buf, with a newline. */
static int append_file(int dir, const char *name, char **buf, size_t *len, size_t *cap)
{
	int fd = openat(dir, name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	ssize_t n;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)CERT_FILE_MAX ||
	    VEC_RESERVE(*buf, *cap, *len + (size_t)st.st_size + 2) < 0) {
		close(fd);
		errno = EFBIG;
		return -1;
	}
	n = sys_pread_full(fd, *buf + *len, (size_t)st.st_size, 0);
	close(fd);
	if (n < 0)
		return -1;
	*len += (size_t)n;
	(*buf)[(*len)++] = '\n';
	(*buf)[*len] = '\0';
	return 0;
}

/* The certs.d directory of @registry, opened, or -1. */
static int open_host_dir(const char *registry, char *path, size_t size)
{
	const char *env = getenv("STRATA_CERTS_D"), *home = getenv("HOME");
	char user[4096] = "";
	const char *roots[3];
	size_t n = 0;

	if (env && *env) {
		roots[n++] = env;
	} else {
		roots[n++] = "/etc/containers/certs.d";
		roots[n++] = "/etc/docker/certs.d";
		if (home && *home)
			snprintf(user, sizeof(user), "%s/.config/containers/certs.d", home);
		if (user[0])
			roots[n++] = user;
	}
	for (size_t i = 0; i < n; i++) {
		int fd;

		snprintf(path, size, "%s/%s", roots[i], registry);
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0)
			return fd;
	}
	return -1;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && strcmp(s + n - k, suffix) == 0;
}

/* The system's CA bundle first: certs.d adds to it, never replaces it. */
static int add_system_cas(struct reg_client *c, size_t *cap)
{
	char *path = NULL, dir[4096], *slash;
	int fd;

	sym_curl_easy_getinfo(c->easy, CURLINFO_CAINFO, &path);
	if (!path)
		return 0;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return 0;
	*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	append_file(fd, slash + 1, &c->ca_pem, &c->ca_len, cap);
	close(fd);
	return 0;
}

static int keep_path(char **slot, const char *dir, const char *name)
{
	free(*slot);
	return asprintf(slot, "%s/%s", dir, name) < 0 ? (*slot = NULL, -1) : 0;
}

int store_reg_tls_load(struct reg_client *c, struct strata_error *err)
{
	char dir[4096 + 256];
	int fd = open_host_dir(c->registry, dir, sizeof(dir)), rc = 0;
	size_t cap = 0;
	bool any_ca = false;
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", dir, strerror(errno));
	}
	while (rc == 0 && (de = readdir(d))) {
		if (ends_with(de->d_name, ".crt")) {
			if (!any_ca)
				add_system_cas(c, &cap);
			any_ca = true;
			if (append_file(dirfd(d), de->d_name, &c->ca_pem, &c->ca_len, &cap) < 0)
				rc = strata_fail(err, STRATA_ERR_SYS, errno, "%s/%s: %s", dir,
				                 de->d_name, strerror(errno));
		} else if (ends_with(de->d_name, ".cert")) {
			rc = keep_path(&c->client_cert, dir, de->d_name);
		} else if (ends_with(de->d_name, ".key")) {
			rc = keep_path(&c->client_key, dir, de->d_name);
		}
	}
	closedir(d);
	if (rc == 0 && !c->client_cert != !c->client_key)
		rc = strata_fail(err, STRATA_ERR_FORMAT, 0,
		                 "%s: a client certificate needs both NAME.cert and NAME.key", dir);
	return rc;
}

void store_reg_tls_setup(struct reg_client *c, void *easy)
{
	if (c->ca_pem) {
		struct curl_blob blob = {
		    .data = c->ca_pem, .len = c->ca_len, .flags = CURL_BLOB_NOCOPY};

		sym_curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (c->client_cert) {
		sym_curl_easy_setopt(easy, CURLOPT_SSLCERT, c->client_cert);
		sym_curl_easy_setopt(easy, CURLOPT_SSLKEY, c->client_key);
	}
}
