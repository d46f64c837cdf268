"""Slack messages sent with slack_sdk to a real HTTP server on 127.0.0.1 standing in for Slack."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError

from gonogo.reporting import slack
from gonogo_local.cluster import free_port
from gonogo.decision import Decision
from gonogo_local.slack import LocalSlack
from gonogo.reporting.report import RunInfo
from gonogo.results import GateResult, Verdict

TOKEN = "xoxb-test-token"
CHANNEL = "#db-oncall"
INFO = RunInfo(dag_id="gonogo_rollout", run_id="manual__2025-01-15", batch_id="20250115_recipe_fixes",
               batch_title="Recipe fixes", run_url="http://airflow.local/dags/gonogo_rollout/runs/manual__2025-01-15",
               report_url="http://airflow.local/dags/gonogo_rollout/runs/manual__2025-01-15/plugin/gonogo_report")
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
    assert INFO.run_id in context["elements"][0]["text"] and f"<{INFO.report_url}|" in context["elements"][0]["text"]
    assert "/artifacts/" not in str(received)  # a link to the report tab, never a server path


def test_a_rejection_names_who_rejected_once_and_its_buttons_open_what_they_say(local_slack):
    from gonogo.reporting.outcome import decide

    end = decide(gates_report="report.md", applied=None, watched=None,
                 approval=Decision(choice="Reject", by="admin"))
    local_slack.clear()
    slack.post(slack.for_outcome(INFO, end, None, None), token=TOKEN, channel=CHANNEL, base_url=local_slack.api_url)
    [received] = local_slack.messages
    assert blocks_of(received, "section")[0]["text"]["text"] == (
        "*Rollout rejected* by admin at the approval step. Nothing was applied: production is untouched.")
    [actions] = blocks_of(received, "actions")
    assert {b["text"]["text"]: b["url"] for b in actions["elements"]} == {
        "Open the report": INFO.report_url, "Open the run": INFO.run_url}


def _steps(n: int) -> list[str]:
    return [f"2025011{i:04d}_add_a_long_descriptive_migration_name_number_{i}" for i in range(n)]


def test_long_lists_are_summarised_with_a_link_to_the_report(local_slack):
    """400 steps and 60 watched metrics: 30 of each, the worst metrics first, then how many more
    and the link to the report that has them all."""
    metrics = [GateResult(gate="watch_metric", title=f"query_ms:query_number_{i}", verdict=Verdict.PASS,
                          value=f"{i}.5 ms against 1.0 ms", threshold="1.5x", message="m", phase="watch")
               for i in range(59)] + [LOCKS]
    local_slack.clear()
    slack.post(slack.completed(INFO, [], _steps(400), watched=metrics), token=TOKEN, channel=CHANNEL,
               base_url=local_slack.api_url)
    shown = "\n".join(b["text"]["text"] for b in blocks_of(local_slack.messages[0], "section"))
    assert sum(f"`{name}`" in shown for name in _steps(400)) == 30
    assert f"…and 370 more: <{INFO.report_url}|the report lists them>" in shown
    assert shown.index(LOCKS.title) < shown.index("query_number_0")  # the warning before the passing rows
    assert f"…and 30 more (30 pass): <{INFO.report_url}|the report lists them>" in shown


@pytest.mark.parametrize("lines, width", [(30, 180), (400, 1200), (3, 5000)])
def test_a_message_over_block_kits_limits_is_split_never_cut_mid_word(local_slack, lines, width):
    """Text past Slack's limits (3,000 characters a section, 50 blocks a message; the local
    server refuses beyond them as Slack does): split between lines, code blocks kept closed, a
    line longer than a section cut at a word, and what does not fit points at the report."""
    words = [" ".join(f"w{i}x{j}" for j in range(width // 8)) for i in range(lines)]
    text = "```\n" + "\n".join(words) + "\n```"
    local_slack.clear()
    slack.post(slack.completed(INFO, [], ["step_1"], next_steps=text), token=TOKEN, channel=CHANNEL,
               base_url=local_slack.api_url)
    [received] = local_slack.messages
    assert len(received["blocks"]) <= 50
    texts = [b["text"]["text"] for b in blocks_of(received, "section")]
    assert len(texts) > 1 and all(len(t) <= 3000 and t.count("```") % 2 == 0 for t in texts[:-1])
    shown = "\n".join(texts)
    by_start = {w.split(" ", 1)[0]: w for w in words}
    for line in (ln for ln in shown.splitlines() if ln.startswith("w")):  # never cut mid-word
        kept, original = line.removesuffix(" …"), by_start[line.split(" ", 1)[0]]
        assert original.startswith(kept) and original[len(kept):][:1] in ("", " "), line[-40:]
    if lines == 400:
        assert texts[-1] == f"_…the rest is in the report: <{INFO.report_url}|open it>_"
    elif lines == 30:
        assert all(word in shown for word in words)
    else:
        assert all(line.endswith(" …") for line in shown.splitlines() if line.startswith("w"))


def test_the_local_slack_refuses_what_slack_refuses(local_slack):
    local_slack.clear()
    too_long = slack.Message(text="x", blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "a" * 3001}}])
    with pytest.raises(SlackApiError) as caught:
        slack.post(too_long, token=TOKEN, channel=CHANNEL, base_url=local_slack.api_url)
    assert caught.value.response["error"] == "invalid_blocks"
    assert caught.value.response["errors"] == ["must be less than 3001 characters [json-pointer:/blocks/0/text/text]"]


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


def test_a_rollback_names_who_chose_it_and_who_approved(local_slack):
    local_slack.clear()
    slack.post(slack.rolled_back(INFO, [ROLLBACK], decided_by="oncall", approved_by="alice and bob"), token=TOKEN,
               channel=CHANNEL, base_url=local_slack.api_url)
    [received] = local_slack.messages
    assert ("Every applied step was undone in reverse order. oncall chose to roll back; the rollout was approved "
            "by alice and bob.") in blocks_of(received, "section")[0]["text"]["text"]


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


def test_a_watch_window_whose_metrics_had_no_data_is_not_called_passed(local_slack):
    quiet = GateResult(gate="watch_metric", title="query_ms:recipe_list", verdict=Verdict.WARN,
                       value="no value (baseline 0.07 ms)", threshold="1.5x", phase="watch",
                       message="no data in the whole window (nothing to measure: no traffic?)")
    measured = GateResult(gate="watch_metric", title="deadlocks", verdict=Verdict.PASS, value="0 (baseline 0)",
                          threshold="0", message="within its threshold in all 12 measurements", phase="watch")
    local_slack.clear()
    slack.post(slack.completed(INFO, [], ["step_1"], watched=[quiet, measured]), token=TOKEN, channel=CHANNEL,
               base_url=local_slack.api_url)
    text = blocks_of(local_slack.messages[0], "section")[0]["text"]["text"]
    assert "watch window passed" not in text
    assert "the watch window raised no alarm; 1 of 2 metrics were never measured (no data: no app traffic?)" in text
