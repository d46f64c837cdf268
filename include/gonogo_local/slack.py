"""A local stand-in for Slack's Web API: a real HTTP server on 127.0.0.1.

It answers chat.postMessage like Slack does and keeps what it received, so the demo can
show what on-call would have got and the tests can check it. slack_sdk talks to it when
the Slack connection's base_url is this server's `api_url`.

    python -m gonogo_local.slack --port 8765 --log artifacts/slack.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs


# Block Kit's limits (api.slack.com/reference/block-kit): Slack answers invalid_blocks beyond them.
_LIMITS = {"blocks": 50, "header": 150, "section": 3000, "context": 10, "actions": 25, "button_text": 75,
           "button_url": 3000}


def block_kit_errors(blocks: list[dict]) -> list[str]:
    """Slack's own refusals of a message's blocks, in its words and JSON pointers."""
    errors = [f"no more than {_LIMITS['blocks']} items allowed [json-pointer:/blocks]"] if len(blocks) > _LIMITS["blocks"] else []
    for i, block in enumerate(blocks):
        kind, text = block.get("type"), (block.get("text") or {}).get("text", "")
        if kind in ("header", "section") and len(text) > _LIMITS[kind]:
            errors.append(f"must be less than {_LIMITS[kind] + 1} characters [json-pointer:/blocks/{i}/text/text]")
        elements = block.get("elements") or []
        if kind in ("context", "actions") and len(elements) > _LIMITS[kind]:
            errors.append(f"no more than {_LIMITS[kind]} items allowed [json-pointer:/blocks/{i}/elements]")
        for j, element in enumerate(elements if kind == "actions" else ()):
            if len((element.get("text") or {}).get("text", "")) > _LIMITS["button_text"]:
                errors.append(f"must be less than 76 characters [json-pointer:/blocks/{i}/elements/{j}/text/text]")
            if len(element.get("url") or "") > _LIMITS["button_url"]:
                errors.append(f"must be less than 3001 characters [json-pointer:/blocks/{i}/elements/{j}/url]")
    return errors


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self):  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        if self.headers.get("Content-Type", "").startswith("application/json"):
            payload = json.loads(raw or "{}")
        else:
            payload = {k: v[0] for k, v in parse_qs(raw).items()}
        if isinstance(payload.get("blocks"), str):
            payload["blocks"] = json.loads(payload["blocks"])
        method = self.path.rsplit("/", 1)[-1]
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if not token:
            return self._reply({"ok": False, "error": "not_authed"})
        if method != "chat.postMessage":
            return self._reply({"ok": False, "error": "unknown_method"})
        if errors := block_kit_errors(payload.get("blocks") or []):  # what Slack refuses, refused here too
            return self._reply({"ok": False, "error": "invalid_blocks", "errors": errors})
        record = {"method": method, "token": token, "received_at": time.time(), **payload}
        self.server.record(record)
        self._reply({"ok": True, "channel": payload.get("channel"), "ts": f"{time.time():.6f}",
                     "message": {"text": payload.get("text")}})

    def _reply(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # keep test and demo output quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, log_path: Path | None):
        super().__init__(("127.0.0.1", port), _Handler)
        self.messages: list[dict] = []
        self.log_path = log_path
        self.lock = threading.Lock()

    def record(self, message: dict) -> None:
        with self.lock:
            self.messages.append(message)
            if self.log_path:
                # 0600: the messages name production's tables, rows and people
                with os.fdopen(os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as out:
                    out.write(json.dumps({k: v for k, v in message.items() if k != "token"}) + "\n")


class LocalSlack:
    """Start with `with LocalSlack() as slack:`; slack.api_url is the base_url to give slack_sdk."""

    def __init__(self, port: int = 0, log_path: Path | None = None):
        self._server = _Server(port, Path(log_path) if log_path else None)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    @property
    def messages(self) -> list[dict]:
        with self._server.lock:
            return list(self._server.messages)

    def clear(self) -> None:
        with self._server.lock:
            self._server.messages.clear()

    def __enter__(self) -> LocalSlack:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--log", type=Path, help="append every message received to this JSONL file")
    args = parser.parse_args()
    with LocalSlack(args.port, args.log) as slack:
        print(f"local Slack API at {slack.api_url}", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
