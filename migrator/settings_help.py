"""The settings a configuration file may hold, as ``migrator run --help`` lists them.

Generated from the models of :mod:`.config` (the keys as a file spells them), so the list cannot
fall behind; what each one means is in ``docs/config-reference.md``, generated from the same models.
"""

from __future__ import annotations

import textwrap
import types
import typing
from typing import Any, Iterator, Union

from pydantic import BaseModel

from .config import MigratorConfig

REFERENCE = "docs/config-reference.md"


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation holds: itself, an Optional's, a list's, a Union's variants."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType, list, dict):
        return [model for arg in typing.get_args(annotation) for model in _models(arg)]
    return []


def _is_list(annotation: Any) -> bool:
    """A list of sections, optional or not (``renames``)."""
    return typing.get_origin(annotation) is list or any(typing.get_origin(a) is list
                                                        for a in typing.get_args(annotation))


def _is_mapping(annotation: Any) -> bool:
    """Sections by name (``tables.overrides``)."""
    return typing.get_origin(annotation) is dict


def _keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Every leaf key of ``model``, dotted; a list of sections as ``name[].key``."""
    for name, info in model.model_fields.items():
        key = prefix + (info.alias or name)
        nested = _models(info.annotation)
        if not nested:
            yield key
            continue
        marker = "[]" if _is_list(info.annotation) else ".<name>" if _is_mapping(info.annotation) else ""
        seen: list[str] = []
        for sub in nested:
            seen += [k for k in _keys(sub, f"{key}{marker}.") if k not in seen]
        yield from seen


def _variant(model: type[BaseModel]) -> str:
    kinds = typing.get_args(model.model_fields["type"].annotation) if "type" in model.model_fields else ()
    return f" ({' / '.join(kinds)})" if kinds else ""


def setting_lines(width: int = 100) -> list[str]:
    """One paragraph per top-level key (per variant where ``target`` has several)."""
    out = [f"settings of the configuration file (meaning, types and defaults: {REFERENCE}):"]
    for name, info in MigratorConfig.model_fields.items():
        key = info.alias or name
        models = _models(info.annotation)
        if not models:
            groups = [(key, "a value")]
        else:
            marker = "[]" if _is_list(info.annotation) else ""
            groups = [(f"{key}{marker}{_variant(m) if len(models) > 1 else ''}", ", ".join(_keys(m)))
                      for m in models]
        for title, keys in groups:
            out += textwrap.wrap(f"{title}: {keys}", width, initial_indent="  ", subsequent_indent="      ",
                                 break_on_hyphens=False)
    return out
