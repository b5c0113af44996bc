#!/bin/bash
# progress: with stderr on a terminal (script(1) gives one), a big import
# draws a progress line on stderr, with the amount done, the total and a
# rate; stdout (a file here) gets the result line only.  Without a terminal,
# or with -q, nothing at all goes to stderr.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v script >/dev/null || skip 'script (util-linux) is not installed'

mkdir -p "$T/big"
head -c 150000000 /dev/urandom >"$T/big/big.bin" || die 'no random data'
tar -C "$T/big" --numeric-owner -cf "$T/big.tar" big.bin
rm "$T/big/big.bin"
mkimage docker "$T/big.docker.tar" --image "bigdock:1=$T/big.tar" >/dev/null

# on_tty NAME ARGS...: `strata import --root $R ARGS...` under script(1),
# stdout to $T/NAME.out; what the terminal got (stderr only) in $T/NAME.tty.
on_tty() {
	local name=$1 cmd
	shift
	printf -v cmd '%q ' "$STRATA" import --root "$R" "$@"
	script -q -e -c "$cmd >$(printf '%q' "$T/$name.out")" "$T/$name.log" </dev/null >/dev/null 2>&1
	TTY_RC=$?
	# script's own header and footer lines are not the command's.
	grep -av '^Script \(started\|done\) on ' "$T/$name.log" >"$T/$name.tty" || true
}

# progress_ok WHAT NAME: the terminal shows progress lines with a rate and
# ends with the line cleared; stdout has only the result.
progress_ok() {
	local what=$1 name=$2 lines
	assert_eq "$what: exit" 0 "$TTY_RC"
	# Each redraw is "\r\e[K..." on one line: split them.
	lines=$(tr '\r' '\n' <"$T/$name.tty" | sed 's/\x1b\[K//g' | grep -a .) || true
	log "$what: $(wc -l <<<"$lines") progress lines, the last: $(tail -n 1 <<<"$lines")"
	if grep -aqE '^importing: [0-9.]+ [kMG]?B / [0-9.]+ [kMG]?B  [0-9.]+ [kMG]?B/s' <<<"$lines"; then
		pass
	else
		fail "$what: no progress line with done / total and a rate on the terminal: $(head -c 300 "$T/$name.tty" | cat -v)"
	fi
	assert_true "$what: the last line shows the whole size" \
		grep -aqE '^importing: ([0-9.]+ [kMG]?B) / \1 ' <<<"$(tail -n 1 <<<"$lines")"
	assert_true "$what: the line is cleared at the end" \
		grep -aq $'\r\x1b\\[K\r*$' <<<"$(tail -c 20 "$T/$name.tty")"
	assert_eq "$what: stdout has the result only" 1 "$(wc -l <"$T/$name.out")"
	assert_false "$what: no escape sequence on stdout" grep -aq $'\x1b' "$T/$name.out"
}

on_tty tar "$T/big.tar"
progress_ok 'bare tar on a terminal' tar
assert_eq 'bare tar on a terminal: result' "big:latest" "$(awk '{ print $2 }' "$T/tar.out")"
on_tty dock "$T/big.docker.tar"
progress_ok 'docker-archive on a terminal' dock

# -q on a terminal: nothing.
ok 'rmi' rmi big bigdock:1
ok 'gc' gc
on_tty quiet -q "$T/big.tar"
assert_eq '-q on a terminal: exit' 0 "$TTY_RC"
assert_eq '-q on a terminal: nothing on the terminal' '' "$(tr -d '\r\n' <"$T/quiet.tty")"
assert_eq '-q on a terminal: the result on stdout' 1 "$(wc -l <"$T/quiet.out")"

# No terminal: nothing on stderr, with or without -q.
ok 'rmi' rmi big
ok 'gc' gc
"$STRATA" import --root "$R" "$T/big.tar" >"$T/notty.out" 2>"$T/notty.err" || fail 'import without a terminal'
assert_eq 'no terminal: nothing on stderr' 0 "$(stat -c %s "$T/notty.err")"
assert_eq 'no terminal: the result on stdout' 1 "$(wc -l <"$T/notty.out")"
ok 'rmi' rmi big
ok 'gc' gc
"$STRATA" import -q --root "$R" "$T/big.tar" >"$T/notty.out" 2>"$T/notty.err" || fail 'import -q without a terminal'
assert_eq 'no terminal, -q: nothing on stderr' 0 "$(stat -c %s "$T/notty.err")"
assert_fsck_clean 'at the end'
store_finish
