"""Worker against the real stack: the rows Nhost Auth would write, Nhost's
own verification statement accepting the code the sealed event carries,
exactly one effect per request across duplicates, concurrent workers and a
kill -9 between the database commit and the offsets."""

import datetime
import re
import signal

import requests

import results as results_md
from otpflow_test import (avro_decode, avro_encode, dead_letters, nhost_verify,
                          open_code, otp_events, processed, produce, query,
                          read_topic, signup, wait_for, wait_processed)


def test_user_row_matches_nhost(stack, topics, migrated_db, start_ingest,
                                start_worker, seal_keys):
    url = start_ingest(AUTH_LOCALE_ALLOWED_LOCALES="en,fr")
    start_worker(migrated_db, OTPFLOW_OTP_TTL="5m")
    signup(url, "+14155550101")
    signup(url, "+14155550102", displayName="Zoë", locale="fr",
           metadata={"firstName": "Zoë"}, allowedRoles=["me", "user"],
           defaultRole="me")
    wait_processed(migrated_db, 2)

    rows = query(migrated_db, """
        SELECT phone_number, display_name, locale, default_role,
               metadata, disabled, avatar_url, otp_method_last_used,
               email, password_hash, ticket, email_verified,
               phone_number_verified, is_anonymous,
               extract(epoch FROM otp_hash_expires_at - now()),
               otp_hash LIKE '$2a$06$%%',
               ticket_expires_at <= now(), id
        FROM auth.users ORDER BY phone_number""")
    plain, rich = rows
    gravatar = ("https://www.gravatar.com/avatar/"
                "d41d8cd98f00b204e9800998ecf8427e?d=blank&r=g")
    assert plain[:14] == ("+14155550101", "+14155550101", "en", "user",
                          None, False, gravatar, "sms", None, None, None,
                          False, False, False)
    assert 240 < plain[14] <= 300
    assert plain[15] and plain[16]
    assert rich[:5] == ("+14155550102", "Zoë", "fr", "me",
                        {"firstName": "Zoë"})
    # metadata absent is JSON null, not SQL NULL
    assert query(migrated_db, "SELECT metadata = 'null'::jsonb FROM "
                 "auth.users WHERE phone_number = '+14155550101'")[0][0] \
        is True
    roles = query(migrated_db, "SELECT u.phone_number, array_agg(r.role ORDER "
                  "BY r.role) FROM auth.user_roles r JOIN auth.users u ON "
                  "u.id = r.user_id GROUP BY 1 ORDER BY 1")
    assert roles == [("+14155550101", ["me", "user"]),
                     ("+14155550102", ["me", "user"])]


def test_disabled_new_users_and_no_gravatar(stack, topics, migrated_db,
                                            start_ingest, start_worker):
    url = start_ingest()
    start_worker(migrated_db, AUTH_DISABLE_NEW_USERS="true",
                 AUTH_GRAVATAR_ENABLED="false")
    signup(url, "+14155550103")
    wait_processed(migrated_db, 1)
    assert query(migrated_db, "SELECT disabled, avatar_url FROM auth.users") \
        == [(True, "")]


def test_nhost_verification_accepts_the_sealed_code(
        stack, topics, migrated_db, start_ingest, start_worker, seal_keys):
    url = start_ingest()
    start_worker(migrated_db)
    signup(url, "+14155550104")
    [(msg, otp)] = wait_for(lambda: otp_events(stack, topics), 60,
                            "OtpIssued")
    assert msg.key() == b"+14155550104"
    # Sealed bound to this record (otp_id, number), as the sender checks.
    code = open_code(seal_keys["secret"], otp["otp_sealed"], otp)
    assert re.fullmatch(r"[0-9]{6}", code)
    assert code.encode() not in msg.value()
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    assert nhost_verify(migrated_db, "+14155550104", wrong) is None
    user_id = nhost_verify(migrated_db, "+14155550104", code)
    assert user_id == otp["user_id"]
    assert (otp["expires_at"] - otp["issued_at"]) == datetime.timedelta(
        minutes=5)
    # After expiry the code no longer verifies.
    query(migrated_db, "UPDATE auth.users SET phone_number_verified = false, "
          "otp_hash_expires_at = now() - interval '1 second'")
    assert nhost_verify(migrated_db, "+14155550104", code) is None


