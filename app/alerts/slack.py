"""Slack incoming-webhook delivery: an alert as a Block Kit message, one POST per attempt, and
the verdict the retry policy needs (sent, retry later, or give up)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

MAX_FIELDS = 10        # Block Kit: at most 10 fields per section
MAX_FIELD_TEXT = 1900  # and 2000 characters per field text


@dataclass(frozen=True)
class Outcome:
    ok: bool
    retryable: bool
    detail: str
    retry_after: float | None = None


def message(title: str, text: str, fields: list[tuple[str, object]], context: str) -> dict:
    """A readable Block Kit message: header, summary, up to 10 label/value fields, context."""
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": title[:150],
                                                      "emoji": True}}]
    if text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}})
    if fields:
        blocks.append({"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*{label}*\n{_show(value)}"[:MAX_FIELD_TEXT]}
            for label, value in fields[:MAX_FIELDS]]})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context[:2900]}]})
    return {"text": f"{title}: {text}" if text else title, "blocks": blocks}


def _show(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"
    return str(value)


def post(url: str, payload: dict, timeout: float) -> Outcome:
    """POST `payload` as JSON. 2xx: sent. 5xx, 429, timeouts and connection errors: retryable.
    Other 4xx (bad URL, revoked webhook, invalid payload): permanent."""
    if not url:
        return Outcome(False, False, "no webhook URL configured (set SLACK_WEBHOOK_URL)")
    body = json.dumps(payload).encode()
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Outcome(True, False, f"HTTP {resp.status}")
    except urllib.error.HTTPError as e:
        text = e.read(200).decode("utf-8", "replace").strip()
        detail = f"HTTP {e.code}" + (f": {text}" if text else "")
        if e.code == 429:
            return Outcome(False, True, detail, _retry_after(e.headers.get("Retry-After")))
        return Outcome(False, e.code >= 500, detail)
    except TimeoutError:
        return Outcome(False, True, f"timed out after {timeout:.1f} s")
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, TimeoutError):
            return Outcome(False, True, f"timed out after {timeout:.1f} s")
        return Outcome(False, True, f"connection failed: {reason}")
    except (ConnectionError, OSError) as e:
        return Outcome(False, True, f"connection failed: {e}")


def _retry_after(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None
