"""The folder of an export: files by name relative to it, in an S3 bucket or on a local disk."""

from __future__ import annotations

import contextlib
import gzip
import os
from dataclasses import dataclass
from typing import IO, Any, Iterator

from ...clients import ClientSpec, error_code


@dataclass(frozen=True)
class ExportFiles:
    """Files of one export folder; picklable (the S3 client is built where a file is opened).

    Attributes
    ----------
    folder : str
        The folder's key prefix in ``bucket`` (``""`` for its root), or a local directory.
    bucket, client_spec
        The S3 bucket and how to reach it; None for a local folder.
    """

    folder: str
    bucket: str | None = None
    client_spec: ClientSpec | None = None

    def where(self, name: str = "") -> str:
        """A file's location, for messages: ``s3://bucket/key`` or a local path."""
        if self.bucket is None:
            return os.path.join(self.folder, name) if name else self.folder
        return f"s3://{self.bucket}/{self._key(name)}"

    def open(self, name: str, client: Any = None) -> IO[bytes]:
        """The file ``name`` (relative to the folder) from its start; ``FileNotFoundError`` when missing."""
        if self.bucket is None:
            try:
                return open(self.where(name), "rb")
            except FileNotFoundError:
                raise FileNotFoundError(f"{self.where(name)}: no such file") from None
        client = client or self.client()
        try:
            return client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"]
        except Exception as exc:
            if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                raise FileNotFoundError(f"{self.where(name)}: no such object") from None
            if error_code(exc) == "NoSuchBucket":
                raise FileNotFoundError(f"{self.where(name)}: no such bucket") from None
            raise OSError(f"{self.where(name)}: {exc}") from exc

    def text(self, name: str) -> str:
        body = self.open(name)
        try:
            return body.read().decode("utf-8")
        finally:
            body.close()

    def lines(self, name: str, client: Any = None) -> Iterator[bytes]:
        """The lines of a data file, gunzipped when its name ends with ``.gz``; read as they stream in."""
        with self.reader(name, client) as stream:
            yield from stream

    @contextlib.contextmanager
    def reader(self, name: str, client: Any = None) -> Iterator[IO[bytes]]:
        """A data file as a stream, gunzipped when its name ends with ``.gz``; closed on leaving."""
        body = self.open(name, client)
        try:
            yield gzip.GzipFile(fileobj=body) if name.endswith(".gz") else body
        finally:
            body.close()

    def client(self) -> Any:
        return (self.client_spec or ClientSpec()).client("s3")

    def _key(self, name: str) -> str:
        return f"{self.folder.rstrip('/')}/{name}" if self.folder and name else (name or self.folder)
