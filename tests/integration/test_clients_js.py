"""The official JavaScript clients through spillway: @elastic/elasticsearch 8 and 9
(side by side, npm aliases es8 and es9) and @opensearch-project/opensearch, as pinned by
tests/clients/package-lock.json, each running tests/clients/bulk.js: info(),
helpers.bulk() of a few thousand documents, a plain bulk() with explicit _ids.

Against spillway with an Elasticsearch sink (the emulator reporting the client's major):
info() is the cluster's, and every document arrives byte for byte, with its _id.  Against
spillway with a file sink: spillway answers info() itself, as its http.es_version.  And
straight against the emulator, what a real cluster of the other major answers each client.

Needs node (>= 20.18.1 for the 9 client) and `npm ci` in tests/clients, which
packaging/deps.sh does; without them these tests fail and say so.  SPILLWAY_SKIP_NODE=1
skips them.  SPILLWAY_NODE names the node binary (default: tests/clients/.node/bin/node,
which deps.sh fetches when the system's node is too old, else node on PATH).
"""

import json
import os
import shutil
import subprocess
import unittest

from harness import (REPO, WAIT_TIMEOUT, Emulator, accounting_errors, have_binary,
                     summarize)
from test_es_sink import ESSinkCase, RULES

CLIENTS = os.path.join(REPO, "tests", "clients")
SCRIPT = os.path.join(CLIENTS, "bulk.js")
N = 3000            # documents through helpers.bulk
EXPLICIT = 25       # documents through bulk() with explicit _ids (bulk.js's EXPLICIT)
# The oldest node each client runs on: @elastic/elasticsearch 9's undici 7 needs the global
# File of Node 20 (and says >= 20.18.1); the 8 client and the OpenSearch client run on the
# Node 18 of Debian 12.
MIN_NODE = {"es8": (18, 0, 0), "es9": (20, 18, 1), "opensearch": (18, 0, 0)}
HOWTO = ("install Node.js >= 20.18.1 and run `npm ci` in tests/clients (packaging/deps.sh "
         "does both), or set SPILLWAY_SKIP_NODE=1 to skip the JavaScript client tests")


def find_node():
    env = os.environ.get("SPILLWAY_NODE")
    if env:
        return env
    local = os.path.join(CLIENTS, ".node", "bin", "node")
    if os.access(local, os.X_OK):
        return local
    return shutil.which("node")


_node_versions = {}


def node_version(node):
    """(major, minor, patch) of that node, or None when it does not run."""
    if node not in _node_versions:
        try:
            r = subprocess.run([node, "-p", "process.versions.node"], capture_output=True,
                               timeout=30, text=True)
            _node_versions[node] = (tuple(int(x) for x in r.stdout.strip().split("."))
                                    if r.returncode == 0 else None)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            _node_versions[node] = None
    return _node_versions[node]


def js_doc(alias, i):
    """What bulk.js's documentFor(alias, i) is on the wire (JSON.stringify)."""
    return json.dumps({"@timestamp": "2026-11-22T10:00:00.%03dZ" % (i % 1000), "n": i,
                       "client": alias,
                       "message": 'js helper document %d "quoted" caf\u00e9 \u2603' % i},
                      separators=(",", ":"), ensure_ascii=False)


def js_explicit(alias, i):
    """bulk.js's explicitFor(alias, i), as sent."""
    return json.dumps({"n": i, "client": alias, "explicit": True}, separators=(",", ":"))


