"""R10 (docs/targets.md, docs/api.md §1.7): slow clients against a real
ingest whose connection timeout is 3 s. 200 raw connections trickle a signup
one byte per second — faster than the timeout, so an idle timeout alone would
never close them (slowloris): half send the headers that way, half send the
headers at once and then trickle the body. Meanwhile a legitimate client
posts valid signups at a steady pace on new connections.

Checked: every legitimate request gets 200, several of them while all the
slow connections are open; every slow connection is closed by the server no
earlier than the timeout and within a bounded time; none of them reaches
the topic; and a kept-alive connection sending a valid signup every second
for longer than the timeout is not cut (the deadline is per request).
Latencies are recorded (without and with the slow clients), not asserted:
timing belongs to bench/.
"""

import json
import select
import socket
import threading
import time
import urllib.parse

import requests

import results as results_md
from otpflow_test import SIGNUP_ROUTE as ROUTE, read_topic

TIMEOUT_S = 3           # OTPFLOW_CONNECTION_TIMEOUT for this test
PER_IP_LIMIT = 256      # OTPFLOW_MAX_CONNECTIONS_PER_IP; all is 127.0.0.1
SLOW_PER_GROUP = 100
BYTE_EVERY_S = 1.0
CLOSE_BOUND_S = TIMEOUT_S + 7  # generous; the server should need ~TIMEOUT_S
LEGIT_EVERY_S = 0.1
BASELINE_REQUESTS = 20
KEEP_ALIVE_REQUESTS = TIMEOUT_S + 2  # one a second: outlives the timeout

SLOW_BODY = b'{"phoneNumber":"+12025550100"}'  # never a legitimate number
SLOW_HEAD = (f"POST {ROUTE} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             "Content-Type: application/json\r\n"
             f"Content-Length: {len(SLOW_BODY)}\r\n\r\n").encode()


class SlowClient:
    """One connection sending its request a byte at a time."""

    def __init__(self, port, body_only):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if body_only:
            self.sock.sendall(SLOW_HEAD)
            self.pending = SLOW_BODY
        else:
            self.pending = SLOW_HEAD + SLOW_BODY
        self.sock.setblocking(False)
        self.opened = time.monotonic()
        self.closed_after = None  # seconds from open to the server's close
        self.answer = b""

    def server_closed(self):
        self.closed_after = time.monotonic() - self.opened
        self.sock.close()

    def trickle(self):
        if not self.pending:
            return
        try:
            self.sock.send(self.pending[:1])
            self.pending = self.pending[1:]
        except (BrokenPipeError, ConnectionResetError):
            self.server_closed()

    def readable(self):
        try:
            data = self.sock.recv(4096)
        except BlockingIOError:
            return
        except ConnectionResetError:
            data = b""
        if data:
            self.answer += data
        else:
            self.server_closed()


class LegitClient(threading.Thread):
    """Valid signups at a steady pace, one new connection each."""

    def __init__(self, url, first_number, slow=()):
        super().__init__()
        self.url, self.number, self.slow = url, first_number, slow
        self.stop = threading.Event()
        self.done = []  # (latency s, status, all slow open at the end)
        self.phones = []

    def one(self):
        phone = f"+1415555{self.number:04d}"
        self.number += 1
        start = time.monotonic()
        try:
            status = requests.post(self.url + ROUTE,
                                   json={"phoneNumber": phone},
                                   timeout=10).status_code
        except requests.RequestException as e:
            status = repr(e)
        latency = time.monotonic() - start
        all_open = bool(self.slow) and all(c.closed_after is None
                                           for c in self.slow)
        self.done.append((latency, status, all_open))
        if status == 200:
            self.phones.append(phone)

    def run(self):
        while not self.stop.is_set():
            self.one()
            self.stop.wait(LEGIT_EVERY_S)


