"""The official Python client (PyPI `skydive-client`, unchanged) against a real analyzer.

Run by scripts/test.d/python-client.sh, which starts `skydive analyzer` on a free loopback
port with a temporary data directory and sets SKYDIVE_ANALYZER to its address.

Covers: RESTClient lookup / lookup_nodes / lookup_edges, node_create / node_update /
node_list / node_delete, edge_create / edge_list / edge_delete, error reporting; WSClient
with a protocol class as a subscriber (SyncRequest/SyncReply, live events, Gremlin filter)
and as a publisher (NodeAdded/EdgeAdded, DeleteOnDisconnect); the `skydive-ws-client`
command (add / update / delete from a JSON dump).
"""

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

from skydive.graph import Edge, Node
from skydive.rest.client import BadRequest, RESTClient
from skydive.websocket.client import (
    EdgeAddedMsgType,
    NodeAddedMsgType,
    SyncReplyMsgType,
    SyncRequestMsg,
    SyncRequestMsgType,
    WSClient,
    WSClientDefaultProtocol,
    WSMessage,
)

ANALYZER = os.environ.get("SKYDIVE_ANALYZER", "127.0.0.1:8082")
PATIENCE = 20  # seconds before a test gives up waiting (never a timing claim)


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def wait_for_analyzer():
    rest = RESTClient(ANALYZER)
    deadline = time.time() + 60
    while True:
        try:
            return rest.request("/api")
        except Exception as e:  # connection refused while it starts
            if time.time() > deadline:
                raise RuntimeError("analyzer at %s did not answer: %s" % (ANALYZER, e))
            time.sleep(0.1)


def eventually(what, check):
    deadline = time.time() + PATIENCE
    while not check():
        if time.time() > deadline:
            raise AssertionError("gave up waiting for: " + what)
        time.sleep(0.05)