class NodeClients:
    """Mixin: run bulk.js with one client."""

    def need_client(self, alias):
        if os.environ.get("SPILLWAY_SKIP_NODE") == "1":
            self.skipTest("SPILLWAY_SKIP_NODE=1")
        node = find_node()
        if not node:
            self.fail("no node on PATH: " + HOWTO)
        have = node_version(node)
        if have is None:
            self.fail("%s does not run: %s" % (node, HOWTO))
        if have < MIN_NODE[alias]:
            self.fail("the %s client needs Node.js >= %s, %s is %s: %s" % (
                alias, ".".join(map(str, MIN_NODE[alias])), node, ".".join(map(str, have)),
                HOWTO))
        pkg = os.path.join(CLIENTS, "node_modules", alias, "package.json")
        if not os.path.exists(pkg):
            self.fail("%s is missing: %s" % (os.path.relpath(pkg, REPO), HOWTO))
        self.node = node

    def run_client(self, alias, url, n=N, index=None, expect_error=False):
        """Runs bulk.js; returns its JSON summary.  Fails on an error unless
        expect_error."""
        index = index or "js-%s" % alias
        try:
            r = subprocess.run([self.node, SCRIPT, alias, url, str(n), index], cwd=CLIENTS,
                               capture_output=True, text=True, timeout=WAIT_TIMEOUT * 6)
        except subprocess.TimeoutExpired as e:
            self.fail("bulk.js %s timed out; stderr:\n%s" % (alias, e.stderr))
        lines = r.stdout.strip().splitlines()
        try:
            out = json.loads(lines[-1])
        except (IndexError, ValueError):
            self.fail("bulk.js %s printed no summary (exit %d); stdout:\n%s\nstderr:\n%s"
                      % (alias, r.returncode, r.stdout, r.stderr))
        if not expect_error:
            self.assertNotIn("error", out, "bulk.js %s: %s\nstderr:\n%s" % (
                alias, json.dumps(out.get("error"), indent=1), r.stderr))
            self.assertEqual(r.returncode, 0, r.stderr)
        return out

    def check_answers(self, out, alias, n=N):
        """What the client was told: everything accepted."""
        h = out["helpers"]
        self.assertEqual((h["total"], h["successful"], h["failed"], h["aborted"]),
                         (n, n, 0, False), h)
        b = out["bulk"]
        want_ids = ["%s-x-%d" % (alias, i) for i in range(EXPLICIT)]
        self.assertEqual(out["explicit_ids"], want_ids)
        self.assertIs(b["errors"], False, b)
        self.assertEqual(b["items"], EXPLICIT)
        self.assertEqual(b["statuses"], [201] * EXPLICIT, b)

    def expected_sources(self, alias, n=N):
        return sorted([js_doc(alias, i) for i in range(n)]
                      + [js_explicit(alias, i) for i in range(EXPLICIT)])

    def check_arrived(self, emu, alias, index, n=N):
        """Every document at the cluster once, byte for byte, explicit _ids kept."""
        got = [g for g in emu.received() if g["_index"] == index]
        self.assertEqual(len(got), n + EXPLICIT)
        self.assertEqual(sorted(g["source"] for g in got), self.expected_sources(alias, n))
        ids = {g["source"]: g["_id"] for g in got}
        self.assertEqual([ids[js_explicit(alias, i)] for i in range(EXPLICIT)],
                         ["%s-x-%d" % (alias, i) for i in range(EXPLICIT)])
        generated = [ids[js_doc(alias, i)] for i in range(n)]
        self.assertEqual(len(set(generated)), n)


