"""otpflow-sender against a real Kafka, a real Postgres and the fake SMS
provider (tests/fake_provider.py): every outcome of docs/api.md §4 as it is
observable on the topics, in the provider's log, in otpflow.sms_deliveries,
on /readyz and /metrics -- and never a plaintext code on a topic, a header or
a log line.
"""

import base64
import json
import re
import secrets
import subprocess
import uuid

import requests

import results as results_md
from conftest import TWILIO_SERVICE, TWILIO_SID, TWILIO_TOKEN
from otpflow_test import (BUILD, avro_decode, headers_of, nhost_verify,
                          signup, wait_for)

TOPIC_NAMES = ("OTPFLOW_TOPIC_SMS_OTP", "OTPFLOW_TOPIC_SMS_OTP_RETRY",
               "OTPFLOW_TOPIC_SMS_SENT", "OTPFLOW_TOPIC_DEAD_LETTER")


def new_phone():
    return "+1415" + "".join(secrets.choice("0123456789") for _ in range(7))


def new_code():
    return "".join(secrets.choice("0123456789") for _ in range(6))


def assert_no_plaintext(sender, *codes):
    """No code on any topic (value, key or header) nor in any log line.
    A code counts only as a whole number (not inside a longer one, such as
    a millisecond timestamp)."""
    for code in codes:
        pat = re.compile(rb"(?<![0-9])" + code.encode() + rb"(?![0-9])")
        for name in TOPIC_NAMES:
            for msg in sender.topic(name):
                assert not pat.search(msg.value() or b""), name
                assert not pat.search(msg.key() or b""), name
                for k, v in msg.headers() or []:
                    assert not pat.search(v or b""), (name, k)
        assert not pat.search(sender.logs().encode()), "code in a log line"
    assert TWILIO_TOKEN not in sender.logs()


def wait_row(sender, otp_id, want):
    """otpflow.sms_deliveries reaches (status, attempts) = want; the row is
    written after the outcome record's delivery report, so it may trail the
    record on the topic by a moment."""
    wait_for(lambda: sender.db_rows().get(otp_id, ())[:2] == want, 10,
             f"sms_deliveries row {want}")


def int32(b):
    return int.from_bytes(b, "big", signed=True)


def metric(text, name, label=None):
    for line in text.splitlines():
        if line.startswith(name + ("{" + label + "}" if label else " ")):
            return float(line.split()[-1])
    return None


