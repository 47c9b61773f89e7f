"""Alert rules and delivery settings, read from a TOML file (default: default.toml here).

Rule kinds:
- `new_rows`: every row that appears in `relation` (read with SUBSCRIBE) is an alert, keyed by
  the `key` columns (one delivery per key, ever).
- `threshold`: a pipeline-health `metric` per source above `above` for `for_seconds` opens an
  episode: one alert per episode (re-armed when the value is back at or below `above`).
  Metrics: consumer_lag (messages), staleness_seconds (since the source last committed new
  offsets), dead_letters_per_minute, source_not_running (1 while a source is not running).
Every rule: `cooldown_seconds` (alerts of the rule, per `cooldown_by` group, closer together are
recorded as suppressed, not sent), `title`, optional `text` (a str.format template over the
row's columns / `subject`, `value`, `above`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parent / "default.toml"
KINDS = ("new_rows", "threshold")
METRICS = ("consumer_lag", "staleness_seconds", "dead_letters_per_minute", "source_not_running")


class ConfigError(Exception):
    """The rules file is unusable; the message names the file, the rule and the problem."""


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    title: str
    text: str = ""
    relation: str = ""             # new_rows
    key: tuple[str, ...] = ()      # new_rows
    metric: str = ""               # threshold
    above: float = 0.0             # threshold
    for_seconds: float = 0.0       # threshold
    cooldown_seconds: float = 0.0
    cooldown_by: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()   # columns shown as Block Kit fields (default: all / key)


@dataclass(frozen=True)
class Delivery:
    webhook_url: str = ""
    timeout_seconds: float = 5.0
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    give_up_after_seconds: float = 3600.0


@dataclass(frozen=True)
class Config:
    rules: tuple[Rule, ...]
    delivery: Delivery = field(default_factory=Delivery)
    health_interval_seconds: float = 5.0
    first_start: str = "deliver"   # or "skip": rows present at the very first start are not sent


def load(path: Path | str = DEFAULT_PATH, env: dict[str, str] | None = None) -> Config:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: {e}") from e
    return parse(raw, env or {}, str(path))


def parse(raw: dict, env: dict[str, str], origin: str = "config") -> Config:
    d = dict(raw.get("delivery", {}))
    url_env = d.pop("webhook_url_env", "SLACK_WEBHOOK_URL")
    url = env.get(url_env) or d.pop("webhook_url", "")
    d.pop("webhook_url", None)
    try:
        delivery = Delivery(webhook_url=url, **d)
    except TypeError as e:
        raise ConfigError(f"{origin}: [delivery]: {e}") from e
    rules = tuple(_rule(r, origin) for r in raw.get("rule", []))
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ConfigError(f"{origin}: rule names must be unique, got {names}")
    general = raw.get("alerts", {})
    first = general.get("first_start", "deliver")
    if first not in ("deliver", "skip"):
        raise ConfigError(f"{origin}: [alerts] first_start must be 'deliver' or 'skip'")
    return Config(rules=rules, delivery=delivery, first_start=first,
                  health_interval_seconds=float(general.get("health_interval_seconds", 5.0)))


def _rule(r: dict, origin: str) -> Rule:
    name = r.get("name")
    where = f"{origin}: rule {name!r}"
    if not name or r.get("kind") not in KINDS:
        raise ConfigError(f"{where}: needs a name and kind = one of {KINDS}")
    for k in ("key", "cooldown_by", "fields"):
        if k in r:
            r = {**r, k: tuple(r[k])}
    try:
        rule = Rule(**{"title": name, **r})
    except TypeError as e:
        raise ConfigError(f"{where}: {e}") from e
    if rule.kind == "new_rows" and not (rule.relation and rule.key):
        raise ConfigError(f"{where}: new_rows rules need `relation` and `key`")
    if rule.kind == "threshold" and rule.metric not in METRICS:
        raise ConfigError(f"{where}: metric must be one of {METRICS}")
    return rule
