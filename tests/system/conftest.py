"""System-test fixtures: the real stack, started through the same scripts a
user runs (scripts/pg.sh, scripts/kafka.sh), on ports and a state folder of
their own so a local `scripts/run-local.sh` keeps running beside them; the
daemons started against it; and the sender's world: the fake SMS provider
(tests/fake_provider.py, a real HTTP server on loopback) and a harness that
starts otpflow-sender, produces OtpIssued records and reads its outcomes.
Plain helper functions are in otpflow_test.py.

Run with Debian's interpreter: /usr/bin/python3 -m pytest tests/system
(python3-confluent-kafka, python3-avro, python3-psycopg2, python3-nacl).
"""

import datetime
import json
import os
import pathlib
import subprocess
import uuid

import psycopg2
import pytest
import requests

from otpflow_test import (REPO, BUILD, Daemon, avro_decode,  # noqa: F401
                          avro_encode, free_port, produce, query,
                          read_topic, seal_code, wait_for)

STATE = pathlib.Path(os.environ.get("OTPFLOW_TEST_STATE_DIR",
                                    REPO / ".state" / "test"))
PG_PORT = os.environ.get("OTPFLOW_TEST_PG_PORT", "54339")
BROKER_PORT = os.environ.get("OTPFLOW_TEST_BROKER_PORT", "19192")


def script_env():
    env = dict(os.environ)
    # The test's own settings must not leak into librdkafka pass-through.
    for name in list(env):
        if name.startswith("OTPFLOW_KAFKA_"):
            del env[name]
    env.update(OTPFLOW_STATE_DIR=str(STATE), OTPFLOW_PG_PORT=PG_PORT,
               OTPFLOW_BROKER_PORT=BROKER_PORT)
    return env


def run_script(*args, timeout=900):
    """Runs a scripts/ command; returns its last stdout line."""
    proc = subprocess.run([str(REPO / "scripts" / args[0]), *args[1:]],
                          env=script_env(), capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n"
                           f"{proc.stdout}\n{proc.stderr}")
    lines = proc.stdout.strip().splitlines()
    return lines[-1] if lines else ""