@unittest.skipUnless(have_binary(), "spillway binary not built")
class JSClientsThroughSpillway(NodeClients, ESSinkCase):

    def accounted(self, m):
        errs = accounting_errors(m)
        self.assertEqual(errs, [], "\n".join(errs) + "\n" + summarize(m))

    # -- an Elasticsearch sink: the emulator as the client's major

    def through_to_cluster(self, alias, version, *emu_args):
        self.need_client(alias)
        emu = self.emulator("--es-version", version, *emu_args)
        sp = self.spillway(emu.url)
        index = "js-%s" % alias
        out = self.run_client(alias, "http://127.0.0.1:%d" % sp.ports["http"], index=index)
        self.assertEqual(out["info"]["version"]["number"], version)    # the cluster's
        self.check_answers(out, alias)
        total = N + EXPLICIT
        m = sp.wait_for(lambda m: m.forwarded("other") == total
                        and m.queued("other") == 0 and m.inflight("other") == 0,
                        "%d events forwarded" % total, timeout=WAIT_TIMEOUT * 3)
        self.check_arrived(emu, alias, index)
        self.assertEqual(m.received("other"), total)
        self.assertEqual(m.dropped("other"), 0)
        self.accounted(m)
        return out, emu

    def test_es8_to_elasticsearch_8(self):
        out, _ = self.through_to_cluster("es8", "8.19.3")
        self.assertEqual(out["package_version"].split(".")[0], "8")
        self.assertEqual(out["info"]["tagline"], "You Know, for Search")

    def test_es9_to_elasticsearch_9(self):
        out, _ = self.through_to_cluster("es9", "9.1.0")
        self.assertEqual(out["package_version"].split(".")[0], "9")
        self.assertEqual(out["info"]["version"]["minimum_wire_compatibility_version"],
                         "8.19.0")

    def test_opensearch_to_opensearch(self):
        out, _ = self.through_to_cluster("opensearch", "2.19.1",
                                         "--distribution", "opensearch")
        self.assertEqual(out["info"]["version"]["distribution"], "opensearch")
        self.assertEqual(out["info"]["tagline"],
                         "The OpenSearch Project: https://opensearch.org/")

    # -- a file sink: spillway answers as http.es_version

    def answered_by_spillway(self, alias, version):
        self.need_client(alias)
        sp = self.start(config={"http": {"es_version": version}}, rules=RULES)
        out = self.run_client(alias, "http://127.0.0.1:%d" % sp.ports["http"])
        v = out["info"]["version"]
        self.assertEqual((v["number"], v["build_flavor"]), (version, "default"), out["info"])
        self.assertEqual(out["info"]["tagline"], "You Know, for Search")
        self.check_answers(out, alias)
        total = N + EXPLICIT
        m = sp.wait_settled(total, timeout=WAIT_TIMEOUT * 3)
        self.assertEqual(m.forwarded("other"), total)
        self.assertEqual(m.dropped("other"), 0)
        self.assertEqual(sorted(x.decode("utf-8") for x in sp.sink_lines()),
                         self.expected_sources(alias))
        self.accounted(m)

    def test_es8_answered_by_spillway_as_8(self):
        self.answered_by_spillway("es8", "8.19.3")

    def test_es9_answered_by_spillway_as_9(self):
        self.answered_by_spillway("es9", "9.1.0")


class JSClientsAgainstTheEmulator(NodeClients, unittest.TestCase):
    """Straight to the emulator, no spillway: what a cluster of each major answers each
    client, as Elasticsearch does (REST compatibility: a server takes its major and the one
    before)."""

    def emulator(self, *args):
        emu = Emulator(*args)
        self.addCleanup(emu.cleanup)
        return emu

    def test_es9_client_and_an_elasticsearch_8(self):
        self.need_client("es9")
        emu = self.emulator("--es-version", "8.19.3")
        out = self.run_client("es9", emu.url, n=10, expect_error=True)
        # info() has no body and its Accept is a list, which Elasticsearch does not read:
        # it goes through.  The first bulk request asks for 9 on both headers: refused.
        self.assertEqual(out["info"]["version"]["number"], "8.19.3")
        err = out["error"]
        self.assertEqual((err["step"], err["statusCode"]), ("helpers.bulk", 400), err)
        self.assertEqual(err["body"]["error"]["type"], "media_type_header_exception")
        self.assertEqual(err["body"]["error"]["caused_by"]["reason"],
                         "Accept version must be either version 8 or 7, but found 9. "
                         "Accept=application/vnd.elasticsearch+json; compatible-with=9")
        self.assertEqual(emu.received(), [])

    def test_es8_client_and_an_elasticsearch_9(self):
        self.need_client("es8")
        emu = self.emulator("--es-version", "9.1.0")
        out = self.run_client("es8", emu.url, n=100)
        self.check_answers(out, "es8", n=100)
        self.check_arrived(emu, "es8", "js-es8", n=100)
        bulks = [r for r in emu.requests() if r["path"] == "/_bulk"]
        self.assertTrue(bulks)
        for r in bulks:
            self.assertEqual(r["headers"]["content-type"],
                             "application/vnd.elasticsearch+x-ndjson; compatible-with=8")


if __name__ == "__main__":
    unittest.main()