def test_second_signup_of_a_number_has_no_effect(stack, topics, migrated_db,
                                                 start_ingest, start_worker):
    url = start_ingest()
    start_worker(migrated_db)
    signup(url, "+14155550105")
    wait_processed(migrated_db, 1)
    signup(url, "+14155550105", displayName="Again")
    wait_processed(migrated_db, 2)
    wait_for(lambda: otp_events(stack, topics), 60, "OtpIssued")
    assert query(migrated_db, "SELECT count(*), min(display_name) FROM "
                 "auth.users") == [(1, "+14155550105")]
    assert len(otp_events(stack, topics)) == 1
    assert sorted(r[0] for r in query(
        migrated_db, "SELECT outcome FROM otpflow.processed_requests")) == \
        ["created", "existing"]


def test_redelivered_record_has_no_second_effect(stack, topics, migrated_db,
                                                 start_ingest, start_worker):
    url = start_ingest()
    signup(url, "+14155550106")
    [original] = read_topic(stack.bootstrap,
                            topics["OTPFLOW_TOPIC_SIGNUP_REQUESTS"])
    # The very same record again, as a redelivery would present it.
    produce(stack.bootstrap, topics["OTPFLOW_TOPIC_SIGNUP_REQUESTS"],
            original.key(), original.value(), original.headers())
    start_worker(migrated_db)
    wait_for(lambda: len(otp_events(stack, topics)) >= 1, 60, "OtpIssued")
    wait_processed(migrated_db, 1)
    assert query(migrated_db, "SELECT count(*) FROM auth.users")[0][0] == 1
    assert len(otp_events(stack, topics)) == 1


def test_two_workers_no_duplicates(stack, topics, migrated_db, start_ingest,
                                   start_worker):
    import concurrent.futures
    url = start_ingest()
    start_worker(migrated_db)
    start_worker(migrated_db)
    phones = [f"+1415556{n:04d}" for n in range(200)]
    # Every number twice: the second one must find the first.
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda p: signup(url, p), phones + phones))
    wait_processed(migrated_db, 400)
    wait_for(lambda: len(otp_events(stack, topics)) >= 200, 60, "events")
    assert query(migrated_db, "SELECT count(*), count(DISTINCT phone_number) "
                 "FROM auth.users") == [(200, 200)]
    events = otp_events(stack, topics)
    assert len({otp["otp_id"] for _, otp in events}) == 200
    assert len({otp["user_id"] for _, otp in events}) == 200


def test_second_signup_in_the_next_batch(stack, topics, migrated_db,
                                         start_ingest, start_worker):
    """Small batches: a request's batch is pre-filtered while the batch
    before it, with the same number, is not committed yet, so the
    transaction itself finds the user (mixed with new users in one batch):
    one user and one code per number, every request recorded once, no
    failed transaction."""
    url = start_ingest()
    phones = [f"+141555570{n:02d}" for n in range(12)]
    for phone in phones:
        signup(url, phone)
        signup(url, phone)
    worker = start_worker(migrated_db, OTPFLOW_WORKER_BATCH_SIZE=3)
    wait_processed(migrated_db, 24)
    assert query(migrated_db, "SELECT outcome, count(*) FROM "
                 "otpflow.processed_requests GROUP BY 1 ORDER BY 1") == \
        [("created", 12), ("existing", 12)]
    users = dict(query(migrated_db, "SELECT id::text, phone_number "
                       "FROM auth.users"))
    assert sorted(users.values()) == phones
    wait_for(lambda: len(otp_events(stack, topics)) >= 12, 30, "OtpIssued")
    events = [otp for _, otp in otp_events(stack, topics)]
    assert len(events) == 12
    assert {e["user_id"]: e["phone_number"] for e in events} == users
    assert '"postgres failure"' not in worker.output()


