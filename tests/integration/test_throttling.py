"""Throttling and partial batch writes, injected by a proxy in front of the real servers."""

from __future__ import annotations

from devtools import datagen
from devtools.faultproxy import FaultProxy
from tests.integration.conftest import copy, make_config


def test_every_item_arrives_through_throttles_and_unprocessed_items(ddb, spark, table_name):
    source, target = ddb
    datagen.create_table(source.client(), table_name)
    items = datagen.generate_items(1500, seed=11)
    datagen.put_items(source.client(), table_name, items)
    reads = FaultProxy(source.endpoint, throttle_rate=0.3, partial_rate=0.0, seed=1, operations={"Scan"}).start()
    writes = FaultProxy(target.endpoint, throttle_rate=0.25, partial_rate=0.35, seed=2,
                        operations={"BatchWriteItem"}).start()
    try:
        config = make_config(ddb, table_name, source={"endpoint": {"host": "127.0.0.1", "port": reads.port},
                                                      "scanSegments": 3},
                             target={"endpoint": {"host": "127.0.0.1", "port": writes.port}})
        _, result = copy(spark, config)
    finally:
        reads.stop()
        writes.stop()
    assert reads.throttled > 0
    assert writes.throttled > 10 and writes.partial > 10
    assert result.items == len(items)
    assert result.throttles == reads.throttled + writes.throttled
    assert result.unprocessed > 0
    copied = datagen.by_key(datagen.scan_all(target.client(), table_name))
    assert copied == datagen.by_key(items)
