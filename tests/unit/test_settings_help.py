"""``migrator run --help`` lists every setting of the configuration reference, from the same models."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from devtools import config_reference
from migrator import cli


def listed_settings() -> set[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = out.getvalue()
    assert "docs/config-reference.md" in text
    paragraphs = re.split(r"\n  (?=\S)", text.split("settings of the configuration file", 1)[1])[1:]
    listed = set()
    for paragraph in paragraphs:
        title, keys = " ".join(paragraph.split()).split(": ", 1)
        section = title.split(" (")[0]
        listed |= {section} if keys == "a value" else {f"{section}.{k}" for k in keys.split(", ")}
    return listed


def test_every_key_of_the_reference_is_in_run_help():
    paths = [row.path for table in config_reference.tables() for row in table.rows]
    leaves = {p for p in paths if not any(other.startswith((p + ".", p + "[")) for other in paths)}
    listed = listed_settings()
    assert leaves - listed == set() and listed - leaves == set()
