#!/usr/bin/env python3
"""Helper for bench/store/run.sh (Python 3 stdlib only).

  corpus DIR [--rounds N] [--seed N]  write DIR/body_0000.lp ... : N rounds (100) of the
                                      10,000 series of bench/corpus.py, one body a round, and
                                      DIR/corpus.json; prints the raw line-protocol bytes/point
  port                                print a free TCP port on 127.0.0.1
  ready URL PID [--timeout S]         poll URL until it answers 2xx
  send --name N --url U --corpus DIR --results R [--no-retry-503]
                                      POST every body, in order, one at a time (http.client, a
                                      connection per body); a 503 is sent again (see deliver),
                                      any other non-2xx answer fails
  vm-count --url BASE --corpus DIR    VictoriaMetrics: force_flush, then count the stored
                                      samples and series; fails when they are not all there
  pythond-count --pythond BIN --root ROOT --corpus DIR
                                      `pythond query` count(*) FROM points (server stopped);
                                      fails unless it equals the points sent
  disk --name N --dir DATA --corpus DIR --results R
                                      size of DATA (server stopped) / points sent: RESULT line
  curl --name N --url U --corpus DIR --results R [--no-retry-503]
                                      every body with its own `curl --data-binary @body`, one
                                      after another, timed (503s as send): RESULT line
  report RESULTS                      table and ratio RESULT lines
"""

import http.client
import json
import os
import random
import subprocess
import sys
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import (append_result, free_port, load_results, print_table, ratio,  # noqa: E402
                      run_main, subcommands, wait_ready)
from corpus import (BASE_NS, MEASUREMENTS, ROUND_NS, field_count, make_hosts,  # noqa: E402
                    make_round, series, series_offsets)

# ---------------------------------------------------------------------------------------------
# Corpus


def cmd_corpus(a):
    os.makedirs(a.dir, exist_ok=True)
    hosts = make_hosts(random.Random(a.seed))  # the fleet of bench/ingest (same seed)
    all_series = series(hosts)
    offsets = series_offsets(random.Random("%d/offsets" % a.seed), len(all_series))
    bodies, total = [], 0
    for k in range(a.rounds):
        body = make_round(random.Random("%d/round/%d" % (a.seed, k)), all_series, offsets, k)
        name = "body_%04d.lp" % k
        with open(os.path.join(a.dir, name), "wb") as f:
            f.write(body)
        bodies.append(name)
        total += len(body)
    points = len(all_series) * a.rounds
    samples = sum(field_count(m) for m, _ in all_series) * a.rounds  # one per field
    meta = {
        "bodies": bodies, "lines_per_body": len(all_series), "points": points, "bytes": total,
        "series": len(all_series), "field_series": sum(field_count(m) for m, _ in all_series),
        "samples": samples, "first_ns": BASE_NS, "end_ns": BASE_NS + a.rounds * ROUND_NS,
    }
    with open(os.path.join(a.dir, "corpus.json"), "w") as f:
        json.dump(meta, f)
    print("corpus: %d bodies x %d lines (%d series, %d measurements, rounds 10 s apart): "
          "%d points, %d bytes" % (len(bodies), len(all_series), len(all_series),
                                   len(MEASUREMENTS), points, total), file=sys.stderr)
    print("RESULT bench=store_corpus points=%d bytes=%d bytes_per_point=%.1f" %
          (points, total, total / points), flush=True)


def load_corpus(d):
    with open(os.path.join(d, "corpus.json")) as f:
        meta = json.load(f)
    meta["paths"] = [os.path.join(d, b) for b in meta["bodies"]]
    return meta


# ---------------------------------------------------------------------------------------------
# Sending


def cmd_port(a):
    print(free_port())


def cmd_ready(a):
    wait_ready(a.url, a.pid, a.timeout)


RETRY_PAUSE_S = 0.1   # between a 503 answer and sending the same body again
RETRY_LIMIT_S = 120   # per body


