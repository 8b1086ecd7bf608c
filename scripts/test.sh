#!/usr/bin/env bash
# test.sh - the whole test suite, from a fresh machine to a verdict.
#
#   scripts/test.sh            install what is missing, check the house
#                              style (scripts/check-style.sh), build (normal
#                              and ASan+UBSan), run the C unit tests under both,
#                              fuzz the parsers briefly (libFuzzer), then the
#                              system tests (pytest) against a real Postgres
#                              and a real Apache Kafka 4.x broker, once per
#                              build, and a smoke run of the benchmarks
#   scripts/test.sh -k EXPR    extra arguments go to pytest
#
# The system tests start and stop their own Postgres and broker through
# scripts/pg.sh and scripts/kafka.sh, in <repo>/.state/test on ports of their
# own (54339, 19192), so a local run (scripts/run-local.sh) is not disturbed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$repo"

step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS" >&2; }

step "dependencies"
scripts/install-deps.sh

step "style (clang-format, banned functions, file sizes)"
scripts/check-style.sh

step "build"
scripts/build.sh "$repo/build"
scripts/build.sh "$repo/build-asan" -DOTPFLOW_SANITIZE=ON

step "unit tests"
(cd build && ctest --output-on-failure --timeout 120)
step "unit tests under ASan+UBSan"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure --timeout 300)

step "fuzzing (clang, ASan+UBSan, 20 s per target)"
tests/fuzz/run.sh 20

step "system tests"
# Debian's interpreter: the test modules come from Debian packages.
/usr/bin/python3 -m pytest -p no:cacheprovider tests/system "$@"

step "system tests under ASan+UBSan"
# The same suite against the sanitizer build: a daemon that prints a report
# fails its test (tests/system/conftest.py), and LeakSanitizer turns a leak
# at a clean exit into a non-zero status. test_deploy checks the release
# binaries' libraries, which the sanitizer build does not share.
OTPFLOW_BUILD_DIR="$repo/build-asan" \
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
UBSAN_OPTIONS=print_stacktrace=1 \
  /usr/bin/python3 -m pytest -p no:cacheprovider tests/system \
  --ignore=tests/system/test_deploy.py "$@"

step "benchmark smoke (every bench/ driver, tiny sizes, results verified)"
bench/smoke.sh --build "$repo/build"
step "done"
