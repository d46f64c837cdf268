"""Prints its own argv as the kernel has it (/proc/self/cmdline, what `ps` shows every user)
and writes it to $ARGV_FILE, then connects with DATABASE_URL: the login reached it some other way."""

import os
from pathlib import Path

import psycopg

cmdline = Path("/proc/self/cmdline").read_bytes()
Path(os.environ["ARGV_FILE"]).write_bytes(cmdline)
print("argv:", cmdline.replace(b"\0", b" ").decode())
with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    print("connected as", conn.execute("SELECT current_user").fetchone()[0])
