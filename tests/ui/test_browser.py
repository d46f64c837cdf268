"""The operator's and the approver's whole job in a real headless Chromium, against the Airflow
that `make ui` starts (scripts/ui.py, its own clusters and Airflow home): trigger from the form,
read the Go/No-Go evidence on the approval page, click Approve or Reject, see how it ended.

Screenshots of the Grid view, the approval page and the report go to docs/screenshots/ (the
README shows them). Reject runs first: production is still at its pre-batch schema then.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright import sync_api as playwright_api

from gonogo_local.cluster import make_base_dir
from gonogo.apply import history, rollout_lock
from gonogo.reporting.report import evaluate
from gonogo.reporting.report_sections import BEFORE_APPROVAL, counts_by_phase
from gonogo.results import from_dicts
from gonogo_airflow.localstack import LocalStack
from helpers import apt_install, deadlock_in_the_watch_window, pg_dump_schema

# Each test waits on a real scheduler for a whole run (two, with its questions): more than the
# suite's 10 minutes a test must not end the session on a loaded machine.
pytestmark = pytest.mark.timeout(1800)

PROJECT = Path(__file__).resolve().parents[2]
SHOTS = PROJECT / "docs" / "screenshots"
DAG = "gonogo_rollout"
BATCH = "20250115_recipe_fixes"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    """Debian's chromium (and a colour emoji font, so the verdict icons show in the screenshots),
    installed with apt-get when missing. Playwright's own browser download is not used: it needs
    Playwright's CDN and a build for this distro."""
    missing = [package for package, present in (
        ("chromium", shutil.which("chromium")),
        ("fonts-noto-color-emoji", Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf").is_file())) if not present]
    if missing:
        apt_install(missing)
    return shutil.which("chromium") or pytest.fail("apt-get installed chromium but it is not on PATH")


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """`scripts/ui.py start` with its own clusters and state; stopped (and removed) afterwards."""
    clusters, state = make_base_dir("gonogo-ui-test-"), tmp_path_factory.mktemp("ui-state")
    env = {**os.environ, "GONOGO_LOCAL_DIR": str(clusters), "GONOGO_STATE_DIR": str(state)}
    for key in [k for k in env if k.startswith(("AIRFLOW_", "AIRFLOW__"))]:
        del env[key]  # the test session's in-process Airflow settings are not the UI's
    ui_py = [sys.executable, str(PROJECT / "scripts" / "ui.py")]
    try:
        # the recipe app at a tenth of make ui's size: the same flow, each run's copy and rehearsal quicker
        started = subprocess.run([*ui_py, "start", "--scale", "0.1"], env=env, capture_output=True, text=True, timeout=900)
        found = re.search(r"Airflow UI: (http://127\.0\.0\.1:\d+)/dags/\S+\s+\(login (\S+) / (\S+)\)", started.stdout)
        others = re.findall(r"Approve as another person .*: login (\S+) / (\S+)", started.stdout)
        group = re.search(r"Approver group (@\w+)", started.stdout)
        assert started.returncode == 0 and found and len(others) == 2 and group, started.stdout + started.stderr
        yield {"base": found[1], "user": found[2], "password": found[3], "approvers": others, "group": group[1],
               "stack": LocalStack(base=clusters, state=state)}
    finally:
        subprocess.run([*ui_py, "stop"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(clusters, ignore_errors=True)


# Every logged-in page. An Airflow page left open polls the API server every few seconds; on a
# loaded machine that slowed the server's answers to the workers past their timeout: a page not
# in use waits on about:blank (park).
_PAGES = []


def park(*pages) -> None:
    for page in pages or _PAGES:
        if not page.is_closed() and page.url != "about:blank":
            page.goto("about:blank")


def _login(launched, ui, user: str, password: str):
    page = launched.new_context(viewport={"width": 1440, "height": 900}).new_page()
    _PAGES.append(page)
    page.goto(f"{ui['base']}/dags/{DAG}")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(rf".*/dags/{DAG}.*"))
    return page


@pytest.fixture(scope="module")
def chromium_browser(ui):
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def browser(ui, chromium_browser):
    """The operator: triggers the runs (and may reject them)."""
    return _login(chromium_browser, ui, ui["user"], ui["password"])


@pytest.fixture(scope="module")
def approvers(ui, chromium_browser):
    """Two other people, the members of the approver group, each in a browser of their own."""
    return [_login(chromium_browser, ui, user, password) for user, password in ui["approvers"]]


def api(page, base: str, path: str, **params) -> dict:
    """Airflow's REST API with the browser's login cookie."""
    response = page.request.get(f"{base}/api/v2{path}", params=params)
    assert response.ok, f"{path}: {response.status} {response.text()}"
    return response.json()


def wait_for(what: str, check, timeout: float, every: float = 2.0, where=None):
    """check() until it returns something; on giving up, `where()` says where the run stood."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(every)
    pytest.fail(f"gave up after {timeout:.0f} s waiting for {what}" + (f"; {where()}" if where else ""))


def where_the_run_is(page, base: str, run_id: str) -> str:
    """The run's state and each task that has not succeeded, with its state: what a timeout
    message needs (a lost click, a stuck deferral and a slow machine look alike otherwise)."""
    run = api(page, base, f"/dags/{DAG}/dagRuns/{quote(run_id)}")
    tasks = api(page, base, f"/dags/{DAG}/dagRuns/{quote(run_id)}/taskInstances", limit=200)["task_instances"]
    return (f"run {run_id} is {run['state']}; tasks not succeeded: "
            + ", ".join(f"{t['task_id']}={t['state']}" for t in tasks if t["state"] != "success")
            + f"; runs not ended: {unended(page, base)}"
            + "".join(f"\n{t['task_id']} failed, its log ends: {log_tail(page, base, run_id, t)}"
                      for t in tasks if t["state"] == "failed"))


def log_tail(page, base: str, run_id: str, ti: dict, lines: int = 12) -> str:
    """The last lines of a task's log, from Airflow's API (why it failed, when nothing else says)."""
    path = (f"{base}/api/v2/dags/{DAG}/dagRuns/{quote(run_id)}/taskInstances/{ti['task_id']}"
            f"/logs/{max(1, ti.get('try_number') or 1)}")
    response = page.request.get(path, params={"full_content": "true"}, headers={"Accept": "application/json"})
    if not response.ok:
        return f"(no log: {response.status})"
    def line(e) -> str:  # a structured event, with its exception's type and text when it has one
        if not isinstance(e, dict):
            return str(e)
        errors = [f"{x.get('exc_type')}: {x.get('exc_value')}" for x in e.get("error_detail") or []]
        return " ".join([str(e.get("event")), *errors])

    content = response.json().get("content") or []
    loud = [e for e in content if isinstance(e, dict) and e.get("level") in ("warning", "error", "critical")]
    return " | ".join(line(e)[:500] for e in (loud or content)[-lines:])


def unended(page, base: str) -> list[str]:
    return [r["dag_run_id"] for r in api(page, base, f"/dags/{DAG}/dagRuns")["dag_runs"]
            if r["state"] in ("running", "queued")]


@pytest.fixture(autouse=True)
def no_run_left_running(ui, browser):
    """A test that fails mid-run fails its run too: the DAG takes one run at a time, and the next
    test's run would otherwise queue behind it and fail for a reason that is not its own."""
    yield
    park()
    for run_id in unended(browser, ui["base"]):
        ended = browser.request.patch(f"{ui['base']}/api/v2/dags/{DAG}/dagRuns/{quote(run_id)}", data={"state": "failed"})
        assert ended.ok, f"could not fail the run {run_id} a failed test left: {ended.status} {ended.text()}"
        # a run failed by hand skips its teardown: give production back as its release_rollout_lock would
        with ui["stack"].targets()[0].connect("tests/dba", guards=None) as conn:
            rollout_lock.release_lease(conn, run_id)


@pytest.fixture
def production_before_the_batch(ui):
    """A test that applies the batch starts from production without it: a test before it that
    failed half way (its run ended with the batch applied, never rolled back) fails alone, not
    this one too with "nothing to apply". The app is loaded again as `scripts/ui.py start` loads it."""
    production, _ = ui["stack"].targets()
    with production.connect("tests/dba", guards=None) as conn:
        left = {step: attempt.status for step, attempt in history.read(conn, BATCH).items()}
    if any(status != "rolled_back" for status in left.values()):
        print(f"production still has the batch a test before left ({left}): loading the app again")
        ui["stack"].load_app(scale=0.1, workload_seconds=10)


def trigger(page, base: str, watch_hours: float, approvers: str = "", approvals: int | None = None,
            rollback_executors: str = "") -> str:
    """Trigger a run from the UI's form with the batch typed in its field (the batches that
    exist are its suggestions), the approvers (one per line) and how many must approve; returns
    the run id."""
    before = {r["dag_run_id"] for r in api(page, base, f"/dags/{DAG}/dagRuns")["dag_runs"]}
    page.goto(f"{base}/dags/{DAG}")
    page.get_by_role("button", name="Trigger Dag").click()
    page.locator("#list_batch option").first.wait_for(state="attached", timeout=60_000)  # the form renders late under load
    assert page.locator("#list_batch option").evaluate_all("els => els.map(e => e.value)") == [BATCH]
    page.locator("#element_batch").fill(BATCH)
    assert page.locator("#element_migration_tool").count() == 1  # or a migration tool's folder instead
    watch = page.get_by_role("spinbutton").first  # the form's first number: the watch window (hours)
    assert watch.get_attribute("aria-valuenow") == "48"
    watch.fill(str(watch_hours))
    if approvers:
        page.locator("#element_approvers").fill(approvers)
    if approvals:
        page.locator("input[name=element_approvals_required]").fill(str(approvals))
    if rollback_executors:
        page.locator("#element_rollback_executors").fill(rollback_executors)
    page.get_by_role("button", name="Trigger", exact=True).click()
    return wait_for("the triggered run", lambda: next(
        (r["dag_run_id"] for r in api(page, base, f"/dags/{DAG}/dagRuns")["dag_runs"] if r["dag_run_id"] not in before),
        None), timeout=30, every=0.5)


def open_approval(page, base: str, run_id: str, task: str = "decide.approve_rollout", button: str = "Approve") -> dict:
    """Wait until a question of the run (the approval, or on-call's) asks, open its page; returns
    what it asks (its HITL detail)."""
    park(page)  # it is this page's turn next: no polling meanwhile
    detail = wait_for(f"{task} to wait for an answer", lambda: next(
        (d for d in api(page, base, "/dags/~/dagRuns/~/hitlDetails", dag_id_pattern=DAG,
                        response_received=False)["hitl_details"]
         if d["task_instance"]["dag_run_id"] == run_id and d["task_instance"]["task_id"] == task), None), timeout=600,
        where=lambda: where_the_run_is(page, base, run_id))
    # An answer within a second or two of the pause can reach the task before the scheduler has
    # processed the pausing process's exit, and Airflow 3.3 then fails the resumed task ("state
    # changed externally"): answer as a person would, after reading for a while.
    time.sleep(10)
    page.goto(f"{base}/dags/{DAG}/runs/{quote(run_id)}/tasks/{task}/required_actions")
    page.get_by_role("button", name=button, exact=True).wait_for(timeout=60_000)
    return detail


def assert_shows_the_evidence(page, detail: dict) -> None:
    """The approval page shows the Go/No-Go summary the DAG wrote: its headline verdict and each
    Decision Gate condition with its verdict."""
    body, shown = detail["body"], page.locator("body").inner_text()
    headline = re.search(r"### (\S+) Measured gates: \*\*(\w+)\*\* \(([^)]*)\)", body)
    assert headline and "Measured gates" in shown and headline[3] in shown, body[:400]
    conditions = re.findall(r"^- \S+ \*\*([^*]+)\*\* — (.+)$", body, flags=re.M)
    assert len(conditions) >= 6
    for title, evidence in conditions:
        assert title in shown and evidence.split("`")[0].strip() in shown, title


def wait_for_end(page, base: str, run_id: str) -> str:
    return wait_for("the run to end", lambda: (state := api(page, base, f"/dags/{DAG}/dagRuns/{quote(run_id)}")
                                               ["state"]) in ("success", "failed") and state, timeout=600,
                    where=lambda: where_the_run_is(page, base, run_id))


def report_banner(page, base: str, run_id: str) -> str:
    page.goto(f"{base}/gonogo/reports/{DAG}/{quote(run_id)}")
    return page.locator(".banner .word").first.inner_text()


def slack_headers(ui) -> list[str]:
    log = ui["stack"].artifacts / "slack-ui.jsonl"
    return [json.loads(line)["text"] for line in log.read_text().splitlines()] if log.is_file() else []


def slack_texts(ui) -> list[str]:
    """Each message's header, sections and context (the run id), as one text."""
    log = ui["stack"].artifacts / "slack-ui.jsonl"
    return [" ".join([json.loads(line)["text"], *(b["text"]["text"] for b in json.loads(line)["blocks"]
                                                   if b.get("type") == "section"),
                      *(e["text"] for b in json.loads(line)["blocks"] if b.get("type") == "context"
                        for e in b["elements"])])
            for line in log.read_text().splitlines()] if log.is_file() else []


def test_reject_from_the_approval_page_leaves_production_untouched(ui, browser):
    production, _ = ui["stack"].targets()
    schema_before = pg_dump_schema(production)

    run_id = trigger(browser, ui["base"], watch_hours=0.005)
    detail = open_approval(browser, ui["base"], run_id)
    assert_shows_the_evidence(browser, detail)
    browser.get_by_role("button", name="Reject", exact=True).click()

    assert wait_for_end(browser, ui["base"], run_id) == "failed"  # a rejection is not a quiet success
    assert pg_dump_schema(production) == schema_before
    assert report_banner(browser, ui["base"], run_id) == "REJECTED"
    assert any("rollout rejected" in text for text in slack_headers(ui))


def test_a_task_killed_with_kill_9_still_reaches_on_call(ui, browser):
    """A real scheduler and worker: the task that restores staging is killed with SIGKILL (its
    failure callback dies with it; it runs for seconds whatever the batch). report_outcome, which
    runs whatever happened, tells on-call the task failed without its own alert."""
    import signal

    production, _ = ui["stack"].targets()
    schema_before = pg_dump_schema(production)
    run_id = trigger(browser, ui["base"], watch_hours=0.005)
    task = f"/dags/{DAG}/dagRuns/{quote(run_id)}/taskInstances/prepare.restore_staging"
    ti = wait_for("staging's restore to run", lambda: (ti := api(browser, ui["base"], task))["state"] == "running"
                  and ti.get("pid") and ti, timeout=420, every=0.2)
    os.kill(ti["pid"], signal.SIGKILL)
    killed = time.monotonic()

    silent = wait_for("on-call to hear of the killed task", lambda: [
        t for t in slack_texts(ui) if "prepare.restore_staging" in t and "failed without its own alert" in t], timeout=180)
    print(f"on-call told of the killed task {time.monotonic() - killed:.0f} s after kill -9")
    assert "kill -9" in silent[0]
    assert wait_for_end(browser, ui["base"], run_id) == "failed"
    assert api(browser, ui["base"], task)["state"] == "failed"
    assert pg_dump_schema(production) == schema_before


def pending(page, base: str, run_id: str) -> bool:
    return any(d["task_instance"]["dag_run_id"] == run_id for d in api(
        page, base, "/dags/~/dagRuns/~/hitlDetails", dag_id_pattern=DAG, response_received=False)["hitl_details"])


@pytest.mark.usefixtures("production_before_the_batch")
def test_approved_by_one_rolled_back_by_another_after_a_watch_alarm(ui, browser, approvers):
    """One approver approves; in the watch window two app sessions deadlock; the rollback
    executor the run named (another person) chooses Roll back on the page on-call's Slack message
    links to. Production is back to its schema; the report and Slack name both, each as
    production's audit trail has them."""
    production, _ = ui["stack"].targets()
    first, second = approvers
    (first_login, _), (second_login, _) = ui["approvers"]
    schema_before = pg_dump_schema(production)
    run_id = trigger(browser, ui["base"], watch_hours=0.005, approvers=first_login,  # an 18 s watch
                     rollback_executors=second_login)

    open_approval(first, ui["base"], run_id)
    first.get_by_role("button", name="Approve", exact=True).click()
    threading.Thread(target=deadlock_in_the_watch_window, args=(production, BATCH), daemon=True).start()
    detail = open_approval(second, ui["base"], run_id, task="watch.decide_after_watch", button="Roll back")
    assert detail["assigned_users"] == [{"id": second_login, "name": second_login}], detail["assigned_users"]
    alarm = next(t for t in slack_texts(ui) if "watch window alarm" in t and run_id in t)
    assert "Deadlocks since the rollout" in alarm
    second.get_by_role("button", name="Roll back", exact=True).click()

    assert wait_for_end(browser, ui["base"], run_id) == "failed"
    assert pg_dump_schema(production) == schema_before
    with production.connect("tests", guards=None) as conn:
        audit = conn.execute("SELECT event, username FROM gonogo.events WHERE run_id = %s AND event IN "
                             "('approve', 'rollback') ORDER BY id", [run_id]).fetchall()
    assert audit == [("approve", first_login), ("rollback", second_login)], audit
    assert report_banner(browser, ui["base"], run_id) == "ROLLED BACK"
    shown = browser.locator("body").inner_text()
    assert f"{second_login} chose to roll back" in shown and f"approved by {first_login} at" in shown
    assert any("rolled back" in t.lower() and run_id in t and second_login in t for t in slack_texts(ui))


@pytest.mark.usefixtures("production_before_the_batch")
def test_approve_from_the_approval_page_migrates_production(ui, browser, approvers):
    """Four eyes, two approvals: the operator triggers naming the approver group; their own
    Approve is refused by Airflow (they are not among who may answer), the group's two members
    approve in turn (the page asks again after the first), and production migrates."""
    production, _ = ui["stack"].targets()
    first, second = approvers
    (first_login, _), (second_login, _) = ui["approvers"]
    run_id = trigger(browser, ui["base"], watch_hours=0.005, approvers=ui["group"], approvals=2)  # an 18 s watch

    detail = open_approval(browser, ui["base"], run_id)
    shown = browser.locator("body").inner_text()
    assert (f"2 approvals from different people; who may approve: {first_login}, {second_login} but "
            f"{ui['user']}, who triggered it (four eyes)") in shown, detail["body"][:300]
    browser.get_by_role("button", name="Approve", exact=True).click()
    # Airflow refuses it: the triggerer is not among who may answer
    browser.get_by_text("You do not have permission to perform this action").first.wait_for(timeout=30_000)
    time.sleep(3)
    assert pending(browser, ui["base"], run_id)  # still waiting: the triggerer's answer did not land

    detail = open_approval(first, ui["base"], run_id)
    assert_shows_the_evidence(first, detail)
    SHOTS.mkdir(parents=True, exist_ok=True)
    first.screenshot(path=str(SHOTS / "approval-page.png"), full_page=True)
    first.get_by_role("button", name="Approve", exact=True).click()
    wait_for("the approval to ask again", lambda: any(
        "another approval needed" in text and f"{first_login} approved (1 of 2)" in text
        for text in slack_texts(ui)), timeout=180)
    open_approval(second, ui["base"], run_id)
    second.get_by_role("button", name="Approve", exact=True).click()

    # while the watch window runs, the report tab says how long is left (18 s: read every second)
    report = f"{ui['base']}/gonogo/reports/{DAG}/{quote(run_id)}"
    running = wait_for("the report tab to show the running watch window", lambda: re.search(
        r"Watch window running: [^<]+ left \(ends [-\d: ]+ UTC\)", browser.request.get(report).text()),
        timeout=420, every=1)
    print(f"report tab during the watch: {running[0]}")
    assert wait_for_end(browser, ui["base"], run_id) == "success"
    assert "watch-status" not in browser.request.get(report).text()  # gone once the window ended
    with production.connect("tests", guards=None) as conn:
        applied = conn.execute("SELECT count(*) FROM gonogo.history WHERE batch = %s "
                               "AND status = 'applied'", [BATCH]).fetchone()[0]
        checks = conn.execute("SELECT count(*) FROM pg_constraint WHERE conname = 'recipe_selling_price_positive' "
                              "AND convalidated").fetchone()[0]
        signed = conn.execute("SELECT username FROM gonogo.events WHERE run_id = %s AND event = 'approve' "
                              "ORDER BY id", [run_id]).fetchall()
    assert applied == 6 and checks == 1
    assert signed == [(first_login,), (second_login,)]  # the audit trail: each approver, in order

    browser.goto(f"{ui['base']}/dags/{DAG}/runs/{quote(run_id)}")
    browser.get_by_text("report_outcome").first.wait_for()
    browser.screenshot(path=str(SHOTS / "grid-view.png"))
    browser.get_by_role("link", name="Go/No-Go report").or_(browser.get_by_role("tab", name="Go/No-Go report")) \
        .first.click()
    frame = browser.frame_locator("iframe").first
    assert frame.locator(".banner .word").first.inner_text() == "ROLLED OUT"
    browser.screenshot(path=str(SHOTS / "report-tab.png"))
    assert report_banner(browser, ui["base"], run_id) == "ROLLED OUT"
    assert re.search(rf"approved by {first_login} at [-\d: ]+ UTC, {second_login} at", browser.locator("body").inner_text())
    browser.screenshot(path=str(SHOTS / "report.png"))
    latency = browser.locator("#latency")
    assert latency.locator("svg").count() >= 1  # the before/after chart is in the page
    latency.screenshot(path=str(SHOTS / "report-latency.png"))

    # What the approver read and what the report tab says, against the run's own facts: its
    # results (report.json), production's audit trail, and the numbers counted from them.
    facts = run_report(ui, run_id)
    results = from_dicts(facts["results"])
    before = [r for r in results if r.phase in BEFORE_APPROVAL]
    approval_page = detail["body"]
    for row in evaluate(before):
        assert f"**{row['condition']}** — {row['evidence']}" in approval_page, row
    shown = browser.locator("body").inner_text()
    for row in facts["decision_gate"]:
        assert row["condition"] in shown and row["evidence"] in shown, row
    for part in counts_by_phase(results):
        assert f"{part['title']}: {part['PASS']} pass · {part['WARN']} warn · {part['FAIL']} fail" in shown, part
    with production.connect("tests", guards=None) as conn:
        approvals = conn.execute("SELECT username, detail->>'at' FROM gonogo.events WHERE run_id = %s AND "
                                 "event = 'approve' ORDER BY id", [run_id]).fetchall()
    assert ", ".join(f"{who} at {at[:16].replace('T', ' ')} UTC" for who, at in approvals) in shown
    done = [t for t in slack_texts(ui) if "rollout complete" in t and run_id in t]
    assert done and f"Approved by {first_login} and {second_login}." in done[0]


def run_report(ui, run_id: str) -> dict:
    """report.json of a run, found by its run id among the run folders."""
    for path in (ui["stack"].artifacts / DAG).glob("*/report.json"):
        report = json.loads(path.read_text())
        if report["run"]["run_id"] == run_id:
            return report
    pytest.fail(f"no report.json of {run_id}")


def test_a_batch_already_applied_has_nothing_to_apply(ui, browser):
    """After the approved run: the same batch again ends green at once — nobody asked,
    production untouched, the report and Slack say "nothing to apply"."""
    production, _ = ui["stack"].targets()
    schema_before = pg_dump_schema(production)
    run_id = trigger(browser, ui["base"], watch_hours=0.005)
    assert wait_for_end(browser, ui["base"], run_id) == "success"
    assert not pending(browser, ui["base"], run_id) and pg_dump_schema(production) == schema_before
    assert report_banner(browser, ui["base"], run_id) == "NOTHING TO APPLY"
    facts = run_report(ui, run_id)
    steps = {r["subject"] for r in facts["results"] if r["gate"] == "step_skipped"}
    assert len(steps) == 6 and f"0 steps to apply, {len(steps)} applied before" in browser.locator("body").inner_text()
    assert any("nothing to apply" in t and run_id in t for t in slack_texts(ui))
