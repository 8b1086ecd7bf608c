"""The worker under the faults production has (docs/targets.md R14, R15): a
Postgres that stays up but fails, a schema registry that answers 503, a
commit delayed past the code's lifetime, and ledger pruning. Each test fails
on the v1 worker, which treated every unclassified Postgres error and every
registry failure as the request's fault and dropped it.

The failure policy (docs/api.md §3): only a malformed record and a Postgres
error of class 22/23 that repeats when the request is retried alone are the
request's fault; everything else holds the batch, retries, and catches up.
"""

import datetime
import io
import json
import struct
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import avro.io
import avro.schema
import psycopg2
import pytest
import requests

import results as results_md
from otpflow_test import (REPO, dead_letters, otp_events, processed, query,
                          signup, wait_for, wait_processed)
from test_reliability import Load


def metrics(worker):
    text = requests.get(worker.admin_url + "/metrics", timeout=10).text
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if not line.startswith("#")}


def not_ready(worker, cause):
    """Polled: /readyz answers 503 naming the cause."""
    resp = requests.get(worker.admin_url + "/readyz", timeout=10)
    return resp.status_code == 503 and cause in resp.text


def admin_connection(url):
    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


def settle(stack, topics, db, load, started):
    """Stops the load; waits until the worker has processed every accepted
    request; checks that each one is a user with exactly one code and that
    nothing was dropped or dead-lettered. Returns the figures."""
    results = load.finish()
    accepted = sorted(p for p, s in results.items() if s == 200)
    # A 503 (a topic still being created at the start) is not a loss.
    wait_for(lambda: processed(db) >= len(accepted), 180, "catch-up")
    caught_up = time.monotonic() - started
    users = dict(query(db, "SELECT phone_number, id::text FROM auth.users"))
    outcomes = dict(query(db, "SELECT outcome, count(*) FROM "
                          "otpflow.processed_requests GROUP BY 1"))
    lost = set(accepted) - set(users)
    assert not lost, f"{len(lost)} accepted signups lost"
    assert set(users) <= set(results)
    assert outcomes == {"created": len(users)}, outcomes
    events = wait_for(lambda: len({o["user_id"] for _, o in
                                   otp_events(stack, topics)}) >=
                      len(accepted) and otp_events(stack, topics), 60,
                      "one OtpIssued per user")
    per_user = {}
    for _, otp in events:
        per_user.setdefault(otp["user_id"], set()).add(otp["otp_id"])
    assert set(per_user) == set(users.values())
    assert all(len(ids) == 1 for ids in per_user.values())
    assert dead_letters(stack, topics) == []
    return {"accepted": len(accepted), "users_created": len(users),
            "lost": 0, "dropped": 0, "dead_lettered": 0,
            "caught_up_after_fault_start_s": caught_up}


# --- R14: Postgres up but failing -----------------------------------------

def test_r14_read_only_postgres(stack, topics, migrated_db, otpflowctl,
                                start_ingest, start_worker):
    """Postgres read-only for 10 s (a failover: the database's default
    turned read-only and every session ended): writes fail with 25006; the
    worker reconnects and retries until the server takes writes again. v1
    split the batch and dropped its requests."""
    ingest = start_ingest()
    worker = start_worker(migrated_db)
    load = Load(ingest, "+1415593")
    wait_for(lambda: processed(migrated_db) >= 10, 60, "first requests")
    db = urllib.parse.urlparse(migrated_db).path.lstrip("/")
    admin = admin_connection(stack.database_url)
    try:
        with admin.cursor() as cur:
            cur.execute(f"ALTER DATABASE {db} SET "
                        "default_transaction_read_only = on")
            cur.execute("SELECT pg_terminate_backend(pid) FROM "
                        "pg_stat_activity WHERE datname = %s AND "
                        "pid <> pg_backend_pid()", (db,))
        started = time.monotonic()
        wait_for(lambda: "read-only transaction" in worker.output(), 30,
                 "a write refused by the read-only server")
        wait_for(lambda: not_ready(worker, "postgres"), 30,
                 "/readyz saying Postgres fails")
        while time.monotonic() - started < 10:  # the fault's duration
            assert worker.proc.poll() is None, worker.output()
            time.sleep(0.5)
        held = processed(migrated_db)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"ALTER DATABASE {db} RESET "
                        "default_transaction_read_only")
        admin.close()
    figures = settle(stack, topics, migrated_db, load, started)
    assert metrics(worker)[
        'otpflow_worker_hold_retries_total{cause="postgres"}'] > 0
    wait_for(lambda: requests.get(worker.admin_url + "/readyz",
                                  timeout=10).ok, 30, "ready again")
    results_md.record("R14-read-only", "Postgres read-only for 10 s "
                      "(failover) under load", "test_r14_read_only_postgres",
                      processed_when_the_fault_ended=held, **figures)


