"""Run a notebook headless, as CI does: ``python -m devtools.run_notebook notebooks/demo.ipynb``.

Every cell is executed in order by nbclient in a kernel started from *this* interpreter (the
project's venv), never from a kernel spec a user or another environment installed: the spec is
written to a temporary directory that is the only place looked in. Jupyter's and IPython's
runtime, config and data directories point there too, so nothing under ``~`` is read or written.
The executed copy, outputs included, is written to ``--output`` even when a cell fails, so the
failure can be read in context; the exit status is then 1 and the failing cell's error goes to
stderr. Matplotlib gets the non-interactive Agg backend unless ``MPLBACKEND`` says otherwise.

``--param NAME=VALUE`` overrides a variable of the cell tagged ``parameters`` the way papermill
does: a cell assigning the values is inserted after it (VALUE is read as a Python literal when it
parses as one, else taken as a string).
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import os
import re
import sys
import tempfile
import time

log = logging.getLogger(__name__)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL_NAME = "migrator-python"
#: Colour codes in IPython tracebacks, dropped so the log reads as plain text.
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: Lines of a failing cell's printed output repeated in the error message.
TAIL = 40


def main(argv: list[str] | None = None) -> int:
    """Execute one notebook; 0 when every cell ran, 1 when one failed or timed out.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default ``sys.argv[1:]``); ``--help`` lists them.

    Returns
    -------
    int
        The exit status.
    """
    parser = argparse.ArgumentParser(description="Execute a Jupyter notebook headless with this Python as its kernel.")
    parser.add_argument("notebook", help="the .ipynb file to run (it is not modified)")
    parser.add_argument("--output", help="where the executed copy goes (default .cache/notebook/<name>.executed.ipynb)")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds one cell may run before the run fails (default 900)")
    parser.add_argument("--startup-timeout", type=float, default=120.0,
                        help="seconds to wait for the kernel to start (default 120)")
    parser.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE",
                        help="override a variable of the cell tagged 'parameters' (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    try:
        params = dict(_parse_param(p) for p in args.param)
    except ValueError as exc:
        parser.error(str(exc))
    name = os.path.splitext(os.path.basename(args.notebook))[0]
    output = os.path.abspath(args.output or os.path.join(ROOT, ".cache", "notebook", f"{name}.executed.ipynb"))
    return run(os.path.abspath(args.notebook), output, params, args.timeout, args.startup_timeout)


def run(notebook: str, output: str, params: dict[str, object], timeout: float, startup_timeout: float) -> int:
    """Execute ``notebook`` into ``output``; see :func:`main` for the meaning of the result.

    Parameters
    ----------
    notebook, output : str
        Absolute paths of the notebook to run and of its executed copy. The kernel's working
        directory is the notebook's folder, as in Jupyter.
    params : dict
        Values for the parameters cell (may be empty).
    timeout, startup_timeout : float
        Seconds per cell, and for the kernel to answer.

    Returns
    -------
    int
        0 when every cell ran, 1 otherwise.
    """
    # Imported here so that ``--help`` works, and a missing package fails clearly, without the dev extras.
    try:
        import nbformat
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import AsyncKernelManager
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    except ImportError as exc:
        log.error("%s; running notebooks needs the dev extras: pip install -e '.[dev]'", exc)
        return 1

    nb = nbformat.read(notebook, as_version=4)
    if params:
        _inject(nb, params)
    os.makedirs(os.path.dirname(output), exist_ok=True)
    # The kernel inherits this environment; a GUI backend would need a display CI does not have.
    os.environ.setdefault("MPLBACKEND", "Agg")
    with tempfile.TemporaryDirectory(prefix="run-notebook-") as home:
        for var, sub in (("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTER_CONFIG_DIR", "config"),
                         ("JUPYTER_DATA_DIR", "data"), ("IPYTHONDIR", "ipython")):
            os.environ[var] = os.path.join(home, sub)
        kernels = os.path.join(home, "kernels")
        _write_kernel_spec(kernels)
        # Only our directory is searched, so a 'python3' spec elsewhere cannot pick another interpreter.
        # IPC sockets in the temporary directory: no TCP ports to find free, none open to other users.
        km = AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=KernelSpecManager(kernel_dirs=[kernels]),
                                transport="ipc", ip=os.path.join(home, "kernel-ipc"))
        client = NotebookClient(nb, km=km, timeout=timeout, startup_timeout=startup_timeout,
                                kernel_name=KERNEL_NAME,
                                resources={"metadata": {"path": os.path.dirname(notebook)}})
        current: dict[str, int] = {}
        client.on_cell_start = lambda cell, cell_index: current.update(index=cell_index)
        log.info("executing %s (%d cells) with %s; executed copy in %s", notebook, len(nb.cells), sys.executable,
                 output)
        started = time.monotonic()
        try:
            client.execute()
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
            index = current.get("index")
            where = "?" if index is None else f"{index + 1} of {len(nb.cells)}"
            log.error("%s failed after %.0f s in cell %s (%s):\n%s", notebook, time.monotonic() - started, where,
                      type(exc).__name__, _describe(nb, index, exc))
            return 1
        finally:
            nbformat.write(nb, output)
    log.info("%s ran in %.0f s", notebook, time.monotonic() - started)
    return 0


def _describe(nb, index: int | None, exc: Exception) -> str:
    """The failing cell's source, the end of what it printed, and its traceback, as plain text."""
    if index is None:
        return str(exc)
    cell = nb.cells[index]
    outputs = cell.get("outputs", [])
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream").splitlines()
    errors = [o for o in outputs if o.get("output_type") == "error"]
    parts = [cell.source, "-" * 40]
    if printed:
        # The whole output is in the executed copy; the end is what usually says why.
        parts += [f"... last {min(len(printed), TAIL)} of {len(printed)} lines printed:", *printed[-TAIL:], "-" * 40]
    parts.append("\n".join(errors[-1].get("traceback", [])) if errors else str(exc))
    return ANSI.sub("", "\n".join(parts))


def _write_kernel_spec(kernels: str) -> None:
    path = os.path.join(kernels, KERNEL_NAME)
    os.makedirs(path)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python (migrator venv)", "language": "python"}
    with open(os.path.join(path, "kernel.json"), "w", encoding="utf-8") as f:
        json.dump(spec, f)


def _parse_param(text: str) -> tuple[str, object]:
    name, sep, raw = text.partition("=")
    if not sep or not name.isidentifier():
        raise ValueError(f"--param {text!r}: must be NAME=VALUE with NAME a Python identifier")
    try:
        value: object = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return name, value


def _inject(nb, params: dict[str, object]) -> None:
    import nbformat

    tagged = [i for i, cell in enumerate(nb.cells) if "parameters" in cell.get("metadata", {}).get("tags", [])]
    if not tagged:
        raise SystemExit("run_notebook: --param given but no cell is tagged 'parameters'")
    source = "# Injected by devtools/run_notebook.py --param\n" + "".join(
        f"{name} = {value!r}\n" for name, value in params.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(tagged[0] + 1, cell)


if __name__ == "__main__":
    raise SystemExit(main())
