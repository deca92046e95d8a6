"""notebooks/demo.ipynb, run headless as CI runs it: ``python -m devtools.run_notebook``.

The notebook runs the whole demo (two DynamoDB Local servers, ``migrator run`` under a live load,
``migrator validate``) and draws two figures from its metrics file; every cell must run, both
figures must be in the executed notebook as PNG images and saved in the work directory.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOTEBOOK = os.path.join(ROOT, "notebooks", "demo.ipynb")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_demo_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)
    assert any("parameters" in cell.metadata.get("tags", []) for cell in code)


@pytest.mark.integration
@pytest.mark.slow
def test_demo_notebook_runs_headless_and_draws_both_figures(tmp_path):
    workdir = tmp_path / "work"
    executed = tmp_path / "demo.executed.ipynb"
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable)
    # Fewer items than the notebook's default: the figures need a copy and some batches, not volume.
    command = [sys.executable, "-m", "devtools.run_notebook", NOTEBOOK, "--output", str(executed),
               "--timeout", "420", "--param", "ITEMS=2000", "--param", f"WORKDIR={str(workdir)!r}"]
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-8000:]

    nb = nbformat.read(executed, as_version=4)
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    images = [base64.b64decode(out.data["image/png"]) for out in outputs if "image/png" in out.get("data", {})]
    saved = [(workdir / name).read_bytes() for name in ("snapshot.png", "replication.png")]
    assert all(png.startswith(PNG_SIGNATURE) and len(png) > 10_000 for png in saved)
    # What the notebook shows is what it saved, in order: snapshot first, then replication.
    assert images == saved
    printed = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert "missing    : 0" in printed and "different  : 0" in printed
