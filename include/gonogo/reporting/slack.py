"""Slack messages for on-call, rendered from GateResults, sent with slack_sdk.

One message per event: a failed gate (No-Go), an approval waiting, a rejected rollout, a failed
production step and its rollback, a watch-window alarm, a completed rollout, and any task that
fails unexpectedly. Each says what happened, where, the measured value against its threshold,
and has buttons: the task, the decision to take (approval page), the report, the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from slack_sdk import WebClient

from gonogo.reporting import outcome
from gonogo.reporting.report import ICON, RunInfo
from gonogo.results import GateResult, applied_steps, from_dicts

_MAX_LINES = 10  # results listed in a message; the report has them all
_MAX_LIST = 30   # steps or watched metrics listed


@dataclass(frozen=True)
class Message:
    text: str  # the notification text (shown where blocks are not)
    blocks: list[dict] = field(default_factory=list)


def _header(text: str) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}


SECTION_CHARS, MAX_BLOCKS = 3000, 50  # Block Kit: a section's text, the blocks of a message


def _sections(markdown: str, limit: int = SECTION_CHARS) -> list[dict]:
    """The text as sections within Block Kit's limit, split between lines (a code block split
    across two is closed and reopened; a line longer than a section is cut at a word)."""
    chunks, lines, size, fenced = [], [], 0, False
    for line in markdown.split("\n"):
        line = line if len(line) <= limit - 8 else line[:limit - 9].rsplit(" ", 1)[0] + " …"
        if lines and size + len(line) + 1 > limit - 4:
            chunks.append("\n".join(lines) + ("\n```" if fenced else ""))
            lines, size = (["```"] if fenced else []), (4 if fenced else 0)
        lines.append(line)
        size += len(line) + 1
        fenced ^= line.count("```") % 2 == 1
    chunks.append("\n".join(lines))
    return [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in chunks if chunk.strip()]


def _context(info: RunInfo) -> dict:
    parts = [f"batch `{info.batch_id}`", f"run `{info.run_id}`"]
    if info.report_url:
        parts.append(f"<{info.report_url}|Go/No-Go report>")
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(parts)}]}


def _links(info: RunInfo, task_url: str = "", decision: tuple[str, str] | None = None) -> list[dict]:
    """Buttons: the task, the decision a human must take (the one styled as primary), the report,
    the run. Only those with a URL."""
    buttons = [{"type": "button", "text": {"type": "plain_text", "text": label}, "url": url}
               for label, url in (("Open the task", task_url), decision or ("", ""),
                                  ("Open the report", info.report_url), ("Open the run", info.run_url)) if url]
    if decision and decision[1]:
        buttons[1 if task_url else 0]["style"] = "primary"
    return [{"type": "actions", "elements": buttons}] if buttons else []


def _result_line(r: GateResult) -> str:
    where = f" ({r.subject})" if r.subject else ""
    return f"{ICON[r.verdict]} *{r.title}*{where}: {r.value} — threshold {r.threshold}\n      {r.message}"


def _message(title: str, body: str, info: RunInfo, task_url: str = "",
             decision: tuple[str, str] | None = None) -> Message:
    links, sections = _links(info, task_url, decision), _sections(body)
    room = MAX_BLOCKS - 2 - len(links)  # the header and the context
    if len(sections) > room:
        rest = "the rest is in the report" + (f": <{info.report_url}|open it>" if info.report_url else "")
        sections = [*sections[:room - 1], {"type": "section", "text": {"type": "mrkdwn", "text": f"_…{rest}_"}}]
    return Message(text=f"{title}: {info.batch_id}", blocks=[_header(title), *sections, *links, _context(info)])


def no_go(info: RunInfo, failed: list[GateResult], task_url: str = "") -> Message:
    lines = [_result_line(r) for r in failed[:_MAX_LINES]]
    more = f"\n…and {len(failed) - _MAX_LINES} more in the report" if len(failed) > _MAX_LINES else ""
    body = (f"*No-Go:* {len(failed)} gate{'s' if len(failed) != 1 else ''} failed on the staging rehearsal. "
            f"The run stopped before the approval; production is untouched.\n\n" + "\n".join(lines) + more)
    return _message("🛑 gonogo: No-Go", body, info, task_url)


def rejected(info: RunInfo, by: str, task_url: str = "") -> Message:
    """by: who rejected ("" when nobody answered before the approval timed out)."""
    who = f"by {by} at the approval step" if by else "at the approval step: nobody answered before it timed out"
    body = f"*Rollout rejected* {who}. Nothing was applied: production is untouched."
    return _message("✋ gonogo: rollout rejected", body, info, task_url)


def approval_needed(info: RunInfo, results: list[GateResult], approval_url: str = "") -> Message:
    """The rehearsal passed every gate: an approver must look at the evidence and decide."""
    warn = [r for r in results if r.verdict.value == "WARN"]
    body = (f"*Go on staging:* {len(results)} checks, none failed"
            + (f", {len(warn)} to look at" if warn else "") + ". "
            "Production is untouched until an approver says *Approve* in Airflow; unanswered, the run "
            "is rejected when the approval times out."
            + ("\n\nTo look at:\n" + "\n".join(_result_line(r) for r in warn[:_MAX_LINES]) if warn else ""))
    return _message("🙋 gonogo: approval needed", body, info, decision=("Approve or reject", approval_url))


def signoff_pending(info: RunInfo, note: str, approval_url: str = "") -> Message:
    """An Approve that did not count, or one of several approvals needed: the question stays open."""
    body = f"*Not yet approved:* {note} Production is untouched until then."
    return _message("🙋 gonogo: another approval needed", body, info, decision=("Approve or reject", approval_url))


def step_failed(info: RunInfo, step: str, error: str, task_url: str = "", before_changes: bool = False,
                decision_url: str = "") -> Message:
    after = ("It failed before any change: no migration ran, production is untouched." if before_changes else
             "On-call decides next: roll back what this run applied, in reverse, or fix forward. "
             "Unanswered, the batch's default runs when the decision times out.")
    body = f"*Production step failed:* `{step}`\n```{error[:1500]}```\n{after}"
    return _message("🚨 gonogo: production step failed", body, info, task_url,
                    None if before_changes else ("Roll back or fix forward", decision_url))


def waiting_for_window(info: RunInfo, window: str, opens: str, task_url: str = "") -> Message:
    body = (f"*Approved; waiting for the low-traffic window* {window}: production changes start when it "
            f"opens ({opens}), and never outside it.")
    return _message("⏳ gonogo: waiting for the window", body, info, task_url)


def orphans_ended(info: RunInfo, result: GateResult, task_url: str = "") -> Message:
    """A task of the run died and left its session on production; the next task ended it."""
    body = (f"*A task of this run died* and left its session running on production. {result.value}:\n"
            f"{result.message[:2000]}\n_{result.hint}_")
    return _message("🚨 gonogo: a dead task's session ended", body, info, task_url)


def rolled_back(info: RunInfo, results: list[GateResult], task_url: str = "", decided_by: str = "",
                approved_by: str = "") -> Message:
    """decided_by: who chose to roll back (or the decision timeout); approved_by: who approved the rollout."""
    ok = all(not r.failed for r in results)
    lines = [_result_line(r) for r in results[:_MAX_LINES]]
    who = ((f" {decided_by} chose to roll back" if decided_by else "")
           + (f"{';' if decided_by else ''} the rollout was approved by {approved_by}" if approved_by else ""))
    head = ("*Rolled back.* Every applied step was undone in reverse order." if ok else
            "*Rollback incomplete.* A rollback failed: finish it by hand or recover to the restore point.")
    head += f"{who}." if who else ""
    return _message("↩️ gonogo: production rolled back" if ok else "🚨 gonogo: rollback FAILED",
                    head + "\n\n" + "\n".join(lines), info, task_url)


def completed(info: RunInfo, results: list[GateResult], steps: list[str], task_url: str = "",
              watched: list[GateResult] = (), next_steps: str = "", approved_by: str = "") -> Message:
    warn = [r for r in results if r.verdict.value != "PASS"]
    unmeasured = [r for r in watched if r.value.startswith("no value")]  # never measured: not "passed"
    watch = (f", and the watch window raised no alarm; {len(unmeasured)} of {len(watched)} metrics were never "
             f"measured (no data: no app traffic?)." if unmeasured else ", and the watch window passed." if watched
             else ".")
    body = (f"*Rollout complete:* {len(steps)} steps applied and validated on production" + watch
            + (f" Approved by {approved_by}." if approved_by else "") + "\n"
            + "\n".join(f"• `{s}`" for s in steps[:_MAX_LIST])
            + (f"\n…and {len(steps) - _MAX_LIST} more: {_report_link(info)}" if len(steps) > _MAX_LIST else "")
            + (f"\n\n*Watch window*\n{watch_summary(list(watched), info)}" if watched else "")
            + (f"\n{next_steps}" if next_steps else "")
            + ("\n\nTo look at:\n" + "\n".join(_result_line(r) for r in warn[:_MAX_LINES]) if warn else ""))
    return _message("✅ gonogo: rollout complete", body, info, task_url)


def watch_alarm(info: RunInfo, failed: list[GateResult], task_url: str = "", inconclusive: bool = False,
                decision_url: str = "") -> Message:
    head = ("*Watch window inconclusive:* a metric could not be measured, so the rollout cannot be called "
            "healthy." if inconclusive else "*Watch window alarm* after the rollout.")
    body = (head + " On-call decides next: roll back or fix forward (the Required Actions of the run).\n\n"
            + "\n".join(_result_line(r) + (f"\n      → {r.hint}" if r.hint else "") for r in failed[:_MAX_LINES]))
    title = "❓ gonogo: watch window inconclusive" if inconclusive else "🚨 gonogo: watch window alarm"
    return _message(title, body, info, task_url, ("Roll back or fix forward", decision_url))


def watch_incomplete(info: RunInfo, decision_url: str = "") -> Message:
    """The watch window's task failed every try: no verdict, the batch applied, on-call asked."""
    body = (f"*Watch window did not complete:* {outcome.WATCH_TASK_FAILED}. On-call decides next: roll back or "
            "fix forward (the Required Actions of the run).")
    return _message("❓ gonogo: watch window did not complete", body, info, "", ("Roll back or fix forward", decision_url))


