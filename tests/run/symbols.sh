#!/usr/bin/env bash
# Every symbol a strata library exports carries that library's prefix, so
# that a library's boundary is visible in its names and two libraries (or a
# library and the tools) cannot collide.  A static library exports every
# non-static function of every file: a helper used by one file must be
# static, one shared across a library's files takes the library's prefix.
#
#   libstrata-util  one prefix per module: sys_ (system calls), dl_ and
#                   sym_ (libraries loaded on first use: sym_<function> is a
#                   pointer to <function>), sha256_, vec_ (growable arrays),
#                   strata_ (the error type, shared with the public API)
#   libstrata-fs    strata_ (the public API, strata-fs.h), fs_ (shared
#                   between the library's own files)
#   libstrata-store store_
#
# Usage: symbols.sh NM LIB.a REGEX [LIB.a REGEX...]
set -euo pipefail
nm=$1
shift
bad=0
while (($# >= 2)); do
	lib=$1 re=$2
	shift 2
	# Defined, global: code, data, bss, read-only data.
	# Left out: AddressSanitizer's one-definition-rule markers
	# (__odr_asan.<global>), which a sanitizer build adds for every global.
	names=$("$nm" -g --defined-only "$lib" |
		awk 'NF == 3 && $2 ~ /^[TDBRVW]$/ && $3 !~ /^__odr_asan\./ { print $3 }' | sort -u)
	total=$(printf '%s\n' "$names" | grep -c . || true)
	offenders=$(printf '%s\n' "$names" | grep -Ev "$re" || true)
	if [ -n "$offenders" ]; then
		echo "FAIL: $(basename "$lib"): $(printf '%s\n' "$offenders" | grep -c .) of $total exported symbols lack the prefix ($re):" >&2
		printf '%s\n' "$offenders" | sed 's/^/  /' >&2
		bad=1
	else
		echo "$(basename "$lib"): all $total exported symbols match $re"
	fi
done
exit $bad
