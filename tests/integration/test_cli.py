"""The offline subcommands: check, classify, version; config errors."""

import os
import re
import shutil
import tempfile
import unittest

from harness import BIN, DATA, REPO, have_binary, run_cli, sanitizer_lines

RULES_MIX = os.path.join(DATA, "rules_mix.json")
CORPUS_MIX = os.path.join(DATA, "corpus_mix.ndjson")
EACH_MIX = os.path.join(DATA, "corpus_mix.each")

# Rule order, then the default class, then _invalid (SPEC §1).
MIX_ORDER = [("critical", 0), ("ecs_flat", 1), ("prod_alert", 2),
             ("batch_nonprod", 3), ("slow", 4), ("tagged", 4),
             ("sampled", 4), ("city", 4), ("rawonly", 6),
             ("other", 5), ("_invalid", 8)]


def expected_counts():
    counts = {}
    with open(EACH_MIX, "rb") as f:
        for line in f:
            cls = line.split(b"\t", 1)[0].decode()
            counts[cls] = counts.get(cls, 0) + 1
    return counts


def share(n, total):
    pct = 100.0 * n / total
    # Guard against a rounding tie making the expectation ambiguous.
    assert abs(pct * 10 - round(pct * 10)) != 0.5 or pct * 10 == int(pct * 10)
    return "%.1f%%" % pct


class CliCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        if not have_binary():
            self.fail("SPILLWAY_BIN %r is not an executable" % BIN)
        self.tmp = tempfile.mkdtemp(prefix="spillway-cli-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def write(self, name, text):
        p = os.path.join(self.tmp, name)
        with open(p, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
        return p

    def run_ok(self, args, stdin=None, cwd=None):
        r = run_cli(args, stdin=stdin, cwd=cwd)
        self.assertEqual(sanitizer_lines(r.stderr.decode("utf-8", "replace")),
                         [], r.stderr.decode("utf-8", "replace"))
        return r

    def assertFirstError(self, r, path, positions, *needles):
        """exit 1 and a first stderr line PATH:LINE:COL: message, where
        (LINE, COL) is one of positions and message contains needles."""
        err = r.stderr.decode("utf-8", "replace")
        self.assertEqual(r.returncode, 1, "exit code; stderr: %s" % err)
        lines = [l for l in err.splitlines() if l.strip()]
        self.assertTrue(lines, "no error on stderr")
        m = re.match(r"^(.*):(\d+):(\d+): (.+)$", lines[0])
        self.assertIsNotNone(m, "not FILE:LINE:COL: message: %r" % lines[0])
        self.assertEqual(m.group(1), path)
        self.assertIn((int(m.group(2)), int(m.group(3))), positions,
                      "position of %r" % lines[0])
        for n in needles:
            self.assertIn(n, m.group(4), lines[0])
        return m.group(4)


class TestVersion(CliCase):
    def test_version(self):
        r = self.run_ok(["version"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout.decode(), r"\S")


class TestCheck(CliCase):
    def test_check_prints_each_error(self):
        p = self.write("several.json", (
            '{\n'
            '  "classes": [\n'
            '    { "name": "a", "priority": 0,\n'
            '      "match": [ { "field": "x", "regex": "(" } ] },\n'
            '    { "name": "b", "priority": "high", "match": [ { "raw": "y" } ] },\n'
            '    { "name": "a", "priority": 1, "match": [ { "raw": "z" } ] },\n'
            '    { "name": "fine", "priority": 2, "match": [ { "raw": "q" } ] }\n'
            '  ],\n'
            '  "bogus": 1\n'
            '}\n'))
        r = self.run_ok(["check", p])
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, b"")
        lines = r.stderr.decode().splitlines()
        got = [re.match(r"^(.*):(\d+):(\d+): (.+)$", l).groups()
               for l in lines]
        self.assertEqual([(g[0], int(g[1]), int(g[2])) for g in got],
                         [(p, 9, 3), (p, 4, 43), (p, 5, 32), (p, 6, 15)])
        for g, words in zip(got, (['unknown key "bogus"'],
                                  ['class "a"', "regex"],
                                  ['class "b"', '"priority"'],
                                  ['class "a"', "duplicate name"])):
            for w in words:
                self.assertIn(w, g[3])

    def test_check_example_rules(self):
        r = self.run_ok(["check", "rules/example.json"], cwd=REPO)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertRegex(r.stdout.decode(), r"\S", "class table expected")
        self.assertEqual(r.stderr.strip(), b"")

    def test_check_default_rules(self):
        r = self.run_ok(["check", "-r", "rules/default.json"], cwd=REPO)
        self.assertEqual(r.returncode, 0, r.stderr.decode())

    def test_check_table_names_classes(self):
        r = self.run_ok(["check", RULES_MIX])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        out = r.stdout.decode()
        for name, _ in MIX_ORDER:
            self.assertRegex(out, r"(?m)^\s*%s\b" % re.escape(name))

    def test_syntax_error_uses_jansson_position(self):
        p = self.write("bad.json",
                       '{\n  "classes": [\n    {"name": "a", "match": [}\n'
                       '  ]\n}\n')
        r = self.run_ok(["check", p])
        self.assertFirstError(r, p, [(3, 29)])
        # FILE exactly as given, relative too.
        r = self.run_ok(["check", "bad.json"], cwd=self.tmp)
        self.assertFirstError(r, "bad.json", [(3, 29)])
        r = self.run_ok(["check", "-r", "bad.json"], cwd=self.tmp)
        self.assertFirstError(r, "bad.json", [(3, 29)])

    def test_bad_regex(self):
        p = self.write("re.json", '{\n  "classes": [\n'
                       '    { "name": "fine", "match": [ { "raw": "x" } ] },\n'
                       '    { "name": "broken",\n'
                       '      "match": [ { "field": "a", "regex": "(unclosed" } ] }\n'
                       '  ]\n}\n')
        # The class object (4:5), the condition (5:18), the "regex" key (5:34)
        # or its value (5:43).
        msg = self.assertFirstError(r=self.run_ok(["check", p]), path=p,
                                    positions=[(4, 5), (5, 18), (5, 34), (5, 43)])
        self.assertIn("broken", msg)
        self.assertIn("missing closing parenthesis", msg)
        self.assertRegex(msg, r"\b9\b", "PCRE2 error offset")

    def test_duplicate_name_at_second_occurrence(self):
        p = self.write("dup.json", '{\n  "classes": [\n'
                       '    { "name": "dup", "match": [ { "raw": "a" } ] },\n'
                       '    { "name": "dup", "match": [ { "raw": "b" } ] }\n'
                       '  ]\n}\n')
        r = self.run_ok(["check", p])
        self.assertFirstError(r, p, [(4, 5), (4, 7), (4, 15)], "dup")

    def test_unknown_class_key(self):
        p = self.write("uk.json", '{\n  "classes": [\n'
                       '    { "name": "a", "colour": "red",\n'
                       '      "match": [ { "raw": "a" } ] }\n  ]\n}\n')
        r = self.run_ok(["check", p])
        self.assertFirstError(r, p, [(3, 5), (3, 20)], "colour")

    def test_bad_names(self):
        for name in ("Upper", "_private", "with-dash", "a" * 64, ""):
            with self.subTest(name=name):
                p = self.write("n.json", '{\n  "classes": [\n'
                               '    { "name": "%s", "match": [ { "raw": "a" } ] }\n'
                               '  ]\n}\n' % name)
                r = self.run_ok(["check", p])
                self.assertFirstError(r, p, [(3, 5), (3, 7), (3, 15)])

    def test_bad_flags(self):
        p = self.write("f.json", '{\n  "classes": [\n'
                       '    { "name": "a",\n'
                       '      "match": [ { "field": "x", "regex": "y", "flags": "q" } ] }\n'
                       '  ]\n}\n')
        r = self.run_ok(["check", p])
        self.assertFirstError(r, p, [(3, 5), (4, 18), (4, 48), (4, 57)], "a")

    def test_missing_file(self):
        r = self.run_ok(["check", os.path.join(self.tmp, "nope.json")])
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"nope.json", r.stderr)


class TestClassify(CliCase):
    def rows(self, out):
        lines = out.decode("utf-8").splitlines()
        self.assertEqual(lines[0].split(), ["class", "priority", "events",
                                            "share"])
        return [l.split() for l in lines[1:] if l.strip()]

    def expected_rows(self, mult=1):
        counts = expected_counts()
        total = sum(counts.values()) * mult
        return [[name, str(prio), str(counts.get(name, 0) * mult),
                 share(counts.get(name, 0) * mult, total)]
                for name, prio in MIX_ORDER]

    def test_counts_and_shares(self):
        r = self.run_ok(["classify", "-r", RULES_MIX, CORPUS_MIX])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(self.rows(r.stdout), self.expected_rows())

    def test_several_files(self):
        r = self.run_ok(["classify", "-r", RULES_MIX, CORPUS_MIX, CORPUS_MIX])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(self.rows(r.stdout), self.expected_rows(2))

    def test_unreadable_file_exits_2_and_counts_the_others(self):
        gone = os.path.join(self.tmp, "gone.ndjson")
        r = self.run_ok(["classify", "-r", RULES_MIX, gone, CORPUS_MIX])
        self.assertEqual(r.returncode, 2, r.stderr.decode())
        self.assertIn(gone, r.stderr.decode())
        self.assertEqual(self.rows(r.stdout), self.expected_rows())
        # Invalid rules stay 1, whatever the inputs.
        bad = os.path.join(self.tmp, "bad.json")
        with open(bad, "w") as f:
            f.write('{"classes": [ {"name": "X"} ]}')
        r = self.run_ok(["classify", "-r", bad, gone])
        self.assertEqual(r.returncode, 1, r.stderr.decode())

    def test_stdin(self):
        with open(CORPUS_MIX, "rb") as f:
            data = f.read()
        r = self.run_ok(["classify", "-r", RULES_MIX], stdin=data)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(self.rows(r.stdout), self.expected_rows())

    def test_each_golden(self):
        r = self.run_ok(["classify", "--each", "-r", RULES_MIX, CORPUS_MIX])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        with open(EACH_MIX, "rb") as f:
            want = f.read()
        self.assertEqual(r.stdout.decode("utf-8").splitlines(),
                         want.decode("utf-8").splitlines())
        self.assertEqual(r.stdout, want)

    def test_scalar_texts_and_paths(self):
        # Numbers match as Python's repr, booleans as true/false, arrays by
        # any scalar element; the literal-dotted-key rule; ASCII \w; a
        # regex that hits the match limit does not match.
        rules = os.path.join(DATA, "rules_scalars.json")
        corpus = os.path.join(DATA, "corpus_scalars.ndjson")
        r = self.run_ok(["classify", "--each", "-r", rules, corpus])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        with open(os.path.join(DATA, "corpus_scalars.each"), "rb") as f:
            want = f.read()
        self.assertEqual(r.stdout.decode().splitlines(),
                         want.decode().splitlines())

    def test_zero_counts_and_no_rules(self):
        p = self.write("c.ndjson", '{"level":"error"}\n\n{"x":1}\nnope\n')
        r = self.run_ok(["classify", "-r", RULES_MIX, p])
        rows = self.rows(r.stdout)
        self.assertEqual([row[0] for row in rows],
                         [n for n, _ in MIX_ORDER])
        got = {row[0]: (row[2], row[3]) for row in rows}
        self.assertEqual(got["critical"], ("1", "33.3%"))
        self.assertEqual(got["other"], ("1", "33.3%"))
        self.assertEqual(got["_invalid"], ("1", "33.3%"))
        self.assertEqual(got["slow"], ("0", "0.0%"))
        # Without -r: the single unlimited class "default".
        r = self.run_ok(["classify", p])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        rows = self.rows(r.stdout)
        self.assertEqual([row[0] for row in rows], ["default", "_invalid"])
        self.assertEqual([row[2:] for row in rows],
                         [["2", "66.7%"], ["1", "33.3%"]])

    def test_each_keeps_raw_text_and_crlf(self):
        raw = (b'{"level":"ERROR"}\r\n\r\n{ "b" :  2 ,"a":1}\n'
               b'bad \xff bytes\n')
        p = self.write("r.ndjson", raw)
        r = self.run_ok(["classify", "--each", "-r", RULES_MIX, p])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(r.stdout.splitlines(),
                         [b'critical\t{"level":"ERROR"}',
                          b'other\t{ "b" :  2 ,"a":1}',
                          b'_invalid\tbad \xff bytes'])

    def test_classify_bad_rules(self):
        p = self.write("bad.json", '{"classes": [}')
        r = self.run_ok(["classify", "-r", p, CORPUS_MIX])
        self.assertEqual(r.returncode, 1)
        self.assertTrue(r.stderr.decode().startswith(p + ":1:"),
                        r.stderr.decode())


class TestConfigErrors(CliCase):
    def run_daemon(self, conf_text):
        p = self.write("conf.json", conf_text)
        r = run_cli(["-c", p, "--sink", "null", "--listen-tcp", "127.0.0.1:0",
                     "--listen-http", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
                    timeout=30)
        return p, r

    def test_unknown_top_level_key(self):
        p, r = self.run_daemon('{\n  "listen": { "tcp": "127.0.0.1:0" },\n'
                               '  "x": 1\n}\n')
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1, err)
        self.assertIn('%s:3:3: unknown key "x"' % p, err)

    def test_unknown_nested_key(self):
        p, r = self.run_daemon('{\n  "sink": {\n    "url": "null",\n'
                               '    "bogus": 2\n  }\n}\n')
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1, err)
        # The key alone, or with its path.
        self.assertRegex(err, r'(?m)^%s:4:5: unknown key "(sink\.)?bogus"$'
                         % re.escape(p))

    def test_config_syntax_error(self):
        p, r = self.run_daemon('{\n  "limits": { "max_event_bytes": }\n}\n')
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1, err)
        self.assertIn(p + ":2:", err)

    def test_bad_rules_file_at_start(self):
        rp = self.write("rules.json", '{"classes": [ {"name": "X"} ]}')
        r = run_cli(["-r", rp, "--sink", "null", "--listen-tcp", "127.0.0.1:0",
                     "--listen-http", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
                    timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr.decode())
        self.assertIn(rp + ":1:", r.stderr.decode())

    def test_cannot_bind_exits_2(self):
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        self.addCleanup(s.close)
        port = s.getsockname()[1]
        r = run_cli(["--sink", "null", "--listen-tcp", "127.0.0.1:%d" % port,
                     "--listen-http", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
                    timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr.decode())


class TestRequireSink(CliCase):

    LISTEN = ["--listen-tcp", "127.0.0.1:0", "--listen-http", "127.0.0.1:0",
              "--admin", "127.0.0.1:0"]

    def closed_port(self):
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return port

    def test_unreachable_elasticsearch_exits_2(self):
        port = self.closed_port()
        r = run_cli(["--sink", "http://127.0.0.1:%d" % port,
                     "--require-sink"] + self.LISTEN, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr.decode())
        self.assertIn("sink unreachable at start-up", r.stderr.decode())
        self.assertNotIn("listening", r.stderr.decode())

    def test_unreachable_kafka_exits_2(self):
        a, b = self.closed_port(), self.closed_port()
        r = run_cli(["--sink", "kafka://127.0.0.1:%d,127.0.0.1:%d/t" % (a, b),
                     "--require-sink"] + self.LISTEN, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr.decode())

    def test_reachable_sink_starts(self):
        import signal
        import socket
        import subprocess
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        self.addCleanup(s.close)
        p = subprocess.Popen([BIN, "--sink", "http://127.0.0.1:%d"
                              % s.getsockname()[1], "--require-sink"]
                             + self.LISTEN, stderr=subprocess.PIPE,
                             stdout=subprocess.DEVNULL)
        line = p.stderr.readline().decode()
        self.assertTrue(line.startswith("listening tcp"), line)
        p.send_signal(signal.SIGTERM)
        p.wait(30)
        p.stderr.close()
        self.assertEqual(p.returncode, 0)


if __name__ == "__main__":
    unittest.main()
