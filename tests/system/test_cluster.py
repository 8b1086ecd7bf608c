"""Failure scenarios on a 3-node Kafka cluster (cluster.py,
scripts/kafka-cluster.sh: replication factor 3, min.insync.replicas=2),
with the whole pipeline running — ingest -> worker -> sender -> fake
provider — under a steady load, ending with reconcile.py's reconciliation:

- R12: kill -9 the leader of a signup-requests partition, later the leader
  of an sms-otp partition, restarting each;
- R13: cut one node off the network (from the other nodes and from the
  clients) for 20 s, then heal it;
- every daemon stops within a bound on SIGTERM when all brokers are gone.

The load retries every 503 (bounded), as a client should; every number must
end with one user and one SMS, also when a 503's request was stored after
all. To make sure such ambiguous 503s happen, a tenth of the numbers go
through a second ingest whose accept timeout (1 s) is shorter than the
cluster's failover: a request that waits on a dead follower is answered 503
and committed once the follower is fenced.

The unavailability of one fault is measured on the requests sent through
the default ingest: "first 200 after the fault" is the time from the fault
(the SIGKILL, or the link going down) until every partition of
signup-requests had answered 200 to a request sent after the fault (each
request's partition is read from the topic itself). It is the window of the
partition the node led, or longer: with replication factor 3 on 3 nodes,
every partition has the node as leader or follower, and acks=all waits for
it until it is fenced. "503 answers" counts the default ingest's within 30 s
of the fault.

The daemons run supervised (Supervised): one that exits on a fatal Kafka
producer error is started again, as in production, and the figures say so
("exits restarted").

Sizes: OTPFLOW_TEST_CLUSTER_RATE (150 sign-ups/s); OTPFLOW_TEST_CLUSTER_SECONDS
(40): the load runs that long at least, and until 5 s after the last fault
ended (a restarted node takes 15-45 s on a busy 2-core machine). The
daemons' librdkafka settings are RECOMMENDED_CLIENT below unless
OTPFLOW_TEST_CLUSTER_CLIENT=default; the cluster's failover profile is
OTPFLOW_TEST_CLUSTER_FAILOVER (cluster.py). Both are there to measure the
settings of docs/operations.md against Kafka's and librdkafka's defaults.
"""

import collections
import dataclasses
import http.client
import json
import os
import re
import signal
import threading
import time
import urllib.parse

import pytest

import reconcile
import results as results_md
from otpflow_test import (SIGNUP_ROUTE, Daemon, free_port, numbers,
                          read_topic, wait_for)

RATE = float(os.environ.get("OTPFLOW_TEST_CLUSTER_RATE", "150"))
SECONDS = float(os.environ.get("OTPFLOW_TEST_CLUSTER_SECONDS", "40"))
# The client side of the failover settings (docs/operations.md, "Running on
# a Kafka cluster"), passed through to librdkafka by every daemon.
RECOMMENDED_CLIENT = {
    "OTPFLOW_KAFKA_SOCKET_TIMEOUT_MS": 3000,
    "OTPFLOW_KAFKA_SOCKET_CONNECTION_SETUP_TIMEOUT_MS": 3000,
    "OTPFLOW_KAFKA_TOPIC_METADATA_REFRESH_FAST_INTERVAL_MS": 100,
    "OTPFLOW_KAFKA_RECONNECT_BACKOFF_MAX_MS": 1000,
}
CLIENT = {} if os.environ.get("OTPFLOW_TEST_CLUSTER_CLIENT") == "default" \
    else RECOMMENDED_CLIENT
WORKER = dict(OTPFLOW_OTP_BCRYPT_COST=4)  # fast hashes: the load is the test
SHORT_ACCEPT_MS = 1000  # the second ingest's OTPFLOW_ACCEPT_TIMEOUT_MS
HORIZON = 30.0  # seconds after a fault that its 503s are counted in


@pytest.fixture
def stack(cluster_stack):
    """Every fixture of this module runs on the 3-node cluster."""
    return cluster_stack


