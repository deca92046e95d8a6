"""Running ``submit.sh`` from tests (test_standalone.py, test_emr_package.py): an executor Python that
can import migrator only from what submit.sh ships, and a replicating run under a live write load."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig

from tests.conftest import eventually
from tests.integration.conftest import batches_logged

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUBMIT = os.path.join(ROOT, "submit.sh")


def shipped_only_python(tmp_path) -> str:
    """A ``PYSPARK_PYTHON`` for executors under which ``import migrator`` works only through submit.sh.

    Executors run the venv's Python with -S: its packages are on PYTHONPATH, but not the editable
    install of migrator (a .pth file that -S skips). Checked here, from a directory outside the repo.
    """
    site_packages = sysconfig.get_paths()["purelib"]
    executor_python = tmp_path / "executor-python"
    executor_python.write_text(f'#!/bin/sh\nexport PYTHONPATH="${{PYTHONPATH:+$PYTHONPATH:}}{site_packages}"\n'
                               f'exec "{sys.executable}" -S "$@"\n')
    executor_python.chmod(0o755)
    probe = subprocess.run([str(executor_python), "-c", "import migrator"], cwd=tmp_path, capture_output=True,
                           text=True, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert probe.returncode != 0 and "No module named 'migrator'" in probe.stderr
    return str(executor_python)


def submit_env(tmp_path, executor_python: str) -> dict[str, str]:
    """The environment of a submit.sh run: the driver on this venv, executors on ``executor_python``."""
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=executor_python,
               PYSPARK_DRIVER_PYTHON=sys.executable, MIGRATOR_BUILD_DIR=str(tmp_path / "build"))
    env.pop("PYTHONPATH", None)
    return env


def run_during_load(command: list[str], cwd, env: dict[str, str], log_path, load, timeout: float = 240) -> str:
    """Run a replicating ``submit.sh ... run`` to its end, output in ``log_path``; returns the log.

    ``load`` (a :class:`devtools.load.LoadGenerator`) starts once the snapshot is under way and stops
    once three micro-batches applied changes, so the run must then stop by itself (``--stop-when-idle``), with 0.
    """
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            def snapshot_started():
                text = log_path.read_text()
                assert "snapshot " in text and "segments done" in text, text[-3000:]
            eventually(snapshot_started, timeout=timeout)
            load.start()

            def replicating():
                text = log_path.read_text()
                assert batches_logged(text) >= 3, text[-3000:]
            eventually(replicating, timeout=timeout)
            load.stop()
            assert proc.wait(timeout=timeout) == 0, log_path.read_text()[-3000:]
        finally:
            load.done.set()
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    return log_path.read_text()
