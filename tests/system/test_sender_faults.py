"""otpflow-sender under the faults production has (docs/api.md §4, failure
policy and duplicates): a schema registry that answers 503, hostile provider
answers, Postgres lost while SMS are at the provider, a rebalance with SMS
in flight, retries that must not hold fresh codes back, a dead letter for a
record of almost the topic's size, a sealed code moved onto another record,
and the ledger's pruning. Each test fails on the code before these fixes
(named in the commit that added it) and records its figures through
results.py.
"""

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import results as results_md
from otpflow_test import REPO, wait_for
from sender_fixtures import (  # noqa: F401  (fixtures)
    encode_otp, fake_provider, make_otp, produce, sender, sender_db)
from test_sender import metric, new_phone


# --- schema registry answering 503 -------------------------------------------

class FakeRegistry:
    """A tiny Confluent-compatible schema registry on loopback: registering
    answers each schema's own otpflow.schema_id; GET /schemas/ids/N answers
    503 while `failing`, then the schema of `foreign` (id -> text)."""

    def __init__(self):
        self.failing = True
        self.foreign = {}
        self.gets = 0
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, doc):
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                schema = json.loads(json.loads(self.rfile.read(n))["schema"])
                self.reply(200, {"id": schema["otpflow.schema_id"]})

            def do_GET(self):
                registry.gets += 1
                wanted = int(self.path.rsplit("/", 1)[-1])
                if registry.failing:
                    return self.reply(503, {"error_code": 50301,
                                            "message": "unavailable"})
                if wanted not in registry.foreign:
                    return self.reply(404, {"error_code": 40403,
                                            "message": "not found"})
                self.reply(200, {"schema": registry.foreign[wanted]})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_registry_503_record_waits_then_is_sent(sender, fake_provider):
    """A record of a writer schema the sender has not fetched yet, while
    the registry answers 503: it waits (not ready, a gauge says why) and
    is sent once the registry answers; never dead-lettered. Before: it was
    dead-lettered UNDECODABLE at once (TARGETS R15, sender side)."""
    registry = FakeRegistry()
    foreign_id = 99
    otp_schema = (REPO / "schemas" / "OtpIssued.avsc").read_text()
    registry.foreign[foreign_id] = otp_schema
    try:
        sender.start(OTPFLOW_SCHEMA_REGISTRY_URL=registry.url)
        phone = new_phone()
        record = make_otp(sender.public_key, phone)
        value = encode_otp(record)
        value = value[:1] + foreign_id.to_bytes(4, "big") + value[5:]
        produce(sender.stack.bootstrap, sender.topics["OTPFLOW_TOPIC_SMS_OTP"],
                phone, value, [("request-id", record["request_id"].encode())])
        wait_for(lambda: registry.gets >= 3, 30,
                 "the sender asking the registry again")
        assert sender.ready() == 503
        assert metric(sender.metrics(),
                      "otpflow_sender_waiting_for_schema") == 1
        assert not sender.dead() and not fake_provider.messages()
        asked_while_failing = registry.gets
        registry.failing = False
        [(_, sent)] = sender.wait_sent(1)
        assert sent["otp_id"] == record["otp_id"]
        assert len(fake_provider.messages()) == 1
        assert not sender.dead()
        wait_for(lambda: sender.ready() == 200, 20, "/readyz 200")
        assert metric(sender.metrics(),
                      "otpflow_sender_waiting_for_schema") == 0
    finally:
        registry.stop()
    results_md.record(
        "R15-sender", "schema registry answering 503 for a record of an "
        "unknown writer schema", "test_registry_503_record_waits_then_is_"
        "sent", registry_calls_while_failing=asked_while_failing,
        dead_lettered=0, sent_after_recovery=1)
