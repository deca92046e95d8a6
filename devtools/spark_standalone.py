"""A Spark standalone cluster on this machine: one master and one worker, started from the pyspark install.

Used by the standalone integration test; it runs the same commands a user runs on real nodes
(``spark-class org.apache.spark.deploy.master.Master`` / ``...worker.Worker``), only bound to the
loopback interface on free ports. pip's pyspark has no ``sbin/start-master.sh``, so the daemons
are started with ``spark-class`` directly, in the foreground, each in its own process group.

::

    with StandaloneCluster(log_dir) as cluster:
        subprocess.run(["./submit.sh", "--master", cluster.master_url, ...])
        cluster.state()["completedapps"]
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any, Callable

from devtools.servers import CACHE

VENV = os.path.join(CACHE, "venv")


def spark_class() -> str:
    """``$SPARK_HOME/bin/spark-class`` when SPARK_HOME is set (as submit.sh does), else the venv's."""
    home = os.environ.get("SPARK_HOME")
    path = os.path.join(home, "bin", "spark-class") if home else os.path.join(VENV, "bin", "spark-class")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"spark-class not found at {path}; run devtools/setup.sh or set SPARK_HOME")
    return path


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (held open together, so none is handed out twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tail(path: str, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file, for error messages."""
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as exc:
        return f"({exc})"


class StandaloneCluster:
    """A standalone master and one worker as subprocesses, on free 127.0.0.1 ports.

    Parameters
    ----------
    log_dir : str
        Holds ``master.log``, ``worker.log`` and the worker's work directory ``work/`` (one
        ``app-*/<executor id>/`` directory with ``stdout`` and ``stderr`` per executor).
    cores, memory : int, str
        What the worker offers (``--cores``, ``--memory``).
    python : str
        ``PYSPARK_PYTHON`` of the daemons (default: the venv's python). Note that Python workers on
        executors run the interpreter the *driver* names (its ``PYSPARK_PYTHON`` or
        ``spark.pyspark.python``), not this one.

    Notes
    -----
    Both daemons start at once: each takes 10-30 s on two busy cores (spark-class first runs a
    launcher JVM to build the command). The worker contacts the master once its own start-up is
    done, by which time the master normally listens; if not, the worker retries after 5-15 s.
    """

    def __init__(self, log_dir: str, cores: int = 2, memory: str = "2g", python: str | None = None):
        self.log_dir = os.path.abspath(log_dir)
        self.work_dir = os.path.join(self.log_dir, "work")
        self.cores, self.memory = cores, memory
        self.python = python or os.path.join(VENV, "bin", "python")
        self.master_port, self.master_ui_port, self.worker_port, self.worker_ui_port = free_ports(4)
        self.master: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.master_port}"

    @property
    def master_ui(self) -> str:
        return f"http://127.0.0.1:{self.master_ui_port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=self.python,
                   SPARK_WORKER_DIR=self.work_dir, SPARK_LOG_DIR=self.log_dir)
        # The master's REST submission server is on by default and always takes port 6066: off,
        # so that two clusters (or a real one) on this machine do not collide. submit.sh uses RPC.
        env["SPARK_MASTER_OPTS"] = (env.get("SPARK_MASTER_OPTS", "") + " -Dspark.master.rest.enabled=false").strip()
        # The daemons' own settings only; a PYTHONPATH meant for a driver has no business here.
        env.pop("PYTHONPATH", None)
        return env

    def start(self, timeout: float = 120.0) -> "StandaloneCluster":
        os.makedirs(self.work_dir, exist_ok=True)
        try:
            self.master = self._spawn("master", "org.apache.spark.deploy.master.Master",
                                      "--host", "127.0.0.1", "--port", str(self.master_port),
                                      "--webui-port", str(self.master_ui_port))
            self.worker = self._spawn("worker", "org.apache.spark.deploy.worker.Worker",
                                      "--host", "127.0.0.1", "--port", str(self.worker_port),
                                      "--webui-port", str(self.worker_ui_port), "--cores", str(self.cores),
                                      "--memory", self.memory, "--work-dir", self.work_dir, self.master_url)
            self.wait_for(lambda s: len(self.alive_workers(s)) == 1, "one ALIVE worker", timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, name: str, main_class: str, *args: str) -> subprocess.Popen:
        with open(os.path.join(self.log_dir, f"{name}.log"), "ab") as log:
            # spark-class execs java, so the pid is the JVM's; its own session lets stop() reach the
            # executors and Python workers a worker starts, which stay in its process group.
            return subprocess.Popen([spark_class(), main_class, *args], env=self.env(), stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def state(self) -> dict[str, Any]:
        """The master's status as its web UI serves it (``/json/``): workers, active and completed apps."""
        with urllib.request.urlopen(f"{self.master_ui}/json/", timeout=5) as response:
            return json.load(response)

    @staticmethod
    def alive_workers(state: dict[str, Any]) -> list[dict[str, Any]]:
        return [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]

    def wait_for(self, condition: Callable[[dict[str, Any]], bool], what: str, timeout: float) -> dict[str, Any]:
        """Poll the master's JSON until ``condition(state)`` holds; returns that state.

        Raises
        ------
        RuntimeError
            When a daemon exits or ``timeout`` seconds pass, with the tail of both logs.
        """
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            for name, proc in (("master", self.master), ("worker", self.worker)):
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"the Spark {name} exited with {proc.returncode} while waiting for {what}"
                                       f"\n{self.logs()}")
            try:
                last = self.state()
                if condition(last):
                    return last
            except (urllib.error.URLError, OSError, ValueError) as exc:
                last = exc
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what} at {self.master_ui}/json/; "
                                   f"last answer: {last!r:.500}\n{self.logs()}")
            time.sleep(0.25)

    def logs(self, lines: int = 40) -> str:
        return "".join(f"--- {name} ({path}), last {lines} lines:\n{tail(path, lines)}"
                       for name in ("master", "worker")
                       for path in [os.path.join(self.log_dir, f"{name}.log")])

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM each process group (worker first, then master), SIGKILL what is left after ``timeout``."""
        for attr in ("worker", "master"):
            proc = getattr(self, attr)
            if proc is None:
                continue
            _stop_group(proc, timeout)
            setattr(self, attr, None)

    def __enter__(self) -> "StandaloneCluster":
        return self.start() if self.master is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _stop_group(proc: subprocess.Popen, timeout: float) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    # The leader may be gone while executors it started are still shutting down: wait for the group.
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _group_alive(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.wait(timeout=10)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
