/* SPDX-License-Identifier: MIT */
/* --detach-keys: its parser and the matcher strata attach and exec share
 * (attach.h). */
#include <string.h>
#include <strings.h>

#include "attach.h"

/* One key of the list, "ctrl-x" or "x": its byte, or -1. */
static int key_byte(const char *s, size_t len)
{
	static const char ctrl_punct[] = "@[\\]^_"; /* 0, 27..31 */

	if (len == 1)
		return (unsigned char)s[0];
	if (len != 6 || strncasecmp(s, "ctrl-", 5) != 0)
		return -1;
	if (s[5] >= 'a' && s[5] <= 'z')
		return s[5] - 'a' + 1;
	if (s[5] >= 'A' && s[5] <= 'Z')
		return s[5] - 'A' + 1;
	if (s[5] == '@')
		return 0;
	if (s[5] && strchr(ctrl_punct, s[5]))
		return 27 + (int)(strchr(ctrl_punct, s[5]) - ctrl_punct) - 1;
	return -1;
}

int detach_keys_parse(const char *text, struct detach_keys *k)
{
	memset(k, 0, sizeof(*k));
	if (!text[0])
		return 0;
	for (const char *s = text;; s++) {
		size_t len = strcspn(s, ",");
		int b = key_byte(s, len);

		if (b < 0 || k->len == DETACH_KEYS_MAX)
			return -1;
		k->seq[k->len++] = (unsigned char)b;
		s += len;
		if (!*s)
			return 0;
	}
}

/* After a mismatch: the longest tail of the held bytes and @c that is
 * still a prefix of the sequence stays held, what comes before it goes
 * out. */
static size_t fall_back(struct detach_keys *k, unsigned char c, char *out)
{
	unsigned char held[DETACH_KEYS_MAX + 1];
	size_t n = k->pos, o = 0;

	memcpy(held, k->seq, n);
	held[n++] = c;
	for (size_t start = 0; start < n; start++) {
		size_t len = n - start;

		if (len <= k->len && memcmp(held + start, k->seq, len) == 0) {
			k->pos = len;
			return o;
		}
		out[o++] = (char)held[start];
	}
	k->pos = 0;
	return o;
}

size_t detach_keys_feed(struct detach_keys *k, const char *in, size_t n, char *out, bool *detach)
{
	size_t o = 0;

	*detach = false;
	if (!k->len) {
		memcpy(out, in, n);
		return n;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == k->seq[k->pos])
			k->pos++;
		else
			o += fall_back(k, c, out + o);
		if (k->pos == k->len) {
			k->pos = 0;
			*detach = true;
			return o;
		}
	}
	return o;
}
