"""Fixtures and helpers for the sender's system tests: the fake SMS provider
(tests/fake_provider.py, a real HTTP server on loopback), a sealed-key pair,
a migrated database, OtpIssued records encoded with Debian's python3-avro
and sealed with python3-nacl, and otpflow-sender started against all that.

Imported by tests/system/test_sender.py (pytest picks the fixtures up from
the import); seal_keys, stack, topics, fresh_db and otpflowctl come from
conftest.py.
"""

import base64
import datetime
import io
import json
import subprocess
import uuid

import avro.io
import avro.schema
import pytest
import requests

from otpflow_test import (REPO, Daemon, avro_decode, free_port,
                          read_topic, wait_for)

OTP_SCHEMA = avro.schema.parse((REPO / "schemas" / "OtpIssued.avsc")
                               .read_text())
OTP_SCHEMA_ID = json.loads((REPO / "schemas" / "OtpIssued.avsc")
                           .read_text())["otpflow.schema_id"]
TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "test-auth-token-do-not-log"
TWILIO_SERVICE = "MG" + "1" * 32
UTC = datetime.timezone.utc


class FakeProvider:
    """tests/fake_provider.py in a child process."""

    def __init__(self, tmp_path, account=TWILIO_SID, token=TWILIO_TOKEN):
        self.log_path = tmp_path / "provider-sms.jsonl"
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", str(REPO / "tests" / "fake_provider.py"),
             "--port", "0", "--log", str(self.log_path),
             "--account", account, "--token", token],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline().strip()
        assert line.startswith("listening on "), line
        self.url = "http://" + line.split()[-1]

    def rules(self, rules):
        r = requests.post(self.url + "/_control/rules", json=rules, timeout=5)
        assert r.ok

    def attempts(self):
        return requests.get(self.url + "/_control/attempts", timeout=5).json()

    def messages(self):
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in
                self.log_path.read_text().splitlines() if line]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def fake_provider(tmp_path):
    provider = FakeProvider(tmp_path)
    yield provider
    provider.stop()


@pytest.fixture
def sender_db(fresh_db, otpflowctl):
    proc = otpflowctl("migrate", env={"OTPFLOW_DATABASE_URL": fresh_db})
    assert proc.returncode == 0, proc.stderr
    return fresh_db


def seal(public_key_b64, code, otp_id=None, phone=None):
    """The sealed code as the worker writes it: bound to its record
    (version 2, "v2\\n<otp_id>\\n<E.164>\\n<code>"), or the bare code
    (version 1) without otp_id and phone."""
    from nacl.public import PublicKey, SealedBox
    plain = code if otp_id is None else f"v2\n{otp_id}\n{phone}\n{code}"
    return SealedBox(PublicKey(base64.b64decode(public_key_b64))) \
        .encrypt(plain.encode())


def encode_otp(record):
    buf = io.BytesIO()
    avro.io.DatumWriter(OTP_SCHEMA).write(record, avro.io.BinaryEncoder(buf))
    return b"\x00" + OTP_SCHEMA_ID.to_bytes(4, "big") + buf.getvalue()


def make_otp(public_key, phone, code="123456", locale="en",
             expires_in=300.0, otp_id=None, bound=True):
    now = datetime.datetime.now(UTC)
    otp_id = otp_id or str(uuid.uuid4())
    return {
        "otp_id": otp_id,
        "request_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "phone_number": phone,
        "locale": locale,
        "otp_sealed": seal(public_key, code, otp_id if bound else None,
                           phone),
        "issued_at": now,
        "expires_at": now + datetime.timedelta(seconds=expires_in),
    }


def produce(bootstrap, topic, key, value, headers=None):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    errors = []
    p.produce(topic, key=key.encode() if isinstance(key, str) else key,
              value=value, headers=headers or [],
              on_delivery=lambda err, msg: err and errors.append(err))
    assert p.flush(30) == 0, "produce did not finish"
    assert not errors, errors