class RESTTest(unittest.TestCase):
    def setUp(self):
        self.rest = RESTClient(ANALYZER)

    def test_api_info(self):
        info = self.rest.request("/api")
        self.assertEqual(info["Service"], "analyzer")
        self.assertIn("Version", info)

    def test_node_and_edge_life_cycle(self):
        host, dev, link = unique("host"), unique("eth"), unique("link")
        n = self.rest.node_create(node_id=host, host="pyhost", metadata={"Name": host, "Type": "host"})
        self.assertIsInstance(n, Node)
        self.assertEqual(n.id, host)
        self.assertEqual(n.host, "pyhost")
        self.assertEqual(n.metadata["Type"], "host")
        self.assertGreater(n.created_at, 0)
        self.rest.node_create(node_id=dev, metadata={"Name": dev, "Type": "device", "MTU": 1500})
        e = self.rest.edge_create(host, dev, edge_id=link, metadata={"RelationType": "ownership"})
        self.assertIsInstance(e, Edge)
        self.assertEqual((e.parent, e.child), (host, dev))

        nodes = self.rest.lookup_nodes("G.V().Has('Name', '%s')" % host)
        self.assertEqual([x.id for x in nodes], [host])
        children = self.rest.lookup_nodes("G.V().Has('Name', '%s').Out()" % host)
        self.assertEqual([x.id for x in children], [dev])
        edges = self.rest.lookup_edges("G.E().Has('RelationType', 'ownership')")
        self.assertIn(link, [x.id for x in edges])
        self.assertEqual([x.parent for x in edges if x.id == link], [host])
        count = self.rest.lookup("G.V().Has('Name', '%s').Count()" % dev)
        self.assertEqual(count, 1)
        raw = self.rest.lookup("G.V().Has('Name', '%s')" % dev)
        self.assertEqual(raw[0]["Metadata"]["MTU"], 1500)

        self.assertIn(host, [x.id for x in self.rest.node_list()])
        self.assertIn(link, [x.id for x in self.rest.edge_list()])

        updated = self.rest.node_update(
            node_id=dev,
            patches=[
                {"op": "replace", "path": "/Metadata/MTU", "value": 9000},
                {"op": "add", "path": "/Metadata/Color", "value": "red"},
            ],
        )
        self.assertEqual(updated.metadata["MTU"], 9000)
        self.assertEqual(updated.metadata["Color"], "red")
        self.assertEqual(updated.revision, 2)
        self.assertEqual(self.rest.lookup("G.V().Has('Name', '%s').Values('MTU')" % dev), [9000])

        self.rest.edge_delete(link)
        self.assertNotIn(link, [x.id for x in self.rest.edge_list()])
        self.rest.node_delete(dev)
        self.rest.node_delete(host)
        self.assertEqual(self.rest.lookup_nodes("G.V().Has('Name', '%s')" % host), [])

    def test_capture_life_cycle(self):
        name = unique("capture")
        c = self.rest.capture_create(
            "G.V().Has('Type', 'ovsbridge')", name=name, description="py",
            capture_type="ovssflow", header_size=128, sampling_rate=1, polling_interval=10)
        self.assertTrue(c.uuid)
        self.assertEqual(c.query, "G.V().Has('Type', 'ovsbridge')")
        self.assertEqual(c.name, name)
        self.assertEqual(c.capture_type, "ovssflow")
        self.assertEqual(c.header_size, 128)
        self.assertEqual(c.count, 0)
        listed = {x.uuid: x for x in self.rest.capture_list()}
        self.assertIn(c.uuid, listed)
        self.assertEqual(listed[c.uuid].name, name)
        self.rest.capture_delete(c.uuid)
        self.assertNotIn(c.uuid, [x.uuid for x in self.rest.capture_list()])
        with self.assertRaises(BadRequest):
            self.rest.capture_create("G.V((")

    def test_defaults_of_the_client_are_accepted(self):
        # node_create without metadata sends "Metadata": null, as Skydive accepted.
        n = self.rest.node_create()
        self.assertTrue(n.id)
        self.assertEqual(n.metadata, {})
        self.rest.node_delete(n.id)

    def test_errors_are_reported(self):
        name = unique("dup")
        self.rest.node_create(node_id=name, metadata={"Name": name, "Type": "host"})
        with self.assertRaises(BadRequest) as ctx:
            self.rest.node_create(node_id=name, metadata={"Name": name, "Type": "host"})
        self.assertIn("already exists", json.loads(ctx.exception.args[0])["error"])
        with self.assertRaises(BadRequest) as ctx:
            self.rest.lookup("G.V().Hass('Name')")
        self.assertIn("column", json.loads(ctx.exception.args[0])["error"])
        with self.assertRaises(BadRequest):
            self.rest.edge_create(name, unique("ghost"), metadata={"RelationType": "ownership"})
        self.rest.node_delete(name)


class Recorder(WSClientDefaultProtocol):
    """Collects messages; `script` (set on the factory) drives the conversation."""

    def onOpen(self):
        self.factory.client.protocol_instance = self
        self.factory.kwargs["script"].opened(self)

    def onMessage(self, payload, isBinary):
        msg = json.loads(payload.decode("utf8"))
        self.factory.kwargs["script"].received(self, msg)

    def onClose(self, wasClean, code, reason):
        self.factory.kwargs["script"].closed(self, code)


class Script:
    """A conversation with the analyzer; `done()` stops the loop, `fail()` records a failure."""

    def __init__(self, loop):
        self.loop = loop
        self.messages = []
        self.error = None
        self.finished = False

    def opened(self, proto):
        pass

    def received(self, proto, msg):
        self.messages.append(msg)

    def closed(self, proto, code):
        if not self.finished:
            self.done()

    def in_thread(self, fn, then=None):
        """Runs blocking `fn` (REST calls) off the loop, then `then(result)` on it."""
        fut = self.loop.run_in_executor(None, fn)

        def cb(f):
            if f.exception() is not None:
                self.fail(f.exception())
            elif then is not None:
                then(f.result())

        fut.add_done_callback(cb)

    def fail(self, err):
        if self.error is None:
            self.error = err
        self.done()

    def done(self):
        self.finished = True
        self.loop.call_soon(self.loop.stop)


