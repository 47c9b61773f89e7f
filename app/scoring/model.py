"""The fraud model: model inputs from a transaction and its user features, training, scoring.

A scikit-learn `HistGradientBoostingClassifier` with a fixed random state, trained on load
generator traffic whose `--out` records carry the ground truth (`"fraud": true`). The
artefact (`model.joblib`, a few hundred KB) is committed; its version is the SHA-256 of the
training set description and the library version, so the same data gives the same version.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import joblib
import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier

from app.scoring.reference import parse_time

ARTEFACT = Path(__file__).resolve().parent / "model.joblib"
NO_EVENT_SECONDS = 86_400.0  # "never" (within the retention horizon)

#: The model's inputs, in order.
INPUTS = (
    "amount", "log_amount", "amount_ratio", "amount_z", "has_history",
    "tx_count_10m", "tx_sum_10m", "tx_count_24h", "tx_sum_24h",
    "distinct_merchants_24h", "distinct_countries_24h",
    "last_login_new_device", "device_is_last_login", "seconds_since_login",
    "seconds_since_risky", "risky_is_device_change", "country",
)
CATEGORICAL = ("country",)  # codes learned from the training set; unknown values are missing


def _seconds(since: datetime | str | None, t: datetime) -> float:
    if since is None:
        return NO_EVENT_SECONDS
    if isinstance(since, str):
        since = parse_time(since)
    return min(NO_EVENT_SECONDS, max(0.0, (t - since).total_seconds()))


def inputs(tx: dict, feats: dict) -> list:
    """The model's input vector for transaction `tx` (an event dict) with user features `feats`."""
    t = parse_time(tx["event_time"]) if isinstance(tx["event_time"], str) else tx["event_time"]
    amount = float(tx["amount"])
    avg = feats.get("amount_avg")
    std = feats.get("amount_stddev")
    has = avg is not None
    ratio = amount / float(avg) if has and float(avg) > 0 else 1.0
    z = (amount - float(avg)) / float(std) if has and std else 0.0
    reason = feats.get("last_risky_reason")
    return [
        amount, math.log1p(amount), ratio, max(-50.0, min(50.0, z)), float(has),
        float(feats.get("tx_count_10m") or 0), float(feats.get("tx_sum_10m") or 0),
        float(feats.get("tx_count_24h") or 0), float(feats.get("tx_sum_24h") or 0),
        float(feats.get("distinct_merchants_24h") or 0),
        float(feats.get("distinct_countries_24h") or 0),
        float(bool(feats.get("last_login_new_device"))),
        float(feats.get("last_login_device") is not None
              and feats.get("last_login_device") == tx.get("device_id")),
        _seconds(feats.get("last_login_time"), t),
        _seconds(feats.get("last_risky_time"), t),
        float(reason is not None and reason != "new_device_login"),
        tx.get("country"),
    ]


@dataclass
class Model:
    estimator: HistGradientBoostingClassifier
    version: str
    categories: dict[str, list[str]]

    def matrix(self, rows: list[list]) -> np.ndarray:
        """Rows of `inputs()` as numbers: each categorical value becomes its code (or NaN)."""
        codes = [(INPUTS.index(name), {v: float(i) for i, v in enumerate(self.categories[name])})
                 for name in CATEGORICAL]
        if not rows:
            return np.empty((0, len(INPUTS)), dtype=float)
        table = [list(row) for row in rows]
        for c, code in codes:
            for row in table:
                row[c] = code.get(row[c], math.nan)
        return np.array(table, dtype=float)

    def scores(self, rows: list[list]) -> list[float]:
        if not rows:
            return []
        return self.estimator.predict_proba(self.matrix(rows))[:, 1].tolist()

    def save(self, path: Path = ARTEFACT) -> None:
        joblib.dump({"estimator": self.estimator, "version": self.version,
                     "inputs": INPUTS, "categories": self.categories}, path, compress=3)

    @classmethod
    def load(cls, path: Path = ARTEFACT) -> Model:
        data = joblib.load(path)
        if tuple(data["inputs"]) != INPUTS:
            raise ValueError(f"{path}: the model was trained on other inputs; run "
                             "`python -m app.scoring train`")
        return cls(data["estimator"], data["version"], data["categories"])


def train(rows: list[list], labels: list[bool], description: dict) -> Model:
    """A model fitted deterministically (fixed random state, no early stopping)."""
    categories = {name: sorted({row[INPUTS.index(name)] for row in rows} - {None})
                  for name in CATEGORICAL}
    estimator = HistGradientBoostingClassifier(
        max_iter=150, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=10,
        categorical_features=[INPUTS.index(name) for name in CATEGORICAL],
        early_stopping=False, random_state=0)
    model = Model(estimator, "", categories)
    estimator.fit(model.matrix(rows), np.asarray(labels, dtype=bool))
    digest = hashlib.sha256(json.dumps(
        {**description, "inputs": INPUTS, "categories": categories,
         "sklearn": sklearn.__version__}, sort_keys=True).encode()).hexdigest()
    model.version = f"hgb-{digest[:12]}"
    return model
