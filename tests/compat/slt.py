"""A sqllogictest runner for Materialize's own test files, run against an in-process engine.

    .venv/bin/python tests/compat/slt.py [FILE.slt ...] [--verbose] [--update-ratchet]

Written here because no maintained Python runner speaks Materialize's dialect of the format
(`mode cockroach`, `query error`, `colnames`, `multiline`). Records are compared the way
Materialize's runner compares them: values in PostgreSQL text format (the engine's own wire
encoding), NULL as `NULL`, an empty string as `(empty)`, rows flattened to whitespace-separated
tokens (which makes `mode cockroach` and `mode standard` compare alike), `rowsort`/`valuesort`
sorting, `N values hashing to H` as the MD5 of the values, each followed by a newline. An
expected error is a regular expression searched in the message; a different error is a failure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from eddy.engine import Engine
from eddy.errors import EddyError
from eddy.pgwire.types import text_value

SAMPLE = Path(__file__).with_name("materialize-slt")
RATCHET = Path(__file__).with_name("slt_ratchet.json")
FILES = SAMPLE / "FILES.txt"
_HASHED = re.compile(r"^(\d+) values hashing to ([0-9a-f]{32})$")


@dataclass
class Record:
    kind: str                  # "statement" | "query"
    sql: str
    line: int
    expect_error: bool = False
    error: str | None = None   # regex the message must match (None: any error)
    types: str = ""
    options: set[str] = field(default_factory=set)
    expected: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    record: Record
    ok: bool
    why: str = ""


def parse(text: str) -> list[Record | str]:
    """Records of a file, and control words (`halt`, `reset-server`) as plain strings."""
    lines = text.split("\n")
    out: list[Record | str] = []
    i, skip_next = 0, False
    while i < len(lines):
        line = lines[i].rstrip("\r")
        words = line.split()
        i += 1
        if not words or line.startswith("#"):
            continue
        head = words[0].lower()
        if head in ("halt", "reset-server"):
            out.append(head)
            continue
        if head == "skipif":
            skip_next = skip_next or words[1:2] == ["mz"]
            continue
        if head == "onlyif":
            skip_next = skip_next or words[1:2] != ["mz"]
            continue
        if head in ("mode", "hash-threshold"):
            continue
        start = i
        body: list[str] = []
        # a statement runs up to the blank line: `----` in it is an SQL comment, as in
        # Materialize's runner (a query's `----` starts its expected output)
        while i < len(lines) and lines[i].strip() and (
                head == "statement" or lines[i].strip() != "----"):
            body.append(lines[i])
            i += 1
        record = Record(head, "\n".join(body), start)
        if head == "statement":
            record.expect_error = words[1:2] == ["error"]
            record.error = _expected_error(words[2:]) if record.expect_error else None
        elif head == "query":
            if words[1:2] == ["error"]:
                record.expect_error, record.error = True, _expected_error(words[2:])
            else:
                record.types = words[1] if len(words) > 1 else ""
                record.options = {o for w in words[2:] for o in w.split(",") if o}  # `colnames,rowsort`
        else:                       # simple, copy, ...: counted, never passes
            record.kind = head
        if i < len(lines) and lines[i].strip() == "----":
            i += 1
            if "multiline" in record.options:
                while i < len(lines) and lines[i] != "EOF":
                    record.expected.append(lines[i])
                    i += 1
                i += 1
            else:
                while i < len(lines) and lines[i].strip():
                    record.expected.append(lines[i])
                    i += 1
        if skip_next:
            skip_next = False
            continue
        if record.sql.lstrip().upper().startswith("EXPLAIN"):
            continue            # plans are engine-specific
        out.append(record)
    return out


def _expected_error(words: list[str]) -> str | None:
    """The message regex of `error [pgcode NNNNN] regex`: Materialize's parser drops the pgcode."""
    if words[:1] == ["pgcode"]:
        words = words[2:]
    return " ".join(words) or None


def _fmt(v: object, oid: int) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):      # Materialize's runner prints booleans in words
        return "true" if v else "false"
    s = text_value(v, oid)
    return "(empty)" if s == "" else s


def _check_error(record: Record, error: EddyError | None) -> Outcome:
    if error is None:
        return Outcome(record, False, "expected an error, got none")
    if record.error is None:
        return Outcome(record, True)
    # Materialize's runner matches the client's text of the error: tokio-postgres prints
    # `db error: ERROR: <message>` and a `DETAIL:` line when there is one
    msg = f"db error: ERROR: {error.message}"
    if error.detail:
        msg += f"\nDETAIL: {error.detail}"
    try:
        hit = re.search(record.error, msg) is not None
    except re.error:
        hit = record.error in msg
    return Outcome(record, hit, "" if hit else f"error {msg!r} does not match {record.error!r}")


