"""python -m gonogo: check a batch from the editor or CI, without Airflow or a database.

The commands and exit codes are listed in _HELP, what `python -m gonogo --help` prints after
the usage line; gonogo.cli_commands runs them.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from gonogo.cli_commands import import_, lint, new_batch, plan
from gonogo.errors import GonogoError
from gonogo.tools import NAMES as TOOL_NAMES

USAGE_ERROR = 2
FORMATS = ("text", "json", "sarif", "github", "gitlab")
# what an install of the lint alone (pip install gonogo) lacks, and the extra that has it (pyproject.toml)
_EXTRAS = {"yaml": "batch", "jsonschema": "batch", "psycopg": "batch", "alembic": "alembic",
           "matplotlib": "report", "jinja2": "report"}

_LINT_EXIT_CODES = """\
exit codes:
  0  no error (warnings and notes do not fail the lint)
  1  an error found: the DAG's lint gate would stop the rollout
  2  a usage error, or input gonogo cannot read: a malformed manifest, a file that is not UTF-8,
     a syntax error (in a function body or DO block too), an empty or too large file; one line
     on stderr naming the file and line
"""

_HELP = """\
commands:
  lint PATH...      the DAG's static lint: of a batch's migrations and rollbacks, of .sql files,
                    of folders of them, or of a migration tool's folder as it is
  plan BATCH        the steps in the order the DAG applies them, with the lock each statement takes
  import TOOL DIR   a batch from your migration tool's folder (prisma, flyway, golang-migrate,
                    dbmate, sqitch, alembic): steps, how each runs, its rollback
  new-batch NAME    a new batch folder that lint, plan and the DAG accept as written
  (python -m gonogo COMMAND --help says more)

BATCH is a batch name under the batches directory (--batches-dir, else GONOGO_BATCHES_DIR,
else include/batches) or the path of a batch folder. A lint PATH is a BATCH, a .sql file, a
folder of .sql files (each file a step of its own, run statement by statement) or a migration
tool's folder (prisma, flyway, golang-migrate, dbmate, sqitch, alembic; read from its layout).
Options go anywhere: before the command, between or after the paths.

exit codes: 0 done (lint: no error; warnings and notes do not count), 1 lint found an error,
            2 a usage error or input gonogo cannot read (a malformed manifest, a file that is not
            UTF-8, a syntax error, an empty or too large file): one line naming the file and line

examples:
  python -m gonogo lint my_batch
  python -m gonogo lint --format json path/to/my_batch > lint.json
  python -m gonogo lint db/migrations/20250301_add_index.sql prisma/migrations --format github
  python -m gonogo plan my_batch --enable 20250301120000_drop_legacy_column
  python -m gonogo new-batch user_tags
  python -m gonogo import prisma ../app/prisma/migrations --write include/batches
  GONOGO_PRODUCTION_URL=postgresql://... python -m gonogo import prisma ../app/prisma/migrations \
      --production-env GONOGO_PRODUCTION_URL
"""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "lint" and not any(e.startswith("-") for e in extra):
        args.paths += extra  # lint a.sql --format json b.sql: the paths after an option
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.format not in args.formats:
        parser.error(f"{args.command} --format: {args.format} is not one of {', '.join(args.formats)}")
    try:
        return args.run(args)
    except GonogoError as exc:
        print(f"gonogo {args.command}: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except ModuleNotFoundError as exc:
        if exc.name not in _EXTRAS:
            raise
        print(f"gonogo {args.command}: this needs {exc.name}, which the lint alone does not install: "
              f"pip install 'gonogo[{_EXTRAS[exc.name]}]'", file=sys.stderr)
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
    production = argparse.ArgumentParser(add_help=False)
    production.add_argument("--production-env", metavar="VAR",
                            help="an environment variable holding production's URL (never the URL itself on the "
                                 "command line): for a batch from a migration tool, only the migrations "
                                 "production's tool history has not applied, as the DAG takes them")

    # Options every command shares go before the command too (python -m gonogo --batches-dir DIR
    # lint X): on the main parser with their defaults, and on each command's without, so that an
    # absent option does not overwrite what was given before the command.
    def shared(parser: argparse.ArgumentParser, **default) -> tuple[argparse.ArgumentParser, ...]:
        where = argparse.ArgumentParser(add_help=False) if not default else parser
        where.add_argument("--batches-dir", type=Path, metavar="DIR", default=default.get("batches_dir", argparse.SUPPRESS),
                           help="where batches live (default: GONOGO_BATCHES_DIR, else include/batches)")
        output = argparse.ArgumentParser(add_help=False) if not default else parser
        output.add_argument("--format", choices=FORMATS, default=default.get("format", argparse.SUPPRESS),
                            help="text for people (default), json for CI; lint also: sarif (SARIF 2.1.0), "
                                 "github (Actions annotations), gitlab (Code Quality report)")
        return where, output

    shared(parser, batches_dir=None, format="text")
    where, output = shared(argparse.ArgumentParser(add_help=False))

    def command(name: str, run: Callable[[argparse.Namespace], int], parents: list[argparse.ArgumentParser],
                summary: str, description: str, formats: tuple[str, ...] = ("text", "json"),
                epilog: str | None = None) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=parents, help=summary, description=textwrap.fill(description, 98),
                                  epilog=epilog,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.set_defaults(run=run, formats=formats)
        return sub

    lint_cmd = command(
        "lint", lint, [where, production, output], "static lint of batches, .sql files and tools' folders",
        "The lint the DAG runs before it touches production: squawk plus gonogo's own lock rules. On a "
        "batch, every step's migration and rollback (disabled steps too); on a .sql file, the file as its "
        "migration tool runs it (one transaction or statement by statement), else statement by statement; "
        "on a folder, every .sql file under it, each a step of its own, a batch or a tool's folder met on "
        "the way linted as such; on a tool's folder (read from its layout), each migration and its "
        "down file. One line per error and warning: file:line, level, rule, the risk and what to do; "
        "robustness notes are counted (--notes lists them). Machine formats list them all, notes at the "
        "lowest severity.",
        formats=FORMATS, epilog=_LINT_EXIT_CODES)
    lint_cmd.add_argument("paths", nargs="+", metavar="PATH",
                          help="a batch name or folder, a .sql file, a folder of .sql files, or a migration "
                               "tool's folder")
    lint_cmd.add_argument("--notes", action="store_true",
                          help="list the robustness notes too (statements not re-runnable), not only their count")
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