@dataclasses.dataclass
class Attempt:
    phone: str
    via: str  # "default" or "short" (the ingest it went through)
    sent: float  # time.monotonic()
    answered: float
    status: object  # HTTP status, None: no answer
    error: str = ""  # why there was no answer


class Load:
    """POSTs one sign-up per number of `phones`, `rate` per second, from many
    threads with a keep-alive connection each, until stop() (or the numbers
    run out); a 503 or no answer is retried after `backoff` seconds,
    doubled at each retry up to 4 s, `attempts` times in all (about 40 s:
    long enough to outlast a daemon started again by its supervisor).
    Every tenth number goes through `short_url` (when given)."""

    def __init__(self, url, phones, rate, short_url=None, threads=128,
                 attempts=12, backoff=0.5):
        self.urls = {"default": urllib.parse.urlsplit(url)}
        if short_url:
            self.urls["short"] = urllib.parse.urlsplit(short_url)
        self.phones = phones
        self.interval = 1 / rate
        self.max_attempts, self.backoff = attempts, backoff
        self.attempts = []
        self.lock = threading.Lock()
        self.next = 0
        self.stopping = threading.Event()
        self.started = time.monotonic()
        self.threads = [threading.Thread(target=self.run, daemon=True)
                        for _ in range(threads)]
        for t in self.threads:
            t.start()

    def via(self, i):
        return "short" if "short" in self.urls and i % 10 == 0 else "default"

    def run(self):
        conns = {}
        headers = {"Content-Type": "application/json"}
        while True:
            with self.lock:
                if self.stopping.is_set() or self.next >= len(self.phones):
                    break
                i, self.next = self.next, self.next + 1
            phone, via = self.phones[i], self.via(i)
            body = json.dumps({"phoneNumber": phone})
            ahead = self.started + i * self.interval - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)  # the load's pacing
            for n in range(self.max_attempts):
                if n:  # the client's retry backoff
                    time.sleep(min(4.0, self.backoff * 2 ** (n - 1)))
                sent, error = time.monotonic(), ""
                try:
                    if via not in conns:
                        u = self.urls[via]
                        conns[via] = http.client.HTTPConnection(
                            u.hostname, u.port, timeout=30)
                    conns[via].request("POST", SIGNUP_ROUTE, body, headers)
                    resp = conns[via].getresponse()
                    resp.read()
                    status = resp.status
                except (OSError, http.client.HTTPException) as e:
                    conns.pop(via).close()
                    status, error = None, type(e).__name__
                with self.lock:
                    self.attempts.append(Attempt(phone, via, sent,
                                                 time.monotonic(), status,
                                                 error))
                if status not in (503, None):
                    break
        for conn in conns.values():
            conn.close()

    def finished(self):
        return not any(t.is_alive() for t in self.threads)

    def stop(self, timeout=300):
        """Sends no new number; waits (bounded) for those under way."""
        self.stopping.set()
        wait_for(self.finished, timeout, "the load to finish", interval=0.2)
        self.seconds = time.monotonic() - self.started
        return self

    def sent_phones(self):
        return self.phones[:self.next]

    def accepted(self):
        """One entry per 200 answer."""
        return [a.phone for a in self.attempts if a.status == 200]

    def answers(self):
        return collections.Counter(a.status for a in self.attempts)

    def dump(self, path):
        """Every attempt as a JSON line (times from the load's start)."""
        with open(path, "w") as f:
            for a in self.attempts:
                f.write(json.dumps(dict(dataclasses.asdict(a),
                                        sent=a.sent - self.started,
                                        answered=a.answered - self.started))
                        + "\n")


def at(load, t):
    """Waits until the load has run for t seconds (the faults' schedule)."""
    ahead = load.started + t - time.monotonic()
    if ahead > 0:
        time.sleep(ahead)


@dataclasses.dataclass
class Fault:
    kind: str  # "kill" or "cut"
    node: int
    topic: str
    partition: int
    at: float  # time.monotonic() of the SIGKILL or of the link going down
    quorum_leader: bool  # the node was leading the KRaft quorum
    ended: float = 0.0  # restarted or healed (back in every ISR)
    fenced_after: object = None  # s from the fault to the node's fencing


