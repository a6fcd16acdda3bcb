#!/usr/bin/python3
"""Elasticsearch emulator for spillway's integration tests and benchmarks.

Speaks enough of the Elasticsearch REST API (as 8.x by default; 7.x and 9.x, or OpenSearch,
with --es-version and --distribution) for log shippers and for spillway itself: the
start-up checks (root document, license, nodes, cluster health, templates, ILM, aliases), the
`_bulk` API with ES semantics (per-item results, version conflicts, document parsing errors,
whole-request errors for malformed bodies, filter_path, gzip), an in-memory document store per
index (`_count`, `_doc`, `_search`), plus fault and capacity controls, a record of what was
received and of how late it was (send time in the source to acceptance, `--lag-field`), driven
from the command line or at runtime through `/_emulator/...`.

Python 3.11 standard library only.  See tests/peers/README.md for the flags and control API.
"""

import argparse
import array
import base64
import copy
import datetime
import gc
import gzip
import io
import itertools
import json
import os
import re
import select
import signal
import random
import socket
import struct
import sys
import threading
import time
import traceback
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

ES_VERSION = "8.11.3"              # --es-version's default (Elasticsearch)
OPENSEARCH_VERSION = "2.19.1"      # --es-version's default with --distribution opensearch
# The root document's fields that depend on the version, per major: what that major's servers
# answer (lucene_version: that major's last minor; LUCENE_BY_MINOR where it is known to differ).
ROOT_BY_MAJOR = {
    ("elasticsearch", 7): {"lucene_version": "8.11.3",
                           "build_date": "2025-06-05T08:04:11.402928201Z",
                           "minimum_wire_compatibility_version": "6.8.0",
                           "minimum_index_compatibility_version": "6.0.0-beta1"},
    ("elasticsearch", 8): {"lucene_version": "9.12.2", "build_date": "2023-12-08T10:53:52.354Z",
                           "minimum_wire_compatibility_version": "7.17.0",
                           "minimum_index_compatibility_version": "7.0.0"},
    ("elasticsearch", 9): {"lucene_version": "10.2.2", "build_date": "2025-07-17T22:04:19.760Z",
                           "minimum_wire_compatibility_version": "8.19.0",
                           "minimum_index_compatibility_version": "8.0.0"},
    ("opensearch", 1): {"lucene_version": "8.10.1", "build_date": "2023-06-06T18:02:09.046837Z",
                        "minimum_wire_compatibility_version": "6.8.0",
                        "minimum_index_compatibility_version": "6.0.0-beta1"},
    ("opensearch", 2): {"lucene_version": "9.12.1", "build_date": "2025-02-27T01:21:43.926479Z",
                        "minimum_wire_compatibility_version": "7.10.0",
                        "minimum_index_compatibility_version": "7.0.0"},
    ("opensearch", 3): {"lucene_version": "10.2.1", "build_date": "2025-06-17T23:10:41.612153Z",
                        "minimum_wire_compatibility_version": "2.19.0",
                        "minimum_index_compatibility_version": "2.0.0"},
}
LUCENE_BY_MINOR = {
    (7, 10): "8.7.0", (7, 16): "8.10.1", (8, 0): "9.0.0", (8, 1): "9.0.0", (8, 2): "9.1.0",
    (8, 3): "9.2.0", (8, 4): "9.3.0", (8, 5): "9.4.1", (8, 6): "9.4.2", (8, 7): "9.5.0",
    (8, 8): "9.6.0", (8, 9): "9.7.0", (8, 10): "9.7.0", (8, 11): "9.8.0", (8, 12): "9.9.2",
    (8, 13): "9.10.0", (8, 14): "9.10.0", (8, 15): "9.11.1", (8, 16): "9.12.0",
    (8, 17): "9.12.0", (8, 18): "9.12.1", (9, 0): "10.1.0",
}
ES_TAGLINE = "You Know, for Search"
OPENSEARCH_TAGLINE = "The OpenSearch Project: https://opensearch.org/"
VENDOR_PREFIX = "application/vnd.elasticsearch+"
SHARDS_OK = {"total": 2, "successful": 1, "failed": 0}
SHARDS_NOOP = {"total": 0, "successful": 0, "failed": 0}
BULK_ACTIONS = ("create", "delete", "index", "update")
BULK_META_KEYS = frozenset((
    "_index", "_id", "routing", "pipeline", "version", "version_type", "if_seq_no",
    "if_primary_term", "retry_on_conflict", "require_alias", "require_data_stream",
    "op_type", "dynamic_templates", "_source", "list_executed_pipelines"))
BULK_QUERY_PARAMS = frozenset((
    "filter_path", "pretty", "human", "error_trace", "format", "refresh", "routing",
    "pipeline", "timeout", "wait_for_active_shards", "require_alias", "require_data_stream",
    "_source", "_source_includes", "_source_excludes", "list_executed_pipelines", "type",
    "include_source_on_error"))
BULK_MEDIA_TYPES = frozenset((
    "application/json", "application/x-ndjson",
    "application/vnd.elasticsearch+json", "application/vnd.elasticsearch+x-ndjson"))
INVALID_INDEX_CHARS = set(' "*\\<|,>/?#')
TEMPLATE_STORES = {"_index_template": "templates", "_template": "legacy_templates",
                   "_component_template": "component_templates"}
# The named stores a --data journal entry may put into or delete from (Emulator attributes).
JOURNAL_STORES = frozenset(("templates", "legacy_templates", "component_templates", "ilm",
                            "pipelines"))


def version_major_minor(number):
    """"8.11.3" -> (8, 11); raises ValueError unless it starts MAJOR.MINOR."""
    m = re.match(r"(\d+)\.(\d+)(?:\.\d+)?(?:-[0-9A-Za-z.]+)?$", number or "")
    if not m:
        raise ValueError("version must be MAJOR.MINOR.PATCH, not %r" % (number,))
    return int(m.group(1)), int(m.group(2))


def now_ms():
    return int(time.time() * 1000)


# Lag recording (lag_field / lag_by): samples kept per group, and groups kept at most.
LAG_SAMPLES_MAX = 1000000
LAG_GROUPS_MAX = 1000


# ---------------------------------------------------------------------------------------------
# Errors and helpers

class ESError(Exception):
    """A whole-request error, rendered as an Elasticsearch error document."""

    def __init__(self, status, etype, reason, extra=None, headers=None, plain=False):
        super().__init__(reason)
        self.status = status
        self.etype = etype
        self.reason = reason
        self.extra = extra or {}
        self.headers = headers or []
        self.plain = plain            # ES answers some errors as {"error": "text", "status": N}

    def document(self):
        if self.plain:
            return {"error": self.reason, "status": self.status}
        cause = {"type": self.etype, "reason": self.reason}
        cause.update(self.extra)
        # A root cause is listed without what caused it, as Elasticsearch renders it.
        err = {"root_cause": [{k: v for k, v in cause.items() if k != "caused_by"}]}
        err.update(cause)
        return {"error": err, "status": self.status}


def bad_request(reason, etype="illegal_argument_exception"):
    return ESError(400, etype, reason)


# RFC 7230 tchar, as Elasticsearch's ParsedMediaType checks a type and a subtype.
_TCHAR = re.compile(r"[a-zA-Z0-9!#$%&'*+\-.^_`|~]+")


def parse_media_type(value):
    """An Accept or Content-Type value as Elasticsearch's ParsedMediaType.parseMediaType
    reads it: None when absent, a media range (any ",") or "*/*"; otherwise
    ("type/subtype", [(name, value), ...]), all lower-cased.  Spaces are allowed around
    ";" but not around "=".  Raises ValueError(ES's reason) for a malformed value."""
    if value is None or "," in value or value == "*/*":
        return None
    elements = value.lower().split(";")
    ts = elements[0].split("/")
    if len(ts) != 2 or not all(_TCHAR.fullmatch(x.strip()) for x in ts):
        raise ValueError("invalid media-type [%s]" % value)
    params = []
    for el in elements[1:]:
        el = el.strip()
        if not el:
            continue
        kv = el.split("=")
        if (len(kv) != 2 or not kv[0] or kv[0][-1].isspace() or not kv[1]
                or kv[1][0].isspace()):
            raise ValueError("invalid parameters for header [%s]" % value)
        params.append((kv[0].strip(), kv[1].strip()))
    return ts[0].strip() + "/" + ts[1].strip(), params


def media_type_error(headers, cause_type, cause_reason):
    """Elasticsearch's RestRequest.MediaTypeHeaderException, as its HTTP layer answers it."""
    return ESError(400, "media_type_header_exception",
                   "Invalid media-type value on headers [%s]" % ", ".join(headers),
                   {"caused_by": {"type": cause_type, "reason": cause_reason}})


def index_not_found(name):
    return ESError(404, "index_not_found_exception", "no such index [%s]" % name,
                   {"resource.type": "index_or_alias", "resource.id": name,
                    "index_uuid": "_na_", "index": name})


def resource_not_found(reason):
    return ESError(404, "resource_not_found_exception", reason)


def ack():
    return 200, {"acknowledged": True}


class _Dup(ValueError):
    pass


def _strict_pairs(pairs):
    d = dict(pairs)
    if len(d) != len(pairs):
        seen = set()
        for k, _ in pairs:
            if k in seen:
                raise _Dup("Duplicate field '%s'" % k)
            seen.add(k)
    return d


def _no_constants(name):
    raise ValueError("Non-standard token '%s'" % name)


_STRICT_DECODER = json.JSONDecoder(object_pairs_hook=_strict_pairs, parse_constant=_no_constants)


def strict_loads(text):
    """json.loads with Jackson-like strictness: duplicate keys and NaN/Infinity are errors."""
    if not isinstance(text, str):
        text = text.decode("utf-8")
    return _STRICT_DECODER.decode(text)


def token_name(v):
    if isinstance(v, dict):
        return "START_OBJECT"
    if isinstance(v, list):
        return "START_ARRAY"
    if isinstance(v, str):
        return "VALUE_STRING"
    if isinstance(v, bool):
        return "VALUE_BOOLEAN"
    if v is None:
        return "VALUE_NULL"
    return "VALUE_NUMBER"


