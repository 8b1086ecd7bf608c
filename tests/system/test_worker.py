"""Worker against the real stack: the rows Nhost Auth would write, Nhost's
own verification statement accepting the code the sealed event carries,
exactly one effect per request across duplicates, concurrent workers and a
kill -9 between the database commit and the offsets."""

import datetime
import json
import re
import signal

import psycopg2
import requests

import reconcile
import results as results_md
from otpflow_test import avro_decode, read_topic, wait_for

ROUTE = "/signup/passwordless/sms"
VERIFY = ("UPDATE auth.users SET otp_hash_expires_at = now(), "
          "phone_number_verified = true WHERE phone_number = %s AND "
          "otp_hash = crypt(%s, otp_hash) AND otp_hash_expires_at > now() "
          "AND otp_method_last_used = 'sms' RETURNING id")


def signup(url, phone, **options):
    body = {"phoneNumber": phone}
    if options:
        body["options"] = options
    resp = requests.post(url + ROUTE, data=json.dumps(body), timeout=30,
                         headers={"Content-Type": "application/json"})
    assert resp.status_code == 200, resp.text


def migrated(otpflowctl, url):
    proc = otpflowctl("migrate", env={"OTPFLOW_DATABASE_URL": url})
    assert proc.returncode == 0, proc.stderr
    return url


def query(url, sql, *args):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        rows = cur.fetchall() if cur.description else None
    conn.close()
    return rows


def otp_events(stack, topics):
    records = read_topic(stack.bootstrap, topics["OTPFLOW_TOPIC_SMS_OTP"])
    return [(m, avro_decode(m.value())[1]) for m in records]


def wait_processed(url, count, timeout=60):
    wait_for(lambda: query(url, "SELECT count(*) FROM "
                           "otpflow.processed_requests")[0][0] >= count,
             timeout, f"{count} processed requests")


def open_code(seal_keys, sealed):
    """The code of a sealed value (the worker binds it to its record)."""
    return reconcile.open_code(seal_keys["secret"], sealed)