def test_kill_after_commit_before_offsets(stack, topics, migrated_db,
                                          start_ingest, start_worker):
    url = start_ingest()
    for n in range(20):
        signup(url, f"+1415557{n:04d}")
    doomed = start_worker(migrated_db, wait=False,
                          OTPFLOW_TEST_CRASH_POINT="after-commit")
    assert doomed.proc.wait(60) == -signal.SIGKILL
    # Committed, not published: the outbox holds the events.
    assert query(migrated_db, "SELECT count(*) FROM otpflow.outbox")[0][0] > 0
    start_worker(migrated_db)
    wait_processed(migrated_db, 20)
    wait_for(lambda: query(migrated_db, "SELECT count(*) FROM otpflow.outbox")
             [0][0] == 0, 60, "outbox drained")
    assert query(migrated_db, "SELECT count(*) FROM auth.users")[0][0] == 20
    events = otp_events(stack, topics)
    per_user = {}
    for _, otp in events:
        per_user.setdefault(otp["user_id"], set()).add(otp["otp_id"])
    assert len(per_user) == 20
    assert all(len(ids) == 1 for ids in per_user.values())


def test_undecodable_record_is_dead_lettered(stack, topics, migrated_db,
                                             otpflowctl, start_ingest,
                                             start_worker):
    """R11 (worker): malformed records, one of them about 1 MB, go to the
    signup dead-letter topic as UNDECODABLE with their coordinates and
    their bytes (cut so that the dead letter fits, with the original length
    and SHA-256); the partition keeps flowing. v1 only logged and skipped
    them."""
    import hashlib
    from confluent_kafka import Producer
    producer = Producer({"bootstrap.servers": stack.bootstrap,
                         "message.max.bytes": 1048576})
    big = bytes(range(256)) * 3900  # 998 400 bytes, not Avro
    bad = [b"garbage", b"\x00\x00\x00\x00\x01\xff\xff", b"", big]
    for value in bad:
        producer.produce(topics["OTPFLOW_TOPIC_SIGNUP_REQUESTS"],
                         key=b"+14155550107", value=value, partition=0)
    assert producer.flush(30) == 0
    url = start_ingest()
    signup(url, "+14155550107")
    worker = start_worker(migrated_db)
    wait_processed(migrated_db, 1)
    assert query(migrated_db, "SELECT count(*) FROM auth.users")[0][0] == 1
    letters = wait_for(lambda: len(dead_letters(stack, topics)) >= 4 and
                       dead_letters(stack, topics), 60, "dead letters")
    assert len(letters) == 4
    by_offset = {dl["original_offset"]: (m, dl) for m, dl in letters}
    assert sorted(by_offset) == [0, 1, 2, 3]
    for offset, value in enumerate(bad):
        m, dl = by_offset[offset]
        assert dl["reason"] == "UNDECODABLE" and dl["request"] is None
        assert dl["original_topic"] == \
            topics["OTPFLOW_TOPIC_SIGNUP_REQUESTS"]
        assert dl["original_partition"] == 0
        assert dl["raw_value_length"] == len(value)
        assert dl["raw_value_sha256"] == hashlib.sha256(value).hexdigest()
        assert value.startswith(dl["raw_value"])
        assert dl["error_message"] and dl["attempts"] == 1
        assert m.key() == b"+14155550107"
        headers = dict(m.headers())
        assert headers["kafka_dlt-original-topic"] == \
            topics["OTPFLOW_TOPIC_SIGNUP_REQUESTS"].encode()
        assert int.from_bytes(headers["kafka_dlt-original-offset"],
                              "big") == offset
    assert len(by_offset[3][1]["raw_value"]) == 512 * 1024  # cut
    assert "+14155550107" not in worker.output()
    assert worker.output().count("undecodable record; dead-lettered") == 4
    results_md.record("R11-worker", "undecodable records on signup-requests",
                      "test_undecodable_record_is_dead_lettered",
                      undecodable_records=4,
                      largest_record_bytes=len(big),
                      dead_lettered_undecodable=len(letters),
                      raw_value_kept_of_largest_bytes=len(
                          by_offset[3][1]["raw_value"]),
                      valid_request_after_them_processed=1)


