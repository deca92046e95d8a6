"""Progress channel (loopback TCP) and the progress line."""

from __future__ import annotations

from devtools.servers import free_port
from migrator.progress import ProgressAddress, ProgressClient, ProgressServer, RateMeter, progress_line
from migrator.savepoints import SegmentState, SnapshotSavepoint
from tests.conftest import eventually


def test_tasks_report_positions_and_a_retried_task_learns_where_to_resume():
    savepoint = SnapshotSavepoint("s_t", "t_t", 2)
    savepoint.segments[1] = SegmentState(last_key={"pk": {"S": "m"}}, items=50)
    server = ProgressServer(savepoint).start()
    try:
        client = ProgressClient(server.address, 1, every=0.01)
        known = client.start()
        assert known.last_key == {"pk": {"S": "m"}} and known.items == 50
        position = [None]
        client.follow(lambda: position[0], lambda: 90)

        def live_only():
            assert server.totals() == (90, 0)
        eventually(live_only, timeout=10)
        assert savepoint.segments[1].items == 50  # nothing committed yet: position kept
        position[0] = ({"pk": {"S": "q"}}, 80, 2, 7)

        def reported():
            with server.lock:
                assert savepoint.segments[1].items == 80
        eventually(reported, timeout=10)
        assert savepoint.segments[1].last_key == {"pk": {"S": "q"}} and savepoint.segments[1].filtered == 7
        assert server.totals() == (90, 0)
        client.finish(120, 2)
        client.close()

        def finished():
            with server.lock:
                assert savepoint.segments[1].done
        eventually(finished, timeout=10)
        assert server.totals() == (120, 1)
        # A second attempt of a finished segment is told so.
        again = ProgressClient(server.address, 1)
        assert again.start().done
        again.close()
    finally:
        server.stop()


def test_an_older_position_never_overwrites_a_newer_one():
    savepoint = SnapshotSavepoint("s_t", "t_t", 1)
    server = ProgressServer(savepoint)
    server.receive({"op": "progress", "seg": 0, "lastKey": {"k": {"N": "9"}}, "items": 90, "skipped": 0})
    server.receive({"op": "progress", "seg": 0, "lastKey": {"k": {"N": "1"}}, "items": 10, "skipped": 0})
    assert savepoint.segments[0].last_key == {"k": {"N": "9"}}
    server.stop()


def test_reports_without_the_token_are_ignored():
    savepoint = SnapshotSavepoint("s_t", "t_t", 1)
    server = ProgressServer(savepoint).start()
    try:
        impostor = ProgressClient(ProgressAddress(server.address.host, server.address.port, "wrong"), 0)
        impostor.start()
        impostor.report({"k": {"S": "x"}}, 10**9, 0, live=10**9, done=True)
        impostor.close()
        genuine = ProgressClient(server.address, 0, every=0.0)
        genuine.start()
        genuine.close()
        assert 0 not in savepoint.segments or not savepoint.segments[0].done
        assert savepoint.segments.get(0, SegmentState()).items == 0
    finally:
        server.stop()


def test_a_task_that_cannot_reach_the_driver_copies_anyway():
    client = ProgressClient(ProgressAddress("127.0.0.1", free_port(), "t"), 0)
    assert client.start() is None
    client.report({"k": {"S": "x"}}, 1, 0, live=1, done=True)  # no error
    assert ProgressClient(None, 0).start() is None


def test_rate_and_eta():
    meter = RateMeter(now=0.0)
    meter.add(10.0, 1000)
    assert meter.rate() == 100.0
    assert meter.eta(4600) == "0:00:36"
    assert meter.eta(1000) == "0:00:00"
    assert meter.eta(900) == "unknown"   # more items than the table's estimate
    assert meter.eta(0) == "unknown"
    assert RateMeter(now=0.0).eta(10) == "unknown"
    line = progress_line("snapshot orders", 1000, 4600, meter, "1/4 segments done")
    assert line == ("snapshot orders: 1,000 of ~4,600 items (21.7%), 100 items/s, ETA 0:00:36; "
                    "1/4 segments done")


def test_rate_uses_a_sliding_window():
    meter = RateMeter(now=0.0, window=10.0)
    meter.add(5.0, 5000)   # fast start
    for t in range(6, 60):
        meter.add(float(t), 5000 + (t - 5) * 10)
    assert 9 <= meter.rate() <= 11
