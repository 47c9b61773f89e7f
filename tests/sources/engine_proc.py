"""An engine process for crash tests: `engine_proc.py run|check DATA_DIR STATEMENTS_JSON ...`.

run:   open the engine in DATA_DIR with the Kafka connector, run STATEMENTS once (first start),
       print "ready", then serve ticks until killed.
check: open it, wait until source SOURCE has committed EXPECTED offsets (summed over
       partitions) and a few more ticks passed, print {name: rows} for QUERIES_JSON as JSON.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from eddy.engine import Engine
from eddy.kafka_connector import KafkaConnector


def _jsonable(v):
    if isinstance(v, int | float | str | bool) or v is None:
        return v
    return str(v)


def main() -> None:
    mode, data_dir, statements = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("eddy.librdkafka").setLevel(logging.WARNING)
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = Engine(data_dir, tick_interval=0.1)
    engine.register_connector(KafkaConnector())
    engine.start()
    marker = data_dir / "ddl-done"
    if not marker.exists():
        session = engine.session()
        for sql in statements:
            session.execute(sql)
        session.close()
        marker.write_text("ok")
    if mode == "run":
        print("ready", flush=True)
        while True:
            time.sleep(3600)
    source, expected, queries = sys.argv[4], int(sys.argv[5]), json.loads(sys.argv[6])
    sid = next(o.id for o in engine.catalog if o.kind == "source" and o.name == source)
    deadline = time.monotonic() + 150
    while sum(int(v) for v in engine.committed_offsets(sid).values()) < expected:
        if time.monotonic() > deadline:
            status = {oid: d.status() for oid, d in engine.drivers.items()}
            for st in status.values():
                st.pop("history", None)
            print(json.dumps({"error": "not caught up", "offsets": engine.committed_offsets(sid),
                              "status": status}, default=str))
            sys.exit(3)
        time.sleep(0.1)
    sinks = [d for d in engine.drivers.values() if "transactions_committed" in d.status()]
    while sinks and time.monotonic() < deadline:  # let sinks publish every tick so far
        time.sleep(0.5)
        if all((st := d.status())["status"] == "running" and st["pending_ticks"] == 0
               and st["last_tick"] is not None for d in sinks):
            break
    session = engine.session()
    out = {name: [[_jsonable(v) for v in row] for row in session.execute(sql)[-1].rows]
           for name, sql in queries.items()}
    session.close()
    engine.close()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
