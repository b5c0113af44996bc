# shellcheck shell=bash
# Sourced by tests that give uid 65534 a subordinate id range: saves
# /etc/subuid and /etc/subgid, changes them with subids_set, and puts them
# back exactly (content, mode, owner, mtime; absent if they were absent) at
# exit, with /dev/fuse's mode, before lib.sh's cleanup.  Needs lib.sh's $T
# and cleanup.

SUBID_FILES=(/etc/subuid /etc/subgid)
SAVED=$T/subid-saved
mkdir -p "$SAVED"
for f in "${SUBID_FILES[@]}"; do
	if [ -e "$f" ]; then cp -a "$f" "$SAVED/${f##*/}"; fi
done
SUBIDS_CHANGED=

# subids_restore: puts back what the files were.
subids_restore() {
	local f b
	if [ -n "$SUBIDS_CHANGED" ]; then
		for f in "${SUBID_FILES[@]}"; do
			b=$SAVED/${f##*/}
			if [ -e "$b" ]; then
				cat "$b" >"$f"
				chown --reference="$b" "$f"
				chmod --reference="$b" "$f"
				touch -r "$b" "$f"
			else
				rm -f "$f"
			fi
		done
		SUBIDS_CHANGED=
	fi
}

FUSE_MODE=$(stat -c %a /dev/fuse)
restore_all() {
	local rc=$?
	set +e
	subids_restore
	chmod "$FUSE_MODE" /dev/fuse 2>/dev/null || true
	(exit "$rc")
	cleanup
}
trap restore_all EXIT

# subids_set ENTRY: the files as they were, without any line for uid 65534
# (by number or name, from an earlier run or the host), plus ENTRY (none
# when empty).
subids_set() {
	local f b
	SUBIDS_CHANGED=1
	for f in "${SUBID_FILES[@]}"; do
		b=$SAVED/${f##*/}
		{
			if [ -e "$b" ]; then grep -Ev '^(65534|nobody):' "$b" || true; fi
			if [ -n "$1" ]; then printf '%s\n' "$1"; fi
		} >"$f"
		if [ -e "$b" ]; then chmod --reference="$b" "$f"; else chmod 0644 "$f"; fi
	done
}
