"""What a table is, whichever backend it lives in: keys, indexes, capacity, TTL, size, as one plain value.

Sources describe themselves with it (a DynamoDB table by DescribeTable, an export by its table
description) and targets build what they create from it (a table, a collection and its indexes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TableInfo:
    """A DynamoDB table description, reduced to what a migration uses.

    Attributes
    ----------
    key_schema : list of (name, key type)
        ``[("pk", "HASH"), ("sk", "RANGE")]``, hash first.
    attribute_types : dict
        Attribute name → ``S``/``N``/``B`` for every attribute the table or an index keys on.
    global_indexes, local_indexes : list of dict
        As DescribeTable returns them, reduced to IndexName, KeySchema, Projection and
        (for global indexes) ProvisionedThroughput.
    billing_mode : str
        ``PROVISIONED`` or ``PAY_PER_REQUEST``; empty for a source without capacity modes (MongoDB).
    read_capacity, write_capacity : int or None
        Provisioned capacity; None for on-demand tables.
    ttl_attribute : str or None
        The TTL attribute when TTL is enabled (or being enabled).
    """

    name: str
    key_schema: list[tuple[str, str]]
    attribute_types: dict[str, str]
    global_indexes: list[dict[str, Any]] = field(default_factory=list)
    local_indexes: list[dict[str, Any]] = field(default_factory=list)
    billing_mode: str = "PAY_PER_REQUEST"
    read_capacity: int | None = None
    write_capacity: int | None = None
    item_count: int = 0
    size_bytes: int = 0
    ttl_attribute: str | None = None
    status: str = "ACTIVE"
    stream_arn: str | None = None
    stream_view_type: str | None = None
    #: A MongoDB source's secondary indexes: ``{"name", "key": [[field, direction]...], "options": {...}}`` (unique,
    #: TTL, partial, sparse, collation...), recreated as they are on a MongoDB target.
    document_indexes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key_names(self) -> list[str]:
        return [name for name, _ in self.key_schema]

    @property
    def average_item_bytes(self) -> float:
        return self.size_bytes / self.item_count if self.item_count else 0.0
