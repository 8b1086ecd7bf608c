"""Full-pipeline reliability scenarios of docs/targets.md — ingest ->
worker -> sender -> fake provider, on the real broker and Postgres — each
ending with the reconciliation and the leak scan of reconcile.py:

- R1: 20 000 distinct sign-ups plus a few hundred repeats, no faults;
- R2: the same load while the worker is killed with SIGKILL every few
  seconds of progress, and once at each deterministic crash point
  (OTPFLOW_TEST_CRASH_POINT=after-publish, after-commit);
- R6: the provider fails half the attempts; what exhausts its retries is
  dead-lettered, then `otpflowctl replay` after the fault clears sends every
  code still undelivered once, and a fresh code for the expired ones.

Sizes are tunable (the defaults are the targets'): OTPFLOW_TEST_R1_SIGNUPS,
OTPFLOW_TEST_R2_SIGNUPS, OTPFLOW_TEST_R6_SIGNUPS, and OTPFLOW_TEST_R2_SECONDS,
the time R2's sign-ups are spread over (the worker is killed while they
arrive). The worker hashes with bcrypt cost 4 (the least it allows) to keep
the runs short.
"""

import collections
import http.client
import importlib.util
import json
import os
import random
import signal
import statistics
import threading
import time
import urllib.parse

import reconcile
import results as results_md
from otpflow_test import (JSON, REPO, SIGNUP_ROUTE, headers_of, nhost_verify,
                          numbers, open_code, processed, wait_for)

R1_SIGNUPS = int(os.environ.get("OTPFLOW_TEST_R1_SIGNUPS", "20000"))
R2_SIGNUPS = int(os.environ.get("OTPFLOW_TEST_R2_SIGNUPS", "20000"))
R2_SECONDS = float(os.environ.get("OTPFLOW_TEST_R2_SECONDS", "90"))
R6_SIGNUPS = int(os.environ.get("OTPFLOW_TEST_R6_SIGNUPS", "2000"))
WORKER = dict(OTPFLOW_OTP_BCRYPT_COST=4)


def _load_fake_provider():
    spec = importlib.util.spec_from_file_location(
        "fake_provider", REPO / "tests" / "fake_provider.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fails = _load_fake_provider().fails


class Load:
    """POSTs one sign-up per entry of phones, in order, from many threads,
    each with a keep-alive connection of its own (http.client): as fast as
    ingest answers, or spread evenly over `seconds`. statuses: phone -> the
    HTTP status of each of its requests (None: no answer)."""

    def __init__(self, url, phones, threads=48, seconds=None):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.phones = phones
        self.interval = seconds / len(phones) if seconds else 0
        self.statuses = collections.defaultdict(list)
        self.lock = threading.Lock()
        self.next = 0
        self.started = time.monotonic()
        self.threads = [threading.Thread(target=self.run, daemon=True)
                        for _ in range(threads)]
        for t in self.threads:
            t.start()

    def run(self):
        conn = None
        while True:
            with self.lock:
                i, self.next = self.next, self.next + 1
            if i >= len(self.phones):
                break
            phone = self.phones[i]
            body = json.dumps({"phoneNumber": phone})
            ahead = self.started + i * self.interval - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)  # the load's pacing
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port,
                                                      timeout=30)
                conn.request("POST", SIGNUP_ROUTE, body, JSON)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
                status = None
            with self.lock:
                self.statuses[phone].append(status)
        if conn is not None:
            conn.close()

    def finished(self):
        return not any(t.is_alive() for t in self.threads)

    def join(self, timeout=600):
        wait_for(self.finished, timeout, "the load to finish", interval=0.2)
        self.seconds = time.monotonic() - self.started
        return self

    def accepted(self):
        """One entry per 200 answer."""
        return [p for p, ss in self.statuses.items() for s in ss if s == 200]

    def answers(self):
        return collections.Counter(s for ss in self.statuses.values()
                                   for s in ss)