@pytest.mark.parametrize("setting,sqlstate", [
    ("statement_timeout", "57014"), ("lock_timeout", "55P03")])
def test_r14_timeout_behind_a_table_lock(stack, topics, migrated_db, otpflowctl,
                                         start_ingest, start_worker,
                                         setting, sqlstate):
    """A 1 s statement (or lock) timeout while a 6 s table lock (what a
    migration or VACUUM FULL takes) blocks the worker's transaction: the
    worker holds the batch and retries until the lock is gone. The lock is
    on auth.user_roles, which only the transaction writes. v1 dropped the
    requests of that transaction."""
    ingest = start_ingest()
    options = urllib.parse.quote(f"-c {setting}=1000")
    worker = start_worker(migrated_db + f"?options={options}")
    load = Load(ingest, "+1415594" if setting == "statement_timeout"
                else "+1415595")
    wait_for(lambda: processed(migrated_db) >= 10, 60, "first requests")
    admin = psycopg2.connect(migrated_db)
    with admin.cursor() as cur:
        cur.execute("LOCK TABLE auth.user_roles IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        wait_for(lambda: sqlstate in worker.output() or
                 "timeout" in worker.output(), 30, "a timed-out statement")
        while time.monotonic() - started < 6:  # the lock's duration
            assert worker.proc.poll() is None, worker.output()
            time.sleep(0.5)
    admin.commit()
    admin.close()
    figures = settle(stack, topics, migrated_db, load, started)
    results_md.record(f"R14-{setting.replace('_', '-')}",
                      f"1 s {setting} with a 6 s table lock under load",
                      "test_r14_timeout_behind_a_table_lock", **figures)


def test_r14_connection_reset_mid_transaction(stack, topics, migrated_db,
                                              otpflowctl, start_ingest,
                                              start_worker):
    """The worker's session is terminated in the middle of its transaction,
    again and again: it reconnects and redoes the batch; one effect per
    request."""
    ingest = start_ingest()
    worker = start_worker(migrated_db)
    load = Load(ingest, "+1415596")
    wait_for(lambda: processed(migrated_db) >= 10, 60, "first requests")
    admin = admin_connection(migrated_db)
    started = time.monotonic()
    kills = 0
    with admin.cursor() as cur:
        while kills < 5 and time.monotonic() - started < 60:
            cur.execute("SELECT count(pg_terminate_backend(pid)) FROM "
                        "pg_stat_activity WHERE application_name = "
                        "'otpflow-worker' AND xact_start IS NOT NULL AND "
                        "pid <> pg_backend_pid()")
            kills += cur.fetchone()[0]
            time.sleep(0.01)  # pacing of the fault, not synchronisation
    admin.close()
    assert kills >= 5, "the worker was never caught in a transaction"
    figures = settle(stack, topics, migrated_db, load, started)
    assert worker.proc.poll() is None
    results_md.record("R14-reset", "worker's Postgres session terminated "
                      "mid-transaction 5 times under load",
                      "test_r14_connection_reset_mid_transaction",
                      sessions_terminated_in_a_transaction=kills, **figures)


# --- R15: the schema registry answers 503 ---------------------------------

class FakeRegistry:
    """A Confluent-compatible schema registry, enough for otpflow: register
    a schema under a subject, fetch a schema by id. While `down` is set it
    answers 503 to everything."""

    def __init__(self):
        self.schemas, self.ids, self.next_id = {}, {}, 100
        self.down = threading.Event()
        self.lock = threading.Lock()
        self.requests_while_down = 0
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type",
                                 "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def unavailable(self):
                if not registry.down.is_set():
                    return False
                with registry.lock:
                    registry.requests_while_down += 1
                self.reply(503, {"error_code": 50301,
                                 "message": "Service Unavailable"})
                return True

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                if self.unavailable():
                    return
                self.reply(200, {"id": registry.register(body["schema"])})

            def do_GET(self):
                if self.unavailable():
                    return
                schema_id = int(self.path.rsplit("/", 1)[1])
                if schema_id not in registry.schemas:
                    self.reply(404, {"error_code": 40403,
                                     "message": "Schema not found"})
                    return
                self.reply(200, {"schema": registry.schemas[schema_id]})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever)
        self.thread.start()

    def register(self, text):
        key = json.dumps(json.loads(text), sort_keys=True)
        with self.lock:
            if key not in self.ids:
                self.ids[key] = self.next_id
                self.schemas[self.next_id] = text
                self.next_id += 1
            return self.ids[key]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def registry():
    fake = FakeRegistry()
    yield fake
    fake.close()


