"""Reliability scenarios of docs/targets.md that need a service of their own to
break: R4 (the Kafka broker stops under load) and R5 (Postgres stops under
load). Each starts a private broker or Postgres through the same scripts,
so the session's shared services are never disturbed."""

import json
import subprocess
import threading
import time

import requests

import results as results_md

from conftest import REPO, STATE, script_env
from otpflow_test import (JSON, SIGNUP_ROUTE, avro_decode, free_port,
                          processed, query, read_topic, wait_for)


def private(script, name, port_var, port):
    env = script_env()
    env["OTPFLOW_STATE_DIR"] = str(STATE / name)
    env[port_var] = str(port)

    def run(*args, timeout=300):
        proc = subprocess.run([str(REPO / "scripts" / script), *args], env=env,
                              capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip().splitlines()[-1] if proc.stdout else ""
    return run


def free_pair():
    """A port P with P + 1 free too (the broker's controller port)."""
    import socket
    for _ in range(50):
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue
    raise AssertionError("no free port pair")


def post(url, phone):
    """A sign-up's HTTP status, or None without an answer (the outages)."""
    try:
        return requests.post(url + SIGNUP_ROUTE, timeout=30, headers=JSON,
                             data=json.dumps({"phoneNumber": phone})
                             ).status_code
    except requests.RequestException:
        return None


class Load:
    """Sends distinct sign-ups from a few threads until stopped."""

    def __init__(self, url, prefix):
        self.url, self.prefix = url, prefix
        self.results = {}  # phone -> status
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.next = 0
        self.threads = [threading.Thread(target=self.run) for _ in range(2)]
        for t in self.threads:
            t.start()

    def run(self):
        while not self.stop.is_set():
            with self.lock:
                n = self.next
                self.next += 1
            if n >= 100000:
                return
            phone = f"{self.prefix}{n:06d}"
            self.results[phone] = post(self.url, phone)
            time.sleep(0.02)  # pacing of the load, not synchronisation

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)
        return self.results


def test_r5_postgres_outage(stack, topics, otpflowctl, start_ingest,
                            start_worker):
    pg = private("pg.sh", "r5-pg", "OTPFLOW_PG_PORT", free_port())
    pg("clean")  # a cluster of its own, new every run
    url_db = pg("start")
    try:
        assert otpflowctl("migrate", env={"OTPFLOW_DATABASE_URL": url_db}
                          ).returncode == 0
        ingest = start_ingest()
        worker = start_worker(url_db)
        load = Load(ingest, "+1415590")
        wait_for(lambda: processed(url_db) >= 20, 60, "first requests")
        pg("stop")  # fast shutdown: nothing commits after this returns
        down_at = time.monotonic()
        # The outage lasts 30 s (the scenario), ingest keeps accepting.
        while time.monotonic() - down_at < 30:
            assert worker.proc.poll() is None, worker.output()
            time.sleep(1)
        assert "postgres" in worker.output()
        pg("start")
        up_at = time.monotonic()
        wait_for(lambda: worker.output().count('"postgres connected"') >= 2,
                 30, "worker reconnected")
        resumed = time.monotonic() - up_at
        results = load.finish()
        accepted = [p for p, s in results.items() if s == 200]
        assert len(accepted) == len(results), "ingest must not depend on Postgres"
        wait_for(lambda: processed(url_db) >= len(accepted), 120, "catch-up")
        drained = time.monotonic() - up_at
        [(users, distinct)] = query(url_db, "SELECT count(*), count(DISTINCT "
                                            "phone_number) FROM auth.users")
        assert users == distinct == len(accepted)
        events = read_topic(stack.bootstrap, topics["OTPFLOW_TOPIC_SMS_OTP"])
        assert len({avro_decode(m.value())[1]["user_id"] for m in events}) \
            == len(accepted)
        results_md.record(
            "R5", "Postgres stopped for 30 s under load",
            "test_r5_postgres_outage", accepted=len(accepted),
            users_created=users, duplicate_users=users - distinct,
            lost=len(accepted) - users,
            worker_resumed_after_postgres_returned_s=resumed,
            caught_up_after_s=drained)
    finally:
        pg("clean")


def test_r4_broker_outage(topics, start_ingest):
    port = free_pair()
    kafka = private("kafka.sh", "r4-kafka", "OTPFLOW_BROKER_PORT", port)
    subprocess.run(["rm", "-rf", str(STATE / "r4-kafka")], check=True)
    bootstrap = kafka("start")
    try:
        ingest = start_ingest(OTPFLOW_KAFKA_BOOTSTRAP_SERVERS=bootstrap,
                              OTPFLOW_ACCEPT_TIMEOUT_MS=3000)
        load = Load(ingest, "+1415591")
        wait_for(lambda: list(load.results.values()).count(200) >= 50, 60,
                 "first accepts")
        kafka("stop")
        down_at = time.monotonic()
        while time.monotonic() - down_at < 10:  # the scenario's outage
            time.sleep(0.5)
        mark = len(load.results)
        kafka("start")
        # Service resumes without restarting ingest.
        wait_for(lambda: any(s == 200 for p, s in list(load.results.items())
                             [mark:]), 90, "accepts after the outage")
        results = load.finish()
        ok = {p for p, s in results.items() if s == 200}
        refused = [p for p, s in results.items() if s == 503]
        assert refused, "some requests must have met the outage"
        assert set(results.values()) <= {200, 503}
        on_topic = {m.key().decode() for m in read_topic(
            bootstrap, topics["OTPFLOW_TOPIC_SIGNUP_REQUESTS"], timeout=60)}
        assert ok <= on_topic, f"{len(ok - on_topic)} answered 200 but lost"
        results_md.record(
            "R4", "Kafka broker stopped for 10 s under load",
            "test_r4_broker_outage", requests=len(results),
            answered_200=len(ok), answered_503=len(refused),
            answered_200_not_on_topic=len(ok - on_topic))
    finally:
        kafka("stop")
        subprocess.run(["rm", "-rf", str(STATE / "r4-kafka")], check=True)