def test_no_plaintext_code_in_logs_or_topics(stack, topics, migrated_db,
                                             start_ingest, start_worker,
                                             seal_keys):
    url = start_ingest()
    worker = start_worker(migrated_db)
    for n in range(10):
        signup(url, f"+1415558{n:04d}")
    wait_processed(migrated_db, 10)
    events = wait_for(lambda: len(otp_events(stack, topics)) >= 10 and
                      otp_events(stack, topics), 60, "events")
    codes = {open_code(seal_keys["secret"], otp["otp_sealed"])
             for _, otp in events}
    assert len(codes) >= 9  # ten random codes, a repeat is possible
    log = worker.output()
    raw = b"".join(m.value() + b"".join(v for _, v in m.headers())
                   for m, _ in events)
    for code in codes:
        assert code not in log
        assert code.encode() not in raw
    assert "+14155580001" not in log  # phones are masked


def test_admin_endpoints(stack, topics, migrated_db, start_ingest,
                         start_worker):
    url = start_ingest()
    worker = start_worker(migrated_db)
    admin = worker.admin_url
    assert requests.get(admin + "/healthz", timeout=10).status_code == 200
    wait_for(lambda: requests.get(admin + "/readyz", timeout=10).ok, 30,
             "worker ready")
    signup(url, "+14155550108")
    signup(url, "+14155550108")
    wait_processed(migrated_db, 2)

    def counters():
        text = requests.get(admin + "/metrics", timeout=10).text
        return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
                for line in text.splitlines() if not line.startswith("#")}
    wait_for(lambda: counters().get(
        'otpflow_worker_requests_total{outcome="existing"}') == 1, 30,
        "metrics")
    now = counters()
    assert now['otpflow_worker_requests_total{outcome="created"}'] == 1
    assert now["otpflow_worker_commit_seconds_count"] >= 1
    assert now["otpflow_consumer_lag_messages"] >= 0