def pick(cluster, topic, want_quorum_leader):
    """(partition, node): a partition of topic and its leader, preferring a
    leader that is (or is not) the quorum leader."""
    controller = cluster.controller()
    leaders = sorted(cluster.leaders(topic).items())
    for p, node in leaders:
        if (node == controller) == want_quorum_leader:
            return p, node, node == controller
    p, node = leaders[0]
    return p, node, node == controller


def start_fault(cluster, kind, topics, var, want_quorum_leader):
    """Kills or cuts the leader of a partition of topics[var]."""
    p, node, was_leader = pick(cluster, topics[var], want_quorum_leader)
    t = cluster.kill(node) if kind == "kill" else cluster.cut(node)
    return Fault(kind, node, topics[var], p, t, was_leader)


def note_fencing(cluster, fault):
    """Sets fault.fenced_after from the controllers' logs (the broker
    side of the window; the rest is metadata reaching the clients)."""
    epoch = time.time() - (time.monotonic() - fault.at)
    fenced = cluster.fenced(fault.node, epoch - 1)
    fault.fenced_after = fenced - epoch if fenced else "not seen"


def window(load, fault, partition_of, via="default"):
    """The unavailability figures of one fault (see the module's doc)."""
    first = {}  # partition -> first 200 to a request sent after the fault
    for a in load.attempts:
        if a.via == via and a.status == 200 and a.sent >= fault.at:
            p = partition_of[a.phone]
            first[p] = min(first.get(p, a.answered), a.answered)
    refused = [a for a in load.attempts if a.status == 503 and a.via == via
               and fault.at <= a.answered <= fault.at + HORIZON]
    slow = [a.answered - a.sent for a in load.attempts if a.status == 200
            and a.via == via and fault.at - 5 <= a.sent <= fault.at + HORIZON]
    return {"first_200_after_s": max(first.values()) - fault.at,
            "answers_503": len(refused),
            "slowest_200_s": max(slow)}


def settle(stack, topics, sender, load, fake_provider, otpflowctl,
           seal_keys):
    """Drains the pipeline (bounded) and reconciles it; returns the
    snapshot, the figures, and phone -> partition on signup-requests."""
    # The load is over: signup-requests holds its final records.
    copies = reconcile.request_copies(read_topic(
        stack.bootstrap, topics["OTPFLOW_TOPIC_SIGNUP_REQUESTS"], 60))
    reconcile.wait_idle(stack.bootstrap, topics, sender.db, 300, copies)
    snap = reconcile.Snapshot(stack.bootstrap, topics)
    f = reconcile.reconcile(snap, sender.db, load.accepted(),
                            fake_provider.messages(), otpflowctl, topics,
                            seal_secret=seal_keys["secret"], exact=False,
                            copies_allowed=True)
    partition_of = {}
    for msg in snap.raw["OTPFLOW_TOPIC_SIGNUP_REQUESTS"]:
        partition_of.setdefault(msg.key().decode(), msg.partition())
    return snap, f, partition_of


def check_outcome(load, snap, f, phones):
    """What R12 and R13 require of every number; returns the counts of
    503s (stored after all, or not) per ingest."""
    answers = load.answers()
    # None: no answer, which the load retried (a keep-alive connection the
    # ingest closed after OTPFLOW_CONNECTION_TIMEOUT, or an ingest being
    # started again).
    assert set(answers) <= {200, 503, None}, answers
    ok = collections.Counter(load.accepted())
    assert set(ok) == set(phones), \
        f"{len(set(phones) - set(ok))} numbers never answered 200 " \
        "within the retries"
    assert f["users_created"] == len(phones) and f["duplicate_users"] == 0
    assert f["sms_sent"] == len(phones) and f["dead_lettered"] == 0
    assert f["duplicate_sms"] == 0 and f["provider_sms"] == len(phones)
    assert f["lost"] == 0
    records = collections.Counter(  # a producer's copy counts once
        r["phone_number"] for r in
        {r["request_id"]: r for r in
         snap.decoded["OTPFLOW_TOPIC_SIGNUP_REQUESTS"]}.values())
    refused = collections.Counter(a.phone for a in load.attempts
                                  if a.status == 503)
    unanswered = collections.Counter(a.phone for a in load.attempts
                                     if a.status is None)
    via = {a.phone: a.via for a in load.attempts}
    out = collections.Counter()
    for phone, n in refused.items():
        stored = records[phone] - ok[phone]  # records nobody got 200 for
        assert 0 <= stored <= n + unanswered[phone], (phone, stored, n)
        out[f"{via[phone]}_503_stored"] += stored
        out[f"{via[phone]}_503_not_stored"] += max(0, n - stored)
    return out


