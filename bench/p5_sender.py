#!/usr/bin/python3
"""P5 of docs/targets.md: sender throughput with the fake provider answering after
50 ms. Real Kafka and Postgres (own state: .state/bench-sender, broker
19692, Postgres 54639, or OTPFLOW_STATE_DIR / OTPFLOW_BROKER_PORT /
OTPFLOW_PG_PORT).

usage: bench/p5_sender.py [--runs N] [--backlog N] [--in-flight N]
                          [--delay S] [--ceiling-seconds S] [--build DIR]

Each run: a fresh database and topics (6 partitions), a backlog of N OtpIssued
records (distinct numbers) on sms-otp, the fake provider (tests/
fake_provider.py, every answer after --delay), then one otpflow-sender; it
measures from the first SMS to the last sms-sent (the sender's own counter),
samples the in-flight gauge and the sender's peak RSS, and checks that the
provider got exactly N SMS to N distinct numbers. The ceiling, measured in
the same run: the same fake provider driven by wrk with as many connections
as the sender may have requests in flight (a Twilio form POST, 10 s or
--ceiling-seconds). Prints
one JSON line per run and the medians.
"""

import argparse
import base64
import datetime
import io
import json
import os
import pathlib
import statistics
import subprocess
import sys

from benchlib import metric
import time
import uuid

import avro.io
import avro.schema
import psycopg2
import requests
from confluent_kafka import Producer
from nacl.public import PublicKey, SealedBox

REPO = pathlib.Path(__file__).resolve().parents[1]
STATE = pathlib.Path(os.environ.get("OTPFLOW_STATE_DIR",
                                    REPO / ".state" / "bench-sender"))
PG_PORT = os.environ.get("OTPFLOW_PG_PORT", "54639")
BROKER_PORT = os.environ.get("OTPFLOW_BROKER_PORT", "19692")


def script(*args):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OTPFLOW_KAFKA_")}
    env.update(OTPFLOW_STATE_DIR=str(STATE), OTPFLOW_PG_PORT=PG_PORT,
               OTPFLOW_BROKER_PORT=BROKER_PORT)
    out = subprocess.run([str(REPO / "scripts" / args[0]), *args[1:]],
                         env=env, check=True, capture_output=True,
                         text=True).stdout
    return out.strip().splitlines()[-1]


def produce_backlog(bootstrap, topic, n, public_key):
    text = (REPO / "schemas" / "OtpIssued.avsc").read_text()
    schema = avro.schema.parse(text)
    header = b"\x00" + json.loads(text)["otpflow.schema_id"].to_bytes(4, "big")
    writer = avro.io.DatumWriter(schema)
    box = SealedBox(PublicKey(base64.b64decode(public_key)))
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                         "enable.idempotence": True})
    now = datetime.datetime.now(datetime.timezone.utc)
    for i in range(n):
        phone = f"+1555{i:07d}"
        otp_id = str(uuid.uuid4())
        # Sealed as the worker seals it: bound to the record (version 2).
        sealed = box.encrypt(f"v2\n{otp_id}\n{phone}\n123456".encode())
        buf = io.BytesIO()
        writer.write({"otp_id": otp_id,
                      "request_id": str(uuid.uuid4()),
                      "user_id": str(uuid.uuid4()), "phone_number": phone,
                      "locale": "en", "otp_sealed": sealed,
                      "issued_at": now,
                      "expires_at": now + datetime.timedelta(minutes=30)},
                     avro.io.BinaryEncoder(buf))
        while True:
            try:
                producer.produce(topic, key=phone, value=header + buf.getvalue())
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(60) == 0


def rss_peak_kib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


WRK_LUA = """wrk.method = "POST"
wrk.body = "To=%2B15550000001&MessagingServiceSid=MG1&Body=Your%20code%20is%20123456."
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
"""


def provider_ceiling(args, tag):
    """Requests/s of the fake provider alone at the same concurrency."""
    rules = STATE / f"rules-wrk-{tag}.json"
    rules.write_text(json.dumps({"*": {"delay": args.delay}}))
    lua = STATE / "p5.lua"
    lua.write_text(WRK_LUA)
    provider = subprocess.Popen(
        ["/usr/bin/python3", str(REPO / "tests" / "fake_provider.py"),
         "--log", "/dev/null", "--rules", str(rules)],
        stdout=subprocess.PIPE, text=True)
    url = "http://" + provider.stdout.readline().split()[-1]
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{args.in_flight}",
             f"-d{args.ceiling_seconds}s", "-s", str(lua),
             url + "/2010-04-01/Accounts/AC1/Messages.json"],
            check=True, capture_output=True, text=True).stdout
    finally:
        provider.terminate()
        provider.wait(10)
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise RuntimeError("wrk gave no rate:\n" + out)


