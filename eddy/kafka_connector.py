"""The `kafka` connector `eddy serve` registers: `CREATE CONNECTION ... TO KAFKA`, Kafka sources
(JSON/TEXT/BYTES, or Avro through a schema registry) and Kafka sinks. Above the drivers, so
neither driver module imports the other or this one."""

from __future__ import annotations

from eddy.kafka_client import kafka_connection
from eddy.sinks.ddl import parse_sink
from eddy.sinks.kafka import KafkaSinkDriver
from eddy.sources.ddl import parse_connection, parse_source
from eddy.sources.kafka import KafkaSourceDriver


class KafkaConnector:
    """Connections, sources and sinks of kind `kafka`."""

    kind = "kafka"

    def create_connection(self, name: str, body: str) -> dict:
        return parse_connection(body)

    def create_source(self, ctx, body: str) -> KafkaSourceDriver:
        spec = parse_source(body)
        if spec.value_format == "AVRO":  # columns from the registry
            from eddy.sources.avro_source import AvroSourceDriver
            return AvroSourceDriver(ctx, spec, kafka_connection(ctx, spec.connection), body)
        return KafkaSourceDriver(ctx, spec, kafka_connection(ctx, spec.connection))

    def create_sink(self, ctx, body: str) -> KafkaSinkDriver:
        columns = [(c[0], c[1]) for c in ctx.from_columns]
        spec = parse_sink(body, [c for c, _ in columns])
        if spec.format_options.get("csr"):  # FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY
            from eddy.sinks.avro_sink import AvroSinkDriver
            return AvroSinkDriver(ctx, spec, kafka_connection(ctx, spec.connection), columns)
        return KafkaSinkDriver(ctx, spec, kafka_connection(ctx, spec.connection), columns)


def make_connector() -> KafkaConnector:
    return KafkaConnector()
