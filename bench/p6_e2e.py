#!/usr/bin/python3
"""P6 of docs/targets.md: end-to-end latency at a steady request rate, through
ingest -> Kafka -> worker -> Postgres -> Kafka -> sender -> fake provider
answering after 50 ms.

usage: bench/p6_e2e.py [--rate R] [--duration S] [--runs N] [--delay S]
                       [--save LABEL] [--build DIR]

Each run: a fresh database and topics (6 partitions); the fake provider
(tests/fake_provider.py, Twilio API, every answer after --delay), ingest,
one worker (bcrypt cost: the configured default) and one sender. A warm-up
of 20 sign-ups must reach the provider first (consumer groups joined).
Then an open-loop client sends R sign-ups per second for S seconds, each
with its own number (request i is due at start + i/R; 16 threads with a
keep-alive connection each; requests sent more than 10 ms late are
counted). Per request, latency = the provider's received_at for that
number (logged when it answers, i.e. after its delay) minus the client's
wall-clock time of the 200; also reported from the time the request was
sent. The run fails unless every answer was 200 and every accepted number
(warm-up included) got exactly one SMS and no other number got one, within
120 s + 2 x S after the load. Cross-check: the sender's
otpflow_sender_accept_to_sent_seconds histogram (ingest receipt ->
provider 2xx). Prints one JSON line per run and one of medians; --save
LABEL writes every latency to bench/results/p6_e2e-LABEL.json (one
session of bench/plots.py's figure, named LABEL).
--build DIR: use DIR's binaries as they are (without it, <repo>/build is
built first).
Stack: see bench/benchlib.py (default .state/bench-h3, 54653, 19653).
"""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import REPO, log  # noqa: E402

THREADS = 16
WARMUP = 20


def signup(conn, phone):
    body = json.dumps({"phoneNumber": phone})
    conn.request("POST", "/signup/passwordless/sms", body,
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    return r.status


def load(port, rate, duration, prefix):
    """Open-loop load; [(phone, sent, answered, status)] in wall-clock s."""
    n = int(rate * duration)
    out = [None] * n
    lock = threading.Lock()
    state = {"next": 0, "late": 0}
    t0 = time.monotonic() + 0.2
    wall0 = time.time() - time.monotonic()      # monotonic -> wall clock

    def run():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while True:
            with lock:
                i = state["next"]
                state["next"] += 1
            if i >= n:
                break
            due = t0 + i / rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            elif wait < -0.01:
                with lock:
                    state["late"] += 1
            phone = f"+1{prefix}{i:07d}"
            sent = time.monotonic()
            try:
                status = signup(conn, phone)
            except (OSError, http.client.HTTPException):
                status = -1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port,
                                                  timeout=10)
            out[i] = (phone, wall0 + sent, wall0 + time.monotonic(), status)
        conn.close()

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + 120)
    return out, state["late"], time.monotonic() - t0


def provider_log(path):
    """{number: [received_at, ...]} from the fake provider's log."""
    got = {}
    try:
        text = path.read_text()
    except FileNotFoundError:
        return got
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue                            # a line being written
        got.setdefault(rec["to"], []).append(rec["received_at"])
    return got


def pct(xs, q):
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))]