def test_data_error_is_dead_lettered_and_replayed(stack, topics, migrated_db,
                                                  otpflowctl, start_ingest,
                                                  start_worker):
    """A request Postgres refuses with a data error that repeats when it is
    retried alone (class 23: "editor" passes ingest's checks but is not in
    auth.roles) goes to the signup dead-letter topic with the request, the
    error, the SQLSTATE and its coordinates; the other request of the
    batch is stored. Once the role exists, `otpflowctl replay --topic`
    submits it again: the user is created and gets one code; a second
    replay creates nothing. v1 dropped it with a log line only."""
    env = {**topics, "OTPFLOW_DATABASE_URL": migrated_db}
    url = start_ingest(AUTH_USER_DEFAULT_ALLOWED_ROLES="me,editor")
    signup(url, "+14155550109", allowedRoles=["me", "editor"],
           defaultRole="me")
    signup(url, "+14155550110", allowedRoles=["me", "user"])
    worker = start_worker(migrated_db)
    wait_processed(migrated_db, 2)
    assert query(migrated_db, "SELECT phone_number FROM auth.users") == \
        [("+14155550110",)]
    assert sorted(query(migrated_db, "SELECT outcome FROM "
                        "otpflow.processed_requests")) == \
        [("created",), ("dropped",)]
    [(msg, dl)] = wait_for(lambda: dead_letters(stack, topics), 60,
                           "dead letter")
    assert dl["reason"] == "UNSTORABLE" and dl["sqlstate"] == "23503"
    assert dl["attempts"] == 2 and dl["raw_value"] is None
    assert dl["request"]["phone_number"] == "+14155550109"
    assert dl["request"]["allowed_roles"] == ["me", "editor"]
    assert dl["original_topic"] == topics["OTPFLOW_TOPIC_SIGNUP_REQUESTS"]
    assert msg.key() == b"+14155550109"
    assert dict(msg.headers())["request-id"].decode() == \
        dl["request"]["request_id"]
    assert "request cannot be stored; dead-lettered" in worker.output()
    assert len(otp_events(stack, topics)) == 1

    def replay(*args):
        proc = otpflowctl("replay", "--topic",
                          topics["OTPFLOW_TOPIC_SIGNUP_DEAD_LETTER"], *args,
                          env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    assert "would resubmit" in replay("--dry-run")
    query(migrated_db, "INSERT INTO auth.roles (role) VALUES ('editor')")
    out = replay("--reason", "UNSTORABLE")
    assert "1 resubmitted" in out, out
    wait_processed(migrated_db, 3)
    assert sorted(query(migrated_db, "SELECT phone_number FROM auth.users")) \
        == [("+14155550109",), ("+14155550110",)]
    wait_for(lambda: len(otp_events(stack, topics)) == 2, 60, "OtpIssued")
    again = replay()
    assert "1 already resubmitted" in again and "0 resubmitted" in again
    assert query(migrated_db, "SELECT count(*) FROM auth.users")[0][0] == 2
    assert len(otp_events(stack, topics)) == 2
    results_md.record("R-dlt-unstorable",
                      "data error (23503) repeated alone, then replayed",
                      "test_data_error_is_dead_lettered_and_replayed",
                      requests=2, stored=1, dead_lettered_unstorable=1,
                      created_by_replay=1, created_by_second_replay=0)


def reissue(stack, topics, phone):
    """Publishes a REISSUE request, as otpflowctl replay will."""
    import uuid
    value = avro_encode("SignupRequested", {
        "request_id": str(uuid.uuid4()),
        "received_at": datetime.datetime.now(datetime.timezone.utc),
        "phone_number": phone, "display_name": phone, "locale": "en",
        "default_role": "user", "allowed_roles": ["me", "user"],
        "metadata_json": "null", "redirect_to": "", "client_ip": None,
        "kind": "REISSUE", "replay_of": None})
    produce(stack.bootstrap, topics["OTPFLOW_TOPIC_SIGNUP_REQUESTS"], phone,
            value)


def test_reissue_rotates_the_code_within_limits(stack, topics, migrated_db,
                                                start_ingest, start_worker,
                                                seal_keys):
    url = start_ingest()
    start_worker(migrated_db, OTPFLOW_OTP_COOLDOWN="0s",
                 OTPFLOW_OTP_MAX_PER_HOUR=2)
    phone, verified = "+14155550111", "+14155550112"
    signup(url, phone)
    signup(url, verified)
    wait_processed(migrated_db, 2)
    first = {otp["phone_number"]: otp for _, otp in
             wait_for(lambda: len(otp_events(stack, topics)) == 2 and
                      otp_events(stack, topics), 60, "codes")}
    old_code = open_code(seal_keys["secret"], first[phone]["otp_sealed"])
    nhost_verify(migrated_db, verified,
                 open_code(seal_keys["secret"], first[verified]["otp_sealed"]))

    reissue(stack, topics, phone)     # 2nd code this hour: issued
    reissue(stack, topics, verified)  # verified user: dropped
    wait_processed(migrated_db, 4)
    reissue(stack, topics, phone)     # 3rd code this hour: over the cap
    wait_processed(migrated_db, 5)
    outcomes = sorted(r[0] for r in query(
        migrated_db, "SELECT outcome FROM otpflow.processed_requests"))
    assert outcomes == ["created", "created", "dropped", "dropped",
                        "reissued"]
    events = [otp for _, otp in otp_events(stack, topics)
              if otp["phone_number"] == phone]
    assert len(events) == 2
    new = [e for e in events if e["otp_id"] != first[phone]["otp_id"]][0]
    assert new["user_id"] == first[phone]["user_id"]
    new_code = open_code(seal_keys["secret"], new["otp_sealed"])
    if new_code != old_code:  # a repeat of the same 6 digits is possible
        assert nhost_verify(migrated_db, phone, old_code) is None
    assert nhost_verify(migrated_db, phone, new_code) is not None


def test_reissue_within_cooldown_is_dropped(stack, topics, migrated_db,
                                            start_ingest, start_worker):
    url = start_ingest()
    start_worker(migrated_db)  # default cooldown: 60 s
    signup(url, "+14155550113")
    wait_processed(migrated_db, 1)
    reissue(stack, topics, "+14155550113")
    wait_processed(migrated_db, 2)
    assert sorted(r[0] for r in query(
        migrated_db, "SELECT outcome FROM otpflow.processed_requests")) == \
        ["created", "dropped"]
