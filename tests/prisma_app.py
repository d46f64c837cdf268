"""The Prisma tracker app of the tests (tests/corpus/prisma/tracker): its folders, a database
brought to its first migrations exactly as `prisma migrate deploy` leaves it, and the real
Prisma CLI's `migrate status` of it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
from pathlib import Path

TESTS = Path(__file__).resolve().parent
TRACKER = TESTS / "corpus" / "prisma" / "tracker"
MIGRATIONS = TRACKER / "prisma" / "migrations"
APPLIED = ["20240105120000_init", "20240210093000_add_comments"]
PENDING = ["20240301100000_add_labels", "20240315080000_issue_estimates"]
CLI = TESTS / "tools" / "prisma"


def deploy_as_prisma_does(conn, folder: Path, names: list[str]) -> None:
    """What `prisma migrate deploy` does, written from Prisma's documented table layout (not
    gonogo's code): each migration.sql sent as one query (one implicit transaction), then its
    row with the sha256 of the file."""
    conn.execute('CREATE TABLE IF NOT EXISTS "_prisma_migrations" ("id" VARCHAR(36) PRIMARY KEY NOT NULL, '
                 '"checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ, "migration_name" VARCHAR(255) NOT NULL, '
                 '"logs" TEXT, "rolled_back_at" TIMESTAMPTZ, "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), '
                 '"applied_steps_count" INTEGER NOT NULL DEFAULT 0)')
    for name in names:
        raw = (folder / name / "migration.sql").read_bytes()
        conn.execute(raw.decode())
        conn.execute('INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, started_at, '
                     'applied_steps_count) VALUES (%s, %s, now(), %s, now(), 1)',
                     [str(uuid.uuid4()), hashlib.sha256(raw).hexdigest(), name])


def prisma_cli() -> Path:
    """Prisma 6.19.3 from tests/tools/prisma (npm ci when missing): its schema engine is in the
    package, so it runs without downloading one (7.x cannot, here)."""
    binary = CLI / "node_modules" / ".bin" / "prisma"
    if not binary.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CLI, check=True, capture_output=True,
                       timeout=300)
    return binary


def prisma_status(project: Path, target) -> subprocess.CompletedProcess:
    """`prisma migrate status` for a project folder holding prisma/ as the team has it, through the
    CLI's own JS engine (its native one would be downloaded): the config file says so."""
    (project / "prisma.config.ts").write_text(
        'import { defineConfig } from "prisma/config";\n'
        'import { PrismaPg } from "@prisma/adapter-pg";\n'
        'export default defineConfig({\n'
        '  experimental: { adapter: true },\n  engine: "js",\n  schema: "prisma/schema.prisma",\n'
        '  migrations: { path: "prisma/migrations" },\n'
        '  adapter: async () => new PrismaPg({ connectionString: process.env.DATABASE_URL!, idleTimeoutMillis: 100 }),\n'
        '});\n')
    dummy = project / "no-native-engine"
    dummy.write_text("")
    env = {**os.environ, "DATABASE_URL": f"postgresql://{target.user}:{target.password}@{target.host}:{target.port}/"
                                         f"{target.dbname}", "CHECKPOINT_DISABLE": "1",
           "PRISMA_QUERY_ENGINE_LIBRARY": str(dummy), "PRISMA_SCHEMA_ENGINE_BINARY": str(dummy),
           "NODE_PATH": str(CLI / "node_modules")}
    if not (project / "node_modules").exists():
        (project / "node_modules").symlink_to(CLI / "node_modules")  # where the config's imports resolve
    return subprocess.run([str(prisma_cli()), "migrate", "status"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=120)
