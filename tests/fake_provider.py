#!/usr/bin/python3
"""A fake SMS provider for tests and benchmarks, speaking Twilio's Messages
API on loopback (standard library only).

    fake_provider.py [--port N] [--log FILE] [--rules FILE]
                     [--account SID --token TOKEN]

Prints "listening on 127.0.0.1:PORT" once ready (port 0 = any free port).

POST /2010-04-01/Accounts/{sid}/Messages.json (form To, From or
MessagingServiceSid, Body; HTTP Basic auth) answers as the rules for the
destination number say; every accepted SMS is appended to --log as one JSON
line {"to", "body", "from", "messaging_service_sid", "sid", "account",
"received_at"}. POST /rest/sms/v2/messages (Modica: JSON destination,
content; 202) and POST /webhook (JSON to, body; 200) use the same rules and
log.

Rules: a JSON object mapping a number (or "*" for every other number) to a
behaviour or a list of behaviours, one per attempt (the last one repeats):
  {"status": 201}                             accepted (the default)
  {"status": 400, "code": 21211}              Twilio error body with code
  {"status": 401}                             (code 20003)
  {"status": 429, "retry_after": "2"}         with a Retry-After header
  {"status": 500} / {"status": 503}
  {"delay": 0.5, ...}                         answer after 0.5 s
  {"hang": true}                              never answer (until the
                                              client gives up)
  {"sid": "..."}                              a 2xx answer's message id
  {"status": 400, "code": "x", "message": ".."} any code or message text
  {"pad": 1048576, ...}                        the JSON answer grows by a
                                              "padding" member of that many
                                              bytes (1 MiB bodies)
  {"raw_b64": "..."}                          the body as given, bytes
                                              (base64; invalid UTF-8, say)
  {"fail_ratio": 0.5, "seed": 7, ...}         that fraction of attempts
                                              answers {"status": 500} (or
                                              "fail_status"), the others as
                                              the rest of the rule says; which
                                              attempts fail depends only on
                                              (seed, number, attempt number),
                                              see fails(), so a run is
                                              reproducible whatever the order
                                              of the requests
Rules come from --rules and can be replaced at run time with
POST /_control/rules (JSON body). GET /_control/attempts gives attempts per
number, GET /_control/messages the accepted SMS, POST /_control/reset clears
both.
"""

import argparse
import base64
import hashlib
import json
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TWILIO_MESSAGES = {
    21211: "The 'To' number is not a valid phone number.",
    21610: "Attempt to send to unsubscribed recipient",
    20003: "Authenticate",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
}


