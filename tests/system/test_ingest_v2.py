"""Ingest's v2 contract against the real broker (docs/api.md §1): the
sign-in twin route, Nhost's check order, phone numbers kept as sent, CORS
on every answer, libmicrohttpd's own errors as JSON, probes under the
prefix, a busy listen address, and the client IP behind proxies."""

import json
import socket
import subprocess

import requests

from otpflow_test import Daemon, avro_decode, read_topic, wait_for

SIGNUP = "/signup/passwordless/sms"
SIGNIN = "/signin/passwordless/sms"
JSON = {"Content-Type": "application/json"}
ORIGIN = "https://app.example.org"


def post(url, route, body, headers=JSON, **kw):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(url + route, data=data, headers=headers, timeout=30,
                         **kw)


def assert_error(resp, status, error):
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    body = resp.json()
    assert set(body) == {"status", "message", "error"}, body
    assert (body["status"], body["error"]) == (status, error)
    return body


def assert_cors(resp, origin=ORIGIN):
    assert resp.headers.get("Access-Control-Allow-Origin") == origin, \
        dict(resp.headers)
    assert resp.headers.get("Access-Control-Allow-Credentials") == "true"
    assert "Origin" in resp.headers.get("Vary", "")


def published(stack, topics):
    return [avro_decode(m.value())[1] | {"key": m.key().decode()}
            for m in read_topic(stack.bootstrap,
                                topics["OTPFLOW_TOPIC_SIGNUP_REQUESTS"])]


def test_signin_route_is_published_as_signin(stack, topics, start_ingest):
    url = start_ingest(AUTH_API_PREFIX="/v1")
    resp = post(url, "/v1" + SIGNIN, {"phoneNumber": "+1 (415) 555-2671",
                                      "options": {"locale": "en"}})
    assert resp.status_code == 200 and resp.text == '"OK"', resp.text
    assert post(url, "/v1" + SIGNUP, {"phoneNumber": "+14155552672"}).ok
    # Only under the prefix.
    assert_error(post(url, SIGNIN, {"phoneNumber": "+14155552673"}), 404,
                 "invalid-request")
    recs = {r["kind"]: r for r in published(stack, topics)}
    assert set(recs) == {"SIGNIN", "SIGNUP"}
    signin = recs["SIGNIN"]
    assert signin["key"] == "+14155552671"
    assert signin["phone_number"] == "+1 (415) 555-2671"
    assert signin["phone_e164"] == "+14155552671"
    assert signin["display_name"] == "+1 (415) 555-2671"


def test_check_order_is_nhosts(stack, topics, start_ingest):
    """A malformed body gets its 400 even with the endpoint disabled; the
    switches come before the phone number; signup-disabled is the signup
    route's only."""
    off = start_ingest(AUTH_SMS_PASSWORDLESS_ENABLED="false")
    for route in (SIGNUP, SIGNIN):
        assert_error(post(off, route, "{"), 400, "invalid-request")
        assert_error(post(off, route, {"phoneNumber": "+14155550123",
                                       "extra": 1}), 400, "invalid-request")
        assert_error(post(off, route, {"phoneNumber": "+14155550123",
                                       "options": {"locale": "e"}}),
                     400, "invalid-request")
        assert_error(post(off, route, {"phoneNumber": "+14155550123"}), 409,
                     "disabled-endpoint")
        assert_error(post(off, route, {"phoneNumber": "nope"}), 409,
                     "disabled-endpoint")
    nosignup = start_ingest(AUTH_DISABLE_SIGNUP="true")
    assert_error(post(nosignup, SIGNUP, "[]"), 400, "invalid-request")
    assert_error(post(nosignup, SIGNUP, {"phoneNumber": "+14155550124"}),
                 403, "signup-disabled")
    assert post(nosignup, SIGNIN, {"phoneNumber": "+14155550125"}).ok
    assert [r["kind"] for r in published(stack, topics)] == ["SIGNIN"]


def test_cors_on_every_answer(stack, topics, start_ingest):
    url = start_ingest(AUTH_RATE_LIMIT_ENABLE="true",
                       AUTH_RATE_LIMIT_SIGNUPS_BURST=1,
                       OTPFLOW_MAX_BODY_BYTES=100)
    o = {"Origin": ORIGIN}
    ok = post(url, SIGNUP, {"phoneNumber": "+14155550131"},
              headers={**JSON, **o})
    assert ok.status_code == 200 and ok.text == '"OK"'
    assert_cors(ok)
    answers = [
        (post(url, SIGNUP, {"phoneNumber": "+14155550132"},
              headers={**JSON, **o}), 429),
        (post(url, SIGNIN, "{", headers={**JSON, **o}), 400),
        (post(url, SIGNIN, "x" * 200, headers={**JSON, **o}), 413),
        (post(url, SIGNIN, "{}", headers={"Content-Type": "text/plain",
                                          **o}), 415),
        (requests.get(url + SIGNIN, headers=o, timeout=10), 405),
        (requests.get(url + "/nope", headers=o, timeout=10), 404),
    ]
    for resp, status in answers:
        assert_error(resp, status, "invalid-request")
        assert_cors(resp)
    assert int(answers[0][0].headers["Retry-After"]) >= 1
    # Without an Origin: no Access-Control-* header, Vary all the same.
    plain = requests.get(url + "/healthz", timeout=10)
    assert "Access-Control-Allow-Origin" not in plain.headers
    assert plain.headers["Vary"] == "Origin"
    assert_cors(requests.get(url + "/healthz", headers=o, timeout=10))

    down = start_ingest(OTPFLOW_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1",
                        OTPFLOW_ACCEPT_TIMEOUT_MS=1000)
    resp = post(down, SIGNIN, {"phoneNumber": "+14155550133"},
                headers={**JSON, **o})
    assert_error(resp, 503, "internal-server-error")
    assert_cors(resp)


