"""Materialize's own sqllogictest sample: per-file pass counts never fall below the ratchet.

Raise the ratchet after an improvement with `.venv/bin/python tests/compat/slt.py
--update-ratchet` (it never lowers a count)."""

from __future__ import annotations

import json

import slt


def test_slt_sample_never_regresses():
    ratchet = json.loads(slt.RATCHET.read_text())
    results = slt.run_all(sorted(slt.SAMPLE.glob("*.slt")))
    print("\n" + slt.report(results))
    assert set(ratchet) <= set(results), "a ratcheted file is missing from the sample"
    fallen = {name: (ok, ratchet[name]) for name, (ok, _n, _o) in results.items()
              if ok < ratchet.get(name, 0)}
    assert not fallen, f"passing records fell below the ratchet (now, ratchet): {fallen}"
    assert sum(r[0] for r in results.values()) > 0


def test_runner_compares_like_materialize(tmp_path):
    """The runner itself: a wrong expected value, a wrong error and a wrong hash fail."""
    f = tmp_path / "self.slt"
    f.write_text(
        "statement ok\nCREATE TABLE t (a int)\n\n"
        "statement ok\nINSERT INTO t VALUES (1), (2), (NULL)\n\n"
        "query I rowsort\nSELECT a FROM t\n----\n1\n2\nNULL\n\n"
        "query I rowsort\nSELECT a FROM t\n----\n1\n3\nNULL\n\n"
        "query B\nSELECT true\n----\ntrue\n\n"
        "query T\nSELECT ''\n----\n(empty)\n\n"
        "query I valuesort\nSELECT a FROM t WHERE a IS NOT NULL\n----\n"
        "2 values hashing to b026324c6904b2a9cb4b88d6d61c81d1\n\n"
        "query I valuesort\nSELECT a FROM t WHERE a IS NOT NULL\n----\n"
        "2 values hashing to 6ddb4095eb719e2a9f0a3f95677d24e0\n\n"
        "query error division by zero\nSELECT 1/0\n\n"
        "query error no such message\nSELECT 1/0\n\n"
        "statement error\nSELECT 1\n")
    outcomes = slt.run_file(f)
    assert [o.ok for o in outcomes] == [True, True, True, False, True, True, False, True,
                                        True, False, False]
