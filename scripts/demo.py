"""`make demo`: the whole rollout of the seed's batch on local throwaway clusters.

Starts a local "production" (WAL archived) and "staging" cluster, loads the recipe app
at scale 1 into production, runs the app's workload so pg_stat_statements has a
baseline, then runs the gonogo_rollout DAG end to end with `dag.test()`. The approval is
answered automatically by a stand-in for the human approver, clearly labelled. Slack goes
to a local stand-in server; every message it got is printed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT / "include"), str(PROJECT / "plugins")]

from gonogo.cluster import LocalCluster  # noqa: E402
from gonogo.local_slack import LocalSlack  # noqa: E402
from gonogo_airflow import local  # noqa: E402
from gonogo_airflow.localstack import LocalStack  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="recipe app size (1 = 100k RecipeItem rows)")
    parser.add_argument("--watch-minutes", type=float, default=0.5, help="watch window length")
    parser.add_argument("--reject", action="store_true", help="the stand-in approver clicks Reject")
    args = parser.parse_args()

    started = time.monotonic()
    stack = LocalStack.default()
    print(f"== local clusters under {stack.base}")
    prod, staging = stack.start()
    print(f"   production: 127.0.0.1:{prod.port} (WAL archived to {prod.archive_dir})")
    print(f"   staging:    127.0.0.1:{staging.port}")

    print(f"== loading the recipe app at scale {args.scale} into production and running its workload")
    counts, stats = stack.load_app(scale=args.scale, workload_seconds=10)
    print(f"   {sum(counts.values()):,} rows in {len(counts)} tables "
          f"({counts.get('RecipeItem', 0):,} RecipeItem); workload: {stats.calls:,} queries, "
          f"{stats.errors} errors")

    slack_log = stack.artifacts / "slack-demo.jsonl"
    with LocalSlack(log_path=slack_log) as slack:
        os.environ.update(stack.airflow_env(slack_api_url=slack.api_url))
        local.migrate_metadata_db()
        dag = local.load_dag()
        choice = "Reject" if args.reject else "Approve"
        print(f"== running {dag.dag_id} with dag.test()")
        print(f"   DEMO STAND-IN FOR A HUMAN: the approval will be answered '{choice}' automatically;"
              f" if a production step fails, on-call's question is answered 'Roll back'")
        answers = {"decide.approve_rollout": choice, "production.decide_on_failure": "Roll back"}
        from gonogo.batch import load_batch
        from gonogo.workload import Workload

        production, _ = stack.targets()
        print("   the app keeps querying production (2 clients, 0.2 s between rounds) for the whole run, as it would")
        with Workload(production, load_batch("20250115_recipe_fixes").queries, clients=2, app="demo/app",
                      think_seconds=0.2), \
                local.Approver(dag.dag_id, answers, label="demo stand-in") as approver:
            dagrun = dag.test(run_conf={"monitoring_hours": args.watch_minutes / 60})
        messages = slack.messages

    print(f"\n== run {dagrun.run_id}: {dagrun.state}")
    for ti in sorted(dagrun.get_task_instances(), key=lambda t: (t.start_date or t.end_date or 0, t.task_id)):
        print(f"   {str(ti.state):16} {ti.task_id}")
    if approver.answered:
        print("\n== what the approver saw (the approval task's body)\n")
        print(approver.answered[0]["body"])
    print(f"\n== Slack (local stand-in) got {len(messages)} messages:")
    for m in messages:
        print(f"   {m.get('channel')}: {m.get('text')}")
    run_dir = stack.artifacts / dag.dag_id
    reports = sorted(run_dir.glob("*/report.html"), key=lambda p: p.stat().st_mtime)
    print(f"\n== results under {run_dir}:")
    if reports:
        print(f"   Go/No-Go report: {reports[-1]} (and report.md, report.json beside it)")
    print(f"   snapshot and backup (pg_dump directories) beside it; Slack log {slack_log}")
    print(f"   finished in {time.monotonic() - started:.0f} s; clusters still running (make stop to stop them)")
    expected = "failed" if args.reject else "success"
    return 0 if str(dagrun.state) == expected else 1


if __name__ == "__main__":
    sys.exit(main())
