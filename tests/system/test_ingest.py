"""Ingest against the real broker: every row of docs/api.md §1.2 with its
exact status and body, nothing published for a rejected request, and a valid
request's record on signup-requests with every field defaulted as §1.2 says.
"""

import json
import socket

import requests

from otpflow_test import JSON, SIGNUP_ROUTE as ROUTE, avro_decode, read_topic


def post(url, body, headers=JSON, **kw):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(url + ROUTE, data=data, headers=headers, timeout=30,
                         **kw)


def assert_error(resp, status, error, message=None):
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    body = resp.json()
    assert set(body) == {"status", "message", "error"}
    assert body["status"] == status
    assert body["error"] == error
    if message is not None:
        assert body["message"] == message


def published(stack, topics):
    return read_topic(stack.bootstrap, topics["OTPFLOW_TOPIC_SIGNUP_REQUESTS"])


def test_valid_request_is_on_the_topic_with_defaults(stack, topics,
                                                     start_ingest):
    url = start_ingest(AUTH_LOCALE_ALLOWED_LOCALES="en,fr")
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    resp = post(url, {"phoneNumber": "+1 (415) 555-0123",
                      "options": {"locale": "xx"}},
                headers={**JSON, "traceparent": parent})
    assert resp.status_code == 200, resp.text
    assert resp.text == '"OK"'
    assert resp.headers["Content-Type"] == "application/json"

    [msg] = published(stack, topics)
    assert msg.key() == b"+14155550123"
    name, rec = avro_decode(msg.value())
    assert name == "SignupRequested"
    headers = dict(msg.headers())
    assert headers["request-id"].decode() == rec["request_id"]
    tp = headers["traceparent"].decode()
    assert tp.startswith(parent[:36]) and tp != parent
    # Stored as sent (docs/api.md §1.3); the E.164 form is the key.
    assert rec["phone_number"] == "+1 (415) 555-0123"
    assert rec["phone_e164"] == "+14155550123"
    assert rec["display_name"] == "+1 (415) 555-0123"
    assert rec["locale"] == "en"
    assert rec["default_role"] == "user"
    assert rec["allowed_roles"] == ["me", "user"]
    assert rec["metadata_json"] == "null"
    assert rec["redirect_to"] == "https://my-app.com"
    assert rec["client_ip"] == "127.0.0.1"
    assert rec["kind"] == "SIGNUP"
    assert rec["replay_of"] is None
    assert rec["received_at"].year >= 2025  # timestamp-millis -> datetime


def test_all_options_are_carried(stack, topics, start_ingest):
    url = start_ingest(AUTH_LOCALE_ALLOWED_LOCALES="en,fr",
                       AUTH_USER_DEFAULT_ALLOWED_ROLES="me,user,editor",
                       AUTH_ACCESS_CONTROL_ALLOWED_REDIRECT_URLS=
                       "https://*.my-app.com")
    resp = post(url, {"phoneNumber": "0033612345678", "options": {
        "allowedRoles": ["me", "editor"], "defaultRole": "editor",
        "displayName": "Zoë O'Brien-Smith", "locale": "fr",
        "metadata": {"firstName": "Zoë", "n": 1},
        "redirectTo": "https://app.my-app.com/catch?x=1"}},
        headers={"Content-Type": "application/json; charset=utf-8"})
    assert resp.status_code == 200, resp.text
    [msg] = published(stack, topics)
    _, rec = avro_decode(msg.value())
    assert rec["phone_number"] == "0033612345678"
    assert rec["phone_e164"] == "+33612345678"
    assert msg.key() == b"+33612345678"
    assert rec["allowed_roles"] == ["me", "editor"]
    assert rec["default_role"] == "editor"
    assert rec["display_name"] == "Zoë O'Brien-Smith"
    assert rec["locale"] == "fr"
    assert json.loads(rec["metadata_json"]) == {"firstName": "Zoë", "n": 1}
    assert rec["redirect_to"] == "https://app.my-app.com/catch?x=1"


def test_row1_wrong_method(stack, topics, start_ingest):
    url = start_ingest()
    for method in ("GET", "PUT", "DELETE"):
        resp = requests.request(method, url + ROUTE, timeout=10)
        assert_error(resp, 405, "invalid-request")
        assert resp.headers["Allow"] == "POST"
    assert published(stack, topics) == []


def test_row2_body_too_large(stack, topics, start_ingest):
    url = start_ingest(OTPFLOW_MAX_BODY_BYTES=200)
    big = json.dumps({"phoneNumber": "+14155550123",
                      "options": {"displayName": "a" * 300}})
    assert_error(post(url, big), 413, "invalid-request")
    # Chunked (no Content-Length): the cap applies while reading.
    chunks = (c.encode() for c in [big[:150], big[150:]])
    assert_error(requests.post(url + ROUTE, data=chunks, headers=JSON,
                               timeout=30), 413, "invalid-request")
    # 413 comes before 415.
    assert_error(post(url, big, headers={"Content-Type": "text/plain"}),
                 413, "invalid-request")
    assert published(stack, topics) == []


