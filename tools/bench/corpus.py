"""The benchmark corpus: deterministic ECS-style NDJSON events, 300-500 bytes.

    corpus.py [--events N] [--seed S] OUT

One event per line, nested ECS objects (as Filebeat or Logstash would hand
them to Elasticsearch): `@timestamp`, `log.level`, `log.logger`,
`service.name`, `service.version`, `host.name`, `kubernetes.namespace`,
`kubernetes.pod.name`, `http.request.method`, `http.response.status_code`,
`url.path`, `event.dataset`, `event.duration`, sometimes `event.category`,
`tags`, `labels.audit`, `trace.id`, and a `message` whose length brings the
line to a size drawn uniformly from 300 to 500 bytes. About 1 % of
messages carry a non-ASCII word (UTF-8).

The same N and seed give the same bytes (Python's random.Random is stable
across versions for randrange/random/choice on a given seed).
"""

import argparse
import os
import random
import sys

MIN_BYTES = 300
MAX_BYTES = 500

# (namespace, service, weight, dataset, logger package)
SERVICES = [
    ("prod-web", "storefront", 14, "storefront.app", "web"),
    ("prod-web", "frontend", 8, "frontend.app", "web"),
    ("prod-search", "search", 9, "search.app", "search"),
    ("prod-search", "catalog", 6, "catalog.app", "catalog"),
    ("prod-shop", "checkout", 5, "checkout.app", "checkout"),
    ("prod-shop", "payments", 3, "payments.app", "payments"),
    ("prod-shop", "cart", 5, "cart.app", "cart"),
    ("prod-core", "inventory", 5, "inventory.app", "inventory"),
    ("prod-core", "shipping", 3, "shipping.app", "shipping"),
    ("prod-core", "recommend", 4, "recommend.app", "reco"),
    ("prod-web", "canary-frontend", 1, "frontend.app", "web"),
    ("prod-identity", "auth", 3, "auth.app", "auth"),
    ("ingress", "nginx", 10, "nginx.access", None),
    ("ingress", "envoy", 6, "envoy.access", None),
    ("batch-etl", "nightly-etl", 3, "etl.app", "etl"),
    ("cron-reports", "report-builder", 2, "reports.app", "reports"),
    ("staging", "checkout", 2, "checkout.app", "checkout"),
    ("staging", "search", 2, "search.app", "search"),
    ("dev-team-a", "frontend", 1, "frontend.app", "web"),
    ("monitoring", "prometheus", 2, "prometheus.app", None),
    ("kube-system", "coredns", 2, "coredns.app", None),
]

# log.level, weight; some services log upper case (Java), most lower case.
LEVELS = [("info", 62), ("debug", 16), ("warn", 12), ("error", 5),
          ("trace", 3), ("notice", 1), ("fatal", 0.2), ("critical", 0.3)]
STATUS = [(200, 70), (201, 5), (204, 4), (301, 2), (304, 5), (400, 2),
          (401, 2), (403, 1), (404, 5), (429, 1), (500, 1.2), (502, 0.8),
          (503, 0.8), (504, 0.4)]
METHODS = [("GET", 70), ("POST", 20), ("PUT", 5), ("DELETE", 3), ("PATCH", 2)]
PATHS = ["/", "/api/v1/cart/items", "/api/v1/checkout", "/api/v1/payments/authorize",
         "/api/v2/search", "/api/v2/catalog/products", "/api/v1/inventory/sku",
         "/api/v1/shipping/quote", "/api/v1/recommendations", "/static/js/app.js",
         "/static/css/main.css", "/healthz", "/login", "/api/v1/session",
         "/api/v1/orders", "/product/{id}", "/category/{id}"]
CATEGORIES = ["authentication", "iam", "web", "process", "network", "configuration"]
TAGS = ["security", "waf", "edge", "canary", "beta", "gdpr"]
WORDS = ("request handled upstream cache miss retry order cart session token user "
         "latency queue worker batch item payload index shard lookup commit span "
         "connection pool timeout fallback client server response status record flush "
         "config reload price promotion coupon basket warehouse parcel carrier sku "
         "stock reserved released refund invoice customer loyalty points gift card "
         "recommendation ranking query facet filter page slow fast degraded").split()
UTF8_WORDS = ["caf\u00e9", "M\u00fcnchen", "\u00e9t\u00e9", "Stra\u00dfe",
              "na\u00efve", "\u5546\u54c1", "r\u00e9sum\u00e9", "Z\u00fcrich"]


def _cum(pairs):
    total, out = 0.0, []
    for v, w in pairs:
        total += w
        out.append((total, v))
    return total, out


def _pick(rng, cum):
    total, table = cum
    x = rng.random() * total
    for edge, v in table:
        if x < edge:
            return v
    return table[-1][1]


