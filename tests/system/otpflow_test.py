"""Helpers shared by the system tests (plain functions; the fixtures are in
conftest.py): paths, an independent encoder and decoder of otpflow's Kafka
values (Confluent framing + Avro, with Debian's python3-avro, so the C
encoder is checked against another implementation), the sealed code, the
sign-up request, Postgres queries and Nhost's verification statement."""

import io
import json
import os
import pathlib
import struct

import avro.io
import avro.schema

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("OTPFLOW_BUILD_DIR", REPO / "build"))

SCHEMAS = {}
for path in (REPO / "schemas").glob("*.avsc"):
    text = path.read_text()
    SCHEMAS[json.loads(text)["otpflow.schema_id"]] = avro.schema.parse(text)


def avro_decode(value):
    """Decodes a framed value into (record name, dict)."""
    assert value[0] == 0, "magic byte"
    (schema_id,) = struct.unpack(">i", value[1:5])
    schema = SCHEMAS[schema_id]
    decoder = avro.io.BinaryDecoder(io.BytesIO(value[5:]))
    record = avro.io.DatumReader(schema).read(decoder)
    return schema.name, record


def free_port():
    """A loopback TCP port that was free a moment ago."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout, what, interval=0.05):
    """Polls condition() until it is truthy; fails after timeout seconds."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# What AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer print
# (the ASan+UBSan build stops at the first report).
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:")


def sanitizer_reports(text):
    """The lines of text that are sanitizer reports."""
    return [line for line in text.splitlines()
            if any(mark in line for mark in SANITIZER_MARKS)]


class Daemon:
    """An otpflow daemon started for one test; logs kept for assertions.
    Every daemon is remembered in Daemon.started so that the test's
    teardown can check its log for sanitizer reports (conftest.py)."""

    started = []

    def __init__(self, exe, env, log_path):
        import subprocess
        self.exe = exe
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen([str(BUILD / exe)], env=env,
                                     stdout=self.log, stderr=self.log)
        Daemon.started.append(self)

    def output(self):
        if not self.log.closed:
            self.log.flush()
        return pathlib.Path(self.log_path).read_text(errors="replace")

    def wait_healthy(self, base_url, timeout=20):
        """Waits (bounded) until GET base_url/healthz answers 2xx; fails at
        once if the daemon exits meanwhile."""
        import requests

        def healthy():
            assert self.proc.poll() is None, self.output()
            try:
                return requests.get(base_url + "/healthz", timeout=1).ok
            except requests.ConnectionError:
                return False
        wait_for(healthy, timeout, f"{self.exe} {base_url}/healthz")

    def stop(self, timeout=30):
        """SIGTERM, then the exit status (SIGKILL if it does not exit)."""
        import signal
        import subprocess
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(f"{self.exe} ignored SIGTERM")
        self.log.close()
        return self.proc.returncode


def read_topic(bootstrap, topic, timeout=30):
    """Every record of topic (all partitions, from the beginning up to the
    end offsets seen at the start), as confluent_kafka Message objects."""
    import time
    from confluent_kafka import Consumer, KafkaException, TopicPartition
    consumer = Consumer({"bootstrap.servers": bootstrap,
                         "group.id": "otpflow-test-reader",
                         "enable.auto.commit": False})
    try:
        md = consumer.list_topics(topic, timeout=timeout)
        if topic not in md.topics or md.topics[topic].error is not None:
            return []
        parts = [TopicPartition(topic, p, 0)
                 for p in md.topics[topic].partitions]
        ends = {}
        for tp in parts:
            # A topic created a moment ago may not have its leaders yet.
            def watermark():
                try:
                    return consumer.get_watermark_offsets(tp, timeout=5)
                except KafkaException:
                    return None
            ends[tp.partition] = wait_for(watermark, timeout,
                                          f"leader of {topic}")[1]
        want = {p: h for p, h in ends.items() if h > 0}
        consumer.assign(parts)
        records, deadline = [], time.monotonic() + timeout
        while want and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            records.append(msg)
            if msg.offset() + 1 >= want.get(msg.partition(), 0):
                want.pop(msg.partition(), None)
        assert not want, f"could not read all of {topic}: missing {want}"
        return records
    finally:
        consumer.close()


def avro_encode(name, record):
    """Frames a record of schemas/<name>.avsc as otpflow writes it."""
    for schema_id, schema in SCHEMAS.items():
        if schema.name == name:
            buf = io.BytesIO()
            buf.write(b"\x00" + struct.pack(">i", schema_id))
            avro.io.DatumWriter(schema).write(record,
                                              avro.io.BinaryEncoder(buf))
            return buf.getvalue()
    raise KeyError(name)


