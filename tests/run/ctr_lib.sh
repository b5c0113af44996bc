# shellcheck shell=bash
# What the container tests share, sourced after ../integration/lib.sh: the
# stores of root and of uid 65534, and finding a container's sleep by its
# unique length (NAP, set by the test, unique to the run).

# The unprivileged user's store and home, and /dev/fuse for it.
ctr_stores_setup() {
	chmod 0666 /dev/fuse
	mkdir -p "$T/store-user" "$T/home"
	chown 65534:65534 "$T/store-user" "$T/home"
	chmod 0755 "$T"
}
alive() { pgrep -xf "sleep $1" >/dev/null; }
gone() { ! alive "$1"; }
command_pid() { pgrep -xf "sleep $1" | head -n 1; }
# Field $2 of /proc/PID/status, PID $1.
status_field() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
# The command line prefix strata_as uses for WHO $1, as words.
as_who() {
	if [ "$1" = root ]; then
		echo "env STRATA_ROOT=$T/store-root"
	else
		echo "setpriv --reuid 65534 --regid 65534 --clear-groups env HOME=$T/home STRATA_ROOT=$T/store-user"
	fi
}