def deliver(name, paths, attempt, retry_503):
    """Sends every body in paths, in order, one at a time: attempt(path) -> (HTTP status or 0
    for a transport error, detail). A 503 (pythond: the store's backlog is full, "retry later"
    as DataKit clients do; the body was refused whole) is sent again after RETRY_PAUSE_S, for up
    to RETRY_LIMIT_S a body, when retry_503; any other answer outside 2xx fails the bench.
    Returns (seconds from the first send to the last answer, 503 answers retried)."""
    retries = 0
    t0 = time.monotonic()
    for path in paths:
        give_up = time.monotonic() + RETRY_LIMIT_S
        while True:
            status, detail = attempt(path)
            if 200 <= status < 300:
                break
            if status == 503 and retry_503 and time.monotonic() < give_up:
                retries += 1
                time.sleep(RETRY_PAUSE_S)
                continue
            sys.exit("%s: %s: %s: %s (after %d retried 503 answers)" % (
                name, os.path.basename(path), "HTTP %d" % status if status else "no answer",
                detail, retries))
    return time.monotonic() - t0, retries


def post(url, path, timeout=300):
    """POSTs the file at path on a new connection: (status, start of the answer)."""
    with open(path, "rb") as f:
        body = f.read()
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        target = u.path + ("?" + u.query if u.query else "")
        conn.request("POST", target, body, {"Content-Type": "text/plain; charset=utf-8"})
        r = conn.getresponse()
        return r.status, repr(r.read()[:300])
    except (OSError, http.client.HTTPException) as e:
        return 0, str(e)
    finally:
        conn.close()


def curl(url, path):
    """`curl --data-binary @path url` in a new process: (status, curl's complaint)."""
    p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time",
                        "300", "--data-binary", "@" + path, url],
                       capture_output=True, text=True, timeout=330)
    code = p.stdout.strip()
    status = int(code) if p.returncode == 0 and code.isdigit() else 0
    return status, "curl exit %d %s" % (p.returncode, p.stderr.strip())


def cmd_send(a):
    c = load_corpus(a.corpus)
    seconds, retries = deliver(a.name, c["paths"], lambda p: post(a.url, p), a.retry_503)
    print("%s: sent %d bodies (%d points) in %.2f s, %d 503 answers retried" %
          (a.name, len(c["paths"]), c["points"], seconds, retries), file=sys.stderr)
    append_result(a.results, {"figure": "send", "server": a.name, "seconds": seconds,
                              "points": c["points"], "bodies": len(c["paths"]),
                              "retries_503": retries})


def cmd_curl(a):
    c = load_corpus(a.corpus)
    seconds, retries = deliver(a.name, c["paths"], lambda p: curl(a.url, p), a.retry_503)
    rec = {"figure": "curl", "server": a.name, "bodies": len(c["paths"]), "points": c["points"],
           "seconds": seconds, "points_per_s": c["points"] / seconds, "retries_503": retries}
    print("RESULT bench=store_curl server=%s bodies=%d seconds=%.2f points_per_s=%.0f "
          "retries_503=%d" % (a.name, rec["bodies"], seconds, rec["points_per_s"], retries),
          flush=True)
    append_result(a.results, rec)


# ---------------------------------------------------------------------------------------------
# What was stored, and its size


def http_get(url, timeout=60):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def vm_query(base, query, at_s):
    q = urllib.parse.urlencode({"query": query, "time": "%.3f" % at_s, "nocache": "1"})
    doc = json.loads(http_get(base + "/api/v1/query?" + q))
    result = doc.get("data", {}).get("result", [])
    return int(float(result[0]["value"][1])) if result else 0