def run_once(args, bootstrap, pg, keys):
    tag = uuid.uuid4().hex[:10]
    db = f"bench_{tag}"
    admin = psycopg2.connect(pg)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {db}")
    url = pg.rsplit("/", 1)[0] + "/" + db
    build = pathlib.Path(args.build)
    topics = {"OTPFLOW_TOPIC_SMS_OTP": f"bench-otp-{tag}",
              "OTPFLOW_TOPIC_SMS_OTP_RETRY": f"bench-retry-{tag}",
              "OTPFLOW_TOPIC_SMS_SENT": f"bench-sent-{tag}",
              "OTPFLOW_TOPIC_DEAD_LETTER": f"bench-dlt-{tag}",
              "OTPFLOW_TOPIC_SIGNUP_REQUESTS": f"bench-req-{tag}"}
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTPFLOW_", "AUTH_"))}
    env.update(topics, OTPFLOW_KAFKA_BOOTSTRAP_SERVERS=bootstrap,
               OTPFLOW_DATABASE_URL=url, OTPFLOW_DATA_DIR=str(REPO))
    subprocess.run([str(build / "otpflowctl"), "migrate"], env=env,
                   check=True, capture_output=True)
    # `otpflowctl topics` may call a topic it just created "missing" (its
    # metadata trails the creation): a second call finds them.
    for attempt in range(5):
        if subprocess.run([str(build / "otpflowctl"), "topics",
                           "--partitions", "6"], env=env,
                          capture_output=True).returncode == 0:
            break
        time.sleep(1)
    else:
        raise RuntimeError("otpflowctl topics keeps failing")
    produce_backlog(bootstrap, topics["OTPFLOW_TOPIC_SMS_OTP"], args.backlog,
                    keys["OTPFLOW_SEAL_PUBLIC_KEY"])

    log = STATE / f"provider-{tag}.jsonl"
    rules = STATE / f"rules-{tag}.json"
    rules.write_text(json.dumps({"*": {"delay": args.delay}}))
    provider = subprocess.Popen(
        ["/usr/bin/python3", str(REPO / "tests" / "fake_provider.py"),
         "--log", str(log), "--rules", str(rules)],
        stdout=subprocess.PIPE, text=True)
    provider_url = "http://" + provider.stdout.readline().split()[-1]
    admin_port = 20000 + int(tag[:4], 16) % 20000
    env.update(OTPFLOW_SEAL_SECRET_KEY=keys["OTPFLOW_SEAL_SECRET_KEY"],
               OTPFLOW_SMS_PROVIDER="twilio",
               OTPFLOW_SMS_TWILIO_BASE_URL=provider_url,
               AUTH_SMS_TWILIO_ACCOUNT_SID="AC" + "0" * 32,
               AUTH_SMS_TWILIO_AUTH_TOKEN="bench",
               AUTH_SMS_TWILIO_MESSAGING_SERVICE_ID="MG" + "1" * 32,
               OTPFLOW_SMS_MAX_IN_FLIGHT=str(args.in_flight),
               OTPFLOW_ADMIN_LISTEN=f"127.0.0.1:{admin_port}",
               OTPFLOW_LOG_LEVEL="warn")
    sender_log = open(STATE / f"sender-{tag}.log", "wb")
    sender = subprocess.Popen([str(build / "otpflow-sender")], env=env,
                              stdout=sender_log, stderr=sender_log)
    metrics_url = f"http://127.0.0.1:{admin_port}/metrics"
    first = last = None
    max_in_flight, samples = 0.0, []
    deadline = time.monotonic() + 600
    sent = 0.0
    while time.monotonic() < deadline:
        try:
            text = requests.get(metrics_url, timeout=2).text
        except requests.ConnectionError:
            time.sleep(0.05)
            continue
        now = time.monotonic()
        sent = metric(text, "otpflow_sender_records_total", 'outcome="sent"')
        in_flight = metric(text, "otpflow_sender_in_flight")
        if in_flight > 0 or sent > 0:
            first = first or now
            samples.append(in_flight)
        max_in_flight = max(max_in_flight, in_flight)
        if sent >= args.backlog:
            last = now
            break
        time.sleep(0.05)
    rss = rss_peak_kib(sender.pid)
    sender.terminate()
    code = sender.wait(60)
    provider.terminate()
    provider.wait(10)
    lines = log.read_text().splitlines() if log.exists() else []
    numbers = {json.loads(line)["to"] for line in lines}
    admin.cursor().execute(f"DROP DATABASE {db} WITH (FORCE)")
    admin.close()
    assert last, f"only {sent} of {args.backlog} sent in time"
    assert code == 0, f"sender exit {code}"
    assert len(lines) == args.backlog and len(numbers) == args.backlog, \
        (len(lines), len(numbers))
    busy = [s for s in samples if s > 0]
    ceiling = provider_ceiling(args, tag)
    rate = args.backlog / (last - first)
    return {"sms": args.backlog, "seconds": round(last - first, 2),
            "sms_per_s": round(rate),
            "provider_ceiling_req_per_s": round(ceiling),
            "ratio": round(rate / ceiling, 2),
            "in_flight_median": statistics.median(busy) if busy else 0,
            "in_flight_max": max_in_flight,
            "max_in_flight_setting": args.in_flight,
            "provider_delay_ms": int(args.delay * 1000),
            "sender_rss_peak_mib": round(rss / 1024, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--backlog", type=int, default=20000)
    ap.add_argument("--in-flight", type=int, default=512)
    ap.add_argument("--delay", type=float, default=0.05)
    ap.add_argument("--ceiling-seconds", type=int, default=10)
    ap.add_argument("--build", default=str(REPO / "build"))
    args = ap.parse_args()
    bootstrap = script("kafka.sh", "start")
    pg = script("pg.sh", "start")
    out = subprocess.run([str(pathlib.Path(args.build) / "otpflowctl"),
                          "keygen"], check=True, capture_output=True,
                         text=True).stdout
    keys = dict(line.split("=", 1) for line in out.split())
    results = []
    for _ in range(args.runs):
        r = run_once(args, bootstrap, pg, keys)
        print(json.dumps(r), flush=True)
        results.append(r)
    print(json.dumps({"median_sms_per_s": statistics.median(
        r["sms_per_s"] for r in results), "runs": len(results),
        "median_ceiling": statistics.median(
            r["provider_ceiling_req_per_s"] for r in results),
        "median_ratio": statistics.median(r["ratio"] for r in results),
        "median_in_flight": statistics.median(
            r["in_flight_median"] for r in results),
        "median_rss_peak_mib": statistics.median(
            r["sender_rss_peak_mib"] for r in results)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