def run_ws(endpoint, script_cls, **kwargs):
    """Connects a WSClient to `endpoint`, runs the script until done, returns it."""
    client = WSClient(
        kwargs.pop("host_id", unique("py")),
        "ws://%s%s" % (ANALYZER, endpoint),
        protocol=Recorder,
        script=None,
        **kwargs
    )
    script = script_cls(client.loop)
    client.kwargs["script"] = script
    timer = client.loop.call_later(PATIENCE, script.fail, AssertionError("conversation timed out"))
    client.connect()
    client.start()
    timer.cancel()
    proto = getattr(client, "protocol_instance", None)
    if proto is not None and proto.state != proto.STATE_CLOSED:
        proto.sendClose()
        # Let the close handshake go out.
        client.loop.run_until_complete(asyncio.sleep(0.2))
    if script.error is not None:
        raise script.error
    return script


class SubscriberTest(unittest.TestCase):
    def test_sync_then_live_events(self):
        rest = RESTClient(ANALYZER)
        name = unique("live")

        class Sub(Script):
            def opened(self, proto):
                proto.sendWSMessage(WSMessage("Graph", SyncRequestMsgType, SyncRequestMsg("")))

            def received(self, proto, msg):
                super().received(proto, msg)
                if msg["Type"] == SyncReplyMsgType:
                    self.reply = msg
                    self.in_thread(lambda: rest.node_create(node_id=name, metadata={"Name": name, "Type": "device"}))
                elif msg["Type"] == NodeAddedMsgType and msg["Obj"]["ID"] == name:
                    self.added = msg
                    self.done()

        s = run_ws("/ws/subscriber", Sub)
        self.assertEqual(s.reply["Namespace"], "Graph")
        self.assertEqual(s.reply["Status"], 200)
        self.assertIn("Nodes", s.reply["Obj"])
        self.assertIn("Edges", s.reply["Obj"])
        self.assertEqual(s.added["Obj"]["Metadata"]["Name"], name)
        rest.node_delete(name)

    def test_filtered_subscription(self):
        rest = RESTClient(ANALYZER)
        host = unique("fhost")
        rest.node_create(node_id=host, metadata={"Name": host, "Type": "host"})
        dev, host2 = unique("fdev"), unique("fhost2")
        query = "G.V().Has('Type', 'host')"

        class Sub(Script):
            def opened(self, proto):
                proto.sendWSMessage(WSMessage("Graph", SyncRequestMsgType, SyncRequestMsg(proto.factory.client.filter)))

            def received(self, proto, msg):
                super().received(proto, msg)
                if msg["Type"] == SyncReplyMsgType:
                    self.reply = msg

                    def change():
                        rest.node_create(node_id=dev, metadata={"Name": dev, "Type": "device"})
                        rest.node_create(node_id=host2, metadata={"Name": host2, "Type": "host"})

                    self.in_thread(change)
                elif msg["Type"] == NodeAddedMsgType:
                    self.first_added = msg
                    self.done()

        s = run_ws("/ws/subscriber", Sub, filter=query)
        types = set(n["Metadata"]["Type"] for n in s.reply["Obj"]["Nodes"])
        self.assertEqual(types, {"host"})
        self.assertIn(host, [n["ID"] for n in s.reply["Obj"]["Nodes"]])
        # The device is outside the filter: the first addition seen is the second host.
        self.assertEqual(s.first_added["Obj"]["ID"], host2)
        for n in (host, dev, host2):
            rest.node_delete(n)


