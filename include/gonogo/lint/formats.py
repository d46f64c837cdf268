"""The lint's findings in the formats CI systems read, so a finding shows on the line of the diff.

Each takes the findings as `gonogo lint --format json` lists them (Finding.to_detail() plus
"path": the file as the author types it) and returns the text to print.

- sarif: SARIF 2.1.0 (GitHub code scanning, GitLab, VS Code's SARIF viewer);
- github: GitHub Actions workflow commands (`::error file=...,line=...,title=...::message`);
- gitlab: GitLab Code Quality JSON (the artifacts:reports:codequality report).

Robustness notes are included at the lowest severity each format has.
"""

from __future__ import annotations

import hashlib
import json

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {"error": "error", "warning": "warning", "note": "note"}
_GITHUB_COMMAND = {"error": "error", "warning": "warning", "note": "notice"}
_GITLAB_SEVERITY = {"error": "critical", "warning": "minor", "note": "info"}


def text_of(finding: dict) -> str:
    """The risk and the fix, in one line (squawk's rule ids that found the same problem after)."""
    also = f" (squawk: {', '.join(finding['references'])})" if finding["references"] else ""
    return f"{finding['message']}. Hint: {finding['help']}{also}"


def sarif(findings: list[dict], descriptions: dict[str, str]) -> str:
    """descriptions: each gonogo rule id's one-line description."""
    rules = list(dict.fromkeys(f["rule"] for f in findings))
    driver_rules = []
    for rule in rules:
        source = next(f["source"] for f in findings if f["rule"] == rule)
        entry = {"id": rule, "name": rule,
                 "shortDescription": {"text": descriptions.get(rule) or rule.replace("-", " ")}}
        if source == "squawk":
            entry["helpUri"] = f"https://squawkhq.com/docs/{rule}"
        driver_rules.append(entry)
    results = [{
        "ruleId": f["rule"], "ruleIndex": rules.index(f["rule"]), "level": _SARIF_LEVEL[f["level"]],
        "message": {"text": text_of(f)},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": f["path"]},
                                            "region": {"startLine": f["line"]}}}],
        "partialFingerprints": {"gonogo/v1": fingerprint},
        "properties": {"lock": f["lock"], "blocks": f["blocks"], "statement": f["statement"],
                       "problem": f["problem"], "references": f["references"], "source": f["source"]},
    } for f, fingerprint in zip(findings, _fingerprints(findings))]
    document = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "gonogo", "rules": driver_rules}},
        "results": results}]}
    return json.dumps(document, indent=2)


def github(findings: list[dict]) -> str:
    return "\n".join(
        f"::{_GITHUB_COMMAND[f['level']]} file={_property(f['path'])},line={f['line']},"
        f"title={_property('gonogo ' + f['rule'])}::{_data(text_of(f))}" for f in findings)


def gitlab(findings: list[dict]) -> str:
    return json.dumps([{
        "description": text_of(f), "check_name": f["rule"], "fingerprint": fingerprint,
        "severity": _GITLAB_SEVERITY[f["level"]],
        "location": {"path": f["path"], "lines": {"begin": f["line"]}},
    } for f, fingerprint in zip(findings, _fingerprints(findings))], indent=2)


def _fingerprints(findings: list[dict]) -> list[str]:
    """Stable while the file is edited elsewhere: the file, the rule, the statement and how many
    times the same appeared before in the file, not the line."""
    seen: dict[tuple, int] = {}
    out = []
    for f in findings:
        key = (f["path"], f["rule"], f["statement"])
        seen[key] = seen.get(key, -1) + 1
        out.append(hashlib.sha256("\0".join((*key, str(seen[key]))).encode()).hexdigest())
    return out


def _data(text: str) -> str:
    """A workflow command's message: %, CR and LF escaped, as the runner expects."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
