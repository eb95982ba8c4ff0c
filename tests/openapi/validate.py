#!/usr/bin/python3
"""validate.py [options] RECORDING.jsonl: real answers against schemas/openapi.yaml.

RECORDING.jsonl is what the C integration tests append when
ORDERFLOW_OPENAPI_RECORD names it (tests/integration/lib/of_it.c): one JSON
object per answer, {"test", "port", "server", "method", "path" (with its
query), "status", "headers": {lower-case name: value}, "body" (raw text)}.

For each answer of orderflow-api:
  - the operation is found by method and path template (/v1/users/{id};
    the template with the most literal characters wins);
  - its response by exact status, else a range ("4XX"), else "default": a
    status the document does not list for that operation is a failure, which
    is how the document is kept from drifting away from the code;
  - the body is validated against the response's schema (JSON Schema
    2020-12, "$ref"s resolved in the whole document) when the media type is
    JSON; any other media type is checked by Content-Type alone; a response
    the document gives no content must have an empty body;
  - every header the response declares as required (X-Trace-Id, Location on
    202, Allow on 405, Retry-After on 429, WWW-Authenticate on 401) must be
    present and match its schema.
A method the path does not take must be answered 405 (components/responses/
MethodNotAllowed) with Allow naming exactly the methods the document gives
the path, or by one of the answers given before routing (see PRE_ROUTING);
a path that matches no template only by those or 404.

The document itself is checked first: every schema is valid 2020-12, every
"$ref" resolves, every example matches its schema.

Exit status 1 on any failure, and also when fewer than --min-responses
answers or --min-operations distinct operations were checked, so an empty
or truncated recording cannot pass. --check-doc checks the document alone.
Runs with Debian's python3-yaml and python3-jsonschema (4.10).
"""
import argparse
import collections
import json
import os
import re
import sys
import warnings

import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DOC = os.path.join(HERE, "..", "..", "schemas", "openapi.yaml")
METHODS = ["get", "head", "post", "put", "patch", "delete", "options", "trace"]

# Answers given before a request is routed (api_http.c: the header checks,
# authentication, rate limit, Idempotency-Key form; the admin role check),
# so possible for any path and method: status -> components/responses/NAME.
PRE_ROUTING = {
    400: "BadRequestWrite",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "NotFound",
    413: "BodyTooLarge",
    414: "UriTooLong",
    429: "RateLimited",
    431: "HeaderTooLarge",
    503: "Unavailable",
}


class JsonLoader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver, as cmake/yaml2json.py."""


JsonLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class Doc:
    """The OpenAPI document, its operations and a resolver for its $refs."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.load(f, Loader=JsonLoader)
        with warnings.catch_warnings():
            # RefResolver is deprecated from jsonschema 4.18 on, the only
            # way there is in Debian 12's 4.10
            warnings.simplefilter("ignore", DeprecationWarning)
            self.resolver = jsonschema.RefResolver("", self.doc)
        self.templates = []
        for tmpl, item in self.doc.get("paths", {}).items():
            literal = len(re.sub(r"\{[^}]*\}", "", tmpl))
            rx = "".join(
                "[^/]+" if part.startswith("{") else re.escape(part)
                for part in re.split(r"(\{[^}]*\})", tmpl)
            )
            self.templates.append((literal, tmpl, re.compile(rx), item))
        # the longest literal match wins: /v1/admin/dead-letters/redrive
        # over a /v1/admin/dead-letters/{x}
        self.templates.sort(key=lambda t: -t[0])

    def deref(self, obj):
        """obj with its "$ref" (if any) followed, however many times."""
        seen = 0
        while isinstance(obj, dict) and "$ref" in obj:
            _, obj = self.resolver.resolve(obj["$ref"])
            seen += 1
            if seen > 20:
                raise ValueError("$ref loop")
        return obj

    def match(self, path):
        """(template, path item) for a request path, or (None, None)."""
        for _, tmpl, rx, item in self.templates:
            if rx.fullmatch(path):
                return tmpl, item
        return None, None

    def operations(self):
        """Every (METHOD, template, operationId) the document describes."""
        for tmpl, item in self.doc.get("paths", {}).items():
            for m in METHODS:
                if m in item:
                    yield m.upper(), tmpl, item[m].get("operationId", "")

    def validator(self, schema):
        return jsonschema.Draft202012Validator(
            schema,
            resolver=self.resolver,
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        )

    def errors(self, schema, instance):
        """Schema errors of instance, as short strings (at most 3)."""
        out = []
        for e in sorted(
            self.validator(schema).iter_errors(instance),
            key=lambda e: list(e.absolute_path),
        ):
            where = "/".join(str(p) for p in e.absolute_path) or "(body)"
            msg = e.message if len(e.message) < 300 else e.message[:300] + "..."
            out.append("%s: %s" % (where, msg))
            if len(out) == 3:
                break
        return out


