"""The `FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY ...` clause of CREATE SOURCE (parsing only;
kept apart from the Avro driver so the DDL parser does not import the driver)."""

from __future__ import annotations

from eddy.errors import EddyError


def parse_avro_format(cur, spec) -> None:
    """After `FORMAT AVRO` (or `KEY/VALUE FORMAT AVRO`): `USING CONFLUENT SCHEMA REGISTRY
    CONNECTION name [SEED [KEY SCHEMA '...'] [VALUE SCHEMA '...']]`."""
    cur.expect_word("USING", "CONFLUENT", "SCHEMA", "REGISTRY", "CONNECTION")
    name = cur.expect_name()
    opts = spec.format_options
    if opts.get("csr") not in (None, name):
        raise EddyError("0A000", "key and value in different schema registries not supported")
    opts["csr"] = name
    if cur.accept_word("SEED"):
        if cur.accept_word("KEY", "SCHEMA"):
            opts["seed_key"] = cur.expect_string()
        if cur.accept_word("VALUE", "SCHEMA"):
            opts["seed_value"] = cur.expect_string()
    tok = cur.peek()
    opts["seed_at"] = tok.pos if tok is not None else len(cur.text)
