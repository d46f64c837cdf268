"""`make ui` / `make stop`: the Airflow UI on 127.0.0.1 against the local clusters.

start: the local production and staging clusters (sample app loaded on first use) — or your
databases, with GONOGO_PRODUCTION_URL and GONOGO_STAGING_URL set —, the local
Slack stand-in, and `airflow standalone` with the DAG visible and unpaused, a parallelism
that suits 2 cores, and a login printed at the end. stop: all of it, and the clusters.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT / "include"), str(PROJECT / "plugins")]

from gonogo_local.cluster import free_port  # noqa: E402
from gonogo.errors import TargetError  # noqa: E402
from gonogo.batches import available_batches, outlines  # noqa: E402
from gonogo.tools import NAMES as TOOLS  # noqa: E402
from gonogo_airflow import ids  # noqa: E402
from gonogo_airflow.localstack import LocalStack, NamedDatabases  # noqa: E402

BIN = Path(sys.executable).parent
USER = "admin"
# Two more logins, the members of the approver group @dba: four eyes refuses the approval of the
# person who triggered the run, and a batch may need two approvals from different people.
APPROVERS = ("approver", "approver2")
GROUPS = {"dba": list(APPROVERS)}
HEALTHY_WITHIN = 420  # seconds Airflow standalone gets to report a healthy scheduler


def _spawn(argv: list[str], env: dict, log: Path, pidfile: Path) -> int:
    # umask 077: what the stack writes (Airflow's metadata database, logs, the Slack log) is the user's alone
    with os.fdopen(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT,
                                start_new_session=True, umask=0o077)  # its own process group: stopped as one
    pidfile.write_text(str(proc.pid))
    return proc.pid


def _stop(pidfile: Path, name: str) -> None:
    if not pidfile.is_file():
        return
    pgid = int(pidfile.read_text())
    for sig, wait in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.3)
        else:
            continue
        break
    pidfile.unlink(missing_ok=True)
    print(f"stopped {name}")


def start(scale: float = 1.0) -> int:
    stack = NamedDatabases.from_env()
    if stack:  # your databases (GONOGO_PRODUCTION_URL, GONOGO_STAGING_URL)
        production, staging = stack.targets()
        print(f"your databases: production {production.describe()}, staging {staging.describe()}")
    else:
        stack = LocalStack.default()
        stack.start()
        production, _ = stack.targets()
        try:
            production.connect("ui", guards=None).close()
        except TargetError:
            print(f"loading the sample app at scale {scale:g} into local production (first start)")
            stack.load_app(scale=scale, workload_seconds=10)

    state = stack.state
    stack.artifacts.mkdir(parents=True, exist_ok=True)
    slack_port, api_port = free_port(), free_port()
    _spawn([str(BIN / "python"), "-m", "gonogo_local.slack", "--port", str(slack_port),
            "--log", str(stack.artifacts / "slack-ui.jsonl")], dict(os.environ), state / "slack.log",
           state / "slack.pid")

    home = state / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    passwords = home / "ui_passwords.json"
    logins = json.loads(passwords.read_text()) if passwords.is_file() else {}
    if set(logins) != {USER, *APPROVERS}:
        passwords.write_text(json.dumps({name: logins.get(name) or secrets.token_urlsafe(12)
                                         for name in (USER, *APPROVERS)}))
        passwords.chmod(0o600)
    base_url = f"http://127.0.0.1:{api_port}"
    env = {**os.environ, **stack.airflow_env(slack_api_url=f"http://127.0.0.1:{slack_port}/api/"),
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{name}:admin" for name in (USER, *APPROVERS)),
           "AIRFLOW_VAR_GONOGO_GROUPS": json.dumps(GROUPS),  # the Variable gonogo_groups: approvers "@dba"
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
           "AIRFLOW__API__PORT": str(api_port),
           "AIRFLOW__API__BASE_URL": base_url,
           "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
           "AIRFLOW__CORE__PARALLELISM": "4",
           "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # standalone runs `airflow ...`
    for args in (["db", "migrate"], ["dags", "reserialize"]):
        subprocess.run([str(BIN / "airflow"), *args], env=env, check=True, capture_output=True, cwd=PROJECT)
    _spawn([str(BIN / "airflow"), "standalone"], env, state / "airflow-standalone.log", state / "airflow.pid")

    # about 30 s on an idle machine; minutes when the machine is busy (a CI running tests beside it)
    deadline = time.monotonic() + HEALTHY_WITHIN
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base_url}/api/v2/monitor/health", timeout=2) as response:
                if json.load(response)["scheduler"]["status"] == "healthy":
                    break
        except (OSError, KeyError, ValueError):
            pass
        time.sleep(1)
    else:
        print(f"Airflow did not become healthy within {HEALTHY_WITHIN} s: read {state / 'airflow-standalone.log'}")
        return 1
    subprocess.run([str(BIN / "airflow"), "dags", "unpause", "--treat-dag-id-as-regex", "--yes", "^gonogo_"],
                   env=env, capture_output=True)
    login = json.loads(passwords.read_text())
    print(f"Airflow UI: {base_url}/dags/gonogo_rollout  (login {USER} / {login[USER]})")
    drawn, not_drawn = outlines()
    for outline in drawn:
        print(f"Batch {outline.id}, each migration a node of its own: {base_url}/dags/{ids.batch_dag(outline.id)}")
    for problem in not_drawn:  # no DAG of its own: no link to a page that does not exist
        print(f"Not drawn as a DAG of its own (roll it out from gonogo_rollout): {problem}")
    for name in APPROVERS:
        print(f"Approve as another person (four eyes: not the one who triggered the run): login {name} / {login[name]}")
    print("Approver group @dba (the Variable gonogo_groups): " + ", ".join(GROUPS["dba"]))
    print(f"Batches in the trigger form: {', '.join(available_batches()) or 'none'} "
          f"(or a migration tool's folder: {', '.join(TOOLS)})")
    print(f"Slack messages land in {stack.artifacts / 'slack-ui.jsonl'}; stop everything with `make stop`.")
    return 0


def stop() -> int:
    stack = LocalStack.default()
    _stop(stack.state / "airflow.pid", "airflow standalone")
    _stop(stack.state / "slack.pid", "local Slack")
    for name in stack.stop():
        print(f"stopped cluster {name}")
    return 0


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Airflow UI on the local clusters (make ui), or stop it (make stop)")
    parser.add_argument("command", nargs="?", choices=("start", "stop"), default="start")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="sample app size loaded into local production on the first start (default 1)")
    args = parser.parse_args()
    sys.exit(start(args.scale) if args.command == "start" else stop())