def test_row3_content_type(stack, topics, start_ingest):
    url = start_ingest()
    body = {"phoneNumber": "+14155550123"}
    for ct in ("text/plain", "application/jsonx", "application/x-www-form-urlencoded"):
        assert_error(post(url, body, headers={"Content-Type": ct}), 415,
                     "invalid-request")
    assert_error(post(url, json.dumps(body), headers={}), 415,
                 "invalid-request")
    assert published(stack, topics) == []


def test_row4_endpoint_disabled_by_default(stack, topics, start_ingest):
    url = start_ingest(AUTH_SMS_PASSWORDLESS_ENABLED="false")
    assert_error(post(url, {"phoneNumber": "+14155550123"}), 409,
                 "disabled-endpoint", "This endpoint is disabled")
    assert published(stack, topics) == []


def test_row5_signup_disabled(stack, topics, start_ingest):
    url = start_ingest(AUTH_DISABLE_SIGNUP="true")
    assert_error(post(url, {"phoneNumber": "+14155550123"}), 403,
                 "signup-disabled", "Sign up is disabled.")
    concealed = start_ingest(AUTH_DISABLE_SIGNUP="true",
                             AUTH_CONCEAL_ERRORS="true")
    assert_error(post(concealed, {"phoneNumber": "+14155550123"}), 400,
                 "invalid-request", "The request payload is incorrect")
    assert published(stack, topics) == []


def test_row6_rate_limited(stack, topics, start_ingest):
    url = start_ingest(AUTH_RATE_LIMIT_ENABLE="true",
                       AUTH_RATE_LIMIT_SIGNUPS_BURST=3)
    for i in range(3):
        resp = post(url, {"phoneNumber": f"+1415555012{i}"})
        assert resp.status_code == 200, resp.text
    resp = post(url, {"phoneNumber": "+14155550129"})
    assert_error(resp, 429, "invalid-request")
    assert int(resp.headers["Retry-After"]) >= 1
    assert len(published(stack, topics)) == 3


def test_row7_malformed_json(stack, topics, start_ingest):
    url = start_ingest()
    bodies = [
        "", "[]", '"+14155550123"', "{", '{"phoneNumber": "+14155550123"',
        '{"phoneNumber": "+14155550123", "phoneNumber": "+14155550124"}',
        '{"phoneNumber": "+14155550123", "extra": 1}',
        '{"phoneNumber": "+14155550123", "options": {"colour": "red"}}',
        '{"phoneNumber": 14155550123}',
        '{"phoneNumber": "+14155550123", "options": []}',
        '{"phoneNumber": "+14155550123", "options": {"allowedRoles": "me"}}',
        '{"phoneNumber": "+14155550123", "options": {"locale": 12}}',
        '{"phoneNumber": "+14155550123", "options": {"metadata": "x"}}',
        '{"phoneNumber": "+14155550123"} trailing',
        '{"phoneNumber": "+1415555\\u00000123"}',
        b'{"phoneNumber": "+14155550123", "options": {"displayName": "\xff"}}',
        "[" * 5000 + "]" * 5000,
    ]
    for body in bodies:
        assert_error(post(url, body), 400, "invalid-request")
    assert published(stack, topics) == []


def test_row8_phone_number(stack, topics, start_ingest):
    url = start_ingest(OTPFLOW_SMS_ALLOWED_COUNTRY_PREFIXES="+1,+44")
    for phone in (None, "", "not a phone", "+1415555", "+1234567890123456",
                  "+04155550123", "14155550123x", "+33612345678"):
        body = {} if phone is None else {"phoneNumber": phone}
        assert_error(post(url, body), 400, "invalid-request")
    assert published(stack, topics) == []


def test_row9_display_name(stack, topics, start_ingest):
    url = start_ingest()
    for name in ("é" * 33, "<script>@", "tab\there", ""):
        assert_error(post(url, {"phoneNumber": "+14155550123",
                                "options": {"displayName": name}}),
                     400, "invalid-request")
    assert published(stack, topics) == []
    resp = post(url, {"phoneNumber": "+14155550123",
                      "options": {"displayName": "é" * 32}})
    assert resp.status_code == 200, resp.text


def test_row10_locale_length(stack, topics, start_ingest):
    url = start_ingest()
    for locale in ("e", "engl"):
        assert_error(post(url, {"phoneNumber": "+14155550123",
                                "options": {"locale": locale}}),
                     400, "invalid-request")
    assert published(stack, topics) == []


def test_row11_redirect_not_allowed(stack, topics, start_ingest):
    url = start_ingest()
    for target in ("https://my-app.com.hijack.com", "https://evil.com",
                   "not-a-url"):
        assert_error(post(url, {"phoneNumber": "+14155550123",
                                "options": {"redirectTo": target}}),
                     400, "redirectTo-not-allowed",
                     'The value of "options.redirectTo" is not allowed.')
    assert published(stack, topics) == []