class Supervised:
    """An otpflow daemon started again when it exits by itself, as its
    supervisor would in production (docker-compose.yml: restart:
    unless-stopped): a daemon exits 1 when its Kafka producer hits a fatal
    error. ready(daemon) says when a start is complete; exits holds
    (status, the fatal log line) of each exit of its own."""

    def __init__(self, exe, env, path, ready):
        self.exe, self.env, self.path, self.ready = exe, env, path, ready
        self.daemons, self.exits = [], []
        self.stopping = threading.Event()
        self.start()
        self.watcher = threading.Thread(target=self.watch, daemon=True)
        self.watcher.start()

    def start(self):
        daemon = Daemon(self.exe, self.env,
                        f"{self.path}-{len(self.daemons)}.log")
        self.daemons.append(daemon)

        def ready():
            assert daemon.proc.poll() is None, daemon.output()[-3000:]
            return self.ready(daemon)
        wait_for(ready, 60, f"{self.exe} to start")

    def watch(self):
        while not self.stopping.wait(0.2):
            daemon = self.daemons[-1]
            if daemon.proc.poll() is None:
                continue
            lines = daemon.output().splitlines()
            fatal = [line for line in lines if "Fatal error" in line] or \
                [line for line in lines if '"level":"error"' in line]
            self.exits.append((daemon.proc.returncode,
                               fatal[0][:600] if fatal else ""))
            self.start()

    def stop(self):
        """SIGTERM; the exit status of the running instance."""
        self.stopping.set()
        self.watcher.join(70)
        statuses = [d.stop() for d in self.daemons]
        return statuses[-1]

    def restarts(self):
        """The figure: how often it exited by itself, and why."""
        if not self.exits:
            return 0
        status, line = self.exits[0]
        why = re.search(r"Fatal error: ([^:\"]+: [^:\"]+)", line)
        return f"{len(self.exits)} (exit {status}: " \
            f"{why.group(1) if why else line[:120]})"


def healthz(url):
    """ready() of a daemon that serves url + /healthz."""
    def ready(daemon):
        import requests
        try:
            return requests.get(url + "/healthz", timeout=1).ok
        except requests.ConnectionError:
            return False
    return ready


def ingest_env(stack, topics, port, **settings):
    env = stack.env(**topics)
    env.update(OTPFLOW_LISTEN=f"127.0.0.1:{port}",
               AUTH_SMS_PASSWORDLESS_ENABLED="true",
               AUTH_CLIENT_URL="https://my-app.com")
    env.update({k: str(v) for k, v in settings.items()})
    return env


def worker_env(stack, topics, db, seal_keys, **settings):
    env = stack.env(**topics)
    env.update(OTPFLOW_DATABASE_URL=db,
               OTPFLOW_SEAL_PUBLIC_KEY=seal_keys["public"],
               OTPFLOW_ADMIN_LISTEN=f"127.0.0.1:{free_port()}",
               **{k: str(v) for k, v in WORKER.items()})
    env.update({k: str(v) for k, v in settings.items()})
    return env