def headers_of(msg):
    """The headers of a confluent_kafka Message as a dict (last one wins)."""
    return dict(msg.headers() or [])


def otp_events(stack, topics):
    """The OtpIssued records of the test's sms-otp topic: (message, record)."""
    records = read_topic(stack.bootstrap, topics["OTPFLOW_TOPIC_SMS_OTP"])
    return [(m, avro_decode(m.value())[1]) for m in records]


def dead_letters(stack, topics):
    """The records of the signup dead-letter topic: (message, record)."""
    records = read_topic(stack.bootstrap,
                         topics["OTPFLOW_TOPIC_SIGNUP_DEAD_LETTER"])
    return [(m, avro_decode(m.value())[1]) for m in records]


def produce(bootstrap, topic, key, value, headers=None):
    """Produces one record (idempotent producer) and waits for its delivery."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    errors = []
    p.produce(topic, key=key.encode() if isinstance(key, str) else key,
              value=value, headers=headers or [],
              on_delivery=lambda err, msg: err and errors.append(err))
    assert p.flush(30) == 0, "produce did not finish"
    assert not errors, errors


# --- the sealed code ---------------------------------------------------------

def seal_code(public_key_b64, code, otp_id=None, phone=None):
    """code sealed to the public key as the worker seals it: bound to its
    record (version 2, "v2\\n<otp_id>\\n<E.164>\\n<code>"), or the bare
    code (version 1) without otp_id and phone."""
    import base64
    from nacl.public import PublicKey, SealedBox
    plain = code if otp_id is None else f"v2\n{otp_id}\n{phone}\n{code}"
    return SealedBox(PublicKey(base64.b64decode(public_key_b64))) \
        .encrypt(plain.encode())


def open_code(secret_key_b64, sealed, record=None):
    """The code of an OtpIssued's otp_sealed (the sender's view). A version
    2 seal binds it to its record; when record (the OtpIssued) is given,
    the binding must be that record's own."""
    import base64
    from nacl.public import PrivateKey, SealedBox
    plain = SealedBox(PrivateKey(base64.b64decode(secret_key_b64))) \
        .decrypt(sealed).decode()
    if not plain.startswith("v2\n"):
        return plain
    _, otp_id, e164, code = plain.split("\n")
    if record is not None:
        assert (otp_id, e164) == (record["otp_id"], record["phone_number"])
    return code


# --- HTTP --------------------------------------------------------------------

SIGNUP_ROUTE = "/signup/passwordless/sms"
JSON = {"Content-Type": "application/json"}


def numbers(prefix, count):
    """count distinct E.164 numbers: prefix + 7 digits."""
    assert count <= 10 ** 7
    return [f"{prefix}{n:07d}" for n in range(count)]


def signup(url, phone, **options):
    """POSTs a sign-up for phone (options: the request's "options" object)
    to the ingest at url and asserts its 200."""
    import requests
    body = {"phoneNumber": phone}
    if options:
        body["options"] = options
    resp = requests.post(url + SIGNUP_ROUTE, data=json.dumps(body),
                         headers=JSON, timeout=30)
    assert resp.status_code == 200, resp.text


# --- Postgres ----------------------------------------------------------------

def query(url, sql, *args):
    """Runs one statement with args in a transaction of its own (committed);
    its rows, or None for a statement that returns none."""
    import psycopg2
    conn = psycopg2.connect(url, connect_timeout=10)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def processed(url):
    """How many signup-requests records the worker has handled."""
    return query(url, "SELECT count(*) FROM otpflow.processed_requests")[0][0]


def wait_processed(url, count, timeout=60):
    """Waits until the worker has handled count signup-requests records."""
    wait_for(lambda: processed(url) >= count, timeout,
             f"{count} processed requests")


# Nhost Auth's verification of an SMS code (its sign-in step), verbatim.
NHOST_VERIFY_SQL = (
    "UPDATE auth.users SET otp_hash_expires_at = now(), "
    "phone_number_verified = true WHERE phone_number = %s AND "
    "otp_hash = crypt(%s, otp_hash) AND otp_hash_expires_at > now() "
    "AND otp_method_last_used = 'sms' RETURNING id")


def nhost_verify(url, phone, code, spend=True):
    """Runs Nhost's verification statement for phone and code: the id (text)
    of the user it verifies, or None. spend=False rolls it back (looks
    without using the code up)."""
    import psycopg2
    conn = psycopg2.connect(url, connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute(NHOST_VERIFY_SQL, (phone, code))
            rows = cur.fetchall()
        if spend:
            conn.commit()
        else:
            conn.rollback()
    finally:
        conn.close()
    assert len(rows) <= 1, rows  # phone_number is unique
    return str(rows[0][0]) if rows else None