def with_repeats(phones, repeats):
    """phones, then `repeats` of them again (spread over the list): the
    already-registered path."""
    step = max(1, len(phones) // repeats)
    return phones + phones[::step][:repeats]


def logs(tmp_path):
    """Every daemon log of the test and the provider's own output."""
    paths = sorted(tmp_path.glob("ingest-*.log")) + \
        sorted(tmp_path.glob("worker-*.log")) + \
        sorted(tmp_path.glob("sender-*.log")) + \
        [tmp_path / "provider-output.log"]
    assert len(paths) >= 4, paths
    return paths


def assert_no_leaks(snap, tmp_path, codes, phones, extra_texts=()):
    leaks = reconcile.leak_scan(snap, logs(tmp_path), codes, phones,
                                extra_texts)
    assert not leaks["code_hits"], leaks["code_hits"][:5]
    assert not leaks["template_hits"], leaks["template_hits"][:5]
    assert not leaks["phone_hits"], leaks["phone_hits"][:5]
    assert leaks["records_scanned"] > 0 and leaks["log_lines_scanned"] > 0
    return leaks


def assert_no_sanitizer_reports(tmp_path):
    """Under the ASan+UBSan build a report aborts the daemon: none may."""
    for path in logs(tmp_path):
        text = path.read_text(errors="replace")
        for mark in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            assert mark not in text, f"{path.name}: {mark}"


def leak_figures(leaks, codes):
    return dict(codes_searched=sum(len(c) for c in codes.values()),
                topic_records_scanned=leaks["records_scanned"],
                log_lines_scanned=leaks["log_lines_scanned"],
                six_digit_tokens_seen=leaks["six_digit_tokens"],
                plaintext_code_hits=len(leaks["code_hits"]),
                sms_template_text_hits=len(leaks["template_hits"]),
                unmasked_phone_hits=len(leaks["phone_hits"]))


def settle(stack, topics, sender, load, fake_provider, otpflowctl,
           seal_keys):
    """Waits (bounded) until the pipeline is idle, then reconciles it:
    (seconds to idle, monotonic time it went idle, the topics' snapshot,
    the reconciliation figures)."""
    drain = reconcile.wait_idle(stack.bootstrap, topics, sender.db, 600)
    idle_at = time.monotonic()
    snap = reconcile.Snapshot(stack.bootstrap, topics)
    f = reconcile.reconcile(snap, sender.db, load.accepted(),
                            fake_provider.messages(), otpflowctl, topics,
                            seal_secret=seal_keys["secret"])
    return drain, idle_at, snap, f


def test_r1_signups_without_faults(stack, topics, sender, fake_provider,
                                   start_ingest, start_worker, otpflowctl,
                                   seal_keys, tmp_path):
    """R1: every accepted sign-up is one user (or an already-registered
    number), every user got exactly one SMS with the code sealed in its
    event, `otpflowctl stats` balances, and no code or number leaks."""
    distinct = numbers("+1416", R1_SIGNUPS)
    phones = with_repeats(distinct, max(1, R1_SIGNUPS // 60))
    url = start_ingest(OTPFLOW_LOG_LEVEL="debug")
    start_worker(sender.db, **WORKER)
    sender.start()
    t0 = time.monotonic()
    load = Load(url, phones).join()
    assert load.answers() == {200: len(phones)}
    drain, idle_at, snap, f = settle(stack, topics, sender, load,
                                     fake_provider, otpflowctl, seal_keys)
    total = idle_at - t0

    assert f["users_created"] == len(distinct)
    assert f["already_registered"] == len(phones) - len(distinct)
    assert f["sms_sent"] == len(distinct) and f["dead_lettered"] == 0
    assert f["duplicate_sms"] == 0 and f["republished_copies"] == 0
    leaks = assert_no_leaks(snap, tmp_path, f["codes"], phones)
    assert_no_sanitizer_reports(tmp_path)
    results_md.record(
        "R1", f"{len(distinct)} sign-ups and {len(phones) - len(distinct)} "
        "repeats through the whole pipeline, no faults",
        "test_r1_signups_without_faults",
        requests=len(phones), accepted=f["accepted"],
        users_created=f["users_created"],
        already_registered=f["already_registered"],
        sms_sent=f["sms_sent"], dead_lettered=f["dead_lettered"],
        duplicate_sms=f["duplicate_sms"], lost=f["lost"],
        otpflowctl_stats=f["stats"],
        load_seconds=load.seconds, load_requests_per_s=len(phones) /
        load.seconds, seconds_to_drain_after_the_load=drain,
        seconds_total=total, **leak_figures(leaks, f["codes"]))


def test_r2_worker_killed_repeatedly(stack, topics, sender, fake_provider,
                                     start_ingest, start_worker, otpflowctl,
                                     seal_keys, tmp_path):
    """R2: kill -9 the worker at both crash points, then every 2-4 s of
    progress for as long as the sign-ups arrive (spread over
    OTPFLOW_TEST_R2_SECONDS): 0 lost, 0 duplicate users, one otp_id per
    user (re-published copies allowed), one SMS per user."""
    distinct = numbers("+1417", R2_SIGNUPS)
    phones = with_repeats(distinct, max(1, R2_SIGNUPS // 60))
    # A dead member holds its partitions until its session times out: the
    # shortest session the broker allows keeps each recovery short.
    ws = dict(WORKER, OTPFLOW_KAFKA_SESSION_TIMEOUT_MS=6000)
    url = start_ingest()
    sender.start()
    t0 = time.monotonic()
    load = Load(url, phones, seconds=R2_SECONDS)
    crashes = {}  # crash point -> outbox rows it left
    # after-publish first: its batch is all new users, published and left
    # in the outbox, so the next worker re-publishes copies of them.
    # A small batch leaves new requests for the after-commit batch.
    for point, batch in (("after-publish", 20), ("after-commit", 500)):
        doomed = start_worker(sender.db, wait=False,
                              OTPFLOW_TEST_CRASH_POINT=point,
                              OTPFLOW_WORKER_BATCH_SIZE=batch, **ws)
        assert doomed.proc.wait(120) == -signal.SIGKILL, doomed.output()
        assert "test crash point reached" in doomed.output()
        crashes[point] = reconcile.db_counts(sender.db)["outbox"]
    assert crashes["after-publish"] > 0, "nothing published before the crash"
    assert crashes["after-commit"] > 0, "nothing committed before the crash"

    rng = random.Random(2)
    kills, recovery = 2, []
    while True:
        before = processed(sender.db)
        restarted = time.monotonic()
        worker = start_worker(sender.db, wait=False, **ws)

        def progress():
            assert worker.proc.poll() is None, worker.output()
            return processed(sender.db) > before or load.finished() and \
                reconcile.idle(stack.bootstrap, topics, sender.db)
        wait_for(progress, 120, "progress after a restart", interval=0.1)
        recovery.append(time.monotonic() - restarted)
        time.sleep(rng.uniform(2, 4))  # the fault's pacing
        if load.finished():
            break  # this worker drains the rest
        worker.proc.kill()
        worker.proc.wait(10)
        kills += 1
    load.join()
    assert load.answers() == {200: len(phones)}
    drain, idle_at, snap, f = settle(stack, topics, sender, load,
                                     fake_provider, otpflowctl, seal_keys)
    total = idle_at - t0

    assert f["users_created"] == len(distinct)
    assert f["sms_sent"] == len(distinct) and f["dead_lettered"] == 0
    assert f["duplicate_sms"] == 0
    # Every row the after-publish crash left was published, then again.
    assert f["republished_copies"] >= crashes["after-publish"]
    assert kills >= 2 + 3, "the load ended before the worker was killed"
    leaks = assert_no_leaks(snap, tmp_path, f["codes"], phones)
    assert_no_sanitizer_reports(tmp_path)
    results_md.record(
        "R2", f"{len(distinct)} sign-ups and {len(phones) - len(distinct)} "
        f"repeats arriving over {R2_SECONDS:.0f} s while the worker is "
        "killed with SIGKILL (both crash points once, then every 2-4 s of "
        "progress) and restarted at once",
        "test_r2_worker_killed_repeatedly",
        accepted=f["accepted"], users_created=f["users_created"],
        already_registered=f["already_registered"],
        kills=kills, of_which_at_a_crash_point=len(crashes),
        restarts=kills, crash_points_hit=", ".join(crashes),
        outbox_rows_left_by_the_after_publish_crash=crashes["after-publish"],
        outbox_rows_left_by_the_after_commit_crash=crashes["after-commit"],
        republished_copies=f["republished_copies"],
        duplicate_users=f["duplicate_users"], lost=f["lost"],
        otp_ids_per_user="exactly 1", sms_sent=f["sms_sent"],
        duplicate_sms=f["duplicate_sms"],
        recovery_s_restart_to_progress_median=statistics.median(recovery),
        recovery_s_max=max(recovery),
        kafka_session_timeout_ms=6000, load_seconds=load.seconds,
        seconds_to_drain_after_the_load=drain, seconds_total=total,
        **leak_figures(leaks, f["codes"]))


def test_r6_provider_failing_half_then_replay(stack, topics, sender,
                                              fake_provider, start_ingest,
                                              start_worker, otpflowctl,
                                              seal_keys, tmp_path):
    """R6: with half the attempts failing and 3 attempts per code, every
    code ends sent or dead-lettered with its full replay data; after the
    fault clears, replay sends every undelivered code once (a fresh one for
    the expired), and a second replay publishes nothing."""
    seed, attempts = 6, 3
    fake_provider.rules({"*": {"fail_ratio": 0.5, "seed": seed}})
    wave_a = numbers("+1418", R6_SIGNUPS)[:R6_SIGNUPS // 2]  # 20 s codes
    wave_b = numbers("+1418", R6_SIGNUPS)[R6_SIGNUPS // 2:]  # 30 min codes
    doomed = {p for p in wave_a + wave_b
              if all(fails(seed, p, n, 0.5) for n in range(attempts))}
    url = start_ingest()
    sender.start(OTPFLOW_SMS_MAX_ATTEMPTS=attempts)
    t0 = time.monotonic()
    # The replay's REISSUE is dropped within the cooldown of the last code:
    # 10 s, shorter than the codes' life.
    worker = start_worker(sender.db, OTPFLOW_OTP_TTL="20s",
                          OTPFLOW_OTP_COOLDOWN="10s", **WORKER)
    load_a = Load(url, wave_a).join()
    wait_for(lambda: processed(sender.db) == len(wave_a), 120, "wave A")
    assert worker.stop() == 0
    start_worker(sender.db, OTPFLOW_OTP_TTL="30m", OTPFLOW_OTP_COOLDOWN="10s",
                 **WORKER)
    load_b = Load(url, wave_b).join()
    accepted = load_a.accepted() + load_b.accepted()
    assert len(accepted) == R6_SIGNUPS
    reconcile.wait_idle(stack.bootstrap, topics, sender.db, 300)
    fault_s = time.monotonic() - t0

    # 1. Under the fault: every code sent or dead-lettered, in full.
    snap = reconcile.Snapshot(stack.bootstrap, topics)
    before = reconcile.reconcile(snap, sender.db, accepted,
                                 fake_provider.messages(), otpflowctl, topics,
                                 seal_secret=seal_keys["secret"])
    events = {otp["otp_id"]: (msg, otp) for msg, otp in
              snap.pairs("OTPFLOW_TOPIC_SMS_OTP")}
    dead = snap.pairs("OTPFLOW_TOPIC_DEAD_LETTER")
    dead_phones = collections.defaultdict(set)
    for msg, dl in dead:
        otp = dl["otp"]
        _, original = events[otp["otp_id"]]
        assert otp == original, "a dead letter without the full OtpIssued"
        assert msg.key().decode() == otp["phone_number"]
        assert dl["provider"] == "twilio" and dl["error_message"]
        assert dl["original_topic"] in (topics["OTPFLOW_TOPIC_SMS_OTP"],
                                        topics["OTPFLOW_TOPIC_SMS_OTP_RETRY"])
        assert dl["original_partition"] >= 0 and dl["original_offset"] >= 0
        assert dl["first_attempt_at"] <= dl["last_attempt_at"]
        h = headers_of(msg)
        for name in ("request-id", "traceparent", "kafka_dlt-original-topic",
                     "kafka_dlt-original-partition",
                     "kafka_dlt-original-offset",
                     "kafka_dlt-exception-message"):
            assert name in h, name
        assert h["request-id"].decode() == otp["request_id"]
        # A code may expire during its retries (wave A's live 20 s).
        if dl["reason"] == "EXPIRED":
            assert otp["phone_number"] in wave_a
        else:
            assert dl["reason"] == "RETRIES_EXHAUSTED"
            assert dl["attempts"] == attempts and dl["http_status"] == 500
        dead_phones[dl["reason"]].add(otp["phone_number"])
    # Exactly the numbers whose 3 attempts all fail exhaust their retries.
    assert dead_phones["RETRIES_EXHAUSTED"] == \
        doomed - dead_phones["EXPIRED"]
    assert before["dead_lettered"] == len(dead) > 0
    assert before["sms_sent"] == R6_SIGNUPS - len(dead)
    dead_a = {dl["otp"]["otp_id"]: dl for _, dl in dead
              if dl["otp"]["phone_number"] in wave_a}
    dead_b = {dl["otp"]["otp_id"]: dl for _, dl in dead
              if dl["otp"]["phone_number"] in wave_b}
    assert dead_a and dead_b
    # Wave A's codes really expire before the replay.
    last_expiry = max(dl["otp"]["expires_at"] for dl in dead_a.values())
    wait_for(lambda: time.time() > last_expiry.timestamp() + 1, 60,
             "wave A's codes to expire")

    # 2. The fault clears; replay.
    fake_provider.rules({})
    env = {**topics, "OTPFLOW_DATABASE_URL": sender.db}
    t_replay = time.monotonic()
    first = otpflowctl("replay", env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    assert f"{len(dead_b)} resent, {len(dead_a)} reissued, 0 already sent" \
        in first.stdout, first.stdout
    wait_for(lambda: len(fake_provider.messages()) == R6_SIGNUPS, 300,
             "every replayed code sent")
    reconcile.wait_idle(stack.bootstrap, topics, sender.db, 300)
    replay_s = time.monotonic() - t_replay
    sms = fake_provider.messages()
    per_phone = collections.Counter(m["to"] for m in sms)
    assert set(per_phone) == set(wave_a + wave_b)
    assert set(per_phone.values()) == {1}, "a number got two SMS"
    code_of = {m["to"]: reconcile.sms_code(m["body"]) for m in sms}
    for dl in dead_b.values():  # still valid: the same code, once
        otp = dl["otp"]
        assert code_of[otp["phone_number"]] == \
            open_code(seal_keys["secret"], otp["otp_sealed"])
    for dl in dead_a.values():  # expired: a fresh code that verifies
        phone = dl["otp"]["phone_number"]
        stale = open_code(seal_keys["secret"], dl["otp"]["otp_sealed"])
        assert code_of[phone] != stale
        assert nhost_verify(sender.db, phone, code_of[phone], spend=False), \
            phone
    snap = reconcile.Snapshot(stack.bootstrap, topics)
    after = reconcile.reconcile(snap, sender.db, accepted, sms, otpflowctl,
                                topics, seal_secret=seal_keys["secret"],
                                replayed=True)
    assert after["reissued"] == len(dead_a)
    assert after["replayed_resends"] == len(dead_b)
    assert after["dead_lettered"] == len(dead_a)  # the stale codes only
    assert after["sms_sent"] == R6_SIGNUPS  # one code per number, sent
    assert after["otp_ids"] == R6_SIGNUPS + len(dead_a)
    assert after["duplicate_sms"] == 0

    # 3. A second replay publishes nothing, so nothing can be sent twice.
    counts = {v: reconcile.topic_records(stack.bootstrap, topics[v]) for v in
              ("OTPFLOW_TOPIC_SMS_OTP", "OTPFLOW_TOPIC_SIGNUP_REQUESTS")}
    again = otpflowctl("replay", env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"0 resent, 0 reissued, {len(dead_b)} already sent, " \
        f"{len(dead_a)} already reissued" in again.stdout, again.stdout
    for v, n in counts.items():
        assert reconcile.topic_records(stack.bootstrap, topics[v]) == n
    reconcile.wait_balanced(otpflowctl, topics, sender.db)
    assert len(fake_provider.messages()) == R6_SIGNUPS

    leaks = assert_no_leaks(snap, tmp_path, after["codes"], wave_a + wave_b,
                            {"otpflowctl replay (first)": first.stdout,
                             "otpflowctl replay (second)": again.stdout})
    assert_no_sanitizer_reports(tmp_path)
    results_md.record(
        "R6", f"{R6_SIGNUPS} sign-ups while the provider answers 500 to half "
        f"the attempts ({attempts} attempts per code), then the fault clears "
        "and otpflowctl replay runs twice",
        "test_r6_provider_failing_half_then_replay",
        accepted=before["accepted"], users_created=before["users_created"],
        sent_under_the_fault=before["sms_sent"],
        dead_lettered_under_the_fault=before["dead_lettered"],
        dead_letters_retries_exhausted=len(dead_phones["RETRIES_EXHAUSTED"]),
        dead_letters_expired=len(dead_phones["EXPIRED"]),
        ended_sent_or_dead_lettered="100 %",
        dead_letters_with_full_replay_data=len(dead),
        replay_resent_still_valid=len(dead_b),
        replay_reissued_expired=len(dead_a),
        sms_after_replay=len(sms), numbers_with_two_sms=0,
        duplicate_sms=after["duplicate_sms"],
        second_replay_published=0, seconds_under_the_fault=fault_s,
        seconds_replay_to_delivered=replay_s,
        **leak_figures(leaks, after["codes"]))
