"""R9 (docs/targets.md): the fixed corpus of malformed requests in
tests/malformed/ (cases.tsv: body file, Content-Type, expected status and
error), plus generated bodies too big to commit, sent over raw sockets to a
real ingest so every byte arrives as written. Each must get its 400/413/415
with Nhost's error body; afterwards nothing is on signup-requests, the
ingest is still up and serves a valid request (then the only record on the
topic), and it exits 0 with no sanitizer report in its log. Run it on the
ASan+UBSan build with OTPFLOW_BUILD_DIR=build-asan.
"""

import json
import socket
import threading
import urllib.parse
from dataclasses import dataclass

import requests

import results as results_md
from otpflow_test import REPO, SIGNUP_ROUTE as ROUTE, read_topic

CORPUS = REPO / "tests" / "malformed"
MAX_BODY = 16384  # OTPFLOW_MAX_BODY_BYTES default
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


@dataclass
class Case:
    name: str
    body: bytes
    content_type: str | None  # None: no header
    status: int
    error: str
    chunked: bool = False


def corpus_cases():
    """The lines of cases.tsv; fails on files without a line and lines
    without a file."""
    cases, listed = [], set()
    for line in (CORPUS / "cases.tsv").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        name, ctype, status, error, _what = line.split("\t")
        listed.add(name)
        cases.append(Case(name, (CORPUS / name).read_bytes(),
                          None if ctype == "(none)" else ctype,
                          int(status), error))
    on_disk = {p.name for p in CORPUS.iterdir()} - {"README.md", "cases.tsv"}
    assert on_disk == listed, f"unlisted: {on_disk - listed}, " \
        f"missing: {listed - on_disk}"
    return cases


def generated_cases():
    """Bodies too big to commit."""
    big = (b'{"phoneNumber":"+14155550123","options":{"metadata":{"a":"'
           + b"x" * (1 << 20) + b'"}}}')
    start, end = big[:big.index(b"x")], b'"}}}'
    over = start + b"x" * (MAX_BODY + 1 - len(start) - len(end)) + end
    json_ct = "application/json"
    return [
        Case("(generated) 1 MiB, Content-Length", big, json_ct, 413,
             "invalid-request"),
        Case("(generated) 1 MiB, chunked", big, json_ct, 413,
             "invalid-request", chunked=True),
        Case("(generated) cap + 1 byte", over, json_ct, 413,
             "invalid-request"),
        Case("(generated) 1 MiB as text/plain", big, "text/plain", 413,
             "invalid-request"),
        Case("(generated) 100 000 '['", b"[" * 100_000, json_ct, 413,
             "invalid-request"),
    ]


def raw_request(case, extra_headers=b""):
    head = (f"POST {ROUTE} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Connection: close\r\n").encode() + extra_headers
    if case.content_type is not None:
        head += f"Content-Type: {case.content_type}\r\n".encode()
    if not case.chunked:
        return head + f"Content-Length: {len(case.body)}\r\n\r\n".encode() \
            + case.body
    step = 8192
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(case.body[i:i + step]),
                                         case.body[i:i + step])
                      for i in range(0, len(case.body), step))
    return head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"


def exchange(port, data, timeout=30):
    """Sends data on a new connection and reads the answer until the server
    closes: (status, headers, body). The sending runs in a thread because
    the server may answer (413) and close before it has read everything."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        def send():
            try:
                s.sendall(data)
            except OSError:
                pass  # answered and closed early; the answer is read below
        sender = threading.Thread(target=send)
        sender.start()
        answer = b""
        try:
            while chunk := s.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        sender.join(timeout)
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1."), f"no HTTP answer: {answer[:200]!r}"
    headers = {k.strip().lower(): v.strip()
               for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def mismatch(case, status, headers, body):
    """Why the answer is not the expected one, or None."""
    if status != case.status:
        return f"status {status}, expected {case.status}: {body[:200]!r}"
    if headers.get("content-type") != "application/json":
        return f"Content-Type {headers.get('content-type')!r}"
    try:
        doc = json.loads(body)
    except ValueError:
        return f"body is not JSON: {body[:200]!r}"
    if not isinstance(doc, dict) or set(doc) != {"status", "message", "error"}:
        return f"not Nhost's error shape: {doc!r}"
    if doc["status"] != status or doc["error"] != case.error or \
            not isinstance(doc["message"], str) or not doc["message"]:
        return f"body {doc!r}, expected error {case.error!r}"
    return None


def test_r9_malformed_corpus(stack, topics, start_ingest):
    url = start_ingest()
    daemon = start_ingest.daemon
    port = urllib.parse.urlsplit(url).port
    topic = topics["OTPFLOW_TOPIC_SIGNUP_REQUESTS"]
    cases = corpus_cases() + generated_cases()

    answered, failures = {400: 0, 413: 0, 415: 0}, []
    for case in cases:
        status, headers, body = exchange(port, raw_request(case))
        answered[status] = answered.get(status, 0) + 1
        why = mismatch(case, status, headers, body)
        if why:
            failures.append(f"{case.name} ({case.content_type}): {why}")
        assert daemon.proc.poll() is None, \
            f"ingest died on {case.name}:\n{daemon.output()[-4000:]}"
    assert not failures, "\n".join(failures)
    assert set(answered) == {400, 413, 415}

    # A header beyond MHD's memory limit is refused by MHD itself.
    huge = raw_request(Case("", b'{"phoneNumber":"+14155550123"}',
                            "application/json", 0, ""),
                       extra_headers=b"X-Huge: " + b"a" * 65536 + b"\r\n")
    huge_status, _, _ = exchange(port, huge)
    assert huge_status == 431

    published = read_topic(stack.bootstrap, topic)
    assert published == [], "a malformed request was published"

    # Still serving: a valid request is accepted and is the only record.
    assert daemon.proc.poll() is None, daemon.output()[-4000:]
    resp = requests.post(url + ROUTE, json={"phoneNumber": "+14155550199"},
                         timeout=30)
    assert resp.status_code == 200, resp.text
    [record] = read_topic(stack.bootstrap, topic)
    assert record.key() == b"+14155550199"

    assert daemon.stop() == 0, daemon.output()
    log = daemon.log_path.read_text(errors="replace")
    reports = [line for line in log.splitlines()
               if any(mark in line for mark in SANITIZER_MARKS)]
    assert not reports, "\n".join(reports[:20])

    results_md.record(
        "R9", "malformed input corpus (tests/malformed/) against a real "
        "ingest", "test_r9_malformed_corpus", cases=len(cases),
        answered_400=answered[400], answered_413=answered[413],
        answered_415=answered[415], huge_header_answered=huge_status,
        published=len(published), crashes=0, sanitizer_reports=0,
        valid_request_afterwards=resp.status_code)
