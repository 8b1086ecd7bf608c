"""otpflow-sender under the faults production has (docs/api.md §4, failure
policy and duplicates): a schema registry that answers 503, hostile provider
answers, Postgres lost while SMS are at the provider, a rebalance with SMS
in flight, retries that must not hold fresh codes back, a dead letter for a
record of almost the topic's size, a sealed code moved onto another record,
and the ledger's pruning. Each test fails on the code before these fixes
(named in the commit that added it) and records its figures through
results.py.
"""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

import results as results_md
from conftest import make_otp
from otpflow_test import REPO, avro_encode, produce, wait_for
from test_sender import metric, new_phone


# --- schema registry answering 503 -------------------------------------------

class FakeRegistry:
    """A tiny Confluent-compatible schema registry on loopback: registering
    answers each schema's own otpflow.schema_id; GET /schemas/ids/N answers
    503 while `failing`, then the schema of `foreign` (id -> text)."""

    def __init__(self):
        self.failing = True
        self.foreign = {}
        self.gets = 0
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, doc):
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                schema = json.loads(json.loads(self.rfile.read(n))["schema"])
                self.reply(200, {"id": schema["otpflow.schema_id"]})

            def do_GET(self):
                registry.gets += 1
                wanted = int(self.path.rsplit("/", 1)[-1])
                if registry.failing:
                    return self.reply(503, {"error_code": 50301,
                                            "message": "unavailable"})
                if wanted not in registry.foreign:
                    return self.reply(404, {"error_code": 40403,
                                            "message": "not found"})
                self.reply(200, {"schema": registry.foreign[wanted]})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_registry_503_record_waits_then_is_sent(sender, fake_provider):
    """A record of a writer schema the sender has not fetched yet, while
    the registry answers 503: it waits (not ready, a gauge says why) and
    is sent once the registry answers; never dead-lettered. Before: it was
    dead-lettered UNDECODABLE at once (R15 of docs/targets.md, sender side)."""
    registry = FakeRegistry()
    foreign_id = 99
    otp_schema = (REPO / "schemas" / "OtpIssued.avsc").read_text()
    registry.foreign[foreign_id] = otp_schema
    try:
        sender.start(OTPFLOW_SCHEMA_REGISTRY_URL=registry.url)
        phone = new_phone()
        record = make_otp(sender.public_key, phone)
        value = avro_encode("OtpIssued", record)
        value = value[:1] + foreign_id.to_bytes(4, "big") + value[5:]
        produce(sender.stack.bootstrap, sender.topics["OTPFLOW_TOPIC_SMS_OTP"],
                phone, value, [("request-id", record["request_id"].encode())])
        wait_for(lambda: registry.gets >= 3, 30,
                 "the sender asking the registry again")
        assert sender.ready() == 503
        assert metric(sender.metrics(),
                      "otpflow_sender_waiting_for_schema") == 1
        assert not sender.dead() and not fake_provider.messages()
        asked_while_failing = registry.gets
        registry.failing = False
        [(_, sent)] = sender.wait_sent(1)
        assert sent["otp_id"] == record["otp_id"]
        assert len(fake_provider.messages()) == 1
        assert not sender.dead()
        wait_for(lambda: sender.ready() == 200, 20, "/readyz 200")
        assert metric(sender.metrics(),
                      "otpflow_sender_waiting_for_schema") == 0
    finally:
        registry.stop()
    results_md.record(
        "R15-sender", "schema registry answering 503 for a record of an "
        "unknown writer schema", "test_registry_503_record_waits_then_is_"
        "sent", registry_calls_while_failing=asked_while_failing,
        dead_lettered=0, sent_after_recovery=1)


# --- rebalance with SMS in flight (R16) ----------------------------------------

def codes_sent(provider):
    """The code of every SMS the provider accepted (bodies are "Your code
    is NNNNNN.")."""
    return [m["body"].split()[-1].rstrip(".") for m in provider.messages()]


