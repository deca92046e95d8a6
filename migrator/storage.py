"""Small files on a local disk or on S3: configurations, savepoints, reports, dead letters.

A path is an S3 location when it starts with ``s3://``, ``s3a://`` or ``s3n://`` (the Hadoop
spellings name the same object, so one ``savepoints.path`` serves Spark's checkpoints and ours).
S3 calls use boto3's default credential chain (environment, profile, instance or EMR role) and
honour ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` for S3-compatible stores. Local writes
replace the file atomically; an S3 ``PutObject`` is atomic by nature; :func:`create_exclusive`
lets exactly one of several writers create a file. Errors come out as
``OSError`` (``FileNotFoundError`` for a missing file or object), with the path and never a secret.
"""

from __future__ import annotations

import errno
import os
import tempfile
from typing import Any
from urllib.parse import urlsplit

S3_SCHEMES = ("s3://", "s3a://", "s3n://")


def is_s3(path: str) -> bool:
    return path.startswith(S3_SCHEMES)


def reachable_from_python(path: str) -> bool:
    """Whether this module reads and writes ``path``: a local or shared path (``file://`` too) or S3.
    Other URL schemes (``hdfs://``, ``gs://``) only Spark's JVM reaches; a one-letter scheme is a
    Windows drive."""
    scheme = urlsplit(path).scheme
    return len(scheme) <= 1 or scheme == "file" or is_s3(path)


def split_s3(path: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` → ``("bucket", "some/key")``."""
    rest = path.split("://", 1)[1]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise OSError(f"{path}: an S3 path needs a bucket, as in s3://bucket/folder")
    return bucket, key


def join(base: str, *parts: str) -> str:
    """Join with ``/`` for S3 and with the OS separator locally."""
    if is_s3(base):
        return "/".join([base.rstrip("/"), *parts])
    return os.path.join(base, *parts)


_s3_clients: dict[tuple, Any] = {}
_S3_SETTINGS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
                "AWS_ACCESS_KEY_ID")


def _s3() -> Any:
    """One S3 client per process and environment: building one costs about 0.1 s of CPU, and stream
    tasks touch their positions files every micro-batch."""
    import boto3

    key = tuple(os.environ.get(name) for name in _S3_SETTINGS)
    client = _s3_clients.get(key)
    if client is None:
        client = _s3_clients.setdefault(key, boto3.client("s3"))
    return client


def _s3_error(exc: Exception, path: str) -> OSError:
    error = getattr(exc, "response", {}).get("Error", {})
    code = error.get("Code", "")
    if code in ("NoSuchKey", "404", "NotFound"):
        return FileNotFoundError(errno.ENOENT, "no such object", path)
    return OSError(errno.EIO, f"{code or type(exc).__name__}: {error.get('Message') or exc}", path)


def read_text(path: str) -> str:
    """The whole file or object as UTF-8 text."""
    if not is_s3(path):
        with open(path, encoding="utf-8") as f:
            return f.read()
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_s3(path)
    try:
        return _s3().get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error(exc, path) from exc


def write_text(path: str, text: str) -> None:
    """Replace the file or object with ``text``; a reader sees the old or the new whole."""
    if is_s3(path):
        put_bytes(path, text.encode("utf-8"))
        return
    tmp = _complete_temp_file(path, text)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _complete_temp_file(path: str, text: str) -> str:
    """A temporary file beside ``path`` holding ``text``, written and synced, ready to publish."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def put_bytes(path: str, data: bytes) -> None:
    """One S3 ``PutObject``."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_s3(path)
    try:
        _s3().put_object(Bucket=bucket, Key=key, Body=data)
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error(exc, path) from exc


def upload_file(local: str, path: str) -> None:
    """Copy a local file to the S3 ``path`` (multipart when large)."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_s3(path)
    try:
        _s3().upload_file(local, bucket, key)
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error(exc, path) from exc


def open_binary(path: str) -> Any:
    """A binary file object reading the file or object from its start (close it when done)."""
    if not is_s3(path):
        return open(path, "rb")
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_s3(path)
    try:
        return _s3().get_object(Bucket=bucket, Key=key)["Body"]
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error(exc, path) from exc


def exists(path: str) -> bool:
    """Whether the file or object is there."""
    try:
        open_binary(path).close()
    except FileNotFoundError:
        return False
    return True


def check_writable(path: str) -> str:
    """Raise OSError unless files can be made under ``path``, writing nothing: a local path's nearest
    existing folder is writable; an S3 prefix can be listed (ListObjectsV2, one key). What was found."""
    if not is_s3(path):
        folder = os.path.abspath(path)
        while not os.path.exists(folder):
            folder = os.path.dirname(folder)
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, f"{folder} is not a writable folder", path)
        return "exists" if folder == os.path.abspath(path) else f"created under {folder}"
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = split_s3(path)
    try:
        _s3().list_objects_v2(Bucket=bucket, Prefix=prefix.rstrip("/") + "/" if prefix else "", MaxKeys=1)
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error(exc, path) from exc
    return f"bucket {bucket} can be listed (s3:PutObject is tried by the first write)"


def list_names(directory: str, suffix: str = "") -> list[str]:
    """Full paths of the files directly under ``directory`` that end with ``suffix``, sorted."""
    if not is_s3(directory):
        if not os.path.isdir(directory):
            return []
        return sorted(os.path.join(directory, n) for n in os.listdir(directory) if n.endswith(suffix))
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = split_s3(directory)
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    scheme = directory.split("://", 1)[0]
    names: list[str] = []
    try:
        for page in _s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            names.extend(f"{scheme}://{bucket}/{o['Key']}" for o in page.get("Contents", [])
                         if o["Key"].endswith(suffix))
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error(exc, directory) from exc
    return sorted(names)


def create_exclusive(path: str, text: str) -> bool:
    """Create the file or object with ``text`` unless it exists; True when this call created it.

    Two writers racing for one path: exactly one wins, and neither sees a partial file. Locally a
    hard link publishes the complete temporary file (it fails when the name exists); on S3 a
    conditional ``PutObject`` (``If-None-Match: *``) does.
    """
    if is_s3(path):
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = split_s3(path)
        try:
            _s3().put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"), IfNoneMatch="*")
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise _s3_error(exc, path) from exc
        except BotoCoreError as exc:
            raise _s3_error(exc, path) from exc
    tmp = _complete_temp_file(path, text)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        _unlink_quietly(tmp)


def list_dirs(directory: str) -> list[str]:
    """Names (not paths) of the folders directly under ``directory`` (S3: common prefixes), sorted."""
    if not is_s3(directory):
        if not os.path.isdir(directory):
            return []
        return sorted(n for n in os.listdir(directory) if os.path.isdir(os.path.join(directory, n)))
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = split_s3(directory)
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    names: list[str] = []
    try:
        for page in _s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            names.extend(p["Prefix"][len(prefix):].rstrip("/") for p in page.get("CommonPrefixes", []))
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error(exc, directory) from exc
    return sorted(names)


def remove_tree(directory: str) -> None:
    """Delete ``directory`` and everything under it (S3: every object under the prefix)."""
    if not is_s3(directory):
        import shutil

        shutil.rmtree(directory, ignore_errors=True)
        return
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = split_s3(directory)
    prefix = prefix.rstrip("/") + "/"
    client = _s3()
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error(exc, directory) from exc
