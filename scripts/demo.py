"""`make demo`: the whole rollout DAG with `dag.test()`, on local clusters or on your databases.

Without GONOGO_PRODUCTION_URL (the embedded local default): starts a local "production" (WAL
archived) and "staging" cluster, loads the sample app into production, runs its workload so
pg_stat_statements has a baseline, and rolls out the sample app's batch; the approval is
answered Approve by a clearly labelled stand-in for the human approver.

With GONOGO_PRODUCTION_URL and GONOGO_STAGING_URL (your databases): rolls out the batch you name
(--batch NAME, or --import TOOL FOLDER for your migration tool's folder) against them. The
stand-in approver answers Reject unless you pass --answer approve: by default the run rehearses
everything on staging, writes the Go/No-Go report and leaves production untouched.

Slack goes to a local stand-in server; every message it got is printed at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT / "include"), str(PROJECT / "plugins")]

import sample_app  # noqa: E402
from gonogo.artifacts import run_path  # noqa: E402
from gonogo.batch import load_batch  # noqa: E402
from gonogo.batches import available_batches  # noqa: E402
from gonogo_local.slack import LocalSlack  # noqa: E402
from gonogo.tools import NAMES as TOOLS  # noqa: E402
from gonogo_airflow import local  # noqa: E402
from gonogo_airflow.localstack import LocalStack, NamedDatabases  # noqa: E402


def main() -> int:
    os.umask(0o077)  # Airflow's metadata database, the reports, the Slack log: this user's alone
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="your databases: GONOGO_PRODUCTION_URL=postgresql://... "
                                            "GONOGO_STAGING_URL=postgresql://... make demo DEMO_ARGS='--import "
                                            "prisma ../app/prisma/migrations'")
    parser.add_argument("--batch", help=f"a batch under the batches directory ({', '.join(available_batches())}), "
                                        f"or the path of a batch folder (`python -m gonogo import ... --write DIR` "
                                        f"writes one)")
    parser.add_argument("--import", dest="source", nargs=2, metavar=("TOOL", "FOLDER"),
                        help=f"your migration tool's folder instead of a batch ({', '.join(TOOLS)})")
    parser.add_argument("--answer", choices=("approve", "reject"),
                        help="what the stand-in approver answers (local default: approve; your databases: reject)")
    parser.add_argument("--scale", type=float, default=1.0, help="sample app size on the local clusters")
    parser.add_argument("--watch-minutes", type=float, default=0.5, help="watch window length")
    parser.add_argument("--reject", action="store_true", help="same as --answer reject")
    args = parser.parse_args()
    started = time.monotonic()

    yours = NamedDatabases.from_env()
    if yours:
        stack, answer = yours, args.answer or "reject"
        production, staging = yours.targets()
        print(f"== your databases: production {production.describe()}, staging {staging.describe()} "
              f"(staging's database is dropped and recreated)")
        app = None
    else:
        stack, answer = LocalStack.default(), args.answer or "approve"
        print(f"== local clusters under {stack.base}")
        prod, staging = stack.start()
        production, staging_target = stack.targets()
        for cluster, target, what in ((prod, production, f"WAL archived to {prod.archive_dir}"),
                                      (staging, staging_target, "its database is dropped and recreated by each run")):
            state = cluster.root / "cluster.json"
            print(f"   {cluster.name}: postgresql://{target.user}:***@{target.host}:{target.port}/{target.dbname} "
                  f"({what}); password: python3 -c \"import json; print(json.load(open('{state}'))['password'])\"")
        print(f"== loading the sample app at scale {args.scale} into production and running its workload")
        counts, stats = stack.load_app(scale=args.scale, workload_seconds=10)
        print(f"   {sum(counts.values()):,} rows in {len(counts)} tables; workload: {stats.calls:,} queries, "
              f"{stats.errors} errors")
        production, _ = stack.targets()
        app = load_batch(sample_app.BATCH).queries  # the sample app keeps querying production meanwhile
    if args.reject:
        answer = "reject"
    conf = {"monitoring_hours": args.watch_minutes / 60}
    if args.source:
        conf.update(migration_tool=args.source[0], migrations_folder=str(Path(args.source[1]).resolve()))
    elif args.batch and (Path(args.batch) / "manifest.yaml").is_file():
        # a batch folder written anywhere (import --write): the run reads batches from its parent
        folder = Path(args.batch).resolve()
        os.environ["GONOGO_BATCHES_DIR"] = str(folder.parent)
        conf["batch"] = folder.name
    else:
        conf["batch"] = args.batch or (sample_app.BATCH if not yours else "")
        if not conf["batch"]:
            parser.error(f"name the batch (--batch, one of: {', '.join(available_batches()) or 'none'}) "
                         f"or your tool's folder (--import TOOL FOLDER)")
    print(f"   rolling out {conf.get('batch') or ' '.join(args.source)}")

    slack_log = stack.artifacts / "slack-demo.jsonl"
    stack.artifacts.mkdir(parents=True, exist_ok=True)
    with LocalSlack(log_path=slack_log) as slack:
        os.environ.update(stack.airflow_env(slack_api_url=slack.api_url))
        local.migrate_metadata_db()
        dag = local.load_dag()
        choice = answer.capitalize()
        print(f"== running {dag.dag_id} with dag.test()")
        print(f"   STAND-IN FOR A HUMAN: the approval will be answered '{choice}' automatically;"
              f" if a production step fails, on-call's question is answered 'Roll back'")
        answers = {"decide.approve_rollout": choice, "production.decide_on_failure": "Roll back",
                   "watch.decide_after_watch": "Roll back"}
        with local.app_traffic(production, app), local.Approver(dag.dag_id, answers, label="demo stand-in") as approver:
            dagrun = dag.test(run_conf=conf)
        messages = slack.messages

    print(f"\n== run {dagrun.run_id}: {dagrun.state}")
    states = {}
    for ti in sorted(dagrun.get_task_instances(), key=lambda t: (t.start_date or t.end_date or 0, t.task_id)):
        print(f"   {str(ti.state):16} {ti.task_id}")
        states[ti.task_id] = str(ti.state)
    if approver.answered:
        print("\n== what the approver saw (the approval task's body)\n")
        print(approver.answered[0]["body"])
    print(f"\n== Slack (local stand-in) got {len(messages)} messages:")
    for m in messages:
        print(f"   {m.get('channel')}: {m.get('text')}")
    # this run's folder only: an earlier run's report must not pass for this one's
    this_run = run_path(dag.dag_id, dagrun.run_id, stack.artifacts)
    report = this_run / "report.html"
    print(f"\n== results under {this_run.parent}:")
    if report.is_file():
        print(f"   Go/No-Go report: {report} (and report.md, report.json beside it)")
    else:
        # report_outcome fails whenever the run did not end as asked: the cause is the other one
        failed = [task for task, state in states.items() if state == "failed" and task != "report_outcome"]
        print(f"   no Go/No-Go report: this run stopped before writing one"
              + (f" ({', '.join(failed)} failed)" if failed else "")
              + "; each task's log is printed above (dag.test), the run's files are in " + str(this_run))
    print(f"   Slack log {slack_log}")
    print(f"   finished in {time.monotonic() - started:.0f} s"
          + ("" if yours else "; clusters still running (make stop to stop them)"))
    go = states.get("decide.evaluate_gates") == "success"
    where = "report" if report.is_file() else "failed task's log"
    if answer == "reject":  # what was asked: a Go, then the stand-in's Reject left production untouched
        ok = go and states.get("decide.approve_rollout") == "success"
        print(f"\n== {'GO' if go else 'NO-GO'}" + (": rehearsed, approval rejected, production untouched" if ok
                                                  else f": read the {where} above; production untouched"))
    else:  # what was asked: rolled out
        ok = str(dagrun.state) == "success"
        print(f"\n== {'ROLLED OUT' if ok else ('GO, but the rollout did not complete' if go else 'NO-GO')}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