@pytest.fixture
def pipeline(stack, topics, sender, seal_keys, tmp_path):
    """Starts the pipeline, every daemon supervised (Supervised), all with
    CLIENT's librdkafka settings: an ingest (default accept timeout), a
    second ingest with a short one, the worker, the sender. Returns
    {name: Supervised}, each ingest with its url; each must exit 0 on
    SIGTERM at the end of the test. The sender waits on the provider as
    long as in production (15 s): with the test harness's 2 s, a provider
    slowed down by the busy machine answers after the sender gave up, and
    the retry sends a second SMS — a provider fault, which is not what
    these tests are about."""
    started = {}

    def ingest(name, **settings):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        started[name] = Supervised(
            "otpflow-ingest", ingest_env(stack, topics, port, **settings),
            tmp_path / name, healthz(url))
        started[name].url = url

    ingest("ingest", **CLIENT)
    ingest("ingest-short", OTPFLOW_ACCEPT_TIMEOUT_MS=SHORT_ACCEPT_MS, **CLIENT)
    started["worker"] = Supervised(
        "otpflow-worker", worker_env(stack, topics, sender.db, seal_keys,
                                     **CLIENT),
        tmp_path / "worker", lambda d: '"consuming"' in d.output())
    admin = f"127.0.0.1:{free_port()}"
    started["sender"] = Supervised(
        "otpflow-sender", sender.env(OTPFLOW_ADMIN_LISTEN=admin,
                                     OTPFLOW_SMS_TIMEOUT="15s",
                                     OTPFLOW_SMS_CONNECT_TIMEOUT="5s",
                                     **CLIENT),
        tmp_path / "sender", healthz("http://" + admin))
    yield started
    for name, daemon in started.items():
        assert daemon.stop() == 0, daemon.daemons[-1].output()[-3000:]


def fault_figures(name, fault, w):
    return {f"{name}_node": f"{fault.node}"
            f"{' (quorum leader)' if fault.quorum_leader else ''}",
            f"{name}_partition": f"{fault.topic.rsplit('-', 1)[0]} "
                                 f"{fault.partition}",
            f"{name}_fenced_by_the_controller_after_s": fault.fenced_after,
            f"{name}_every_partition_answered_200_after_s":
                w["first_200_after_s"],
            f"{name}_503_answers": w["answers_503"],
            f"{name}_slowest_200_s": w["slowest_200_s"],
            f"{name}_back_in_every_isr_after_s": fault.ended - fault.at}


def client_settings():
    return ", ".join(f"{k[len('OTPFLOW_KAFKA_'):].lower().replace('_', '.')}"
                     f"={v}" for k, v in CLIENT.items()) or \
        "librdkafka defaults"


def machine():
    """The load average when a test starts (other work shares the cores)."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def finish(load, faults):
    """Stops the load once it has run SECONDS and 5 s past the last
    fault's end."""
    at(load, max(SECONDS, max(f.ended for f in faults) - load.started + 5))
    return load.stop()


def common_figures(cluster, load, f, stored):
    return dict(failover_profile=cluster.failover,
                client_settings=client_settings(),
                accepted=f["accepted"], users_created=f["users_created"],
                sms_sent=f["sms_sent"], duplicate_users=f["duplicate_users"],
                duplicate_sms=f["duplicate_sms"], lost=f["lost"],
                republished_copies=f["republished_copies"],
                signup_requests_written_twice_by_the_producer=f[
                    "request_copies"],
                duplicate_sms_sent_records=f["duplicate_sms_sent_records"],
                answers_503=load.answers()[503],
                no_answer_retried=load.answers()[None],
                **dict(sorted(stored.items())))


def restart_figures(pipeline):
    return {f"{name.replace('-', '_')}_exits_restarted": d.restarts()
            for name, d in pipeline.items()}


