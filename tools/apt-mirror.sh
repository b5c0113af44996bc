#!/usr/bin/env bash
# apt-mirror.sh SUITE: prints the Debian mirror this machine's apt uses for
# SUITE (deb822 .sources or one-line .list files; security mirrors left
# out), so that scripts that debootstrap (bench/make-image.sh, the extended
# tests) fetch from where apt does and no mirror is written in the repo.
# STRATA_DEBIAN_MIRROR overrides it.  Exit 1, saying why, when there is none.
set -euo pipefail
suite=${1:?usage: apt-mirror.sh SUITE}
if [ -n "${STRATA_DEBIAN_MIRROR:-}" ]; then
	printf '%s\n' "$STRATA_DEBIAN_MIRROR"
	exit 0
fi
mirror=$(
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk -v suite="$suite" '
			/^[ \t]*#/ { next }
			/^deb[ \t]/ {
				for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/ && $i !~ /=/) break
				if ($(i + 1) == suite) { print $i; exit }
				next
			}
			/^[ \t]*$/ { if (uris != "" && suites ~ "(^| )" suite "( |$)" && types ~ /deb( |$)/) { print uris; exit } uris = suites = types = ""; next }
			/^URIs:/ { sub(/^URIs:[ \t]*/, ""); split($0, u, " "); uris = u[1] }
			/^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
			/^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0 }
			END { if (uris != "" && suites ~ "(^| )" suite "( |$)" && types ~ /deb( |$)/) print uris }
		' "$f"
	done | grep -E '^https?://' | grep -v -- '-security' | head -n 1 || true
)
if [ -z "$mirror" ]; then
	echo "apt-mirror.sh: no Debian mirror for $suite in /etc/apt/sources.list*; set STRATA_DEBIAN_MIRROR" >&2
	exit 1
fi
printf '%s\n' "$mirror"
