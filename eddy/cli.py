"""The `eddy` command line: `eddy serve`."""

from __future__ import annotations

import asyncio
import logging
import os

import click


@click.group()
@click.option("--log-level", default="INFO", envvar="EDDY_LOG_LEVEL", show_envvar=True,
              show_default=True, help="Python logging level.")
def main(log_level: str) -> None:
    """eddy: an embedded streaming SQL engine that speaks the PostgreSQL protocol."""
    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # sqlglot notes each array subscript it shifts between dialects at INFO: at start, 216 of
    # the engine's 298 log lines in the marts bench. Its warnings stay; its notes at DEBUG.
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("sqlglot").setLevel(logging.WARNING)


@main.command()
@click.option("--host", default="127.0.0.1", envvar="EDDY_HOST", show_envvar=True,
              show_default=True, help="Address to listen on.")
@click.option("--port", default=6875, type=int, envvar="EDDY_PORT", show_envvar=True,
              show_default=True, help="Port to listen on (0: any free port).")
@click.option("--data-dir", default=".stack/eddy", envvar="EDDY_DATA_DIR", show_envvar=True,
              show_default=True, help="Directory of the state database.")
@click.option("--state-storage", type=click.Choice(["file", "memory"]), default="file",
              envvar="EDDY_STATE_STORAGE", show_envvar=True, show_default=True,
              help="The state in a DuckDB file with its write-ahead log, or in memory made "
                   "durable by snapshots (EDDY_SNAPSHOT_INTERVAL, EDDY_VACUUM_INTERVAL).")
@click.option("--tick-interval", default=0.1, type=float, envvar="EDDY_TICK_INTERVAL",
              show_envvar=True, show_default=True, help="Seconds between ticks.")
@click.option("--password", default=None, envvar="EDDY_PASSWORD", show_envvar=True,
              help="Require this password from every client (default: trust).")
@click.option("--auth-method", type=click.Choice(["scram-sha-256", "md5"]),
              default="scram-sha-256", show_default=True,
              help="Password authentication method when --password is set.")
@click.option("--metrics-port", default=6876, type=int, envvar="EDDY_METRICS_PORT",
              show_envvar=True, show_default=True,
              help="Port of the Prometheus /metrics endpoint on --host (0: disabled).")
@click.option("--shutdown-grace", default=5.0, type=float, envvar="EDDY_SHUTDOWN_GRACE",
              show_envvar=True, show_default=True,
              help="Seconds SIGTERM waits for a running tick; after that the tick is abandoned "
                   "(uncommitted; its input is read again after a restart).")
def serve(host: str, port: int, data_dir: str, state_storage: str, tick_interval: float,
          password: str | None, auth_method: str, metrics_port: int,
          shutdown_grace: float) -> None:
    """Run the engine and serve it over the PostgreSQL protocol. SIGTERM or Ctrl-C stops it:
    no new connections, sessions closed, the engine closed (a second signal: at once)."""
    if password is None and host not in ("127.0.0.1", "localhost", "::1"):
        raise click.UsageError("without --password, eddy only listens on loopback")
    os.environ["EDDY_STATE_STORAGE"] = state_storage    # read by eddy.storage.state
    from eddy.malloc_tuning import restart_with_tunables
    restart_with_tunables()     # once, before anything is loaded or opened
    from eddy.server import serve as run

    asyncio.run(run(host, port, data_dir, tick_interval=tick_interval, password=password,
                    auth_method=auth_method, metrics_port=metrics_port,
                    shutdown_grace=shutdown_grace))


@main.command()
@click.option("--host", default="127.0.0.1", envvar="EDDY_HOST", show_envvar=True,
              show_default=True, help="Engine address.")
@click.option("--port", default=6875, type=int, envvar="EDDY_PORT", show_envvar=True,
              show_default=True, help="Engine port (PostgreSQL protocol).")
@click.option("--user", default="materialize", show_default=True)
@click.option("--password", default=None, envvar="EDDY_PASSWORD", show_envvar=True)
@click.option("--interval", default=2.0, type=float, show_default=True,
              help="Seconds between refreshes.")
@click.option("--once", is_flag=True, help="Print the table once and exit.")
def status(host: str, port: int, user: str, password: str | None, interval: float,
           once: bool) -> None:
    """A live table of a running engine: sources, lag, views, freshness, ticks."""
    import psycopg

    from eddy.status_view import run

    dsn = psycopg.conninfo.make_conninfo(host=host, port=port, user=user, dbname="materialize",
                                         password=password)
    try:
        run(dsn, interval, once)
    except psycopg.OperationalError as e:
        raise click.ClickException(f"cannot reach eddy at {host}:{port}: {e}") from e


if __name__ == "__main__":
    main()
