"""docs/config-reference.md: generated from the config models, complete, and in step with them."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from devtools import config_reference
from migrator.config import MigratorConfig

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.dynamodb.yaml.example"

#: A YAML key at the start of a line (after any list dash), with nothing or one value after it.
#: Keys here are camelCase and values one token (or a flow list); the comments' prose starts with a
#: capital ("Default: 300") or goes on with words ("exactly: see ... in the README").
KEY_LINE = re.compile(r"^(?P<indent> *)(?P<dash>- +)?(?P<key>[a-z][A-Za-z]*):(?:\s+(?:\S+|\[.*\]))?\s*$")


def all_models(root: type[BaseModel] = MigratorConfig) -> list[type[BaseModel]]:
    """Every model reachable from ``root`` through its fields' annotations."""
    found: list[type[BaseModel]] = []

    def visit(annotation: typing.Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation not in found:
                found.append(annotation)
                for field in annotation.model_fields.values():
                    visit(field.annotation)
            return
        for arg in typing.get_args(annotation):
            visit(arg)

    visit(root)
    return found


def example_keys(text: str) -> set[str]:
    """Key paths of the example, commented-out keys included (``renames[].from`` for list items).

    One leading ``#`` (and one space) is removed from each line, so that ``#   port: 8000`` under
    ``# endpoint:`` keeps its nesting; lines still commented after that are prose.
    """
    keys: set[str] = set()
    stack: list[tuple[int, str]] = []  # (indent of the keys below, path)
    for raw in text.splitlines():
        line = re.sub(r"^(\s*)# ?", r"\1", raw, count=1) if raw.lstrip().startswith("#") else raw
        match = KEY_LINE.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] > indent:
            stack.pop()
        parent = stack[-1][1] if stack else ""
        if match["dash"]:
            parent = f"{parent}[]"
            indent += len(match["dash"])
            stack.append((indent, parent))
        path = f"{parent}.{match['key']}" if parent else match["key"]
        keys.add(path)
        stack.append((indent + 1, path))
    return keys


def reference_keys(markdown: str) -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \|", markdown, flags=re.MULTILINE))


def test_committed_reference_is_generated_from_the_models():
    output = config_reference.OUTPUT
    committed = output.read_text(encoding="utf-8") if output.exists() else None
    assert committed == config_reference.render(), (
        "docs/config-reference.md is stale: run `python -m devtools.config_reference`"
    )


def test_check_option_reports_a_stale_file(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "config-reference.md"
    stale.write_text("# old\n", encoding="utf-8")
    monkeypatch.setattr(config_reference, "OUTPUT", stale)
    monkeypatch.setattr(config_reference, "ROOT", tmp_path)
    assert config_reference.main(["--check"]) == 1
    assert "python -m devtools.config_reference" in capsys.readouterr().err
    assert config_reference.main([]) == 0
    assert config_reference.main(["--check"]) == 0


def test_every_field_has_a_description():
    missing = [
        f"{model.__name__}.{name}"
        for model in all_models()
        for name, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert not missing, f"add an attribute docstring under: {', '.join(missing)}"


def test_every_key_of_the_example_is_in_the_reference():
    keys = example_keys(EXAMPLE.read_text(encoding="utf-8"))
    assert {"source.table", "target.alternator.connectionTimeoutMs", "target.writeConcern.wtimeoutMs",
            "renames[].to", "validation.hashColumns", "skipTokenRanges"} <= keys  # the parser finds them
    documented = reference_keys(config_reference.OUTPUT.read_text(encoding="utf-8"))
    # A key of your choosing (<name>: a table's) stands for any one segment of the path.
    documented |= {k.split("<name>")[0] + "<name>" for k in documented if "<name>" in k}
    patterns = [re.compile(re.escape(k).replace(re.escape("<name>"), r"[^.]+") + "$") for k in documented]
    assert "tables.overrides.orders.scanSegments" in keys
    assert sorted(k for k in keys if not any(p.match(k) for p in patterns)) == []


def test_example_parser_follows_nesting_and_lists():
    text = (
        "source:\n"
        "  # Table name. Required.\n"
        "  table: t\n"
        "  # endpoint:\n"
        "  #   host: localhost\n"
        "  #   # Default: none\n"
        "  #   port: 8000\n"
        "  scanSegments: 4\n"
        "renames: []\n"
        "#  - from: a\n"
        "#    to: b\n"
        "# streaming:\n"
        "#   viewType: NEW_IMAGE\n"
    )
    assert example_keys(text) == {
        "source", "source.table", "source.endpoint", "source.endpoint.host", "source.endpoint.port",
        "source.scanSegments", "renames", "renames[].from", "renames[].to", "streaming",
        "streaming.viewType",
    }


def test_ignored_keys_are_marked_as_such():
    rows = [row for table in config_reference.tables() for row in table.rows]
    ignored = {row.path for row in rows if row.scylla == config_reference.IGNORED}
    assert "target.alternator.optimizeHeaders" in ignored and "target.alternator.datacenter" not in ignored
    assert "skipTokenRanges" in ignored
    assert "validation.compareTimestamps" in ignored
    assert "target.alternator.maxItemsPerBatch" not in ignored
    marked = {row.path for row in rows if row.description.startswith(config_reference.IGNORED_MARK)}
    assert marked == ignored


def test_types_and_defaults_come_from_the_field_info():
    by_path: dict[str, list[config_reference.Row]] = {}
    for table in config_reference.tables():
        for row in table.rows:
            by_path.setdefault(row.path, []).append(row)
    concurrency = by_path["target.writeConcurrency"]  # one per target variant
    assert [(r.type, r.default) for r in concurrency] == [("integer 1–64", "`4`")] * 2
    assert by_path["target.exists"][0].type == "one of: error, drop, rename, append"
    assert by_path["target.uri"][0].type == "string (secret)"
    assert by_path["tables.include"][0].default == "required"
    assert by_path["tables.overrides"][0].type == "mapping of names to sections"
    assert by_path["tables.overrides.<name>.expressionAttributeNames"][0].type == "mapping of strings to strings"
    assert by_path["tables.targetPrefix"][0].default == '`""`'
    assert by_path["source.endpoint.port"][0].type == "integer 1–65,535"
    assert by_path["streaming.triggerSeconds"][0].type == "number > 0, ≤ 3,600"
    assert by_path["metrics.intervalSeconds"][0].default == "`5`"
