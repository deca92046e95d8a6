"""What every section of the configuration is built from: the section base, the value types that
several sections share, attribute renames and the filter keys of a partial copy.

Kept apart from :mod:`.config` so that the ``tables`` section (:mod:`.config_tables`) can use them
without importing the whole tree.
"""

from __future__ import annotations

import typing
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

#: DynamoDB rejects a Scan with TotalSegments above this.
MAX_TOTAL_SEGMENTS = 1_000_000

TableName = typing.Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{3,255}$")]
Percent = typing.Annotated[float, Field(ge=0.1, le=1.5)]
PositiveInt = typing.Annotated[int, Field(gt=0)]
Millis = typing.Annotated[int, Field(ge=0)]
ScanSegments = typing.Annotated[int, Field(gt=0, le=MAX_TOTAL_SEGMENTS)]


class Section(BaseModel):
    """A section of the file: camelCase keys, unknown keys refused, frozen, strictly typed."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, alias_generator=to_camel, validate_by_name=False,
        use_attribute_docstrings=True,
    )


class Rename(Section):
    from_: str = Field(alias="from", min_length=1)
    """Attribute name in the source."""
    to: str = Field(min_length=1)
    """Attribute name in the target."""


class FilterSettings(Section):
    """The keys of a partial copy: a DynamoDB filter expression with its placeholders, as Scan takes them."""

    filter_expression: Optional[str] = Field(default=None, min_length=1)
    """Copy only the items that match this condition, a DynamoDB filter expression (``amount > :min AND
    #s = :active``). The snapshot's Scan applies it (DynamoDB charges read capacity for every item it scans,
    matching or not). With ``streamChanges`` it is applied to every change: an item that stops matching is
    deleted from the target, one that starts matching is written. ``migrator validate`` compares the matching
    items only. Left out: every item."""
    expression_attribute_names: Optional[dict[str, str]] = None
    """``#name`` placeholders of ``filterExpression`` and the attribute names they stand for (reserved words,
    names with other characters than letters, digits and ``_``). Left out: none."""
    expression_attribute_values: Optional[dict[str, Any]] = None
    """``:value`` placeholders of ``filterExpression`` and their values in DynamoDB JSON (``{N: "10"}``,
    ``{S: active}``, binary as base64). Left out: none."""

    @property
    def item_filter(self) -> Any:
        """The filter parsed (:class:`~migrator.conditions.ItemFilter`), or None without one."""
        from .conditions import parse_filter

        if self.filter_expression is None:
            return None
        return parse_filter(self.filter_expression, self.expression_attribute_names,
                            self.expression_attribute_values)

    def filter_problems(self, where: str) -> list[str]:
        """What is wrong with the filter keys, each naming the setting under ``where``."""
        from .conditions import ExpressionError

        if self.filter_expression is None:
            given = [k for k, v in (("expressionAttributeNames", self.expression_attribute_names),
                                    ("expressionAttributeValues", self.expression_attribute_values)) if v]
            return [f"{where}.{k}: there is no filterExpression to use it; remove it or add the filter"
                    for k in given]
        try:
            self.item_filter
        except ExpressionError as exc:
            return [f"{where}.{exc}"]
        return []