def newer_signup_schema(extra_field):
    """SignupRequested as a newer writer would have it: one more field,
    with a default (a BACKWARD-compatible change)."""
    schema = json.loads((REPO / "schemas" / "SignupRequested.avsc")
                        .read_text())
    schema["fields"].append({"name": extra_field,
                             "type": ["null", "string"], "default": None})
    return json.dumps(schema)


def produce_signups(stack, topics, schema_text, schema_id, phones, extra):
    """Publishes one SignupRequested per phone, written with the given
    writer schema and framed with its registry id."""
    import uuid
    from confluent_kafka import Producer
    schema = avro.schema.parse(schema_text)
    producer = Producer({"bootstrap.servers": stack.bootstrap})
    for phone in phones:
        record = {
            "request_id": str(uuid.uuid4()),
            "received_at": datetime.datetime.now(datetime.timezone.utc),
            "phone_number": phone, "display_name": phone, "locale": "en",
            "default_role": "user", "allowed_roles": ["me", "user"],
            "metadata_json": "null", "redirect_to": "", "client_ip": None,
            "kind": "SIGNUP", "replay_of": None, extra: "tv-ad"}
        buf = io.BytesIO()
        buf.write(b"\x00" + struct.pack(">i", schema_id))
        avro.io.DatumWriter(schema).write(record, avro.io.BinaryEncoder(buf))
        producer.produce(topics["OTPFLOW_TOPIC_SIGNUP_REQUESTS"],
                         key=phone.encode(), value=buf.getvalue())
    assert producer.flush(30) == 0


def test_r15_registry_503_while_a_new_writer_schema_arrives(
        stack, topics, migrated_db, otpflowctl, start_worker, registry):
    """The registry answers 503 for 30 s while records of a writer schema
    the worker has not fetched yet arrive: they cannot be decoded now, which
    is not malformed. The worker holds them (/readyz says why), skips and
    dead-letters none, and processes all of them once the registry is back.
    v1 logged them as undecodable and skipped them: lost signups."""
    worker = start_worker(migrated_db, OTPFLOW_SCHEMA_REGISTRY_URL=registry.url,
                          OTPFLOW_SCHEMA_REGISTRY_TIMEOUT="1s")
    newer = newer_signup_schema("campaign")
    newer_id = registry.register(newer)
    phones = [f"+1415597{n:04d}" for n in range(20)]
    registry.down.set()
    started = time.monotonic()
    produce_signups(stack, topics, newer, newer_id, phones, "campaign")
    wait_for(lambda: not_ready(worker, "schema registry"), 30,
             "/readyz saying the registry is unavailable")
    while time.monotonic() - started < 30:  # the outage's duration
        assert worker.proc.poll() is None, worker.output()
        time.sleep(0.5)
    held = processed(migrated_db)
    registry.down.clear()
    recovered = time.monotonic()
    wait_processed(migrated_db, len(phones), timeout=120)
    caught_up = time.monotonic() - recovered
    assert held == 0
    assert sorted(p for (p,) in query(
        migrated_db, "SELECT phone_number FROM auth.users")) == phones
    assert dead_letters(stack, topics) == []
    assert "dead-lettered" not in worker.output()
    assert metrics(worker)[
        'otpflow_worker_hold_retries_total{cause="schema_registry"}'] > 0
    wait_for(lambda: requests.get(worker.admin_url + "/readyz",
                                  timeout=10).ok, 30, "ready again")
    results_md.record(
        "R15", "schema registry answering 503 for 30 s while records of a "
        "new writer schema arrive",
        "test_r15_registry_503_while_a_new_writer_schema_arrives",
        records=len(phones), processed_during_outage=held,
        registry_requests_answered_503=registry.requests_while_down,
        skipped=0, dead_lettered=0,
        processed_after_recovery=processed(migrated_db),
        caught_up_after_recovery_s=caught_up)


def test_writer_schema_cache_evicts(stack, topics, migrated_db, otpflowctl,
                                    start_worker, registry):
    """40 writer schema versions, more than the worker caches (32): the
    least recently used one is evicted; every record is decoded. v1 refused
    the 33rd version for good ("too many schema versions")."""
    start_worker(migrated_db, OTPFLOW_SCHEMA_REGISTRY_URL=registry.url)
    phones = []
    for n in range(40):
        extra = f"added_{n}"
        text = newer_signup_schema(extra)
        phone = f"+1415598{n:04d}"
        produce_signups(stack, topics, text, registry.register(text),
                        [phone], extra)
        phones.append(phone)
    wait_processed(migrated_db, len(phones), timeout=120)
    assert query(migrated_db, "SELECT count(*) FROM auth.users")[0][0] == 40
    assert dead_letters(stack, topics) == []


