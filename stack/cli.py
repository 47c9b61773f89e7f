"""`python -m stack`: run the local stack from a shell (what the Make targets call).

    up [--kafka-only] [--partitions N] [--registry]
                                         start Kafka (+ engine, + schema registry), create topics
    down                                 stop everything gracefully
    status                               what runs, on which ports (exit 1 if Kafka is down)
    topics                               list topics and partition counts
    create-topics NAME... [--partitions N]
    jars                                 resolve Kafka's jars with Maven (used by `make setup`)

Settings come from STACK_* variables (see stack/settings.py); errors print one paragraph.
"""

from __future__ import annotations

import argparse
import sys

from stack import control, jars, kafka, registry
from stack.errors import StackError
from stack.settings import HOST, Settings
from stack.topics import create_topics, list_topics


def _require_kafka(s: Settings) -> None:
    if not kafka.answers(s):
        raise StackError(f"Kafka is not running on {s.bootstrap}; start it with `make up`.")


def _status(s: Settings, _args) -> int:
    st = control.status(s)
    kafka_line = (f"running, pid {st.kafka_pid}, {'answering' if st.kafka_answers else 'NOT answering'}"
                  if st.kafka_pid else "stopped")
    if st.eddy_pid:
        eddy_line = f"running, pid {st.eddy_pid}, {'accepting' if st.eddy_accepts else 'NOT accepting'}"
    else:
        eddy_line = "stopped" if st.eddy_available else "not available yet (no eddy/cli.py)"
    print(f"kafka  {s.bootstrap:<16} {kafka_line}")
    print(f"eddy   {HOST}:{s.eddy_port:<6} {eddy_line}")
    if st.registry_pid:
        reg_line = f"running, pid {st.registry_pid}, {'answering' if st.registry_answers else 'NOT answering'}"
    else:
        reg_line = "stopped (start it with `make up FORMAT=avro`)"
    print(f"schema registry  {registry.url(s)}  {reg_line}")
    print(f"data   {s.state_dir}   logs {s.logs_dir}")
    return 0 if st.kafka_answers else 1


def _topics(s: Settings, _args) -> int:
    _require_kafka(s)
    for name, parts in list_topics(s.bootstrap).items():
        print(f"{name}\t{parts}")
    return 0


def _create(s: Settings, args) -> int:
    _require_kafka(s)
    created = create_topics(s.bootstrap, args.names, partitions=args.partitions or s.partitions)
    for name in args.names:
        print(f"{name}: {'created' if name in created else 'exists'}")
    return 0


def _jars(s: Settings, _args) -> int:
    jars.java()
    print(jars.ensure_jars(s))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stack", description="The local Kafka + eddy stack.")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start Kafka and the engine; returns when both answer")
    up.add_argument("--kafka-only", action="store_true", help="do not start the engine")
    up.add_argument("--partitions", type=int, help="partitions for new topics (default 3)")
    up.add_argument("--registry", action="store_true", default=None,
                    help="also start the schema registry (default when STACK_FORMAT=avro)")
    sub.add_parser("down", help="stop the engine and Kafka")
    sub.add_parser("status", help="show what runs")
    sub.add_parser("topics", help="list topics")
    ct = sub.add_parser("create-topics", help="create topics unless they exist")
    ct.add_argument("names", nargs="+")
    ct.add_argument("--partitions", type=int)
    sub.add_parser("jars", help="resolve Kafka's jars from Maven Central")
    args = p.parse_args(argv)

    overrides = {"partitions": args.partitions} if getattr(args, "partitions", None) else {}
    s = Settings.from_env(**overrides)
    try:
        if args.cmd == "up":
            control.up(s, with_engine=not args.kafka_only, with_registry=args.registry)
            return 0
        if args.cmd == "down":
            control.down(s)
            return 0
        return {"status": _status, "topics": _topics, "create-topics": _create, "jars": _jars}[args.cmd](s, args)
    except StackError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
