"""A local HTTP receiver standing in for a Slack incoming webhook (the only mock in tests/app).

`Receiver(script)`: each request takes the next behaviour of `script` (then "ok" forever):
"ok" (200), an int status (e.g. 500, 429), or "hang" (answers only after `hang_seconds`, after
the client gave up). Every request is recorded with its arrival time, payload and behaviour.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, script=(), hang_seconds: float = 3.0):
        self.script = list(script)
        self.hang_seconds = hang_seconds
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    behaviour = receiver.script.pop(0) if receiver.script else "ok"
                    receiver.requests.append({"at": time.time(), "behaviour": behaviour,
                                              "payload": json.loads(body)})
                if behaviour == "hang":
                    time.sleep(receiver.hang_seconds)
                    behaviour = 200
                status = 200 if behaviour == "ok" else int(behaviour)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.end_headers()
                    self.wfile.write(b"ok" if status == 200 else b"server_error")
                except BrokenPipeError:  # the client gave up waiting ("hang")
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/XXXX"

    def delivered(self) -> list[dict]:
        """Requests answered 200 in time (what Slack would have posted), with their alert key."""
        with self._lock:
            return [dict(r, key=alert_key(r["payload"])) for r in self.requests
                    if r["behaviour"] == "ok"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def alert_key(payload: dict) -> str:
    """The alert key the alerting process puts in the message's context block."""
    context = payload["blocks"][-1]["elements"][0]["text"]
    return context.split("key `", 1)[1].split("`", 1)[0]
