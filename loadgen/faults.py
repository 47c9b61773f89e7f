"""Delivery faults layered on the simulated stream: late events, duplicates, malformed events.

- late: a fraction of events is held back and sent 10%..100% of `max_lateness_ms` of simulated
  time after its `event_time` (so it arrives out of order);
- duplicate: a fraction is sent twice (the same message, same `event_id`) shortly apart;
- malformed: a fraction is corrupted (truncated JSON, a required field missing, a field of the
  wrong type). Each message carries a mark so `--out` can say which ones are deliberate.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from loadgen.model import TOPICS, required_fields

#: (topic, key, value, mark); mark is None, "duplicate", "late" or "malformed: <how>".
Message = tuple[str, str, str, str | None]

_WRONG_TYPES = {str: 12345, int: "many", float: "12.3x", bool: "yes"}


@dataclass(frozen=True)
class FaultConfig:
    late_fraction: float = 0.0
    max_lateness_ms: int = 60_000
    duplicate_fraction: float = 0.0
    malformed_fraction: float = 0.0

    def __post_init__(self) -> None:
        for name in ("late_fraction", "duplicate_fraction", "malformed_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.late_fraction + self.malformed_fraction > 1.0:
            raise ValueError("late_fraction + malformed_fraction must not exceed 1")


def corrupt(rnd: random.Random, topic: str, value: str) -> tuple[str, str]:
    """A malformed variant of a valid message `value` and a description of the damage."""
    how = rnd.random()
    if how < 0.34:
        return value[: max(1, int(len(value) * rnd.uniform(0.2, 0.9)))], "invalid JSON"
    event = json.loads(value)
    name = rnd.choice(required_fields(topic))
    if how < 0.67:
        del event[name]
        return json.dumps(event, separators=(",", ":")), f"missing field {name}"
    current = event[name]
    event[name] = _WRONG_TYPES.get(type(current), 12345) if current is not None else 12345
    if name in TOPICS[topic] and current is None:
        event[name] = [1]  # nullable field: null is fine, a list is not
    return json.dumps(event, separators=(",", ":")), f"wrong type for {name}"


def apply_faults(config: FaultConfig, seed: int | str,
                 batches: Iterable[list[tuple[int, str, str, str]]]) -> Iterator[list[Message]]:
    """The messages to send, in sending order and in lists, for the simulated `batches`."""
    late, dup, bad = config.late_fraction, config.duplicate_fraction, config.malformed_fraction
    if not (late or dup or bad):
        for batch in batches:
            yield [(topic, key, value, None) for _, topic, key, value in batch]
        return
    stream = _with_faults(config, seed, batches)
    while chunk := list(itertools.islice(stream, 512)):
        yield chunk


def _with_faults(config: FaultConfig, seed: int | str,
                 batches: Iterable[list[tuple[int, str, str, str]]]) -> Iterator[Message]:
    rnd = random.Random(f"faults:{seed}")
    late, dup, bad = config.late_fraction, config.duplicate_fraction, config.malformed_fraction
    held: list = []  # heap of (release_t, seq, message)
    seq = itertools.count()
    max_late = max(1, config.max_lateness_ms)
    random_ = rnd.random
    for batch in batches:
        for t, topic, key, value in batch:
            while held and held[0][0] <= t:
                yield heapq.heappop(held)[2]
            x = random_()
            mark = None
            sent_at = t
            if x < bad:
                value, how = corrupt(rnd, topic, value)
                mark = f"malformed: {how}"
                yield topic, key, value, mark
            elif x < bad + late:
                release = sent_at = t + int(max_late * (0.1 + 0.9 * random_()))
                heapq.heappush(held, (release, next(seq), (topic, key, value, "late")))
            else:
                yield topic, key, value, None
            if dup and random_() < dup:
                release = sent_at + int(random_() * 2000)  # a re-send follows the original
                again = (topic, key, value, mark or "duplicate")
                heapq.heappush(held, (release, next(seq), again))
