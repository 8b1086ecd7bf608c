"""Shared plumbing of the Python benchmark drivers (p3_burst.py, p6_e2e.py):
a real broker and Postgres through scripts/kafka.sh and scripts/pg.sh, a
fresh database and fresh topics per run, the daemons as child processes,
and the small checks every driver makes (records on a topic, rows in
Postgres, a metric from /metrics).

Stack: OTPFLOW_STATE_DIR, OTPFLOW_PG_PORT and OTPFLOW_BROKER_PORT choose it
(defaults .state/bench-h3, 54653, 19653). A broker or Postgres that is
already running there is reused and left running; what this process
started, it stops. Every wait is bounded; only processes started here are
signalled, by pid.
"""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import uuid

import psycopg2
import requests
from confluent_kafka import Consumer, TopicPartition

REPO = pathlib.Path(__file__).resolve().parents[1]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"no answer from {url} within {timeout} s")


def metric(text, name, label=None):
    """Value of one sample of a Prometheus text page (0.0 when absent)."""
    want = name + ("{" + label + "}" if label else "")
    for line in text.splitlines():
        if line.split(" ")[0] == want:
            return float(line.split()[-1])
    return 0.0


def histogram(text, name):
    """[(le, cumulative count)] of a histogram, +Inf last."""
    out = []
    for line in text.splitlines():
        if line.startswith(name + "_bucket{le=\""):
            le = line.split('"')[1]
            out.append((float("inf") if le == "+Inf" else float(le),
                        float(line.split()[-1])))
    return out


def histogram_quantile(buckets, q):
    """Upper bound of the bucket holding quantile q (as Prometheus, without
    interpolation); None when empty."""
    if not buckets or buckets[-1][1] == 0:
        return None
    rank = q * buckets[-1][1]
    for le, count in buckets:
        if count >= rank:
            return le
    return buckets[-1][0]


