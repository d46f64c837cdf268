"""python -m gonogo: check a batch from the editor or CI, without Airflow or a database.

The commands and exit codes are listed in _HELP, what `python -m gonogo --help` prints after
the usage line; gonogo.cli_commands runs them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from gonogo.cli_commands import import_, lint, new_batch, plan
from gonogo.errors import GonogoError
from gonogo.tools import NAMES as TOOL_NAMES

USAGE_ERROR = 2

_HELP = """\
commands:
  lint BATCH        the DAG's static lint of every migration and rollback
  plan BATCH        the steps in the order the DAG applies them, with the lock each statement takes
  import TOOL DIR   a batch from your migration tool's folder (prisma, flyway, golang-migrate,
                    dbmate, sqitch, alembic): steps, how each runs, its rollback
  new-batch NAME    a new batch folder that lint, plan and the DAG accept as written
  (python -m gonogo COMMAND --help says more)

BATCH is a batch name under the batches directory (--batches-dir, else GONOGO_BATCHES_DIR,
else include/batches) or the path of a batch folder.

exit codes: 0 done (lint: no error), 1 lint found an error, 2 a usage or batch error

examples:
  python -m gonogo lint my_batch
  python -m gonogo lint --format json path/to/my_batch > lint.json
  python -m gonogo plan my_batch --enable 20250301120000_drop_legacy_column
  python -m gonogo new-batch user_tags
  python -m gonogo import prisma ../app/prisma/migrations --write include/batches
  GONOGO_PRODUCTION_URL=postgresql://... python -m gonogo import prisma ../app/prisma/migrations \
      --production-env GONOGO_PRODUCTION_URL
"""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except GonogoError as exc:
        print(f"gonogo {args.command}: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:  # e.g. `plan ... | head`: the reader left, nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gonogo", usage="%(prog)s [-h] COMMAND ...", epilog=_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Check a gonogo migration batch the way the rollout DAG will, without Airflow "
                    "or a database.")
    # listed in _HELP, with their arguments (argparse's own listing misaligns 'new-batch')
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help=argparse.SUPPRESS)

    batch = argparse.ArgumentParser(add_help=False)
    batch.add_argument("batch", metavar="BATCH", help="a batch name under the batches directory, or a batch folder")
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--batches-dir", type=Path, metavar="DIR",
                       help="where batches live (default: GONOGO_BATCHES_DIR, else include/batches)")
    production = argparse.ArgumentParser(add_help=False)
    production.add_argument("--production-env", metavar="VAR",
                            help="an environment variable holding production's URL (never the URL itself on the "
                                 "command line): for a batch from a migration tool, only the migrations "
                                 "production's tool history has not applied, as the DAG takes them")
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--format", choices=("text", "json"), default="text",
                        help="text for people (default), json for CI")

    def command(name: str, run: Callable[[argparse.Namespace], int], parents: list[argparse.ArgumentParser],
                summary: str, description: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=parents, help=summary, description=description)
        sub.set_defaults(run=run)
        return sub

    command("lint", lint, [batch, where, production, output], "static lint of every migration and rollback",
            "The lint the DAG runs before it touches production: squawk plus gonogo's own lock rules, "
            "on every step's migration and rollback (disabled steps too). One line per finding: "
            "file:line, level, rule, the risk and what to do. Exit 1 when any finding is an error "
            "(the DAG's lint gate would FAIL), else 0.")
    plan_cmd = command(
        "plan", plan, [batch, where, production, output], "the steps in the DAG's order, with their locks",
        "The steps in the order the DAG applies them: kind, migration and rollback files, enabled or "
        "why not, and the table lock every statement takes. Statements whose lock makes the app's "
        "reads or writes wait are marked '!'. Read from the files alone; the dry run on staging "
        "measures how long each lock is really held.")
    plan_cmd.add_argument("--enable", action="append", default=[], metavar="STEP",
                          help="plan with this disabled step enabled, as the DAG's enable_steps does "
                               "(repeatable)")
    import_cmd = command(
        "import", import_, [production, output], "a batch from your migration tool's folder",
        "Read the migrations of your tool's folder as gonogo runs them: in the tool's order, files "
        "untouched, each in one transaction or statement by statement as the tool runs it, its rollback "
        "the tool's down file or gonogo's draft (marked drafted). With --production-env, only what "
        "production's tool history has not applied, and exit 2 when one of those needs a rollback "
        "written by hand (each statement named with its file and line) or the history stops it (failed, "
        "edited); without it, every migration is listed, with the rollbacks each would need.")
    import_cmd.add_argument("tool", metavar="TOOL", choices=list(TOOL_NAMES),
                            help=f"one of {', '.join(TOOL_NAMES)}")
    import_cmd.add_argument("folder", metavar="FOLDER", type=Path, help="the tool's migrations folder")
    import_cmd.add_argument("--write", type=Path, metavar="DIR",
                            help="write a batch folder into DIR: manifest.yaml pointing at FOLDER, and the drafted "
                                 "rollbacks as files to review (never overwrites)")
    new_cmd = command(
        "new-batch", new_batch, [where], "scaffold a new batch folder",
        "Create <batches dir>/<YYYYMMDD>_<NAME>/ with manifest.yaml, a first migration and its "
        "rollback: valid as written (lint and plan accept it), with comments that say what to "
        "write. An existing folder is never overwritten.")
    new_cmd.add_argument("name", metavar="NAME",
                         help="lower-case words joined by underscores (user_tags); today's date is "
                              "put in front unless NAME starts with one (20250301_user_tags)")
    return parser

