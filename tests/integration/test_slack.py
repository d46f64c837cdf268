"""Slack messages sent with slack_sdk to a real HTTP server on 127.0.0.1 standing in for Slack."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError

from gonogo import slack
from gonogo.cluster import free_port
from gonogo.local_slack import LocalSlack
from gonogo.report import RunInfo
from gonogo.results import GateResult, Verdict

TOKEN = "xoxb-test-token"
CHANNEL = "#db-oncall"
INFO = RunInfo(dag_id="gonogo_rollout", run_id="manual__2025-01-15", batch_id="20250115_recipe_fixes",
               batch_title="Recipe fixes", run_url="http://airflow.local/dags/gonogo_rollout/runs/manual__2025-01-15",
               report_path="/artifacts/gonogo_rollout/manual__2025-01-15/report.md",
               report_url="http://airflow.local/gonogo/reports/gonogo_rollout/manual__2025-01-15")
TASK_URL = "http://airflow.local/dags/gonogo_rollout/runs/manual__2025-01-15/tasks/apply_step"
DECIDE_URL = "http://airflow.local/dags/gonogo_rollout/runs/manual__2025-01-15/tasks/decide/required_actions"

ORPHANS = GateResult(gate="orphan_integrity", title="Orphans = 0", verdict=Verdict.FAIL, value="5 orphaned rows",
                     threshold="0 rows", message="RecipeItem.recipeId -> Recipe.id: 5 orphans", phase="preflight")
LOCKS = GateResult(gate="watch_lock_waits", title="No sessions waiting on locks", verdict=Verdict.WARN,
                   value="at most 3 waiting, longest 4.2 s", threshold="0 waiting", message="up to 3 sessions waited",
                   phase="watch")
ROLLBACK = GateResult(gate="rollback_applied", title="Rollback applied", verdict=Verdict.PASS,
                      value="7 statements in 0.12 s", threshold="every statement succeeds",
                      message="rollback ran to the end", phase="production", subject="20250115130000_fks")
ERROR = "20250115120000_add_composite_unique_constraints.sql line 10 failed (SQLSTATE 23505)"

# builder -> (message, results whose value and threshold it must show, other text it must show)
CASES = {
    "no_go": (slack.no_go(INFO, [ORPHANS]), [ORPHANS], "production is untouched"),
    "approval_needed": (slack.approval_needed(INFO, [ROLLBACK, LOCKS], DECIDE_URL), [LOCKS], "Approve"),
    "rejected": (slack.rejected(INFO, "alex.dba"), [], "alex.dba"),
    "step_failed": (slack.step_failed(INFO, "20250115120000_add_composite_unique_constraints", ERROR, TASK_URL),
                    [], ERROR),
    "rolled_back": (slack.rolled_back(INFO, [ROLLBACK]), [ROLLBACK], "Rolled back."),
    "completed": (slack.completed(INFO, [ROLLBACK, LOCKS], ["step_1", "step_2"]), [LOCKS], "`step_2`"),
    "watch_alarm": (slack.watch_alarm(INFO, [LOCKS]), [LOCKS], "roll back or fix forward"),
    "task_failed": (slack.task_failed(INFO, "take_snapshot", "pg_dump failed (exit 1)"), [], "pg_dump failed (exit 1)"),
}


@pytest.fixture(scope="module")
def local_slack():
    with LocalSlack() as server:
        yield server


def blocks_of(received: dict, kind: str) -> list[dict]:
    return [b for b in received["blocks"] if b["type"] == kind]


@pytest.mark.parametrize("name", CASES)
def test_message_arrives_with_token_channel_and_blocks(local_slack, name):
    message, results, must_say = CASES[name]
    local_slack.clear()
    response = slack.post(message, token=TOKEN, channel=CHANNEL, base_url=local_slack.api_url)
    assert response["ok"] is True and response["channel"] == CHANNEL

    [received] = local_slack.messages
    assert received["method"] == "chat.postMessage"
    assert received["token"] == TOKEN and received["channel"] == CHANNEL
    assert received["text"] == message.text and INFO.batch_id in received["text"]
    [header] = blocks_of(received, "header")
    assert header["text"]["text"].startswith(("🛑", "🙋", "✋", "🚨", "↩️", "✅")) and "gonogo" in header["text"]["text"]
    [section] = blocks_of(received, "section")
    body = section["text"]["text"]
    assert must_say in body
    for result in results:
        assert result.value in body and f"threshold {result.threshold}" in body and result.message in body
    [actions] = blocks_of(received, "actions")
    buttons = {b["text"]["text"]: b["url"] for b in actions["elements"]}
    assert buttons["Open the run"] == INFO.run_url and buttons["Open the report"] == INFO.report_url
    [context] = blocks_of(received, "context")
    assert INFO.run_id in context["elements"][0]["text"]


def test_pass_results_are_not_listed_in_a_completed_rollout(local_slack):
    local_slack.clear()
    slack.post(slack.completed(INFO, [ROLLBACK], ["step_1"]), token=TOKEN, channel=CHANNEL,
               base_url=local_slack.api_url)
    [section] = blocks_of(local_slack.messages[0], "section")
    assert ROLLBACK.value not in section["text"]["text"] and "To look at" not in section["text"]["text"]


def test_task_button_comes_first_when_there_is_a_task_url(local_slack):
    local_slack.clear()
    slack.post(CASES["step_failed"][0], token=TOKEN, channel=CHANNEL, base_url=local_slack.api_url)
    [actions] = blocks_of(local_slack.messages[0], "actions")
    assert [(b["text"]["text"], b["url"]) for b in actions["elements"]] == [
        ("Open the task", TASK_URL), ("Open the report", INFO.report_url), ("Open the run", INFO.run_url)]


@pytest.mark.parametrize("message, label", [
    (slack.approval_needed(INFO, [ROLLBACK], DECIDE_URL), "Approve or reject"),
    (slack.step_failed(INFO, "step_1", ERROR, TASK_URL, decision_url=DECIDE_URL), "Roll back or fix forward"),
    (slack.watch_alarm(INFO, [LOCKS], TASK_URL, decision_url=DECIDE_URL), "Roll back or fix forward")])
def test_a_decision_waiting_gets_the_one_primary_button_to_its_page(local_slack, message, label):
    local_slack.clear()
    slack.post(message, token=TOKEN, channel=CHANNEL, base_url=local_slack.api_url)
    [actions] = blocks_of(local_slack.messages[0], "actions")
    primary = [b for b in actions["elements"] if b.get("style") == "primary"]
    assert [(b["text"]["text"], b["url"]) for b in primary] == [(label, DECIDE_URL)]


def test_a_step_that_failed_before_any_change_asks_no_decision(local_slack):
    local_slack.clear()
    message = slack.step_failed(INFO, "step_1", ERROR, TASK_URL, before_changes=True, decision_url=DECIDE_URL)
    slack.post(message, token=TOKEN, channel=CHANNEL, base_url=local_slack.api_url)
    [actions] = blocks_of(local_slack.messages[0], "actions")
    assert DECIDE_URL not in [b["url"] for b in actions["elements"]]
    assert "production is untouched" in blocks_of(local_slack.messages[0], "section")[0]["text"]["text"]


def test_no_links_without_urls(local_slack):
    local_slack.clear()
    no_url = RunInfo(dag_id=INFO.dag_id, run_id=INFO.run_id, batch_id=INFO.batch_id, batch_title=INFO.batch_title)
    slack.post(slack.no_go(no_url, [ORPHANS]), token=TOKEN, channel=CHANNEL, base_url=local_slack.api_url)
    [received] = local_slack.messages
    assert blocks_of(received, "actions") == []
    assert [b["type"] for b in received["blocks"]] == ["header", "section", "context"]


def test_a_failed_rollback_says_so(local_slack):
    failed = GateResult(gate="rollback_applied", title="Rollback applied", verdict=Verdict.FAIL,
                        value="failed at line 2", threshold="every statement succeeds", message="relation missing")
    local_slack.clear()
    slack.post(slack.rolled_back(INFO, [ROLLBACK, failed]), token=TOKEN, channel=CHANNEL, base_url=local_slack.api_url)
    [received] = local_slack.messages
    assert blocks_of(received, "header")[0]["text"]["text"] == "🚨 gonogo: rollback FAILED"
    assert "Rollback incomplete" in blocks_of(received, "section")[0]["text"]["text"]


def test_unreachable_slack_raises():
    closed = f"http://127.0.0.1:{free_port()}/api/"
    with pytest.raises(OSError):
        slack.post(CASES["no_go"][0], token=TOKEN, channel=CHANNEL, base_url=closed)


def test_an_api_error_raises(local_slack):
    local_slack.clear()
    with pytest.raises(SlackApiError) as caught:
        slack.post(CASES["no_go"][0], token="", channel=CHANNEL, base_url=local_slack.api_url)
    assert caught.value.response["error"] == "not_authed"
    assert local_slack.messages == []


def test_the_local_slack_log_is_private(tmp_path):
    """Its messages name production's tables, rows and approvers: 0600 whatever the umask."""
    import os
    import stat

    log = tmp_path / "slack.jsonl"
    old = os.umask(0o022)
    try:
        with LocalSlack(log_path=log) as server:
            slack.post(CASES["task_failed"][0], token=TOKEN, channel=CHANNEL, base_url=server.api_url)
    finally:
        os.umask(old)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600 and "take_snapshot" in log.read_text()
