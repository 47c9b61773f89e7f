"""`python -m app.scoring [serve]`: score transactions until SIGTERM / Ctrl-C.
`python -m app.scoring train`: rebuild the model artefact (deterministic).
`python -m app.scoring labels FILE`: load a load generator's --out ground truth into the engine.

Environment: KAFKA_BOOTSTRAP (else KAFKA_BOOTSTRAP_SERVERS, else 127.0.0.1:9092), SCORING_CONFIG
(settings file), SCORING_TOPIC_PREFIX, and the engine's EDDY_HOST, EDDY_PORT, EDDY_USER,
EDDY_PASSWORD, EDDY_DATABASE, EDDY_SSLMODE.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time

# One OpenMP thread for the model, set before scikit-learn loads: batches are small, and idle
# OpenMP workers spinning on a busy 2-core machine cost seconds per batch (measured: HGB
# predict_proba of 100 rows, 4 s wall at load average 34 with 2 threads; 80 ms with one).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import psycopg

from app.scoring import config as config_mod
from app.scoring import relation
from app.settings import settings_from


def _serve(args, env) -> int:
    from app.scoring.model import Model
    from app.scoring.service import Scorer

    try:
        config = config_mod.load(args.config, args.topic_prefix)
        model = Model.load()
    except (config_mod.ConfigError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    conninfo = settings_from(env).conninfo("fraud-scoring")
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(**conninfo, autocommit=True) as conn:
                relation.ensure(conn, args.bootstrap, config.decisions_topic)
            break
        except psycopg.Error as exc:
            if time.monotonic() > deadline:
                print(f"error: engine at {conninfo['host']}:{conninfo['port']}: {exc}",
                      file=sys.stderr)
                return 1
            time.sleep(1)
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))
    Scorer(config, model, conninfo, args.bootstrap).run(lambda: bool(stopping))
    return 0


def _train(args) -> int:
    from app.scoring.train import build

    started = time.monotonic()
    model = build()
    model.save()
    print(f"model {model.version} written ({time.monotonic() - started:.0f} s)")
    return 0


def _labels(args, env) -> int:
    from app.scoring.train import read_out

    pairs = [(r["value"]["transaction_id"], bool(r["fraud"])) for r in read_out(args.file)
             if r.get("topic") == "transactions" and "fraud" in r and "malformed" not in r]
    with psycopg.connect(**settings_from(env).conninfo("fraud-scoring"), autocommit=True) as conn:
        new = relation.load_labels(conn, pairs)
    print(f"{new} new labels ({len(pairs)} in {args.file})")
    return 0


def main(argv: list[str] | None = None) -> int:
    env = dict(os.environ)
    p = argparse.ArgumentParser(prog="python -m app.scoring", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", nargs="?", default="serve", choices=("serve", "train", "labels"))
    p.add_argument("file", nargs="?", help="labels: a load generator's --out file")
    p.add_argument("--config", default=env.get("SCORING_CONFIG", str(config_mod.DEFAULT_PATH)))
    p.add_argument("--bootstrap", default=env.get("KAFKA_BOOTSTRAP")
                   or env.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    p.add_argument("--topic-prefix", default=env.get("SCORING_TOPIC_PREFIX", ""))
    p.add_argument("--log-level", default=env.get("SCORING_LOG_LEVEL", "INFO"))
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "train":
        return _train(args)
    if args.command == "labels":
        if not args.file:
            p.error("labels needs FILE")
        return _labels(args, env)
    return _serve(args, env)


if __name__ == "__main__":
    sys.exit(main())