def run_once(args, stack, keys):
    env = stack.fresh(partitions=6)
    tag = env["BENCH_TAG"]
    plog = stack.state / f"provider-{tag}.jsonl"
    rules = stack.state / f"rules-{tag}.json"
    rules.write_text(json.dumps({"*": {"delay": args.delay}}))
    provider = subprocess.Popen(
        ["/usr/bin/python3", str(REPO / "tests" / "fake_provider.py"),
         "--log", str(plog), "--rules", str(rules)],
        stdout=subprocess.PIPE, text=True)
    stack.procs.append(("provider", provider))
    provider_url = "http://" + provider.stdout.readline().split()[-1]
    port, sender_admin = benchlib.free_port(), benchlib.free_port()
    stack.spawn("ingest", "otpflow-ingest", env,
                OTPFLOW_LISTEN=f"127.0.0.1:{port}",
                AUTH_SMS_PASSWORDLESS_ENABLED="true")
    stack.spawn("worker", "otpflow-worker", env,
                OTPFLOW_SEAL_PUBLIC_KEY=keys["OTPFLOW_SEAL_PUBLIC_KEY"],
                OTPFLOW_ADMIN_LISTEN="127.0.0.1:0")
    sender = stack.spawn(
        "sender", "otpflow-sender", env,
        OTPFLOW_SEAL_SECRET_KEY=keys["OTPFLOW_SEAL_SECRET_KEY"],
        OTPFLOW_SMS_PROVIDER="twilio",
        OTPFLOW_SMS_TWILIO_BASE_URL=provider_url,
        AUTH_SMS_TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        AUTH_SMS_TWILIO_AUTH_TOKEN="bench",
        AUTH_SMS_TWILIO_MESSAGING_SERVICE_ID="MG" + "1" * 32,
        OTPFLOW_ADMIN_LISTEN=f"127.0.0.1:{sender_admin}")
    benchlib.wait_http(f"http://127.0.0.1:{port}/healthz")

    # Warm-up: the pipeline is joined and flowing before the clock starts.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    warm = [f"+1554{i:07d}" for i in range(WARMUP)]
    for phone in warm:
        if signup(conn, phone) != 200:
            raise RuntimeError("warm-up sign-up refused")
    conn.close()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and \
            len(set(provider_log(plog)) & set(warm)) < WARMUP:
        time.sleep(0.2)

    sent, late, elapsed = load(port, args.rate, args.duration, "555")
    accepted = {s[0]: s for s in sent if s and s[3] == 200}
    want = set(accepted) | set(warm)
    deadline = time.monotonic() + 120 + 2 * args.duration
    got = provider_log(plog)
    while time.monotonic() < deadline and not want <= set(got):
        time.sleep(0.2)
        got = provider_log(plog)
    time.sleep(2)                               # late duplicates show up
    got = provider_log(plog)
    metrics = requests.get(f"http://127.0.0.1:{sender_admin}/metrics",
                           timeout=5).text
    sender_rss = benchlib.rss_peak_mib(sender.pid)
    codes = {name: stack.stop(p) for name, p in list(reversed(stack.procs))
             if name != "provider"}
    provider.terminate()
    provider.wait(10)
    stack.procs = [(n, p) for n, p in stack.procs if p is not provider]
    stack.drop_db(env["OTPFLOW_DATABASE_URL"].rsplit("/", 1)[1])

    failures = []
    non200 = [s for s in sent if not s or s[3] != 200]
    if non200:
        failures.append(f"{len(non200)} answers other than 200, e.g. "
                        f"{non200[:3]}")
    missing = want - set(got)
    dup = {k: len(v) for k, v in got.items() if len(v) > 1}
    extra = set(got) - want
    if missing or dup or extra:
        failures.append(f"{len(missing)} numbers without SMS, {len(dup)} "
                        f"with several, {len(extra)} unexpected")
    failures += [f"{n} exit {c}" for n, c in codes.items() if c != 0]
    if failures:
        return {"verdict": "FAILED: " + "; ".join(failures)}, []

    lat = sorted((got[p][0] - s[2]) * 1000 for p, s in accepted.items())
    lat_sent = sorted((got[p][0] - s[1]) * 1000 for p, s in accepted.items())
    hist = benchlib.histogram(metrics, "otpflow_sender_accept_to_sent_seconds")
    h_count = benchlib.metric(metrics,
                              "otpflow_sender_accept_to_sent_seconds_count")
    h_sum = benchlib.metric(metrics,
                            "otpflow_sender_accept_to_sent_seconds_sum")
    q = benchlib.histogram_quantile
    return {"requests": len(sent), "rate_per_s": args.rate,
            "achieved_rate_per_s": round(len(sent) / elapsed, 1),
            "late_sends": late, "provider_delay_ms": int(args.delay * 1000),
            "p50_ms": round(pct(lat, 0.5), 1),
            "p90_ms": round(pct(lat, 0.9), 1),
            "p99_ms": round(pct(lat, 0.99), 1),
            "max_ms": round(lat[-1], 1),
            "mean_ms": round(statistics.mean(lat), 1),
            "from_send_p50_ms": round(pct(lat_sent, 0.5), 1),
            "from_send_p99_ms": round(pct(lat_sent, 0.99), 1),
            "sms": sum(len(v) for v in got.values()),
            "sender_metric_count": int(h_count),
            "sender_metric_mean_ms": round(1000 * h_sum / h_count, 1)
            if h_count else None,
            "sender_metric_p50_le_ms": 1000 * q(hist, 0.5)
            if hist else None,
            "sender_metric_p99_le_ms": 1000 * q(hist, 0.99)
            if hist else None,
            "sender_rss_peak_mib": sender_rss, "verdict": "ok"}, lat


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--delay", type=float, default=0.05)
    ap.add_argument("--save", metavar="LABEL")
    ap.add_argument("--build", help="use the binaries of this build dir "
                    "as they are (default: build <repo>/build first)")
    args = ap.parse_args()
    if not args.build:
        args.build = str(REPO / "build")
        benchlib.build(args.build)
    results, saved = [], []
    with benchlib.Stack(args.build) as stack:
        keys = stack.keys()
        for _ in range(args.runs):
            r, lat = run_once(args, stack, keys)
            print(json.dumps(r), flush=True)
            if r["verdict"] != "ok":
                return 1
            results.append(r)
            saved.append(dict(r, latencies_ms=[round(x, 2) for x in lat]))
    med = {k: benchlib.median([r[k] for r in results]) for k in (
        "p50_ms", "p90_ms", "p99_ms", "max_ms", "from_send_p50_ms",
        "from_send_p99_ms", "sender_metric_mean_ms")}
    print(json.dumps(dict(median_of_runs=len(results), **med)))
    if args.save:
        path = REPO / "bench" / "results" / f"p6_e2e-{args.save}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps({
            "label": args.save,
            "command": " ".join(["bench/p6_e2e.py"] + sys.argv[1:]),
            "date": time.strftime("%Y-%m-%d %H:%M"), "runs": saved}))
        log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