def topic_count(bootstrap, topic):
    """Records in an append-only, non-transactional topic."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "otpflow-bench"})
    try:
        md = c.list_topics(topic, timeout=30)
        return sum(c.get_watermark_offsets(TopicPartition(topic, p),
                                           timeout=30)[1]
                   for p in md.topics[topic].partitions)
    finally:
        c.close()


def rss_peak_mib(pid):
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text() \
                .splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


class Stack:
    """Broker + Postgres + the daemons of one benchmark process."""

    def __init__(self, build, state=None, pg_port=None, broker_port=None):
        self.build = pathlib.Path(build).resolve()
        self.state = pathlib.Path(state or os.environ.get(
            "OTPFLOW_STATE_DIR", REPO / ".state" / "bench-h3")).resolve()
        self.pg_port = str(pg_port or os.environ.get("OTPFLOW_PG_PORT",
                                                     "54653"))
        self.broker_port = str(broker_port or os.environ.get(
            "OTPFLOW_BROKER_PORT", "19653"))
        self.state.mkdir(parents=True, exist_ok=True)
        self.started = []          # scripts whose service we started
        self.procs = []            # (name, Popen) of daemons we started
        self.databases = []
        self.bootstrap = self.pg = None

    # ---------------------------------------------------------- services
    def _script(self, name, cmd, check=True):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OTPFLOW_KAFKA_", "OTPFLOW_BROKER_",
                                    "OTPFLOW_PG_"))}
        env.update(OTPFLOW_STATE_DIR=str(self.state),
                   OTPFLOW_PG_PORT=self.pg_port,
                   OTPFLOW_BROKER_PORT=self.broker_port)
        r = subprocess.run([str(REPO / "scripts" / name), cmd], env=env,
                           capture_output=True, text=True, timeout=300)
        if check and r.returncode != 0:
            raise RuntimeError(f"scripts/{name} {cmd} failed:\n{r.stderr}")
        return r

    def start(self):
        for name in ("kafka.sh", "pg.sh"):
            if self._script(name, "status", check=False).returncode != 0:
                self.started.append(name)
            out = self._script(name, "start").stdout.strip().splitlines()[-1]
            if name == "kafka.sh":
                self.bootstrap = out
            else:
                self.pg = out
        return self

    def close(self):
        self.stop_all()
        for db in self.databases:
            self.drop_db(db)
        for name in reversed(self.started):
            self._script(name, "stop", check=False)
        self.started = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # --------------------------------------------------- per-run objects
    def fresh(self, partitions=6):
        """A new database (migrated) and a new set of topic names; returns
        the environment every daemon of the run shares."""
        tag = uuid.uuid4().hex[:10]
        db = f"bench_{tag}"
        conn = psycopg2.connect(self.pg)
        conn.autocommit = True
        conn.cursor().execute(f"CREATE DATABASE {db}")
        conn.close()
        self.databases.append(db)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OTPFLOW_", "AUTH_"))}
        env.update(
            OTPFLOW_KAFKA_BOOTSTRAP_SERVERS=self.bootstrap,
            OTPFLOW_DATABASE_URL=self.pg.rsplit("/", 1)[0] + "/" + db,
            OTPFLOW_DATA_DIR=str(REPO),
            OTPFLOW_TOPIC_SIGNUP_REQUESTS=f"bench-req-{tag}",
            OTPFLOW_TOPIC_SMS_OTP=f"bench-otp-{tag}",
            OTPFLOW_TOPIC_SMS_OTP_RETRY=f"bench-retry-{tag}",
            OTPFLOW_TOPIC_SMS_SENT=f"bench-sent-{tag}",
            OTPFLOW_TOPIC_DEAD_LETTER=f"bench-dlt-{tag}",
            OTPFLOW_LOG_LEVEL="warn")
        subprocess.run([str(self.build / "otpflowctl"), "migrate"], env=env,
                       check=True, capture_output=True, timeout=120)
        # `otpflowctl topics` may call a topic it just created "missing"
        # (its metadata trails the creation): a second call finds them.
        for _ in range(5):
            if subprocess.run([str(self.build / "otpflowctl"), "topics",
                               "--partitions", str(partitions)], env=env,
                              capture_output=True, timeout=120
                              ).returncode == 0:
                break
            time.sleep(1)
        else:
            raise RuntimeError("otpflowctl topics keeps failing")
        env["BENCH_TAG"] = tag
        return env

    def drop_db(self, db):
        try:
            conn = psycopg2.connect(self.pg)
            conn.autocommit = True
            conn.cursor().execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            conn.close()
        except psycopg2.Error as e:
            log(f"could not drop {db}: {e}")
        if db in self.databases:
            self.databases.remove(db)

    def keys(self):
        out = subprocess.run([str(self.build / "otpflowctl"), "keygen"],
                             check=True, capture_output=True, text=True,
                             timeout=30).stdout
        return dict(line.split("=", 1) for line in out.split())

    # ------------------------------------------------------------ daemons
    def spawn(self, name, binary, env, **extra):
        e = dict(env)
        e.update({k: str(v) for k, v in extra.items()})
        logf = open(self.state / f"{name}-{env.get('BENCH_TAG', 'x')}.log",
                    "wb")
        p = subprocess.Popen([str(self.build / binary)], env=e,
                             stdout=logf, stderr=logf)
        logf.close()
        self.procs.append((name, p))
        return p

    def stop(self, p, timeout=60):
        """SIGTERM (drain), bounded wait, then SIGKILL; the exit code."""
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"pid {p.pid} ignored SIGTERM for {timeout} s; killing")
                p.kill()
                p.wait(10)
        self.procs = [(n, q) for n, q in self.procs if q is not p]
        return p.returncode

    def stop_all(self):
        for _, p in list(reversed(self.procs)):
            self.stop(p)

    # ------------------------------------------------------------- checks
    def query(self, env, sql):
        conn = psycopg2.connect(env["OTPFLOW_DATABASE_URL"])
        try:
            cur = conn.cursor()
            cur.execute(sql)
            return cur.fetchone()
        finally:
            conn.close()


def burst_client(build):
    """Path of otpflow-bench-burst (bench/burst_client.c, built by CMake)."""
    exe = pathlib.Path(build) / "otpflow-bench-burst"
    if not exe.exists():
        raise SystemExit(f"{exe} missing: build with scripts/build.sh {build}")
    return exe


def build(dirname):
    """scripts/build.sh DIR (incremental; a no-op when up to date)."""
    subprocess.run([str(REPO / "scripts" / "build.sh"), str(dirname)],
                   check=True, timeout=1800)


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def save_result(name, obj):
    """Appends one JSON line to bench/results/NAME.jsonl (for plots.py)."""
    d = REPO / "bench" / "results"
    d.mkdir(exist_ok=True)
    obj = dict(obj, date=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    with open(d / f"{name}.jsonl", "a") as f:
        f.write(json.dumps(obj) + "\n")
