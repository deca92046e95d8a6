"""Items fetched again by key, for ``migrator validate``: to name the attributes that differ, and
to write the missing and differing items to the target (``copyMissingRows``).

The comparison itself only sees digests; these few items are read with ``BatchGetItem`` (or a
MongoDB ``$in`` query) on the driver for the first differences, and on executors for fixes.
"""

from __future__ import annotations

from typing import Any, Iterator

from ..clients import ClientSpec
from ..convert import item_key, rename_item
from ..errors import ConversionError
from ..validation import compare_items, key_id


def in_target_terms(item: dict, key_names: list[str], policy: Any) -> dict:
    """A source item as the target should hold it: for MongoDB, through the mapping and back."""
    if policy is None:
        return item
    from ..convert_bson import from_document, to_document

    try:
        return from_document(to_document(item, key_names, policy), policy)
    except ConversionError:
        return item  # not representable: the target should not have it (dead letter); compare as is


class Sides:
    """Fetching items by key from both sides (for details and fixes); built where it is used."""

    def __init__(self, source: ClientSpec, source_table: str, renames: dict[str, str], target: Any,
                 key_names: list[str]):
        self.source, self.source_table, self.target, self.key_names = source, source_table, target, key_names
        self.renames = renames
        self.back = {v: k for k, v in renames.items()}

    def source_items(self, keys: list[dict], as_target: bool = False) -> dict[str, dict]:
        """Source items (renamed) by key id, for keys in target names; with ``as_target``, in the
        target's terms (through the MongoDB mapping), for comparing."""
        client = self.source.dynamodb()
        originals = [{self.back.get(n, n): v for n, v in key.items()} for key in keys]
        items = (rename_item(x, self.renames) for x in batch_get(client, self.source_table, originals))
        policy = getattr(self.target, "policy", None)
        if as_target and policy is not None:
            items = (in_target_terms(i, self.key_names, policy) for i in items)
        return {key_id(item_key(i, self.key_names)): i for i in items}

    def target_items(self, keys: list[dict]) -> dict[str, dict]:
        spec = self.target
        if getattr(spec, "policy", None) is None:
            found = batch_get(spec.client_spec.dynamodb(), spec.table, keys)
        else:
            from ..convert_bson import document_id, from_document

            client = spec.client()
            try:
                ids = [document_id(k, self.key_names, spec.policy) for k in keys]
                found = [from_document(d, spec.policy)
                         for d in client[spec.database][spec.collection].find({"_id": {"$in": ids}})]
            finally:
                client.close()
        return {key_id(item_key(i, self.key_names)): i for i in found}


def batch_get(client: Any, table: str, keys: list[dict]) -> list[dict]:
    """Items by key with BatchGetItem (100 keys a call, unprocessed keys sent again)."""
    items: list[dict] = []
    for start in range(0, len(keys), 100):
        request = {table: {"Keys": keys[start:start + 100], "ConsistentRead": True}}
        while request:
            answer = client.batch_get_item(RequestItems=request)
            items.extend(answer.get("Responses", {}).get(table, []))
            request = answer.get("UnprocessedKeys") or {}
    return items


def detail(sides: Sides, differences: list[dict], keys: list[dict], tolerance: float) -> list[dict]:
    """Name the attributes of key-level differences found by digest (fetched again by key)."""
    wanted = [k for d, k in zip(differences, keys) if d["kind"] == "different" and d["attribute"] is None]
    if not wanted:
        return differences
    source, target = sides.source_items(wanted, as_target=True), sides.target_items(wanted)
    out = []
    for d, key in zip(differences, keys):
        if d["kind"] != "different" or d["attribute"] is not None:
            out.append(d)
            continue
        kid = key_id(key)
        named = compare_items(key, source.get(kid), target.get(kid), tolerance)
        out.extend(x.as_dict() for x in named) if named else out.append(d)
    return out


def copy_fixes(sides: Sides, dead_letter_dir: str | None, rows: Iterator[tuple]) -> Iterator[int]:
    """Write the source items of missing and differing keys to the target; yields how many."""
    from ..deadletter import DeadLetterWriter

    keys = {key_id(key): key for _, _, key in rows}
    if not keys:
        yield 0
        return
    dead = DeadLetterWriter(dead_letter_dir, f"{sides.target.name}-fixes") if dead_letter_dir else None
    writer = sides.target.writer(dead_letter=dead)
    try:
        batch = list(keys.values())
        for start in range(0, len(batch), 1000):
            for item in sides.source_items(batch[start:start + 1000]).values():
                writer.put(item)
        writer.flush()
    finally:
        writer.close()
        if dead is not None:
            dead.close()
    yield writer.stats.puts