class Stack:
    """The running services of one test session. replication: the
    replication factor a test creates its topics with (None: the broker's
    default)."""

    def __init__(self, database_url, bootstrap, replication=None):
        self.database_url = database_url
        self.bootstrap = bootstrap
        self.replication = replication

    def env(self, **extra):
        """Environment for an otpflow binary talking to this stack."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OTPFLOW_", "AUTH_"))}
        env.update(OTPFLOW_KAFKA_BOOTSTRAP_SERVERS=self.bootstrap,
                   OTPFLOW_DATABASE_URL=self.database_url,
                   OTPFLOW_DATA_DIR=str(REPO))
        env.update({k: str(v) for k, v in extra.items()})
        return env


@pytest.fixture(autouse=True)
def no_sanitizer_reports():
    """Fails a test whose daemons (stopped, killed or still running) printed
    a sanitizer report: the ASan+UBSan run of this suite relies on it."""
    from otpflow_test import sanitizer_reports
    Daemon.started.clear()
    yield
    reports = {d.exe: sanitizer_reports(d.output()) for d in Daemon.started}
    Daemon.started.clear()
    reports = {exe: lines for exe, lines in reports.items() if lines}
    assert not reports, f"sanitizer reports: {reports}"


def wait_for_producer_ids(bootstrap):
    """Returns once the broker hands idempotent producers their id: one
    started moments ago answers "coordinator load in progress" for a few
    seconds, longer than ingest's accept timeout, and the session's first
    test would get a 503 for it."""
    from confluent_kafka import Producer
    producer = Producer({"bootstrap.servers": bootstrap,
                         "enable.idempotence": True})
    producer.produce("otpflow-test-warm-up", b"warm-up")
    assert producer.flush(120) == 0, "the broker never took a record"


@pytest.fixture(scope="session")
def database_url():
    """Postgres (scripts/pg.sh) for the whole session."""
    url = run_script("pg.sh", "start", timeout=120)
    yield url
    run_script("pg.sh", "stop", timeout=120)


@pytest.fixture(scope="session")
def broker():
    """The single Kafka broker (scripts/kafka.sh): its bootstrap address."""
    bootstrap = run_script("kafka.sh", "start", timeout=900)
    wait_for_producer_ids(bootstrap)
    yield bootstrap
    run_script("kafka.sh", "stop", timeout=120)


@pytest.fixture(scope="session")
def stack(database_url, broker):
    return Stack(database_url, broker)


@pytest.fixture(scope="session")
def cluster():
    """The 3-node Kafka cluster (scripts/kafka-cluster.sh), new for the
    session and started only when a test asks for it; see cluster.py."""
    from cluster import Cluster
    c = Cluster(script_env())
    c.start()
    yield c
    c.stop()


@pytest.fixture(scope="session")
def cluster_stack(database_url, cluster):
    """Postgres and the 3-node cluster. A test module that overrides
    `stack` with it runs every fixture (ingest, worker, sender, otpflowctl,
    topics with replication factor 3) on the cluster (test_cluster.py)."""
    return Stack(database_url, cluster.bootstrap, replication=3)


@pytest.fixture
def fresh_db(stack):
    """URL of a new, empty database (superuser), dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:12]
    admin = psycopg2.connect(stack.database_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    url = stack.database_url.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


@pytest.fixture
def migrated_db(fresh_db, otpflowctl):
    """URL of a new database with otpflow's migrations applied."""
    proc = otpflowctl("migrate", env={"OTPFLOW_DATABASE_URL": fresh_db})
    assert proc.returncode == 0, proc.stderr
    return fresh_db


@pytest.fixture
def topics():
    """Unique topic names for one test, as OTPFLOW_TOPIC_* variables."""
    suffix = uuid.uuid4().hex[:8]
    return {
        "OTPFLOW_TOPIC_SIGNUP_REQUESTS": f"signup-requests-{suffix}",
        "OTPFLOW_TOPIC_SMS_OTP": f"sms-otp-{suffix}",
        "OTPFLOW_TOPIC_SMS_OTP_RETRY": f"sms-otp-retry-{suffix}",
        "OTPFLOW_TOPIC_SMS_SENT": f"sms-sent-{suffix}",
        "OTPFLOW_TOPIC_DEAD_LETTER": f"cannot-send-sms-{suffix}",
        "OTPFLOW_TOPIC_SIGNUP_DEAD_LETTER": f"signup-requests-dlt-{suffix}",
    }


@pytest.fixture
def otpflowctl(stack):
    """Runs the built otpflowctl against the stack (thread-safe)."""
    def run(*args, env=None, timeout=120):
        return subprocess.run([str(BUILD / "otpflowctl"), *args],
                              env=stack.env(**(env or {})),
                              capture_output=True, text=True, timeout=timeout)
    return run


@pytest.fixture
def start_ingest(stack, topics, tmp_path):
    """Starts otpflow-ingest with the test's topics (and extra settings);
    returns its base URL. Every ingest started is stopped with SIGTERM at
    the end of the test, and must exit 0."""
    started = []

    def start(**settings):
        port = free_port()
        env = stack.env(**topics)
        env.update(OTPFLOW_LISTEN=f"127.0.0.1:{port}",
                   AUTH_SMS_PASSWORDLESS_ENABLED="true",
                   AUTH_CLIENT_URL="https://my-app.com")
        env.update({k: str(v) for k, v in settings.items()})
        daemon = Daemon("otpflow-ingest", env,
                        tmp_path / f"ingest-{len(started)}.log")
        started.append(daemon)
        url = f"http://127.0.0.1:{port}"

        daemon.wait_healthy(url)
        start.daemon = daemon
        return url

    yield start
    for daemon in started:
        assert daemon.stop() == 0, daemon.output()


@pytest.fixture(scope="session")
def seal_keys():
    """A key pair for the sealed OTP: {"public": b64, "secret": b64}."""
    out = subprocess.run([str(BUILD / "otpflowctl"), "keygen"],
                         capture_output=True, text=True, timeout=30,
                         check=True).stdout
    pairs = dict(line.split("=", 1) for line in out.split())
    return {"public": pairs["OTPFLOW_SEAL_PUBLIC_KEY"],
            "secret": pairs["OTPFLOW_SEAL_SECRET_KEY"]}


@pytest.fixture
def start_worker(stack, topics, seal_keys, tmp_path):
    """Starts otpflow-worker on the test's topics and the given database;
    returns the Daemon. Stopped with SIGTERM at the end of the test (a
    daemon the test killed itself is left alone)."""
    started = []

    def start(database_url, wait=True, **settings):
        env = stack.env(**topics)
        env.update(OTPFLOW_DATABASE_URL=database_url,
                   OTPFLOW_SEAL_PUBLIC_KEY=seal_keys["public"],
                   OTPFLOW_ADMIN_LISTEN=f"127.0.0.1:{free_port()}",
                   OTPFLOW_LOG_LEVEL="debug")
        env.update({k: str(v) for k, v in settings.items()})
        daemon = Daemon("otpflow-worker", env,
                        tmp_path / f"worker-{len(started)}.log")
        daemon.admin_url = "http://" + env["OTPFLOW_ADMIN_LISTEN"]
        started.append(daemon)
        if wait:
            wait_for(lambda: daemon.proc.poll() is not None
                     or '"consuming"' in daemon.output(), 60,
                     "worker start")
            assert daemon.proc.poll() is None, daemon.output()
        return daemon

    yield start
    for daemon in started:
        if daemon.proc.poll() is None:
            assert daemon.stop() == 0, daemon.output()


# --- the sender's world ------------------------------------------------------

TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "test-auth-token-do-not-log"
TWILIO_SERVICE = "MG" + "1" * 32


class FakeProvider:
    """tests/fake_provider.py in a child process. Its SMS log (which holds
    codes by necessity) is provider-sms.jsonl, its own output
    provider-output.log (the leak scans read it), both in tmp_path."""

    def __init__(self, tmp_path, account=TWILIO_SID, token=TWILIO_TOKEN):
        self.log_path = tmp_path / "provider-sms.jsonl"
        self.output_path = tmp_path / "provider-output.log"
        self.output = open(self.output_path, "wb")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", str(REPO / "tests" / "fake_provider.py"),
             "--port", "0", "--log", str(self.log_path),
             "--account", account, "--token", token],
            stdout=self.output, stderr=subprocess.STDOUT)

        def listening():
            assert self.proc.poll() is None, self.output_path.read_text()
            lines = self.output_path.read_text().splitlines()
            return lines and lines[0].startswith("listening on ") and lines[0]
        self.url = "http://" + wait_for(listening, 20, "fake provider")\
            .split()[-1]

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
        self.output.close()


