"""The scorer's settings: thresholds, topics and batching, from a TOML file (default.toml)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parent / "default.toml"
DECISIONS = ("approve", "review", "block")


class ConfigError(Exception):
    """The settings file is unusable; the message names the file and the problem."""


@dataclass(frozen=True)
class Config:
    review: float = 0.2
    block: float = 0.5
    transactions_topic: str = "transactions"
    decisions_topic: str = "transaction_decisions"
    group_id: str = "fraud-scoring"
    transactional_id: str = "fraud-scoring-1"
    max_messages: int = 1000
    poll_timeout_ms: int = 20

    def decide(self, score: float) -> str:
        if score >= self.block:
            return "block"
        if score >= self.review:
            return "review"
        return "approve"


def load(path: str | Path = DEFAULT_PATH, topic_prefix: str = "") -> Config:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    th, kafka, batch = data.get("thresholds", {}), data.get("kafka", {}), data.get("batch", {})
    d = Config()
    try:
        config = Config(
            review=float(th.get("review", d.review)), block=float(th.get("block", d.block)),
            transactions_topic=topic_prefix + str(kafka.get("transactions_topic",
                                                            d.transactions_topic)),
            decisions_topic=topic_prefix + str(kafka.get("decisions_topic", d.decisions_topic)),
            group_id=str(kafka.get("group_id", d.group_id)),
            transactional_id=str(kafka.get("transactional_id", d.transactional_id)),
            max_messages=int(batch.get("max_messages", d.max_messages)),
            poll_timeout_ms=int(batch.get("poll_timeout_ms", d.poll_timeout_ms)))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not 0.0 <= config.review <= config.block <= 1.0:
        raise ConfigError(f"{path}: thresholds must satisfy 0 <= review <= block <= 1, "
                          f"got review={config.review}, block={config.block}")
    if config.max_messages < 1 or config.poll_timeout_ms < 0:
        raise ConfigError(f"{path}: [batch] max_messages must be >= 1, poll_timeout_ms >= 0")
    return config
