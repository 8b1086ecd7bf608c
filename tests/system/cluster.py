"""The 3-node Kafka cluster of the failure tests: scripts/kafka-cluster.sh
(three combined KRaft nodes, each in a network namespace of its own when
run as root) driven from Python — start and stop for the session fixture
(conftest.py `cluster`), and the faults: kill -9 and restart a node, cut a
node off the network and heal it, find the leader of a partition.

Environment: OTPFLOW_TEST_CLUSTER_PORT (19300; the nodes use this port and
the next five), OTPFLOW_TEST_CLUSTER_FAILOVER (the script's failover
profile: fast, the default, or kafka for Kafka's own timeouts).
"""

import os
import pathlib
import re
import subprocess
import time

from otpflow_test import REPO

SCRIPT = REPO / "scripts" / "kafka-cluster.sh"


class Cluster:
    """One cluster; every method runs the script (bounded) and raises with
    its output when it fails."""

    def __init__(self, env):
        self.env = dict(env)
        self.env["OTPFLOW_CLUSTER_PORT"] = os.environ.get(
            "OTPFLOW_TEST_CLUSTER_PORT", "19300")
        self.env["OTPFLOW_CLUSTER_FAILOVER"] = os.environ.get(
            "OTPFLOW_TEST_CLUSTER_FAILOVER", "fast")
        self.failover = self.env["OTPFLOW_CLUSTER_FAILOVER"]
        self.bootstrap = None

    def run(self, *args, timeout=300):
        """Runs a command of the script; returns its last stdout line."""
        proc = subprocess.run([str(SCRIPT), *map(str, args)], env=self.env,
                              capture_output=True, text=True,
                              timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"kafka-cluster.sh {' '.join(map(str, args))}"
                               f" failed ({proc.returncode}):\n"
                               f"{proc.stdout}\n{proc.stderr}")
        lines = proc.stdout.strip().splitlines()
        return lines[-1] if lines else ""

    def start(self):
        """A new cluster (the previous session's data deleted)."""
        self.run("clean", timeout=180)
        self.bootstrap = self.run("start", timeout=900)
        return self.bootstrap

    def start_missing(self):
        """Starts the nodes that do not run (killed ones); returns once all
        three answer and every ISR is full."""
        self.run("start", timeout=900)
        self.wait_synced()

    def stop(self):
        self.run("stop", timeout=180)

    def status(self):
        proc = subprocess.run([str(SCRIPT), "status"], env=self.env,
                              capture_output=True, text=True, timeout=120)
        return proc.stdout

    def leader(self, topic, partition):
        """The node leading topic's partition (-1: none)."""
        return int(self.run("leader", topic, partition, timeout=60))

    def leaders(self, topic):
        """{partition: leading node} of topic, from one metadata request."""
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        md = admin.list_topics(topic, timeout=20).topics[topic]
        assert md.error is None, md.error
        return {p: m.leader for p, m in md.partitions.items()}

    def controller(self):
        """The node leading the KRaft quorum (-1: none known)."""
        return int(self.run("controller", timeout=60))

    def kill(self, node):
        """SIGKILL node; returns when it was sent, as time.monotonic()."""
        return monotonic(float(self.run("kill", node, timeout=60)))

    def restart(self, node):
        """Starts node again; returns once it is back in every ISR."""
        self.run("restart", node, timeout=600)

    def cut(self, node):
        """Cuts node off the network; returns when, as time.monotonic()."""
        return monotonic(float(self.run("cut", node, timeout=60)))

    def heal(self, node):
        """Reconnects node; returns once it is back in every ISR."""
        self.run("heal", node, timeout=600)

    def wait_synced(self, timeout=120):
        self.run("wait-synced", timeout, timeout=timeout + 60)

    def fenced(self, node, since):
        """When (epoch seconds) the active controller first fenced node
        after `since` (epoch seconds), from the nodes' logs; None if it
        did not."""
        import datetime
        mark = re.compile(r"^\[(\S+ \S+)\] INFO \[QuorumController id=\d+\] "
                          rf"Fencing broker {node} at epoch")
        times = []
        for n in (1, 2, 3):
            for line in self.log(n).splitlines():
                m = mark.match(line)
                if m:
                    t = datetime.datetime.strptime(
                        m.group(1), "%Y-%m-%d %H:%M:%S,%f").replace(
                        tzinfo=datetime.timezone.utc).timestamp()
                    if t >= since:
                        times.append(t)
        return min(times) if times else None

    def log(self, node):
        """Node's broker log (server.log) as text."""
        path = (pathlib.Path(self.env["OTPFLOW_STATE_DIR"]) /
                "kafka-cluster" / f"node{node}" / "logs" / "server.log")
        return path.read_text(errors="replace") if path.exists() else ""



def monotonic(epoch):
    """An epoch time of the recent past as time.monotonic() would have
    said it."""
    return time.monotonic() - (time.time() - epoch)
