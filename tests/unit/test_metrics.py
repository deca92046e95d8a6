"""The metrics sink: JSON lines, Prometheus text, the HTTP endpoint, and the docs naming every metric."""

from __future__ import annotations

import json
import os
import socket
import urllib.request

import pytest

from devtools.servers import free_port
from migrator.metrics import METRICS, Metrics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_records_are_json_lines_with_time_job_event_and_fields(tmp_path):
    path = tmp_path / "m.jsonl"
    metrics = Metrics(str(path), clock=lambda: 1_800_000_000.25)
    metrics.record("snapshot", "progress", "orders", items_written=10, items_per_second=2.5, eta_seconds=None)
    metrics.record("replicate", "batch", "orders", batch=3, inserts=2, lag_seconds=float("nan"))
    metrics.close()
    first, second = [json.loads(line) for line in path.read_text().splitlines()]
    assert first == {"time": "2027-01-15T08:00:00.250+00:00", "unix": 1_800_000_000.25, "run": metrics.run,
                     "job": "snapshot", "event": "progress", "table": "orders", "items_written": 10,
                     "items_per_second": 2.5, "eta_seconds": None}
    assert second["batch"] == 3 and second["inserts"] == 2 and second["lag_seconds"] is None


def test_a_rerun_appends_to_the_same_file(tmp_path):
    path = str(tmp_path / "m.jsonl")
    for n in range(2):
        metrics = Metrics(path)
        metrics.record("validate", "summary", "t", keys=n)
        metrics.close()
    assert [json.loads(line)["keys"] for line in open(path)] == [0, 1]


def test_unknown_fields_are_refused_and_a_disabled_sink_does_nothing(tmp_path):
    metrics = Metrics(str(tmp_path / "m.jsonl"))
    with pytest.raises(ValueError, match=r"no such snapshot field\(s\) \['itemz'\]"):
        metrics.record("snapshot", "progress", "t", itemz=1)
    metrics.close()
    Metrics().record("snapshot", "progress", "t", itemz=1)  # no sink: no check, no cost


def test_prometheus_text_has_help_type_totals_and_latest_gauges():
    metrics = Metrics(port=free_port())
    try:
        metrics.record("snapshot", "progress", "orders", items_written=5, items_per_second=1.5, eta_seconds=None)
        metrics.record("snapshot", "progress", "orders", items_written=9, items_per_second=2.0)
        for batch, inserts in ((1, 4), (2, 6)):
            metrics.record("replicate", "batch", 'we"ird', batch=batch, inserts=inserts, duration_seconds=0.5)
        text = metrics.prometheus()
    finally:
        metrics.close()
    assert "# TYPE migrator_snapshot_items_written_total counter" in text
    assert 'migrator_snapshot_items_written_total{table="orders"} 9' in text
    assert 'migrator_snapshot_items_per_second{table="orders"} 2' in text
    assert "eta_seconds" not in text  # unknown values are left out, not zero
    assert 'migrator_replicate_inserts_total{table="we\\"ird"} 10' in text
    assert 'migrator_replicate_batches_total{table="we\\"ird"} 2' in text
    assert 'migrator_replicate_batch{table="we\\"ird"} 2' in text
    assert 'migrator_replicate_duration_seconds{table="we\\"ird"} 0.5' in text


def test_the_endpoint_serves_metrics_and_nothing_else():
    port = free_port()
    metrics = Metrics(port=port, host="127.0.0.1")
    try:
        metrics.record("validate", "progress", "t", items_read=42)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert 'migrator_validate_items_read_total{table="t"} 42' in answer.read().decode()
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
    finally:
        metrics.close()


def test_a_busy_port_or_an_s3_path_says_which_setting_to_change(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(OSError, match=r"metrics.prometheusPort \d+: cannot listen .*choose a free port"):
            Metrics(port=busy.getsockname()[1], host="127.0.0.1")
    with pytest.raises(OSError, match="must be a local file"):
        Metrics("s3://bucket/metrics.jsonl")


def test_docs_describe_every_metric():
    with open(os.path.join(ROOT, "docs", "metrics.md"), encoding="utf-8") as f:
        docs = f.read()
    for (job, name), (kind, _) in METRICS.items():
        metric = f"migrator_{job}_{name}" + ("_total" if kind == "counter" else "")
        assert f"`{name}`" in docs and f"`{metric}`" in docs, f"docs/metrics.md does not describe {metric}"
