"""Kafka sources in `FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr`.

As in Materialize: at CREATE SOURCE the latest schema of the subject `<topic>-value` (and
`<topic>-key` for a key in Avro) is fetched and becomes the source's reader schema; its record
fields are the columns. The schemas are then written into the stored statement (`SEED KEY
SCHEMA '...' VALUE SCHEMA '...'`, Materialize's purified form), so a restart or a later version
of the subject never changes the columns. Envelopes: NONE (a row per message), UPSERT (the
latest value per key; the key's columns first; a null value deletes) and DEBEZIUM (the
`after` record per key; a null `after` or value deletes).
"""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from eddy.errors import EddyError
from eddy.sources.avro_decode import Reader, keep_mask
from eddy.sources.avro_registry import (
    RegistryClient,
    RegistryError,
    RegistryUnavailable,
    UnknownSchema,
    csr_connection,
)
from eddy.sources.avro_schema import Column, debezium_after, parse, record_columns
from eddy.sources.ddl import FORMATS, INCLUDE_TYPES
from eddy.sources.decode import (
    ARROW_TYPES,
    TOMBSTONE,
    Decoded,
    binary_array,
    dead_letters,
    decode_column,
    last_per_key,
    metadata_column,
)
from eddy.sources.kafka import KafkaSourceDriver

log = logging.getLogger(__name__)
REGISTRY_RETRY = 1.0  # seconds between tries while the registry does not answer


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class AvroSourceDriver(KafkaSourceDriver):
    """A Kafka source whose values (and possibly keys) are Confluent-framed Avro."""

    def __init__(self, ctx, spec, connection: dict, body: str):
        super().__init__(ctx, spec, connection)
        opts = spec.format_options
        self.registry = RegistryClient.from_options(csr_connection(ctx, opts["csr"]), ctx)
        key_avro = spec.key_format == "AVRO"
        wants_key = spec.envelope in ("UPSERT", "DEBEZIUM") or spec.key_column is not None
        if spec.envelope == "DEBEZIUM" and not key_avro:
            raise EddyError("0A000", "ENVELOPE DEBEZIUM needs FORMAT AVRO for the key too")
        value_text = opts.get("seed_value") or self._latest(f"{spec.topic}-value")
        key_text = None
        if key_avro and wants_key:
            key_text = opts.get("seed_key") or self._latest(f"{spec.topic}-key")
        self.purified_body = body
        if "seed_value" not in opts:
            seed = " SEED" + (f" KEY SCHEMA {_quote(key_text)}" if key_text else "") + \
                   f" VALUE SCHEMA {_quote(value_text)}"
            at = opts["seed_at"]
            self.purified_body = (body[:at].rstrip() + seed + " " + body[at:]).strip()

        value_schema = parse(value_text)
        self.value = Reader(self.registry, value_text, record_columns(value_schema))
        if spec.envelope == "DEBEZIUM":
            after = Reader(self.registry, value_text, record_columns(debezium_after(value_schema)))
            self.after_columns = after.columns
        self.key = None
        if key_text is not None:
            key_cols = record_columns(parse(key_text))
            if spec.key_column not in (None, "key") and len(key_cols) == 1:
                key_cols = [Column(spec.key_column, *_rest(key_cols[0]))]
            self.key = Reader(self.registry, key_text, key_cols)
        self.columns, self.upsert_key = self._layout()

    def _latest(self, subject: str) -> str:
        try:
            return self.registry.latest(subject)[1]
        except UnknownSchema:
            raise EddyError("42704", f"no schema registered for subject {subject!r} in the schema "
                            f"registry at {self.registry.url}") from None
        except RegistryUnavailable as e:
            raise EddyError("58000", f"could not reach the schema registry: {e}") from None
        except RegistryError as e:
            raise EddyError("58000", str(e)) from None

    def _layout(self) -> tuple[list[tuple[str, str]], list[str] | None]:
        spec = self.spec
        key_cols: list[tuple[str, str]] = []
        if self.key is not None:
            key_cols = [(c.name, c.type) for c in self.key.columns]
        elif spec.key_column is not None:
            key_cols = [(spec.key_column, FORMATS[spec.key_format or "BYTES"])]
        meta = [(name, INCLUDE_TYPES[what]) for what, name in spec.include if what != "KEY"]
        if spec.envelope == "DEBEZIUM":
            row = [(c.name, c.type) for c in self.after_columns]
            names = [n for n, _ in row]
            missing = [n for n, _ in key_cols if n not in names]
            if missing:
                raise EddyError("42703", f"ENVELOPE DEBEZIUM: key field {missing[0]!r} is not a "
                                "field of the `after` record")
            return row + meta, [n for n, _ in key_cols]
        value = [(c.name, c.type) for c in self.value.columns]
        if spec.envelope == "UPSERT" or spec.key_column is not None:
            cols = key_cols + value + meta
        else:
            cols = value + meta
        names = [n for n, _ in cols]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup is not None:
            raise EddyError("42701", f'column "{dup}" specified more than once (key and value '
                            'fields share a name)')
        return cols, ([n for n, _ in key_cols] if spec.envelope == "UPSERT" else None)

    # -- decoding -------------------------------------------------------------------------
    def _decode(self, batch, checker) -> Decoded:
        """Decode `batch`; while the registry does not answer, the source is stalled on this
        batch (nothing is handed to the engine, nothing dead-lettered) and retries."""
        warned = False
        while True:
            try:
                decoded = self._decode_once(batch, checker)
            except RegistryUnavailable as e:
                if not warned:
                    log.warning("avro source %s: schema registry unreachable, retrying: %s",
                                self.source_id, e)
                    warned = True
                self._status.set("stalled", f"schema registry unreachable: {e}")
                if self._stop.wait(REGISTRY_RETRY):
                    raise
                continue
            if warned:
                log.info("avro source %s: schema registry answers again", self.source_id)
                self._status.set("running")
            return decoded

    def _decode_once(self, batch, checker) -> Decoded:
        spec = self.spec
        n = len(batch)
        errors: dict[int, str] = {}
        deletes = spec.envelope in ("UPSERT", "DEBEZIUM")
        key_arrays: dict[str, pa.Array] = {}
        if self.key is not None:
            keys = self.key.read(batch.keys, errors, "key")
            key_arrays = self.key.to_arrays(keys)
        elif spec.key_column is not None:
            karr = binary_array(batch.keys)
            knull = karr.is_null().to_numpy(zero_copy_only=False)
            kerr: dict[int, str] = {}
            key_arrays = {spec.key_column: decode_column(spec.key_format or "BYTES", karr,
                                                          batch.keys, knull, kerr, checker, False)}
            if deletes:
                for i in knull.nonzero()[0]:
                    errors.setdefault(int(i), "ENVELOPE UPSERT message has no key")
            for i, e in kerr.items():
                errors.setdefault(i, "key: " + e)
        values = self.value.read(batch.values, errors, "value", skip_null=deletes)
        tomb = [v is None for v in values]
        if spec.envelope == "DEBEZIUM":
            after = []
            for i, v in enumerate(values):
                row = v.get("after") if isinstance(v, dict) else None
                after.append(row)
                tomb[i] = row is None
            value_arrays = Reader.to_arrays(_AfterView(self.after_columns), after)
        else:
            value_arrays = self.value.to_arrays(values)
        cols: dict[str, pa.Array] = {}
        for name, typ in self.columns:
            what = next((w for w, c in spec.include if c == name and w != "KEY"), None)
            if what is not None:
                cols[name] = metadata_column(what, batch, ARROW_TYPES[typ])
            elif name in key_arrays and (spec.envelope != "DEBEZIUM"):
                cols[name] = key_arrays[name]
            else:
                cols[name] = value_arrays[name]
        if deletes:
            cols[TOMBSTONE] = pa.array(tomb, pa.bool_())
        rows = pa.table(cols)
        if spec.envelope == "DEBEZIUM":  # a deletion carries its key from the message key
            rows = _fill_keys(rows, key_arrays, self.upsert_key, tomb)
        if errors:
            rows = rows.filter(keep_mask(n, errors))
        if deletes and rows.num_rows:
            rows = _last_per_key_multi(rows, self.upsert_key)
        dead_raw = [(i, batch.keys[i], batch.values[i], errors[i]) for i in sorted(errors)]
        return Decoded(rows, dead_letters(batch, dead_raw), dead_raw)


