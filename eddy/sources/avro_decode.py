"""Decoding a batch of Confluent wire-format Avro messages into source rows and dead letters.

A message is a magic byte 0, a 4-byte big-endian schema id and the Avro body. Each body is
read by fastavro's compiled reader with the writer schema its id names, resolved to the
source's reader schema (the latest value schema when the source was created), so added
optional fields and removed fields with defaults just work. The decoded records become
columns through Arrow's converters (`RecordBatch.from_pylist`), time columns by one cast.

Failures are rows of the dead-letter relation with their reason, never exceptions: not the
wire format, an unknown schema id, a corrupt body, a writer schema the reader schema cannot
resolve. The one exception is a registry that does not answer (`RegistryUnavailable`): the
batch is not decodable now, so the driver retries it later and nothing is lost.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import orjson
import pyarrow as pa
from fastavro import parse_schema, schemaless_reader

from eddy.sources.avro_registry import RegistryClient, RegistryError, UnknownSchema
from eddy.sources.avro_schema import Column, parse, plain_schema

MAGIC = 0


@dataclass
class Reader:
    """One side (key or value) of an Avro source: the reader schema and its columns."""

    registry: RegistryClient
    reader_text: str
    columns: list[Column]
    flatten: bool = True  # a record's fields are the columns (else one column, the value)
    _reader: dict = field(init=False)
    _reader_id: int | None = None
    _writers: dict = field(default_factory=dict)  # schema id -> parsed plain writer schema

    def __post_init__(self) -> None:
        self._reader = parse_schema(plain_schema(parse(self.reader_text)))

    def writer(self, schema_id: int):
        """The parsed writer schema of `schema_id`; None when it is the reader schema itself."""
        if schema_id not in self._writers:
            text = self.registry.schema_by_id(schema_id)  # UnknownSchema / RegistryUnavailable
            if _same(text, self.reader_text):
                self._writers[schema_id] = None
            else:
                self._writers[schema_id] = parse_schema(plain_schema(parse(text)))
        return self._writers[schema_id]

    def read(self, payloads: list[bytes | None], errors: dict[int, str], what: str,
             skip_null: bool = False) -> list:
        """Decoded values (None where `errors` gets an entry, or where the payload is null)."""
        out: list = [None] * len(payloads)
        reader = self._reader
        # one buffer for the whole batch: each body is read in place (seek to its start, check
        # that the record ends exactly at the next message), no buffer object per message
        starts = [0] * (len(payloads) + 1)
        pos = 0
        for i, payload in enumerate(payloads):
            starts[i] = pos
            pos += len(payload) if payload is not None else 0
        starts[len(payloads)] = pos
        buf = io.BytesIO(b"".join(p for p in payloads if p is not None))
        for i, payload in enumerate(payloads):
            if payload is None:
                if not skip_null:
                    errors.setdefault(i, f"{what}: message has no {what} (null payload)")
                continue
            if i in errors:
                continue
            if len(payload) < 5 or payload[0] != MAGIC:
                errors[i] = (f"{what}: not Confluent Avro wire format (expected magic byte 0 and "
                             f"a 4-byte schema id, got {len(payload)} bytes starting {payload[:5].hex() or 'empty'})")
                continue
            schema_id = int.from_bytes(payload[1:5], "big")
            try:
                writer = self._writers[schema_id] if schema_id in self._writers else self.writer(schema_id)
            except UnknownSchema:
                errors[i] = f"{what}: unknown schema id {schema_id}"
                continue
            except RegistryError as e:
                errors[i] = f"{what}: schema id {schema_id}: {e}"
                continue
            except ValueError as e:  # unparsable writer schema
                errors[i] = f"{what}: schema id {schema_id} is not a valid Avro schema: {e}"
                continue
            buf.seek(starts[i] + 5)
            try:
                if writer is None:
                    record = schemaless_reader(buf, reader, None)
                else:
                    record = schemaless_reader(buf, writer, reader)
            except Exception as e:  # noqa: BLE001 - fastavro raises many kinds on corrupt input
                kind = type(e).__name__
                if "Resolution" in kind:
                    errors[i] = f"{what}: writer schema id {schema_id} is incompatible with the reader schema: {e}"
                else:
                    why = str(e) or ("the body ends early" if isinstance(e, EOFError) else kind)
                    errors[i] = f"{what}: corrupt Avro body (schema id {schema_id}): {why}"
                continue
            end = buf.tell()
            if end != starts[i + 1]:
                errors[i] = (f"{what}: corrupt Avro body (schema id {schema_id}): "
                             + (f"{starts[i + 1] - end} bytes left after the record" if end < starts[i + 1]
                                else "the body ends early"))
                continue
            out[i] = record
        return out

    def to_arrays(self, records: list) -> dict[str, pa.Array]:
        """Columns of the decoded records (None entries become all-null rows)."""
        cols = self.columns
        if not self.flatten:
            records = [None if r is None else {cols[0].name: r} for r in records]
        for c in cols:
            if c.json:
                for r in records:
                    if r is not None and r.get(c.name) is not None:
                        r[c.name] = orjson.dumps(r[c.name], default=str,
                                                 option=orjson.OPT_SORT_KEYS).decode()
        schema = pa.schema([(c.name, c.raw) for c in cols])
        batch = pa.RecordBatch.from_pylist([r or {} for r in records], schema=schema)
        out = {}
        for c, arr in zip(cols, batch.columns, strict=True):
            out[c.name] = arr if c.raw == c.arrow else arr.cast(c.arrow)
        return out


def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return orjson.loads(a) == orjson.loads(b)
    except orjson.JSONDecodeError:
        return False


def keep_mask(n: int, errors: dict[int, str]) -> pa.Array:
    keep = np.ones(n, dtype=bool)
    if errors:
        keep[list(errors)] = False
    return pa.array(keep)