def test_user_row_matches_nhost(stack, topics, fresh_db, otpflowctl,
                                start_ingest, start_worker, seal_keys):
    migrated(otpflowctl, fresh_db)
    url = start_ingest(AUTH_LOCALE_ALLOWED_LOCALES="en,fr")
    start_worker(fresh_db, OTPFLOW_OTP_TTL="5m")
    signup(url, "+14155550101")
    signup(url, "+14155550102", displayName="Zoë", locale="fr",
           metadata={"firstName": "Zoë"}, allowedRoles=["me", "user"],
           defaultRole="me")
    wait_processed(fresh_db, 2)

    rows = query(fresh_db, """
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
    assert query(fresh_db, "SELECT metadata = 'null'::jsonb FROM auth.users "
                 "WHERE phone_number = '+14155550101'")[0][0] is True
    roles = query(fresh_db, "SELECT u.phone_number, array_agg(r.role ORDER "
                  "BY r.role) FROM auth.user_roles r JOIN auth.users u ON "
                  "u.id = r.user_id GROUP BY 1 ORDER BY 1")
    assert roles == [("+14155550101", ["me", "user"]),
                     ("+14155550102", ["me", "user"])]


def test_disabled_new_users_and_no_gravatar(stack, topics, fresh_db,
                                            otpflowctl, start_ingest,
                                            start_worker):
    migrated(otpflowctl, fresh_db)
    url = start_ingest()
    start_worker(fresh_db, AUTH_DISABLE_NEW_USERS="true",
                 AUTH_GRAVATAR_ENABLED="false")
    signup(url, "+14155550103")
    wait_processed(fresh_db, 1)
    assert query(fresh_db, "SELECT disabled, avatar_url FROM auth.users") \
        == [(True, "")]


def test_nhost_verification_accepts_the_sealed_code(stack, topics, fresh_db,
                                                    otpflowctl, start_ingest,
                                                    start_worker, seal_keys):
    migrated(otpflowctl, fresh_db)
    url = start_ingest()
    start_worker(fresh_db)
    signup(url, "+14155550104")
    [(msg, otp)] = wait_for(lambda: otp_events(stack, topics), 60,
                            "OtpIssued")
    assert msg.key() == b"+14155550104"
    # Sealed bound to this record (otp_id, number), as the sender checks.
    code = reconcile.open_code(seal_keys["secret"], otp["otp_sealed"], otp)
    assert re.fullmatch(r"[0-9]{6}", code)
    assert code.encode() not in msg.value()
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    assert query(fresh_db, VERIFY, "+14155550104", wrong) == []
    [(user_id,)] = query(fresh_db, VERIFY, "+14155550104", code)
    assert str(user_id) == otp["user_id"]
    assert (otp["expires_at"] - otp["issued_at"]) == datetime.timedelta(
        minutes=5)
    # After expiry the code no longer verifies.
    query(fresh_db, "UPDATE auth.users SET phone_number_verified = false, "
          "otp_hash_expires_at = now() - interval '1 second'")
    assert query(fresh_db, VERIFY, "+14155550104", code) == []


def test_second_signup_of_a_number_has_no_effect(stack, topics, fresh_db,
                                                 otpflowctl, start_ingest,
                                                 start_worker):
    migrated(otpflowctl, fresh_db)
    url = start_ingest()
    start_worker(fresh_db)
    signup(url, "+14155550105")
    wait_processed(fresh_db, 1)
    signup(url, "+1 415 555 0105", displayName="Again")
    wait_processed(fresh_db, 2)
    wait_for(lambda: otp_events(stack, topics), 60, "OtpIssued")
    assert query(fresh_db, "SELECT count(*), min(display_name) FROM "
                 "auth.users") == [(1, "+14155550105")]
    assert len(otp_events(stack, topics)) == 1
    assert sorted(r[0] for r in query(
        fresh_db, "SELECT outcome FROM otpflow.processed_requests")) == \
        ["created", "existing"]


def test_redelivered_record_has_no_second_effect(stack, topics, fresh_db,
                                                 otpflowctl, start_ingest,
                                                 start_worker):
    from confluent_kafka import Producer
    migrated(otpflowctl, fresh_db)
    url = start_ingest()
    signup(url, "+14155550106")
    [original] = read_topic(stack.bootstrap,
                            topics["OTPFLOW_TOPIC_SIGNUP_REQUESTS"])
    # The very same record again, as a redelivery would present it.
    producer = Producer({"bootstrap.servers": stack.bootstrap})
    producer.produce(topics["OTPFLOW_TOPIC_SIGNUP_REQUESTS"],
                     key=original.key(), value=original.value(),
                     headers=original.headers())
    assert producer.flush(30) == 0
    start_worker(fresh_db)
    wait_for(lambda: len(otp_events(stack, topics)) >= 1, 60, "OtpIssued")
    wait_processed(fresh_db, 1)
    assert query(fresh_db, "SELECT count(*) FROM auth.users")[0][0] == 1
    assert len(otp_events(stack, topics)) == 1


def test_two_workers_no_duplicates(stack, topics, fresh_db, otpflowctl,
                                   start_ingest, start_worker):
    import concurrent.futures
    migrated(otpflowctl, fresh_db)
    url = start_ingest()
    start_worker(fresh_db)
    start_worker(fresh_db)
    phones = [f"+1415556{n:04d}" for n in range(200)]
    # Every number twice: the second one must find the first.
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda p: signup(url, p), phones + phones))
    wait_processed(fresh_db, 400)
    wait_for(lambda: len(otp_events(stack, topics)) >= 200, 60, "events")
    assert query(fresh_db, "SELECT count(*), count(DISTINCT phone_number) "
                 "FROM auth.users") == [(200, 200)]
    events = otp_events(stack, topics)
    assert len({otp["otp_id"] for _, otp in events}) == 200
    assert len({otp["user_id"] for _, otp in events}) == 200


def test_second_signup_in_the_next_batch(stack, topics, fresh_db,
                                         otpflowctl, start_ingest,
                                         start_worker):
    """Small batches: a request's batch is pre-filtered while the batch
    before it, with the same number, is not committed yet, so the
    transaction itself finds the user (mixed with new users in one batch):
    one user and one code per number, every request recorded once, no
    failed transaction."""
    migrated(otpflowctl, fresh_db)
    url = start_ingest()
    phones = [f"+141555570{n:02d}" for n in range(12)]
    for phone in phones:
        signup(url, phone)
        signup(url, phone)
    worker = start_worker(fresh_db, OTPFLOW_WORKER_BATCH_SIZE=3)
    wait_processed(fresh_db, 24)
    assert query(fresh_db, "SELECT outcome, count(*) FROM "
                 "otpflow.processed_requests GROUP BY 1 ORDER BY 1") == \
        [("created", 12), ("existing", 12)]
    users = dict(query(fresh_db, "SELECT id::text, phone_number "
                       "FROM auth.users"))
    assert sorted(users.values()) == phones
    wait_for(lambda: len(otp_events(stack, topics)) >= 12, 30, "OtpIssued")
    events = [otp for _, otp in otp_events(stack, topics)]
    assert len(events) == 12
    assert {e["user_id"]: e["phone_number"] for e in events} == users
    assert '"postgres failure"' not in worker.output()


def test_kill_after_commit_before_offsets(stack, topics, fresh_db, otpflowctl,
                                          start_ingest, start_worker):
    migrated(otpflowctl, fresh_db)
    url = start_ingest()
    for n in range(20):
        signup(url, f"+1415557{n:04d}")
    doomed = start_worker(fresh_db, wait=False,
                          OTPFLOW_TEST_CRASH_POINT="after-commit")
    assert doomed.proc.wait(60) == -signal.SIGKILL
    # Committed, not published: the outbox holds the events.
    assert query(fresh_db, "SELECT count(*) FROM otpflow.outbox")[0][0] > 0
    start_worker(fresh_db)
    wait_processed(fresh_db, 20)
    wait_for(lambda: query(fresh_db, "SELECT count(*) FROM otpflow.outbox")
             [0][0] == 0, 60, "outbox drained")
    assert query(fresh_db, "SELECT count(*) FROM auth.users")[0][0] == 20
    events = otp_events(stack, topics)
    per_user = {}
    for _, otp in events:
        per_user.setdefault(otp["user_id"], set()).add(otp["otp_id"])
    assert len(per_user) == 20
    assert all(len(ids) == 1 for ids in per_user.values())


def test_undecodable_record_is_skipped(stack, topics, fresh_db, otpflowctl,
                                       start_ingest, start_worker):
    from confluent_kafka import Producer
    migrated(otpflowctl, fresh_db)
    producer = Producer({"bootstrap.servers": stack.bootstrap})
    for value in (b"garbage", b"\x00\x00\x00\x00\x01\xff\xff", b""):
        producer.produce(topics["OTPFLOW_TOPIC_SIGNUP_REQUESTS"],
                         key=b"+14155550107", value=value)
    assert producer.flush(30) == 0
    url = start_ingest()
    signup(url, "+14155550107")
    worker = start_worker(fresh_db)
    wait_processed(fresh_db, 1)
    assert query(fresh_db, "SELECT count(*) FROM auth.users")[0][0] == 1
    assert worker.output().count("undecodable record skipped") == 3
    results_md.record("R11-worker", "undecodable records on signup-requests",
                      "test_undecodable_record_is_skipped",
                      undecodable_records=3, skipped_and_logged=3,
                      valid_request_after_them_processed=1)


def test_no_plaintext_code_in_logs_or_topics(stack, topics, fresh_db,
                                             otpflowctl, start_ingest,
                                             start_worker, seal_keys):
    migrated(otpflowctl, fresh_db)
    url = start_ingest()
    worker = start_worker(fresh_db)
    for n in range(10):
        signup(url, f"+1415558{n:04d}")
    wait_processed(fresh_db, 10)
    events = wait_for(lambda: len(otp_events(stack, topics)) >= 10 and
                      otp_events(stack, topics), 60, "events")
    codes = {open_code(seal_keys, otp["otp_sealed"]) for _, otp in events}
    assert len(codes) >= 9  # ten random codes, a repeat is possible
    log = worker.output()
    raw = b"".join(m.value() + b"".join(v for _, v in m.headers())
                   for m, _ in events)
    for code in codes:
        assert code not in log
        assert code.encode() not in raw
    assert "+14155580001" not in log  # phones are masked


def test_admin_endpoints(stack, topics, fresh_db, otpflowctl, start_ingest,
                         start_worker):
    migrated(otpflowctl, fresh_db)
    url = start_ingest()
    worker = start_worker(fresh_db)
    admin = worker.admin_url
    assert requests.get(admin + "/healthz", timeout=10).status_code == 200
    wait_for(lambda: requests.get(admin + "/readyz", timeout=10).ok, 30,
             "worker ready")
    signup(url, "+14155550108")
    signup(url, "+14155550108")
    wait_processed(fresh_db, 2)

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


def test_unstorable_request_does_not_block_others(stack, topics, fresh_db,
                                                  otpflowctl, start_ingest,
                                                  start_worker):
    migrated(otpflowctl, fresh_db)
    # "editor" passes ingest's checks but is not in auth.roles: the user
    # row breaks a foreign key. Only that request may be lost.
    url = start_ingest(AUTH_USER_DEFAULT_ALLOWED_ROLES="me,editor")
    signup(url, "+14155550109", allowedRoles=["me", "editor"],
           defaultRole="me")
    signup(url, "+14155550110", allowedRoles=["me", "user"])
    worker = start_worker(fresh_db)
    wait_processed(fresh_db, 2)
    assert query(fresh_db, "SELECT phone_number FROM auth.users") == \
        [("+14155550110",)]
    assert sorted(query(fresh_db, "SELECT outcome FROM "
                        "otpflow.processed_requests")) == \
        [("created",), ("dropped",)]
    assert "request cannot be stored; dropped" in worker.output()


def reissue(stack, topics, phone):
    """Publishes a REISSUE request, as otpflowctl replay will."""
    import uuid
    from confluent_kafka import Producer
    from otpflow_test import avro_encode
    value = avro_encode("SignupRequested", {
        "request_id": str(uuid.uuid4()),
        "received_at": datetime.datetime.now(datetime.timezone.utc),
        "phone_number": phone, "display_name": phone, "locale": "en",
        "default_role": "user", "allowed_roles": ["me", "user"],
        "metadata_json": "null", "redirect_to": "", "client_ip": None,
        "kind": "REISSUE", "replay_of": None})
    producer = Producer({"bootstrap.servers": stack.bootstrap})
    producer.produce(topics["OTPFLOW_TOPIC_SIGNUP_REQUESTS"],
                     key=phone.encode(), value=value)
    assert producer.flush(30) == 0


def test_reissue_rotates_the_code_within_limits(stack, topics, fresh_db,
                                               otpflowctl, start_ingest,
                                               start_worker, seal_keys):
    migrated(otpflowctl, fresh_db)
    url = start_ingest()
    start_worker(fresh_db, OTPFLOW_OTP_COOLDOWN="0s",
                 OTPFLOW_OTP_MAX_PER_HOUR=2)
    phone, verified = "+14155550111", "+14155550112"
    signup(url, phone)
    signup(url, verified)
    wait_processed(fresh_db, 2)
    first = {otp["phone_number"]: otp for _, otp in
             wait_for(lambda: len(otp_events(stack, topics)) == 2 and
                      otp_events(stack, topics), 60, "codes")}
    old_code = open_code(seal_keys, first[phone]["otp_sealed"])
    query(fresh_db, VERIFY, verified,
          open_code(seal_keys, first[verified]["otp_sealed"]))

    reissue(stack, topics, phone)     # 2nd code this hour: issued
    reissue(stack, topics, verified)  # verified user: dropped
    wait_processed(fresh_db, 4)
    reissue(stack, topics, phone)     # 3rd code this hour: over the cap
    wait_processed(fresh_db, 5)
    outcomes = sorted(r[0] for r in query(
        fresh_db, "SELECT outcome FROM otpflow.processed_requests"))
    assert outcomes == ["created", "created", "dropped", "dropped",
                        "reissued"]
    events = [otp for _, otp in otp_events(stack, topics)
              if otp["phone_number"] == phone]
    assert len(events) == 2
    new = [e for e in events if e["otp_id"] != first[phone]["otp_id"]][0]
    assert new["user_id"] == first[phone]["user_id"]
    new_code = open_code(seal_keys, new["otp_sealed"])
    if new_code != old_code:  # a repeat of the same 6 digits is possible
        assert query(fresh_db, VERIFY, phone, old_code) == []
    assert len(query(fresh_db, VERIFY, phone, new_code)) == 1


def test_reissue_within_cooldown_is_dropped(stack, topics, fresh_db,
                                            otpflowctl, start_ingest,
                                            start_worker):
    migrated(otpflowctl, fresh_db)
    url = start_ingest()
    start_worker(fresh_db)  # default cooldown: 60 s
    signup(url, "+14155550113")
    wait_processed(fresh_db, 1)
    reissue(stack, topics, "+14155550113")
    wait_processed(fresh_db, 2)
    assert sorted(r[0] for r in query(
        fresh_db, "SELECT outcome FROM otpflow.processed_requests")) == \
        ["created", "dropped"]
