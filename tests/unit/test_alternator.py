"""Alternator load balancing without servers: which nodes, in which turn, asked how and how often."""

from __future__ import annotations

import gzip
import json
import logging

from botocore.awsrequest import AWSRequest

from migrator import alternator
from migrator.alternator import Balancing, LiveNodes, discovery_urls, node_url

SEED = "http://10.0.0.1:8000"


class Answers:
    """A fake ``/localnodes``: the answer for each URL (a list, or an exception to raise), and the URLs asked."""

    def __init__(self, answers):
        self.answers = answers
        self.asked = []

    def __call__(self, url):
        self.asked.append(url)
        answer = self.answers.get(url, [])
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_the_queries_narrow_from_rack_to_datacenter_to_the_seeds_own():
    assert discovery_urls(SEED, Balancing(datacenter="dc 1", rack="r1")) == [
        f"{SEED}/localnodes?dc=dc+1&rack=r1", f"{SEED}/localnodes?dc=dc+1", f"{SEED}/localnodes"]
    assert discovery_urls(SEED + "/", Balancing()) == [f"{SEED}/localnodes"]


def test_nodes_keep_the_seeds_scheme_and_port_and_ipv6_is_bracketed():
    assert node_url("https://seed:8043", "10.0.0.7") == "https://10.0.0.7:8043"
    assert node_url("http://seed:8000", "fd00::7") == "http://[fd00::7]:8000"
    assert node_url("http://seed", "10.0.0.7") == "http://10.0.0.7"


def test_requests_go_round_the_listed_nodes_in_turn():
    fetch = Answers({f"{SEED}/localnodes?dc=dc1": ["10.0.0.2", "10.0.0.1", "10.0.0.3"]})
    nodes = LiveNodes(SEED, Balancing(datacenter="dc1"), fetch)
    picked = [nodes.next() for _ in range(6)]
    assert sorted(set(picked)) == ["http://10.0.0.1:8000", "http://10.0.0.2:8000", "http://10.0.0.3:8000"]
    assert picked[:3] == picked[3:]  # each node once per turn


def test_an_empty_rack_falls_back_to_the_datacenter():
    fetch = Answers({f"{SEED}/localnodes?dc=dc1&rack=r9": [], f"{SEED}/localnodes?dc=dc1": ["10.0.0.4"]})
    nodes = LiveNodes(SEED, Balancing(datacenter="dc1", rack="r9"), fetch)
    assert nodes.nodes == ["http://10.0.0.4:8000"]
    assert len(fetch.asked) == 2


def test_a_seed_that_cannot_say_gets_every_request_with_one_warning(caplog):
    fetch = Answers({f"{SEED}/localnodes": OSError("HTTP Error 400: Bad Request")})
    with caplog.at_level(logging.WARNING, logger="migrator.alternator"):
        nodes = LiveNodes(SEED, Balancing(), fetch)
        nodes.refresh()
    assert [nodes.next() for _ in range(3)] == [SEED] * 3
    assert caplog.text.count("no live nodes from") == 1 and "HTTP Error 400" in caplog.text


def test_a_failed_refresh_keeps_the_nodes_known_and_a_later_one_follows_the_cluster():
    url = f"{SEED}/localnodes"
    fetch = Answers({url: ["10.0.0.1", "10.0.0.2"]})
    nodes = LiveNodes(SEED, Balancing(), fetch)
    fetch.answers[url] = TimeoutError("timed out")
    nodes.refresh()
    assert nodes.nodes == ["http://10.0.0.1:8000", "http://10.0.0.2:8000"]
    fetch.answers[url] = ["10.0.0.2", "10.0.0.5"]  # a node left, another joined
    nodes.refresh()
    assert nodes.nodes == ["http://10.0.0.2:8000", "http://10.0.0.5:8000"]


def test_the_refresh_is_quick_while_requests_flow_and_slow_when_idle():
    nodes = LiveNodes(SEED, Balancing(active_refresh_ms=500, idle_refresh_ms=30000), Answers({}))
    assert nodes.interval() == 30.0
    nodes.next()
    assert nodes.interval() == 0.5
    assert nodes.interval() == 30.0  # the count starts again at each refresh


def request():
    body = json.dumps({"TableName": "t", "Item": {"k": {"S": "x" * 100}}}).encode()
    return AWSRequest(method="POST", url="http://10.0.0.1:8000/", data=body, headers={"X-Amz-Target": "Put"}), body


def test_the_signing_hook_rewrites_the_host_and_compresses(monkeypatch):
    class Events:
        def register(self, name, handler):
            self.name, self.handler = name, handler

    class Client:
        class meta:  # noqa: N801 - botocore's shape
            events = Events()

    fetch = Answers({f"{SEED}/localnodes": ["10.0.0.9"]})
    monkeypatch.setattr(alternator, "fetch_nodes", lambda url, timeout: fetch(url))
    monkeypatch.setattr(alternator, "_registry", {})
    client = alternator.install(Client(), SEED, Balancing(compression=True, idle_refresh_ms=600000), 1.0)
    assert client.meta.events.name == "before-sign.dynamodb.*"
    sent, body = request()
    client.meta.events.handler(request=sent)
    assert sent.url == "http://10.0.0.9:8000/"
    assert sent.headers["Content-Encoding"] == "gzip" and gzip.decompress(sent.data) == body
    assert sent.prepare().headers["Content-Length"] == str(len(sent.data))

    off = alternator.install(Client(), SEED, Balancing(spread=False), 1.0)
    sent, body = request()
    off.meta.events.handler(request=sent)
    assert sent.url == "http://10.0.0.1:8000/" and sent.data == body and "Content-Encoding" not in sent.headers