def test_preflight_on_any_route(start_ingest):
    url = start_ingest()
    for path in (SIGNUP, SIGNIN, "/nope", "/healthz"):
        resp = requests.options(url + path, timeout=10, headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-nhost-foo"})
        assert resp.status_code == 204, resp.text
        assert resp.content == b""
        assert_cors(resp)
        assert resp.headers["Access-Control-Allow-Methods"] == "POST, GET"
        assert resp.headers["Access-Control-Allow-Headers"] == \
            "content-type,x-nhost-foo"
        assert resp.headers["Access-Control-Max-Age"] == "86400"
    # An OPTIONS that is not a preflight is an ordinary other method.
    resp = requests.options(url + SIGNUP, timeout=10)
    assert_error(resp, 405, "invalid-request")
    assert resp.headers["Allow"] == "POST"


def test_allowed_origins_narrow_cors(start_ingest):
    url = start_ingest(OTPFLOW_CORS_ALLOWED_ORIGINS="https://*.example.org")
    good = post(url, SIGNIN, "{", headers={**JSON, "Origin": ORIGIN})
    assert_cors(good)
    evil = post(url, SIGNIN, "{", headers={**JSON,
                                           "Origin": "https://evil.com"})
    assert_error(evil, 400, "invalid-request")
    assert "Access-Control-Allow-Origin" not in evil.headers
    pre = requests.options(url + SIGNIN, timeout=10, headers={
        "Origin": "https://evil.com", "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 204
    assert "Access-Control-Allow-Origin" not in pre.headers


def raw_exchange(url, data):
    """Sends raw bytes; returns (status, headers dict, body bytes)."""
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body


def test_library_errors_are_json(start_ingest):
    """What libmicrohttpd answers by itself carries the standard body."""
    url = start_ingest()
    big = requests.post(url + SIGNUP, data="{}", timeout=10, headers={
        **JSON, "X-Big": "a" * 40000})
    body = assert_error(big, 431, "invalid-request")
    assert "header" in body["message"].lower()
    cases = [
        (b"POST " + SIGNUP.encode() + b" HTTP/1.1\r\nHost: x\r\n"
         b"Not a header line\r\n\r\n", 400, "invalid-request"),
        (b"GET /" + b"a" * 40000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414,
         "invalid-request"),
        (b"GET /healthz HTTP/3.0\r\nHost: x\r\n\r\n", 505,
         "internal-server-error"),
    ]
    for raw, want, error in cases:
        status, headers, payload = raw_exchange(url, raw)
        assert status == want, payload
        assert headers["Content-Type"] == "application/json"
        assert json.loads(payload) == {"status": want, "error": error,
                                       "message": json.loads(payload)[
                                           "message"]}


def test_probes_also_under_the_prefix(start_ingest):
    url = start_ingest(AUTH_API_PREFIX="/v1")
    for prefix in ("", "/v1"):
        assert requests.get(url + prefix + "/healthz", timeout=10).text == \
            '"OK"'
        assert requests.get(url + prefix + "/readyz",
                            timeout=10).status_code in (200, 503)
        assert requests.get(url + prefix + "/version",
                            timeout=10).json()["version"]
        metrics = requests.get(url + prefix + "/metrics", timeout=10)
        assert metrics.status_code == 200
        assert "otpflow_ingest_http_responses_total" in metrics.text
    assert_error(requests.get(url + "/v1/nope", timeout=10), 404,
                 "invalid-request")


def test_busy_listen_address_exits_1(stack, topics, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        address = "127.0.0.1:%d" % busy.getsockname()[1]
        env = stack.env(**topics, OTPFLOW_LISTEN=address,
                        AUTH_SMS_PASSWORDLESS_ENABLED="true")
        daemon = Daemon("otpflow-ingest", env, tmp_path / "busy.log")
        try:
            assert daemon.proc.wait(30) == 1, daemon.output()
        except subprocess.TimeoutExpired:
            daemon.stop()
            raise AssertionError("a second listener started:\n" +
                                 daemon.output())
        log = daemon.output()
        assert address in log and "address already in use" in log, log
        daemon.stop()


def test_rotating_leftmost_hop_does_not_bypass_the_limit(stack, topics,
                                                         start_ingest):
    """Issue 14 item 7: with the client IP taken from the left-most
    X-Forwarded-For entry, rotating it got every request through."""
    url = start_ingest(OTPFLOW_TRUST_PROXY="true",
                       AUTH_RATE_LIMIT_ENABLE="true",
                       AUTH_RATE_LIMIT_SIGNUPS_BURST=3)
    codes = []
    for i in range(8):
        hop = {**JSON, "X-Forwarded-For": f"192.0.2.{i + 1}, 198.51.100.9"}
        codes.append(post(url, SIGNUP, {"phoneNumber": f"+1415555020{i}"},
                          headers=hop).status_code)
    assert codes == [200] * 3 + [429] * 5, codes
    ips = {r["client_ip"] for r in published(stack, topics)}
    assert ips == {"198.51.100.9"}
    # A proxy that is not trusted: its header is ignored.
    other = start_ingest(OTPFLOW_TRUST_PROXY="true",
                         OTPFLOW_TRUSTED_PROXIES="10.0.0.0/8")
    assert post(other, SIGNUP, {"phoneNumber": "+14155550299"},
                headers={**JSON, "X-Forwarded-For": "198.51.100.10"}).ok
    wait_for(lambda: any(r["phone_e164"] == "+14155550299"
                         for r in published(stack, topics)), 30, "record")
    assert {r["client_ip"] for r in published(stack, topics)
            if r["phone_e164"] == "+14155550299"} == {"127.0.0.1"}
