"""C1 and C2 (compatibility with real clients), against one shared stack:
ingest (several, one per configuration an error needs), worker and sender
with the fake SMS provider, real Postgres and Kafka.

- C1: Nhost's JavaScript SDK (@nhost/nhost-js, pinned in
  tests/system/node/package-lock.json, installed by scripts/node-deps.sh)
  signs up and signs in with every option; the SMS, the rows and Nhost's
  verification statement are checked here, and the SDK's error object
  (status, error, message) for every error code both routes can return.
- C2: a page on another origin calls both routes with fetch in headless
  Chromium (Debian's /usr/bin/chromium, driven by playwright-core): 200
  "OK", a readable JSON error, and the preflight answered and cached.
"""

import functools
import http.server
import json
import re
import subprocess
import threading
import uuid

import psycopg2
import pytest
import requests

from conftest import FakeProvider, SenderHarness
from otpflow_test import (BUILD, REPO, Daemon, free_port, nhost_verify,
                          query, sanitizer_reports, wait_for)

NODE = REPO / "tests" / "system" / "node"
PREFIX = "/v1"


class CompatStack:
    """The daemons of this module, started once."""

    def __init__(self, stack, seal_keys, tmp):
        self.stack, self.tmp, self.daemons = stack, tmp, []
        suffix = uuid.uuid4().hex[:8]
        self.topics = {
            "OTPFLOW_TOPIC_SIGNUP_REQUESTS": f"signup-requests-{suffix}",
            "OTPFLOW_TOPIC_SMS_OTP": f"sms-otp-{suffix}",
            "OTPFLOW_TOPIC_SMS_OTP_RETRY": f"sms-otp-retry-{suffix}",
            "OTPFLOW_TOPIC_SMS_SENT": f"sms-sent-{suffix}",
            "OTPFLOW_TOPIC_DEAD_LETTER": f"cannot-send-sms-{suffix}",
        }
        self.dbname = "compat_" + suffix
        self.admin = psycopg2.connect(stack.database_url)
        self.admin.autocommit = True
        with self.admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {self.dbname}")
        self.db = stack.database_url.rsplit("/", 1)[0] + "/" + self.dbname
        proc = self.ctl("migrate")
        assert proc.returncode == 0, proc.stderr
        self.provider = FakeProvider(tmp)
        self.sender = SenderHarness(stack, self.topics, self.db, seal_keys,
                                    self.provider, tmp, self.ctl)
        self.daemons.append(self.sender.start())
        self.worker = self.start(
            "otpflow-worker", OTPFLOW_SEAL_PUBLIC_KEY=seal_keys["public"],
            OTPFLOW_ADMIN_LISTEN=f"127.0.0.1:{free_port()}",
            OTPFLOW_OTP_COOLDOWN="0s")
        wait_for(lambda: self.worker.proc.poll() is not None
                 or '"consuming"' in self.worker.output(), 60, "worker")
        assert self.worker.proc.poll() is None, self.worker.output()
        common = dict(AUTH_API_PREFIX=PREFIX,
                      AUTH_SMS_PASSWORDLESS_ENABLED="true",
                      AUTH_CLIENT_URL="https://my-app.com",
                      AUTH_ACCESS_CONTROL_ALLOWED_REDIRECT_URLS=
                      "https://*.my-app.com",
                      AUTH_LOCALE_ALLOWED_LOCALES="en,fr",
                      AUTH_USER_DEFAULT_ALLOWED_ROLES="me,user")
        self.api = self.ingest(**common)
        self.disabled = self.ingest(
            **{**common, "AUTH_SMS_PASSWORDLESS_ENABLED": "false"})
        self.nosignup = self.ingest(**common, AUTH_DISABLE_SIGNUP="true")
        self.limited = self.ingest(**common, AUTH_RATE_LIMIT_ENABLE="true",
                                   AUTH_RATE_LIMIT_SMS_BURST=0)
        self.down = self.ingest(
            **common, OTPFLOW_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1",
            OTPFLOW_ACCEPT_TIMEOUT_MS=1000)

    def ctl(self, *args, env=None, timeout=120):
        settings = {**self.topics, "OTPFLOW_DATABASE_URL": self.db,
                    **(env or {})}
        return subprocess.run([str(BUILD / "otpflowctl"), *args],
                              env=self.stack.env(**settings),
                              capture_output=True, text=True, timeout=timeout)

    def start(self, exe, **settings):
        env = self.stack.env(**self.topics, OTPFLOW_DATABASE_URL=self.db)
        env.update({k: str(v) for k, v in settings.items()})
        daemon = Daemon(exe, env, self.tmp / f"{exe}-{len(self.daemons)}.log")
        self.daemons.append(daemon)
        return daemon

    def ingest(self, **settings):
        """Starts an ingest; returns its base URL with the prefix."""
        port = free_port()
        daemon = self.start("otpflow-ingest",
                            OTPFLOW_LISTEN=f"127.0.0.1:{port}", **settings)
        url = f"http://127.0.0.1:{port}"

        daemon.wait_healthy(url)
        return url + PREFIX

    def sms_to(self, number, count):
        """The SMS the provider accepted for number, once count arrived."""
        def arrived():
            mine = [m for m in self.provider.messages() if m["to"] == number]
            return len(mine) >= count and mine
        return wait_for(arrived, 60, f"{count} SMS to {number}",
                        interval=0.2)

    def close(self):
        statuses = {d.exe + str(i): d.stop()
                    for i, d in enumerate(self.daemons)}
        reports = {d.exe: sanitizer_reports(d.output()) for d in self.daemons}
        self.provider.stop()
        with self.admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {self.dbname} WITH (FORCE)")
        self.admin.close()
        assert all(s == 0 for s in statuses.values()), statuses
        assert not any(reports.values()), reports


