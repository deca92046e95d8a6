"""pydantic's validation errors as lines that name the setting, the value and the rule.

Secrets are never echoed: a value under a secret key prints as ``<redacted>``, and whole sections
(mappings, lists) are never printed at all, since they may hold one.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Union

from pydantic import BaseModel, ValidationError

#: Keys whose values are secrets: never echoed back in an error message.
SECRET_KEYS = frozenset({"secretKey", "sessionToken", "password", "uri"})


def describe_errors(exc: ValidationError, root: type[BaseModel]) -> list[str]:
    """Turn pydantic's errors into lines that name the setting, the value and the rule."""
    lines = []
    for err in exc.errors():
        loc = err["loc"]
        where = _dotted(root, loc)
        kind = err["type"]
        if kind == "extra_forbidden":
            allowed = _keys_at(root, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
            if close:
                hint = f"did you mean {close[0]!r}?"
            else:
                hint = "allowed keys here: " + ", ".join(allowed)
            lines.append(f"{where}: unknown key; {hint}")
        elif kind == "missing":
            lines.append(f"{where}: missing; this setting is required")
        else:
            secret = any(str(part) in SECRET_KEYS for part in loc)
            shown = "<redacted>" if secret else _short_repr(err.get("input"))
            message = err["msg"]
            message = message[0].lower() + message[1:] if message else message
            if kind in ("union_tag_invalid", "union_tag_not_found"):
                ctx = err.get("ctx", {})
                shown = repr(ctx.get("tag", "nothing"))
                tags = [t.strip() for t in str(ctx.get("expected_tags", "")).split(",") if t.strip()]
                where = f"{where}.{ctx.get('discriminator', 'type').strip(chr(39))}"
                message = "input should be " + (", ".join(tags[:-1]) + " or " + tags[-1] if len(tags) > 1
                                                 else "".join(tags))
            lines.append(f"{where}: got {shown}; {message}")
    return lines


def _short_repr(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"  # a section may hold secrets
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _walk(root: type[BaseModel], loc: tuple) -> tuple[str, Any]:
    """The setting's path as written in YAML, and the type found there.

    pydantic puts the tag of a discriminated union in the location (``target.mongodb.uri``);
    the user wrote ``target.uri``, so tags are dropped from the path.
    """
    shown = ""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            shown += f"[{part}]"
            args = typing.get_args(current)
            current = args[0] if args else Any
            continue
        member = _union_member(current, part)
        if member is not None:
            current = member
            continue
        shown += ("." if shown else "") + str(part)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
            current = field.annotation if field is not None else Any
        else:
            current = Any
    return shown or "(top level)", _unwrap(current)


def _union_member(annotation: Any, tag: Any) -> Any:
    if typing.get_origin(annotation) not in (Union, types.UnionType):
        return None
    for member in typing.get_args(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel) and "type" in member.model_fields:
            if tag in typing.get_args(member.model_fields["type"].annotation):
                return member
    return None


def _dotted(root: type[BaseModel], loc: tuple) -> str:
    return _walk(root, loc)[0]


def _keys_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed at ``loc`` below ``model``, as written in YAML."""
    _, current = _walk(model, loc)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip ``Optional[...]`` and ``Annotated[...]`` down to the type that holds fields."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation
