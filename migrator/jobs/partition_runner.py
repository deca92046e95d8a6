"""One Python function over every partition of many DataFrames, pickled and shipped to the JVM once.

``df.rdd.mapPartitions(fn).collect()`` costs the driver's Python about 7 ms a call whatever the
data: PySpark pickles ``fn`` again, converts its environment and includes to Java collections entry
by entry, builds the Python function and RDD objects through a dozen py4j round trips, then opens
and authenticates a local socket for the results. Replication calls it once a micro-batch, every
second, with the same function, so that fixed cost was most of the driver's CPU per change
(bench/stream_scale.py). :class:`PartitionRunner` builds the JVM's Python function once and per
DataFrame makes only the calls that differ: the DataFrame's rows as a Java RDD, a ``PythonRDD`` over
them, ``collect``. About half the cost (bench/batch_floor.py prints both).

It uses PySpark's internals (``_wrap_function``, the ``PythonRDD`` constructor, the output
serializer's chunks of pickled lists), pinned with PySpark in pyproject.toml and checked by
tests/integration/test_partition_runner.py against the public path. Where they are missing,
:func:`partition_runner` falls back to the public path, with a warning.
"""

from __future__ import annotations

import functools
import logging
import pickle
from typing import Any, Callable, Iterator

log = logging.getLogger(__name__)


def _per_partition(fn: Callable[[Iterator[Any]], Iterator[Any]], split: int, rows: Iterator[Any]) -> Iterator[Any]:
    return fn(rows)


class PartitionRunner:
    """``run(df)`` returns what ``fn`` yielded over every partition of ``df``, as ``collect()`` does."""

    def __init__(self, sc: Any, fn: Callable[[Iterator[Any]], Iterator[Any]]):
        from pyspark.core.rdd import _wrap_function
        from pyspark.serializers import BatchedSerializer, CPickleSerializer

        # What DataFrame.rdd reads rows with, and what every Python RDD writes its results with.
        self._function = _wrap_function(sc, functools.partial(_per_partition, fn),
                                        BatchedSerializer(CPickleSerializer()), sc.serializer)
        self._python_rdd = sc._jvm.org.apache.spark.api.python.PythonRDD

    def __call__(self, df: Any) -> list:
        rows = df._jdf.javaToPython().rdd()
        chunks = self._python_rdd(rows, self._function, False, False).collect()
        # Each chunk is one pickled list (sc.serializer batches its output).
        return [value for chunk in chunks for value in pickle.loads(chunk)]


def public_runner(fn: Callable[[Iterator[Any]], Iterator[Any]]) -> Callable[[Any], list]:
    return lambda df: df.rdd.mapPartitions(fn).collect()


def partition_runner(sc: Any, fn: Callable[[Iterator[Any]], Iterator[Any]]) -> Callable[[Any], list]:
    """The fast runner, or PySpark's public path where this PySpark lacks what it uses."""
    try:
        return PartitionRunner(sc, fn)
    except (ImportError, AttributeError, TypeError) as exc:
        log.warning("this PySpark lacks what the fast batch path uses (%s): using df.rdd.mapPartitions", exc)
        return public_runner(fn)
