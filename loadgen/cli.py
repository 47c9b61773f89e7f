"""The `loadgen` command line: `loadgen run` (simulate and send) and `loadgen api` (collector)."""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from loadgen.scenarios import SCENARIOS

if TYPE_CHECKING:
    from loadgen.simulator import Funnel

BOOTSTRAP_ENV = ["LOADGEN_BOOTSTRAP", "KAFKA_BOOTSTRAP_SERVERS"]


def _bootstrap_option(func):
    return click.option("--bootstrap", envvar=BOOTSTRAP_ENV, show_envvar=True,
                        default="127.0.0.1:9092", show_default=True,
                        help="Kafka bootstrap servers.")(func)


def _registry_option(func):
    return click.option("--registry-url", envvar="LOADGEN_REGISTRY_URL", show_envvar=True,
                        default="http://127.0.0.1:8081/apis/ccompat/v7", show_default=True,
                        help="Confluent-compatible schema registry (with --format avro).")(func)


def _parse_start(value: str | None) -> int | None:
    if value in (None, "", "now"):
        return None
    if value.isdigit():
        return int(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"expected RFC 3339 time or epoch milliseconds, got {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _parse_funnel(pairs: tuple[str, ...]) -> dict[str, float]:
    result = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            result[name.strip().replace("-", "_")] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise click.BadParameter(f"expected NAME=PROBABILITY, got {pair!r}")
    return result


def _check_users(users: int, rate: float | None, funnel: Funnel, scenario: str) -> None:
    """Warns when `users` is too few for one session per user at a time at `rate`."""
    from loadgen.runner import DEFAULT_SIM_RATE
    from loadgen.simulator import default_users, visitors_at_once

    rate = rate or DEFAULT_SIM_RATE
    busy = visitors_at_once(rate, funnel, scenario)
    if users < busy:
        click.echo(f"warning: --users {users:,} is fewer than the ~{busy:,.0f} users in a "
                   f"session at once at {rate:,.0f} events/s ({scenario}): some users get "
                   f"overlapping sessions to keep the rate (the default would be "
                   f"{default_users(rate, funnel, scenario):,})", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def main() -> None:
    """Load generator for the shop's event streams, and the mock website API."""


@main.command()
@click.option("--rate", type=click.FloatRange(min=0, min_open=True),
              help="Events per second (wall clock). Default: as fast as possible.")
@click.option("--sim-rate", type=click.FloatRange(min=0, min_open=True),
              help="Events per simulated second: how fast event time advances. Default: "
                   "--rate, or 1,000 without it. Lower spreads the same events over more "
                   "event time (an hour of traffic sent as fast as possible: --sim-rate 10 "
                   "--events 36000).")
@click.option("--duration", type=click.FloatRange(min=0),
              help="Seconds to run; with --rate this is --events = rate x duration.")
@click.option("--events", type=click.IntRange(min=0), help="Number of events to send.")
@click.option("--users", type=click.IntRange(min=1),
              help="Size of the simulated user population. Default: twice the users in a "
                   "session at once at the rate (about 13 per event/s; more for flash-sale), "
                   "at least 20,000. With fewer users than are in a session at once, some "
                   "users get overlapping sessions, so that event time still advances at "
                   "about one simulated second per --rate events (a warning says so).")
@click.option("--seed", type=int, help="Random seed (default: random, printed in the summary).")
@click.option("--scenario", type=click.Choice(list(SCENARIOS)), default="steady",
              show_default=True, help="Traffic scenario: " + "; ".join(
                  f"{s.name}: {s.description}" for s in SCENARIOS.values()) + ".")
@click.option("--late-fraction", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Fraction of events sent late (out of order).")
@click.option("--max-lateness", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Maximum lateness of a late event, in simulated seconds.")
@click.option("--duplicate-fraction", type=click.FloatRange(0, 1), default=0.0,
              show_default=True, help="Fraction of events sent twice (same event_id).")
@click.option("--malformed-fraction", type=click.FloatRange(0, 1), default=0.0,
              show_default=True, help="Fraction of events deliberately malformed.")
@click.option("--via", type=click.Choice(["kafka", "api"]), default="kafka", show_default=True,
              help="Produce straight to Kafka, or POST to the mock website API.")
@_bootstrap_option
@click.option("--api-url", envvar="LOADGEN_API_URL", show_envvar=True,
              default="http://127.0.0.1:8088", show_default=True,
              help="Base URL of the mock website API (with --via api).")
@click.option("--topic-prefix", envvar="LOADGEN_TOPIC_PREFIX", show_envvar=True, default="",
              help="Prefix for the topic names (kafka).")
@click.option("--delivery-timeout", envvar="LOADGEN_DELIVERY_TIMEOUT", show_envvar=True,
              type=click.FloatRange(min=0.5), default=30.0, show_default=True,
              help="Seconds to keep retrying an unacknowledged event before giving up.")
@click.option("--batch-size", type=click.IntRange(min=1), default=500, show_default=True,
              help="Events per POST with --via api.")
@click.option("--out", type=click.Path(dir_okay=False, allow_dash=True),
              help="Also write every event sent, as sent, as JSON lines ('-' for stdout); "
                   "deliberate faults are marked (malformed, duplicate, late), and each "
                   "transaction carries the ground truth \"fraud\": true/false (account "
                   "takeovers; never in the Kafka event).")
@click.option("--dry-run", is_flag=True, help="Only write --out; send nothing.")
@click.option("--start-time", default="now", show_default=True,
              help="Simulated time of the first event: RFC 3339 or epoch milliseconds.")
@click.option("--funnel", multiple=True, metavar="NAME=P",
              help="Override a funnel probability, e.g. --funnel add_to_cart=0.4 (names: "
                   "login, login_fail, new_device, product_view, add_to_cart, "
                   "remove_from_cart, checkout, exit, revisit, think_median_s).")
@click.option("--workers", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Processes, each simulating and sending a share of the users at rate/N "
                   "(for throughput beyond one core; --out is then ordered by worker).")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar.")
@click.option("--format", "format_", type=click.Choice(["json", "avro"]), default="json",
              show_default=True, help="Message format: JSON, or Avro in Confluent's wire format "
              "with the contract schemas registered as <topic>-value (with --via kafka; the "
              "mock API takes its own --format).")
@_registry_option
@click.option("--schema-evolution", is_flag=True,
              help="With --format avro: halfway through the run, register version 2 of every "
                   "schema (an added optional field) and produce with it from then on.")
def run(**kw) -> None:
    """Simulate shop traffic and send it to Kafka or the mock API.

    Same --seed and options give the same events, byte for byte (see --out). The exit code
    is 1 when events could not be delivered (after retrying for --delivery-timeout).
    """
    from loadgen.faults import FaultConfig
    from loadgen.launch import run as run_load
    from loadgen.runner import RunOptions

    if kw["dry_run"] and kw["events"] is None and not (kw["rate"] and kw["duration"] is not None):
        raise click.UsageError("a dry run needs --events, or --rate with --duration")
    seed = kw["seed"] if kw["seed"] is not None else random.SystemRandom().randrange(2**31)
    try:
        faults = FaultConfig(kw["late_fraction"], int(kw["max_lateness"] * 1000),
                             kw["duplicate_fraction"], kw["malformed_fraction"])
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    funnel = _parse_funnel(kw["funnel"])
    from loadgen.simulator import Funnel
    try:
        Funnel().update(funnel)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if kw["users"] is not None:
        _check_users(kw["users"], kw["sim_rate"] or kw["rate"], Funnel().update(funnel),
                     kw["scenario"])
    opts = RunOptions(
        seed=seed, rate=kw["rate"], sim_rate=kw["sim_rate"], events=kw["events"],
        duration=kw["duration"],
        users=kw["users"], scenario=kw["scenario"], faults=faults, funnel=funnel,
        start_ms=_parse_start(kw["start_time"]), via=None if kw["dry_run"] else kw["via"],
        bootstrap=kw["bootstrap"], api_url=kw["api_url"], topic_prefix=kw["topic_prefix"],
        delivery_timeout=kw["delivery_timeout"], batch_size=kw["batch_size"], out=kw["out"],
        progress=kw["progress"], workers=kw["workers"], format=kw["format_"],
        registry_url=kw["registry_url"], schema_evolution=kw["schema_evolution"])
    if opts.schema_evolution and opts.format != "avro":
        raise click.UsageError("--schema-evolution needs --format avro")
    if opts.format == "avro" and opts.via == "api":
        raise click.UsageError("--format avro is for --via kafka; start the API with "
                               "`loadgen api --format avro` to have it produce Avro")
    if opts.workers > 1 and opts.out == "-":
        raise click.UsageError("--out - (stdout) needs --workers 1")
    sys.exit(run_load(opts))


@main.command()
@click.option("--host", envvar="LOADGEN_API_HOST", show_envvar=True, default="127.0.0.1",
              show_default=True, help="Address to listen on.")
@click.option("--port", envvar="LOADGEN_API_PORT", show_envvar=True, type=int, default=8088,
              show_default=True, help="Port to listen on.")
@_bootstrap_option
@click.option("--topic-prefix", envvar="LOADGEN_TOPIC_PREFIX", show_envvar=True, default="",
              help="Prefix for the topic names.")
@click.option("--max-in-flight", type=click.IntRange(min=1), default=100_000,
              show_default=True,
              help="Events awaiting Kafka's ack before /collect answers 503 (back-pressure).")
@click.option("--delivery-timeout", envvar="LOADGEN_DELIVERY_TIMEOUT", show_envvar=True,
              type=click.FloatRange(min=0.5), default=30.0, show_default=True,
              help="Seconds Kafka may take to acknowledge an event before /collect fails it.")
@click.option("--format", "format_", type=click.Choice(["json", "avro"]), default="json",
              show_default=True, help="Produce JSON, or Avro validated against and encoded "
              "with the schemas registered in the schema registry.")
@_registry_option
def api(host: str, port: int, bootstrap: str, topic_prefix: str, max_in_flight: int,
        delivery_timeout: float, format_: str, registry_url: str) -> None:
    """Run the mock website API: POST /collect, GET /health, GET /metrics."""
    from loadgen.api import serve

    click.echo(f"loadgen api on http://{host}:{port} -> Kafka {bootstrap} ({format_})", err=True)
    serve(bootstrap, host, port, topic_prefix, max_in_flight, delivery_timeout,
          registry_url=registry_url if format_ == "avro" else None)


@main.command()
def scenarios() -> None:
    """List the traffic scenarios."""
    for s in SCENARIOS.values():
        click.echo(f"{s.name:<12} {s.description}")


if __name__ == "__main__":
    main()