def cmd_vm_count(a):
    """VictoriaMetrics stores one sample per numeric field of a line (metric
    `<measurement>_<field>`; bools become 0/1, quoted strings are parsed as numbers, else 0).
    Counts the samples in the corpus' time range and the series; retries for up to 30 s
    (freshly flushed data reaches search within a few seconds)."""
    c = load_corpus(a.corpus)
    names = "|".join(sorted(MEASUREMENTS))
    window_s = (c["end_ns"] - c["first_ns"]) // 10**9 + 10
    query = 'sum(count_over_time({__name__=~"(%s)_.+"}[%ds]))' % (names, window_s)
    at_s = c["end_ns"] / 1e9
    deadline = time.monotonic() + 30
    while True:
        http_get(a.url + "/internal/force_flush")
        samples = vm_query(a.url, query, at_s)
        series_n = json.loads(http_get(a.url + "/api/v1/series/count"))["data"][0]
        if samples == c["samples"] and series_n == c["field_series"] or \
                time.monotonic() > deadline:
            break
        time.sleep(1)
    print("%s: %d samples (expected %d = %d points x their fields), %d series (expected %d)" %
          (a.name, samples, c["samples"], c["points"], series_n, c["field_series"]),
          file=sys.stderr)
    if samples != c["samples"] or series_n != c["field_series"]:
        sys.exit("%s: the stored samples or series do not match what was sent" % a.name)


