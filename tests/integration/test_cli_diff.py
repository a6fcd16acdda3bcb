"""Dry runs of a rule change: `classify --diff OLD NEW` and `--explain`.

The corpus is generated here (seeded), and what the binary prints is
compared with what an independent classifier in Python, written from
SPEC §3, says for the same rules: the exact transition counts, the
per-class table, the summary line and `--each` in diff mode.  The rules
use only regexes that mean the same in Python's re and PCRE2.
"""

import json
import os
import random
import re
import shutil
import tempfile
import unittest

from harness import BIN, have_binary, run_cli, sanitizer_lines

# ------------------------------------------------------------------ rules

OLD_RULES = {
    "classes": [
        {"name": "critical", "priority": 0,
         "match": [{"field": "log.level", "regex": "^(fatal|error)$",
                    "flags": "i"}]},
        {"name": "checkout", "priority": 1, "rate": 20000,
         "match": [{"field": "service.name",
                    "regex": "^(checkout|payments)(-|$)"}]},
        {"name": "security", "priority": 1,
         "match": [{"any": [
             {"field": "event.category", "regex": "^(authentication|iam)$"},
             {"field": "tags", "regex": "^audit$"},
             {"raw": "\"audit\":true"}]}]},
        {"name": "server_errors", "priority": 2,
         "match": [{"field": "http.response.status_code",
                    "regex": "^5\\d\\d$"}]},
        {"name": "debug", "priority": 9, "rate": 100,
         "match": [{"field": "log.level", "regex": "^(debug|trace)$",
                    "flags": "i"}]},
        {"name": "apps", "priority": 3,
         "match": [{"field": "kubernetes.namespace", "regex": "^prod-"},
                   {"field": "service.name", "regex": "^canary-",
                    "negate": True}]},
    ],
    "default": {"name": "other", "priority": 5},
    "invalid": {"priority": 8},
}

# The change made during an incident: search floods, so it gets its own
# class that is shed early; cart joins checkout; "debug" becomes "noise";
# security also catches "audit": true written with spaces and the
# security tag; staging joins apps; the default is shed a little earlier.
NEW_RULES = {
    "classes": [
        {"name": "critical", "priority": 0,
         "match": [{"field": "log.level", "regex": "^(fatal|error)$",
                    "flags": "i"}]},
        {"name": "checkout", "priority": 1, "rate": 20000,
         "match": [{"field": "service.name",
                    "regex": "^(checkout|payments|cart)(-|$)"}]},
        {"name": "search_flood", "priority": 7, "rate": 500,
         "match": [{"field": "service.name", "regex": "^search"},
                   {"field": "log.level", "regex": "^warn",
                    "flags": "i", "negate": True}]},
        {"name": "security", "priority": 1,
         "match": [{"any": [
             {"field": "event.category", "regex": "^(authentication|iam)$"},
             {"field": "tags", "regex": "^(audit|security)$"},
             {"raw": "\"audit\"\\s*:\\s*true"}]}]},
        {"name": "server_errors", "priority": 2,
         "match": [{"field": "http.response.status_code",
                    "regex": "^5\\d\\d$"}]},
        {"name": "noise", "priority": 9, "rate": 100,
         "match": [{"field": "log.level", "regex": "^(debug|trace)$",
                    "flags": "i"}]},
        {"name": "apps", "priority": 3,
         "match": [{"field": "kubernetes.namespace",
                    "regex": "^(prod|staging)-"},
                   {"field": "service.name", "regex": "^canary-",
                    "negate": True}]},
    ],
    "default": {"name": "other", "priority": 6},
    "invalid": {"priority": 8},
}

# --------------------------------------------- an independent classifier

_MISSING = object()


def lookup(ev, path):
    """SPEC §3: a top-level key equal to the whole path wins (even when
    null); else the dotted path through nested objects."""
    if path in ev:
        return ev[path]
    v = ev
    for seg in path.split("."):
        if not isinstance(v, dict) or seg not in v:
            return _MISSING
        v = v[seg]
    return v


def scalar_text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return v
    return None                     # null, objects, arrays


def cond_holds(c, ev, raw):
    if "any" in c:
        m = any(cond_holds(s, ev, raw) for s in c["any"])
    else:
        flags = re.I if "i" in c.get("flags", "") else 0
        if "raw" in c:
            m = re.search(c["raw"], raw, flags) is not None
        else:
            v = lookup(ev, c["field"])
            vals = v if isinstance(v, list) else [v]
            texts = [scalar_text(x) for x in vals
                     if v is not _MISSING and not isinstance(x, (list, dict))]
            m = any(t is not None and re.search(c["regex"], t, flags)
                    for t in texts)
    return m != bool(c.get("negate", False))