@pytest.fixture
def fake_provider(tmp_path):
    provider = FakeProvider(tmp_path)
    yield provider
    provider.stop()


def make_otp(public_key, phone, code="123456", locale="en",
             expires_in=300.0, otp_id=None, bound=True):
    """An OtpIssued record (as python3-avro takes it) sealed to public_key,
    bound to the record (bound=False: a version 1 seal, the bare code)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    otp_id = otp_id or str(uuid.uuid4())
    return {
        "otp_id": otp_id,
        "request_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "phone_number": phone,
        "locale": locale,
        "otp_sealed": seal_code(public_key, code, otp_id if bound else None,
                                phone),
        "issued_at": now,
        "expires_at": now + datetime.timedelta(seconds=expires_in),
    }


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
        args = ["topics", "--partitions", "3"]
        if stack.replication:
            args += ["--replication", str(stack.replication)]

        def create():
            proc = otpflowctl(*args, env=topics)
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

        daemon.wait_healthy(self.admin)
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
                avro_encode("OtpIssued", record),
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
        rows = query(self.db, "SELECT otp_id::text, status, attempts, "
                              "reason, provider_message_id "
                              "FROM otpflow.sms_deliveries")
        return {r[0]: r[1:] for r in rows}

    def metrics(self):
        return requests.get(self.admin + "/metrics", timeout=5).text

    def ready(self):
        return requests.get(self.admin + "/readyz", timeout=5).status_code


@pytest.fixture
def sender(stack, topics, migrated_db, seal_keys, fake_provider, tmp_path,
           otpflowctl):
    """A SenderHarness on a migrated database and the fake provider; every
    sender it started must exit 0 on SIGTERM at the end of the test."""
    harness = SenderHarness(stack, topics, migrated_db, seal_keys,
                            fake_provider, tmp_path, otpflowctl)
    yield harness
    for code in harness.stop_all():
        assert code == 0, harness.logs()[-4000:]