def assert_dead_letter(msg, dl, record, sender, reason):
    """Every SmsDeadLetter field filled; headers as docs/api.md §2.3."""
    assert dl["reason"] == reason
    assert dl["provider"] == "twilio"
    assert dl["error_message"]
    assert dl["attempts"] >= 0
    assert dl["first_attempt_at"] <= dl["last_attempt_at"]
    assert dl["original_topic"] in (
        sender.topics["OTPFLOW_TOPIC_SMS_OTP"],
        sender.topics["OTPFLOW_TOPIC_SMS_OTP_RETRY"])
    assert dl["original_partition"] >= 0 and dl["original_offset"] >= 0
    if record is not None:
        assert dl["raw_value"] is None
        otp = dl["otp"]
        for key in ("otp_id", "request_id", "user_id", "phone_number",
                    "locale", "otp_sealed"):
            assert otp[key] == record[key], key
        assert otp["expires_at"] == record["expires_at"].replace(
            microsecond=record["expires_at"].microsecond // 1000 * 1000)
        assert msg.key().decode() == record["phone_number"]
    h = headers_of(msg)
    assert h["kafka_dlt-original-topic"].decode() == dl["original_topic"]
    assert int32(h["kafka_dlt-original-partition"]) == \
        dl["original_partition"]
    assert int.from_bytes(h["kafka_dlt-original-offset"], "big") == \
        dl["original_offset"]
    assert h["kafka_dlt-exception-message"].decode() == dl["error_message"]
    assert "traceparent" in h and "request-id" in h
    if record is not None:
        assert h["request-id"].decode() == record["request_id"]


# --- success ---------------------------------------------------------------

def test_otp_is_sent_once_with_the_rendered_template(sender, fake_provider):
    sender.start()
    phone, code = new_phone(), new_code()
    record = sender.send_otp(phone, code=code, locale="fr")
    [(msg, sent)] = sender.wait_sent(1)

    [sms] = fake_provider.messages()
    assert sms["to"] == phone
    assert sms["body"] == f"Votre code est {code}."
    assert sms["messaging_service_sid"] == TWILIO_SERVICE
    assert sms["from"] is None
    assert sent["otp_id"] == record["otp_id"]
    assert sent["request_id"] == record["request_id"]
    assert sent["user_id"] == record["user_id"]
    assert sent["provider"] == "twilio"
    assert sent["provider_message_id"] == sms["sid"]
    assert sent["attempts"] == 1
    assert sent["accepted_latency_ms"] >= 0
    assert msg.key().decode() == phone
    h = headers_of(msg)
    assert h["request-id"].decode() == record["request_id"]
    assert h["traceparent"]
    wait_row(sender, record["otp_id"], ("sent", 1))
    assert fake_provider.attempts() == {phone: 1}
    assert not sender.dead() and not sender.retries()
    wait_for(lambda: metric(sender.metrics(), "otpflow_sender_records_total",
                            'outcome="sent"') == 1, 10, "sent counter")
    assert sender.ready() == 200
    assert_no_plaintext(sender, code)


def test_unknown_locale_falls_back_to_the_default(sender, fake_provider):
    sender.start()
    phone, code = new_phone(), new_code()
    sender.send_otp(phone, code=code, locale="de")
    sender.wait_sent(1)
    [sms] = fake_provider.messages()
    assert sms["body"] == f"Your code is {code}."


def test_same_otp_delivered_twice_is_sent_once(sender, fake_provider):
    sender.start()
    phone, code = new_phone(), new_code()
    first = sender.send_otp(phone, code=code)
    again = sender.send_otp(phone, code=code, otp_id=first["otp_id"])
    assert again["otp_id"] == first["otp_id"]
    # Same number, same partition, in order: once the marker is sent, the
    # copy has been handled.
    marker = sender.send_otp(phone, code=new_code())
    sent = sender.wait_sent(2)
    assert sorted(s["otp_id"] for _, s in sent) == \
        sorted([first["otp_id"], marker["otp_id"]])
    bodies = [m["body"] for m in fake_provider.messages()]
    assert bodies.count(f"Your code is {code}.") == 1
    assert len(bodies) == 2
    assert metric(sender.metrics(), "otpflow_sender_records_total",
                  'outcome="duplicate"') == 1


# --- other providers ---------------------------------------------------------

def test_dev_provider_appends_a_json_line(sender, fake_provider, tmp_path):
    out = tmp_path / "dev-sms.jsonl"
    sender.start(OTPFLOW_SMS_PROVIDER="dev", OTPFLOW_SMS_DEV_OUTPUT=out)
    phone, code = new_phone(), new_code()
    record = sender.send_otp(phone, code=code)
    [(_, sent)] = sender.wait_sent(1)
    [line] = [json.loads(x) for x in out.read_text().splitlines()]
    assert set(line) == {"to", "body", "otp_id", "sent_at"}
    assert line["to"] == phone and line["otp_id"] == record["otp_id"]
    assert line["body"] == f"Your code is {code}."
    assert sent["provider"] == "dev"
    assert fake_provider.attempts() == {}


def test_modica_provider(sender, fake_provider):
    sender.start(OTPFLOW_SMS_PROVIDER="modica",
                 OTPFLOW_SMS_MODICA_BASE_URL=fake_provider.url,
                 AUTH_SMS_MODICA_USERNAME=TWILIO_SID,
                 AUTH_SMS_MODICA_PASSWORD=TWILIO_TOKEN)
    phone, code = new_phone(), new_code()
    sender.send_otp(phone, code=code)
    [(_, sent)] = sender.wait_sent(1)
    [sms] = fake_provider.messages()
    assert (sms["to"], sms["body"]) == (phone, f"Your code is {code}.")
    assert sent["provider"] == "modica"
    assert sent["provider_message_id"] == sms["sid"]


def test_webhook_provider_with_extra_headers(sender, fake_provider):
    auth = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    sender.start(OTPFLOW_SMS_PROVIDER="webhook",
                 OTPFLOW_SMS_WEBHOOK_URL=fake_provider.url + "/webhook",
                 OTPFLOW_SMS_WEBHOOK_HEADERS=f"Authorization: Basic {auth}")
    phone, code = new_phone(), new_code()
    sender.send_otp(phone, code=code, locale="es")
    [(_, sent)] = sender.wait_sent(1)
    [sms] = fake_provider.messages()
    assert (sms["to"], sms["body"]) == (phone, f"Tu código es {code}.")
    assert sent["provider"] == "webhook"
    assert auth not in sender.logs()
    assert_no_plaintext(sender, code)


def test_provider_settings_are_checked_at_startup(sender):
    proc = subprocess.run(
        [str(BUILD / "otpflow-sender")],
        env=sender.env(AUTH_SMS_TWILIO_AUTH_TOKEN="",
                       AUTH_SMS_TWILIO_ACCOUNT_SID=""),
        capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "AUTH_SMS_TWILIO_ACCOUNT_SID is required" in proc.stderr
    assert "AUTH_SMS_TWILIO_AUTH_TOKEN is required" in proc.stderr


# --- permanent failures ----------------------------------------------------

def test_permanent_errors_are_dead_lettered_on_the_first_attempt(
        sender, fake_provider):
    sender.start()
    invalid, unsubscribed, code = new_phone(), new_phone(), new_code()
    fake_provider.rules({invalid: {"status": 400, "code": 21211},
                         unsubscribed: {"status": 400, "code": 21610}})
    records = {invalid: sender.send_otp(invalid, code=code),
               unsubscribed: sender.send_otp(unsubscribed, code=code)}
    dead = sender.wait_dead(2)
    for msg, dl in dead:
        phone = msg.key().decode()
        assert_dead_letter(msg, dl, records[phone], sender, "PERMANENT")
        assert dl["http_status"] == 400
        assert dl["provider_code"] == ("21211" if phone == invalid
                                       else "21610")
        assert dl["attempts"] == 1
        assert dl["original_topic"] == sender.topics["OTPFLOW_TOPIC_SMS_OTP"]
        wait_row(sender, dl["otp"]["otp_id"], ("dead_lettered", 1))
    assert fake_provider.attempts() == {invalid: 1, unsubscribed: 1}
    assert not sender.retries() and not sender.sent()
    assert not fake_provider.messages()
    assert metric(sender.metrics(), "otpflow_sender_dead_letters_total",
                  'reason="PERMANENT"') == 2
    assert_no_plaintext(sender, code)
    results_md.record("R7", "provider permanent errors (21211, 21610)",
                      "test_permanent_errors_are_dead_lettered_on_the_first_"
                      "attempt", codes=2, dead_lettered_permanent=2,
                      provider_attempts=2, retries=0, sent=0)


# --- transient failures ----------------------------------------------------

def test_transient_errors_are_retried_through_the_retry_topic(
        sender, fake_provider):
    sender.start()
    phone, code = new_phone(), new_code()
    fake_provider.rules({phone: [{"status": 503}, {"status": 500},
                                 {"status": 429, "retry_after": "1"},
                                 {"status": 201}]})
    record = sender.send_otp(phone, code=code)
    [(_, sent)] = sender.wait_sent(1)
    assert sent["attempts"] == 4
    assert fake_provider.attempts() == {phone: 4}
    [sms] = fake_provider.messages()
    assert sms["body"] == f"Your code is {code}."

    retries = sender.retries()
    assert [int32(headers_of(m)["retry_topic-attempts"]) for m in retries] \
        == [1, 2, 3]
    for m in retries:
        h = headers_of(m)
        assert m.key().decode() == phone
        assert h["request-id"].decode() == record["request_id"]
        due = int.from_bytes(h["retry_topic-backoff-timestamp"], "big")
        produced_at = m.timestamp()[1]
        assert due >= produced_at
        name, value = avro_decode(m.value())
        assert name == "OtpIssued" and value["otp_id"] == record["otp_id"]
    # The 429 asked for 1 s: its retry is not due sooner.
    h = headers_of(retries[2])
    assert int.from_bytes(h["retry_topic-backoff-timestamp"], "big") - \
        retries[2].timestamp()[1] >= 900
    assert not sender.dead()
    wait_row(sender, record["otp_id"], ("sent", 4))
    assert_no_plaintext(sender, code)


def test_retry_budget_exhausted_is_dead_lettered(sender, fake_provider):
    sender.start(OTPFLOW_SMS_MAX_ATTEMPTS=3)
    phone, code = new_phone(), new_code()
    fake_provider.rules({phone: {"status": 500}})
    record = sender.send_otp(phone, code=code)
    [(msg, dl)] = sender.wait_dead(1)
    assert_dead_letter(msg, dl, record, sender, "RETRIES_EXHAUSTED")
    assert dl["attempts"] == 3
    assert dl["http_status"] == 500
    assert dl["provider_code"] is None
    assert dl["original_topic"] == \
        sender.topics["OTPFLOW_TOPIC_SMS_OTP_RETRY"]
    assert fake_provider.attempts() == {phone: 3}
    assert len(sender.retries()) == 2
    assert not sender.sent() and not fake_provider.messages()
    assert_no_plaintext(sender, code)


def test_code_expiring_during_retries_is_dead_lettered_expired(
        sender, fake_provider):
    sender.start(OTPFLOW_SMS_MAX_ATTEMPTS=50, OTPFLOW_SMS_BACKOFF_INITIAL="1s",
                 OTPFLOW_SMS_BACKOFF_MAX="1s")
    phone, code = new_phone(), new_code()
    fake_provider.rules({phone: {"status": 503}})
    record = sender.send_otp(phone, code=code, expires_in=6)
    [(msg, dl)] = sender.wait_dead(1)
    assert_dead_letter(msg, dl, record, sender, "EXPIRED")
    assert 1 <= dl["attempts"] < 50
    assert fake_provider.attempts()[phone] == dl["attempts"]
    assert not sender.sent() and not fake_provider.messages()
    assert_no_plaintext(sender, code)


def test_already_expired_code_is_never_sent(sender, fake_provider):
    sender.start()
    phone = new_phone()
    record = sender.send_otp(phone, expires_in=-1)
    [(msg, dl)] = sender.wait_dead(1)
    assert_dead_letter(msg, dl, record, sender, "EXPIRED")
    assert dl["attempts"] == 0 and dl["http_status"] is None
    assert fake_provider.attempts() == {}


def test_hanging_number_does_not_delay_other_numbers(sender, fake_provider):
    sender.start(OTPFLOW_SMS_TIMEOUT="5s", OTPFLOW_SMS_MAX_ATTEMPTS=2)
    hanging, code = new_phone(), new_code()
    fake_provider.rules({hanging: {"hang": True}})
    record = sender.send_otp(hanging, code=code)
    wait_for(lambda: fake_provider.attempts().get(hanging), 20,
             "the hanging request")
    others = [new_phone() for _ in range(5)]
    for phone in others:
        sender.send_otp(phone)
    sent = sender.wait_sent(5)
    # Every other number went out while the hanging one was still waiting
    # for its first timeout.
    assert sorted(s["otp_id"] for _, s in sent) and not sender.dead()
    assert sorted(m["to"] for m in fake_provider.messages()) == sorted(others)
    [(msg, dl)] = sender.wait_dead(1)
    assert_dead_letter(msg, dl, record, sender, "RETRIES_EXHAUSTED")
    assert dl["attempts"] == 2 and dl["http_status"] is None
    assert "imeout" in dl["error_message"]
    assert fake_provider.attempts()[hanging] == 2
    results_md.record("R8", "provider hangs for one number (5 s timeout, "
                      "2 attempts)", "test_hanging_number_does_not_delay_"
                      "other_numbers", other_numbers_sent_while_hanging=5,
                      hanging_attempts_ended_by_timeout=2,
                      hanging_code_dead_lettered=1)


def test_half_the_attempts_fail_every_code_ends_sent(sender, fake_provider):
    """R6's fault without the replay: every number's first attempt gets a
    5xx; every code still ends sent exactly once, through the retry topic."""
    fake_provider.rules({"*": [{"status": 503}, {"status": 201}]})
    sender.start()
    records = [sender.send_otp(new_phone()) for _ in range(40)]
    sent = sender.wait_sent(40, timeout=60)
    assert sorted(s["otp_id"] for _, s in sent) == \
        sorted(r["otp_id"] for r in records)
    assert all(s["attempts"] == 2 for _, s in sent)
    assert len(sender.retries()) == 40
    assert len(fake_provider.messages()) == 40
    assert set(fake_provider.attempts().values()) == {2}
    assert not sender.dead()


def test_failed_dead_letter_publish_is_never_dropped(sender, fake_provider):
    """A dead letter that cannot be published keeps its record's offset:
    after a restart with a working topic the record is dead-lettered."""
    phone = new_phone()
    fake_provider.rules({phone: {"status": 400, "code": 21211}})
    record = sender.send_otp(phone)
    first = sender.start(OTPFLOW_TOPIC_DEAD_LETTER="invalid topic name!")
    wait_for(lambda: "outcome record not delivered" in first.output(), 30,
             "the failed dead-letter publish")
    assert first.stop() == 0
    assert not sender.dead()
    sender.start()
    [(msg, dl)] = sender.wait_dead(1)
    assert_dead_letter(msg, dl, record, sender, "PERMANENT")
    assert fake_provider.attempts() == {phone: 2}


# --- crashes (R3) ---------------------------------------------------------------

def test_kill_9_repeatedly_every_code_ends_sent_at_most_one_duplicate_each(
        sender, fake_provider):
    """R3 with one request in flight: a kill can only catch one SMS between
    the provider's 2xx and its record, so duplicates <= kills. (With C
    requests in flight the bound is C per kill.)"""
    fake_provider.rules({"*": {"delay": 0.05}})
    n, kills = 60, 3
    settings = dict(OTPFLOW_SMS_MAX_IN_FLIGHT=1, OTPFLOW_LOG_LEVEL="info",
                    OTPFLOW_KAFKA_SESSION_TIMEOUT_MS=6000)
    records = [sender.send_otp(new_phone()) for _ in range(n)]
    for k in range(kills):
        daemon = sender.start(**settings)
        target = (k + 1) * n // (kills + 1)
        wait_for(lambda: len(fake_provider.messages()) >= target, 60,
                 f"{target} SMS before kill {k + 1}")
        daemon.proc.kill()
        daemon.proc.wait(10)
    sender.start(**settings)
    ids = {r["otp_id"] for r in records}

    def every_code_sent():
        # One snapshot: a first claim can insert a row between two reads.
        rows = sender.db_rows()
        return set(rows) == ids and all(v[0] == "sent"
                                        for v in rows.values())
    wait_for(every_code_sent, 120, "every code sent")
    sms = fake_provider.messages()
    assert {m["to"] for m in sms} == {r["phone_number"] for r in records}
    assert len(sms) - n <= kills
    sent = sender.sent()
    assert {s["otp_id"] for _, s in sent} == ids
    assert len(sent) - n <= kills
    assert not sender.dead()
    results_md.record("R3", "kill -9 of the sender, repeatedly, provider "
                      "answering after 50 ms (1 request in flight)",
                      "test_kill_9_repeatedly_every_code_ends_sent_at_most_"
                      "one_duplicate_each", codes=n, kills=kills,
                      codes_sent=len({s["otp_id"] for _, s in sent}),
                      dead_lettered=0, duplicate_sms=len(sms) - n,
                      duplicate_sms_sent_records=len(sent) - n)


# --- configuration errors --------------------------------------------------

def test_provider_auth_error_pauses_instead_of_dead_lettering(
        sender, fake_provider):
    fake_provider.rules({"*": {"status": 401}})
    sender.start()
    phones = [new_phone() for _ in range(3)]
    for phone in phones:
        sender.send_otp(phone)
    wait_for(lambda: sender.ready() == 503, 20, "/readyz 503")
    wait_for(lambda: metric(sender.metrics(), "otpflow_sender_paused") == 1,
             10, "paused gauge 1")
    wait_for(lambda: sum(fake_provider.attempts().values()) >= 3, 20,
             "probes")
    assert not sender.dead() and not sender.retries()
    fake_provider.rules({})
    sent = sender.wait_sent(3)
    assert sorted(m.key().decode() for m, _ in sent) == sorted(phones)
    assert all(s["attempts"] == 1 for _, s in sent)
    wait_for(lambda: sender.ready() == 200, 20, "/readyz 200")
    wait_for(lambda: metric(sender.metrics(), "otpflow_sender_paused") == 0,
             10, "paused gauge 0")
    assert not sender.dead()


# --- undecodable input -----------------------------------------------------

def test_undecodable_record_is_dead_lettered_and_the_partition_flows(
        sender, fake_provider):
    sender.start()
    phone = new_phone()
    garbage = b"\x00\x00\x00\x00\x02not avro at all"
    sender.produce_raw(phone, garbage)
    record = sender.send_otp(phone)  # same key: same partition, after it
    [(msg, dl)] = sender.wait_dead(1)
    assert_dead_letter(msg, dl, None, sender, "UNDECODABLE")
    assert dl["otp"] is None
    assert dl["raw_value"] == garbage
    assert dl["attempts"] == 0
    [(_, sent)] = sender.wait_sent(1)
    assert sent["otp_id"] == record["otp_id"]
    results_md.record("R11-sender", "undecodable record on sms-otp",
                      "test_undecodable_record_is_dead_lettered_and_the_"
                      "partition_flows", undecodable_records=1,
                      dead_lettered_undecodable=1,
                      next_record_on_the_partition_sent=1)


# --- startup ---------------------------------------------------------------

def test_missing_default_template_is_a_startup_error(sender, tmp_path):
    (tmp_path / "tpl" / "fr").mkdir(parents=True)
    (tmp_path / "tpl" / "fr" / "sms-otp.txt").write_text("Code ${code}\n")
    proc = subprocess.run(
        [str(BUILD / "otpflow-sender")],
        env=sender.env(OTPFLOW_TEMPLATES_DIR=tmp_path / "tpl",
                       AUTH_LOCALE_DEFAULT="en"),
        capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "default locale" in proc.stderr


def test_admin_endpoints(sender):
    sender.start()
    assert requests.get(sender.admin + "/healthz", timeout=5).status_code \
        == 200
    assert requests.get(sender.admin + "/nope", timeout=5).status_code == 404
    text = sender.metrics()
    for name in ("otpflow_sender_records_total",
                 "otpflow_sender_dead_letters_total",
                 "otpflow_sender_in_flight", "otpflow_sender_paused"):
        assert name in text
    assert str(uuid.UUID(int=0)) not in text


# --- end to end --------------------------------------------------------------

def test_signup_end_to_end_sms_code_passes_nhost_verification(
        sender, fake_provider, start_ingest, start_worker):
    url = start_ingest(AUTH_LOCALE_ALLOWED_LOCALES="en,es")
    start_worker(sender.db)
    sender.start()
    phone = new_phone()
    signup(url, phone, locale="es")
    [(_, sent)] = sender.wait_sent(1, timeout=60)
    [sms] = fake_provider.messages()
    assert sms["to"] == phone
    m = re.fullmatch(r"Tu código es ([0-9]{6})\.", sms["body"])
    assert m, sms["body"]
    code = m.group(1)
    assert sent["provider_message_id"] == sms["sid"]
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    assert nhost_verify(sender.db, phone, wrong) is None
    assert nhost_verify(sender.db, phone, code) == sent["user_id"]
    assert_no_plaintext(sender, code)
    # End-to-end latency counts from ingest's received_at (header of the
    # worker's record), in the event and in the metrics.
    assert 0 <= sent["accepted_latency_ms"] < 60000
    assert "otpflow_sender_accept_to_sent_seconds_count 1" in sender.metrics()


def test_key_rotation_previous_secret_key_still_opens(sender, fake_provider,
                                                     otpflowctl):
    keys = dict(line.split("=", 1)
                for line in otpflowctl("keygen").stdout.split())
    # Codes in flight were sealed to the old key; the sender now has the
    # new key and keeps the old one as the previous key.
    sender.start(OTPFLOW_SEAL_SECRET_KEY=keys["OTPFLOW_SEAL_SECRET_KEY"],
                 OTPFLOW_SEAL_PREVIOUS_SECRET_KEY=sender.secret_key)
    phone = new_phone()
    sender.send_otp(phone, code="402913")
    sender.wait_sent(1, timeout=60)
    assert [m["body"] for m in fake_provider.messages()] == \
        ["Your code is 402913."]
    assert sender.dead() == []
