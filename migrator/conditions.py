"""DynamoDB filter expressions: parsed once, checked at load, evaluated on items as DynamoDB does.

A partial copy (``filterExpression`` with ``expressionAttributeNames`` and
``expressionAttributeValues``) is applied by DynamoDB itself to the snapshot's Scan, and here to
everything DynamoDB does not filter: stream changes (an item that stops matching is deleted from
the target, one that starts matching is written), export data files, and items fetched by key.
Both must agree, so the rules follow DynamoDB's documented semantics, checked against DynamoDB
Local by tests/integration/test_conditions.py:

- a comparison, ``BETWEEN`` or ``IN`` with a missing operand is false, but ``<>`` is true (``size`` of a
  number, boolean or null is missing too);
- values of different types are never equal and never ordered; ``<``, ``<=``, ``>``, ``>=`` and
  ``BETWEEN`` order numbers (exactly), strings (by code point, which is UTF-8 byte order) and binary;
- sets compare as sets, lists element by element, maps key by key;
- ``size`` counts a string's UTF-16 code units (as DynamoDB Local does), a binary's bytes, a set's, list's or map's elements;
- ``contains`` finds a substring, a set member or a list element; ``begins_with`` a prefix.

Operator precedence, highest first: comparisons, ``IN``, ``BETWEEN``, functions, parentheses,
``NOT``, ``AND``, ``OR``. Keywords are case-insensitive; function names are not.
"""

from __future__ import annotations

import base64
import operator
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping, Union

from .convert import EXACT, blob

#: Functions that are conditions, by the number of operands they take.
CONDITION_FUNCTIONS = {"attribute_exists": 1, "attribute_not_exists": 1, "attribute_type": 2, "begins_with": 2,
                       "contains": 2}
TYPES = ("S", "N", "B", "SS", "NS", "BS", "BOOL", "NULL", "L", "M")
COMPARATORS = ("=", "<>", "<", "<=", ">", ">=")
#: The comparators that order numbers, strings and binary.
ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
#: DynamoDB's limit on the operands of IN.
MAX_IN = 100

_TOKEN = re.compile(r"\s*(?:(?P<op><>|<=|>=|[=<>(),.\[\]])|(?P<name>#[A-Za-z0-9_]+)|(?P<value>:[A-Za-z0-9_]+)"
                    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<index>[0-9]+))")


class ExpressionError(ValueError):
    """A filter expression that cannot be parsed or resolved; the text says where and why."""


@dataclass(frozen=True)
class Path:
    """A document path: ``name``, then ``.field`` (a string) or ``[index]`` (an int) steps."""

    steps: tuple[Union[str, int], ...]


@dataclass(frozen=True)
class Literal:
    value: dict     # an attribute value, boto3's form ({"N": "1"}, {"B": b"..."})


@dataclass(frozen=True)
class Size:
    path: Path


Operand = Union[Path, Literal, Size]


@dataclass(frozen=True)
class Compare:
    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True)
class Between:
    operand: Operand
    low: Operand
    high: Operand


@dataclass(frozen=True)
class In:
    operand: Operand
    choices: tuple[Operand, ...]


@dataclass(frozen=True)
class Function:
    name: str
    path: Path
    operand: Operand | None = None


@dataclass(frozen=True)
class Not:
    condition: "Condition"


@dataclass(frozen=True)
class Logical:
    op: str                            # "AND" or "OR"
    left: "Condition"
    right: "Condition"


Condition = Union[Compare, Between, In, Function, Not, Logical]


@dataclass(frozen=True)
class ItemFilter:
    """A filter expression with its placeholders, parsed: what a Scan is given, and a test of an item.

    Plain picklable values: it travels to executors inside the specs and tasks that apply it.
    """

    expression: str
    names: tuple[tuple[str, str], ...]
    values: tuple[tuple[str, Any], ...]      # attribute values in boto3's form
    condition: Condition

    def scan_parameters(self) -> dict[str, Any]:
        """``FilterExpression`` and its placeholders, for Scan (only the placeholders it has)."""
        params: dict[str, Any] = {"FilterExpression": self.expression}
        if self.names:
            params["ExpressionAttributeNames"] = dict(self.names)
        if self.values:
            params["ExpressionAttributeValues"] = dict(self.values)
        return params

    def matches(self, item: Mapping[str, Any]) -> bool:
        """Whether DynamoDB's Scan would return ``item`` (attribute values in boto3's form)."""
        return _test(self.condition, item)