def watch_summary(results: list[GateResult], info: RunInfo | None = None) -> str:
    """The window's metrics as a small table (mrkdwn has no tables: a code block keeps columns),
    the worst first; past _MAX_LIST rows, how many more and where they are."""
    worst = sorted(results, key=lambda r: -r.verdict.rank)
    rows = [(r.verdict.value, r.title[:38], r.value[:40]) for r in worst[:_MAX_LIST]]
    if not rows:
        return "_no metric was watched_"
    width = max(len(t) for _, t, _ in rows)
    rest = worst[_MAX_LIST:]
    tally = ", ".join(f"{n} {v.lower()}" for v in ("FAIL", "WARN", "PASS")
                      if (n := sum(1 for r in rest if r.verdict.value == v)))
    return ("```" + "\n".join(f"{v:<4}  {t:<{width}}  {val}" for v, t, val in rows) + "```"
            + (f"\n…and {len(rest)} more ({tally}): {_report_link(info)}" if rest else ""))


def _report_link(info: RunInfo | None) -> str:
    return f"<{info.report_url}|the report lists them>" if info and info.report_url else "the report lists them"


def task_failed(info: RunInfo, task: str, error: str, task_url: str = "") -> Message:
    body = f"*Task failed:* `{task}`\n```{error[:1500]}```"
    return _message("🚨 gonogo: task failed", body, info, task_url)


def for_outcome(info: RunInfo, end, applied: list | None, watched: dict | None) -> Message | None:
    """The message that reports how a rollout ended, or None when a failing task already told."""
    if end.kind == "rejected":  # the run's own button is there: no "Open the task" leading to it too
        return rejected(info, end.who)
    if end.kind == "nothing_to_apply":
        return _message("☑️ gonogo: nothing to apply", f"*Nothing to apply:* {end.summary.removeprefix('nothing to apply: ')}."
                        + (f"\n{end.next_steps}" if end.next_steps else ""), info)
    if end.ok:
        return completed(info, from_dicts(applied), applied_steps(applied), watched=from_dicts((watched or {}).get("results")),
                         next_steps=end.next_steps, approved_by=end.who)
    return None


def post(message: Message, *, token: str, channel: str, base_url: str | None = None) -> dict:
    """Send through the Web API (chat.postMessage); base_url lets tests use a local server."""
    client = WebClient(token=token, base_url=base_url or WebClient.BASE_URL, timeout=10)
    response = client.chat_postMessage(channel=channel, text=message.text, blocks=message.blocks)
    return response.data if isinstance(response.data, dict) else {}