def fails(seed, number, attempt, ratio):
    """Whether attempt (0 = the first) to number fails under a fail_ratio
    rule: a hash of (seed, number, attempt) compared with ratio."""
    digest = hashlib.sha256(f"{seed}:{number}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < ratio * 2 ** 64


class State:
    def __init__(self, rules, log_path, account, token):
        self.lock = threading.Lock()
        self.rules = rules
        self.attempts = {}
        self.messages = []
        self.log_path = log_path
        self.account = account
        self.token = token
        self.stop = threading.Event()

    def behaviour(self, number):
        with self.lock:
            n = self.attempts.get(number, 0)
            self.attempts[number] = n + 1
            rule = self.rules.get(number, self.rules.get("*", {"status": 201}))
        if isinstance(rule, list):
            rule = rule[min(n, len(rule) - 1)] if rule else {"status": 201}
        if rule.get("fail_ratio") is not None:
            ratio = float(rule["fail_ratio"])
            if fails(rule.get("seed", 0), number, n, ratio):
                return {"status": int(rule.get("fail_status", 500))}
            rule = {k: v for k, v in rule.items()
                    if k not in ("fail_ratio", "seed", "fail_status")}
        return rule

    def accept(self, record):
        line = json.dumps(record, sort_keys=True)
        with self.lock:
            self.messages.append(record)
            if self.log_path:
                with open(self.log_path, "a") as f:
                    f.write(line + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-provider/1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def reply(self, status, body=None, headers=(), rule=None):
        rule = rule or {}
        if body is not None and rule.get("pad"):
            body = dict(body, padding="x" * int(rule["pad"]))
        data = b"" if body is None else json.dumps(body).encode()
        if rule.get("raw_b64") is not None:
            data = base64.b64decode(rule["raw_b64"])
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        st = self.server.state
        if self.path == "/_control/attempts":
            with st.lock:
                return self.reply(200, dict(st.attempts))
        if self.path == "/_control/messages":
            with st.lock:
                return self.reply(200, list(st.messages))
        return self.reply(404, {"message": "not found"})

    def do_POST(self):
        st = self.server.state
        raw = self.body()
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_control/rules":
            with st.lock:
                st.rules = json.loads(raw or b"{}")
            return self.reply(200, {"ok": True})
        if path == "/_control/reset":
            with st.lock:
                st.attempts.clear()
                st.messages.clear()
            return self.reply(200, {"ok": True})
        kind = None
        if path.startswith("/2010-04-01/Accounts/") and \
                path.endswith("/Messages.json"):
            kind = "twilio"
            account = path.split("/")[3]
            form = urllib.parse.parse_qs(raw.decode(), keep_blank_values=True)
            to = form.get("To", [""])[0]
            body = form.get("Body", [""])[0]
            record = {"to": to, "body": body, "account": account,
                      "from": form.get("From", [None])[0],
                      "messaging_service_sid":
                          form.get("MessagingServiceSid", [None])[0]}
        elif path == "/rest/sms/v2/messages":
            kind = "modica"
            doc = json.loads(raw or b"{}")
            to, body = doc.get("destination", ""), doc.get("content", "")
            record = {"to": to, "body": body}
        elif path == "/webhook":
            kind = "webhook"
            doc = json.loads(raw or b"{}")
            to, body = doc.get("to", ""), doc.get("body", "")
            record = {"to": to, "body": body}
        else:
            return self.reply(404, {"message": "not found"})

        if st.account is not None and not self.authorised(st):
            return self.reply(401, {"code": 20003, "status": 401,
                                    "message": TWILIO_MESSAGES[20003]})
        rule = st.behaviour(to)
        if rule.get("hang"):
            # Never answer; the client's timeout ends the request.
            while not st.stop.wait(0.5):
                pass
            return
        if rule.get("delay"):
            time.sleep(float(rule["delay"]))
        status = int(rule.get("status", 201 if kind == "twilio" else
                              202 if kind == "modica" else 200))
        headers = []
        if rule.get("retry_after") is not None:
            headers.append(("Retry-After", str(rule["retry_after"])))
        if 200 <= status < 300:
            sid = rule.get("sid", "SM" + uuid.uuid4().hex)
            record.update(sid=sid, received_at=time.time())
            st.accept(record)
            if kind == "twilio":
                return self.reply(status, {"sid": sid, "status": "queued",
                                           "to": to}, headers, rule)
            if kind == "modica":
                return self.reply(status, [{"id": sid}], headers, rule)
            return self.reply(status, {"id": sid}, headers, rule)
        code = rule.get("code", 20003 if status == 401 else None)
        err = {"status": status,
               "message": rule.get("message",
                                   TWILIO_MESSAGES.get(code, "error"))}
        if code is not None:
            err["code"] = code
        return self.reply(status, err, headers, rule)

    def authorised(self, st):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return False
        try:
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == st.account and pw == st.token


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        # A client that gave up (timeout, wrk stopping) is not an error.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", help="file that gets one JSON line per SMS")
    ap.add_argument("--rules", help="JSON rules file")
    ap.add_argument("--account", help="expected account SID (Basic user)")
    ap.add_argument("--token", help="expected auth token (Basic password)")
    args = ap.parse_args()
    rules = {}
    if args.rules:
        with open(args.rules) as f:
            rules = json.load(f)
    server = Server(("127.0.0.1", args.port), Handler)
    server.state = State(rules, args.log, args.account, args.token)
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.state.stop.set()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