def class_names(rules):
    return ([c["name"] for c in rules["classes"]] +
            [rules.get("default", {}).get("name", "default"), "_invalid"])


def priorities(rules):
    p = {c["name"]: c.get("priority", 0) for c in rules["classes"]}
    p[rules.get("default", {}).get("name", "default")] = \
        rules.get("default", {}).get("priority", 0)
    p["_invalid"] = rules.get("invalid", {}).get("priority", 0)
    return p


def classify(rules, line):
    try:
        ev = json.loads(line)
    except ValueError:
        return "_invalid"
    if not isinstance(ev, dict):
        return "_invalid"
    for c in rules["classes"]:
        if all(cond_holds(x, ev, line) for x in c["match"]):
            return c["name"]
    return rules.get("default", {}).get("name", "default")


def pct(n, total):
    return "%.1f%%" % (100.0 * n / total if total else 0.0)

# ----------------------------------------------------------------- corpus


def make_corpus(n, seed=20240611):
    """n non-blank lines (some invalid), with blank lines among them."""
    rnd = random.Random(seed)
    services = ["checkout", "checkout-api", "payments", "cart", "cart-web",
                "search", "search-indexer", "auth", "canary-web",
                "inventory", "mailer"]
    levels = ["ERROR", "error", "Fatal", "WARN", "warning", "INFO", "info",
              "DEBUG", "trace", "notice"]
    namespaces = ["prod-eu", "prod-us", "staging-1", "batch-7", "dev",
                  "production"]
    invalid = ["not json", '{"a":1} x', "[1,2]", '{"service":', '"str"',
               "42", '{"a":1}{"b":2}', "{'single': 1}"]
    lines = []
    while len(lines) < n:
        if rnd.random() < 0.03:
            lines.append(rnd.choice(invalid))
            continue
        ev = {}
        r = rnd.random()
        lvl = rnd.choice(levels)
        if r < 0.4:
            ev["log.level"] = lvl                       # ECS flat
        elif r < 0.75:
            ev["log"] = {"level": lvl}                  # nested
        elif r < 0.8:
            ev["log.level"] = None                      # flat null wins
            ev["log"] = {"level": lvl}
        elif r < 0.85:
            ev["log.level"] = lvl
            ev["log"] = {"level": "ERROR"}              # flat wins
        elif r < 0.9:
            ev["log"] = "plain"                         # blocked path
        r = rnd.random()
        svc = rnd.choice(services)
        if r < 0.45:
            ev["service.name"] = svc
        elif r < 0.9:
            ev["service"] = {"name": svc}
        r = rnd.random()
        if r < 0.6:
            ev["kubernetes"] = {"namespace": rnd.choice(namespaces),
                                "pod": "p-%d" % rnd.randrange(100)}
        elif r < 0.7:
            ev["kubernetes.namespace"] = rnd.choice(namespaces)
        r = rnd.random()
        if r < 0.15:
            ev["http"] = {"response": {"status_code": rnd.choice(
                [200, 404, 500, 503, 502.0, "504", 5000, True])}}
        if rnd.random() < 0.1:
            ev["tags"] = rnd.sample(["db", "slow", "audit", "security",
                                     "edge"], rnd.randrange(1, 3))
            if rnd.random() < 0.3:
                ev["tags"].insert(0, {"nested": "audit"})
        if rnd.random() < 0.05:
            ev["event"] = {"category": rnd.choice(
                ["authentication", "iam", "process", ["iam"], None])}
        ev["message"] = "m%d" % rnd.randrange(10 ** 6)
        text = json.dumps(ev, separators=(",", ":"))
        if rnd.random() < 0.04:
            text = text[:-1] + ',"audit":true}'
        elif rnd.random() < 0.04:
            text = text[:-1] + ', "audit": true}'
        if rnd.random() < 0.1:
            text = json.dumps(ev)                       # spaced style
        lines.append(text)
    out = []
    for l in lines:
        out.append(l)
        if rnd.random() < 0.01:
            out.append(rnd.choice(["", "   ", "\t"]))
    return out

# ------------------------------------------------------------------ tests


