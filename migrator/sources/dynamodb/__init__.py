"""DynamoDB as a source: :mod:`.table` describes a table, :mod:`.scan` reads it in segments,
:mod:`.streams` follows its stream. This module only wires the Spark data source.

Usable on its own::

    spark.dataSource.register(DynamoDBStreamsDataSource)
    (spark.readStream.format("dynamodb-streams")
        .option("table", "orders").option("region", "eu-west-1")   # or .option("streamArn", ...)
        .load())

Options: ``streamArn`` or ``table`` (its latest stream), ``region``, ``endpoint`` (a URL),
``maxRecordsPerTrigger`` (default 10000). Credentials come from the default AWS chain; the migrator
job passes its configured credentials in a subclass instead (:func:`with_client_spec`), so that no
secret ever sits in the query's options, where the Spark UI would show it.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql.datasource import DataSource

from ...clients import ClientSpec
from ...errors import SourceError
from .streams import SCHEMA, DynamoDBStreamReader

DEFAULT_MAX_RECORDS = 10_000


class DynamoDBStreamsDataSource(DataSource):
    """The ``dynamodb-streams`` streaming source: one row per stream record (see ``SCHEMA``)."""

    client_spec: ClientSpec | None = None

    @classmethod
    def name(cls) -> str:
        return "dynamodb-streams"

    def schema(self) -> str:
        return SCHEMA

    def streamReader(self, schema: Any) -> DynamoDBStreamReader:
        options = {k.lower(): v for k, v in self.options.items()}
        spec = self.client_spec or ClientSpec(endpoint_url=options.get("endpoint"), region=options.get("region"))
        try:
            max_records = int(options.get("maxrecordspertrigger", DEFAULT_MAX_RECORDS))
            if max_records < 1:
                raise ValueError
        except ValueError:
            raise SourceError(f"option maxRecordsPerTrigger: got {options['maxrecordspertrigger']!r}; "
                              "must be a positive integer") from None
        arn = options.get("streamarn")
        if not arn:
            table = options.get("table")
            if not table:
                raise SourceError("dynamodb-streams needs the option streamArn or table")
            described = spec.dynamodb().describe_table(TableName=table)["Table"]
            arn = described.get("LatestStreamArn")
            if not arn or not described.get("StreamSpecification", {}).get("StreamEnabled"):
                raise SourceError(f"table {table!r} has no enabled stream; enable one (NEW_IMAGE)", table)
        return DynamoDBStreamReader(arn, spec, max_records)


def with_client_spec(spec: ClientSpec) -> type[DynamoDBStreamsDataSource]:
    """A subclass of the source bound to ``spec``; Spark pickles it (secrets included) with the
    class, never into options or plans."""
    return type("ConfiguredDynamoDBStreamsDataSource", (DynamoDBStreamsDataSource,), {"client_spec": spec})