class SenderHarness:
    """What a test needs: start the sender, produce OtpIssued records, read
    the outcome topics."""

    def __init__(self, stack, topics, db, keys, provider, tmp_path,
                 otpflowctl):
        self.stack, self.topics, self.db = stack, topics, db
        self.public_key, self.secret_key = keys["public"], keys["secret"]
        self.provider, self.tmp_path = provider, tmp_path
        self.daemons = []
        # `otpflowctl topics` can report a topic it just created as
        # "missing" (metadata not propagated yet) and exit 1: retry, bounded.
        tries = []

        def create():
            proc = otpflowctl("topics", "--partitions", "3", env=topics)
            tries.append(f"exit {proc.returncode}: {proc.stdout}{proc.stderr}")
            return proc.returncode == 0
        try:
            wait_for(create, 60, "otpflowctl topics", interval=0.5)
        except AssertionError:
            raise AssertionError("otpflowctl topics failed:\n" + tries[-1])

    def env(self, **settings):
        env = self.stack.env(**self.topics)
        env.update(
            OTPFLOW_DATABASE_URL=self.db,
            OTPFLOW_SEAL_SECRET_KEY=self.secret_key,
            OTPFLOW_SMS_PROVIDER="twilio",
            OTPFLOW_SMS_TWILIO_BASE_URL=self.provider.url,
            AUTH_SMS_TWILIO_ACCOUNT_SID=TWILIO_SID,
            AUTH_SMS_TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
            AUTH_SMS_TWILIO_MESSAGING_SERVICE_ID=TWILIO_SERVICE,
            AUTH_LOCALE_DEFAULT="en",
            OTPFLOW_SMS_BACKOFF_INITIAL="200ms",
            OTPFLOW_SMS_BACKOFF_MAX="1s",
            OTPFLOW_SMS_EXPIRY_MARGIN="1s",
            OTPFLOW_SMS_TIMEOUT="2s",
            OTPFLOW_SMS_CONNECT_TIMEOUT="1s",
            OTPFLOW_SMS_PAUSE_PROBE="500ms",
            OTPFLOW_SMS_LEASE_MARGIN="3s",
            OTPFLOW_LOG_LEVEL="debug",
        )
        env.update({k: str(v) for k, v in settings.items()})
        return env

    def start(self, **settings):
        port = free_port()
        settings.setdefault("OTPFLOW_ADMIN_LISTEN", f"127.0.0.1:{port}")
        self.admin = "http://" + settings["OTPFLOW_ADMIN_LISTEN"]
        daemon = Daemon("otpflow-sender", self.env(**settings),
                        self.tmp_path / f"sender-{len(self.daemons)}.log")
        self.daemons.append(daemon)

        def healthy():
            assert daemon.proc.poll() is None, daemon.output()
            try:
                return requests.get(self.admin + "/healthz", timeout=1).ok
            except requests.ConnectionError:
                return False
        wait_for(healthy, 20, "sender /healthz")
        return daemon

    def stop_all(self):
        """SIGTERM to every daemon still running; their exit statuses
        (daemons a test killed itself are left out)."""
        return [d.stop() for d in self.daemons
                if not (d.proc.poll() is not None and d.proc.returncode == -9)]

    def logs(self):
        return "".join(d.output() for d in self.daemons)

    def send_otp(self, phone, code="123456", topic=None, headers=None,
                 **kw):
        record = make_otp(self.public_key, phone, code=code, **kw)
        produce(self.stack.bootstrap,
                topic or self.topics["OTPFLOW_TOPIC_SMS_OTP"], phone,
                encode_otp(record),
                headers or [("request-id", record["request_id"].encode())])
        return record

    def produce_raw(self, key, value, topic=None):
        produce(self.stack.bootstrap,
                topic or self.topics["OTPFLOW_TOPIC_SMS_OTP"], key, value,
                [("request-id", str(uuid.uuid4()).encode())])

    def topic(self, name):
        return read_topic(self.stack.bootstrap, self.topics[name])

    def sent(self):
        return [(m, avro_decode(m.value())[1])
                for m in self.topic("OTPFLOW_TOPIC_SMS_SENT")]

    def dead(self):
        return [(m, avro_decode(m.value())[1])
                for m in self.topic("OTPFLOW_TOPIC_DEAD_LETTER")]

    def retries(self):
        return self.topic("OTPFLOW_TOPIC_SMS_OTP_RETRY")

    def wait_sent(self, n, timeout=30):
        return wait_for(lambda: (lambda s: s if len(s) >= n else None)(
            self.sent()), timeout, f"{n} sms-sent record(s)", interval=0.2)

    def wait_dead(self, n, timeout=30):
        return wait_for(lambda: (lambda s: s if len(s) >= n else None)(
            self.dead()), timeout, f"{n} dead letter(s)", interval=0.2)

    def db_rows(self):
        import psycopg2
        with psycopg2.connect(self.db) as conn, conn.cursor() as cur:
            cur.execute("SELECT otp_id::text, status, attempts, reason, "
                        "provider_message_id FROM otpflow.sms_deliveries")
            return {r[0]: r[1:] for r in cur.fetchall()}

    def metrics(self):
        return requests.get(self.admin + "/metrics", timeout=5).text

    def ready(self):
        return requests.get(self.admin + "/readyz", timeout=5).status_code


@pytest.fixture
def sender(stack, topics, sender_db, seal_keys, fake_provider, tmp_path,
           otpflowctl):
    harness = SenderHarness(stack, topics, sender_db, seal_keys,
                            fake_provider, tmp_path, otpflowctl)
    yield harness
    for code in harness.stop_all():
        assert code == 0, harness.logs()[-4000:]


def headers_of(msg):
    return {k: v for k, v in (msg.headers() or [])}

