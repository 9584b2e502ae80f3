"""A chat-completions server on 127.0.0.1 that answers from a script: shared by test_judge and test_api_models."""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional


def chat_body(content: str) -> bytes:
    return json.dumps(
        {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
    ).encode()


class Step:
    """One scripted answer: HTTP status, body, headers, and how long to stall before answering."""

    def __init__(self, status: int = 200, body: bytes = b"", headers: Optional[dict] = None, delay_s: float = 0.0):
        self.status, self.body, self.headers, self.delay_s = status, body, headers or {}, delay_s

    @classmethod
    def reply(cls, content: str) -> "Step":
        return cls(200, chat_body(content), {"Content-Type": "application/json"})


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[Step] = []
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.release = threading.Event()  # set at teardown so that stalled handlers end at once

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def hits(self) -> int:
        with self.lock:
            return len(self.requests)

    def next_step(self, record: dict) -> Step:
        """Record the request; the script's steps are used in order, the last one repeats."""
        with self.lock:
            self.requests.append(record)
            index = min(len(self.requests), len(self.script)) - 1
            return self.script[index]

    def handle_error(self, request, client_address):
        pass  # a client that timed out closes the socket before a stalled handler writes: expected here


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        step = self.server.next_step(
            {"path": self.path, "headers": dict(self.headers.items()), "body": json.loads(raw) if raw else None}
        )
        if step.delay_s:
            self.server.release.wait(step.delay_s)
        body = step.body
        if step.status == 401 and body == b"echo":  # a careless proxy that echoes the credentials
            body = json.dumps({"error": "bad key " + self.headers.get("Authorization", "")}).encode()
        self.send_response(step.status)
        for name, value in step.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST


@contextlib.contextmanager
def running(srv: ScriptedServer):
    """Serve `srv` on a thread for the duration of the block, then release any held request and close it."""
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.release.set()
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)