class _AfterView:
    """Reader.to_arrays over the Debezium `after` records (columns only, no schema needed)."""

    def __init__(self, columns: list[Column]):
        self.columns = columns
        self.flatten = True


def _rest(c: Column) -> tuple:
    return c.type, c.raw, c.arrow, c.json


def _fill_keys(rows: pa.Table, key_arrays: dict, key: list[str], tomb: list[bool]) -> pa.Table:
    if not any(tomb):
        return rows
    mask = pa.array(tomb)
    for name in key:
        idx = rows.column_names.index(name)
        filled = pc.if_else(mask, key_arrays[name].cast(rows.schema.field(name).type),
                                    rows.column(name))
        rows = rows.set_column(idx, name, filled)
    return rows


def _last_per_key_multi(rows: pa.Table, key: list[str]) -> pa.Table:
    if len(key) == 1:
        return last_per_key(rows, key[0])
    idx = rows.select(key).append_column("__i", pa.array(np.arange(rows.num_rows)))
    last = idx.group_by(key, use_threads=False).aggregate([("__i", "max")]).column("__i_max")
    if len(last) == rows.num_rows:
        return rows
    return rows.take(pa.array(np.sort(last.to_numpy())))


def create_avro_source(ctx, spec, connection: dict, body: str) -> AvroSourceDriver:
    return AvroSourceDriver(ctx, spec, connection, body)
