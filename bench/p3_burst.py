#!/usr/bin/python3
"""P3 of docs/targets.md: burst absorption. N distinct, valid sign-ups are sent as
fast as possible to ingest + a real Kafka broker while no worker runs; then
one worker (bcrypt cost 6) drains the backlog into a real Postgres.

usage: bench/p3_burst.py [--requests N] [--connections C] [--runs R]
                         [--build DIR]

Each run: a fresh database and fresh topics (6 partitions); ingest; the
burst (bench/burst_client.c: exactly N POSTs over C keep-alive
connections, one in flight each); ingest is stopped (it flushes) and the
run fails unless every answer was 200 and every 200 is on the topic. Then
one otpflow-worker starts; the drain time runs from its start until
otpflow.processed_requests holds every record (also reported: first to
last processed row, without the worker's start-up), and the run fails unless
auth.users holds N rows with N distinct numbers (0 duplicates), the
outbox is empty and sms-otp holds N OtpIssued. Prints one JSON line per run
(ingest req/s, p50/p99, drain seconds, users/s, peak RSS of both daemons)
and a JSON line of medians (over every run; exit 1 when any run failed).
--build DIR: use DIR's binaries as they are
(without it, <repo>/build is built first). Stack: see bench/benchlib.py
(default .state/bench-h3, Postgres 54653, broker 19653).
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import REPO, log  # noqa: E402


def run_once(args, stack, keys, burst):
    n = args.requests
    env = stack.fresh(partitions=6)
    port = benchlib.free_port()
    ingest = stack.spawn("ingest", "otpflow-ingest", env,
                         OTPFLOW_LISTEN=f"127.0.0.1:{port}",
                         AUTH_SMS_PASSWORDLESS_ENABLED="true",
                         OTPFLOW_MAX_CONNECTIONS_PER_IP=max(
                             256, 2 * args.connections))
    benchlib.wait_http(f"http://127.0.0.1:{port}/healthz")
    out = subprocess.run([str(burst), "127.0.0.1", str(port), str(n),
                          str(args.connections), "555", "900"],
                         capture_output=True, text=True, timeout=960)
    if out.returncode != 0 or not out.stdout.strip():
        raise RuntimeError(f"burst client failed: {out.stderr}{out.stdout}")
    b = json.loads(out.stdout)
    ingest_rss = benchlib.rss_peak_mib(ingest.pid)
    code = stack.stop(ingest)
    ok = b["answers"].get("200", 0)
    stored = benchlib.topic_count(stack.bootstrap,
                                  env["OTPFLOW_TOPIC_SIGNUP_REQUESTS"])
    failures = []
    if code != 0:
        failures.append(f"ingest exit {code}")
    if ok != n or b["transport_errors"]:
        failures.append(f"{ok} of {n} answered 200: {b['answers']}, "
                        f"{b['transport_errors']} transport errors")
    if stored < ok:
        failures.append(f"{ok} answered 200 but {stored} on the topic")

    start = time.monotonic()
    worker = stack.spawn("worker", "otpflow-worker", env,
                         OTPFLOW_SEAL_PUBLIC_KEY=keys[
                             "OTPFLOW_SEAL_PUBLIC_KEY"],
                         OTPFLOW_OTP_BCRYPT_COST=6,
                         OTPFLOW_ADMIN_LISTEN="127.0.0.1:0")
    deadline = start + max(300, stored / 20)
    done = 0
    while time.monotonic() < deadline and worker.poll() is None:
        done = stack.query(env, "SELECT count(*) FROM "
                                "otpflow.processed_requests")[0]
        if done >= stored:
            break
        time.sleep(0.25)
    drain = time.monotonic() - start
    # The outbox is published after each commit; wait for it to empty.
    for _ in range(240):
        if stack.query(env, "SELECT count(*) FROM otpflow.outbox")[0] == 0:
            break
        time.sleep(0.25)
    worker_rss = benchlib.rss_peak_mib(worker.pid)
    code = stack.stop(worker)
    users, distinct = stack.query(
        env, "SELECT count(*), count(DISTINCT phone_number) FROM auth.users")
    issued = stack.query(env, "SELECT count(*) FROM otpflow.otp_issuance")[0]
    # first to last processed row: the drain without the worker's start-up
    span = float(stack.query(env, "SELECT coalesce(extract(epoch FROM "
                             "max(processed_at) - min(processed_at)), 0) "
                             "FROM otpflow.processed_requests")[0])
    outbox = stack.query(env, "SELECT count(*) FROM otpflow.outbox")[0]
    events = benchlib.topic_count(stack.bootstrap,
                                  env["OTPFLOW_TOPIC_SMS_OTP"])
    if done < stored:
        failures.append(f"only {done} of {stored} processed in "
                        f"{drain:.0f} s")
    if code != 0:
        failures.append(f"worker exit {code}")
    if users != n or distinct != n or issued != n or outbox or events < n:
        failures.append(f"{users} users ({distinct} distinct), {issued} "
                        f"issued, {outbox} outbox rows, {events} OtpIssued "
                        f"for {n} requests")
    stack.drop_db(env["OTPFLOW_DATABASE_URL"].rsplit("/", 1)[1])
    return {"requests": n, "connections": b["connections"],
            "ingest_req_per_s": round(b["req_per_s"]),
            "ingest_seconds": round(b["seconds"], 2),
            "p50_ms": b["p50_ms"], "p99_ms": b["p99_ms"],
            "max_ms": b["max_ms"], "answers": b["answers"],
            "on_topic": stored, "drain_seconds": round(drain, 1),
            "users_per_s": round(n / drain),
            "first_to_last_seconds": round(span, 1),
            "users_per_s_first_to_last": round(n / span) if span else 0,
            "users": users,
            "duplicates": users - distinct, "otp_issued": events,
            "ingest_rss_peak_mib": ingest_rss,
            "worker_rss_peak_mib": worker_rss,
            "verdict": "ok" if not failures else "FAILED: " +
            "; ".join(failures)}


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--build", help="use the binaries of this build dir "
                    "as they are (default: build <repo>/build first)")
    args = ap.parse_args()
    if not args.build:
        args.build = str(REPO / "build")
        benchlib.build(args.build)
    burst = benchlib.burst_client(args.build)
    results = []
    with benchlib.Stack(args.build) as stack:
        keys = stack.keys()
        for _ in range(args.runs):
            r = run_once(args, stack, keys, burst)
            print(json.dumps(r), flush=True)
            results.append(r)
    med = {k: benchlib.median([r[k] for r in results]) for k in (
        "ingest_req_per_s", "p50_ms", "p99_ms", "drain_seconds",
        "users_per_s", "users_per_s_first_to_last", "ingest_rss_peak_mib", "worker_rss_peak_mib")}
    failed = sum(r["verdict"] != "ok" for r in results)
    print(json.dumps(dict(median_of_runs=len(results), failed_runs=failed,
                          **med)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