def test_r12_broker_killed_under_load(cluster, stack, topics, sender,
                                      fake_provider, pipeline, otpflowctl,
                                      seal_keys, tmp_path):
    """R12: kill -9 of a signup-requests leader (not the quorum leader),
    then of an sms-otp leader (the quorum leader when it leads one), each
    restarted 5 s later: every 200 is one user and one SMS, 0 duplicates,
    0 lost, and a 503 whose request was stored after all costs nothing
    when the client retries."""
    load_avg = machine()
    phones = numbers("+1420", int(RATE * SECONDS * 6))
    cluster.wait_synced()
    load = Load(pipeline["ingest"].url, phones, RATE,
                short_url=pipeline["ingest-short"].url)
    faults = []
    for t, var, quorum in ((SECONDS * 0.2, "OTPFLOW_TOPIC_SIGNUP_REQUESTS",
                            False),
                           (SECONDS * 0.6, "OTPFLOW_TOPIC_SMS_OTP", True)):
        at(load, max(t, faults[-1].ended - load.started + 3) if faults
           else t)
        fault = start_fault(cluster, "kill", topics, var, quorum)
        faults.append(fault)
        at(load, fault.at - load.started + 5)
        note_fencing(cluster, fault)
        cluster.restart(fault.node)
        fault.ended = time.monotonic()
    finish(load, faults).dump(tmp_path / "attempts.jsonl")
    phones = load.sent_phones()
    snap, f, partition_of = settle(stack, topics, sender, load,
                                   fake_provider, otpflowctl, seal_keys)
    stored = check_outcome(load, snap, f, phones)
    assert stored["short_503_stored"] > 0, \
        "no ambiguous 503: the retry path was not exercised"
    figures = {}
    for i, fault in enumerate(faults, 1):
        figures.update(fault_figures(f"kill_{i}", fault,
                                     window(load, fault, partition_of)))
    results_md.record(
        "R12", f"{len(phones)} sign-ups at {RATE:.0f}/s on the 3-node "
        "cluster; kill -9 of the leader of a signup-requests partition, "
        "later of an sms-otp partition, each restarted 5 s later; 503s "
        "retried with backoff (0.5 s doubling to 4 s); a tenth of the "
        f"numbers through an ingest with a {SHORT_ACCEPT_MS} ms accept "
        "timeout",
        "test_r12_broker_killed_under_load",
        **common_figures(cluster, load, f, stored), **figures,
        **restart_figures(pipeline),
        load_seconds=load.seconds, load_average_at_start=load_avg)


def truncations(log):
    """Lines of a broker log where a replica dropped the tail of its log."""
    return [line for line in log.splitlines() if "Truncating" in line]


def test_r13_node_cut_off_under_load(cluster, stack, topics, sender,
                                     fake_provider, pipeline, otpflowctl,
                                     seal_keys, tmp_path):
    """R13: the node leading a signup-requests partition (the quorum
    leader when it leads one) is cut off from the other nodes and from
    every client for 20 s, then healed: as R12, and no split brain — no
    acknowledged record lost, nothing applied twice, the healed node
    follows the new leaders."""
    load_avg = machine()
    phones = numbers("+1421", int(RATE * SECONDS * 6))
    cluster.wait_synced()
    load = Load(pipeline["ingest"].url, phones, RATE,
                short_url=pipeline["ingest-short"].url)
    at(load, SECONDS * 0.2)
    log_before = {n: len(cluster.log(n)) for n in (1, 2, 3)}
    fault = start_fault(cluster, "cut", topics,
                        "OTPFLOW_TOPIC_SIGNUP_REQUESTS", True)
    at(load, fault.at - load.started + 20)
    cut_leader = cluster.controller()
    note_fencing(cluster, fault)
    cluster.heal(fault.node)
    fault.ended = time.monotonic()
    finish(load, [fault]).dump(tmp_path / "attempts.jsonl")
    phones = load.sent_phones()
    snap, f, partition_of = settle(stack, topics, sender, load,
                                   fake_provider, otpflowctl, seal_keys)
    stored = check_outcome(load, snap, f, phones)
    # While cut off, the node could not have stayed the quorum leader.
    assert cut_leader not in (-1, fault.node), cut_leader
    # Healed, it follows: every partition it led has another leader now
    # (preferred leaders come back only after leader.imbalance.check).
    led_after = [p for p, n in cluster.leaders(fault.topic).items()
                 if n == fault.node]
    assert fault.partition not in led_after
    truncated = truncations(cluster.log(fault.node)[log_before[fault.node]:])
    results_md.record(
        "R13", f"{len(phones)} sign-ups at {RATE:.0f}/s on the 3-node "
        "cluster; the leader of a signup-requests partition cut off from "
        "the other nodes and from every client for 20 s (its link down), "
        "then healed; 503s retried with backoff (0.5 s doubling to 4 s); "
        f"a tenth of the numbers through an ingest with a {SHORT_ACCEPT_MS} "
        "ms accept timeout",
        "test_r13_node_cut_off_under_load",
        **common_figures(cluster, load, f, stored),
        **fault_figures("cut", fault, window(load, fault, partition_of)),
        quorum_leader_during_the_cut=cut_leader,
        log_truncations_on_the_healed_node=len(truncated),
        **restart_figures(pipeline),
        load_seconds=load.seconds, load_average_at_start=load_avg)