def test_r16_rebalance_with_sms_in_flight_sends_nothing_twice(
        sender, fake_provider):
    """64 SMS at a slow provider; a second sender joins (its partitions'
    records come back to it while the first is still sending them: its
    claims are refused, it waits); the first is then stopped while the 64
    are still at the provider. Every code is sent once. Before: the second
    sender claimed the codes again and sent them a second time."""
    fake_provider.rules({"*": {"delay": 8}})
    settings = dict(OTPFLOW_SMS_TIMEOUT="20s", OTPFLOW_SMS_LEASE_MARGIN="30s",
                    OTPFLOW_LOG_LEVEL="info",
                    OTPFLOW_KAFKA_SESSION_TIMEOUT_MS=6000)
    n = 64
    records = [sender.send_otp(new_phone(), code=f"{100000 + i}")
               for i in range(n)]
    first = sender.start(**settings)
    wait_for(lambda: sum(fake_provider.attempts().values()) >= n, 60,
             f"{n} sends at the provider")
    assert not fake_provider.messages()
    second = sender.start(**settings)
    second_admin = sender.admin

    def second_raced():
        text = requests.get(second_admin + "/metrics", timeout=5).text
        refused = metric(text, "otpflow_sender_claims_refused_total") or 0
        return refused > 0 or sum(fake_provider.attempts().values()) > n
    wait_for(second_raced, 60, "the second sender meeting the codes")
    refused = metric(requests.get(second_admin + "/metrics",
                                  timeout=5).text,
                     "otpflow_sender_claims_refused_total")
    at_provider_when_stopped = n - len(fake_provider.messages())
    assert first.stop(timeout=60) == 0
    # Markers: one more code per number, behind its first one; once the
    # second sender has sent them all it has handled everything before.
    markers = [sender.send_otp(r["phone_number"], code=f"{200000 + i}")
               for i, r in enumerate(records)]
    wait_for(lambda: len(set(codes_sent(fake_provider)) &
                         {f"{200000 + i}" for i in range(n)}) == n,
             120, "every marker sent")
    wait_for(lambda: metric(requests.get(second_admin + "/metrics",
                                         timeout=5).text,
                            "otpflow_sender_pending") == 0, 30,
             "the second sender idle")
    codes = codes_sent(fake_provider)
    duplicates = len(codes) - len(set(codes))
    assert duplicates == 0, sorted(c for c in set(codes)
                                   if codes.count(c) > 1)
    assert sorted(codes) == sorted(
        [f"{100000 + i}" for i in range(n)] +
        [f"{200000 + i}" for i in range(n)])
    rows = sender.db_rows()
    assert all(rows[r["otp_id"]][0] == "sent" for r in records + markers)
    sent_ids = [s["otp_id"] for _, s in sender.sent()]
    assert len(sent_ids) == len(set(sent_ids)) == 2 * n
    assert not sender.dead()
    assert second.proc.poll() is None
    results_md.record(
        "R16", "sender rebalance with 64 SMS at a slow provider (8 s): a "
        "second sender joins, the first is stopped (SIGTERM) while the 64 "
        "are still at the provider", "test_r16_rebalance_with_sms_in_flight_"
        "sends_nothing_twice", sms_in_flight=n,
        still_at_provider_when_first_stopped=at_provider_when_stopped,
        claims_refused_by_second_sender=int(refused or 0),
        codes=2 * n, sms=len(codes), duplicate_sms=duplicates)


# --- Postgres lost while SMS are at the provider (R18) ------------------------