def parse_filter(expression: str, names: Mapping[str, str] | None = None,
                 values: Mapping[str, Any] | None = None) -> ItemFilter:
    """Parse ``expression`` and resolve its placeholders.

    ``values`` are DynamoDB JSON as written in a configuration (binary as base64 text). As DynamoDB
    does, an undefined placeholder and a defined one that the expression does not use are errors.

    Raises
    ------
    ExpressionError
        With the position (1-based character) and what was expected, or the placeholder at fault.
    """
    names, values = dict(names or {}), dict(values or {})
    for key in names:
        if not re.fullmatch(r"#[A-Za-z0-9_]+", key):
            raise ExpressionError(f"expressionAttributeNames: {key!r} must be '#' followed by letters, digits or _")
    resolved = {}
    for key, value in values.items():
        if not re.fullmatch(r":[A-Za-z0-9_]+", key):
            raise ExpressionError(f"expressionAttributeValues: {key!r} must be ':' followed by letters, digits or _")
        resolved[key] = _attribute_value(value, f"expressionAttributeValues.{key}")
    parser = _Parser(expression, names, resolved)
    condition = parser.parse()
    for kind, given, used in (("Names", names, parser.used_names), ("Values", resolved, parser.used_values)):
        unused = sorted(set(given) - used)
        if unused:
            raise ExpressionError(f"expressionAttribute{kind}: {', '.join(unused)} not used in filterExpression; "
                                  "remove it (DynamoDB refuses unused placeholders)")
    return ItemFilter(expression, tuple(sorted(names.items())), tuple(sorted(resolved.items())), condition)


def _attribute_value(value: Any, where: str) -> dict:
    """A DynamoDB JSON value from a configuration, in boto3's form (binary decoded, numbers checked)."""
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in TYPES:
        raise ExpressionError(f"{where}: got {value!r}; must be DynamoDB JSON with one type, such as "
                              "{N: '10'} or {S: active}")
    ((tag, inner),) = value.items()
    try:
        if tag in ("S", "N"):
            if not isinstance(inner, str):
                raise ValueError(f"{tag} values are strings")
            if tag == "N":
                _number(inner)
        elif tag == "B":
            inner = base64.b64decode(inner, validate=True)
        elif tag in ("SS", "NS", "BS"):
            if not isinstance(inner, list) or not inner:
                raise ValueError("a set is a non-empty list")
            inner = ([base64.b64decode(v, validate=True) for v in inner] if tag == "BS"
                     else [str(v) for v in inner if tag != "NS" or _number(str(v)) is not None])
        elif tag == "BOOL" and not isinstance(inner, bool):
            raise ValueError("BOOL is true or false")
        elif tag == "NULL" and inner is not True:
            raise ValueError("NULL is true")
        elif tag == "L":
            inner = [_attribute_value(v, f"{where}[{n}]") for n, v in enumerate(inner)]
        elif tag == "M":
            inner = {k: _attribute_value(v, f"{where}.{k}") for k, v in inner.items()}
    except (ValueError, TypeError, AttributeError) as exc:
        raise ExpressionError(f"{where}: not a valid {tag} value ({exc})") from None
    return {tag: inner}


