"""The figures of the reliability scenarios (R1-R18 of docs/targets.md),
written by the tests themselves to tests/system/RESULTS.md.

A scenario calls record() once it has passed; its section of RESULTS.md
(one per scenario and build, so the normal and the ASan+UBSan runs sit side
by side) is replaced, the rest of the file kept. Set OTPFLOW_TEST_RESULTS to
write elsewhere (or to an empty string to write nothing).
"""

import datetime
import fcntl
import os
import pathlib
import platform
import re

from otpflow_test import BUILD, REPO

PATH = os.environ.get("OTPFLOW_TEST_RESULTS",
                      str(REPO / "tests" / "system" / "RESULTS.md"))

HEADER = """# Reliability results (R1-R18 of docs/targets.md)

Written by the system tests themselves (`tests/system/results.py`): each
scenario replaces its own section when it passes. Reproduce with the README's
test command, or one scenario at a time, e.g.

    /usr/bin/python3 -m pytest tests/system -k r2
    OTPFLOW_BUILD_DIR=build-asan /usr/bin/python3 -m pytest tests/system -k r2

The machine: 2 shared cores; the broker, Postgres, the daemons and the load
all run on it at once, so times are indicative, counts are exact.
"""

SECTION = re.compile(r"<!-- (\S+) -->\n.*?<!-- /\1 -->\n", re.S)


def _section(key, title, test, figures):
    when = datetime.datetime.now(datetime.timezone.utc)
    lines = [f"<!-- {key} -->",
             f"## {title}",
             "",
             f"`{test}` on the `{BUILD.name}` build, "
             f"{when:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
             f"{platform.machine()}: **passed**",
             "",
             "| figure | value |",
             "|---|---|"]
    for name, value in figures.items():
        if isinstance(value, float):
            value = f"{value:.2f}"
        lines.append(f"| {name} | {value} |")
    lines.append(f"<!-- /{key} -->")
    return "\n".join(lines) + "\n"


def record(rid, title, test, **figures):
    """Replaces the section of scenario rid (e.g. "R2", or "R11-worker"
    when several tests share a row) for this build.

    title: one line saying what was done; test: the test's name; figures:
    name=value pairs in the order they should be shown (underscores in the
    names become spaces)."""
    if not PATH:
        return
    key = f"{rid}/{BUILD.name}"
    figures = {k.replace("_", " "): v for k, v in figures.items()}
    new = _section(key, f"{rid} — {title} ({BUILD.name})", test, figures)
    path = pathlib.Path(PATH)
    path.touch()
    with open(path, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # tests of one run may run in parallel
        sections = {m.group(1): m.group(0) for m in SECTION.finditer(f.read())}
        sections[key] = new

        def order(k):
            r, build = k.split("/", 1)
            number = re.match(r"R(\d+)", r)
            return (int(number.group(1)) if number else 99, r, build)
        body = "\n".join(sections[k] for k in sorted(sections, key=order))
        f.seek(0)
        f.truncate()
        f.write(HEADER + "\n" + body)
