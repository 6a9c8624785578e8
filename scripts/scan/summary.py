#!/usr/bin/env python3
"""Writes <out>/summary.md for scripts/scan.sh from what the run left in <out>: runs.tsv (one
line per scan: its command, time, status and the range of EventPost's log lines written
meanwhile), meta.env, eventpost.log and the scanners' outputs.

Usage: summary.py OUT_DIR

Requests are counted from EventPost's log: every "msg":"request" line of the gateway is one
answer. The web interface calls the API in-process through the gateway, so a page can add
lines of its own: such a call is logged before its page, under the page's request ID, and is
counted apart. 5xx and 429 answers are counted on every gateway line (the in-process calls
included) and per service; a 429 that a service answered (the auth service's login throttle)
is told apart from one the gateway answered itself (its rate limiter) by the request ID.
"""
import collections
import datetime
import json
import os
import re
import sys

OUT = sys.argv[1]


def read_meta():
    meta = {}
    with open(os.path.join(OUT, "meta.env")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            meta[k] = v
    return meta


def read_runs():
    with open(os.path.join(OUT, "runs.tsv")) as f:
        header = f.readline().rstrip("\n").split("\t")
        return [dict(zip(header, line.rstrip("\n").split("\t"))) for line in f if line.strip()]


def read_log():
    """Returns the request lines of EventPost's log as (line number, record) pairs, and the
    count of ERROR and WARN lines that are not request lines, by level and message."""
    requests, errors = [], collections.Counter()
    with open(os.path.join(OUT, "eventpost.log"), errors="replace") as f:
        for n, line in enumerate(f):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("msg") == "request":
                requests.append((n, rec))
            elif rec.get("level") in ("ERROR", "WARN"):
                errors[(rec["level"], rec.get("msg", ""))] += 1
    return requests, errors


class Window:
    """The requests logged between two line numbers."""

    def __init__(self, records):
        self.records = records
        gw = [r for r in records if r.get("service") == "gateway"]
        # In-process calls of the web interface: /api/ or /.well-known/ lines followed by a
        # page line (any other path) under the same request ID.
        pending, self.inner = collections.Counter(), 0
        for r in gw:
            rid, path = r.get("request_id"), r.get("path") or ""
            if path.startswith(("/api/", "/.well-known/")):
                pending[rid] += 1
            elif pending[rid]:
                self.inner += pending.pop(rid)
        self.requests = len(gw) - self.inner
        self.status = collections.Counter(r.get("status") for r in gw)
        self.fivexx = collections.Counter(
            (r.get("service"), r.get("route") or r.get("path"), r.get("status"))
            for r in records if isinstance(r.get("status"), int) and r["status"] >= 500)
        self.gw5xx = sum(1 for r in gw if r.get("status", 0) >= 500)
        svc429 = collections.Counter(r.get("request_id") for r in records
                                     if r.get("service") != "gateway" and r.get("status") == 429)
        self.too_many = collections.Counter()
        for r in gw:
            if r.get("status") != 429:
                continue
            rid = r.get("request_id")
            if svc429[rid] > 0:
                svc429[rid] -= 1
                self.too_many["by the auth service (login throttle)"] += 1
            else:
                self.too_many["by the gateway itself (rate limiter)"] += 1
        self.gw429 = sum(self.too_many.values())
        self.routes429 = collections.Counter(
            (r.get("service"), r.get("route") or r.get("path")) for r in records if r.get("status") == 429)


def window(requests, start, end):
    return Window([rec for n, rec in requests if start <= n < end])


def sqlmap_findings(text):
    """Returns (injection points, tested parameters, notes)."""
    points = []
    if "identified the following injection point" in text:
        block = text.split("identified the following injection point", 1)[1].split("\n---\n")
        body = block[1] if len(block) > 1 else block[0]
        current = None
        for line in body.splitlines():
            m = re.match(r"Parameter: (.+)", line.strip())
            if m:
                current = {"parameter": m.group(1), "types": []}
                points.append(current)
            m = re.match(r"(Type|Title|Payload): (.+)", line.strip())
            if m and current is not None:
                if m.group(1) == "Type":
                    current["types"].append({"type": m.group(2)})
                elif current["types"]:
                    current["types"][-1][m.group(1).lower()] = m.group(2)
    tested = re.findall(r"parameter '([^']+)' does not seem to be injectable", text)
    notes = []
    m = re.search(r"HTTP error codes detected during run:\n((?:\d{3} .*\n?)+)", text)
    if m:
        notes.append("HTTP codes sqlmap counted as errors: " + "; ".join(
            l.strip() for l in m.group(1).splitlines() if l.strip()))
    seen = set()
    for level, msg in re.findall(r"\[(CRITICAL|ERROR|WARNING)\] (.*)", text):
        msg = msg.strip()
        keep = level != "WARNING" or re.search(r"not stable|dynamic|429|Too Many|WAF|timed out|connection", msg)
        if keep and "all tested parameters do not appear to be injectable" not in msg and msg not in seen:
            seen.add(msg)
            notes.append("sqlmap %s: %s" % (level.lower(), msg))
    return points, tested, notes


NIKTO_INFO = ("Target IP:", "Target Hostname:", "Target Port:", "Start Time:", "End Time:",
              "Server:", "host(s) tested", "items checked:", "requests:", "No CGI Directories")


def nikto_findings(text):
    items = [l[2:].strip() for l in text.splitlines()
             if l.startswith("+ ") and not any(k in l for k in NIKTO_INFO) and not l.startswith("+ ERROR")]
    m = re.search(r"\+ (\d+) (?:items checked|requests): (\d+) error\(s\) and (\d+) item\(s\) reported", text)
    count = None
    if m:
        count = "nikto: %s items checked, %s errors, %s items reported" % m.groups()
    return items, count


def wapiti_findings(path):
    with open(path) as f:
        report = json.load(f)
    out = {}
    for kind in ("vulnerabilities", "anomalies", "additionals"):
        for category, found in (report.get(kind) or {}).items():
            if found:
                out[(kind, category)] = found
    return out


def fmt_counter(counter, fmt):
    return "; ".join(fmt(k, v) for k, v in sorted(counter.items(), key=lambda kv: -kv[1])) or "none"


def main():
    meta = read_meta()
    runs = read_runs()
    requests, errors = read_log()
    total = window(requests, 0, 1 << 62)
    lines = []
    w = lines.append
    quick = meta.get("quick") == "1"
    w("# EventPost scanner run (%s)" % ("quick: SCAN_QUICK=1" if quick else "full"))
    w("")
    w("Written by `scripts/scan.sh` on %s. Every finding below is what a scanner reported; each "
      "is to be checked by hand (docs/security.md says what was)." % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    w("")
    try:
        load_end = " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        load_end = "?"
    w("- Machine: %s; %s; load average (1, 5, 15 min) %s at the start, %s at the end (other work on "
      "the machine slows the scans and EventPost alike)" % (
          meta.get("machine", "?"), meta.get("go_version", ""), meta.get("load_at_start", "?"), load_end))
    dirty = meta.get("git_dirty", "0").strip()
    w("- EventPost: commit %s%s, all-in-one on 127.0.0.1, `EVENTPOST_RATE_LIMIT=100000`, "
      "`EVENTPOST_RATE_BURST=100000`, log level debug, a fresh data directory" % (
          meta.get("git_commit", "?"), "" if dirty in ("", "0") else " with %s modified tracked files" % dirty))
    w("- Scanners (Debian packages): sqlmap %s, nikto %s, wapiti %s" % (
        meta.get("sqlmap_version"), meta.get("nikto_version"), meta.get("wapiti_version")))
    w("- Network: %s" % ("a namespace of its own with loopback only" if meta.get("netns") == "yes"
                         else "the host's; " + meta.get("netns", "")))
    fixtures = os.path.join(OUT, "fixtures.txt")
    if os.path.exists(fixtures):
        w("- Set-up through the API: " + "; ".join(l.strip() for l in open(fixtures) if l.startswith(("account", "events", "reminder"))))
    secs = sum(int(r["seconds"]) for r in runs)
    w("- Scans: %d, %d s in all (%d min %d s); %d did not run to their end" % (
        len(runs), secs, secs // 60, secs % 60, sum(1 for r in runs if r["status"] != "ok")))
    w("- Over the whole run EventPost's gateway answered **%d requests** (and %d in-process calls of "
      "the web interface), **%d with a 5xx** (%d 5xx lines from any service) and **%d with a 429** (%s)." % (
          total.requests, total.inner, total.gw5xx, sum(total.fivexx.values()), total.gw429,
          fmt_counter(total.too_many, lambda k, v: "%d %s" % (v, k))))
    errs = collections.Counter({k[1]: v for k, v in errors.items() if k[0] == "ERROR"})
    warns = collections.Counter({k[1]: v for k, v in errors.items() if k[0] == "WARN"})
    w("- ERROR lines in EventPost's log besides request lines: " + (
        fmt_counter(errs, lambda k, v: "%d × \"%s\"" % (v, k)) if errs else "none."))
    w("- WARN lines: " + (fmt_counter(warns, lambda k, v: "%d × \"%s\"" % (v, k)) if warns else "none."))
    hits = os.path.join(OUT, "helpers", "ssrf-hits.jsonl")
    if os.path.exists(hits):
        n = sum(1 for _ in open(hits))
        w("- The SSRF endpoint given to wapiti was contacted %d times%s." % (
            n, "" if n == 0 else " (see helpers/ssrf-hits.jsonl)"))
    notes = os.path.join(OUT, "notes.txt")
    if os.path.exists(notes):
        for line in open(notes):
            if line.strip():
                w("- " + line.strip())
    w("")
    w("## Results")
    w("")
    w("| scan | status | time | requests answered (gateway) | scanner's own count | findings | 5xx | 429 |")
    w("|---|---|---|---|---|---|---|---|")
    details = []
    for r in runs:
        win = window(requests, int(r["log_from"]), int(r["log_to"]))
        out = os.path.join(OUT, r["output"])
        text = open(out, errors="replace").read() if os.path.exists(out) else ""
        own, findings, body = "—", "", []
        if r["tool"] == "sqlmap":
            points, tested, notes = sqlmap_findings(text)
            findings = ("**%d injectable: %s**" % (len(points), ", ".join(p["parameter"] for p in points))
                        if points else "no injectable parameter")
            body.append("Parameters sqlmap tested and found not injectable: %s." % (", ".join(tested) or "none reported"))
            for p in points:
                body.append("- **injectable** %s" % p["parameter"])
                for t in p["types"]:
                    body.append("  - %s — %s — payload `%s`" % (t.get("type"), t.get("title"), t.get("payload")))
            body += ["- " + n for n in notes]
        elif r["tool"] == "nikto":
            report = os.path.join(OUT, "nikto", "nikto.txt")
            items, own = nikto_findings(text)
            own = own or "—"
            findings = "%d items" % len(items)
            body += ["- " + i for i in items]
            if os.path.exists(report):
                body.append("(with the request of each: %s)" % os.path.relpath(report, OUT))
        elif r["tool"] == "wapiti":
            report = os.path.splitext(out)[0] + ".json"
            found = wapiti_findings(report) if os.path.exists(report) else {}
            vulns = {c: len(v) for (k, c), v in found.items() if k == "vulnerabilities"}
            anomalies = {c: len(v) for (k, c), v in found.items() if k == "anomalies"}
            findings = "vulnerabilities: %s; anomalies: %s" % (
                ", ".join("%s %d" % kv for kv in sorted(vulns.items())) or "none",
                ", ".join("%s %d" % kv for kv in sorted(anomalies.items())) or "none")
            m = re.search(r"Wapiti found (\d+) URLs and forms", text)
            if m:
                own = "%s URLs and forms crawled" % m.group(1)
            cut = sorted(set(re.findall(r"Max attack time was reached for module (\w+)", text)))
            if cut:
                body.append("- cut short by --max-attack-time (the rest of their attacks were not sent): " + ", ".join(cut))
            if "Max scan time was reached" in text:
                body.append("- the crawl was cut short by --max-scan-time")
            for (kind, category), items in sorted(found.items()):
                body.append("- %s — %s: %d" % (kind, category, len(items)))
                for v in items[:20]:
                    body.append("  - %s %s, parameter `%s`: %s" % (
                        v.get("method"), v.get("path"), v.get("parameter"),
                        " ".join(str(v.get("info", "")).split())[:300]))
                    if v.get("curl_command"):
                        body.append("    `%s`" % " ".join(v["curl_command"].split())[:400])
                if len(items) > 20:
                    body.append("  - … %d more in %s" % (len(items) - 20, os.path.relpath(report, OUT)))
        w("| %s | %s | %s s | %d | %s | %s | %d | %d |" % (
            r["name"], r["status"] + (" (%s)" % r["note"] if r["status"] != "ok" and r["note"] else ""),
            r["seconds"], win.requests, own, findings, win.gw5xx, win.gw429))
        detail = ["### %s" % r["name"], "", "```", r["command"], "```", ""]
        detail.append("Status: %s%s; %s s; raw output: %s." % (
            r["status"], " (%s)" % r["note"] if r["note"] else "", r["seconds"], r["output"]))
        detail.append("Requests answered: %d, and %d in-process calls of the web interface to the API. "
                      "Gateway answers by status: %s." % (
                          win.requests, win.inner, fmt_counter(win.status, lambda k, v: "%s × %d" % (k, v))))
        if win.fivexx:
            detail.append("5xx: " + fmt_counter(win.fivexx, lambda k, v: "%d × %s %s (%s)" % (v, k[2], k[1], k[0])) + ".")
        if win.gw429:
            detail.append("429: %s; by route: %s." % (
                fmt_counter(win.too_many, lambda k, v: "%d %s" % (v, k)),
                fmt_counter(win.routes429, lambda k, v: "%d × %s (%s)" % (v, k[1], k[0]))))
        detail.append("")
        detail += body
        detail.append("")
        details += detail
    w("")
    w("Requests answered: the gateway's `\"msg\":\"request\"` lines logged during the scan, less the "
      "web interface's in-process calls to the API. 5xx and 429: the gateway's answers with that "
      "status during the scan, in-process calls included (EventPost's log: eventpost.log.gz).")
    w("")
    w("## Each scan")
    w("")
    lines.extend(details)
    with open(os.path.join(OUT, "summary.md"), "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    # A short version on the terminal.
    print("== results")
    for r in runs:
        win = window(requests, int(r["log_from"]), int(r["log_to"]))
        print("   %-28s %-10s %5s s  %7d requests  5xx %d  429 %d" % (
            r["name"], r["status"], r["seconds"], win.requests, win.gw5xx, win.gw429))


if __name__ == "__main__":
    main()