class _Parser:
    """Recursive descent over the tokens; ``used_names``/``used_values`` collect the placeholders seen."""

    def __init__(self, text: str, names: dict[str, str], values: dict[str, dict]):
        self.text, self.names, self.values = text, names, values
        self.tokens = self._tokenize(text)
        self.at = 0
        self.used_names: set[str] = set()
        self.used_values: set[str] = set()

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str, int]]:
        tokens, pos = [], 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            match = _TOKEN.match(text, pos)
            if match is None:
                col = pos + len(text[pos:]) - len(text[pos:].lstrip()) + 1
                raise ExpressionError(f"filterExpression: unexpected {text[col - 1]!r} at character {col}")
            kind = match.lastgroup or ""
            tokens.append((kind, match.group(kind), match.start(kind) + 1))
            pos = match.end()
        tokens.append(("end", "", len(text) + 1))
        return tokens

    def parse(self) -> Condition:
        if self.tokens[0][0] == "end":
            raise ExpressionError("filterExpression: empty; write a condition such as 'amount > :min'")
        condition = self._or()
        if self._peek()[0] != "end":
            raise self._expected("AND, OR or the end")
        return condition

    # -- tokens -------------------------------------------------------------------------------
    def _peek(self) -> tuple[str, str, int]:
        return self.tokens[self.at]

    def _next(self) -> tuple[str, str, int]:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def _keyword(self, word: str) -> bool:
        kind, text, _ = self._peek()
        if kind == "word" and text.upper() == word:
            self.at += 1
            return True
        return False

    def _expect(self, op: str) -> None:
        kind, text, _ = self._peek()
        if kind != "op" or text != op:
            raise self._expected(repr(op))
        self.at += 1

    def _expected(self, expected: str) -> ExpressionError:
        """The error for the token here, which is not what the grammar expects."""
        kind, text, col = self._peek()
        found = "the end" if kind == "end" else repr(text)
        return ExpressionError(f"filterExpression: expected {expected} at character {col}, found {found}")

    def _placeholder(self, text: str, given: dict[str, Any], used: set[str], setting: str) -> Any:
        """What the ``#name`` or ``:value`` placeholder ``text`` stands for; it counts as used."""
        self.at += 1
        if text not in given:
            raise ExpressionError(f"filterExpression: {text} is not defined in {setting}")
        used.add(text)
        return given[text]

    # -- grammar ------------------------------------------------------------------------------
    def _or(self) -> Condition:
        left = self._and()
        while self._keyword("OR"):
            left = Logical("OR", left, self._and())
        return left

    def _and(self) -> Condition:
        left = self._not()
        while self._keyword("AND"):
            left = Logical("AND", left, self._not())
        return left

    def _not(self) -> Condition:
        if self._keyword("NOT"):
            return Not(self._not())
        return self._primary()

    def _primary(self) -> Condition:
        kind, text, _ = self._peek()
        if kind == "op" and text == "(":
            self.at += 1
            inner = self._or()
            self._expect(")")
            return inner
        if kind == "word" and text in CONDITION_FUNCTIONS and self.tokens[self.at + 1][1] == "(":
            return self._function()
        left = self._operand()
        kind, text, _ = self._peek()
        if kind == "op" and text in COMPARATORS:
            self.at += 1
            return Compare(text, left, self._operand())
        if self._keyword("BETWEEN"):
            low = self._operand()
            if not self._keyword("AND"):
                raise self._expected("AND")
            return Between(left, low, self._operand())
        if self._keyword("IN"):
            self._expect("(")
            choices = [self._operand()]
            while self._peek()[1] == ",":
                self.at += 1
                choices.append(self._operand())
            self._expect(")")
            if len(choices) > MAX_IN:
                raise ExpressionError(f"filterExpression: IN takes at most {MAX_IN} operands, got {len(choices)}")
            return In(left, tuple(choices))
        raise self._expected("a comparator (= <> < <= > >=), BETWEEN or IN")

    def _function(self) -> Function:
        name = self._next()[1]
        self._expect("(")
        path = self._path()
        operand = None
        if CONDITION_FUNCTIONS[name] == 2:
            self._expect(",")
            operand = self._operand()
            if name == "attribute_type":
                if not isinstance(operand, Literal) or "S" not in operand.value or operand.value["S"] not in TYPES:
                    raise ExpressionError("filterExpression: attribute_type takes a value placeholder holding one of "
                                          + ", ".join(TYPES) + " as a string ({S: N})")
        self._expect(")")
        return Function(name, path, operand)

    def _operand(self) -> Operand:
        kind, text, _ = self._peek()
        if kind == "value":
            return Literal(self._placeholder(text, self.values, self.used_values, "expressionAttributeValues"))
        if kind == "word" and text == "size" and self.tokens[self.at + 1][1] == "(":
            self.at += 2
            path = self._path()
            self._expect(")")
            return Size(path)
        return self._path()

    def _path(self) -> Path:
        steps: list[Union[str, int]] = [self._name()]
        while True:
            kind, text, _ = self._peek()
            if kind == "op" and text == ".":
                self.at += 1
                steps.append(self._name())
            elif kind == "op" and text == "[":
                self.at += 1
                if self._peek()[0] != "index":
                    raise self._expected("a list index")
                steps.append(int(self._next()[1]))
                self._expect("]")
            else:
                return Path(tuple(steps))

    def _name(self) -> str:
        kind, text, _ = self._peek()
        if kind == "name":
            return self._placeholder(text, self.names, self.used_names, "expressionAttributeNames")
        if kind == "word":
            self.at += 1
            return text
        raise self._expected("an attribute name or a #name placeholder")


