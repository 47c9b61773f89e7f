"""Record the SQL a first `dbt run` would send to an engine, without a server.

`dbt compile` prints only each model's SELECT; the statements a deployment sends (the
on-run-start hook, CREATE SOURCE, CREATE MATERIALIZED VIEW, CREATE INDEX, ...) come from the
adapter's materializations at run time. This runs the real `dbt run` in-process with
`psycopg2.connect` replaced by a recording connection that answers every statement with no rows,
as an empty server would: every model takes its first-deployment path. The adapters, their
materializations and the project's macros are the real ones; only the wire is missing.

    python tests/platform/dbt_offline.py --target risingwave --out statements.json

writes `[{"connection": "model.eddy_platform.stg_clicks", "sql": "create ..."}, ...]`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# What a Materialize server reports at startup (dbt-materialize checks it); any supported version.
MZ_VERSION = "v0.130.0 (offline)"


class _Info:
    def parameter_status(self, name: str) -> str | None:
        return MZ_VERSION if name == "mz_version" else None


def _columns(sql: str) -> list[tuple] | None:
    """The result columns of a query (a DB-API description), None for other statements."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="postgres")
    except sqlglot.errors.ParseError:
        return None
    if not isinstance(tree, exp.Query):
        return None
    return [(name, 25, None, None, None, None, None) for name in tree.named_selects]


class _Cursor:
    """A cursor of an empty server: each statement succeeds and returns no rows."""

    def __init__(self):
        self.description = None
        self.rowcount = -1
        self.statusmessage = ""
        self.query = None

    def execute(self, sql, bindings=None):
        self.query = sql
        self.description = _columns(sql)
        self.rowcount = 0
        self.statusmessage = "SELECT 0" if self.description else " ".join(str(sql).split()[:2])

    def fetchall(self):
        return []

    def fetchmany(self, size=None):
        return []

    def fetchone(self):
        return None

    def close(self):
        pass


class _Connection:
    def __init__(self):
        self.autocommit = False
        self.closed = 0
        self.info = _Info()

    def cursor(self, *args, **kwargs):
        return _Cursor()

    def get_backend_pid(self):
        return 0

    def commit(self):
        pass

    def rollback(self):
        pass

    def close(self):
        self.closed = 1


def _invoke(runner, command: str, target: str, project_dir: Path, target_path: Path,
            log_path: Path, *args: str):
    return runner.invoke([
        command, "--project-dir", str(project_dir), "--profiles-dir", str(project_dir),
        "--target", target, "--target-path", str(target_path), "--log-path", str(log_path),
        *args])


def record(target: str, project_dir: Path = REPO, target_path: Path | None = None,
           compile_first: bool = False) -> list[dict]:
    """Run `dbt run --target <target>` against the recording connection; the statements sent.

    `target_path`: dbt's target directory (default: a temporary one). `compile_first`: run
    `dbt compile --no-introspect` first, with the real psycopg2 (it must not connect), on the
    same parsed project; its manifest.json is left in `target_path`."""
    import psycopg2
    from dbt.adapters.sql.connections import SQLConnectionManager
    from dbt.cli.main import dbtRunner

    with tempfile.TemporaryDirectory(prefix="dbt-offline-") as tmp:
        paths = (Path(target_path or f"{tmp}/target"), Path(tmp) / "logs")
        parsed = _invoke(dbtRunner(), "parse", target, project_dir, *paths)
        if not parsed.success:
            raise RuntimeError(f"dbt parse --target {target} failed: {parsed.exception}")
        runner = dbtRunner(manifest=parsed.result)
        if compile_first:
            compiled = _invoke(runner, "compile", target, project_dir, *paths,
                               "--no-introspect", "--no-populate-cache")
            if not compiled.success:
                raise RuntimeError(f"dbt compile --target {target} failed without a server: "
                                   f"{compiled.exception or compiled.result}")
            shutil.copy(paths[0] / "manifest.json", paths[0] / "compiled_manifest.json")

        sent: list[dict] = []
        add_query = SQLConnectionManager.add_query

        def recording_add_query(self, sql, *args, **kwargs):
            sent.append({"connection": self.get_thread_connection().name, "sql": sql})
            return add_query(self, sql, *args, **kwargs)

        connect = psycopg2.connect
        psycopg2.connect = lambda *args, **kwargs: _Connection()
        SQLConnectionManager.add_query = recording_add_query
        try:
            result = _invoke(runner, "run", target, project_dir, *paths, "--threads", "1")
        finally:
            psycopg2.connect, SQLConnectionManager.add_query = connect, add_query
    if not result.success:
        raise RuntimeError(f"dbt run --target {target} failed offline: "
                           f"{result.exception or result.result}")
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--project-dir", type=Path, default=REPO)
    parser.add_argument("--target-path", type=Path, help="dbt's target directory")
    parser.add_argument("--compile-first", action="store_true",
                        help="run `dbt compile --no-introspect` first (manifest left in "
                             "<target-path>/compiled_manifest.json)")
    parser.add_argument("--out", type=Path, help="JSON file (default: stdout)")
    args = parser.parse_args(argv)
    statements = record(args.target, args.project_dir, args.target_path, args.compile_first)
    text = json.dumps(statements, indent=1)
    if args.out:
        args.out.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