def _compare(record: Record, result) -> Outcome:
    cols = result.columns or []
    rows = [[_fmt(v, c.type_oid) for v, c in zip(row, cols, strict=False)]
            for row in result.rows]
    expected = list(record.expected)
    tokens_of = " ".join
    if "colnames" in record.options and expected:
        want, got = expected[0].split(), [c.name for c in cols]
        if want != got:
            return Outcome(record, False, f"column names {got} != {want}")
        expected = expected[1:]
    if "rowsort" in record.options:
        rows.sort(key=lambda r: tokens_of(r))
    values = [v for r in rows for v in r]
    if "valuesort" in record.options:
        values.sort()
    if len(expected) == 1 and (m := _HASHED.match(expected[0].strip())):
        digest = hashlib.md5("".join(v + "\n" for v in values).encode()).hexdigest()
        ok = int(m.group(1)) == len(values) and digest == m.group(2)
        return Outcome(record, ok, "" if ok else f"{len(values)} values hash to {digest}")
    got = tokens_of(values).split() if "multiline" not in record.options else \
        "\n".join(values).split()
    want = " ".join(expected).split()
    if any("\u2420" in w for w in want):     # `␠` marks a space inside a value
        got = [v.replace(" ", "\u2420") for v in values]
    if "rowsort" in record.options and "multiline" not in record.options:
        # expected rows may be listed in another order than our sort: compare as row multisets
        width = max(len(record.types), 1)
        if len(want) == len(got) and len(got) % width == 0 and width > 0 and \
                sorted(_chunks(got, width)) == sorted(_chunks(want, width)):
            return Outcome(record, True)
    ok = got == want
    return Outcome(record, ok, "" if ok else f"got {got[:12]} want {want[:12]}")


def _chunks(tokens: list[str], width: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + width]) for i in range(0, len(tokens), width)]


def run_file(path: Path) -> list[Outcome]:
    """Every record of one file in a fresh in-memory engine."""
    engine = Engine(None, tick_interval=None)
    session = engine.session()
    outcomes: list[Outcome] = []
    try:
        for record in parse(path.read_text()):
            if record == "halt":
                break
            if record == "reset-server":
                session.close()
                engine.close()
                engine = Engine(None, tick_interval=None)
                session = engine.session()
                continue
            outcomes.append(_run(session, record))
    finally:
        session.close()
        engine.close()
    return outcomes


def _run(session, record: Record) -> Outcome:
    if record.kind not in ("statement", "query"):
        return Outcome(record, False, f"{record.kind} records not supported by this runner")
    try:
        results = session.execute(record.sql)
    except EddyError as e:
        if record.expect_error:
            return _check_error(record, e)
        return Outcome(record, False, f"error {e.sqlstate}: {e.message}")
    except Exception as e:  # noqa: BLE001 - an internal error is a failed record, not a crash
        return Outcome(record, False, f"internal error {type(e).__name__}: {e}")
    if record.expect_error:
        return _check_error(record, None)
    if record.kind == "statement":
        return Outcome(record, True)
    if not results or results[-1].columns is None:
        return Outcome(record, False, "query returned no rows description")
    return _compare(record, results[-1])


def run_all(paths: list[Path]) -> dict[str, tuple[int, int, list[Outcome]]]:
    out = {}
    for path in paths:
        outcomes = run_file(path)
        out[path.name] = (sum(o.ok for o in outcomes), len(outcomes), outcomes)
    return out


def added_files() -> set[str]:
    """Files this project added to the sample (FILES.txt kind `..., added`): totalled apart
    from the shared sample."""
    rows = [line.split() for line in FILES.read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    return {row[0] for row in rows if row[-1] == "added"}


def report(results: dict, verbose: bool = False) -> str:
    lines = [f"{'file':28} {'pass':>6} {'total':>6} {'rate':>7}"]
    added = added_files()
    totals = {"shared": [0, 0], "added": [0, 0]}
    for name, (ok, n, outcomes) in sorted(results.items(), key=lambda kv: (kv[0] in added, kv[0])):
        group = totals["added" if name in added else "shared"]
        group[0], group[1] = group[0] + ok, group[1] + n
        lines.append(f"{name:28} {ok:6d} {n:6d} {ok / max(n, 1):7.1%}"
                     + ("  (added)" if name in added else ""))
        if verbose:
            lines += [f"    line {o.record.line}: {o.why}  [{o.record.sql[:70]!r}]"
                      for o in outcomes if not o.ok]
    for label, key in (("TOTAL (shared sample)", "shared"), ("TOTAL (added files)", "added")):
        passed, total = totals[key]
        if total:
            lines.append(f"{label:28} {passed:6d} {total:6d} {passed / max(total, 1):7.1%}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--verbose", "-v", action="store_true", help="list every failing record")
    ap.add_argument("--update-ratchet", action="store_true",
                    help=f"raise the per-file pass counts in {RATCHET.name} (never lowers them)")
    args = ap.parse_args(argv)
    paths = args.files or sorted(SAMPLE.glob("*.slt"))
    results = run_all(paths)
    print(report(results, args.verbose))
    if args.update_ratchet:
        ratchet = json.loads(RATCHET.read_text()) if RATCHET.exists() else {}
        for name, (ok, _n, _o) in results.items():
            ratchet[name] = max(ok, ratchet.get(name, 0))
        RATCHET.write_text(json.dumps(dict(sorted(ratchet.items())), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