def pg_admin(sender, sql):
    import psycopg2
    conn = psycopg2.connect(sender.stack.database_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def test_r18_postgres_lost_while_sms_at_provider_sends_each_once(
        sender, fake_provider):
    """20 SMS at the provider when Postgres goes away (the sender's
    connections killed, new ones refused); the provider accepts them all;
    then the same 20 OtpIssued are delivered again; Postgres comes back.
    Exactly one SMS per otp_id. Before: the 'sent' marks were lost, the
    offsets stored anyway, and every copy was sent a second time."""
    fake_provider.rules({"*": {"delay": 2}})
    sender.start(OTPFLOW_SMS_TIMEOUT="10s")
    dbname = sender.db.rsplit("/", 1)[1]
    n = 20
    records = [sender.send_otp(new_phone(), code=f"{300000 + i}")
               for i in range(n)]
    wait_for(lambda: sum(fake_provider.attempts().values()) >= n, 60,
             f"{n} sends at the provider")
    try:
        pg_admin(sender, f"ALTER DATABASE {dbname} ALLOW_CONNECTIONS false")
        pg_admin(sender, "SELECT pg_terminate_backend(pid) FROM "
                 f"pg_stat_activity WHERE datname = '{dbname}' AND "
                 "application_name = 'otpflow-sender'")
        wait_for(lambda: len(fake_provider.messages()) >= n, 30,
                 "the provider accepting all of them")
        wait_for(lambda: metric(sender.metrics(),
                                "otpflow_sender_in_flight") == 0, 30,
                 "every answer taken")
        wait_for(lambda: sender.ready() == 503, 30,
                 "the sender failing to record 'sent'")
        for r in records:  # the same OtpIssued, redelivered
            copy = dict(r)
            produce(sender.stack.bootstrap,
                    sender.topics["OTPFLOW_TOPIC_SMS_OTP"],
                    r["phone_number"], avro_encode("OtpIssued", copy),
                    [("request-id", r["request_id"].encode())])
        wait_for(lambda: metric(sender.metrics(),
                                "otpflow_sender_pending") >= 2 * n, 30,
                 "the copies consumed")
    finally:
        pg_admin(sender, f"ALTER DATABASE {dbname} ALLOW_CONNECTIONS true")
    wait_for(lambda: metric(sender.metrics(), "otpflow_sender_records_total",
                            'outcome="duplicate"') == n, 60,
             "every copy skipped")
    wait_for(lambda: metric(sender.metrics(),
                            "otpflow_sender_pending") == 0, 30,
             "the sender idle")
    codes = codes_sent(fake_provider)
    assert sorted(codes) == sorted(f"{300000 + i}" for i in range(n))
    rows = sender.db_rows()
    assert all(rows[r["otp_id"]][0] == "sent" for r in records)
    sent_ids = [s["otp_id"] for _, s in sender.sent()]
    assert sorted(sent_ids) == sorted(r["otp_id"] for r in records)
    assert not sender.dead()
    results_md.record(
        "R18", "Postgres connection lost while 20 SMS are at the provider "
        "(2 s), the same OtpIssued redelivered, Postgres back",
        "test_r18_postgres_lost_while_sms_at_provider_sends_each_once",
        otp_ids=n, copies_redelivered=n, sms=len(codes),
        duplicate_sms=len(codes) - len(set(codes)),
        sms_sent_records=len(sent_ids))


# --- retries have their own budget -----------------------------------------

def test_retries_waiting_never_hold_fresh_codes_back(sender, fake_provider):
    """60 codes fail once and wait 30 s (Retry-After) for their retry, more
    than the budget of records held; fresh codes produced meanwhile are
    sent before any retry is due. Before: the waiting retries counted
    toward OTPFLOW_SMS_MAX_PENDING, every partition paused and fresh codes
    waited for the retries' backoff."""
    failing = [new_phone() for _ in range(60)]
    fake_provider.rules({p: [{"status": 503, "retry_after": "30"},
                             {"status": 201}] for p in failing})
    sender.start(OTPFLOW_SMS_MAX_IN_FLIGHT=10, OTPFLOW_SMS_MAX_PENDING=20,
                 OTPFLOW_SMS_MAX_RETRY_PENDING=20)
    for phone in failing:
        sender.send_otp(phone)
    wait_for(lambda: len(sender.retries()) == len(failing), 60,
             "every failing code on the retry topic")
    wait_for(lambda: metric(sender.metrics(),
                            "otpflow_sender_pending") >= 20,
             30, "20 retry records held")
    fresh = [new_phone() for _ in range(20)]
    for phone in fresh:
        sender.send_otp(phone)
    sent = sender.wait_sent(20, timeout=25)
    attempts = fake_provider.attempts()
    second_attempts = sum(1 for p in failing if attempts.get(p, 0) > 1)
    assert sorted(m.key().decode() for m, _ in sent) == sorted(fresh)
    assert second_attempts == 0
    held = metric(sender.metrics(), "otpflow_sender_retry_pending")
    # The retries go out once due, within their own budget.
    sender.wait_sent(80, timeout=120)
    assert not sender.dead()
    assert sorted(m["to"] for m in fake_provider.messages()) == \
        sorted(failing + fresh)
    results_md.record(
        "retry-budget", "60 codes waiting 30 s for a retry (budgets of 20 "
        "fresh, 20 retry records), 20 fresh codes produced meanwhile",
        "test_retries_waiting_never_hold_fresh_codes_back",
        retries_waiting=len(failing), fresh_codes=len(fresh),
        fresh_sent_before_any_retry=len(sent),
        retry_records_held_when_fresh_were_sent=int(held),
        retries_sent_later=len(failing))


# --- a dead letter always fits the topic -------------------------------------

def test_dead_letter_of_a_1_05_mb_record_fits_the_topic(sender,
                                                        fake_provider):
    """An undecodable record of 1.05 MB on a topic that allows it: its
    dead letter keeps the first 512 KiB, the whole length and SHA-256, and
    fits the dead-letter topic's default limit; the partition keeps
    flowing. Before: the dead letter was larger than the topic allows and
    its produce was retried silently for ever (R11: whatever its size)."""
    import hashlib
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, ConfigResource
    topic = sender.topics["OTPFLOW_TOPIC_SMS_OTP"]
    admin = AdminClient({"bootstrap.servers": sender.stack.bootstrap})
    for future in admin.alter_configs([ConfigResource(
            "topic", topic,
            set_config={"max.message.bytes": "2000000"})]).values():
        future.result(timeout=30)
    sender.start()
    phone = new_phone()
    garbage = b"\x00\x00\x00\x00\x02" + b"\xff" * (1050000 - 5)
    producer = Producer({"bootstrap.servers": sender.stack.bootstrap,
                         "message.max.bytes": 2000000})
    errors = []
    producer.produce(topic, key=phone.encode(), value=garbage,
                     headers=[("request-id", b"big")],
                     on_delivery=lambda err, msg: err and errors.append(err))
    assert producer.flush(30) == 0 and not errors, errors
    record = sender.send_otp(phone)  # same key: same partition, after it
    [(msg, dl)] = sender.wait_dead(1, timeout=60)
    assert dl["reason"] == "UNDECODABLE" and dl["otp"] is None
    assert dl["raw_value_length"] == len(garbage)
    assert dl["raw_value_sha256"] == hashlib.sha256(garbage).hexdigest()
    assert dl["raw_value"] == garbage[:512 * 1024]
    assert "1050000 bytes" in dl["error_message"]
    assert len(msg.value()) < 1000000
    [(_, sent)] = sender.wait_sent(1)
    assert sent["otp_id"] == record["otp_id"]
    results_md.record(
        "R11-sender-large", "undecodable record of 1.05 MB on sms-otp "
        "(topic limit raised to 2 MB; dead-letter topic at its default)",
        "test_dead_letter_of_a_1_05_mb_record_fits_the_topic",
        record_bytes=len(garbage), dead_letter_bytes=len(msg.value()),
        raw_value_bytes_kept=len(dl["raw_value"]),
        next_record_on_the_partition_sent=1)


# --- a sealed code is good for its own record only ---------------------------

def test_sealed_code_copied_onto_another_record_is_refused_tampered(
        sender, fake_provider):
    """Someone who can write to sms-otp copies a victim's sealed code onto
    an OtpIssued with their own number (keeping the victim's otp_id, or
    with another one): dead letter TAMPERED, no SMS. A version 1 seal (the
    bare code: no record to check it against) is refused the same way
    unless OTPFLOW_SEAL_ACCEPT_UNBOUND=true. Before: the sender texted the
    victim's code to the attacker's number."""
    sender.start()
    victim, attacker = new_phone(), new_phone()
    stolen_from = make_otp(sender.public_key, victim, code="771234")
    same_id = make_otp(sender.public_key, attacker,
                       otp_id=stolen_from["otp_id"])
    other_id = make_otp(sender.public_key, attacker)
    same_id["otp_sealed"] = other_id["otp_sealed"] = \
        stolen_from["otp_sealed"]
    v1 = make_otp(sender.public_key, attacker, code="771234", bound=False)
    for r in (same_id, other_id, v1):
        produce(sender.stack.bootstrap,
                sender.topics["OTPFLOW_TOPIC_SMS_OTP"], attacker,
                avro_encode("OtpIssued", r), [("request-id", r["request_id"].encode())])
    genuine = sender.send_otp(attacker, code="555555")  # after them
    [(_, sent)] = sender.wait_sent(1)
    assert sent["otp_id"] == genuine["otp_id"]
    dead = sender.wait_dead(3)
    assert sorted(dl["otp"]["otp_id"] for _, dl in dead) == \
        sorted(r["otp_id"] for r in (same_id, other_id, v1))
    assert {dl["reason"] for _, dl in dead} == {"TAMPERED"}
    for _, dl in dead:
        assert dl["otp"]["phone_number"] == attacker
        assert victim not in dl["error_message"]
    assert [m["body"] for m in fake_provider.messages()] == \
        ["Your code is 555555."]
    assert victim not in sender.logs()
    wait_for(lambda: metric(sender.metrics(),
                            "otpflow_sender_dead_letters_total",
                            'reason="TAMPERED"') == 3, 10,
             "TAMPERED counted")
    results_md.record(
        "TAMPERED", "a victim's sealed code on the attacker's OtpIssued "
        "(the victim's otp_id, another otp_id) and a version 1 seal",
        "test_sealed_code_copied_onto_another_record_is_refused_tampered",
        forged_records=3, dead_lettered_tampered=len(dead),
        victim_code_sent_to_attacker=0)


def test_version_1_seal_is_sent_when_unbound_seals_are_accepted(
        sender, fake_provider):
    """The upgrade switch: with OTPFLOW_SEAL_ACCEPT_UNBOUND=true a code
    sealed by a version 1 worker (the bare code) is sent."""
    sender.start(OTPFLOW_SEAL_ACCEPT_UNBOUND="true")
    phone = new_phone()
    record = make_otp(sender.public_key, phone, code="402913", bound=False)
    produce(sender.stack.bootstrap, sender.topics["OTPFLOW_TOPIC_SMS_OTP"],
            phone, avro_encode("OtpIssued", record),
            [("request-id", record["request_id"].encode())])
    [(_, sent)] = sender.wait_sent(1)
    assert sent["otp_id"] == record["otp_id"]
    assert [m["body"] for m in fake_provider.messages()] == \
        ["Your code is 402913."]
    assert not sender.dead()


# --- the ledger is pruned -------------------------------------------------------

def test_delivery_ledger_older_than_retention_is_pruned(sender):
    """Rows of otpflow.sms_deliveries older than OTPFLOW_LEDGER_RETENTION
    (default 14 days) are deleted in small batches; younger ones stay.
    Before: nothing pruned the table; it grew for ever."""
    import psycopg2
    old, young = 1234, 50
    with psycopg2.connect(sender.db) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO otpflow.sms_deliveries (otp_id, user_id, status, "
            "updated_at) SELECT gen_random_uuid(), gen_random_uuid(), "
            "'sent', now() - interval '15 days' - n * interval '1 second' "
            "FROM generate_series(1, %s) AS n", (old,))
        cur.execute(
            "INSERT INTO otpflow.sms_deliveries (otp_id, user_id, status, "
            "updated_at) SELECT gen_random_uuid(), gen_random_uuid(), "
            "'sent', now() - interval '13 days' FROM generate_series(1, %s)",
            (young,))
    conn.close()
    sender.start()
    wait_for(lambda: len(sender.db_rows()) == young, 60,
             "the old rows pruned")
    assert metric(sender.metrics(),
                  "otpflow_sender_ledger_pruned_total") == old
    results_md.record(
        "ledger-pruning", "otpflow.sms_deliveries with 1234 rows older than "
        "the retention (14 days) and 50 younger", "test_delivery_ledger_"
        "older_than_retention_is_pruned", rows_pruned=old, rows_kept=young,
        batch_rows=500)


# --- hostile provider answers (R17) ------------------------------------------

EMOJI, EURO, ACUTE = "\U0001F600", "\u20ac", "\u00e9"


def number_forms(phone):
    """The ways a provider may write a +1 number in a text."""
    national = phone[2:]
    a, b, c = national[:3], national[3:6], national[6:]
    return [phone, phone[1:], national, f"({a}) {b}-{c}", f"{a}-{b}-{c}",
            f"{a} {b} {c}", f"+1 {a}-{b}-{c}", f"{a}.{b}.{c}"]


def hostile_rules(phones):
    """One hostile answer per number: (rule, expected end)."""
    rules, ends = {}, {}
    it = iter(phones)
    for shift in range(4):  # every cut lands inside a character once
        p = next(it)
        rules[p] = {"sid": "x" * shift + EMOJI * 100}
        ends[p] = "sent"
        p = next(it)
        a, b, c = p[2:5], p[5:8], p[8:]
        rules[p] = {"status": 400, "code": 21211, "message":
                    f"The 'To' number {p} is not a valid phone number. "
                    + "x" * shift + (ACUTE + EURO + EMOJI) * 300
                    + f" ({a}) {b}-{c}"}
        ends[p] = "dead"
        p = next(it)
        rules[p] = [{"status": 503, "message": "x" * shift
                     + f"carrier for {p[1:]} busy " + EURO * 400},
                    {"status": 201}]
        ends[p] = "sent"
        p = next(it)
        rules[p] = {"status": 400, "code": "x" * shift + EURO * 40,
                    "message": "bad"}
        ends[p] = "dead"
    p = next(it)  # the number inside the message id
    rules[p] = {"sid": f"SM{p[1:]}{EMOJI}"}
    ends[p] = "sent"
    p = next(it)  # a 1 MiB answer, accepted
    rules[p] = {"status": 201, "pad": 1 << 20}
    ends[p] = "sent"
    p = next(it)  # a 1 MiB error naming the number
    rules[p] = {"status": 400, "code": 21211, "pad": 1 << 20,
                "message": f"{p} {EMOJI * 5000}"}
    ends[p] = "dead"
    p = next(it)  # not JSON, not UTF-8
    rules[p] = {"status": 400, "raw_b64": base64.b64encode(
        b"\xff\xfe" + p.encode() + b"\xc3").decode()}
    ends[p] = "dead"
    return rules, ends


def test_r17_hostile_provider_answers(sender, fake_provider, otpflowctl):
    """Over-long ids and messages, multi-byte characters cut at every
    limit, the destination number inside error texts and ids, 1 MiB bodies,
    bytes that are not UTF-8: the sender stays up, every code ends sent or
    dead-lettered exactly once, and no number appears unmasked in a log, a
    record's text, a header or `otpflowctl tail`. Before: a cut inside a
    character made the outcome record fail and the sender exit 1, sending
    the SMS again on each restart; the number reached the dead letter."""
    phones = [new_phone() for _ in range(20)]
    rules, ends = hostile_rules(phones)
    fake_provider.rules(rules)
    daemon = sender.start()
    records = {p: sender.send_otp(p) for p in rules}
    want_sent = sorted(p for p in rules if ends[p] == "sent")
    want_dead = sorted(p for p in rules if ends[p] == "dead")
    sent = sender.wait_sent(len(want_sent), timeout=60)
    dead = sender.wait_dead(len(want_dead), timeout=60)
    assert daemon.proc.poll() is None, sender.logs()[-3000:]
    # Exactly once each, as expected.
    assert sorted(m.key().decode() for m, _ in sent) == want_sent
    assert sorted(m.key().decode() for m, _ in dead) == want_dead
    assert {s["otp_id"] for _, s in sent} | \
        {dl["otp"]["otp_id"] for _, dl in dead} == \
        {r["otp_id"] for r in records.values()}
    assert all(dl["reason"] == "PERMANENT" for _, dl in dead)
    assert len(fake_provider.messages()) == len(want_sent)
    # Whole characters, within their limits.
    for _, s in sent:
        assert len(s["provider_message_id"].encode()) < 128
    for m, dl in dead:
        assert len(dl["error_message"].encode()) < 512
        assert len(dl["provider_code"] or "") < 32
        dict(m.headers())["kafka_dlt-exception-message"].decode()
    # No number in the clear: logs, texts of records, headers, tail.
    texts = [sender.logs()]
    texts += [s["provider_message_id"] for _, s in sent]
    texts += [dl["error_message"] + " " + (dl["provider_code"] or "")
              for _, dl in dead]
    texts += [dict(m.headers())["kafka_dlt-exception-message"].decode()
              for m, _ in dead]
    for name in ("OTPFLOW_TOPIC_DEAD_LETTER", "OTPFLOW_TOPIC_SMS_SENT",
                 "OTPFLOW_TOPIC_SMS_OTP_RETRY"):
        proc = otpflowctl("tail", sender.topics[name], "--from-beginning",
                          "--no-follow", env=sender.topics)
        assert proc.returncode == 0, proc.stderr
        texts.append(proc.stdout)
    leaks = [(p, form) for p in rules for form in number_forms(p)
             if any(form in t for t in texts)]
    assert not leaks
    assert metric(sender.metrics(), "otpflow_sender_records_total",
                  'outcome="sent"') == len(want_sent)
    results_md.record(
        "R17", "hostile provider answers: over-long ids and messages, "
        "2-4 byte characters cut at every limit, the number in error texts "
        "and ids, 1 MiB bodies, a body that is not UTF-8",
        "test_r17_hostile_provider_answers", codes=len(rules),
        sent=len(sent), dead_lettered=len(dead), sender_restarts=0,
        unmasked_numbers=len(leaks))