def test_row12_role_not_allowed(stack, topics, start_ingest):
    url = start_ingest()
    body = {"phoneNumber": "+14155550123",
            "options": {"allowedRoles": ["me", "admin"]}}
    assert_error(post(url, body), 400, "role-not-allowed", "Role not allowed")
    concealed = start_ingest(AUTH_CONCEAL_ERRORS="true")
    assert_error(post(concealed, body), 400, "invalid-request",
                 "The request payload is incorrect")
    assert published(stack, topics) == []


def test_row13_default_role_not_in_allowed_roles(stack, topics, start_ingest):
    url = start_ingest()
    for options in ({"allowedRoles": []},
                    {"allowedRoles": ["me"], "defaultRole": "user"},
                    {"defaultRole": "anonymous"}):
        assert_error(post(url, {"phoneNumber": "+14155550123",
                                "options": options}),
                     400, "default-role-must-be-in-allowed-roles",
                     "Default role must be in allowed roles")
    assert published(stack, topics) == []


def test_row14_kafka_unavailable_gives_503_never_200(stack, topics,
                                                     start_ingest):
    # Nothing listens on port 1: the broker is "stopped" for this ingest.
    url = start_ingest(OTPFLOW_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1",
                       OTPFLOW_ACCEPT_TIMEOUT_MS=1500)
    for i in range(3):
        resp = post(url, {"phoneNumber": f"+1415555012{i}"})
        assert_error(resp, 503, "internal-server-error")
        assert resp.headers["Retry-After"] == "1"
    ready = requests.get(url + "/readyz", timeout=10)
    assert ready.status_code == 503


def test_other_endpoints(start_ingest):
    url = start_ingest()
    assert requests.get(url + "/healthz", timeout=10).text == '"OK"'
    ready = requests.get(url + "/readyz", timeout=10)
    assert ready.status_code in (200, 503)
    assert requests.get(url + "/version", timeout=10).json()["version"]
    missing = requests.get(url + "/nope", timeout=10)
    assert_error(missing, 404, "invalid-request")
    assert_error(requests.post(url + "/healthz", timeout=10), 405,
                 "invalid-request")


def test_many_concurrent_requests_all_land_once(stack, topics, start_ingest):
    import concurrent.futures
    url = start_ingest()
    phones = [f"+1415555{n:04d}" for n in range(300)]
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        codes = list(pool.map(
            lambda p: post(url, {"phoneNumber": p}).status_code, phones))
    assert codes == [200] * len(phones)
    records = published(stack, topics)
    assert sorted(m.key().decode() for m in records) == sorted(phones)
    ids = {avro_decode(m.value())[1]["request_id"] for m in records}
    assert len(ids) == len(phones)


def test_slow_client_is_closed(start_ingest):
    url = start_ingest(OTPFLOW_CONNECTION_TIMEOUT="1s")
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST " + ROUTE.encode() + b" HTTP/1.1\r\nHost: x\r\n")
        s.settimeout(10)
        # The server closes the idle connection: recv returns b"" (EOF).
        assert s.recv(100) == b""


def metrics(url):
    resp = requests.get(url + "/metrics", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for line in resp.text.splitlines():
        if line.startswith("#"):
            assert line.startswith(("# HELP otpflow_", "# TYPE otpflow_"))
            continue
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    return samples


def test_metrics_move_with_traffic(start_ingest):
    url = start_ingest()
    ok, bad = ('otpflow_ingest_http_responses_total{code="200"}',
               'otpflow_ingest_http_responses_total{code="415"}')
    before = metrics(url)
    assert post(url, {"phoneNumber": "+14155550123"}).status_code == 200
    post(url, "{}", headers={"Content-Type": "text/plain"})
    after = metrics(url)
    # The first scrape's own 200 is counted too.
    assert after[ok] - before[ok] == 2
    assert after[bad] - before[bad] == 1
    assert after["otpflow_ingest_accept_seconds_count"] == 1
    assert after["otpflow_ingest_in_flight_requests"] == 0


def test_client_ip_from_trusted_proxy_only(stack, topics, start_ingest):
    """Behind a proxy the client is the right-most X-Forwarded-For entry
    (the one the proxy added), never the left-most the client wrote."""
    direct = start_ingest()
    proxied = start_ingest(OTPFLOW_TRUST_PROXY="true")
    hop = {**JSON, "X-Forwarded-For": "203.0.113.7, 10.0.0.1"}
    bogus = {**JSON, "X-Forwarded-For": "not-an-ip"}
    assert post(direct, {"phoneNumber": "+14155550141"}, headers=hop).ok
    assert post(proxied, {"phoneNumber": "+14155550142"}, headers=hop).ok
    assert post(proxied, {"phoneNumber": "+14155550143"}, headers=bogus).ok
    ips = {avro_decode(m.value())[1]["phone_number"]:
           avro_decode(m.value())[1]["client_ip"]
           for m in published(stack, topics)}
    assert ips == {"+14155550141": "127.0.0.1", "+14155550142": "10.0.0.1",
                   "+14155550143": "127.0.0.1"}
