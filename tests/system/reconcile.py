"""Reconciliation and leak scan of one full-pipeline run (ingest -> worker ->
sender -> fake provider), for the reliability scenarios of docs/targets.md.

Where every accepted sign-up ended is checked three independent ways: the
records on the test's five topics, the rows in Postgres (the same counts as
`otpflowctl stats`, tools/otpflowctl/ctl_stats.c) and the SMS the fake
provider accepted; and `otpflowctl stats` itself must say "balanced".

    reconcile.wait_idle(bootstrap, topics, db, timeout)   # pipeline drained
    snap = reconcile.Snapshot(bootstrap, topics)          # read topics once
    figures = reconcile.reconcile(snap, db, accepted, sms, otpflowctl,
                                  topics, seal_secret=...)
    leaks = reconcile.leak_scan(snap, log_paths, figures["codes"])

The leak scan (docs/api.md §2.2: the plaintext OTP never appears on a topic,
header or log line; phone numbers in logs are masked) looks for each issued
code as a 6-digit token: a run of exactly 6 digits with no digit on either
side, after UUIDs and long hex strings (trace ids, provider message ids) are
blanked out, since a code cannot hide inside an identifier. What is scanned
holds other numbers too, so chance equality with one of N random codes is the
false positive to avoid; each unit is compared with the codes it could leak:

- a topic record with every issued code: records hold no legitimate 6-digit
  numbers (timestamps and counts are binary Avro, phone numbers are 11+
  digits, ids are blanked), so only random binary (a sealed box) could form
  such a token — about 1e-9 per byte — and equal a code (N in 10^6);
- a log line with the codes of the numbers it is about — the phones of the
  UUIDs it names (request, OTP and user ids, known from the topics) and of
  the masked numbers it shows ("+1415*****23" stands for every test number
  with that head and tail); a line about no number (start-up, librdkafka)
  with every code issued before the line was written (its "ts"), since a
  code cannot leak before it exists: a start-up line listing the
  configuration (say OTPFLOW_RATE_LIMIT_MAX_CLIENTS=100000) would otherwise
  equal one of 20 000 codes once in 50 runs.

Independently of digits, the static text of every SMS template around
${code} ("Your code is", in plain, URL- and JSON-encoded forms) must appear
nowhere: that catches an SMS body leaking whatever its code. Phone numbers:
a log must not contain the last 10 digits of any test number inside a run of
digits (so "+14155550123", "14155550123" and "4155550123" all count), while
the masked form is allowed.
"""

import bisect
import collections
import datetime
import json
import re
import time
import urllib.parse

import psycopg2

from otpflow_test import (REPO, avro_decode, headers_of, open_code, query,
                          read_topic, wait_for)

TOPIC_VARS = ("OTPFLOW_TOPIC_SIGNUP_REQUESTS", "OTPFLOW_TOPIC_SMS_OTP",
              "OTPFLOW_TOPIC_SMS_OTP_RETRY", "OTPFLOW_TOPIC_SMS_SENT",
              "OTPFLOW_TOPIC_DEAD_LETTER")

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                  r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
LONG_HEX = re.compile(r"[0-9a-fA-F]{16,}")
CODE_TOKEN = re.compile(r"(?<![0-9])[0-9]{6}(?![0-9])")
MASKED = re.compile(r"\+[0-9]{4}\*+[0-9]{2}")
DIGIT_RUN = re.compile(r"[0-9]{10,}")
LOG_TS = re.compile(r'^\{"ts":"([0-9T:.-]+Z)"')


# --- Postgres: the counts of otpflowctl stats ------------------------------

def db_counts(db):
    """The Postgres side of `otpflowctl stats`, same queries."""
    queries = {
        "users": "SELECT count(*) FROM auth.users",
        "distinct_phones": "SELECT count(DISTINCT phone_number) "
                           "FROM auth.users",
        "outbox": "SELECT count(*) FROM otpflow.outbox",
        "issued": "SELECT count(*) FROM otpflow.otp_issuance",
        "sent": "SELECT count(*) FROM otpflow.sms_deliveries "
                "WHERE status = 'sent'",
        "dead": "SELECT count(*) FROM otpflow.sms_deliveries "
                "WHERE status = 'dead_lettered'",
    }
    out = {}
    with psycopg2.connect(db, connect_timeout=10) as conn, \
            conn.cursor() as cur:
        for name, sql in queries.items():
            cur.execute(sql)
            out[name] = cur.fetchone()[0]
        for outcome in ("created", "existing", "dropped", "reissued"):
            cur.execute("SELECT count(*) FROM otpflow.processed_requests "
                        "WHERE outcome = %s", (outcome,))
            out[outcome] = cur.fetchone()[0]
    conn.close()
    out["processed"] = sum(out[o] for o in ("created", "existing", "dropped",
                                             "reissued"))
    return out


