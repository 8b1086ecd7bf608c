"""otpflowctl against the real stack: tail decodes topics to JSON lines with
phones masked and no plaintext code; keygen and config behave."""

import base64
import json

from otpflow_test import (open_code, produce, query, read_topic, signup,
                          wait_for)


def tail(otpflowctl, topics, topic_var, *args):
    proc = otpflowctl("tail", topics[topic_var], "--from-beginning",
                      "--no-follow", *args, env=topics, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_tail_signup_requests_masks_phones(stack, topics, otpflowctl,
                                          start_ingest):
    url = start_ingest()
    signup(url, "+14155550123")
    signup(url, "+442071838750")
    lines = tail(otpflowctl, topics, "OTPFLOW_TOPIC_SIGNUP_REQUESTS")
    assert len(lines) == 2
    for line in lines:
        assert line["type"] == "SignupRequested"
        assert set(line) >= {"topic", "partition", "offset", "timestamp",
                             "key", "headers", "value"}
        assert line["headers"]["request-id"] == line["value"]["request_id"]
        assert "*" in line["key"] and "*" in line["value"]["phone_number"]
    assert "+14155550123" not in json.dumps(lines)
    unmasked = tail(otpflowctl, topics, "OTPFLOW_TOPIC_SIGNUP_REQUESTS",
                    "--unmask")
    assert sorted(line["key"] for line in unmasked) == ["+14155550123",
                                                        "+442071838750"]
    one = otpflowctl("tail", topics["OTPFLOW_TOPIC_SIGNUP_REQUESTS"],
                     "--from-beginning", "--count", "1", env=topics,
                     timeout=60)
    assert one.returncode == 0 and len(one.stdout.splitlines()) == 1


def test_tail_sms_otp_shows_no_plaintext_code(stack, topics, migrated_db,
                                              otpflowctl, start_ingest,
                                              start_worker, seal_keys):
    url = start_ingest()
    start_worker(migrated_db)
    signup(url, "+14155550124")
    wait_for(lambda: read_topic(stack.bootstrap,
                                topics["OTPFLOW_TOPIC_SMS_OTP"]), 60,
             "OtpIssued")
    [line] = tail(otpflowctl, topics, "OTPFLOW_TOPIC_SMS_OTP")
    assert line["type"] == "OtpIssued"
    sealed = base64.b64decode(line["value"]["otp_sealed"])
    code = open_code(seal_keys["secret"], sealed)
    assert code not in json.dumps(line)


def test_tail_reports_undecodable_records(stack, topics, otpflowctl):
    produce(stack.bootstrap, topics["OTPFLOW_TOPIC_SMS_SENT"], "+14155550125",
            b"not avro")
    [line] = tail(otpflowctl, topics, "OTPFLOW_TOPIC_SMS_SENT")
    assert "error" in line and line["value_bytes"] == 8


def test_tail_usage_errors(otpflowctl):
    assert otpflowctl("tail").returncode == 2
    assert otpflowctl("tail", "x", "--count", "0").returncode == 2
    assert otpflowctl("tail", "--help").returncode == 0
    assert otpflowctl("nope").returncode == 2


def test_stats_reconciles(stack, topics, migrated_db, otpflowctl,
                          start_ingest, start_worker):
    env = {**topics, "OTPFLOW_DATABASE_URL": migrated_db}
    url = start_ingest()
    for phone in ("+14155550131", "+14155550132", "+14155550132"):
        signup(url, phone)

    def stats():
        proc = otpflowctl("stats", env=env, timeout=90)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    before = stats()
    assert "accepted 3 = processed 0 + not yet processed 3" in before
    # one line per partition with its offsets
    assert before.count(" offsets ") >= 6
    assert "not balanced: 3 requests unprocessed" in before

    start_worker(migrated_db)
    wait_for(lambda: "processed 3 " in stats(), 60, "worker")
    during = stats()
    assert "requests: created 2, existing 1" in during
    assert "codes issued 2 = sent 0 + dead-lettered 0 + in flight 2" in during
    assert "not balanced" in during

    # What the sender records once the codes are out.
    query(migrated_db, "INSERT INTO otpflow.sms_deliveries (otp_id, status) "
          "SELECT otp_id, 'sent' FROM otpflow.otp_issuance")
    wait_for(lambda: stats().rstrip().endswith("balanced") and
             "not balanced" not in stats(), 60, "balanced")
