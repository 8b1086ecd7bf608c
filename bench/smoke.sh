#!/usr/bin/env bash
# Smoke run of every benchmark driver with tiny sizes: proves each still
# works end to end and still verifies its own result (the figures mean
# nothing at these sizes). Exit 0 only when every driver passed.
#
#   bench/smoke.sh [--build DIR]
#
# Steps (each bounded by `timeout`): P3 burst 2000 requests, P4 1000,
# P5 2000 SMS, P6 10 s at 50 req/s, P8 1000 per side, P1 5 s (uses
# p1_ingest.sh's --build and --state).
# One broker and one Postgres serve every step: OTPFLOW_STATE_DIR,
# OTPFLOW_PG_PORT and OTPFLOW_BROKER_PORT choose them (default
# .state/bench-smoke, 54853, 19853); services already running there are
# reused and left running, services this script starts it stops. Each
# step's output goes to <state>/smoke-<step>.log, shown when it fails.
# --build DIR: every driver uses DIR's binaries (P1's p1_ingest.sh runs
# scripts/build.sh on it, so DIR must be a build dir of this checkout);
# without it <repo>/build is built (incrementally) first.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd -P)
build=
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$(realpath -m "$2"); shift 2 ;;
    -h|--help) awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
t0=$SECONDS
[ -n "$build" ] || { build=$repo/build; "$repo/scripts/build.sh" "$build" >&2; }
export OTPFLOW_STATE_DIR=${OTPFLOW_STATE_DIR:-$repo/.state/bench-smoke}
export OTPFLOW_PG_PORT=${OTPFLOW_PG_PORT:-54853} OTPFLOW_BROKER_PORT=${OTPFLOW_BROKER_PORT:-19853}
mkdir -p "$OTPFLOW_STATE_DIR"
started=()
"$repo/scripts/kafka.sh" status >/dev/null 2>&1 || started+=(kafka.sh)
"$repo/scripts/pg.sh" status >/dev/null 2>&1 || started+=(pg.sh)
cleanup() { for s in "${started[@]}"; do "$repo/scripts/$s" stop >/dev/null 2>&1 || true; done; }
trap cleanup EXIT
"$repo/scripts/kafka.sh" start >/dev/null
"$repo/scripts/pg.sh" start >/dev/null

failed=()
step() {   # step NAME SECONDS CMD...
  local name=$1 limit=$2 s=$SECONDS rc=0; shift 2
  local log=$OTPFLOW_STATE_DIR/smoke-$name.log
  timeout --kill-after=30 "$limit" "$@" >"$log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    printf 'smoke %-3s ok     (%3ss) %s\n' "$name" $((SECONDS - s)) "$(grep -v '^\s*$' "$log" | tail -n 1 | cut -c1-160)"
  else
    printf 'smoke %-3s FAILED (%3ss, exit %s): %s\n' "$name" $((SECONDS - s)) "$rc" "$*"
    tail -n 30 "$log" | sed 's/^/    /'
    failed+=("$name")
  fi
}
step P3 300 "$repo/bench/p3_burst.py" --requests 2000 --connections 50 --build "$build"
step P4 300 "$repo/bench/p4_worker.sh" --runs 1 --backlog 1000 --build "$build"
step P5 300 "$repo/bench/p5_sender.py" --runs 1 --backlog 2000 --ceiling-seconds 2 --build "$build"
step P6 300 "$repo/bench/p6_e2e.py" --rate 50 --duration 10 --build "$build"
step P8 300 "$repo/bench/p8_scaleout.sh" --runs 1 --backlog 1000 --build "$build"
step P1 300 "$repo/bench/p1_ingest.sh" --runs 1 --duration 5 --build "$build" --state "$OTPFLOW_STATE_DIR"
echo "smoke: $((SECONDS - t0)) s, ${#failed[@]} failed${failed[*]:+: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]
