"""Items fetched again by key, for ``migrator validate``: to name the attributes that differ, and
to write the missing and differing items to the target (``copyMissingRows``).

The comparison itself only sees digests; these few items are read by each side's ``fetch``
(``BatchGetItem``, a MongoDB ``$in`` query) on the driver for the first differences, and on
executors for fixes.
"""

from __future__ import annotations

from typing import Any, Iterator

from ..convert import item_key, rename_item
from ..validation import compare_items, key_id


class Sides:
    """Fetching items by key from both sides (for details and fixes); built where it is used.

    ``source`` and ``target`` have ``fetch(keys)``: the source's spec, and the target's.
    """

    def __init__(self, source: Any, renames: dict[str, str], target: Any, key_names: list[str]):
        self.source, self.target, self.key_names = source, target, key_names
        self.renames = renames
        self.back = {v: k for k, v in renames.items()}

    def source_items(self, keys: list[dict], as_target: bool = False) -> dict[str, dict]:
        """Source items (renamed) by key id, for keys in target names; with ``as_target``, as the
        target stores them (through the MongoDB mapping, for example), for comparing."""
        originals = [{self.back.get(n, n): v for n, v in key.items()} for key in keys]
        items = (rename_item(x, self.renames) for x in self.source.fetch(originals))
        if as_target:
            items = (self.target.stored(i) for i in items)
        return {key_id(item_key(i, self.key_names)): i for i in items}

    def target_items(self, keys: list[dict]) -> dict[str, dict]:
        return {key_id(item_key(i, self.key_names)): i for i in self.target.fetch(keys)}


def detail(sides: Sides, differences: list[dict], keys: list[dict], tolerance: float) -> list[dict]:
    """Name the attributes of key-level differences found by digest (fetched again by key)."""
    wanted = [k for d, k in zip(differences, keys) if d["kind"] == "different" and d["attribute"] is None]
    if not wanted or not (sides.source.fetches_by_key and sides.target.fetches_by_key):
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
