#!/usr/bin/env python3
"""Process tests of what the web console stands on, over HTTP (the pages
themselves are tested in a browser by test_console.py): the console's files
with their types, ETags and gzip; the security headers of every answer;
GET /v1/whoami per certificate; and the refusal of browser requests from
other origins (403 cross_origin, no audit entry, nothing disclosed) while
the members' origins, same-origin requests and non-browser clients are
served. Output is TAP. Environment: ESCROWD, TEST_SEED, TEST_TIMEOUT.
"""

import gzip
import http.client
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, random_key, short  # noqa: E402


def raw_get(c, nid, path, headers=None, as_=None, method="GET"):
    """(status, headers, body bytes) without decoding."""
    conn = http.client.HTTPSConnection("127.0.0.1", c.nodes[nid].api_port, timeout=10,
                                       context=c.tls_context(as_))
    try:
        conn.request(method, path, headers=dict(headers or {}))
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def origin_of(c, nid):
    return "https://127.0.0.1:%d" % c.nodes[nid].api_port


def check_security_headers(h, what, members=()):
    csp = h.get("content-security-policy", "")
    check("'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
          and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
          and "default-src 'none'" in csp, "%s: CSP %r" % (what, csp))
    for origin in members:
        check(origin in csp.split("connect-src", 1)[-1].split(";", 1)[0],
              "%s: connect-src lacks member %s: %r" % (what, origin, csp))
    check(h.get("x-content-type-options") == "nosniff" and h.get("x-frame-options") == "DENY"
          and h.get("referrer-policy") == "no-referrer",
          "%s: security headers %s" % (what, short(h, 600)))


def test_console_files(t):
    c = t.cluster(n=3, tls=True)
    members = [origin_of(c, nid) for nid in c.ids()]
    st, h, body = raw_get(c, 1, "/ui/", as_="helpdesk")
    check(st == 200 and h.get("content-type", "").startswith("text/html")
          and b"<html" in body.lower() and h.get("etag", "").startswith('"'),
          "GET /ui/: %s %s" % (st, short(h)))
    check_security_headers(h, "GET /ui/", members)
    check(h.get("cache-control") == "no-cache" and "no-store" not in h.get("cache-control", ""),
          "console file caching: %r" % h.get("cache-control"))
    etag = h["etag"]
    # The same bytes from every node, by name too.
    for nid in c.ids():
        st2, h2, body2 = raw_get(c, nid, "/ui/index.html", as_="auditor")
        check(st2 == 200 and body2 == body and h2.get("etag") == etag,
              "node %d index.html: %s %s" % (nid, st2, h2.get("etag")))
    # Conditional GET, gzip, HEAD.
    st, h, body3 = raw_get(c, 2, "/ui/", {"If-None-Match": etag})
    check(st == 304 and body3 == b"" and h.get("etag") == etag, "If-None-Match: %s" % st)
    st, h, body3 = raw_get(c, 2, "/ui/", {"If-None-Match": '"other"'})
    check(st == 200 and body3 == body, "If-None-Match other: %s" % st)
    st, h, gz = raw_get(c, 2, "/ui/", {"Accept-Encoding": "br, gzip;q=0.8"})
    check(st == 200 and h.get("content-encoding") == "gzip" and gzip.decompress(gz) == body
          and "accept-encoding" in h.get("vary", "").lower(),
          "gzip: %s %s" % (st, short(h)))
    st, h, gz = raw_get(c, 2, "/ui/", {"Accept-Encoding": "gzip;q=0"})
    check(st == 200 and "content-encoding" not in h and gz == body, "gzip;q=0 honoured")
    st, h, b = raw_get(c, 3, "/ui/", method="HEAD")
    check(st == 200 and b == b"" and int(h.get("content-length", "-1")) == len(body),
          "HEAD /ui/: %s %s" % (st, short(h)))
    # Redirects, misses, methods.
    st, h, _ = raw_get(c, 1, "/")
    check(st == 302 and h.get("location") == "/ui/", "GET /: %s %s" % (st, short(h)))
    st, h, _ = raw_get(c, 1, "/ui")
    check(st == 301 and h.get("location") == "/ui/", "GET /ui: %s %s" % (st, short(h)))
    for path in ("/ui/nope.js", "/ui/../v1/status", "/ui/js/"):
        st, h, b = raw_get(c, 1, path)
        check(st == 404 and b"not_found" in b, "GET %s: %s %s" % (path, st, b[:200]))
    st, _, data = c.request(1, "POST", "/ui/", {"x": 1})
    check(st == 405 and data["error"]["code"] == "method_not_allowed", "POST /ui/: %s" % st)
    # Every API answer: the same headers, and no caching.
    for path, role in (("/v1/status", "agent"), ("/v1/health", "agent"),
                       ("/v1/keys/none", "auditor"), ("/v1/nothing", "agent")):
        st, h, _ = raw_get(c, 1, path, as_=role)
        check_security_headers(h, "GET %s (%s)" % (path, st), members)
        check(h.get("cache-control") == "no-store", "GET %s: cache-control %r"
              % (path, h.get("cache-control")))