def split_report(text):
    """The three parts of the --diff report: two tables and the summary."""
    parts = text.split("\n\n")
    assert len(parts) == 3, text
    t1 = [l.split() for l in parts[0].splitlines()]
    t2 = [l.split() for l in parts[1].splitlines()]
    return t1, t2, parts[2], parts


class DiffCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        if not have_binary():
            self.fail("SPILLWAY_BIN %r is not an executable" % BIN)
        self.tmp = tempfile.mkdtemp(prefix="spillway-diff-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.old = self.write("old.json", json.dumps(OLD_RULES, indent=2))
        self.new = self.write("new.json", json.dumps(NEW_RULES, indent=2))

    def write(self, name, text):
        p = os.path.join(self.tmp, name)
        with open(p, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
        return p

    def run_ok(self, args, stdin=None, code=0):
        r = run_cli(args, stdin=stdin)
        err = r.stderr.decode("utf-8", "replace")
        self.assertEqual(sanitizer_lines(err), [], err)
        self.assertEqual(r.returncode, code, err)
        return r


class TestDiff(DiffCase):
    def expected(self, lines):
        events = [l for l in lines if l.strip(" \t\r\n")]
        pairs = {}
        moved_lines = []
        for l in events:
            o, n = classify(OLD_RULES, l), classify(NEW_RULES, l)
            pairs[(o, n)] = pairs.get((o, n), 0) + 1
            if o != n:
                moved_lines.append("%s\t%s\t%s" % (o, n, l))
        return events, pairs, moved_lines

    def test_report_matches_independent_classifier(self):
        lines = make_corpus(2000)
        corpus = self.write("sample.ndjson", "\n".join(lines) + "\n")
        events, pairs, _ = self.expected(lines)
        total = len(events)
        self.assertEqual(total, 2000)
        old_names, new_names = class_names(OLD_RULES), class_names(NEW_RULES)
        op, np_ = priorities(OLD_RULES), priorities(NEW_RULES)

        r = self.run_ok(["classify", "--diff", self.old, self.new, corpus])
        self.assertEqual(r.stderr, b"")
        t1, t2, summary, parts = split_report(r.stdout.decode())

        # Transitions: moved first, then by count, then by class order.
        def key(item):
            (o, n), c = item
            return (o == n, -c, old_names.index(o), new_names.index(n))
        want = [[o, n, str(c), pct(c, total), "%d->%d" % (op[o], np_[n])]
                for (o, n), c in sorted(pairs.items(), key=key)]
        self.assertEqual(t1[0], ["old_class", "new_class", "events", "share",
                                 "priority"])
        self.assertEqual(t1[1:], want)
        # The corpus does exercise the change.
        moved = sum(c for (o, n), c in pairs.items() if o != n)
        self.assertGreater(moved, 100)
        for pair in [("other", "search_flood"), ("other", "checkout"),
                     ("debug", "noise"), ("other", "apps"),
                     ("other", "security"), ("apps", "search_flood")]:
            self.assertIn(pair, pairs, "corpus lacks %s -> %s" % pair)

        # Per-class: new order, removed, default, _invalid.
        old_n = {}
        new_n = {}
        for (o, n), c in pairs.items():
            old_n[o] = old_n.get(o, 0) + c
            new_n[n] = new_n.get(n, 0) + c
        rows = []
        removed = [c for c in old_names if c not in new_names]
        self.assertEqual(removed, ["debug"])
        for name in new_names[:-2] + removed + new_names[-2:]:
            before, after = old_n.get(name, 0), new_n.get(name, 0)
            if name not in new_names:
                note, prio = "removed", op[name]
            elif name not in old_names:
                note, prio = "added", np_[name]
            elif op[name] != np_[name]:
                note, prio = "priority:%d->%d" % (op[name], np_[name]), \
                    np_[name]
            else:
                note, prio = "-", np_[name]
            delta = after - before
            rows.append([name, str(prio), str(before), str(after),
                         "+%d" % delta if delta > 0 else str(delta),
                         pct(after, total), note])
        self.assertEqual(t2[0], ["class", "priority", "old_events",
                                 "new_events", "delta", "new_share", "note"])
        self.assertEqual(t2[1:], rows)
        self.assertEqual(sum(int(r[3]) for r in t2[1:]), total)
        self.assertEqual(sum(int(r[2]) for r in t2[1:]), total)
        self.assertEqual(dict((r[0], r[6]) for r in t2[1:])["other"],
                         "priority:5->6")

        self.assertEqual(summary, "%d events, %d moved (%s)\n"
                         % (total, moved, pct(moved, total)))

        # Columns are aligned: each starts at the same offset in every row.
        for part in parts[:2]:
            tl = part.splitlines()
            starts = [m.start() for m in re.finditer(r"(?<=  )\S", tl[0])]
            for l in tl[1:]:
                for s in starts:
                    self.assertTrue(l[s - 2:s] == "  " and l[s] != " ",
                                    "misaligned at %d: %r" % (s, l))

    def test_each_prints_moved_lines(self):
        lines = make_corpus(600, seed=7)
        corpus = self.write("s.ndjson", "\r\n".join(lines) + "\r\n")
        _, _, moved_lines = self.expected(lines)
        self.assertTrue(moved_lines)
        r = self.run_ok(["classify", "--diff", self.old, self.new, "--each",
                         corpus])
        self.assertEqual(r.stdout.decode().splitlines(), moved_lines)

    def test_stdin_and_several_files(self):
        lines = make_corpus(300, seed=3)
        data = ("\n".join(lines) + "\n").encode()
        a = self.run_ok(["classify", "--diff", self.old, self.new],
                        stdin=data).stdout.decode()
        p = self.write("a.ndjson", data)
        b = self.run_ok(["classify", "--diff", self.old, self.new, p, p])
        t1a, t2a, sa, _ = split_report(a)
        t1b, t2b, sb, _ = split_report(b.stdout.decode())
        self.assertEqual([r[:2] for r in t1a], [r[:2] for r in t1b])
        self.assertEqual([int(r[2]) * 2 for r in t1a[1:]],
                         [int(r[2]) for r in t1b[1:]])
        self.assertEqual([r[5] for r in t2a], [r[5] for r in t2b])
        n, m = re.match(r"^(\d+) events, (\d+) moved", sa).groups()
        self.assertEqual(sb.split()[0], str(2 * int(n)))
        self.assertEqual(sb.split()[2], str(2 * int(m)))

    def test_same_rules_nothing_moves(self):
        lines = make_corpus(200, seed=5)
        p = self.write("c.ndjson", "\n".join(lines) + "\n")
        r = self.run_ok(["classify", "--diff", self.old, self.old, p])
        t1, t2, summary, _ = split_report(r.stdout.decode())
        self.assertTrue(all(row[0] == row[1] for row in t1[1:]))
        self.assertTrue(all(row[4] == "0" and row[6] == "-"
                            for row in t2[1:]))
        self.assertEqual(summary, "200 events, 0 moved (0.0%)\n")

    def test_empty_input(self):
        r = self.run_ok(["classify", "--diff", self.old, self.new],
                        stdin=b"\n\n")
        t1, t2, summary, _ = split_report(r.stdout.decode())
        self.assertEqual(len(t1), 1)
        self.assertEqual([row[0] for row in t2[1:]],
                         class_names(NEW_RULES)[:-2] + ["debug"] +
                         class_names(NEW_RULES)[-2:])
        self.assertEqual(summary, "0 events, 0 moved (0.0%)\n")


class TestDiffErrors(DiffCase):
    BAD_REGEX = ('{\n  "classes": [\n'
                 '    { "name": "broken",\n'
                 '      "match": [ { "field": "a", "regex": "(x" } ] }\n'
                 '  ]\n}\n')
    BAD_KEY = ('{\n  "classes": [\n'
               '    { "name": "a", "rat": 5,\n'
               '      "match": [ { "raw": "a" } ] }\n  ]\n}\n')

    def errors(self, r):
        return [l for l in r.stderr.decode().splitlines() if l.strip()]

    def test_invalid_old_rules(self):
        bad = self.write("bad.json", self.BAD_REGEX)
        r = self.run_ok(["classify", "--diff", bad, self.new], stdin=b"{}\n",
                        code=1)
        self.assertEqual(r.stdout, b"")
        errs = self.errors(r)
        self.assertEqual(len(errs), 1, errs)
        m = re.match(r"^(.*):(\d+):(\d+): (.*)$", errs[0])
        self.assertIsNotNone(m, errs[0])
        self.assertEqual(m.group(1), bad)
        # The class object, the condition, or the "regex" key or value.
        self.assertIn((int(m.group(2)), int(m.group(3))),
                      [(3, 5), (4, 18), (4, 34), (4, 43)])
        self.assertIn('class "broken"', m.group(4))
        self.assertIn("missing closing parenthesis", m.group(4))

    def test_invalid_new_rules(self):
        bad = self.write("bad.json", self.BAD_KEY)
        r = self.run_ok(["classify", "--diff", self.old, bad], stdin=b"{}\n",
                        code=1)
        self.assertEqual(self.errors(r),
                         ['%s:3:20: class "a": unknown key "rat"' % bad])

    def test_both_invalid_both_reported(self):
        b1 = self.write("b1.json", self.BAD_REGEX)
        b2 = self.write("b2.json", '{"classes": [}')
        r = self.run_ok(["classify", "--diff", b1, b2], stdin=b"{}\n",
                        code=1)
        errs = self.errors(r)
        self.assertEqual(len(errs), 2, errs)
        self.assertTrue(errs[0].startswith(b1 + ":"), errs)
        self.assertTrue(errs[1].startswith(b2 + ":1:"), errs)

    def test_unreadable_rules(self):
        r = self.run_ok(["classify", "--diff", self.old,
                         os.path.join(self.tmp, "nope.json")],
                        stdin=b"{}\n", code=1)
        self.assertIn("nope.json: cannot read", r.stderr.decode())

    def test_unreadable_input_exits_2(self):
        good = self.write("g.ndjson", '{"log.level":"error"}\n')
        missing = os.path.join(self.tmp, "missing.ndjson")
        r = self.run_ok(["classify", "--diff", self.old, self.new, missing,
                         good], code=2)
        self.assertIn("missing.ndjson", r.stderr.decode())
        # The readable file is still counted.
        self.assertTrue(r.stdout.decode().endswith(
            "1 events, 0 moved (0.0%)\n"), r.stdout)

    def test_usage_errors(self):
        for args in (["--diff", self.old],
                     ["--diff", self.old, self.new, "-r", self.old],
                     ["--diff", self.old, self.new, "--explain"],
                     ["--explain", "--each"]):
            with self.subTest(args=args):
                r = self.run_ok(["classify"] + args, stdin=b"", code=1)
                self.assertIn("usage:", r.stderr.decode())


class TestExplain(DiffCase):
    def explain(self, *events, rules=None):
        data = "".join(e + "\n" for e in events).encode()
        r = self.run_ok(["classify", "--explain", "-r", rules or self.new],
                        stdin=data)
        blocks = r.stdout.decode().split("\n\n")
        self.assertEqual(blocks[-1], "")
        return blocks[:-1]

    def test_full_explanation(self):
        ev = ('{"log":{"level":"info"},"service.name":"canary-web",'
              '"kubernetes":{"namespace":"prod-eu"}}')
        [b] = self.explain(ev)
        self.assertEqual(b, (
            "(stdin):1: " + ev + "\n"
            "  class critical (priority 0): no match\n"
            "    fails   log.level =~ /^(fatal|error)$/i\n"
            "            log.level (nested): string \"info\": not matched\n"
            "  class checkout (priority 1): no match\n"
            "    fails   service.name =~ /^(checkout|payments|cart)(-|$)/\n"
            "            service.name (flat key): string \"canary-web\": "
            "not matched\n"
            "  class search_flood (priority 7): no match\n"
            "    fails   service.name =~ /^search/\n"
            "            service.name (flat key): string \"canary-web\": "
            "not matched\n"
            "    skipped log.level !~ /^warn/i  (not tried: an earlier "
            "condition failed)\n"
            "  class security (priority 1): no match\n"
            "    fails   any of 3: none held\n"
            "      fails   event.category =~ /^(authentication|iam)$/\n"
            "              event.category: missing (no flat key "
            "\"event.category\"; no key \"event\"), never matches\n"
            "      fails   tags =~ /^(audit|security)$/\n"
            "              tags: missing, never matches\n"
            "      fails   raw =~ /\"audit\"\\s*:\\s*true/\n"
            "              raw line, %d bytes: not matched\n"
            "  class server_errors (priority 2): no match\n"
            "    fails   http.response.status_code =~ /^5\\d\\d$/\n"
            "            http.response.status_code: missing (no flat key "
            "\"http.response.status_code\"; no key \"http\"), never "
            "matches\n"
            "  class noise (priority 9): no match\n"
            "    fails   log.level =~ /^(debug|trace)$/i\n"
            "            log.level (nested): string \"info\": not matched\n"
            "  class apps (priority 3): no match\n"
            "    holds   kubernetes.namespace =~ /^(prod|staging)-/\n"
            "            kubernetes.namespace (nested): string \"prod-eu\": "
            "matched\n"
            "    fails   service.name !~ /^canary-/\n"
            "            service.name (flat key): string \"canary-web\": "
            "matched; negated, so it fails\n"
            "  -> class other (priority 6): the default, no class matched"
            % len(ev.encode())))

    def test_flat_key_wins_over_nested(self):
        [flat, null, nested, blocked] = self.explain(
            '{"log.level":"info","log":{"level":"ERROR"}}',
            '{"log.level":null,"log":{"level":"ERROR"}}',
            '{"log":{"level":"ERROR"}}',
            '{"log":"ERROR"}')
        self.assertIn('log.level (flat key): string "info": not matched\n',
                      flat)
        self.assertNotIn("-> class critical", flat)
        self.assertIn("log.level (flat key): null, never matches\n", null)
        self.assertIn('log.level (nested): string "ERROR": matched\n',
                      nested)
        self.assertIn("  -> class critical (priority 0)\n", nested)
        self.assertIn("  not tried: checkout, search_flood, security, "
                      "server_errors, noise, apps (the first class that "
                      "matches wins)", nested)
        self.assertIn('log.level: missing (no flat key "log.level"; "log" '
                      'is a string, not an object), never matches\n',
                      blocked)

    def test_negate_and_missing(self):
        [b] = self.explain('{"service":{"name":"search"}}')
        self.assertIn(
            "  class search_flood (priority 7): matches\n"
            "    holds   service.name =~ /^search/\n"
            "            service.name (nested): string \"search\": matched\n"
            "    holds   log.level !~ /^warn/i\n"
            "            log.level: missing (no flat key \"log.level\"; no "
            "key \"log\"), never matches; negated, so it holds\n"
            "  -> class search_flood (priority 7)\n"
            "  not tried: security, server_errors, noise, apps (the first "
            "class that matches wins)", b)

    def test_any_group_array_and_raw(self):
        arr, raw = self.explain(
            '{"tags":[{"x":"audit"},["security"],"db","security"]}',
            '{"msg":"x", "audit" : true}')
        self.assertIn(
            "  class security (priority 1): matches\n"
            "    holds   any of 3: member 2 held\n"
            "      fails   event.category =~ /^(authentication|iam)$/\n"
            "              event.category: missing (no flat key "
            "\"event.category\"; no key \"event\"), never matches\n"
            "      holds   tags =~ /^(audit|security)$/\n"
            "              tags: array of 4 [{\"x\":\"audit\"},[\"security\"],"
            "\"db\",\"security\"]: element [3], string \"security\", "
            "matched\n"
            "      skipped raw =~ /\"audit\"\\s*:\\s*true/  (not tried: an "
            "earlier member held)\n"
            "  -> class security (priority 1)\n", arr)
        self.assertIn(
            "    holds   any of 3: member 3 held\n", raw)
        self.assertIn(
            "      holds   raw =~ /\"audit\"\\s*:\\s*true/\n"
            "              raw line, 27 bytes: matched\n", raw)
        # Under the old rules the raw regex wants no spaces.
        [old] = self.explain('{"msg":"x", "audit" : true}',
                             rules=self.old)
        self.assertIn("      fails   raw =~ /\"audit\":true/\n"
                      "              raw line, 27 bytes: not matched\n", old)

    def test_numbers_as_text(self):
        [real, integer, text] = self.explain(
            '{"http":{"response":{"status_code":503.0}}}',
            '{"http.response.status_code":503}',
            '{"http":{"response":{"status_code":"5xx"}}}')
        self.assertIn('http.response.status_code (nested): real, as text '
                      '"503.0": not matched\n', real)
        self.assertIn('http.response.status_code (flat key): integer, as '
                      'text "503": matched\n', integer)
        self.assertIn("-> class server_errors (priority 2)\n", integer)
        self.assertIn('string "5xx": not matched\n', text)

    def test_object_never_matches(self):
        [b] = self.explain('{"event":{"category":{"name":"iam"}}}')
        self.assertIn('event.category (nested): object {"name":"iam"}, '
                      'never matches\n', b)

    def test_match_limit_and_big_integers(self):
        rules = self.write("limit.json", json.dumps({"classes": [
            {"name": "slow", "priority": 1,
             "match": [{"field": "msg", "regex": "^(a+)+$"}]},
            {"name": "tagged", "priority": 2,
             "match": [{"field": "tags", "regex": "^(a|aa)+$"}]},
            {"name": "status", "priority": 3,
             "match": [{"field": "status", "regex": "^5\\d\\d$"}]}]}))
        data = ('{"msg":"%s!"}\n{"tags":["%s!","aa"]}\n'
                '{"status":503,"trace":123456789012345678901234567890}\n'
                % ("a" * 40, "a" * 47)).encode()
        r = self.run_ok(["classify", "--explain", "-r", rules], stdin=data)
        out = r.stdout.decode()
        self.assertIn('            msg: string "%s!": match limit hit, '
                      'counted as not matched\n' % ("a" * 40), out)
        self.assertIn(': element [1], string "aa", matched (element [0] '
                      'hit the match limit, counted as not matched)\n', out)
        self.assertIn("  note: an integer beyond 64 bits makes every "
                      "integer of this event read as a real", out)
        self.assertIn('            status: real, as text "503.0": not '
                      'matched\n', out)
        self.assertEqual(r.stderr.decode().splitlines(), [
            'spillway classify: class "slow": 1 regex runs hit the match '
            'limit',
            'spillway classify: class "tagged": 1 regex runs hit the match '
            'limit'])

    def test_invalid_lines(self):
        blocks = self.explain("not json", '{"a":1}  trailing', "[1,2]",
                              '"text"', '{"a":')
        self.assertEqual(blocks[0],
                         "(stdin):1: not json\n"
                         "  invalid: not JSON: '[' or '{' expected near "
                         "'not' (column 3)\n"
                         "  -> class _invalid (priority 8): no class is "
                         "tried for a line that is not one JSON object")
        self.assertIn('  invalid: bytes after the JSON value, from byte 10: '
                      '"trailing"\n', blocks[1])
        self.assertIn("  invalid: an array, not an object\n", blocks[2])
        self.assertIn("  invalid: a string, not an object\n", blocks[3])
        self.assertIn("  invalid: not JSON: ", blocks[4])
        for b in blocks:
            self.assertTrue(b.endswith("-> class _invalid (priority 8): no "
                                       "class is tried for a line that is "
                                       "not one JSON object"), b)
            self.assertNotIn("  class ", b)

    def test_file_names_and_line_numbers(self):
        p = self.write("ev.ndjson", '{"log.level":"ERROR"}\n\n  \n'
                       '{"log.level":"debug"}\r\n')
        r = self.run_ok(["classify", "--explain", "-r", self.new, p])
        heads = [l for l in r.stdout.decode().splitlines()
                 if l and not l.startswith(" ")]
        self.assertEqual(heads, ['%s:1: {"log.level":"ERROR"}' % p,
                                 '%s:4: {"log.level":"debug"}' % p])

    def test_agrees_with_classify_each(self):
        lines = make_corpus(300, seed=11)
        p = self.write("c.ndjson", "\n".join(lines) + "\n")
        each = self.run_ok(["classify", "--each", "-r", self.new, p])
        want = [l.split("\t", 1)[0] for l in each.stdout.decode().split("\n")
                if l]
        r = self.run_ok(["classify", "--explain", "-r", self.new, p])
        got = re.findall(r"(?m)^  -> class (\S+) ", r.stdout.decode())
        self.assertEqual(got, want)
        self.assertEqual(want, [classify(NEW_RULES, l) for l in lines
                                if l.strip(" \t\r\n")])

    def test_builtin_rules(self):
        r = self.run_ok(["classify", "--explain"], stdin=b'{"a":1}\n')
        self.assertEqual(r.stdout.decode(),
                         '(stdin):1: {"a":1}\n'
                         "  -> class default (priority 0): the default, "
                         "there are no classes\n\n")

    def test_unreadable_input_exits_2(self):
        r = self.run_ok(["classify", "--explain", "-r", self.new,
                         os.path.join(self.tmp, "gone.ndjson")], code=2)
        self.assertIn("gone.ndjson", r.stderr.decode())

    def test_invalid_rules_exit_1(self):
        bad = self.write("bad.json", '{\n  "classes": 3\n}\n')
        r = self.run_ok(["classify", "--explain", "-r", bad], stdin=b"{}\n",
                        code=1)
        self.assertRegex(r.stderr.decode(), r"^%s:2:\d+: " % re.escape(bad))


if __name__ == "__main__":
    unittest.main()