def main_stack(daemon, path):
    """The functions of daemon's main thread, innermost first (gdb); every
    thread's stack goes to path."""
    import shutil
    import subprocess
    if not shutil.which("gdb"):
        return "gdb not installed"
    out = subprocess.run(["gdb", "-p", str(daemon.proc.pid), "-batch", "-nx",
                          "-ex", "thread apply all bt"],
                         capture_output=True, text=True, timeout=60).stdout
    path.write_text(out)
    main = out.split("\nThread 1 ")[-1]
    return " < ".join(re.findall(r"^#\d+ +(?:0x\S+ in )?(\w+)", main,
                                 re.M)[:8])


STOP_BOUND = 15.0  # seconds a daemon may take to exit on SIGTERM
LONG = 60.0  # how long the test waits to report the time of a late exit


def test_daemons_stop_when_every_broker_is_gone(cluster, stack, topics,
                                                sender, fake_provider,
                                                seal_keys, otpflowctl,
                                                tmp_path):
    """Ingest, worker and sender, busy on the cluster, each exit within
    STOP_BOUND seconds of SIGTERM once every broker was killed (SIGKILL)."""
    phones = numbers("+1422", 30)
    port = free_port()
    daemons = {name: Daemon(exe, env, tmp_path / f"{name}.log")
               for name, exe, env in (
                   ("ingest", "otpflow-ingest",
                    ingest_env(stack, topics, port)),
                   ("worker", "otpflow-worker",
                    worker_env(stack, topics, sender.db, seal_keys)),
                   ("sender", "otpflow-sender", sender.env(
                       OTPFLOW_ADMIN_LISTEN=f"127.0.0.1:{free_port()}")))}
    try:
        load = Load(f"http://127.0.0.1:{port}", phones, 50)
        wait_for(lambda: len(fake_provider.messages()) == len(phones)
                 or any(d.proc.poll() is not None
                        for d in daemons.values()), 120,
                 "the pipeline to deliver every SMS")
        load.stop()
        for d in daemons.values():
            assert d.proc.poll() is None, d.output()[-3000:]
        for node in (1, 2, 3):
            cluster.kill(node)
        t0 = time.monotonic()
        for d in daemons.values():
            d.proc.send_signal(signal.SIGTERM)
        # Waits past the bound (up to LONG) only to say how long it took.
        took = {}

        def exited():
            for name, d in daemons.items():
                if name not in took and d.proc.poll() is not None:
                    took[name] = round(time.monotonic() - t0, 1)
            return len(took) == len(daemons)
        stacks = {}
        try:
            wait_for(exited, STOP_BOUND, "every daemon to exit", interval=0.1)
        except AssertionError:
            stacks = {n: main_stack(d, tmp_path / f"{n}-stacks.txt")
                      for n, d in daemons.items() if n not in took}
        try:
            wait_for(exited, LONG, "every daemon to exit", interval=0.1)
        except AssertionError:
            took.update({n: f"over {LONG:.0f}" for n in daemons
                         if n not in took})
        late = [n for n, t in took.items() if not isinstance(t, float)
                or t > STOP_BOUND]
        assert not late, f"still running {STOP_BOUND:.0f} s after SIGTERM: " \
            f"{late} (seconds to exit: {took}); where the main thread " \
            f"waited at {STOP_BOUND:.0f} s: {stacks}"
        results_md.record(
            "Shutdown", "ingest, worker and sender busy on the 3-node "
            "cluster, every broker killed (SIGKILL), then SIGTERM to each",
            "test_daemons_stop_when_every_broker_is_gone",
            bound_seconds=STOP_BOUND,
            **{f"{n}_seconds_to_exit": t for n, t in took.items()})
    finally:
        for d in daemons.values():
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait(10)
            d.log.close()
        cluster.start_missing()