def test_whoami(t):
    c = t.cluster(n=3, tls=True)
    want = {"agent": ["agent"], "helpdesk": ["helpdesk"], "auditor": ["auditor"],
            "operator": ["agent", "helpdesk", "auditor", "operator"]}
    for role, roles in want.items():
        for nid in c.ids():
            st, _, data = c.request(nid, "GET", "/v1/whoami", as_=role)
            check(st == 200 and data == {"actor": role, "role": role, "roles": roles,
                                         "node": nid},
                  "whoami %s on %d: %s %s" % (role, nid, st, short(data)))
    st, _, data = c.request(1, "POST", "/v1/whoami", {}, as_="agent")
    check(st == 405, "POST /v1/whoami: %s" % st)


def audit_count(c, nid):
    st, _, data = c.request(nid, "GET", "/v1/reports/audit?limit=10000", as_="auditor")
    check(st == 200, "audit: %s %s" % (st, short(data)))
    return len(data["entries"])


def disclosed(c, nid, machine):
    st, _, data = c.request(nid, "GET", "/v1/machines/%s/keys" % machine, as_="helpdesk")
    check(st == 200, "machine keys: %s %s" % (st, short(data)))
    return [k["disclosed_at"] for k in data["keys"]]


def test_cross_origin(t):
    c = t.cluster(n=3, tls=True)
    rec = random_key(t.rng)
    st, _, data = c.request(1, "POST", "/v1/keys", rec, as_="agent")
    check(st == 201, "escrow: %s %s" % (st, short(data)))
    lookup = harness.lookup_path(rec["key_id"])
    before = audit_count(c, 2)
    own, member = origin_of(c, 2), origin_of(c, 3)
    refused = [
        {"Origin": "https://evil.test"},
        {"Origin": "https://evil.test", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "null"},
        {"Origin": own.replace("https:", "http:")},             # another scheme
        {"Origin": own + ".evil.test"},
        {"Origin": "https://127.0.0.1:1"},                      # no member there
        {"Sec-Fetch-Site": "cross-site"},                       # an <img>, a link
        {"Sec-Fetch-Site": "same-site"},                        # cannot tell whose
    ]
    for hdrs in refused:
        for method, path, body in (("GET", lookup, None),
                                   ("GET", "/v1/keys?prefix=%s&reason=lost_pin"
                                    % rec["key_id"][:8], None),
                                   ("POST", "/v1/keys", random_key(t.rng)),
                                   ("OPTIONS", "/v1/keys", None)):
            st, h, data = c.request(2, method, path, body, headers=hdrs, as_="operator")
            check(st == 403 and isinstance(data, dict)
                  and data["error"]["code"] == "cross_origin"
                  and "access-control-allow-origin" not in h
                  and "recovery_password" not in str(data),
                  "%s %s with %s: %s %s" % (method, path, hdrs, st, short(data)))
    check(audit_count(c, 2) == before, "a refused request wrote an audit entry")
    check(disclosed(c, 2, rec["machine"]) == [None], "a refused request disclosed the key")
    # The console's own requests: same origin, typed, a member's page.
    allowed = [{}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"},
               {"Origin": own, "Sec-Fetch-Site": "same-origin"},
               {"Origin": member, "Sec-Fetch-Site": "same-site"}]
    for hdrs in allowed:
        st, h, data = c.request(2, "GET", "/v1/whoami", headers=hdrs, as_="helpdesk")
        check(st == 200 and data.get("actor") == "helpdesk", "whoami with %s: %s %s"
              % (hdrs, st, short(data)))
        if "Origin" in hdrs:
            check(h.get("access-control-allow-origin") == hdrs["Origin"]
                  and h.get("access-control-allow-credentials") == "true"
                  and "x-escrow-node" in h.get("access-control-expose-headers", "").lower(),
                  "CORS headers for %s: %s" % (hdrs, short(h, 600)))
    st, _, data = c.request(2, "GET", lookup, headers={"Origin": member}, as_="helpdesk")
    check(st == 200 and data["recovery_password"] == rec["recovery_password"],
          "lookup from a member's page: %s %s" % (st, short(data)))
    check(audit_count(c, 2) == before + 1, "the member's lookup is audited once")
    st, h, _ = c.request(2, "OPTIONS", "/v1/keys", headers={"Origin": member}, as_="agent")
    check(st == 204 and "GET" in h.get("access-control-allow-methods", "")
          and h.get("access-control-allow-origin") == member,
          "preflight from a member: %s %s" % (st, short(h)))


if __name__ == "__main__":
    sys.exit(harness.run_tests([
        test_console_files,
        test_whoami,
        test_cross_origin,
    ]))