def cmd_pythond_count(a):
    c = load_corpus(a.corpus)
    p = subprocess.run([a.pythond, "query", "--root", a.root, "SELECT count(*) AS n FROM points"],
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        sys.exit("%s: pythond query failed (%d): %s" % (a.name, p.returncode, p.stderr))
    rows = p.stdout.split()
    n = int(rows[-1]) if len(rows) == 2 and rows[-1].isdigit() else -1
    print("%s: %d points stored (expected %d)" % (a.name, n, c["points"]), file=sys.stderr)
    if n != c["points"]:
        sys.exit("%s: stored %s points, sent %d: %r" % (a.name, n, c["points"], p.stdout[:300]))


def dir_size(d):
    """(apparent bytes, allocated bytes) of every file under d (links not followed)."""
    size = alloc = 0
    for root, dirs, files in os.walk(d):
        for name in files + dirs:
            st = os.lstat(os.path.join(root, name))
            alloc += st.st_blocks * 512
            if name in files:
                size += st.st_size
    return size, alloc


def cmd_disk(a):
    c = load_corpus(a.corpus)
    size, alloc = dir_size(a.dir)
    parts = {}
    for name in sorted(os.listdir(a.dir)):
        path = os.path.join(a.dir, name)
        parts[name] = dir_size(path)[0] if os.path.isdir(path) else os.lstat(path).st_size
    print("%s: %s: %s" % (a.name, a.dir, ", ".join(
        "%s %d" % kv for kv in sorted(parts.items(), key=lambda kv: -kv[1]) if kv[1])),
          file=sys.stderr)
    sent = [r for r in load_results(a.results) if r["figure"] == "send" and r["server"] == a.name]
    rec = {"figure": "disk", "server": a.name, "points": c["points"], "bytes": size,
           "bytes_per_point": size / c["points"], "du_bytes": alloc,
           "raw_bytes_per_point": c["bytes"] / c["points"], "parts": parts,
           "retries_503": sent[-1]["retries_503"] if sent else 0}
    print("RESULT bench=store_disk server=%s points=%d bytes=%d bytes_per_point=%.2f "
          "retries_503=%d" % (a.name, c["points"], size, rec["bytes_per_point"],
                              rec["retries_503"]), flush=True)
    append_result(a.results, rec)


# ---------------------------------------------------------------------------------------------
# Report


def cmd_report(a):
    recs = load_results(a.results)
    by = {(r["figure"], r["server"]): r for r in recs}
    servers = sorted({r["server"] for r in recs})
    hdr = "%-16s %10s %12s %9s %7s %8s %6s %8s %10s %6s" % (
        "server", "points", "disk_bytes", "B/point", "vs_raw", "send_s", "503s", "curl_s",
        "curl_pt/s", "503s")
    rows = []
    for s in servers:
        d, snd, cu = by.get(("disk", s)), by.get(("send", s)), by.get(("curl", s))
        nan = float("nan")
        rows.append("%-16s %10d %12d %9.2f %7.3f %8.2f %6s %8.2f %10.0f %6s" % (
            s, (d or cu or {}).get("points", 0), d["bytes"] if d else 0,
            d["bytes_per_point"] if d else nan,
            ratio(d["bytes_per_point"], d["raw_bytes_per_point"]) if d else nan,
            snd["seconds"] if snd else nan, snd["retries_503"] if snd else "-",
            cu["seconds"] if cu else nan, cu["points_per_s"] if cu else nan,
            cu["retries_503"] if cu else "-"))
    print_table(hdr, rows)
    print()
    p, vm = by.get(("disk", "pythond")), by.get(("disk", "victoriametrics"))
    if p and vm:
        print("RESULT bench=store_disk ratio=pythond_vs_victoriametrics bytes_per_point=%.2f" %
              ratio(p["bytes_per_point"], vm["bytes_per_point"]))
    p, vm = by.get(("curl", "pythond")), by.get(("curl", "victoriametrics"))
    if p and vm:
        print("RESULT bench=store_curl ratio=pythond_vs_victoriametrics seconds=%.2f "
              "points_per_s=%.2f" % (ratio(p["seconds"], vm["seconds"]),
                                     ratio(p["points_per_s"], vm["points_per_s"])))
    print("\nnotes: a point is one line-protocol line (4-6 fields; VictoriaMetrics keeps one "
          "sample per\nfield); disk = every file under ROOT/data (pythond) or -storageDataPath "
          "(VictoriaMetrics)\nafter a clean stop, apparent size; vs_raw = B/point over the raw "
          "line protocol's B/point;\nsend_s = the disk run's sequential upload (http.client, no "
          "Expect); curl = a new\n`curl --data-binary @body` per body on a fresh server (curl "
          "sends Expect: 100-continue\nfor bodies over 1 MiB); 503s = answers \"busy, retry "
          "later\" whose body was sent again\n%.1f s later (the time includes the pauses)." %
          RETRY_PAUSE_S)


def main():
    ap, sub = subcommands()
    p = sub.add_parser("corpus")
    p.add_argument("dir")
    p.add_argument("--rounds", type=int, default=100)
    p.add_argument("--seed", type=int, default=20240101)
    p.set_defaults(fn=cmd_corpus)
    p = sub.add_parser("port")
    p.set_defaults(fn=cmd_port)
    p = sub.add_parser("ready")
    p.add_argument("url")
    p.add_argument("pid", type=int)
    p.add_argument("--timeout", type=float, default=60)
    p.set_defaults(fn=cmd_ready)
    for name, fn in (("send", cmd_send), ("curl", cmd_curl)):
        p = sub.add_parser(name)
        p.add_argument("--name", required=True)
        p.add_argument("--url", required=True)
        p.add_argument("--corpus", required=True)
        p.add_argument("--results", required=True)
        p.add_argument("--no-retry-503", dest="retry_503", action="store_false",
                       help="fail on a 503 answer too")
        p.set_defaults(fn=fn)
    p = sub.add_parser("vm-count")
    p.add_argument("--name", default="victoriametrics")
    p.add_argument("--url", required=True)
    p.add_argument("--corpus", required=True)
    p.set_defaults(fn=cmd_vm_count)
    p = sub.add_parser("pythond-count")
    p.add_argument("--name", default="pythond")
    p.add_argument("--pythond", required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--corpus", required=True)
    p.set_defaults(fn=cmd_pythond_count)
    p = sub.add_parser("disk")
    p.add_argument("--name", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--corpus", required=True)
    p.add_argument("--results", required=True)
    p.set_defaults(fn=cmd_disk)
    run_main(ap, sub, cmd_report)


if __name__ == "__main__":
    main()
