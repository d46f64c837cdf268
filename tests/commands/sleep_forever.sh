#!/bin/sh
# Hangs, as a test waiting on a lock would, with a child of its own (a server it started);
# its pid goes to $CHILD_PID_FILE. IGNORE_TERM=1: it ignores SIGTERM, as some runners do.
[ "${IGNORE_TERM:-0}" = 1 ] && trap '' TERM
sleep 300 &
echo $! > "$CHILD_PID_FILE"
echo "started a child, now waiting"
sleep 300