def topic_records(bootstrap, topic):
    """Records on a topic (end - start offsets over its partitions)."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition
    consumer = Consumer({"bootstrap.servers": bootstrap,
                         "group.id": "otpflow-test-counter"})
    try:
        md = consumer.list_topics(topic, timeout=15)
        if topic not in md.topics or md.topics[topic].error is not None:
            return 0
        total = 0
        for p in md.topics[topic].partitions:
            try:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=10)
            except KafkaException:
                return None  # leader moving: ask again later
            total += high - low
        return total
    finally:
        consumer.close()


def idle(bootstrap, topics, db, copies=0):
    """Whether the pipeline has nothing left to do: every record of
    signup-requests processed, the outbox empty, every code issued sent
    or dead-lettered (stats' "balanced", minus the committed lag).
    copies: records of signup-requests that repeat an earlier record's
    request id (request_copies()); the worker processes those once."""
    n = db_counts(db)
    return (topic_records(bootstrap,
                          topics["OTPFLOW_TOPIC_SIGNUP_REQUESTS"])
            == n["processed"] + copies and n["outbox"] == 0
            and n["issued"] == n["sent"] + n["dead"])


def wait_idle(bootstrap, topics, db, timeout, copies=0):
    """Waits (bounded) until idle(); returns the seconds it took."""
    t0 = time.monotonic()
    wait_for(lambda: idle(bootstrap, topics, db, copies), timeout,
             "the pipeline to drain", interval=0.5)
    return time.monotonic() - t0


def request_copies(records):
    """How many of the signup-requests records (confluent_kafka messages)
    repeat the request id of an earlier one: a producer's retry written
    twice (librdkafka's idempotent producer can do that after a message
    timed out: it bumps its epoch and re-sends what may be stored)."""
    ids = [avro_decode(m.value())[1]["request_id"] for m in records]
    return len(ids) - len(set(ids))


def wait_balanced(otpflowctl, topics, db, timeout=60, copies=0):
    """Runs `otpflowctl stats` until it says "balanced" (the worker's
    offsets are committed every few seconds); returns its output. With
    copies (request_copies()), stats counts each copy as a request not
    processed: then exactly that, and nothing else, must be outstanding."""
    env = {**topics, "OTPFLOW_DATABASE_URL": db}
    last = []
    want = "balanced" if not copies else \
        f"not balanced: {copies} requests unprocessed, 0 outbox rows, " \
        "0 codes in flight, worker lag 0"

    def balanced():
        proc = otpflowctl("stats", env=env, timeout=60)
        last[:] = [proc]
        lines = proc.stdout.strip().splitlines()
        return proc.returncode == 0 and lines and lines[-1] == want
    try:
        wait_for(balanced, timeout, "otpflowctl stats: balanced",
                 interval=1)
    except AssertionError:
        raise AssertionError(f"otpflowctl stats never said {want}:\n"
                             f"{last[0].stdout}{last[0].stderr}")
    return last[0].stdout


def parse_stats(out):
    """The figures of otpflowctl stats' summary lines."""
    m = re.search(r"users (\d+) \| requests: created (\d+), existing (\d+), "
                  r"dropped (\d+), reissued (\d+) \| outbox pending (\d+)",
                  out)
    c = re.search(r"codes issued (\d+) = sent (\d+) \+ dead-lettered (\d+)",
                  out)
    a = re.search(r"accepted (\d+) = processed (\d+)", out)
    assert m and c and a, out
    names = ("users", "created", "existing", "dropped", "reissued", "outbox")
    figures = dict(zip(names, map(int, m.groups())))
    figures.update(zip(("issued", "sent", "dead"), map(int, c.groups())))
    figures.update(zip(("records", "processed"), map(int, a.groups())))
    return figures


# --- Kafka: every record of the test's topics -------------------------------

class Snapshot:
    """Every record of the test's five topics (read once, after the pipeline
    is idle): raw confluent_kafka messages and decoded values."""

    def __init__(self, bootstrap, topics):
        self.topics = topics
        self.raw = {var: read_topic(bootstrap, topics[var], timeout=60)
                    for var in TOPIC_VARS}
        self.decoded = {var: [avro_decode(m.value())[1] for m in msgs]
                        for var, msgs in self.raw.items()}

    def pairs(self, var):
        return list(zip(self.raw[var], self.decoded[var]))

    def ids_to_phone(self):
        """Every request, OTP and user id seen on the topics -> phone."""
        out = {}
        for req in self.decoded["OTPFLOW_TOPIC_SIGNUP_REQUESTS"]:
            out[req["request_id"]] = req["phone_number"]
        otps = list(self.decoded["OTPFLOW_TOPIC_SMS_OTP"]) + [
            dl["otp"] for dl in self.decoded["OTPFLOW_TOPIC_DEAD_LETTER"]
            if dl["otp"]]
        for otp in otps:
            for key in ("otp_id", "request_id", "user_id"):
                out[otp[key]] = otp["phone_number"]
        return out


def sms_code(body):
    """The code in an SMS body (every template has exactly one)."""
    codes = CODE_TOKEN.findall(body)
    assert len(codes) == 1, f"not one code in the SMS body {body!r}"
    return codes[0]


# --- reconciliation ----------------------------------------------------------

def reconcile(snap, db, accepted, sms, otpflowctl, topics, seal_secret=None,
              duplicates_allowed=0, exact=True, replayed=False,
              copies_allowed=False):
    """Asserts where every accepted sign-up ended; returns the figures.

    accepted: the phone numbers ingest answered 200, once per 200 (repeats
    included); sms: the fake provider's log of accepted SMS; exact: every
    record on signup-requests was answered 200 (no faults at ingest);
    replayed: `otpflowctl replay` ran, so a code may have a dead letter and,
    after it, its sms-sent; duplicates_allowed bounds both the sms-sent
    records and the SMS beyond one per code. With seal_secret every sealed
    code is opened and must be the code that went out; figures["codes"]
    then holds every code issued (phone -> {code: issued_at, epoch s}),
    else the codes of the SMS (issued_at unknown: 0). copies_allowed: a
    request may be on signup-requests twice (request_copies()); it counts
    once, and figures["request_copies"] says how many copies there were.
    """
    accepted = collections.Counter(accepted)
    requests = snap.decoded["OTPFLOW_TOPIC_SIGNUP_REQUESTS"]
    copies = request_copies(snap.raw["OTPFLOW_TOPIC_SIGNUP_REQUESTS"])
    assert copies == 0 or copies_allowed, \
        f"{copies} requests published twice"
    stats_out = wait_balanced(otpflowctl, topics, db, copies=copies)
    f = {"accepted": sum(accepted.values()), "request_copies": copies}

    # 1. Every accepted request is on signup-requests (a copy counts once).
    n_records = len(requests)
    requests = list({r["request_id"]: r for r in requests}.values())
    ids = [r["request_id"] for r in requests]
    signups = [r for r in requests if r["kind"] == "SIGNUP"]
    reissues = [r for r in requests if r["kind"] == "REISSUE"]
    on_topic = collections.Counter(r["phone_number"] for r in signups)
    missing = accepted - on_topic
    assert not missing, f"answered 200 but not on the topic: {missing}"
    if exact:
        assert on_topic == accepted, "records nobody was answered 200 for"
    f["signup_records"] = len(signups)

    # 2. Each record processed once: created for the first of a number,
    # already registered for the others; no duplicate user.
    outcome = dict(query(db, "SELECT request_id::text, outcome "
                             "FROM otpflow.processed_requests"))
    assert set(outcome) == set(ids), \
        f"{len(set(ids) - set(outcome))} requests not processed, " \
        f"{len(set(outcome) - set(ids))} processed but not on the topic"
    created = collections.Counter(r["phone_number"] for r in signups
                                  if outcome[r["request_id"]] == "created")
    existing = [r for r in signups if outcome[r["request_id"]] == "existing"]
    assert len(existing) + sum(created.values()) == len(signups), \
        "sign-ups neither created nor already registered"
    assert set(created) == set(on_topic) and set(created.values()) == {1}, \
        "not exactly one user created per number"
    users = dict(query(db, "SELECT phone_number, id::text FROM auth.users"))
    n = db_counts(db)
    assert n["users"] == n["distinct_phones"] == len(users) == len(created),\
        f"users {n['users']}, distinct numbers {n['distinct_phones']}, " \
        f"created {len(created)}"
    assert set(users) == set(created), "users differ from those created"
    assert n["dropped"] == 0 and n["outbox"] == 0, n
    reissued = collections.Counter(
        r["phone_number"] for r in reissues
        if outcome[r["request_id"]] == "reissued")
    took_effect = collections.Counter(
        r["phone_number"] for r in signups
        if outcome[r["request_id"]] in ("created", "existing"))
    f.update(users_created=len(created), already_registered=len(existing),
             duplicate_users=n["users"] - n["distinct_phones"],
             lost=sum((accepted - took_effect).values()),
             reissue_requests=len(reissues), reissued=n["reissued"])
    assert f["lost"] == 0, f"{f['lost']} accepted requests lost"

    # 3. One otp_id per created user (one more per code re-issued) on
    # sms-otp; a re-published copy of the same event is allowed.
    events = snap.pairs("OTPFLOW_TOPIC_SMS_OTP")
    by_otp, copies, replays = {}, 0, 0
    for msg, otp in events:
        first = by_otp.setdefault(otp["otp_id"], otp)
        if first is not otp:
            assert otp == first, f"two events for otp_id {otp['otp_id']}"
            if "x-replay-of" in headers_of(msg):
                replays += 1
            else:
                copies += 1
    per_user = collections.defaultdict(set)
    for otp in by_otp.values():
        assert users.get(otp["phone_number"]) == otp["user_id"], \
            f"OtpIssued for a user that does not exist: {otp['otp_id']}"
        per_user[otp["phone_number"]].add(otp["otp_id"])
    wrong = {p for p in users
             if len(per_user.get(p, ())) != 1 + reissued[p]}
    assert not wrong, f"{len(wrong)} users without exactly one otp_id " \
        f"per code issued, e.g. {sorted(wrong)[:3]}"
    issued = {r[0] for r in query(db, "SELECT otp_id::text "
                                      "FROM otpflow.otp_issuance")}
    assert issued == set(by_otp), "otp_issuance differs from sms-otp"
    f.update(otp_ids=len(by_otp), republished_copies=copies,
             replayed_resends=replays)

    # 4. Every otp_id ends with one sms-sent or one dead letter.
    sent = collections.Counter(s["otp_id"] for s in
                               snap.decoded["OTPFLOW_TOPIC_SMS_SENT"])
    dead = collections.Counter(d["otp"]["otp_id"] for d in
                               snap.decoded["OTPFLOW_TOPIC_DEAD_LETTER"])
    assert set(sent) | set(dead) <= set(by_otp), "outcome of an unknown code"
    status = dict(query(db, "SELECT otp_id::text, status "
                            "FROM otpflow.sms_deliveries"))
    unfinished = [i for i in by_otp if not sent[i] and not dead[i]]
    assert not unfinished, f"{len(unfinished)} codes neither sent nor " \
        f"dead-lettered, e.g. {unfinished[:3]}"
    for otp_id in by_otp:
        assert dead[otp_id] <= 1, f"{otp_id} dead-lettered twice"
        assert replayed or not (sent[otp_id] and dead[otp_id]), \
            f"{otp_id} both sent and dead-lettered"
        assert status.get(otp_id) == ("sent" if sent[otp_id] else
                                      "dead_lettered"), otp_id
    f.update(sms_sent=sum(1 for i in by_otp if sent[i]),
             dead_lettered=sum(1 for i in by_otp if not sent[i]),
             duplicate_sms_sent_records=sum(c - 1 for c in sent.values()))
    assert f["duplicate_sms_sent_records"] <= duplicates_allowed, \
        f"{f['duplicate_sms_sent_records']} duplicate sms-sent records, " \
        f"{duplicates_allowed} allowed"
    assert (n["sent"], n["dead"]) == (f["sms_sent"], f["dead_lettered"]), \
        "sms_deliveries counts differ from the topics"

    # 5. The provider got one SMS per code sent (same code to the same
    # number twice is a duplicate), and the code sealed in the event.
    pairs = collections.Counter((m["to"], sms_code(m["body"])) for m in sms)
    f["provider_sms"] = len(sms)
    f["duplicate_sms"] = sum(c - 1 for c in pairs.values())
    assert f["duplicate_sms"] <= duplicates_allowed, \
        f"{f['duplicate_sms']} duplicate SMS, {duplicates_allowed} allowed"
    sent_phones = {by_otp[i]["phone_number"] for i in by_otp if sent[i]}
    assert {to for to, _ in pairs} == sent_phones, \
        "SMS to numbers without a sent code, or sent codes without an SMS"
    codes = collections.defaultdict(dict)
    for to, code in pairs:
        codes[to][code] = 0.0  # when it was issued is not known
    if seal_secret:
        for otp_id, otp in by_otp.items():
            code = open_code(seal_secret, otp["otp_sealed"], otp)
            assert re.fullmatch(r"[0-9]{6}", code)
            if sent[otp_id]:
                assert (otp["phone_number"], code) in pairs, \
                    f"the SMS for {otp_id} does not carry its code"
            codes[otp["phone_number"]][code] = otp["issued_at"].timestamp()
        assert len(pairs) == f["sms_sent"], "SMS with a code never issued"
    f["codes"] = dict(codes)

    # 6. otpflowctl stats agrees.
    stats = parse_stats(stats_out)
    for key in ("users", "created", "existing", "dropped", "reissued",
                "outbox", "issued", "sent", "dead", "processed"):
        assert stats[key] == n[key], (key, stats[key], n[key], stats_out)
    assert stats["records"] == n_records
    f["stats"] = "balanced" if not copies else \
        f"balanced but for the {copies} copies"
    return f


# --- leak scan ---------------------------------------------------------------

def mask(phone):
    """phone_mask() of common/phone.c for a valid number."""
    return phone[:5] + "*" * (len(phone) - 7) + phone[-2:]


def template_texts(templates=REPO / "templates"):
    """The static text of every SMS template before and after ${code}, as
    it would show plain, URL-encoded (form or %20) and JSON-escaped."""
    texts = set()
    for path in templates.glob("*/sms-otp.txt"):
        for part in path.read_text().strip().split("${code}"):
            part = part.strip(" .")
            if len(part) >= 6:
                texts |= {part, urllib.parse.quote_plus(part),
                          urllib.parse.quote(part),
                          json.dumps(part)[1:-1]}
    assert texts, "no templates found"
    return texts


def _tokens(text):
    return CODE_TOKEN.findall(LONG_HEX.sub(" ", UUID.sub(" ", text)))


def leak_scan(snap, log_paths, codes, phones=(), extra_texts=()):
    """Scans every record (value, key, headers) of the snapshot's topics and
    every line of the given log files (and of extra_texts: name -> text) for
    plaintext codes, SMS template text and unmasked phone numbers (see the
    module's docstring). codes: phone -> {code: issued_at (epoch s)}.
    Returns the hits and how much was scanned; asserts nothing."""
    all_codes = {c for cs in codes.values() for c in cs}
    issued = sorted((t, c) for cs in codes.values() for c, t in cs.items())
    id_phone = snap.ids_to_phone()
    phones = set(phones) | set(codes) | set(id_phone.values())
    by_mask = collections.defaultdict(set)
    for p in phones:
        by_mask[mask(p)] |= set(codes.get(p, ()))

    def issued_by(line):
        """Codes that existed when a log line was written (its "ts", with
        a second for clocks), all codes for a line without a time."""
        m = LOG_TS.search(line)
        if not m:
            return all_codes
        t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ")\
            .replace(tzinfo=datetime.timezone.utc).timestamp() + 1
        return {c for when, c in issued[:bisect.bisect(issued, (t, ""))]}

    tails = {p[-10:] for p in phones}
    texts = template_texts()
    out = {"code_hits": [], "template_hits": [], "phone_hits": [],
           "records_scanned": 0, "log_lines_scanned": 0,
           "six_digit_tokens": 0}

    for var in TOPIC_VARS:
        for msg in snap.raw[var]:
            blob = b"\0".join([msg.key() or b"", msg.value() or b""] +
                              [k.encode() + b"\0" + (v or b"")
                               for k, v in (msg.headers() or [])])
            text = blob.decode("latin-1")
            out["records_scanned"] += 1
            tokens = _tokens(text)
            out["six_digit_tokens"] += len(tokens)
            for t in tokens:
                if t in all_codes:
                    out["code_hits"].append(
                        (snap.topics[var], msg.partition(), msg.offset(), t))
            utf8 = blob.decode("utf-8", "replace")
            for s in texts:
                if s in utf8:
                    out["template_hits"].append((snap.topics[var], s))

    sources = [(str(p), p.read_text(errors="replace")) for p in log_paths]
    sources += list(dict(extra_texts).items())
    for name, text in sources:
        for s in texts:
            if s in text:
                out["template_hits"].append((name, s))
        for run in DIGIT_RUN.findall(text):
            for i in range(len(run) - 9):
                if run[i:i + 10] in tails:
                    out["phone_hits"].append((name, run))
                    break
        for line in text.splitlines():
            out["log_lines_scanned"] += 1
            tokens = _tokens(line)
            if not tokens:
                continue
            out["six_digit_tokens"] += len(tokens)
            about = set()
            for uid in UUID.findall(line):
                if uid in id_phone:
                    about |= set(codes.get(id_phone[uid], ()))
            for m in MASKED.findall(line):
                about |= by_mask.get(m, set())
            candidates = about or issued_by(line)
            for t in tokens:
                if t in candidates:
                    out["code_hits"].append((name, line[:300], t))
    return out