# --- Codes stamped at commit ----------------------------------------------

def test_code_is_stamped_when_its_transaction_commits(
        stack, topics, migrated_db, otpflowctl, start_ingest, start_worker):
    """The worker's transaction waits on a lock for longer than the code's
    lifetime (2 s): the code is stamped when it commits, so it is valid
    after the commit, and the user row, the issuance row and the OtpIssued
    event agree. v1 stamped it before the transaction: an already expired
    code."""
    url = start_ingest()
    worker = start_worker(migrated_db, OTPFLOW_OTP_TTL="2s")
    wait_for(lambda: requests.get(worker.admin_url + "/readyz",
                                  timeout=10).ok, 30, "worker ready")
    admin = psycopg2.connect(migrated_db)
    with admin.cursor() as cur:
        cur.execute("LOCK TABLE otpflow.outbox IN ACCESS EXCLUSIVE MODE")
        signup(url, "+14155990001")
        wait_for(lambda: query(migrated_db, "SELECT count(*) FROM "
                               "pg_stat_activity WHERE application_name = "
                               "'otpflow-worker' AND wait_event_type = "
                               "'Lock' AND datname = current_database()")
                 [0][0] > 0, 30,
                 "the worker's transaction waiting on the lock")
        time.sleep(3)  # the delay: longer than the code's lifetime
        released = datetime.datetime.now(datetime.timezone.utc)
    admin.commit()
    admin.close()
    [(_, otp)] = wait_for(lambda: otp_events(stack, topics), 60, "OtpIssued")
    assert otp["issued_at"] >= released - datetime.timedelta(milliseconds=1)
    assert otp["expires_at"] - otp["issued_at"] == \
        datetime.timedelta(seconds=2)
    assert otp["expires_at"] > released  # valid once committed
    [(row_expires,)] = query(migrated_db, "SELECT otp_hash_expires_at FROM "
                             "auth.users")
    [(issued, expires)] = query(migrated_db, "SELECT issued_at, expires_at "
                                "FROM otpflow.otp_issuance")
    assert row_expires == otp["expires_at"] == expires
    assert issued == otp["issued_at"]
    results_md.record(
        "R-stamp", "commit delayed 3 s by a lock, code lifetime 2 s",
        "test_code_is_stamped_when_its_transaction_commits",
        lock_held_past_the_ttl_s=3.0, code_lifetime_s=2.0,
        issued_after_the_lock_was_released="yes",
        row_and_event_expiry_agree="yes")


# --- Ledger pruning -------------------------------------------------------

def test_ledger_is_pruned_in_small_batches(stack, topics, migrated_db,
                                           otpflowctl, start_worker):
    """Rows of processed_requests and otp_issuance older than
    OTPFLOW_LEDGER_RETENTION (default 14 days) are deleted, a batch at a
    time; younger ones stay. v1 kept them forever."""
    old, young = 2500, 10
    with psycopg2.connect(migrated_db) as conn, conn.cursor() as cur:
        for age, n in (("15 days", old), ("13 days", young)):
            cur.execute(
                "INSERT INTO otpflow.processed_requests (request_id, "
                "processed_at, outcome) SELECT gen_random_uuid(), "
                "now() - %s::interval, 'created' FROM generate_series(1, %s)",
                (age, n))
            cur.execute(
                "INSERT INTO otpflow.otp_issuance (otp_id, user_id, "
                "phone_number, request_id, issued_at, expires_at) "
                "SELECT gen_random_uuid(), gen_random_uuid(), '+1415', "
                "gen_random_uuid(), now() - %s::interval, now() - "
                "%s::interval FROM generate_series(1, %s)", (age, age, n))
    conn.close()
    worker = start_worker(migrated_db)
    wait_for(lambda: query(migrated_db, "SELECT (SELECT count(*) FROM "
                           "otpflow.processed_requests) + (SELECT count(*) "
                           "FROM otpflow.otp_issuance)")[0][0] == 2 * young,
             60, "old ledger rows pruned")
    assert metrics(worker)["otpflow_worker_ledger_pruned_total"] == 2 * old
    results_md.record("R-prune", "ledger rows older than the retention",
                      "test_ledger_is_pruned_in_small_batches",
                      rows_older_than_retention=2 * old,
                      rows_younger=2 * young, pruned=2 * old,
                      kept=2 * young, batch_size=1000)