def keep_alive_signups(port, phones):
    """Valid signups on one kept-alive connection, a second apart; the
    statuses, "closed" if the server hung up."""
    statuses = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        answers = s.makefile("rb")
        for i, phone in enumerate(phones):
            if i:
                time.sleep(1)  # pacing, not synchronisation
            body = json.dumps({"phoneNumber": phone}).encode()
            s.sendall(f"POST {ROUTE} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Content-Type: application/json\r\n"
                      f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            status_line = answers.readline()
            if not status_line:
                statuses.append("closed")
                break
            length = 0
            while (line := answers.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            answers.read(length)
            statuses.append(int(status_line.split()[1]))
    return statuses


def ms(latencies, q):
    ordered = sorted(latencies)
    return 1000 * ordered[round(q * (len(ordered) - 1))]


def test_r10_slow_clients_are_closed(stack, topics, start_ingest):
    assert 2 * SLOW_PER_GROUP + 2 < PER_IP_LIMIT
    url = start_ingest(OTPFLOW_CONNECTION_TIMEOUT=f"{TIMEOUT_S}s",
                       OTPFLOW_MAX_CONNECTIONS_PER_IP=PER_IP_LIMIT)
    port = urllib.parse.urlsplit(url).port

    # Baseline without slow clients (the first request also creates the
    # topic, so it is not counted).
    baseline = LegitClient(url, 0)
    for _ in range(BASELINE_REQUESTS + 1):
        baseline.one()
    assert all(s == 200 for _, s, _ in baseline.done), baseline.done
    base_latencies = [lat for lat, _, _ in baseline.done[1:]]

    slow = [SlowClient(port, body_only=i >= SLOW_PER_GROUP)
            for i in range(2 * SLOW_PER_GROUP)]
    legit = LegitClient(url, 1000, slow)
    legit.start()
    try:
        deadline = slow[-1].opened + CLOSE_BOUND_S
        next_byte = time.monotonic() + BYTE_EVERY_S
        while time.monotonic() < deadline:
            still_open = [c for c in slow if c.closed_after is None]
            if not still_open:
                break
            wait = max(0.0, min(0.2, next_byte - time.monotonic()))
            ready, _, _ = select.select([c.sock for c in still_open], [], [],
                                        wait)
            for c in still_open:
                if c.sock in ready:
                    c.readable()
            if time.monotonic() >= next_byte:
                next_byte += BYTE_EVERY_S
                for c in still_open:
                    if c.closed_after is None:
                        c.trickle()
    finally:
        legit.stop.set()
        legit.join(30)
        for c in slow:
            if c.closed_after is None:
                c.sock.close()

    never_closed = sum(c.closed_after is None for c in slow)
    assert never_closed == 0, f"{never_closed} slow connections still open " \
        f"{CLOSE_BOUND_S} s after they were opened"
    closed = [c.closed_after for c in slow]
    # Closed by the timeout: not refused or dropped before it.
    assert min(closed) >= TIMEOUT_S - 0.5, sorted(closed)[:5]
    assert not any(b" 200 " in c.answer for c in slow)

    statuses = [s for _, s, _ in legit.done]
    assert statuses and all(s == 200 for s in statuses), statuses
    served_while_all_open = sum(all_open for _, _, all_open in legit.done)
    assert served_while_all_open >= 5, legit.done

    kept_alive = [f"+1415555{2000 + i:04d}"
                  for i in range(KEEP_ALIVE_REQUESTS)]
    kept_alive_statuses = keep_alive_signups(port, kept_alive)
    assert kept_alive_statuses == [200] * KEEP_ALIVE_REQUESTS

    # Only the legitimate requests reached the topic.
    keys = sorted(m.key().decode() for m in read_topic(
        stack.bootstrap, topics["OTPFLOW_TOPIC_SIGNUP_REQUESTS"]))
    assert keys == sorted(baseline.phones + legit.phones + kept_alive)

    # The reaper thread is new code: no sanitizer report on the ASan build.
    daemon = start_ingest.daemon
    assert daemon.stop() == 0, daemon.output()
    log = daemon.log_path.read_text(errors="replace")
    assert not any(mark in log for mark in ("AddressSanitizer",
                                            "LeakSanitizer",
                                            "runtime error:")), log[-4000:]

    latencies = [lat for lat, _, _ in legit.done]
    results_md.record(
        "R10", f"{len(slow)} slow connections (1 byte/s: {SLOW_PER_GROUP} "
        f"trickling headers, {SLOW_PER_GROUP} trickling the body) against a "
        f"{TIMEOUT_S} s connection timeout, valid signups every "
        f"{LEGIT_EVERY_S} s meanwhile", "test_r10_slow_clients_are_closed",
        slow_connections_opened=len(slow),
        closed_by_server=len(slow) - never_closed,
        min_seconds_until_closed=min(closed),
        max_seconds_until_closed=max(closed),
        legitimate_requests=len(statuses),
        legitimate_200=statuses.count(200),
        legitimate_served_while_all_slow_open=served_while_all_open,
        legitimate_p50_ms=ms(latencies, 0.5),
        legitimate_p99_ms=ms(latencies, 0.99),
        baseline_p50_ms_without_slow_clients=ms(base_latencies, 0.5),
        baseline_p99_ms_without_slow_clients=ms(base_latencies, 0.99),
        kept_alive_connection_requests_1_per_s=len(kept_alive_statuses),
        kept_alive_connection_200=kept_alive_statuses.count(200))