class PublisherTest(unittest.TestCase):
    def test_publish_then_delete_on_disconnect(self):
        rest = RESTClient(ANALYZER)
        pub_host = unique("pub")
        a, b, link = unique("pa"), unique("pb"), unique("pe")
        now = int(time.time() * 1000)

        class Pub(Script):
            def opened(self, proto):
                for n in (a, b):
                    node = Node(n, "pyhost", created_at=now, updated_at=now, metadata={"Name": n, "Type": "device"})
                    proto.sendWSMessage(WSMessage("Graph", NodeAddedMsgType, node))
                edge = Edge(link, "pyhost", a, b, created_at=now, updated_at=now, metadata={"RelationType": "layer2"})
                proto.sendWSMessage(WSMessage("Graph", EdgeAddedMsgType, edge))
                # The reply to a SyncRequest comes after the writes above were applied.
                proto.sendWSMessage(WSMessage("Graph", SyncRequestMsgType, SyncRequestMsg("")))

            def received(self, proto, msg):
                super().received(proto, msg)
                if msg["Type"] == SyncReplyMsgType:
                    self.in_thread(lambda: rest.lookup("G.V().Has('Name', '%s')" % a), self.check)
                elif msg["Type"] == "Error":
                    self.fail(AssertionError("publisher message refused: %s" % msg))

            def check(self, nodes):
                self.nodes = nodes
                self.done()

        s = run_ws("/ws/publisher", Pub, host_id=pub_host, persistent=False)
        # While connected: the nodes exist, with the publisher's origin.
        self.assertEqual([n["ID"] for n in s.nodes], [a])
        self.assertEqual(s.nodes[0]["Host"], "pyhost")
        self.assertEqual(s.nodes[0]["Origin"], "skydive-python-client." + pub_host)
        # DeleteOnDisconnect (persistent=False): the publisher's elements go when it leaves.
        eventually("the publisher's nodes to be deleted", lambda: rest.lookup_nodes("G.V().Has('Name', '%s')" % b) == [])
        self.assertNotIn(link, [e.id for e in rest.edge_list()])

    def test_ws_client_command(self):
        """`skydive-ws-client add|update|delete FILE`, the client's own tool, unchanged."""
        rest = RESTClient(ANALYZER)
        a, b = unique("cli-a"), unique("cli-b")
        topo = {
            "Nodes": [
                {"ID": a, "Host": "h", "Metadata": {"Name": a, "Type": "device"}},
                {"ID": b, "Host": "h", "Metadata": {"Name": b, "Type": "device"}},
            ],
            "Edges": [{"ID": a + b, "Host": "h", "Parent": a, "Child": b, "Metadata": {"RelationType": "layer2"}}],
        }
        tool = os.path.join(os.path.dirname(sys.executable), "skydive-ws-client")
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "topo.json")

            def run(mode, data):
                with open(path, "w") as f:
                    json.dump(data, f)
                subprocess.run(
                    [tool, "--analyzer", ANALYZER, "--host", unique("cli"), mode, path],
                    check=True,
                    timeout=PATIENCE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )

            run("add", topo)
            eventually("nodes added by skydive-ws-client", lambda: len(rest.lookup_nodes("G.V().Has('Type', 'device').Has('Name', Within('%s', '%s'))" % (a, b))) == 2)
            eventually("the edge added", lambda: a + b in [e.id for e in rest.edge_list()])

            topo["Nodes"][0]["Metadata"]["State"] = "UP"
            run("update", topo)
            eventually("node updated", lambda: rest.lookup("G.V().Has('Name', '%s').Values('State')" % a) == ["UP"])

            run("delete", topo)
            eventually("nodes deleted", lambda: rest.lookup_nodes("G.V().Has('Name', Within('%s', '%s'))" % (a, b)) == [])


if __name__ == "__main__":
    info = wait_for_analyzer()
    print("testing skydive-client against %s (%s %s)" % (ANALYZER, info["Service"], info["Version"]))
    unittest.main(verbosity=2)
