"""System-test fixtures: the real stack, started through the same scripts a
user runs (scripts/pg.sh, scripts/kafka.sh), on ports and a state folder of
their own so a local `scripts/run-local.sh` keeps running beside them.

Run with Debian's interpreter: /usr/bin/python3 -m pytest tests/system
(python3-confluent-kafka, python3-avro, python3-psycopg2, python3-nacl).
"""

import os
import pathlib
import subprocess
import uuid

import psycopg2
import pytest

from otpflow_test import REPO, BUILD, avro_decode  # noqa: F401  (re-export)

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
    from otpflow_test import Daemon, sanitizer_reports
    Daemon.started.clear()
    yield
    reports = {d.exe: sanitizer_reports(d.output()) for d in Daemon.started}
    Daemon.started.clear()
    reports = {exe: lines for exe, lines in reports.items() if lines}
    assert not reports, f"sanitizer reports: {reports}"


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
def topics():
    """Unique topic names for one test, as OTPFLOW_TOPIC_* variables."""
    suffix = uuid.uuid4().hex[:8]
    return {
        "OTPFLOW_TOPIC_SIGNUP_REQUESTS": f"signup-requests-{suffix}",
        "OTPFLOW_TOPIC_SMS_OTP": f"sms-otp-{suffix}",
        "OTPFLOW_TOPIC_SMS_OTP_RETRY": f"sms-otp-retry-{suffix}",
        "OTPFLOW_TOPIC_SMS_SENT": f"sms-sent-{suffix}",
        "OTPFLOW_TOPIC_DEAD_LETTER": f"cannot-send-sms-{suffix}",
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
    import requests
    from otpflow_test import Daemon, free_port, wait_for
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

        def healthy():
            assert daemon.proc.poll() is None, daemon.output()
            try:
                return requests.get(url + "/healthz", timeout=1).ok
            except requests.ConnectionError:
                return False
        wait_for(healthy, 20, "ingest /healthz")
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
    from otpflow_test import Daemon, wait_for
    started = []

    from otpflow_test import free_port

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