def value_text(v):
    """Text form of a scalar, as used for field matching (booleans true/false, ints decimal)."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def get_field(doc, path):
    """Dotted-path lookup; a top-level key equal to the whole path wins. Returns (found, value)."""
    if path in doc:
        return True, doc[path]
    cur = doc
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


_MISSING = object()


def _path_get(doc, path):
    """get_field() with the path split beforehand: path is (text, parts); _MISSING if absent."""
    text, parts = path
    v = doc.get(text, _MISSING)
    if v is not _MISSING:
        return v
    cur = doc
    for part in parts:
        if type(cur) is not dict:
            return _MISSING
        cur = cur.get(part, _MISSING)
        if cur is _MISSING:
            return _MISSING
    return cur


def deep_merge(dst, src):
    """ES update semantics: maps are merged recursively, everything else replaced."""
    changed = False
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            changed |= deep_merge(dst[k], v)
        elif k not in dst or dst[k] != v or type(dst[k]) is not type(v):
            dst[k] = copy.deepcopy(v)
            changed = True
    return changed


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# An item of the fast path of run_bulk(), as dumps() encodes what _ok() returns:
# action, the index name already encoded, the id and the sequence number.
CREATED_ITEM = ('{"%%s":{"_index":%%s,"_id":"%%s","_version":1,"result":"created",'
                '"_shards":%s,"_seq_no":%%d,"_primary_term":1,"status":201}}'
                % dumps(SHARDS_OK))


class BulkAnswer:
    """A bulk response whose items are dicts or, from the fast path, tuples (action, index
    name, encoded index name, id, seq no) of a created document, encoded without building a
    dict for each."""

    def __init__(self, errors, took, items):
        self.errors, self.took, self.items = errors, took, items

    @staticmethod
    def item(x):
        if isinstance(x, dict):
            return x
        action, name, _, _id, seq = x
        return {action: Emulator._ok(name, _id, 1, "created", seq, 201, False)}

    def document(self):
        return {"errors": self.errors, "took": self.took,
                "items": [self.item(x) for x in self.items]}

    def text(self):
        return '{"errors":%s,"took":%d,"items":[%s]}' % (
            "true" if self.errors else "false", self.took,
            ",".join(dumps(x) if isinstance(x, dict) else
                     CREATED_ITEM % (x[0], x[2], x[3], x[4]) for x in self.items))

    def filtered_text(self, spec):
        """The answer under filter_path `spec`, or None when what it keeps of a fast item
        depends on the item (an _id, say): then the caller filters document().  Each key of
        an object is filtered on its own, and so is each element of an array, so the items
        can be filtered one by one and joined."""
        def items_of(x):
            return [dumps(e) for e in
                    apply_filter_path({"items": [self.item(x)]}, spec).get("items", [])]
        same = {}
        parts = []
        for x in self.items:
            if isinstance(x, dict):
                parts.extend(items_of(x))
                continue
            c = same.get(x[0])
            if c is None:
                c = items_of((x[0], "a", '"a"', "a", 1))
                if c != items_of((x[0], "b", '"b"', "b", 2)):
                    return None
                same[x[0]] = c
            parts.extend(c)
        top = apply_filter_path({"errors": self.errors, "took": self.took}, spec)
        fields = ["%s:%s" % (dumps(k), dumps(v)) for k, v in top.items()]
        if parts:
            fields.append('"items":[%s]' % ",".join(parts))
        return "{%s}" % ",".join(fields)


_ID_SEQ = itertools.count(int.from_bytes(os.urandom(3), "big"))
_ID_NODE = os.urandom(6)


def gen_ids(n):
    """n 20-character URL-safe ids, time based like Elasticsearch's (15 bytes each,
    base64url), with one clock reading and one encoding for all: 15 bytes encode to 20
    characters without padding, so the encoding of the concatenation cuts into the ids."""
    if n <= 0:
        return []
    tail = int(time.time() * 1000).to_bytes(6, "big") + _ID_NODE
    raw = b"".join((seq & 0xFFFFFF).to_bytes(3, "little") + tail
                   for seq in itertools.islice(_ID_SEQ, n))
    text = base64.urlsafe_b64encode(raw).decode("ascii")
    return [text[i:i + 20] for i in range(0, 20 * n, 20)]


def validate_index_name(name):
    """Returns None when `name` is a valid concrete index name, else the ES reason text."""
    if not name:
        return "Invalid index name [%s], must not be empty" % name
    if name != name.lower():
        return "Invalid index name [%s], must be lowercase" % name
    if any(c in INVALID_INDEX_CHARS for c in name):
        return ("Invalid index name [%s], must not contain the following characters "
                "[' ','\"','*',',','/','<','>','?','\\','|']" % name)
    if ":" in name:
        return "Invalid index name [%s], must not contain ':'" % name
    if name[0] in "_-+":
        return "Invalid index name [%s], must not start with '_', '-', or '+'" % name
    if name in (".", ".."):
        return "Invalid index name [%s], must not be '.' or '..'" % name
    if len(name.encode("utf-8")) > 255:
        return "Invalid index name [%s], index name is too long, (%d > 255)" % (
            name, len(name.encode("utf-8")))
    return None


_DATE_MATH = re.compile(r"\{(now[^{}]*?)(?:\{([^}|]*)(?:\|([^}]*))?\})?\}")
_JAVA_FMT = [("yyyy", "%Y"), ("YYYY", "%Y"), ("uuuu", "%Y"), ("yy", "%y"), ("MM", "%m"),
             ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S")]


def resolve_date_math(name):
    """Resolves `<static-{now/d}>` style names; anything else is returned unchanged."""
    if not (name.startswith("<") and name.endswith(">")):
        return name

    def one(m):
        expr, fmt = m.group(1), m.group(2) or "yyyy.MM.dd"
        t = datetime.datetime.now(datetime.timezone.utc)
        rest = expr[3:]
        for sign, num, unit in re.findall(r"([+-])(\d+)([yMwdhHms])", rest.split("/")[0]):
            n = int(num) * (1 if sign == "+" else -1)
            if unit == "y":
                t = t.replace(year=t.year + n)
            elif unit == "M":
                mon = t.month - 1 + n
                t = t.replace(year=t.year + mon // 12, month=mon % 12 + 1, day=1)
            else:
                secs = {"w": 604800, "d": 86400, "h": 3600, "H": 3600, "m": 60, "s": 1}[unit]
                t += datetime.timedelta(seconds=n * secs)
        if "/" in rest:
            unit = rest.split("/", 1)[1][:1]
            if unit == "y":
                t = t.replace(month=1, day=1, hour=0, minute=0, second=0)
            elif unit == "M":
                t = t.replace(day=1, hour=0, minute=0, second=0)
            elif unit == "d":
                t = t.replace(hour=0, minute=0, second=0)
            elif unit in "hH":
                t = t.replace(minute=0, second=0)
        for j, p in _JAVA_FMT:
            fmt = fmt.replace(j, p)
        return t.strftime(fmt)

    return _DATE_MATH.sub(one, name[1:-1])


def glob_regex(pattern):
    return re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$", re.S)


# ---------------------------------------------------------------------------------------------
# filter_path (Elasticsearch semantics)

_GLOB_CACHE = {}


def _seg_match(seg, key):
    if seg == "*":
        return True
    if "*" not in seg:
        return seg == key
    rx = _GLOB_CACHE.get(seg)
    if rx is None:
        rx = _GLOB_CACHE[seg] = glob_regex(seg)
    return rx.match(key) is not None


def _advance(pat, key):
    """Remaining patterns after `pat` consumes object key `key` (empty tuple = full match)."""
    head = pat[0]
    if head == "**":
        if len(pat) == 1:
            yield ()
            return
        yield pat                       # ** swallows this key and keeps going
        yield from _advance(pat[1:], key)   # ** matches zero levels
    elif _seg_match(head, key):
        yield pat[1:]


_STEP_CACHE = {}


def _step(pats, key):
    """(child patterns, full match) after the pattern set `pats` consumes object key `key`."""
    r = _STEP_CACHE.get((pats, key))
    if r is None:
        child, full = [], False
        for p in pats:
            for q in _advance(p, key):
                if q:
                    if q not in child:
                        child.append(q)
                else:
                    full = True
        r = (tuple(child), full)
        if len(_STEP_CACHE) > 20000:
            _STEP_CACHE.clear()
        _STEP_CACHE[(pats, key)] = r
    return r


def _filter(value, pats, include):
    """Returns (keep, filtered). Arrays are transparent; containers emptied by filtering go."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            child, full = _step(pats, k)
            if include:
                if full:
                    out[k] = v
                elif child:
                    keep, nv = _filter(v, child, True)
                    if keep:
                        out[k] = nv
            else:
                if full:
                    continue
                if child and isinstance(v, (dict, list)) and v:
                    keep, nv = _filter(v, child, False)
                    if keep:
                        out[k] = nv
                else:
                    out[k] = v
        return bool(out) or (not include and not value), out
    if isinstance(value, list):
        res = []
        for e in value:
            keep, ne = _filter(e, pats, include)
            if keep:
                res.append(ne)
        return bool(res) or (not include and not value), res
    return (not include), value


def parse_filter_path(spec):
    inc, exc = [], []
    for expr in spec.split(","):
        expr = expr.strip()
        if not expr:
            continue
        neg = expr.startswith("-")
        if neg:
            expr = expr[1:]
        segs = tuple(s for s in expr.split(".") if s != "")
        if segs:
            (exc if neg else inc).append(segs)
    return inc, exc


def apply_filter_path(obj, spec):
    inc, exc = parse_filter_path(spec)
    inc, exc = tuple(inc), tuple(exc)
    if inc:
        keep, obj = _filter(obj, inc, True)
        if not keep:
            obj = {}
    if exc:
        keep, obj = _filter(obj, exc, False)
        if not keep:
            obj = {}
    return obj


# ---------------------------------------------------------------------------------------------
# Lag: the time from a document's send time (a field of its source) to its acceptance

def lag_stamp(v):
    """A send time as a source holds it -> epoch seconds, or None: a number (epoch seconds),
    a string holding one, or an ISO 8601 date-time string (UTC when it names no zone)."""
    if isinstance(v, bool):
        return None
    t = None
    if isinstance(v, (int, float)):
        t = float(v)
    elif isinstance(v, str):
        try:
            t = float(v)
        except ValueError:
            try:
                d = datetime.datetime.fromisoformat(v)
            except ValueError:
                return None
            if d.tzinfo is None:
                d = d.replace(tzinfo=datetime.timezone.utc)
            t = d.timestamp()
    if t is None or t != t or t in (float("inf"), float("-inf")):
        return None
    return t