# -- evaluation -----------------------------------------------------------------------------------
def _test(condition: Condition, item: Mapping[str, Any]) -> bool:
    if isinstance(condition, Logical):
        if condition.op == "AND":
            return _test(condition.left, item) and _test(condition.right, item)
        return _test(condition.left, item) or _test(condition.right, item)
    if isinstance(condition, Not):
        return not _test(condition.condition, item)
    if isinstance(condition, Compare):
        return _compare(condition.op, _value(condition.left, item), _value(condition.right, item))
    if isinstance(condition, Between):
        value, low, high = (_value(o, item) for o in (condition.operand, condition.low, condition.high))
        return _compare(">=", value, low) and _compare("<=", value, high)
    if isinstance(condition, In):
        value = _value(condition.operand, item)
        return any(_compare("=", value, _value(choice, item)) for choice in condition.choices)
    return _function(condition, item)


def _function(call: Function, item: Mapping[str, Any]) -> bool:
    found = _resolve(call.path, item)
    if call.name == "attribute_exists":
        return found is not None
    if call.name == "attribute_not_exists":
        return found is None
    operand = _value(call.operand, item) if call.operand is not None else None
    if found is None or operand is None:
        return False
    tag, inner = _tagged(found)
    other_tag, other = _tagged(operand)
    if call.name == "attribute_type":
        return tag == other
    if call.name == "begins_with":
        return tag == other_tag and tag in ("S", "B") and _bytes(tag, inner).startswith(_bytes(tag, other))
    # contains
    if tag in ("S", "B"):
        return other_tag == tag and _bytes(tag, other) in _bytes(tag, inner)
    if tag in ("SS", "NS", "BS"):
        return other_tag == tag[0] and any(_equal({other_tag: v}, operand) for v in inner)
    if tag == "L":
        return any(_equal(element, operand) for element in inner)
    return False


def _value(operand: Operand, item: Mapping[str, Any]) -> dict | None:
    if isinstance(operand, Literal):
        return operand.value
    if isinstance(operand, Size):
        found = _resolve(operand.path, item)
        if found is None:
            return None
        tag, inner = _tagged(found)
        if tag in ("N", "BOOL", "NULL"):
            return None
        if tag == "S":  # in UTF-16 code units, as DynamoDB's Java counts (a character beyond U+FFFF is 2)
            return {"N": str(len(inner.encode("utf-16-le")) // 2)}
        return {"N": str(len(_bytes(tag, inner)) if tag == "B" else len(inner))}
    return _resolve(operand, item)


def _resolve(path: Path, item: Mapping[str, Any]) -> dict | None:
    current: Any = item.get(path.steps[0])
    for step in path.steps[1:]:
        if current is None:
            return None
        tag, inner = _tagged(current)
        if isinstance(step, int):
            current = inner[step] if tag == "L" and step < len(inner) else None
        else:
            current = inner.get(step) if tag == "M" else None
    return current


def _tagged(value: Mapping[str, Any]) -> tuple[str, Any]:
    """``(type, inner value)``; DynamoDB Local's stream images write an empty map as a bare ``{}``."""
    if not value:
        return "M", {}
    ((tag, inner),) = value.items()
    return tag, inner


def _compare(op: str, left: dict | None, right: dict | None) -> bool:
    if op == "<>":
        return left is None or right is None or not _equal(left, right)
    if left is None or right is None:
        return False
    if op == "=":
        return _equal(left, right)
    tag, a = _tagged(left)
    other, b = _tagged(right)
    if tag != other or tag not in ("S", "N", "B"):
        return False
    a, b = (_decimal(a), _decimal(b)) if tag == "N" else (_bytes(tag, a), _bytes(tag, b))
    return ORDER[op](a, b)


def _equal(left: dict, right: dict) -> bool:
    tag, a = _tagged(left)
    other, b = _tagged(right)
    if tag != other:
        return False
    if tag == "N":
        return _decimal(a) == _decimal(b)
    if tag in ("S", "B"):
        return _bytes(tag, a) == _bytes(tag, b)
    if tag == "NS":
        return {_decimal(v) for v in a} == {_decimal(v) for v in b}
    if tag in ("SS", "BS"):
        return {_bytes(tag, v) for v in a} == {_bytes(tag, v) for v in b}
    if tag == "L":
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if tag == "M":
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b   # BOOL, NULL


def _number(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None


def _decimal(text: str) -> Decimal:
    return Decimal(text).normalize(EXACT)


def _bytes(tag: str, value: Any) -> bytes:
    """Strings compare by their UTF-8 bytes (code point order); binary (bytes or wire-form base64) by its bytes."""
    return blob(value) if tag in ("B", "BS") else value.encode("utf-8")
