"""Files that Spark writes (the change log, checkpoints), looked at through Spark's Hadoop file system.

The driver's Python cannot read ``s3a://`` or ``hdfs://`` itself, and these are the places Spark
writes to; the JVM's ``FileSystem`` for the path's scheme, with the session's Hadoop configuration,
reads them all the same way (local paths too).
"""

from __future__ import annotations

from typing import Any


class HadoopFiles:
    """Listing, sizing and removing under a path, on the driver, through py4j (metadata only)."""

    def __init__(self, spark: Any):
        self._jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _fs(self, path: str) -> tuple[Any, Any]:
        jpath = self._jvm.org.apache.hadoop.fs.Path(path)
        return jpath.getFileSystem(self._conf), jpath

    def names(self, path: str) -> list[str]:
        """Names of the entries directly under ``path``; none when it does not exist."""
        fs, jpath = self._fs(path)
        if not fs.exists(jpath):
            return []
        return [status.getPath().getName() for status in fs.listStatus(jpath)]

    def glob_parents(self, pattern: str) -> list[str]:
        """Names of the directories that hold a file matching ``pattern`` (``<dir>/batch=*/_SUCCESS``)."""
        fs, jpath = self._fs(pattern)
        found = fs.globStatus(jpath)
        return [status.getPath().getParent().getName() for status in (found or [])]

    def size(self, path: str) -> int:
        """Bytes of every file under ``path``."""
        fs, jpath = self._fs(path)
        return int(fs.getContentSummary(jpath).getLength()) if fs.exists(jpath) else 0

    def remove(self, path: str) -> None:
        fs, jpath = self._fs(path)
        if fs.exists(jpath):
            fs.delete(jpath, True)