def nearest_rank(xs, q):
    """The q-quantile of the sorted sequence xs, by nearest rank."""
    n = len(xs)
    return xs[min(n - 1, max(0, -int(-q * n // 1) - 1))]


class LagGroup:
    """The lags (seconds) of one group: every one counted (events, sum, min, max); the first
    LAG_SAMPLES_MAX kept, then a uniform reservoir of that many (Vitter's algorithm R), so
    the quantiles are exact up to LAG_SAMPLES_MAX events and estimated from the reservoir
    beyond; 8 bytes a sample."""

    __slots__ = ("events", "samples", "total", "min", "max")

    def __init__(self):
        self.events = 0
        self.samples = array.array("d")
        self.total = 0.0
        self.min = self.max = None

    def add(self, lag, rng):
        self.events += 1
        self.total += lag
        if self.max is None or lag > self.max:
            self.max = lag
        if self.min is None or lag < self.min:
            self.min = lag
        if len(self.samples) < LAG_SAMPLES_MAX:
            self.samples.append(lag)
        else:
            j = rng.randrange(self.events)
            if j < LAG_SAMPLES_MAX:
                self.samples[j] = lag

    def copy(self):
        c = LagGroup()
        c.events, c.samples, c.total, c.min, c.max = (self.events, self.samples[:], self.total,
                                                      self.min, self.max)
        return c

    def summary(self):
        xs = sorted(self.samples)

        def ms(x):
            return round(x * 1000.0, 3)
        return {"events": self.events, "samples": len(xs),
                "p50_ms": ms(nearest_rank(xs, 0.5)), "p90_ms": ms(nearest_rank(xs, 0.9)),
                "p99_ms": ms(nearest_rank(xs, 0.99)), "max_ms": ms(self.max),
                "min_ms": ms(self.min), "mean_ms": ms(self.total / self.events)}


# ---------------------------------------------------------------------------------------------
# State

class Index:
    __slots__ = ("name", "uuid", "docs", "seq", "count", "created", "settings", "mappings")

    def __init__(self, name, settings=None, mappings=None):
        self.name = name
        self.uuid = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")[:22]
        self.docs = {}            # id -> [version, seq_no, source text or None (deleted)]
        self.seq = -1
        self.count = 0
        self.created = now_ms()
        self.settings = settings or {}
        self.mappings = mappings or {}


DEFAULT_CONFIG = {
    "capacity": None,            # events/s, None = unlimited
    "burst": None,               # bucket size, None = max(capacity, 1)
    "capacity_mode": "items",    # "items": per-item 429 beyond the bucket; "whole": 429 request
    "latency_ms": 0,
    "retry_after": None,         # seconds, Retry-After on whole-request rejections
    "reject_whole": None,        # None | status | {"status", "retry_after", "count", "scope"}
    "reject_every_nth_item": None,   # None | {"n": N, "status": S}
    "item_status_by_field": None,    # None | rule | [rules] | {"field": {"value": status}}
    "item_status": None,         # None | rule | [rules]: {"status", "positions"|"fraction", ...}
    "hang": None,                # None | {"count", "seconds", "scope"}: read, then do not answer
    "reset": None,               # None | {"count", "scope"}: read, then close without answering
    "parse_source": True,        # False = --fast: no json.loads of sources
    "store": True,               # False = keep no documents and no received log
    "lag_field": None,           # dotted path of a send time (epoch s) in accepted sources
    "lag_by": None,              # dotted path whose value groups the lags
}


def _status(v, what):
    if isinstance(v, bool) or not isinstance(v, int) or not 100 <= v <= 599:
        raise bad_request("[%s] must be an HTTP status code" % what)
    return v


def normalize_rules(v):
    """item_status_by_field in any accepted form -> list of rule dicts."""
    if v is None:
        return None
    if isinstance(v, dict) and "field" in v and "status" in v:
        v = [v]
    if isinstance(v, dict):
        rules = []
        for field, mapping in v.items():
            if not isinstance(mapping, dict):
                raise bad_request("[item_status_by_field.%s] must map values to statuses" % field)
            for val, st in mapping.items():
                rules.append({"field": field, "value": val, "status": st})
        v = rules
    if not isinstance(v, list):
        raise bad_request("[item_status_by_field] must be an object or an array of rules")
    out = []
    for r in v:
        if not isinstance(r, dict) or not isinstance(r.get("field"), str) or "value" not in r:
            raise bad_request("item_status_by_field rule needs [field], [value], [status]")
        vals = r["value"] if isinstance(r["value"], list) else [r["value"]]
        rule = {"field": r["field"], "value": r["value"],
                "texts": frozenset(value_text(x) for x in vals),
                "status": _status(r.get("status"), "item_status_by_field.status"),
                "count": r.get("count"), "type": r.get("type"), "reason": r.get("reason")}
        if rule["count"] is not None and (not isinstance(rule["count"], int) or rule["count"] < 0):
            raise bad_request("[item_status_by_field.count] must be a non-negative integer")
        out.append(rule)
    return out


def _count(v, what):
    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
        raise bad_request("[%s] must be a non-negative integer" % what)
    return v


def _scope(v, what):
    if v not in ("bulk", "all"):
        raise bad_request("[%s] must be \"bulk\" or \"all\"" % what)
    return v


def normalize_item_status(v):
    """item_status in any accepted form -> list of rule dicts (each with its own RNG)."""
    if v is None:
        return None
    if isinstance(v, dict):
        v = [v]
    if not isinstance(v, list):
        raise bad_request("[item_status] must be an object or an array of rules")
    out = []
    for r in v:
        if not isinstance(r, dict):
            raise bad_request("[item_status] rules must be objects")
        extra = set(r) - {"status", "positions", "fraction", "seed", "requests", "type",
                          "reason"}
        if extra:
            raise bad_request("unknown item_status key(s) %s" % sorted(extra))
        pos, frac = r.get("positions"), r.get("fraction")
        if (pos is None) == (frac is None):
            raise bad_request("an item_status rule needs exactly one of [positions], [fraction]")
        if pos is not None and (not isinstance(pos, list) or not all(
                isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in pos)):
            raise bad_request("[item_status.positions] must be a list of item positions >= 0")
        if frac is not None:
            _num(frac, "item_status.fraction", allow_none=False)
            if frac > 1:
                raise bad_request("[item_status.fraction] must be between 0 and 1")
        seed = r.get("seed", 0)
        out.append({"status": _status(r.get("status"), "item_status.status"),
                    "positions": None if pos is None else sorted(set(pos)),
                    "fraction": frac, "seed": seed,
                    "requests": _count(r.get("requests"), "item_status.requests"),
                    "type": r.get("type"), "reason": r.get("reason"),
                    "rng": random.Random(seed)})
    return out


def normalize_conn_fault(v, k):
    """hang / reset: an integer count, or an object."""
    if v is None:
        return None
    if not isinstance(v, dict):
        v = {"count": v}
    allowed = {"count", "scope", "seconds"} if k == "hang" else {"count", "scope"}
    extra = set(v) - allowed
    if extra:
        raise bad_request("unknown %s key(s) %s" % (k, sorted(extra)))
    r = {"count": _count(v.get("count"), k + ".count"),
         "scope": _scope(v.get("scope", "bulk"), k + ".scope")}
    if k == "hang":
        r["seconds"] = _num(v.get("seconds"), "hang.seconds")
    return r


def _num(v, what, allow_none=True, minimum=0):
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < minimum:
        raise bad_request("[%s] must be a number >= %s" % (what, minimum))
    return v


class Emulator:
    def __init__(self, args):
        self.args = args
        # What the emulator says it is (--distribution, --es-version): checked by main().
        self.distribution = getattr(args, "distribution", "elasticsearch")
        self.opensearch = self.distribution == "opensearch"
        self.major, self.minor = version_major_minor(args.es_version)
        # Elasticsearch sends X-Elastic-Product from 7.14 on; OpenSearch never does.
        self.product_header = (not self.opensearch
                               and (self.major, self.minor) >= (7, 14))
        # A JSON answer's type: Elasticsearch 8 dropped the charset that 7 and OpenSearch add.
        self.json_ctype = ("application/json" if not self.opensearch and self.major >= 8
                           else "application/json; charset=UTF-8")
        self.lock = threading.Lock()
        self.record_lock = threading.Lock()
        self.record_file = open(args.record, "a", encoding="utf-8") if args.record else None
        self.cluster_uuid = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")[:22]
        self.node_id = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")[:22]
        self.port = 0
        self.host = "127.0.0.1"
        self.start_raw = {}
        self.config = dict(DEFAULT_CONFIG)
        self.journal_file = None     # --data, opened by open_journal()
        self._lag_leaf = None        # lag_field's last segment and a quote, set by apply_config
        self._lag_path = self._lag_by_path = None
        self._reset_state()

    # -- configuration ------------------------------------------------------------------------

    def _reset_state(self):
        self.indices = {}
        self.aliases = {}            # alias -> {index: {"is_write_index": bool|None, ...}}
        self.templates = {}          # composable
        self.legacy_templates = {}
        self.component_templates = {}
        self.ilm = {}
        self.pipelines = {}
        self.received = []           # (index, id, source text)
        self.stats_reset()
        self.lag_reset()
        self.nth_counter = 0
        self.tokens = 0.0
        self.tokens_at = time.monotonic()
        self._refill_full()

    def stats_reset(self):
        self.st = {
            "requests": {"total": 0, "bulk": 0, "by_status": {}, "by_endpoint": {}},
            "items": {"total": 0, "by_status": {}, "by_action": {}},
            "bytes": {"received": 0, "decoded": 0},
            "indexed": {},
            "rejected": {"capacity_items": 0, "capacity_whole": 0, "injected_whole": 0,
                         "injected_items": 0, "hung": 0, "reset": 0},
        }

    def lag_reset(self):
        self.lag = {}                # lag_by value -> LagGroup
        self.lag_rng = random.Random(0)
        self.lag_unread = 0          # accepted, the field's name in the source, no time read

    def lag_note(self, src, accepted):
        """Records the lag of an accepted document whose source is `src` (bytes), accepted
        at `accepted` (time.time()), if its source holds a send time at lag_field.  Only a
        source that holds the last segment of that path followed by a quote is parsed."""
        if src is None or self._lag_leaf not in src:
            return
        try:
            doc = json.loads(src)
        except (ValueError, RecursionError):
            doc = None
        t = None
        if type(doc) is dict:
            v = _path_get(doc, self._lag_path)
            if type(v) is float and v - v == 0.0:        # finite: the common case
                t = v
            elif v is not _MISSING:
                t = lag_stamp(v)
        if t is None:
            self.lag_unread += 1
            return
        key = "_all"
        if self._lag_by_path is not None:
            v = _path_get(doc, self._lag_by_path)
            if type(v) is str:
                key = v
            elif v is _MISSING or isinstance(v, (dict, list)):
                key = "_missing"
            else:
                key = value_text(v)
        g = self.lag.get(key)
        if g is None:
            if len(self.lag) >= LAG_GROUPS_MAX:
                key = "_other"
                g = self.lag.get(key)
            if g is None:
                g = self.lag[key] = LagGroup()
        g.add(accepted - t, self.lag_rng)

    def lag_view(self):
        """GET /_emulator/lag: copied under the lock, summed up outside it."""
        with self.lock:
            cfg = self.config
            head = {"lag_field": cfg["lag_field"], "lag_by": cfg["lag_by"],
                    "unread": self.lag_unread}
            groups = {k: g.copy() for k, g in self.lag.items()}
        head["by"] = {k: groups[k].summary() for k in sorted(groups)}
        return head

    def _refill_full(self):
        cap = self.config["capacity"]
        self.tokens = float(self._burst()) if cap is not None else 0.0
        self.tokens_at = time.monotonic()

    def _burst(self):
        b = self.config["burst"]
        if b is None:
            cap = self.config["capacity"] or 0
            b = max(cap, 1) if cap > 0 else 0
        return b

    def apply_config(self, body, base=None):
        """Validates and merges `body` into the config (under the lock). Raises ESError."""
        if not isinstance(body, dict):
            raise bad_request("emulator config must be a JSON object")
        unknown = sorted(set(body) - set(DEFAULT_CONFIG))
        if unknown:
            raise bad_request("unknown emulator config key(s) %s; known: %s" % (
                unknown, sorted(DEFAULT_CONFIG)))
        cfg = dict(self.config if base is None else base)
        for k, v in body.items():
            if k == "capacity":
                cfg[k] = _num(v, k)
            elif k == "burst":
                cfg[k] = _num(v, k)
            elif k == "capacity_mode":
                if v not in ("items", "whole"):
                    raise bad_request("[capacity_mode] must be \"items\" or \"whole\"")
                cfg[k] = v
            elif k == "latency_ms":
                cfg[k] = _num(v, k, allow_none=False) if v is not None else 0
            elif k == "retry_after":
                cfg[k] = _num(v, k)
            elif k == "reject_whole":
                if v is None:
                    cfg[k] = None
                else:
                    if not isinstance(v, dict):
                        v = {"status": v}
                    extra = set(v) - {"status", "retry_after", "count", "scope"}
                    if extra:
                        raise bad_request("unknown reject_whole key(s) %s" % sorted(extra))
                    r = {"status": _status(v.get("status"), "reject_whole.status"),
                         "retry_after": _num(v.get("retry_after"), "reject_whole.retry_after"),
                         "count": v.get("count"), "scope": v.get("scope", "bulk")}
                    if r["count"] is not None and (not isinstance(r["count"], int)
                                                   or r["count"] < 0):
                        raise bad_request("[reject_whole.count] must be a non-negative integer")
                    if r["scope"] not in ("bulk", "all"):
                        raise bad_request("[reject_whole.scope] must be \"bulk\" or \"all\"")
                    cfg[k] = r
            elif k == "reject_every_nth_item":
                if v is None:
                    cfg[k] = None
                else:
                    if not isinstance(v, dict) or not isinstance(v.get("n"), int) or v["n"] < 1:
                        raise bad_request("[reject_every_nth_item] needs {\"n\": N>=1, "
                                          "\"status\": S}")
                    cfg[k] = {"n": v["n"], "status": _status(v.get("status", 429),
                                                            "reject_every_nth_item.status")}
                self.nth_counter = 0
            elif k == "item_status_by_field":
                cfg[k] = normalize_rules(v)
            elif k == "item_status":
                cfg[k] = normalize_item_status(v)
            elif k in ("hang", "reset"):
                cfg[k] = normalize_conn_fault(v, k)
            elif k in ("parse_source", "store"):
                if not isinstance(v, bool):
                    raise bad_request("[%s] must be a boolean" % k)
                cfg[k] = v
            elif k in ("lag_field", "lag_by"):
                if v is not None and (not isinstance(v, str) or not v.strip(".")):
                    raise bad_request("[%s] must be a dotted field path, or null" % k)
                cfg[k] = v
        old_cap = (self.config["capacity"], self.config["burst"])
        old_lag = (self.config["lag_field"], self.config["lag_by"])
        self.config = cfg
        if (cfg["capacity"], cfg["burst"]) != old_cap or base is not None:
            self._refill_full()
        if (cfg["lag_field"], cfg["lag_by"]) != old_lag:
            self.lag_reset()          # lags grouped one way are not mixed with another
        f, by = cfg["lag_field"], cfg["lag_by"]
        self._lag_leaf = None if f is None else (f.rsplit(".", 1)[-1] + '"').encode("utf-8")
        self._lag_path = None if f is None else (f, f.split("."))
        self._lag_by_path = None if by is None else (by, by.split("."))
        return cfg

    def config_view(self):
        cfg = dict(self.config)
        if cfg["item_status_by_field"] is not None:
            cfg["item_status_by_field"] = [
                {k: r[k] for k in ("field", "value", "status", "count", "type", "reason")
                 if r[k] is not None} for r in cfg["item_status_by_field"]]
        if cfg["item_status"] is not None:
            cfg["item_status"] = [{k: v for k, v in r.items() if k != "rng" and v is not None}
                                  for r in cfg["item_status"]]
        for k in ("hang", "reset"):
            if cfg[k] is not None:
                cfg[k] = dict(cfg[k])
        cfg["tokens"] = None if cfg["capacity"] is None else round(self._tokens_now(), 3)
        return cfg

    def _tokens_now(self):
        cap = self.config["capacity"]
        if cap is None:
            return 0.0
        now = time.monotonic()
        self.tokens = min(float(self._burst()), self.tokens + (now - self.tokens_at) * cap)
        self.tokens_at = now
        return self.tokens

    # -- recording ----------------------------------------------------------------------------

    def record(self, entry):
        if self.record_file is None:
            return
        line = json.dumps(entry, ensure_ascii=True, separators=(",", ":")) + "\n"
        with self.record_lock:
            self.record_file.write(line)
            self.record_file.flush()

    def count_request(self, endpoint, status, wire_bytes, decoded_bytes):
        with self.lock:
            r = self.st["requests"]
            r["total"] += 1
            k = str(status)
            r["by_status"][k] = r["by_status"].get(k, 0) + 1
            r["by_endpoint"][endpoint] = r["by_endpoint"].get(endpoint, 0) + 1
            if endpoint == "bulk":
                r["bulk"] += 1
            self.st["bytes"]["received"] += wire_bytes
            self.st["bytes"]["decoded"] += decoded_bytes

    # -- journal (--data) ---------------------------------------------------------------------
    #
    # One JSON object per line, for each change to what the emulator stores, written under the
    # lock in the order of the changes and flushed to the OS before the request that made them
    # is answered (a killed process loses nothing it acknowledged; an OS crash may):
    #   {"op": "doc", "index", "id", "version", "seq", "source" (text, null = deleted),
    #    "received": true for an index/create that goes into the received log}
    #   {"op": "index", "index", "body", "uuid", "created"}    an index created
    #   {"op": "delete_index", "index"}
    #   {"op": "aliases", "aliases"}                           every alias, after a change
    #   {"op": "put" | "delete", "store", "name"[, "value"]}   templates, ILM policies, pipelines
    #   {"op": "forget_received"}                              DELETE /_emulator/received

    def open_journal(self, path):
        """Replays the journal at `path` (if it exists), then appends to it."""
        self.replay(path)
        self.journal_file = open(path, "ab")

    def replay(self, path):
        """Rebuilds the stored state from the journal at `path`.  A last line cut short (the
        process was killed while writing it, so it was never acknowledged) is dropped from
        the file.  Raises ValueError for any other line that does not parse."""
        good = 0
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            return
        with f:
            for n, line in enumerate(f, 1):
                if not line.endswith(b"\n"):
                    break
                if line.strip():
                    try:
                        self._replay_one(json.loads(line))
                    except (ValueError, KeyError, TypeError, AttributeError) as e:
                        raise ValueError("%s line %d: %s: %r" % (path, n, e, line[:200]))
                good += len(line)
            size = f.seek(0, os.SEEK_END)
        if good < size:
            with open(path, "r+b") as f:
                f.truncate(good)

    def _replay_one(self, e):
        op = e["op"]
        if op == "doc":
            name, _id, text = e["index"], e["id"], e["source"]
            idx = self.indices.get(name) or self.create_index(name)
            cur = idx.docs.get(_id)
            if cur is not None and cur[2] is not None:
                idx.count -= 1
            idx.docs[_id] = [e["version"], e["seq"], text]
            if text is not None:
                idx.count += 1
            idx.seq = max(idx.seq, e["seq"])
            if e.get("received"):
                self.received.append((name, _id, text))
        elif op == "index":
            idx = self.create_index(e["index"], e["body"])
            idx.uuid, idx.created = e["uuid"], e["created"]
        elif op == "delete_index":
            self.indices.pop(e["index"], None)
        elif op == "aliases":
            self.aliases = e["aliases"]
        elif op in ("put", "delete") and e["store"] in JOURNAL_STORES:
            store = getattr(self, e["store"])
            if op == "put":
                store[e["name"]] = e["value"]
            else:
                store.pop(e["name"], None)
        elif op == "forget_received":
            self.received = []
        else:
            raise ValueError("unknown journal entry")

    def journal(self, entry, sync=True):
        """Appends one change (under the lock); `sync` flushes it, and everything before it,
        to the OS: a request must not be answered before its changes are."""
        f = self.journal_file
        if f is None:
            return
        f.write(json.dumps(entry, ensure_ascii=True, separators=(",", ":")).encode("ascii")
                + b"\n")
        if sync:
            f.flush()

    def journal_sync(self):
        if self.journal_file is not None:
            self.journal_file.flush()

    def journal_doc(self, name, _id, version, seq, text, received):
        if self.journal_file is not None:
            entry = {"op": "doc", "index": name, "id": _id, "version": version, "seq": seq,
                     "source": text}
            if received:
                entry["received"] = True
            self.journal(entry, sync=False)

    def journal_aliases(self):
        self.journal({"op": "aliases", "aliases": self.aliases})

    def journal_truncate(self):
        if self.journal_file is not None:
            self.journal_file.truncate(0)

    # -- index resolution ---------------------------------------------------------------------

    def write_target(self, name):
        """Concrete index for a write to `name` (index or alias). Returns (index, error)."""
        al = self.aliases.get(name)
        if al is None:
            return name, None
        if len(al) == 1:
            (idx, props), = al.items()
            if props.get("is_write_index") is False:
                al = {}
            else:
                return idx, None
        for idx, props in al.items():
            if props.get("is_write_index"):
                return idx, None
        return None, ("no write index is defined for alias [%s]. The write index may be "
                      "explicitly disabled using is_write_index=false or the alias points to "
                      "multiple indices without one being designated as a write index" % name)

    def create_index(self, name, body=None):
        """Creates index `name` (under the lock); journaled but not flushed."""
        body = body or {}
        idx = Index(name, body.get("settings"), body.get("mappings"))
        self.indices[name] = idx
        self.journal({"op": "index", "index": name, "body": body, "uuid": idx.uuid,
                      "created": idx.created}, sync=False)
        aliased = False
        for tmpl in self._matching_templates(name):
            for alias, props in (tmpl.get("template", {}).get("aliases") or {}).items():
                self.aliases.setdefault(alias, {})[name] = dict(props or {})
                aliased = True
        for alias, props in (body.get("aliases") or {}).items():
            self.aliases.setdefault(alias, {})[name] = dict(props or {})
            aliased = True
        if aliased:
            self.journal({"op": "aliases", "aliases": self.aliases}, sync=False)
        return idx

    def _matching_templates(self, name):
        best = None
        for tname, t in self.templates.items():
            pats = t.get("index_patterns") or []
            if isinstance(pats, str):
                pats = [pats]
            if any(glob_regex(p).match(name) for p in pats):
                if best is None or (t.get("priority") or 0) > (best.get("priority") or 0):
                    best = t
        return [best] if best else []

    def resolve_read(self, expr, allow_missing=False):
        """Index expression (comma list, wildcards, aliases, _all) -> list of Index."""
        if expr in (None, "", "_all", "*"):
            return sorted(self.indices.values(), key=lambda i: i.name)
        out = []
        for part in expr.split(","):
            part = resolve_date_math(part.strip())
            if not part:
                continue
            if part.startswith("-"):
                rx = glob_regex(part[1:])
                out = [i for i in out if not rx.match(i.name)]
                continue
            if "*" in part:
                rx = glob_regex(part)
                names = [n for n in self.indices if rx.match(n)]
                for a, members in self.aliases.items():
                    if rx.match(a):
                        names.extend(members)
                for n in sorted(set(names)):
                    if n in self.indices and self.indices[n] not in out:
                        out.append(self.indices[n])
            elif part in self.indices:
                if self.indices[part] not in out:
                    out.append(self.indices[part])
            elif part in self.aliases:
                for n in self.aliases[part]:
                    if n in self.indices and self.indices[n] not in out:
                        out.append(self.indices[n])
            elif not allow_missing:
                raise index_not_found(part)
        return out

    # -- bulk ---------------------------------------------------------------------------------

    def parse_bulk(self, body, default_index, compat7, qs):
        """NDJSON -> list of [action, meta, source text|None, update body|None].

        Follows Elasticsearch's BulkRequestParser: blank action lines are skipped, the body
        must end with a newline, an action line without its source at the very end is ignored.
        Raises ESError(400) for anything that ES rejects as a whole.
        """
        ops = []
        n = len(body)
        pos = 0
        line = 0
        cache = {}
        default_routing = qs.get("routing")
        default_pipeline = qs.get("pipeline")
        default_require_alias = qs.get("require_alias") == "true"
        while pos < n:
            nl = body.find(b"\n", pos)
            if nl == -1:
                raise bad_request("The bulk request must be terminated by a newline [\\n]")
            raw = body[pos:nl]
            pos = nl + 1
            line += 1
            if not raw.strip():
                continue
            parsed = cache.get(raw)
            if parsed is None:
                parsed = self._parse_action(raw, line, compat7)
                if len(cache) < 256:
                    cache[raw] = parsed
            action, meta = parsed
            meta = dict(meta)
            if "_index" not in meta:
                if default_index is not None:
                    meta["_index"] = default_index
            if default_routing is not None and "routing" not in meta:
                meta["routing"] = default_routing
            if default_pipeline is not None and "pipeline" not in meta:
                meta["pipeline"] = default_pipeline
            if default_require_alias and "require_alias" not in meta:
                meta["require_alias"] = True
            if action == "delete":
                ops.append([action, meta, None, None])
                continue
            if pos >= n:
                break
            nl = body.find(b"\n", pos)
            if nl == -1:
                raise bad_request("The bulk request must be terminated by a newline [\\n]")
            src = body[pos:nl]
            pos = nl + 1
            line += 1
            if src.endswith(b"\r"):
                src = src[:-1]
            upd = None
            if action == "update":
                upd = self._parse_update(src, line)
            ops.append([action, meta, src, upd])
        errors = []
        for i, (action, meta, _, _) in enumerate(ops):
            if meta.get("_index") is None:
                errors.append("index is missing")
            if action in ("update", "delete") and meta.get("_id") is None:
                errors.append("id is missing")
            _id = meta.get("_id")
            if _id is not None and len(_id.encode("utf-8")) > 512:
                errors.append("id [%s] is too long, must be no longer than 512 bytes but was: %d"
                              % (_id, len(_id.encode("utf-8"))))
            if action == "update" and meta.get("version") is not None:
                errors.append("can't provide version in update request")
        if not ops:
            errors.append("no requests added")
        if errors:
            raise ESError(400, "action_request_validation_exception", "Validation Failed: " +
                          "".join("%d: %s;" % (i + 1, e) for i, e in enumerate(errors)))
        return ops

    def _parse_action(self, raw, line, compat7):
        try:
            obj = strict_loads(raw)
        except (ValueError, RecursionError) as e:
            raise ESError(400, "x_content_parse_exception", "[%d:%d] %s" % (
                line, getattr(e, "colno", 1) or 1, getattr(e, "msg", str(e))))
        if not isinstance(obj, dict):
            raise bad_request("Malformed action/metadata line [%d], expected START_OBJECT or "
                              "END_OBJECT but found [%s]" % (line, token_name(obj)))
        if not obj:
            raise bad_request("Malformed action/metadata line [%d], expected FIELD_NAME but "
                              "found [END_OBJECT]" % line)
        keys = list(obj)
        action = keys[0]
        if action not in BULK_ACTIONS:
            raise bad_request("Malformed action/metadata line [%d], expected one of [create, "
                              "delete, index, update] but found [%s]" % (line, action))
        params = obj[action]
        if not isinstance(params, dict):
            raise bad_request("Malformed action/metadata line [%d], expected START_OBJECT but "
                              "found [%s]" % (line, token_name(params)))
        if len(keys) > 1:
            raise bad_request("Malformed action/metadata line [%d], expected END_OBJECT but "
                              "found [FIELD_NAME]" % line)
        meta = {}
        for k, v in params.items():
            if k not in BULK_META_KEYS and not (k == "_type" and compat7):
                raise bad_request("Action/metadata line [%d] contains an unknown parameter [%s]"
                                  % (line, k))
            if v is None:
                continue
            if isinstance(v, (dict, list)):
                if isinstance(v, dict) and k in ("dynamic_templates", "_source"):
                    meta[k] = v
                    continue
                raise bad_request("Malformed action/metadata line [%d], expected a simple value "
                                  "for field [%s] but found [%s]" % (line, k, token_name(v)))
            if k in ("_index", "_id", "routing", "pipeline", "version_type", "op_type"):
                v = value_text(v)
            elif k in ("version", "if_seq_no", "if_primary_term", "retry_on_conflict"):
                try:
                    v = int(v) if not isinstance(v, bool) else None
                except ValueError:
                    v = None
                if v is None:
                    raise bad_request("[%s] must be a number" % k)
            elif k in ("require_alias", "require_data_stream", "list_executed_pipelines"):
                if isinstance(v, str):
                    if v not in ("true", "false"):
                        raise bad_request("Failed to parse value [%s] as only [true] or [false] "
                                          "are allowed." % v)
                    v = v == "true"
            meta[k] = v
        if action == "index" and meta.get("op_type") == "create":
            action = "create"
        elif "op_type" in meta and meta["op_type"] not in ("index", "create"):
            raise bad_request("opType must be 'create' or 'index', found: [%s]" % meta["op_type"])
        if meta.get("version_type") not in (None, "internal", "external", "external_gte"):
            raise bad_request("No version type match [%s]" % meta["version_type"])
        return action, meta

    def _parse_update(self, src, line):
        try:
            body = strict_loads(src)
        except (ValueError, RecursionError) as e:
            raise ESError(400, "x_content_parse_exception", "[%d:%d] %s" % (
                line, getattr(e, "colno", 1) or 1, getattr(e, "msg", str(e))))
        if not isinstance(body, dict):
            raise ESError(400, "x_content_parse_exception",
                          "[%d:1] [UpdateRequest] Expected START_OBJECT but was: %s"
                          % (line, token_name(body)))
        allowed = {"doc", "upsert", "doc_as_upsert", "script", "scripted_upsert",
                   "detect_noop", "_source", "fields"}
        for k in body:
            if k not in allowed:
                raise ESError(400, "x_content_parse_exception",
                              "[%d:2] [UpdateRequest] unknown field [%s]" % (line, k))
        for k in ("doc", "upsert"):
            if k in body and not isinstance(body[k], dict):
                raise ESError(400, "x_content_parse_exception",
                              "[%d:2] [UpdateRequest] failed to parse field [%s]" % (line, k))
        return body

    def run_bulk(self, ops, compat7, compact=False):
        """Applies parsed ops under the lock. Returns (items, errors).  With `compact`, an
        item may be a tuple of the fast path (see BulkAnswer)."""
        cfg = self.config
        items = []
        any_error = False
        item_stats = self.st["items"]
        by_status = item_stats["by_status"]
        by_action = item_stats["by_action"]
        rejected = self.st["rejected"]
        indexed = self.st["indexed"]
        n = len(ops)
        admitted = n
        if cfg["capacity"] is not None and cfg["capacity_mode"] == "items":
            tokens = self._tokens_now()
            admitted = min(n, max(0, int(tokens)))
            self.tokens -= admitted
        elif cfg["capacity"] is not None:
            self.tokens -= n          # whole mode: the bucket may go into debt
        nth = cfg["reject_every_nth_item"]
        rules = cfg["item_status_by_field"]
        forced = self._item_status_plan(n)
        parse_source = cfg["parse_source"]
        store = cfg["store"]
        ids = gen_ids(sum(1 for action, meta, _, _ in ops
                          if action in ("index", "create") and meta.get("_id") is None))
        ids.reverse()
        # The common case of a benchmark (--fast --no-store, no faults): an index or create
        # with only an _index, into an existing index that is no alias, of a source that
        # looks like an object.  It is answered as the general path below would, without
        # its per-item checks, which cannot apply.
        fast = compact and not (store or parse_source or rules or nth or forced or compat7)
        plain = {}
        lag = cfg["lag_field"] is not None
        accepted = time.time() if lag else None
        for i, (action, meta, src, upd) in enumerate(ops):
            name = meta["_index"]
            if fast and i < admitted and len(meta) == 1 and src is not None and \
                    action in ("index", "create"):
                known = plain.get(name)
                if known is None and name not in self.aliases and not name.startswith("<"):
                    idx = self.indices.get(name)
                    if idx is not None:
                        known = plain[name] = (idx, dumps(name))
                body = src.strip()
                if known is not None and body[:1] == b"{" and body[-1:] == b"}":
                    idx = known[0]
                    idx.seq += 1
                    idx.count += 1
                    indexed[name] = indexed.get(name, 0) + 1
                    by_status["201"] = by_status.get("201", 0) + 1
                    by_action[action] = by_action.get(action, 0) + 1
                    items.append((action, name, known[1], ids.pop(), idx.seq))
                    if lag:
                        self.lag_note(src, accepted)
                    continue
            _id = meta.get("_id")
            if _id is None and action in ("index", "create"):
                _id = ids.pop()
            if name.startswith("<"):
                name = resolve_date_math(name)
            if i < admitted and i in forced:
                r = forced[i]
                rejected["injected_items"] += 1
                item = self._injected(name, _id, r["status"], r["type"], r["reason"], compat7)
            else:
                item = self._one(i, action, meta, name, _id, src, upd, admitted, nth, rules,
                                 parse_source, store, compat7, rejected, indexed)
            st = item["status"]
            if "error" in item:
                any_error = True
            elif lag and 200 <= st < 300 and action in ("index", "create"):
                self.lag_note(src, accepted)
            k = str(st)
            by_status[k] = by_status.get(k, 0) + 1
            by_action[action] = by_action.get(action, 0) + 1
            items.append({action: item})
        item_stats["total"] += n
        self.journal_sync()
        return items, any_error

    def _item_status_plan(self, n):
        """{position: rule} for this bulk request from the item_status rules (first rule
        wins); consumes one use of each rule limited by `requests`."""
        rules = self.config["item_status"]
        if not rules:
            return {}
        plan = {}
        for r in rules:
            if r["requests"] is not None:
                if r["requests"] <= 0:
                    continue
                r["requests"] -= 1
            if r["positions"] is not None:
                hit = [p for p in r["positions"] if p < n]
            else:
                hit = [i for i in range(n) if r["rng"].random() < r["fraction"]]
            for p in hit:
                plan.setdefault(p, r)
        if all(r["requests"] == 0 for r in rules):
            self.config["item_status"] = None
        return plan

    def _take_conn_fault(self, k, endpoint):
        """True when fault `k` (hang/reset) applies to this request; consumes one count."""
        f = self.config[k]
        if f is None or (f["scope"] == "bulk" and endpoint != "bulk"):
            return None
        with self.lock:
            f = self.config[k]
            if f is None:
                return None
            if f["count"] is not None:
                if f["count"] <= 0:
                    return None
                f["count"] -= 1
                if f["count"] == 0:
                    self.config[k] = None
            self.st["rejected"]["hung" if k == "hang" else "reset"] += 1
            return dict(f)

    def _fail(self, name, _id, status, etype, reason, compat7, extra=None):
        err = {"type": etype, "reason": reason}
        if extra:
            err.update(extra)
        item = {"_index": name}
        if compat7:
            item["_type"] = "_doc"
        item["_id"] = _id
        item["status"] = status
        item["error"] = err
        return item

    @staticmethod
    def _ok(name, _id, version, result, seq, status, compat7, shards=SHARDS_OK):
        if compat7:
            return {"_index": name, "_type": "_doc", "_id": _id, "_version": version,
                    "result": result, "_shards": shards, "_seq_no": seq,
                    "_primary_term": 1, "status": status}
        return {"_index": name, "_id": _id, "_version": version, "result": result,
                "_shards": shards, "_seq_no": seq, "_primary_term": 1, "status": status}

    def _one(self, i, action, meta, name, _id, src, upd, admitted, nth, rules, parse_source,
             store, compat7, rejected, indexed):
        # 1. capacity
        if i >= admitted:
            rejected["capacity_items"] += 1
            return self._fail(name, _id, 429, "es_rejected_execution_exception",
                              "rejected execution of primary operation [emulated capacity of "
                              "%s events/s exceeded]" % self.config["capacity"], compat7)
        # 2. every n-th item
        if nth is not None:
            self.nth_counter += 1
            if self.nth_counter % nth["n"] == 0:
                rejected["injected_items"] += 1
                return self._injected(name, _id, nth["status"], None, None, compat7)
        # 3. resolve the target index
        target, err = self.write_target(name)
        if err:
            return self._fail(name, _id, 400, "illegal_argument_exception", err, compat7)
        if meta.get("require_alias") and name not in self.aliases:
            return self._fail(name, _id, 404, "index_not_found_exception",
                              "no such index [%s] and [require_alias] request flag is [true] "
                              "and [%s] is not an alias" % (name, name), compat7,
                              {"index_uuid": "_na_", "index": name})
        bad = None if target in self.indices else validate_index_name(target)
        if bad:
            return self._fail(target, _id, 400, "invalid_index_name_exception", bad, compat7,
                              {"index_uuid": "_na_", "index": target})
        pipeline = meta.get("pipeline")
        if pipeline is not None and pipeline != "_none" and pipeline not in self.pipelines:
            return self._fail(target, _id, 400, "illegal_argument_exception",
                              "pipeline with id [%s] does not exist" % pipeline, compat7)
        # 4. the source must be one JSON object
        text = None
        doc = None
        if src is not None and action != "update":
            if parse_source or rules:
                try:
                    text = src.decode("utf-8")
                except UnicodeDecodeError as e:
                    return self._parse_fail(target, _id, "[1:%d] failed to parse: Invalid UTF-8 "
                                            "byte at offset %d" % (e.start + 1, e.start),
                                            compat7)
                try:
                    doc = strict_loads(text) if parse_source else json.loads(text)
                except (ValueError, RecursionError) as e:
                    col = getattr(e, "colno", 1) or 1
                    msg = getattr(e, "msg", str(e))
                    if not text.strip():
                        msg = "Document source is empty"
                    return self._parse_fail(target, _id, "[1:%d] failed to parse: %s" % (col, msg),
                                            compat7)
                if not isinstance(doc, dict):
                    return self._parse_fail(
                        target, _id, "[1:1] failed to parse: Malformed content, expected "
                        "START_OBJECT but found [%s]" % token_name(doc), compat7)
                if "" in doc:
                    return self._parse_fail(target, _id, "[1:2] failed to parse: field name "
                                            "cannot be an empty string", compat7)
            else:
                text = src.decode("utf-8", "surrogateescape")
                s = text.strip()
                if not (s.startswith("{") and s.endswith("}")):
                    return self._parse_fail(target, _id, "[1:1] failed to parse: Malformed "
                                            "content, expected START_OBJECT", compat7)
        elif upd is not None:
            doc = upd.get("doc") or upd.get("upsert")
        # 5. per-field injection
        if rules and isinstance(doc, dict):
            for rule in rules:
                if rule["count"] is not None and rule["count"] <= 0:
                    continue
                found, v = get_field(doc, rule["field"])
                if not found:
                    continue
                vals = v if isinstance(v, list) else [v]
                if any(not isinstance(x, (dict, list)) and value_text(x) in rule["texts"]
                       for x in vals):
                    if rule["count"] is not None:
                        rule["count"] -= 1
                    rejected["injected_items"] += 1
                    return self._injected(target, _id, rule["status"], rule["type"],
                                          rule["reason"], compat7)
        # 6. apply
        idx = self.indices.get(target)
        if idx is None:
            if target in self.aliases:
                return self._fail(target, _id, 400, "illegal_argument_exception",
                                  "no write index is defined for alias [%s]" % target, compat7)
            if action == "delete":
                return self._fail(target, _id, 404, "index_not_found_exception",
                                  "no such index [%s]" % target, compat7,
                                  {"resource.type": "index_expression", "resource.id": target,
                                   "index_uuid": "_na_", "index": target})
            idx = self.create_index(target)
        if action == "delete":
            cur = idx.docs.get(_id) if store else None
            idx.seq += 1
            conflict = self._check_cc(idx, _id, cur, meta, compat7)
            if conflict:
                return conflict
            if cur is None or cur[2] is None:
                version = (cur[0] + 1) if cur else 1
                if store:
                    idx.docs[_id] = [version, idx.seq, None]
                    self.journal_doc(target, _id, version, idx.seq, None, False)
                return self._ok(target, _id, version, "not_found", idx.seq, 404, compat7)
            cur[0] += 1
            cur[1] = idx.seq
            cur[2] = None
            idx.count -= 1
            self.journal_doc(target, _id, cur[0], idx.seq, None, False)
            return self._ok(target, _id, cur[0], "deleted", idx.seq, 200, compat7)
        cur = idx.docs.get(_id) if store else None
        live = cur is not None and cur[2] is not None
        conflict = self._check_cc(idx, _id, cur if live else None, meta, compat7)
        if conflict:
            return conflict
        if action == "create" and live:
            return self._fail(target, _id, 409, "version_conflict_engine_exception",
                              "[%s]: version conflict, document already exists (current "
                              "version [%d])" % (_id, cur[0]), compat7,
                              {"index_uuid": idx.uuid, "shard": "0", "index": target})
        if action == "update":
            if upd.get("script") is not None:
                return self._fail(target, _id, 400, "illegal_argument_exception",
                                  "scripted updates are not supported by this emulator", compat7)
            if not live:
                if upd.get("doc_as_upsert") and upd.get("doc") is not None:
                    new = upd["doc"]
                elif upd.get("upsert") is not None:
                    new = upd["upsert"]
                else:
                    return self._fail(target, _id, 404, "document_missing_exception",
                                      "[%s]: document missing" % _id, compat7,
                                      {"index_uuid": idx.uuid, "shard": "0", "index": target})
                text = dumps(new)
            else:
                old = json.loads(cur[2])
                changed = deep_merge(old, upd.get("doc") or {})
                if not changed and upd.get("detect_noop", True):
                    indexed[target] = indexed.get(target, 0)
                    return self._ok(target, _id, cur[0], "noop", cur[1], 200, compat7,
                                    SHARDS_NOOP)
                text = dumps(old)
        vt = meta.get("version_type")
        if vt in ("external", "external_gte") and meta.get("version") is not None:
            version = meta["version"]
            if live and (version < cur[0] or (vt == "external" and version == cur[0])):
                return self._fail(target, _id, 409, "version_conflict_engine_exception",
                                  "[%s]: version conflict, current version [%d] is higher or "
                                  "equal to the one provided [%d]" % (_id, cur[0], version),
                                  compat7, {"index_uuid": idx.uuid, "shard": "0",
                                            "index": target})
        else:
            version = (cur[0] + 1) if cur else 1
        idx.seq += 1
        if store:
            if cur is None:
                idx.docs[_id] = [version, idx.seq, text]
            else:
                cur[0], cur[1], cur[2] = version, idx.seq, text
            self.journal_doc(target, _id, version, idx.seq, text, action != "update")
        if not live:
            idx.count += 1
        indexed[target] = indexed.get(target, 0) + 1
        if store and action != "update":
            self.received.append((target, _id, text))
        if live:
            return self._ok(target, _id, version, "updated", idx.seq, 200, compat7)
        return self._ok(target, _id, version, "created", idx.seq, 201, compat7)

    def _check_cc(self, idx, _id, cur, meta, compat7):
        sq, pt = meta.get("if_seq_no"), meta.get("if_primary_term")
        if sq is None and pt is None:
            return None
        if cur is None or cur[2] is None:
            reason = ("[%s]: version conflict, required seqNo [%s], primary term [%s] but no "
                      "document was found" % (_id, sq, pt))
        elif cur[1] != sq or pt != 1:
            reason = ("[%s]: version conflict, required seqNo [%s], primary term [%s]. current "
                      "document has seqNo [%d] and primary term [1]" % (_id, sq, pt, cur[1]))
        else:
            return None
        return self._fail(idx.name, _id, 409, "version_conflict_engine_exception", reason,
                          compat7, {"index_uuid": idx.uuid, "shard": "0", "index": idx.name})

    def _parse_fail(self, name, _id, reason, compat7):
        return self._fail(name, _id, 400, "document_parsing_exception", reason, compat7)

    def _injected(self, name, _id, status, etype, reason, compat7):
        defaults = {
            400: ("document_parsing_exception", "[1:1] failed to parse: injected by emulator"),
            404: ("document_missing_exception", "[%s]: document missing" % _id),
            409: ("version_conflict_engine_exception",
                  "[%s]: version conflict, injected by emulator" % _id),
            429: ("es_rejected_execution_exception",
                  "rejected execution of primary operation [injected by emulator]"),
            503: ("unavailable_shards_exception",
                  "[%s][0] primary shard is not active Timeout: [1m]" % name),
        }
        dt, dr = defaults.get(status, ("exception", "injected failure (status %d)" % status))
        return self._fail(name, _id, status, etype or dt, reason or dr, compat7)


# ---------------------------------------------------------------------------------------------
# HTTP

class BodyTooLarge(Exception):
    pass


class BadBody(Exception):
    pass


def gunzip(data, limit):
    out = []
    total = 0
    while data:
        d = zlib.decompressobj(wbits=47)      # gzip or zlib, auto-detected
        chunk = d.decompress(data, limit + 1 - total)
        total += len(chunk)
        out.append(chunk)
        if total > limit:
            raise BodyTooLarge()
        if d.unconsumed_tail:
            raise BodyTooLarge()
        if not d.eof:
            raise BadBody("truncated gzip body")
        data = d.unused_data
    return b"".join(out)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "es-emulator"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 600
    emu = None          # set on the subclass

    def log_message(self, fmt, *args):
        if self.emu.args.verbose:
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))
            sys.stderr.flush()

    def send_error(self, code, message=None, explain=None):
        # Malformed request lines and headers: ES-style document, then close.
        self.close_connection = True
        body = dumps({"error": {"root_cause": [{"type": "illegal_argument_exception",
                                                "reason": message or "bad request"}],
                                "type": "illegal_argument_exception",
                                "reason": message or "bad request"}, "status": code}).encode()
        product = "X-Elastic-Product: Elasticsearch\r\n" if self.emu.product_header else ""
        try:
            self.wfile.write(("HTTP/1.1 %d %s\r\n%scontent-type: %s\r\ncontent-length: %d\r\n"
                              "connection: close\r\n\r\n" % (code, self.responses.get(
                                  code, ("Error",))[0], product, self.emu.json_ctype,
                                  len(body))).encode() + body)
        except OSError:
            pass

    def handle_expect_100(self):
        # Refuse an oversized body before the client sends it, as ES does.
        cl = (self.headers.get("Content-Length") or "").strip()
        if cl.isdigit() and int(cl) > self.emu.args.max_body_bytes:
            self.close_connection = True
            self.extra_headers = []
            self.qs = {}
            self.pretty = False
            self.respond(413, ESError(413, "content_too_long_exception",
                                      "request body is too large, limit is [%d] bytes"
                                      % self.emu.args.max_body_bytes).document())
            return False
        return super().handle_expect_100()

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    # -- request plumbing ---------------------------------------------------------------------

    def read_body(self):
        limit = self.emu.args.max_body_bytes
        te = self.headers.get("Transfer-Encoding")
        if te is not None and "chunked" in te.lower():
            parts = []
            total = 0
            while True:
                line = self.rfile.readline(65537)
                if not line.endswith(b"\n"):
                    raise BadBody("malformed chunked body")
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise BadBody("malformed chunk size")
                if size < 0:
                    raise BadBody("malformed chunk size")
                if size == 0:
                    while True:
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                total += size
                if total > limit:
                    raise BodyTooLarge()
                data = self.rfile.read(size)
                if len(data) != size:
                    raise BadBody("truncated chunk")
                parts.append(data)
                if self.rfile.readline(65537).strip():
                    raise BadBody("missing CRLF after chunk")
            return b"".join(parts)
        cls = self.headers.get_all("Content-Length") or []
        if not cls:
            return b""
        if len(set(c.strip() for c in cls)) != 1 or not cls[0].strip().isdigit():
            raise BadBody("invalid Content-Length")
        n = int(cls[0])
        if n > limit:
            raise BodyTooLarge()
        data = self.rfile.read(n)
        if len(data) != n:
            raise BadBody("truncated body")
        return data

    def dispatch(self):
        emu = self.emu
        t0 = time.monotonic()
        self.extra_headers = []
        self.resp_ctype = emu.json_ctype
        self.compat = None if emu.opensearch else emu.major
        parts = urlsplit(self.path)
        self.qs = dict(parse_qsl(parts.query, keep_blank_values=True))
        segs = [unquote(s) for s in parts.path.split("/") if s]
        is_control = bool(segs) and segs[0] == "_emulator"
        raw = b""
        body = b""
        status = 500
        endpoint = "other"
        self.pretty = "pretty" in self.qs and self.qs["pretty"] != "false"
        try:
            try:
                raw = self.read_body()
                enc = (self.headers.get("Content-Encoding") or "").strip().lower()
                if enc in ("gzip", "x-gzip", "deflate") and raw:
                    try:
                        body = gunzip(raw, emu.args.max_body_bytes)
                    except zlib.error as e:
                        raise BadBody("failed to decompress request body: %s" % e)
                else:
                    body = raw
            except BodyTooLarge:
                self.close_connection = True
                raise ESError(413, "content_too_long_exception",
                              "request body is too large, limit is [%d] bytes"
                              % emu.args.max_body_bytes)
            except BadBody as e:
                self.close_connection = True
                raise bad_request(str(e), "parse_exception")
            self.body = body
            if is_control:
                status, payload = self.control(segs[1:])
            else:
                endpoint = self.endpoint_name(segs)
                if emu._take_conn_fault("reset", endpoint):
                    self.reset_connection()
                    return
                hang = emu._take_conn_fault("hang", endpoint)
                if hang and not self.hang(hang["seconds"]):
                    return
                t0 = time.monotonic()
                self.negotiate(bool(raw))
                rw = emu.config["reject_whole"]
                if rw is not None and (rw["scope"] == "all" or endpoint == "bulk"):
                    self.maybe_reject_whole(rw)
                if body and endpoint != "bulk":
                    self.check_content_type(bulk=False)
                status, payload = self.route(segs)
        except ESError as e:
            status, payload = e.status, e.document()
            self.extra_headers.extend(e.headers)
        except Exception as e:          # a bug here must not take the server down
            traceback.print_exc(file=sys.stderr)
            status, payload = 500, ESError(500, "exception", "emulator internal error: %r"
                                           % (e,)).document()
        if not is_control:
            lat = emu.config["latency_ms"]
            if lat:
                rest = lat / 1000.0 - (time.monotonic() - t0)
                if rest > 0:
                    time.sleep(rest)
        if not is_control:
            # Counted and recorded before the answer leaves, so that a client reading the
            # stats or the record file right after its response sees its own request.
            emu.count_request(endpoint, status, len(raw), len(body))
            if emu.record_file is not None:
                hdrs = {}
                for k, v in self.headers.items():
                    k = k.lower()
                    hdrs[k] = hdrs[k] + ", " + v if k in hdrs else v
                emu.record({"ts": round(time.time(), 6), "method": self.command,
                            "path": parts.path, "query": parts.query, "headers": hdrs,
                            "body": body.decode("utf-8", "surrogateescape"),
                            "body_bytes": len(raw), "status": status})
        self.respond(status, payload)

    def reset_connection(self):
        """Close the connection without answering (RST, as a crashed node would)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass

    def hang(self, seconds):
        """Hold the request unanswered for `seconds` (None: for as long as the client waits).
        Returns True to go on and answer it, False when the client went away first (then the
        request is not executed, recorded or counted)."""
        end = None if seconds is None else time.monotonic() + seconds
        sock = self.connection
        while end is None or time.monotonic() < end:
            wait = 0.05 if end is None else max(0.0, min(0.05, end - time.monotonic()))
            try:
                r, _, _ = select.select([sock], [], [], wait)
                if r:
                    if not sock.recv(1, socket.MSG_PEEK):
                        self.close_connection = True
                        return False
                    time.sleep(wait)        # a pipelined request waits its turn
            except (OSError, ValueError):
                self.close_connection = True
                return False
        return True

    def maybe_reject_whole(self, rw):
        emu = self.emu
        with emu.lock:
            if rw["count"] is not None:
                if rw["count"] <= 0:
                    return
                rw["count"] -= 1
                if rw["count"] == 0:
                    emu.config["reject_whole"] = None
            emu.st["rejected"]["injected_whole"] += 1
        status = rw["status"]
        ra = rw["retry_after"] if rw["retry_after"] is not None else emu.config["retry_after"]
        headers = [("Retry-After", str(int(ra)))] if ra is not None else []
        if status == 429:
            raise ESError(429, "es_rejected_execution_exception",
                          "rejected execution of coordinating operation [injected by emulator]",
                          headers=headers)
        if status == 503:
            raise ESError(503, "cluster_block_exception",
                          "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / "
                          "initialized];", headers=headers)
        raise ESError(status, "exception", "injected failure (status %d)" % status,
                      headers=headers)

    def negotiate(self, has_content):
        """What Elasticsearch's RestRequest does with Accept and Content-Type before any
        handler runs: parse both (ParsedMediaType), then check their compatible-with versions
        (RestCompatibleVersionHelper): a server of major N takes N and N-1, and with a body
        both headers must ask for the same one or neither.  Sets self.compat (the REST API
        version the request is served as) and self.resp_ctype (the answer's Content-Type: the
        vendor type when the client asked for one).  Raises 400 media_type_header_exception
        worded as Elasticsearch words it.  OpenSearch has no compatible-with: nothing here."""
        emu = self.emu
        if emu.opensearch:
            return
        parsed = {}
        raw = {}
        for name in ("Accept", "Content-Type"):
            vals = self.headers.get_all(name) or []
            if len(vals) > 1:
                raise media_type_error([name], "illegal_argument_exception",
                                       "Incorrect header [%s]. Only one value should be "
                                       "provided" % name)
            v = vals[0] if vals and vals[0].strip() else None
            raw[name] = v
            try:
                parsed[name] = parse_media_type(v)
            except ValueError as e:
                raise media_type_error([name], "illegal_argument_exception", str(e))

        def version(name):
            pm = parsed[name]
            v = dict(pm[1]).get("compatible-with") if pm else None
            if v is None:
                return None
            if not re.fullmatch(r"[+-]?\d{1,3}", v) or not -128 <= int(v) <= 127:
                raise media_type_error(["Accept", "Content-Type"], "number_format_exception",
                                       'For input string: "%s"' % v)
            return int(v)

        a, c = version("Accept"), version("Content-Type")
        cur = emu.major
        low = cur - 1
        av = cur if a is None else a
        cv = cur if c is None else c
        sa = raw["Accept"] if parsed["Accept"] else "null"
        sc = raw["Content-Type"] if parsed["Content-Type"] else "null"

        def refuse(reason):
            raise media_type_error(["Accept", "Content-Type"], "status_exception", reason)

        if not low <= av <= cur:
            refuse("Accept version must be either version %d or %d, but found %d. Accept=%s"
                   % (cur, low, av, sa))
        compat = av
        if has_content:
            if not low <= cv <= cur:
                refuse("Content-Type version must be either version %d or %d, but found %d. "
                       "Content-Type=%s" % (cur, low, cv, sc))
            if cv != av:
                refuse("A compatible version is required on both Content-Type and Accept "
                       "headers if either one has requested a compatible version and the "
                       "compatible versions must match. Accept=%s, Content-Type=%s" % (sa, sc))
            if (a is None) != (c is None):
                refuse("A compatible version is required on both Content-Type and Accept "
                       "headers if either one has requested a compatible version. "
                       "Accept=%s, Content-Type=%s" % (sa, sc))
            compat = cv
        self.compat = compat
        # The answer's type: Accept's when it names one Elasticsearch writes (the vendor
        # types map to vendor JSON, with Accept's parameters), else the request body's.
        acc, ct = parsed["Accept"], parsed["Content-Type"]
        vendor = (VENDOR_PREFIX + "json", VENDOR_PREFIX + "x-ndjson")
        if acc is not None and acc[0] in vendor and re.fullmatch(
                r"\d+", dict(acc[1]).get("compatible-with", "0")):
            self.resp_ctype = VENDOR_PREFIX + "json" + "".join(
                ";%s=%s" % kv for kv in acc[1])
        elif (acc is None or acc[0] not in BULK_MEDIA_TYPES) and ct is not None \
                and ct[0] in vendor and c is not None:
            self.resp_ctype = VENDOR_PREFIX + "json;compatible-with=%d" % c

    def check_content_type(self, bulk):
        """A body's Content-Type must be one Elasticsearch reads: 406 otherwise, as ES
        answers.  Returns the compatible-with version the request is served as (see
        negotiate(); None for OpenSearch)."""
        ct = self.headers.get("Content-Type")
        if ct is None or not ct.strip():
            raise ESError(406, None, "Content-Type header is missing", plain=True)
        mt = ct.split(";")[0].strip().lower()
        ok = BULK_MEDIA_TYPES
        if self.emu.opensearch:
            ok = {t for t in ok if not t.startswith(VENDOR_PREFIX)}
        if mt not in ok:
            raise ESError(406, None, "Content-Type header [%s] is not supported" % ct,
                          plain=True)
        return self.compat

    def respond(self, status, payload):
        head = self.command == "HEAD"
        ctype = getattr(self, "resp_ctype", None) or self.emu.json_ctype
        if isinstance(payload, tuple):          # (content type, bytes)
            ctype, data = payload
        elif payload is None:
            data = b""
        else:
            fp = self.qs.get("filter_path")
            text = None
            if isinstance(payload, BulkAnswer):
                if not self.pretty:
                    text = payload.filtered_text(fp) if fp else payload.text()
                if text is None:
                    payload = payload.document()
            if text is not None:
                data = text.encode()
            else:
                if fp and isinstance(payload, (dict, list)):
                    payload = apply_filter_path(payload, fp)
                if self.pretty:
                    data = (json.dumps(payload, indent=2, ensure_ascii=False) + "\n").encode()
                else:
                    data = dumps(payload).encode()
        hdrs = ["HTTP/1.1 %d %s" % (status, self.responses.get(status, ("Unknown",))[0])]
        if self.emu.product_header:
            hdrs.append("X-Elastic-Product: Elasticsearch")
        hdrs.append("content-type: " + ctype)
        ae = (self.headers.get("Accept-Encoding") or "").lower()
        if data and not head and "gzip" in ae and len(data) > 64:
            data = gzip.compress(data, 1)
            hdrs.append("content-encoding: gzip")
        hdrs.append("content-length: %d" % len(data))
        for k, v in self.extra_headers:
            hdrs.append("%s: %s" % (k, v))
        if self.close_connection:
            hdrs.append("connection: close")
        out = ("\r\n".join(hdrs) + "\r\n\r\n").encode("latin-1")
        if not head:
            out += data
        try:
            self.wfile.write(out)
        except OSError:
            self.close_connection = True
        if self.emu.args.verbose:
            self.log_request(status, len(data))

    @staticmethod
    def endpoint_name(segs):
        if not segs:
            return "root"
        if segs[-1] == "_bulk":
            return "bulk"
        for s in segs:
            if s.startswith("_"):
                return s[1:]
        return "index"

    def json_body(self, required=False):
        if not self.body.strip():
            if required:
                raise ESError(400, "parse_exception", "request body is required")
            return {}
        try:
            v = strict_loads(self.body)
        except (ValueError, RecursionError) as e:
            raise ESError(400, "x_content_parse_exception", "[%d:%d] %s" % (
                getattr(e, "lineno", 1) or 1, getattr(e, "colno", 1) or 1,
                getattr(e, "msg", str(e))))
        if not isinstance(v, dict):
            raise ESError(400, "parse_exception", "request body must be a JSON object")
        return v

    # -- routing ------------------------------------------------------------------------------

    def no_handler(self):
        raise ESError(400, None, "no handler found for uri [%s] and method [%s]" % (
            self.path, self.command), plain=True)

    def wrong_method(self, allowed):
        raise ESError(405, None, "Incorrect HTTP method for uri [%s] and method [%s], allowed: "
                      "[%s]" % (self.path, self.command, ", ".join(allowed)), plain=True,
                      headers=[("Allow", ",".join(allowed))])

    def route(self, segs):
        m = self.command
        n = len(segs)
        emu = self.emu
        if n == 0:
            if m in ("GET", "HEAD"):
                return 200, self.root_doc()
            self.wrong_method(["GET", "HEAD"])
        s0 = segs[0]
        if segs[-1] == "_bulk" and n <= 2:
            if m not in ("POST", "PUT"):
                self.wrong_method(["POST", "PUT"])
            return self.bulk(segs[0] if n == 2 else None)
        if s0 in ("_license", "_xpack") and emu.opensearch:
            self.no_handler()           # no X-Pack in OpenSearch
        if s0 == "_license" and n == 1:
            return 200, self.license_doc()
        if s0 == "_xpack" and n == 1:
            return 200, {"build": {"hash": "0" * 40, "date": "2023-12-08T10:53:52.354Z"},
                         "license": self.license_doc()["license"],
                         "features": {k: {"available": True, "enabled": True} for k in
                                      ("ilm", "security", "monitoring", "ml", "watcher")}}
        if s0 == "_nodes":
            return 200, self.nodes_doc()
        if s0 == "_cluster" and n >= 2 and segs[1] == "health":
            return 200, self.health_doc(segs[2] if n > 2 else None)
        if s0 in ("_index_template", "_template", "_component_template") and n <= 2:
            return self.templates(s0, segs[1] if n == 2 else None)
        if s0 == "_ilm":
            if n >= 2 and segs[1] == "policy":
                return self.named(emu.ilm, "policy", segs[2] if n > 2 else None, "ilm")
            if n == 2 and segs[1] == "status":
                return 200, {"operation_mode": "RUNNING"}
            return 200, {"acknowledged": True}
        if s0 == "_ingest" and n >= 2 and segs[1] == "pipeline":
            return self.named(emu.pipelines, "pipeline", segs[2] if n > 2 else None, "pipeline")
        if s0 in ("_alias", "_aliases") and n <= 2:
            if s0 == "_aliases" and n == 1 and m == "POST":
                return self.alias_actions()
            return self.get_aliases(None, segs[1] if n == 2 else None)
        if s0 == "_refresh" or (n == 2 and segs[1] == "_refresh"):
            with emu.lock:
                k = len(emu.resolve_read(None if n == 1 else segs[0]))
            return 200, {"_shards": {"total": 2 * k, "successful": k, "failed": 0}}
        if s0 in ("_count", "_search") and n == 1:
            return self.search(None, s0 == "_count")
        if s0 == "_cat" and n == 2 and segs[1] == "indices":
            return self.cat_indices()
        if s0.startswith("_"):
            self.no_handler()
        # /{index}/...
        if n == 1:
            return self.index_api(s0)
        s1 = segs[1]
        if s1 in ("_count", "_search") and n == 2:
            return self.search(s0, s1 == "_count")
        if s1 in ("_doc", "_create") and n <= 3:
            return self.doc_api(s0, s1, segs[2] if n == 3 else None)
        if s1 in ("_alias", "_aliases") and n <= 3:
            return self.index_alias(s0, segs[2] if n == 3 else None)
        if s1 in ("_mapping", "_settings") and n == 2:
            if m in ("PUT", "POST"):
                return ack()
            with emu.lock:
                idxs = emu.resolve_read(s0)
                key = "mappings" if s1 == "_mapping" else "settings"
                return 200, {i.name: {key: i.mappings if key == "mappings" else
                                      self.settings_of(i)} for i in idxs}
        self.no_handler()

    # -- cluster documents --------------------------------------------------------------------

    def root_doc(self):
        """GET /: what a server of this distribution and major answers (ROOT_BY_MAJOR)."""
        emu = self.emu
        fields = ROOT_BY_MAJOR[(emu.distribution, emu.major)]
        v = {}
        if emu.opensearch:
            v["distribution"] = "opensearch"
        v["number"] = emu.args.es_version
        if not emu.opensearch:
            v["build_flavor"] = "default"
        v.update({"build_type": "tar" if emu.opensearch else "docker",
                  "build_hash": "0" * 40, "build_date": fields["build_date"],
                  "build_snapshot": emu.args.es_version.endswith("-SNAPSHOT"),
                  "lucene_version": LUCENE_BY_MINOR.get(
                      (emu.major, emu.minor), fields["lucene_version"])
                  if not emu.opensearch else fields["lucene_version"],
                  "minimum_wire_compatibility_version":
                      fields["minimum_wire_compatibility_version"],
                  "minimum_index_compatibility_version":
                      fields["minimum_index_compatibility_version"]})
        return {"name": "es-emulator", "cluster_name": emu.args.cluster_name,
                "cluster_uuid": emu.cluster_uuid, "version": v,
                "tagline": OPENSEARCH_TAGLINE if emu.opensearch else ES_TAGLINE}

    def license_doc(self):
        return {"license": {"status": "active", "uid": "00000000-0000-4000-8000-000000000000",
                            "type": "basic", "issue_date": "2024-01-01T00:00:00.000Z",
                            "issue_date_in_millis": 1704067200000, "max_nodes": 1000,
                            "max_resource_units": None, "issued_to": self.emu.args.cluster_name,
                            "issuer": "elasticsearch", "start_date_in_millis": -1}}

    def nodes_doc(self):
        emu = self.emu
        addr = "%s:%d" % (emu.host, emu.port)
        return {"_nodes": {"total": 1, "successful": 1, "failed": 0},
                "cluster_name": emu.args.cluster_name,
                "nodes": {emu.node_id: {
                    "name": "es-emulator", "transport_address": "%s:9300" % emu.host,
                    "host": emu.host, "ip": emu.host, "version": emu.args.es_version,
                    "roles": ["data", "ingest", "master"], "attributes": {},
                    "http": {"bound_address": [addr], "publish_address": addr,
                             "max_content_length_in_bytes": emu.args.max_body_bytes}}}}

    def health_doc(self, index):
        emu = self.emu
        with emu.lock:
            k = len(emu.resolve_read(index, allow_missing=True)) if index else len(emu.indices)
        return {"cluster_name": emu.args.cluster_name, "status": "green", "timed_out": False,
                "number_of_nodes": 1, "number_of_data_nodes": 1, "active_primary_shards": k,
                "active_shards": k, "relocating_shards": 0, "initializing_shards": 0,
                "unassigned_shards": 0, "delayed_unassigned_shards": 0,
                "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0,
                "task_max_waiting_in_queue_millis": 0, "active_shards_percent_as_number": 100.0}

    def templates(self, kind, name):
        emu = self.emu
        attr = TEMPLATE_STORES[kind]
        store = getattr(emu, attr)
        m = self.command
        if m in ("PUT", "POST"):
            if name is None:
                self.wrong_method(["GET", "HEAD"])
            body = self.json_body(required=True)
            with emu.lock:
                if self.qs.get("create") == "true" and name in store:
                    raise bad_request("index template [%s] already exists" % name)
                store[name] = body
                emu.journal({"op": "put", "store": attr, "name": name, "value": body})
            return ack()
        with emu.lock:
            if m == "DELETE":
                if name not in store:
                    raise resource_not_found("index_template matching [%s] not found" % name)
                del store[name]
                emu.journal({"op": "delete", "store": attr, "name": name})
                return ack()
            if name is None:
                names = sorted(store)
            else:
                rxs = [glob_regex(p) for p in name.split(",")]
                names = sorted(k for k in store if any(r.match(k) for r in rxs))
            if not names and name is not None and "*" not in name:
                if m == "HEAD":
                    return 404, None
                if kind == "_template":
                    return 404, {}
                raise resource_not_found("index template matching [%s] not found" % name)
            if m == "HEAD":
                return 200, None
            if kind == "_template":
                return 200, {k: store[k] for k in names}
            key = "index_templates" if kind == "_index_template" else "component_templates"
            inner = "index_template" if kind == "_index_template" else "component_template"
            return 200, {key: [{"name": k, inner: store[k]} for k in names]}

    def named(self, store, what, name, kind):
        """ILM policies and ingest pipelines: PUT/GET/HEAD/DELETE by name."""
        m = self.command
        emu = self.emu
        attr = "ilm" if kind == "ilm" else "pipelines"
        if m in ("PUT", "POST") and name:
            body = self.json_body(required=True)
            with emu.lock:
                prev = store.get(name)
                ver = (prev["version"] + 1) if prev else 1
                store[name] = {"version": ver, "modified_date": now_ms(), "body": body}
                emu.journal({"op": "put", "store": attr, "name": name, "value": store[name]})
            return ack()
        with emu.lock:
            if m == "DELETE":
                if name not in store:
                    raise resource_not_found("%s [%s] not found" % (what, name))
                del store[name]
                emu.journal({"op": "delete", "store": attr, "name": name})
                return ack()
            names = sorted(store) if not name else [k for k in sorted(store) if any(
                glob_regex(p).match(k) for p in name.split(","))]
            if name and not names:
                if m == "HEAD":
                    return 404, None
                if kind == "pipeline":
                    return 404, {}
                raise resource_not_found("Lifecycle policy not found: %s" % name)
            if m == "HEAD":
                return 200, None
            if kind == "pipeline":
                return 200, {k: store[k]["body"] for k in names}
            return 200, {k: {"version": store[k]["version"],
                             "modified_date": datetime.datetime.fromtimestamp(
                                 store[k]["modified_date"] / 1000, datetime.timezone.utc)
                             .strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                             "policy": store[k]["body"].get("policy", store[k]["body"]),
                             "in_use_by": {"indices": [], "data_streams": [],
                                           "composable_templates": []}} for k in names}

    # -- indices and aliases ------------------------------------------------------------------

    def settings_of(self, idx):
        s = {"index": {"number_of_shards": "1", "number_of_replicas": "1",
                       "uuid": idx.uuid, "provided_name": idx.name,
                       "creation_date": str(idx.created),
                       "version": {"created": "8500003"}}}
        for k, v in (idx.settings or {}).items():
            s["index"][k.replace("index.", "", 1)] = v
        return s

    def aliases_of(self, name):
        return {a: dict(members[name]) for a, members in sorted(self.emu.aliases.items())
                if name in members}

    def index_api(self, name):
        emu = self.emu
        m = self.command
        if m == "PUT":
            body = self.json_body()
            real = resolve_date_math(name)
            bad = validate_index_name(real)
            if bad:
                raise ESError(400, "invalid_index_name_exception", bad,
                              {"index_uuid": "_na_", "index": real})
            with emu.lock:
                if real in emu.indices:
                    raise ESError(400, "resource_already_exists_exception",
                                  "index [%s/%s] already exists" % (
                                      real, emu.indices[real].uuid),
                                  {"index_uuid": emu.indices[real].uuid, "index": real})
                if real in emu.aliases:
                    raise ESError(400, "invalid_index_name_exception",
                                  "Invalid index name [%s], already exists as alias" % real,
                                  {"index_uuid": "_na_", "index": real})
                emu.create_index(real, body)
                emu.journal_sync()
            return 200, {"acknowledged": True, "shards_acknowledged": True, "index": real}
        if m == "HEAD":
            with emu.lock:
                try:
                    found = bool(emu.resolve_read(name))
                except ESError:
                    found = False
            return (200 if found else 404), None
        if m == "DELETE":
            with emu.lock:
                idxs = emu.resolve_read(name)
                for i in idxs:
                    del emu.indices[i.name]
                    emu.journal({"op": "delete_index", "index": i.name}, sync=False)
                    for members in emu.aliases.values():
                        members.pop(i.name, None)
                emu.aliases = {a: ms for a, ms in emu.aliases.items() if ms}
                emu.journal_aliases()
            return ack()
        if m == "GET":
            with emu.lock:
                return 200, {i.name: {"aliases": self.aliases_of(i.name),
                                      "mappings": i.mappings, "settings": self.settings_of(i)}
                             for i in emu.resolve_read(name)}
        if m == "POST":
            return self.doc_api(name, "_doc", None)
        self.no_handler()

    def get_aliases(self, index, alias):
        emu = self.emu
        with emu.lock:
            idx_names = None
            if index is not None:
                idx_names = {i.name for i in emu.resolve_read(index)}
            rxs = [glob_regex(a) for a in alias.split(",")] if alias else None
            out = {}
            for a, members in sorted(emu.aliases.items()):
                if rxs and not any(r.match(a) for r in rxs):
                    continue
                for iname, props in members.items():
                    if idx_names is not None and iname not in idx_names:
                        continue
                    out.setdefault(iname, {"aliases": {}})["aliases"][a] = dict(props)
            if alias is None and index is not None:
                for iname in idx_names:
                    out.setdefault(iname, {"aliases": {}})
        if self.command == "HEAD":
            return (200 if out else 404), None
        if alias and not out and "*" not in alias:
            return 404, {"error": "alias [%s] missing" % alias, "status": 404}
        return 200, out

    def index_alias(self, index, alias):
        emu = self.emu
        m = self.command
        if m in ("PUT", "POST"):
            if alias is None:
                self.no_handler()
            body = self.json_body()
            with emu.lock:
                idxs = emu.resolve_read(index)
                for i in idxs:
                    emu.aliases.setdefault(alias, {})[i.name] = body
                emu.journal_aliases()
            return ack()
        if m == "DELETE":
            with emu.lock:
                idxs = emu.resolve_read(index)
                members = emu.aliases.get(alias or "", {})
                if not any(i.name in members for i in idxs):
                    raise ESError(404, "aliases_not_found_exception",
                                  "aliases [%s] missing" % alias)
                for i in idxs:
                    members.pop(i.name, None)
                if not members:
                    emu.aliases.pop(alias, None)
                emu.journal_aliases()
            return ack()
        return self.get_aliases(index, alias)

    def alias_actions(self):
        emu = self.emu
        body = self.json_body(required=True)
        actions = body.get("actions")
        if not isinstance(actions, list):
            raise bad_request("[aliases] requires [actions]")
        with emu.lock:
            try:
                for a in actions:
                    if not isinstance(a, dict) or len(a) != 1:
                        raise bad_request("[aliases] malformed action")
                    (kind, spec), = a.items()
                    if not isinstance(spec, dict):
                        raise bad_request("[aliases] malformed action")
                    inds = spec.get("indices") or [spec.get("index")]
                    als = spec.get("aliases") or [spec.get("alias")]
                    for iexpr in inds:
                        for i in emu.resolve_read(iexpr):
                            for al in als:
                                if kind == "add":
                                    props = {k: v for k, v in spec.items()
                                             if k not in ("index", "indices", "alias", "aliases")}
                                    emu.aliases.setdefault(al, {})[i.name] = props
                                elif kind == "remove":
                                    emu.aliases.get(al, {}).pop(i.name, None)
                                elif kind == "remove_index":
                                    del emu.indices[i.name]
                                    emu.journal({"op": "delete_index", "index": i.name},
                                                sync=False)
                                else:
                                    raise bad_request("[aliases] unknown action [%s]" % kind)
                emu.aliases = {a: ms for a, ms in emu.aliases.items() if ms}
            finally:          # what was done before an error stays done
                emu.journal_aliases()
        return ack()

    def cat_indices(self):
        emu = self.emu
        with emu.lock:
            rows = [{"health": "green", "status": "open", "index": i.name, "uuid": i.uuid,
                     "pri": "1", "rep": "1", "docs.count": str(i.count), "docs.deleted": "0"}
                    for i in sorted(emu.indices.values(), key=lambda i: i.name)]
        if self.qs.get("format") == "json":
            return 200, rows
        text = "".join(" ".join(r.values()) + "\n" for r in rows)
        return 200, ("text/plain; charset=UTF-8", text.encode())

    # -- documents ----------------------------------------------------------------------------

    def doc_api(self, index, kind, _id):
        emu = self.emu
        m = self.command
        if m in ("GET", "HEAD"):
            if _id is None or kind != "_doc":
                self.no_handler()
            with emu.lock:
                target = index
                if index in emu.aliases:
                    target, err = emu.write_target(index)
                    if err:
                        raise bad_request(err)
                idx = emu.indices.get(target)
                if idx is None:
                    raise index_not_found(index)
                cur = idx.docs.get(_id)
                if cur is None or cur[2] is None:
                    return 404, ({"_index": target, "_id": _id, "found": False}
                                 if m == "GET" else None)
                doc = {"_index": target, "_id": _id, "_version": cur[0], "_seq_no": cur[1],
                       "_primary_term": 1, "found": True, "_source": self.source_obj(cur[2])}
            return 200, (doc if m == "GET" else None)
        if m == "DELETE":
            if _id is None:
                self.no_handler()
            action = "delete"
            src = None
        else:
            action = "create" if (kind == "_create" or self.qs.get("op_type") == "create") \
                else "index"
            src = self.body.strip(b"\r\n")
            if b"\n" in src:
                src = dumps(self.json_body(required=True)).encode()
        meta = {"_index": index}
        if _id is not None:
            meta["_id"] = _id
        for k in ("routing", "pipeline", "version_type"):
            if k in self.qs:
                meta[k] = self.qs[k]
        for k in ("version", "if_seq_no", "if_primary_term"):
            if k in self.qs:
                try:
                    meta[k] = int(self.qs[k])
                except ValueError:
                    raise bad_request("[%s] must be a number" % k)
        with emu.lock:
            items, _ = emu.run_bulk([[action, meta, src, None]], False)
        item = items[0][action]
        if "error" in item:
            err = dict(item["error"])
            return item["status"], {"error": {"root_cause": [err], **err},
                                    "status": item["status"]}
        item = dict(item)
        st = item.pop("status")
        return st, item

    @staticmethod
    def source_obj(text):
        try:
            return json.loads(text)
        except ValueError:
            return text

    def search(self, index, count_only):
        emu = self.emu
        body = self.json_body()
        q = body.get("query") or {"match_all": {}}
        size = body.get("size", self.qs.get("size", 10))
        frm = body.get("from", self.qs.get("from", 0))
        try:
            size, frm = int(size), int(frm)
        except (TypeError, ValueError):
            raise bad_request("[size] and [from] must be numbers")
        matcher = self.query_matcher(q)
        with emu.lock:
            idxs = emu.resolve_read(index)
            hits = []
            total = 0
            for idx in idxs:
                if count_only and matcher is None:
                    total += idx.count
                    continue
                for _id, (ver, seq, text) in idx.docs.items():
                    if text is None:
                        continue
                    if matcher is not None:
                        src = self.source_obj(text)
                        if not (isinstance(src, dict) and matcher(src)):
                            continue
                    total += 1
                    if not count_only and frm < total <= frm + size:
                        hits.append((idx.name, _id, ver, seq, text))
        shards = {"total": len(idxs), "successful": len(idxs), "skipped": 0, "failed": 0}
        if count_only:
            return 200, {"count": total, "_shards": shards}
        return 200, {"took": 1, "timed_out": False, "_shards": shards,
                     "hits": {"total": {"value": total, "relation": "eq"},
                              "max_score": 1.0 if hits else None,
                              "hits": [{"_index": i, "_id": d, "_score": 1.0,
                                        "_source": self.source_obj(t)}
                                       for i, d, v, s, t in hits]}}

    def query_matcher(self, q):
        """match_all, or term/match on one field (exact text match); None = everything."""
        if not isinstance(q, dict) or len(q) != 1:
            raise ESError(400, "parsing_exception", "query malformed, must be one object")
        (kind, spec), = q.items()
        if kind == "match_all":
            return None
        if kind in ("term", "match", "match_phrase") and isinstance(spec, dict) and len(spec) == 1:
            (field, want), = spec.items()
            if isinstance(want, dict):
                want = want.get("value", want.get("query"))
            want = value_text(want)

            def match(doc):
                found, v = get_field(doc, field)
                vals = v if isinstance(v, list) else [v]
                return found and any(value_text(x) == want for x in vals
                                     if not isinstance(x, (dict, list)))
            return match
        raise ESError(400, "parsing_exception", "unknown query [%s] (emulator supports "
                      "match_all, term, match)" % kind)

    # -- bulk ---------------------------------------------------------------------------------

    def bulk(self, index):
        emu = self.emu
        t0 = time.monotonic()
        for k in self.qs:
            if k not in BULK_QUERY_PARAMS:
                raise bad_request("request [%s] contains unrecognized parameter: [%s]" % (
                    urlsplit(self.path).path, k))
        compat = self.check_content_type(bulk=True)
        compat7 = compat is not None and compat <= 7       # items carry _type: _doc
        ops = emu.parse_bulk(self.body, index, compat7, self.qs)
        cfg = emu.config
        with emu.lock:
            if cfg["capacity"] is not None and cfg["capacity_mode"] == "whole":
                if emu._tokens_now() < 1:
                    emu.st["rejected"]["capacity_whole"] += 1
                    ra = cfg["retry_after"]
                    raise ESError(429, "es_rejected_execution_exception",
                                  "rejected execution of coordinating operation [emulated "
                                  "capacity of %s events/s exceeded]" % cfg["capacity"],
                                  headers=[("Retry-After", str(int(ra)))] if ra is not None
                                  else [])
            items, errors = emu.run_bulk(ops, compat7, compact=True)
        took = int((time.monotonic() - t0) * 1000)
        return 200, BulkAnswer(errors, took, items)

    # -- control API --------------------------------------------------------------------------

    def control(self, segs):
        emu = self.emu
        m = self.command
        what = segs[0] if segs else ""
        if what == "config" and len(segs) == 1:
            if m in ("POST", "PUT"):
                body = self.json_body(required=True)
                with emu.lock:
                    emu.apply_config(body)
                    return 200, emu.config_view()
            with emu.lock:
                return 200, emu.config_view()
        if what == "reset" and m == "POST":
            body = self.json_body()
            with emu.lock:
                cfg = dict(emu.config)
                emu._reset_state()
                emu.journal_truncate()
                if body.get("keep_config") or self.qs.get("keep_config") == "true":
                    emu.config = cfg
                else:
                    emu.apply_config(emu.start_raw, base=DEFAULT_CONFIG)
                emu.nth_counter = 0
                emu._refill_full()
            return 200, {"acknowledged": True}
        if what == "stats" and m == "GET":
            with emu.lock:
                st = json.loads(json.dumps(emu.st))
                st["docs"] = {i.name: i.count for i in emu.indices.values()}
                st["received_events"] = len(emu.received)
                st["tokens"] = (None if emu.config["capacity"] is None
                                else round(emu._tokens_now(), 3))
            return 200, st
        if what == "lag" and len(segs) == 1 and m in ("GET", "DELETE"):
            if m == "DELETE":
                with emu.lock:
                    emu.lag_reset()
                return ack()
            return 200, emu.lag_view()
        if what == "received":
            if m == "DELETE":
                with emu.lock:
                    emu.received = []
                    emu.journal({"op": "forget_received"})
                return ack()
            try:
                frm = int(self.qs.get("from", 0))
            except ValueError:
                raise bad_request("[from] must be a number")
            want = self.qs.get("index")
            with emu.lock:
                rec = emu.received[frm:]
            out = io.StringIO()
            for iname, _id, text in rec:
                if want is not None and iname != want:
                    continue
                out.write('{"_index":%s,"_id":%s,"source":%s}\n' % (
                    json.dumps(iname, ensure_ascii=False), json.dumps(_id, ensure_ascii=False),
                    json.dumps(text, ensure_ascii=True)))
            return 200, ("application/x-ndjson", out.getvalue().encode("utf-8"))
        raise ESError(404, None, "unknown emulator endpoint [%s %s]; known: GET|POST "
                      "/_emulator/config, POST /_emulator/reset, GET /_emulator/stats, "
                      "GET|DELETE /_emulator/received, GET|DELETE /_emulator/lag"
                      % (m, self.path), plain=True)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, socket.timeout)):
            return
        super().handle_error(request, client_address)


# ---------------------------------------------------------------------------------------------
# Command line

def parse_fail_mode(spec):
    """--fail-mode SPEC -> config fragment.

    429 | 503 | whole:STATUS[:COUNT]     reject whole bulk requests
    nth:N[:STATUS]                       every N-th item gets STATUS (default 429)
    items:STATUS:POS[,POS...][:REQUESTS] items at these positions of each bulk request
    fraction:F:STATUS[:SEED]             each item with probability F (seeded)
    hang:COUNT[:SECONDS]                 next COUNT bulk requests unanswered (SECONDS, or forever)
    reset:COUNT                          next COUNT bulk requests: connection closed unanswered
    field:PATH=VALUE:STATUS              items whose source has PATH == VALUE get STATUS
    """
    kind, _, rest = spec.partition(":")
    try:
        if kind.isdigit():
            return {"reject_whole": {"status": int(kind)}}
        if kind == "whole":
            p = rest.split(":")
            r = {"status": int(p[0])}
            if len(p) > 1:
                r["count"] = int(p[1])
            return {"reject_whole": r}
        if kind == "nth":
            p = rest.split(":")
            return {"reject_every_nth_item": {"n": int(p[0]),
                                              "status": int(p[1]) if len(p) > 1 else 429}}
        if kind == "items":
            p = rest.split(":")
            r = {"status": int(p[0]), "positions": [int(x) for x in p[1].split(",")]}
            if len(p) > 2:
                r["requests"] = int(p[2])
            return {"item_status": [r]}
        if kind == "fraction":
            p = rest.split(":")
            r = {"fraction": float(p[0]), "status": int(p[1])}
            if len(p) > 2:
                r["seed"] = int(p[2])
            return {"item_status": [r]}
        if kind == "hang":
            p = rest.split(":")
            r = {"count": int(p[0])}
            if len(p) > 1:
                r["seconds"] = float(p[1])
            return {"hang": r}
        if kind == "reset":
            return {"reset": {"count": int(rest)}}
        if kind == "field":
            path_val, _, status = rest.rpartition(":")
            path, _, val = path_val.partition("=")
            if not path or not _:
                raise ValueError(spec)
            return {"item_status_by_field": [{"field": path, "value": val,
                                              "status": int(status)}]}
    except (ValueError, IndexError):
        pass
    raise argparse.ArgumentTypeError("bad --fail-mode %r (429, 503, whole:STATUS[:COUNT], "
                                     "nth:N[:STATUS], field:PATH=VALUE:STATUS, "
                                     "items:STATUS:POS[,POS][:REQUESTS], fraction:F:STATUS[:SEED], "
                                     "hang:COUNT[:SECONDS], reset:COUNT)" % spec)


def parse_addr(s):
    host, sep, port = s.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError("ADDR must be host:port")
    host = host.strip("[]") or "127.0.0.1"
    try:
        return host, int(port)
    except ValueError:
        raise argparse.ArgumentTypeError("bad port in %r" % s)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Elasticsearch (7, 8, 9) bulk-API emulator")
    ap.add_argument("--listen", type=parse_addr, default=("127.0.0.1", 9200),
                    help="host:port, port 0 picks a free port (default 127.0.0.1:9200)")
    ap.add_argument("--record", metavar="FILE", help="append one JSON line per request")
    ap.add_argument("--capacity", type=float, help="token bucket rate, events/s")
    ap.add_argument("--burst", type=float, help="token bucket size (default: capacity)")
    ap.add_argument("--capacity-mode", choices=("items", "whole"), default="items",
                    help="items: per-item 429 beyond the bucket; whole: 429 the request")
    ap.add_argument("--latency-ms", type=float, default=0, help="added latency per request")
    ap.add_argument("--retry-after", type=float, help="Retry-After seconds on whole 429/503")
    ap.add_argument("--fail-mode", type=parse_fail_mode, action="append", default=[],
                    help="429 | 503 | whole:STATUS[:COUNT] | nth:N[:STATUS] | "
                         "field:PATH=VALUE:STATUS | items:STATUS:POS[,POS][:REQUESTS] | "
                         "fraction:F:STATUS[:SEED] | hang:COUNT[:SECONDS] | reset:COUNT "
                         "(repeatable)")
    ap.add_argument("--config", metavar="JSON", help="initial config as for POST "
                    "/_emulator/config (a JSON object, or @FILE)")
    ap.add_argument("--fast", action="store_true",
                    help="do not parse sources (only check they look like an object)")
    ap.add_argument("--no-store", action="store_true",
                    help="keep no documents and no received log (long benchmarks)")
    ap.add_argument("--lag-field", metavar="PATH",
                    help="dotted path of a send time (epoch seconds) in the sources: record "
                         "the lag of every accepted document that has it (GET "
                         "/_emulator/lag)")
    ap.add_argument("--lag-by", metavar="PATH",
                    help="dotted path whose value groups the lags (default: one group)")
    ap.add_argument("--data", metavar="FILE",
                    help="journal of what is stored: replayed at start, every change appended "
                         "and flushed before it is acknowledged (survives SIGKILL; not with "
                         "--no-store)")
    ap.add_argument("--max-body-bytes", type=int, default=104857600)
    ap.add_argument("--es-version", metavar="VERSION",
                    help="the version number the emulator reports (default %s; %s with "
                         "--distribution opensearch); its major (7, 8 or 9; OpenSearch 1, 2 "
                         "or 3) decides the root document, the compatible-with versions "
                         "taken and X-Elastic-Product (Elasticsearch 7.14 on)"
                         % (ES_VERSION, OPENSEARCH_VERSION))
    ap.add_argument("--distribution", choices=("elasticsearch", "opensearch"),
                    default="elasticsearch",
                    help="opensearch: an OpenSearch root document, no X-Elastic-Product, "
                         "no vendor media types, no _license/_xpack")
    ap.add_argument("--cluster-name", default="spillway-test")
    ap.add_argument("--verbose", "-v", action="store_true", help="log requests on stderr")
    args = ap.parse_args(argv)
    if args.es_version is None:
        args.es_version = (OPENSEARCH_VERSION if args.distribution == "opensearch"
                           else ES_VERSION)
    try:
        major = version_major_minor(args.es_version)[0]
    except ValueError as e:
        ap.error("--es-version: %s" % e)
    if (args.distribution, major) not in ROOT_BY_MAJOR:
        ap.error("--es-version %s: the emulator speaks %s" % (args.es_version, ", ".join(
            "%s %d.x" % dm for dm in sorted(ROOT_BY_MAJOR) if dm[0] == args.distribution)))

    # Millions of stored documents make frequent cyclic GC passes the main cost under load.
    gc.set_threshold(50000, 20, 100)
    emu = Emulator(args)
    start = {"capacity": args.capacity, "burst": args.burst,
             "capacity_mode": args.capacity_mode, "latency_ms": args.latency_ms,
             "retry_after": args.retry_after, "parse_source": not args.fast,
             "store": not args.no_store}
    if args.lag_field is not None:
        start["lag_field"] = args.lag_field
    if args.lag_by is not None:
        start["lag_by"] = args.lag_by
    for frag in args.fail_mode:
        if "item_status_by_field" in frag and start.get("item_status_by_field"):
            start["item_status_by_field"] = (start["item_status_by_field"]
                                             + frag["item_status_by_field"])
        elif "item_status" in frag and start.get("item_status"):
            start["item_status"] = start["item_status"] + frag["item_status"]
        else:
            start.update(frag)
    if args.config:
        text = args.config
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as f:
                text = f.read()
        try:
            start.update(json.loads(text))
        except ValueError as e:
            ap.error("--config: %s" % e)
    try:
        emu.apply_config(start, base=DEFAULT_CONFIG)
    except ESError as e:
        ap.error(e.reason)
    emu.start_raw = start
    if args.data:
        if not emu.config["store"]:
            ap.error("--data journals what is stored: not with --no-store (or store false)")
        try:
            emu.open_journal(args.data)
        except (OSError, ValueError) as e:
            sys.stderr.write("es_emulator: --data %s: %s\n" % (args.data, e))
            return 2

    handler = type("BoundHandler", (Handler,), {"emu": emu})
    host, port = args.listen
    Server.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        httpd = Server((host, port), handler)
    except OSError as e:
        sys.stderr.write("es_emulator: cannot listen on %s:%d: %s\n" % (host, port, e))
        return 2
    emu.host, emu.port = host, httpd.server_address[1]
    shown = "[%s]" % host if ":" in host else host
    sys.stderr.write("listening http %s:%d\n" % (shown, emu.port))
    sys.stderr.flush()

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
        if emu.record_file:
            emu.record_file.close()
        if emu.journal_file:
            emu.journal_file.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