@pytest.fixture(scope="module")
def compat(stack, seal_keys, tmp_path_factory):
    shared = CompatStack(stack, seal_keys, tmp_path_factory.mktemp("compat"))
    yield shared
    shared.close()


@pytest.fixture(scope="module")
def node_modules():
    """The npm packages (scripts/node-deps.sh installs them once)."""
    out = subprocess.run([str(REPO / "scripts" / "node-deps.sh")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def node(node_modules, script, *args, timeout=300):
    proc = subprocess.run(["node", str(NODE / script), *map(str, args)],
                          env={"PATH": "/usr/bin:/bin",
                               "NODE_PATH": node_modules,
                               "HOME": str(REPO / ".state")},
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def code_of(sms):
    return re.search(r"[0-9]{6}", sms["body"]).group(0)


def test_c1_nhost_sdk(compat, node_modules, tmp_path):
    typed, unknown = "+1 (415) 555-0801", "+14155550802"
    every_option = {"allowedRoles": ["me", "user"], "defaultRole": "me",
                    "displayName": "Zoë", "locale": "fr",
                    "metadata": {"firstName": "Zoë", "n": 1},
                    "redirectTo": "https://app.my-app.com/catch"}
    calls = [
        {"name": "health", "authUrl": compat.api,
         "method": "healthCheckGet"},
        {"name": "version", "authUrl": compat.api, "method": "getVersion"},
        {"name": "signup", "authUrl": compat.api,
         "method": "signUpPasswordlessSms",
         "body": {"phoneNumber": typed, "options": every_option}},
        {"name": "signin-unknown", "authUrl": compat.api,
         "method": "signInPasswordlessSms",
         "body": {"phoneNumber": unknown, "options": every_option}},
    ]
    # Every error code of both routes, as the SDK surfaces it.
    good = {"phoneNumber": "+14155550899"}
    errors = {
        "bad-phone": (compat.api, {"phoneNumber": "nope"}, None, 400,
                      "invalid-request"),
        "redirect": (compat.api, {**good, "options": {
            "redirectTo": "https://evil.com"}}, None, 400,
            "redirectTo-not-allowed"),
        "role": (compat.api, {**good, "options": {
            "allowedRoles": ["admin"]}}, None, 400, "role-not-allowed"),
        "default-role": (compat.api, {**good, "options": {
            "allowedRoles": ["me"], "defaultRole": "user"}}, None, 400,
            "default-role-must-be-in-allowed-roles"),
        "too-large": (compat.api, {**good, "options": {
            "metadata": {"x": "a" * 20000}}}, None, 413, "invalid-request"),
        "content-type": (compat.api, good, {"Content-Type": "text/plain"},
                         415, "invalid-request"),
        "headers-too-large": (compat.api, good, {"X-Big": "b" * 40000}, 431,
                              "invalid-request"),
        "disabled": (compat.disabled, good, None, 409, "disabled-endpoint"),
        "rate-limited": (compat.limited, good, None, 429, "invalid-request"),
        "kafka-down": (compat.down, good, None, 503,
                       "internal-server-error"),
    }
    for method in ("signUpPasswordlessSms", "signInPasswordlessSms"):
        for name, (url, body, headers, _, _) in errors.items():
            calls.append({"name": f"{method}:{name}", "authUrl": url,
                          "method": method, "body": body,
                          **({"headers": headers} if headers else {})})
    calls.append({"name": "signup-disabled", "authUrl": compat.nosignup,
                  "method": "signUpPasswordlessSms", "body": good})
    calls_file = tmp_path / "calls.json"
    calls_file.write_text(json.dumps(calls))
    results = {r["name"]: r for r in node(node_modules, "sdk_calls.cjs",
                                           calls_file)}

    assert results["health"]["ok"] and results["health"]["status"] == 200
    assert results["version"]["ok"] and results["version"]["body"]["version"]
    for name in ("signup", "signin-unknown"):
        assert results[name] == {"name": name, "ok": True, "status": 200,
                                 "body": "OK"}, results[name]
    expected = {f"{m}:{n}": (status, error)
                for m in ("signUpPasswordlessSms", "signInPasswordlessSms")
                for n, (_, _, _, status, error) in errors.items()}
    expected["signup-disabled"] = (403, "signup-disabled")
    for name, (status, error) in expected.items():
        r = results[name]
        assert r["ok"] is False and r["error"] == "FetchError", r
        assert (r["status"], r["body"]["status"], r["body"]["error"]) == \
            (status, status, error), r
        assert r["message"] == r["body"]["message"] and r["message"], r

    # The rows, as Nhost writes them, under the number as typed.
    [(user_id, name, locale, role, metadata, roles)] = wait_for(
        lambda: query(
            compat.db, "SELECT u.id::text, display_name, locale, "
            "default_role, metadata, array_agg(r.role ORDER BY r.role) "
            "FROM auth.users u JOIN auth.user_roles r ON r.user_id = u.id "
            "WHERE phone_number = %s GROUP BY 1, 2, 3, 4, 5", typed),
        60, "the user row")
    assert (name, locale, role, metadata, roles) == \
        ("Zoë", "fr", "me", {"firstName": "Zoë", "n": 1}, ["me", "user"])
    # The SMS went to the E.164 form, in the user's locale.
    [first] = compat.sms_to("+14155550801", 1)
    assert first["body"].startswith("Votre code est ")
    [other] = compat.sms_to(unknown, 1)
    assert nhost_verify(compat.db, unknown, code_of(other)) is not None

    # Signing in again: a new code, which Nhost's verification statement
    # accepts with the typed number, and the old one no longer.
    signin = [{"name": "signin", "authUrl": compat.api,
               "method": "signInPasswordlessSms",
               "body": {"phoneNumber": typed, "options": every_option}}]
    calls_file.write_text(json.dumps(signin))
    [again] = node(node_modules, "sdk_calls.cjs", calls_file)
    assert again["ok"] and again["body"] == "OK", again
    sms = compat.sms_to("+14155550801", 2)
    old, new = code_of(sms[0]), code_of(sms[1])
    if old != new:
        assert nhost_verify(compat.db, typed, old) is None
    assert nhost_verify(compat.db, typed, new) == user_id


class _Page(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_c2_browser_on_another_origin(compat, node_modules, tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text(
        "<!doctype html><title>an app on another origin</title>")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0),
        functools.partial(_Page, directory=str(tmp_path / "site")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page = f"http://localhost:{server.server_address[1]}/"

    def preflights():
        text = requests.get(compat.api + "/metrics", timeout=10).text
        m = re.search(r'otpflow_ingest_http_responses_total\{code="204"\} '
                      r'(\d+)', text)
        return int(m.group(1)) if m else 0

    before = preflights()
    try:
        out = node(node_modules, "browser.cjs", page, compat.api,
                   tmp_path / "profile")
    finally:
        server.shutdown()
        server.server_close()
    assert out["origin"] != compat.api.rsplit("/", 1)[0]
    ok, signin, bad, again = out["calls"]
    assert ok == {"status": 200, "body": "OK"}, ok
    assert signin == {"status": 200, "body": "OK"}, signin
    assert again == {"status": 200, "body": "OK"}, again
    assert bad["status"] == 400 and bad["body"]["error"] == "invalid-request"
    assert "phoneNumber" in bad["body"]["message"]
    # One preflight per route, then the browser's cache (max age 86400):
    # the second and third sign-in sent none.
    assert [s["method"] for s in out["sent"]] == ["POST"] * 4
    assert preflights() - before == 2
    # The requests went through: SMS to the E.164 forms.
    compat.sms_to("+14155550901", 1)
    [fr] = compat.sms_to("+14155550902", 1)
    assert fr["body"].startswith("Votre code est ")