def check_doc(d):
    """The document's own consistency: schemas, $refs, examples."""
    failures = []
    comps = d.doc.get("components", {})
    for name, schema in comps.get("schemas", {}).items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.exceptions.SchemaError as e:
            failures.append("components/schemas/%s: %s" % (name, e.message))

    def walk(node, where):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                try:
                    d.resolver.resolve(ref)
                except jsonschema.exceptions.RefResolutionError as e:
                    failures.append("%s: unresolvable $ref %s (%s)" % (where, ref, e))
            schema = node.get("schema")
            if isinstance(schema, dict) and "example" in node:
                for err in d.errors(schema, node["example"]):
                    failures.append("%s/example: %s" % (where, err))
            if "example" in node and ("type" in node or "properties" in node or "allOf" in node):
                for err in d.errors(node, node["example"]):
                    failures.append("%s/example: %s" % (where, err))
            if isinstance(node.get("examples"), list) and "type" in node:
                for i, ex in enumerate(node["examples"]):
                    for err in d.errors(node, ex):
                        failures.append("%s/examples/%d: %s" % (where, i, err))
            for k, v in node.items():
                walk(v, "%s/%s" % (where, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, "%s/%d" % (where, i))

    walk(d.doc, "#")
    seen = collections.Counter(
        op for _, _, op in d.operations() if op
    )
    for op, n in seen.items():
        if n > 1:
            failures.append("operationId %s is used %d times" % (op, n))
    return failures


def media_type(value):
    """'Application/JSON; charset=utf-8' -> ('application/json', 'application/json;charset=utf-8')"""
    parts = [p.strip() for p in (value or "").split(";")]
    base = parts[0].lower()
    return base, ";".join([base] + [p.replace(" ", "") for p in parts[1:] if p])


def is_json(base):
    return base == "application/json" or base.endswith("+json")


def header_errors(d, resp, rec):
    """Required headers of resp missing from rec, or not matching."""
    out = []
    for name, h in (resp.get("headers") or {}).items():
        h = d.deref(h)
        got = rec["headers"].get(name.lower())
        if got is None:
            if h.get("required"):
                out.append("header %s is required but missing" % name)
            continue
        schema = h.get("schema")
        if not schema:
            continue
        value = got
        if d.deref(schema).get("type") == "integer":
            try:
                value = int(got)
            except ValueError:
                out.append("header %s: %r is not an integer" % (name, got))
                continue
        out.extend("header %s: %s" % (name, e) for e in d.errors(schema, value))
    return out


def body_errors(d, resp, rec):
    """The body and Content-Type of rec against resp's content."""
    content = resp.get("content")
    body = rec.get("body", "")
    if rec["method"] == "HEAD":
        return [] if body == "" else ["a HEAD answer with a body"]
    if not content:
        return [] if body == "" else [
            "the document gives this answer no content, got %d bytes" % len(body)
        ]
    ct = rec["headers"].get("content-type")
    if ct is None:
        return ["no Content-Type (expected one of %s)" % ", ".join(content)]
    base, full = media_type(ct)
    chosen = None
    for key, mt in content.items():
        if media_type(key)[1] == full:
            chosen = (key, mt)
    if chosen is None:
        for key, mt in content.items():
            if media_type(key)[0] == base and media_type(key)[1] == media_type(key)[0]:
                chosen = (key, mt)
    if chosen is None:
        return ["Content-Type %r is not one of %s" % (ct, ", ".join(content))]
    key, mt = chosen
    schema = mt.get("schema")
    if not is_json(base):
        return [] if body else ["an empty %s body" % key]
    try:
        instance = json.loads(body)
    except ValueError as e:
        return ["the %s body is not JSON: %s: %r" % (key, e, body[:120])]
    if schema is None:
        return []
    return d.errors(schema, instance)


def expected_allow(item):
    return ", ".join(m.upper() for m in METHODS if m in item)


class Report:
    def __init__(self, max_shown):
        self.failures = []
        self.max_shown = max_shown
        self.statuses = collections.defaultdict(collections.Counter)
        self.checked = 0
        self.skipped = collections.Counter()

    def fail(self, rec, what, details):
        self.failures.append((rec, what, details))


def check_record(d, rec, report):
    path = rec["path"].split("?", 1)[0]
    method = rec["method"].upper()
    status = int(rec["status"])
    tmpl, item = d.match(path)
    comps = d.doc.get("components", {}).get("responses", {})
    report.checked += 1

    if item is not None and method.lower() in item:
        op = item[method.lower()]
        label = "%s %s" % (method, tmpl)
        responses = op.get("responses", {})
        resp = responses.get(str(status))
        if resp is None:
            resp = responses.get("%dXX" % (status // 100))
        if resp is None:
            resp = responses.get("default")
        report.statuses[label][status] += 1
        if resp is None:
            report.fail(rec, label, [
                "status %d is not documented for %s (documented: %s)"
                % (status, op.get("operationId", label), ", ".join(responses))
            ])
            return
    else:
        label = ("%s %s (method not in the document)" % (method, tmpl)
                 if item is not None else "%s (no path of the document)" % method)
        report.statuses[label][status] += 1
        if item is not None and status == 405:
            resp = comps.get("MethodNotAllowed")
            allow = rec["headers"].get("allow")
            if allow != expected_allow(item):
                report.fail(rec, label, [
                    "Allow is %r, the document gives %s the methods %r"
                    % (allow, tmpl, expected_allow(item))
                ])
                return
        elif status in PRE_ROUTING:
            resp = comps.get(PRE_ROUTING[status])
        else:
            report.fail(rec, label, [
                "status %d: not an answer the document allows here (%s%s)" % (
                    status, "405, " if item is not None else "",
                    ", ".join(str(s) for s in sorted(PRE_ROUTING)))
            ])
            return
        if resp is None:
            report.fail(rec, label, ["components/responses lacks the answer for %d" % status])
            return
    resp = d.deref(resp)
    errs = header_errors(d, resp, rec) + body_errors(d, resp, rec)
    if errs:
        report.fail(rec, label, errs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("recording", nargs="?", help="the JSON-lines recording")
    ap.add_argument("--doc", default=DEFAULT_DOC, help="the OpenAPI YAML (default: %(default)s)")
    ap.add_argument("--min-responses", type=int, default=200)
    ap.add_argument("--min-operations", type=int, default=10)
    ap.add_argument("--show", type=int, default=15, help="failures shown in full (default 15)")
    ap.add_argument("--check-doc", action="store_true", help="check the document only")
    args = ap.parse_args()

    d = Doc(args.doc)
    doc_failures = check_doc(d)
    for f in doc_failures:
        print("FAIL document: %s" % f)
    if args.check_doc:
        n = sum(1 for _ in d.operations())
        print("document: %d operations, %d problem(s)" % (n, len(doc_failures)))
        return 1 if doc_failures else 0
    if not args.recording:
        ap.error("a recording is needed (or --check-doc)")

    report = Report(args.show)
    try:
        f = open(args.recording, encoding="utf-8")
    except OSError as e:
        print("FAIL: cannot read the recording: %s" % e)
        return 1
    with f:
        for n, line in enumerate(f, 1):
            try:
                rec = json.loads(line)
            except ValueError as e:
                report.failures.append(({"test": "?", "method": "?", "path": "line %d" % n, "status": 0},
                                        "recording", ["not a JSON line: %s" % e]))
                continue
            if rec.get("server", "orderflow-api") != "orderflow-api":
                report.skipped[rec["server"]] += 1
                continue
            rec["headers"] = {k.lower(): v for k, v in (rec.get("headers") or {}).items()}
            check_record(d, rec, report)

    documented = {"%s %s" % (m, t): op for m, t, op in d.operations()}
    covered = [label for label in report.statuses if label in documented]
    width = max([len(l) for l in list(report.statuses) + list(documented)] + [10])
    opw = max([len(o) for o in documented.values()] + [10])
    print("operations seen (status×count):")
    for label in sorted(report.statuses, key=lambda l: (l.split(" ", 1)[1], l)):
        counts = " ".join("%d×%d" % (s, c) for s, c in sorted(report.statuses[label].items()))
        print("  %-*s %-*s %s" % (width, label, opw, documented.get(label, ""), counts))
    uncovered = [label for label in documented if label not in report.statuses]
    if uncovered:
        print("operations of the document no recorded answer covered (%d):" % len(uncovered))
        for label in uncovered:
            print("  %-*s %s" % (width, label, documented[label]))
    for server, n in report.skipped.items():
        print("skipped %d answer(s) of %s (not described by this document)" % (n, server))

    for rec, what, details in report.failures[: args.show]:
        print("FAIL %s %s -> %s [%s; %s]" % (
            rec.get("method"), rec.get("path"), rec.get("status"), what, rec.get("test")))
        for line in details:
            print("     %s" % line)
        body = rec.get("body")
        if body:
            print("     body: %s" % (body if len(body) < 300 else body[:300] + "..."))
    if len(report.failures) > args.show:
        print("... and %d more failure(s)" % (len(report.failures) - args.show))
        by = collections.Counter((w, det[0]) for _, w, det in report.failures)
        for (w, det), c in by.most_common(10):
            print("  %4d× %s: %s" % (c, w, det))

    ok = True
    print("checked %d answer(s) of orderflow-api: %d documented operation(s) of %d covered, "
          "%d failure(s), %d document problem(s)" % (
              report.checked, len(covered), len(documented), len(report.failures),
              len(doc_failures)))
    if report.failures or doc_failures:
        ok = False
    if report.checked < args.min_responses:
        print("FAIL: only %d answers checked, fewer than %d: was the suite recorded "
              "(ORDERFLOW_OPENAPI_RECORD)?" % (report.checked, args.min_responses))
        ok = False
    if len(covered) < args.min_operations:
        print("FAIL: only %d operations covered, fewer than %d" % (len(covered), args.min_operations))
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