def generate(path, events, seed=1):
    """Write `events` lines to `path` (atomically); return the byte count."""
    rng = random.Random(seed)
    svc_cum = _cum([(s, s[2]) for s in SERVICES])
    lvl_cum = _cum(LEVELS)
    st_cum = _cum(STATUS)
    m_cum = _cum(METHODS)
    pods = {}
    for ns, name, _, _, _ in SERVICES:
        pods[(ns, name)] = ["%s-%07x-%05x" % (name, rng.randrange(1 << 28),
                                              rng.randrange(1 << 20))
                            for _ in range(4)]
    upper = {"payments", "inventory", "shipping", "auth"}   # Java services
    t0 = 1718000000.0          # 2024-06-10T06:13:20Z
    tmp = path + ".tmp"
    total = 0
    with open(tmp, "wb") as f:
        buf = []
        for i in range(events):
            ns, name, _, dataset, pkg = _pick(rng, svc_cum)
            ts = t0 + i * 0.0002 + rng.random() * 0.0002
            sec = int(ts)
            ms = int((ts - sec) * 1000)
            tm = _gmt(sec)
            stamp = "%s.%03dZ" % (tm, ms)
            access = dataset.endswith(".access")
            if access:
                level = "info"
            else:
                level = _pick(rng, lvl_cum)
                if name in upper:
                    level = level.upper()
            status = _pick(rng, st_cum)
            if level in ("error", "ERROR", "fatal", "FATAL") and rng.random() < 0.6:
                status = rng.choice((500, 502, 503))
            method = _pick(rng, m_cum)
            upath = rng.choice(PATHS)
            if "{id}" in upath:
                upath = upath.replace("{id}", str(rng.randrange(1, 99999)))
            # (object, inner text, optional?): optional members are dropped,
            # last first, until the line fits its drawn size.
            members = [("@timestamp", None, False, '"%s"' % stamp),
                       ("log", "level", False, '"%s"' % level)]
            if pkg:
                members.append(("log", "logger", True, '"com.shop.%s.%s"' % (
                    pkg, rng.choice(("Handler", "Service", "Client", "Worker")))))
            members += [
                ("service", "name", False, '"%s"' % name),
                ("service", "version", True, '"%d.%d.%d"' % (
                    rng.randrange(1, 6), rng.randrange(0, 30), rng.randrange(0, 10))),
                ("host", "name", True, '"node-%02d"' % rng.randrange(1, 40)),
                ("kubernetes", "namespace", False, '"%s"' % ns),
                ("kubernetes", "pod", True,
                 '{"name":"%s"}' % rng.choice(pods[(ns, name)])),
                ("http", "request", True, '{"method":"%s"}' % method),
                ("http", "response", False, '{"status_code":%d}' % status),
                ("url", "path", True, '"%s"' % upath),
                ("event", "dataset", False, '"%s"' % dataset),
                ("event", "duration", True, "%d" % rng.randrange(200000, 900000000)),
            ]
            if name == "auth" or rng.random() < 0.02:
                members.append(("event", "category", False, '"%s"' % (
                    "authentication" if name == "auth" else rng.choice(CATEGORIES))))
            if rng.random() < 0.03:
                members.append(("tags", None, False, '["%s","%s"]' % (
                    rng.choice(TAGS), rng.choice(TAGS))))
            if rng.random() < 0.015:
                members.append(("labels", "audit", False, "true"))
            if rng.random() < 0.5:
                members.append(("trace", "id", True, '"%032x"' % rng.getrandbits(128)))
            target = rng.randrange(MIN_BYTES, MAX_BYTES + 1)
            head = _assemble(members)
            while len(head) > target - MIN_MESSAGE:
                for k in range(len(members) - 1, -1, -1):
                    if members[k][2]:
                        del members[k]
                        break
                else:
                    break
                head = _assemble(members)
            room = target - len(head) - len(',"message":""}\n')
            msg = _message(rng, access, method, upath, status, max(room, 16))
            line = ('%s,"message":"%s"}\n' % (head, msg)).encode("utf-8")
            buf.append(line)
            total += len(line)
            if len(buf) >= 4096:
                f.write(b"".join(buf))
                buf.clear()
        f.write(b"".join(buf))
    os.replace(tmp, path)
    return total


MIN_MESSAGE = 48      # room kept for the message when trimming


def _assemble(members):
    """Members in order -> '{"a":...,"b":{"c":...}' (no closing brace)."""
    out, i = [], 0
    while i < len(members):
        obj, key, _, val = members[i]
        if key is None:
            out.append('"%s":%s' % (obj, val))
            i += 1
            continue
        inner = []
        while i < len(members) and members[i][0] == obj and members[i][1]:
            inner.append('"%s":%s' % (members[i][1], members[i][3]))
            i += 1
        out.append('"%s":{%s}' % (obj, ",".join(inner)))
    return "{" + ",".join(out)


_GMT_CACHE = {}


def _gmt(sec):
    s = _GMT_CACHE.get(sec)
    if s is None:
        import time
        s = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        if len(_GMT_CACHE) > 4:
            _GMT_CACHE.clear()
        _GMT_CACHE[sec] = s
    return s


def _message(rng, access, method, upath, status, room):
    if access:
        head = '%s %s HTTP/1.1 %d %d' % (method, upath, status, rng.randrange(120, 90000))
    else:
        head = rng.choice(("handled", "retrying", "completed", "failed", "queued",
                           "accepted", "timed out", "cache miss for"))
    words = [head]
    n = len(head)
    utf8 = rng.random() < 0.01
    while n < room:
        w = rng.choice(WORDS) if not utf8 or rng.random() < 0.8 else rng.choice(UTF8_WORDS)
        words.append(w)
        n += len(w.encode("utf-8")) + 1
    s = " ".join(words)
    b = s.encode("utf-8")
    while len(b) > room and len(words) > 1:
        words.pop()
        b = " ".join(words).encode("utf-8")
    pad = room - len(b)
    if pad >= 8:                 # a request id brings it to the exact size
        b += (" req=%016x" % rng.getrandbits(64))[:pad].encode("ascii")
    elif pad > 0:
        b += (".", " 1", " ok", " hit", " slow", " fresh", " cached")[pad - 1].encode()
    return b[:room].decode("utf-8", "ignore")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1000000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("out")
    a = ap.parse_args(argv)
    n = generate(a.out, a.events, a.seed)
    print("%d events, %d bytes" % (a.events, n))


if __name__ == "__main__":
    sys.exit(main())
