/* SPDX-License-Identifier: MIT */
/* The few jansson idioms the store repeats. */
#include <errno.h>
#include <string.h>

#include "store.h"

const char *store_json_str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

json_t *store_json_parse(const char *buf, size_t len, const char *what, struct strata_error *err)
{
	json_error_t jerr;
	json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);

	if (!v)
		strata_fail(err, STRATA_ERR_CORRUPT, 0, "%s: not valid JSON: %s (line %d)", what,
		            jerr.text, jerr.line);
	else if (!json_is_object(v)) {
		json_decref(v);
		v = NULL;
		strata_fail(err, STRATA_ERR_CORRUPT, 0, "%s: not a JSON object", what);
	}
	return v;
}

char *store_json_blob(json_t *v, size_t *len)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);

	if (s)
		*len = strlen(s);
	return s;
}
