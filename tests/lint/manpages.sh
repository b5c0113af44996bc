#!/bin/bash
# manpages STRATA DOCS_DIR: every subcommand's --help and its man page
# docs/strata-X.1 name the same options.  An option (--long or -s) that
# `strata X --help` mentions must be documented in the OPTIONS section of
# strata-X.1 (as the tag of a .TP/.TQ item), and every option documented
# there must be mentioned in --help.  Prints every mismatch; exit 1 if any.
#
# -h/--help count as in --help when `strata X --help` and `strata X -h`
# both succeed and print the same (short usage texts do not list them).
set -euo pipefail
export LC_ALL=C

strata=${1:?usage: manpages.sh STRATA DOCS_DIR}
docs=${2:?usage: manpages.sh STRATA DOCS_DIR}
bad=0

mismatch() {
	printf '%s\n' "$*"
	bad=$((bad + 1))
}

# Options in text on stdin: --long and -s words, one per line, sorted.
# Only at a word start (space, bracket, parenthesis, comma, bar, quote).
options_in() {
	# Lookarounds, so that "[-R|--recursive]" yields both: the bar that
	# ends one option also starts the next.
	grep -oP "(?:^|(?<=[][ (,|\"']))(?:--[a-z0-9][a-z0-9-]*|-[A-Za-z0-9])(?=[^A-Za-z0-9-]|\$)" |
		sort -u
}

# The option tags of a man page's OPTIONS section: the line after each .TP
# or .TQ, with roff's escapes and font changes taken out.
man_options() {
	awk '
		/^\.SH/ { in_opts = ($0 ~ /^\.SH "?OPTIONS"?[ \t]*$/); next }
		!in_opts { next }
		/^\.T[PQ]/ { tag = 1; next }
		tag && /^\.\\"/ { next }
		tag { print; tag = 0 }
	' "$1" | sed -E 's/\\f(\[[^]]*\]|\(..|.)//g; s/\\-/-/g; s/\\%//g; s/\\&//g; s/^\.[A-Z]+ ?//; s/"/ /g' |
		options_in
}

cmds=$("$strata" --help | awk '/^Commands:/ { f = 1; next } /^[^ ]/ { f = 0 } f && NF { print $1 }')
[ -n "$cmds" ] || { echo "no commands in 'strata --help'"; exit 1; }

for f in "$docs"/strata-*.1; do
	c=$(basename "$f" .1)
	c=${c#strata-}
	grep -qxF -- "$c" <<<"$cmds" || mismatch "$f: no command '$c' in 'strata --help'"
done

for c in $cmds; do
	page=$docs/strata-$c.1
	if [ ! -f "$page" ]; then
		mismatch "strata $c: no man page $page"
		continue
	fi
	if ! help=$("$strata" "$c" --help 2>&1); then
		mismatch "strata $c --help: failed: $help"
		continue
	fi
	help_opts=$(options_in <<<"$help" || true)
	if short=$("$strata" "$c" -h 2>&1) && [ "$short" = "$help" ]; then
		help_opts=$(printf '%s\n%s\n%s\n' "$help_opts" -h --help | grep . | sort -u)
	fi
	man_opts=$(man_options "$page" || true)
	while read -r o; do
		[ -n "$o" ] || continue
		grep -qxF -- "$o" <<<"$man_opts" ||
			mismatch "strata $c: $o is in --help but not in the OPTIONS of $page"
	done <<<"$help_opts"
	while read -r o; do
		[ -n "$o" ] || continue
		grep -qxF -- "$o" <<<"$help_opts" ||
			mismatch "strata $c: $o is in the OPTIONS of $page but not in --help"
	done <<<"$man_opts"
done

if [ "$bad" -gt 0 ]; then
	echo "$bad mismatch(es) between --help and the man pages"
	exit 1
fi
echo "the options of --help and the man pages agree"
