"""Client-side load balancing over ScyllaDB Alternator nodes, and gzip request compression.

Alternator has no load balancer of its own: every node answers the DynamoDB API, and the node a
request reaches coordinates it. A client that sends everything to one ``endpoint`` makes that node
the coordinator of the whole migration. So, as Scylla Migrator's Java client does, a DynamoDB client
for ``type: alternator`` asks the endpoint (the seed) for the live nodes, with Alternator's
``GET /localnodes?dc=<datacenter>&rack=<rack>``, and sends each request to the next of them in turn.
A rack that lists no node falls back to its datacenter, a datacenter to the seed's own, and a seed
that cannot say (an older Alternator, DynamoDB Local, a proxy) to the seed alone, with one warning.

The list is refreshed in a daemon thread of the process: every ``activeRefreshIntervalMs`` while
requests flow, every ``idleRefreshIntervalMs`` otherwise. One list serves every client of the process
with the same seed and settings (Spark reuses Python workers, and a task builds its clients afresh).
A node is addressed with the seed's scheme and port. The rewrite runs in botocore's ``before-sign``
event, so the request is signed for the node it goes to, and a retry goes to the next node.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Balancing:
    """How a client spreads its requests: the nodes to choose from, how often to look again, and
    whether to gzip request bodies. Picklable: it travels in a ``ClientSpec``."""

    datacenter: str | None = None
    rack: str | None = None
    active_refresh_ms: int = 1000
    idle_refresh_ms: int = 60000
    compression: bool = False
    spread: bool = True  # False: every request to the seed (loadBalancing: false)


def node_url(seed: str, host: str) -> str:
    """The URL of node ``host`` (an address from ``/localnodes``) with the seed's scheme and port."""
    parts = urllib.parse.urlsplit(seed)
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{parts.scheme}://{shown}:{parts.port}" if parts.port else f"{parts.scheme}://{shown}"


def discovery_urls(seed: str, balancing: Balancing) -> list[str]:
    """The ``/localnodes`` queries to try in order: the rack, its datacenter, the seed's own datacenter."""
    base = seed.rstrip("/") + "/localnodes"
    queries = []
    if balancing.datacenter and balancing.rack:
        queries.append({"dc": balancing.datacenter, "rack": balancing.rack})
    if balancing.datacenter:
        queries.append({"dc": balancing.datacenter})
    queries.append({})
    return [f"{base}?{urllib.parse.urlencode(q)}" if q else base for q in queries]


def fetch_nodes(url: str, timeout: float) -> list[str]:
    """The addresses a ``/localnodes`` URL lists (a JSON array of strings); raises on any other answer."""
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - the configured endpoint
        listed = json.loads(response.read())
    if not isinstance(listed, list) or not all(isinstance(host, str) for host in listed):
        raise ValueError(f"{url} answered {str(listed)[:80]!r}, not a list of node addresses")
    return listed


class LiveNodes:
    """The live nodes of one seed under one :class:`Balancing`, handed out in turn.

    ``fetch(url) -> list of addresses`` is a parameter so that the choice and the refresh can be tested
    without servers. :meth:`refresh` runs once at construction (synchronously:
    the first request already has a node) and then in :meth:`start`'s thread.
    """

    def __init__(self, seed: str, balancing: Balancing, fetch: Callable[[str], list[str]]):
        self.seed = seed
        self.balancing = balancing
        self._fetch = fetch
        self._lock = threading.Lock()
        self._nodes = [seed]
        self._turn = 0
        self._used = 0  # requests since the last refresh
        self._warned = False
        self.refresh()

    @property
    def nodes(self) -> list[str]:
        with self._lock:
            return list(self._nodes)

    def next(self) -> str:
        """The node for the next request."""
        with self._lock:
            self._used += 1
            self._turn = (self._turn + 1) % len(self._nodes)
            return self._nodes[self._turn]

    def refresh(self) -> None:
        """Look the nodes up again; keep the known ones (or the seed) when no query lists any."""
        problem = None
        for url in discovery_urls(self.seed, self.balancing):
            try:
                found = self._fetch(url)
            except Exception as exc:  # noqa: BLE001 - a seed that cannot answer: keep the nodes known
                problem = f"{type(exc).__name__}: {exc}"
                break
            if found:
                nodes = sorted({node_url(self.seed, host) for host in found})
                with self._lock:
                    changed = nodes != self._nodes
                    self._nodes = nodes
                if changed:
                    log.info("Alternator nodes for %s: %s", self.seed, ", ".join(nodes))
                return
            problem = f"{url} lists no node"
        if not self._warned:
            self._warned = True
            log.warning("Alternator load balancing: no live nodes from %s (%s); requests go to %s",
                        self.seed, problem, ", ".join(self.nodes))

    def interval(self) -> float:
        """Seconds to the next refresh: the active interval if requests went out since the last one."""
        with self._lock:
            used, self._used = self._used, 0
        return (self.balancing.active_refresh_ms if used else self.balancing.idle_refresh_ms) / 1000

    def start(self) -> "LiveNodes":
        thread = threading.Thread(target=self._run, name=f"alternator-nodes {self.seed}", daemon=True)
        thread.start()
        return self

    def _run(self) -> None:
        while True:  # a daemon thread: it ends with the process
            time.sleep(self.interval())
            self.refresh()


_registry: dict[tuple[str, Balancing], LiveNodes] = {}
_registry_lock = threading.Lock()


def live_nodes(seed: str, balancing: Balancing, timeout: float) -> LiveNodes:
    """The process's :class:`LiveNodes` for ``seed`` and ``balancing``, started on first use."""
    key = (seed, balancing)
    with _registry_lock:
        found = _registry.get(key)
        if found is None:
            found = _registry[key] = LiveNodes(seed, balancing, lambda url: fetch_nodes(url, timeout)).start()
        return found


def install(client: Any, seed: str, balancing: Balancing, timeout: float) -> Any:
    """Make the DynamoDB ``client`` (whose endpoint is ``seed``) spread and compress as ``balancing`` says."""
    nodes = live_nodes(seed, balancing, timeout) if balancing.spread else None

    def before_sign(request: Any, **_: Any) -> None:
        if nodes is not None:
            parts = urllib.parse.urlsplit(request.url)
            target = urllib.parse.urlsplit(nodes.next())
            request.url = urllib.parse.urlunsplit(parts._replace(scheme=target.scheme, netloc=target.netloc))
        if balancing.compression and request.data:
            body = request.data if isinstance(request.data, bytes) else request.data.encode()
            request.data = gzip.compress(body, compresslevel=1)
            request.headers["Content-Encoding"] = "gzip"
            if "Content-Length" in request.headers:
                del request.headers["Content-Length"]  # measured again from the compressed body

    client.meta.events.register("before-sign.dynamodb.*", before_sign)
    return client
