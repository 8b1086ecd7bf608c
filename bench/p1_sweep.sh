#!/usr/bin/env bash
# P1/P2 versus concurrency: ingest (real Kafka broker) and the hello-world
# libmicrohttpd+jansson server, each driven by wrk with bench/signup.lua at
# several connection counts; throughput and latency per count, for
# bench/plots.py.
#
#   bench/p1_sweep.sh [--connections 25,50,100,200,400] [--duration S]
#                     [--runs N] [--build DIR] [--csv FILE]
#
# Defaults: 25,50,100,200,400 connections, 15 s per measurement, 1 run,
# CSV bench/results/p1_sweep.csv (rewritten). --build DIR: use DIR's
# binaries as they are; without it <repo>/build is built first. After
# a 3 s warm-up of ingest on a throw-away topic (not measured), for
# each run and count: hello, then ingest on a fresh 6-partition topic
# (OTPFLOW_MAX_CONNECTIONS_PER_IP raised above the count), then the check
# that every 200 is on the topic (a failure stops the sweep). CSV columns:
# run,connections,server,req_per_s,p50_ms,p99_ms,answers_200,other,on_topic.
# Stack: OTPFLOW_STATE_DIR / OTPFLOW_BROKER_PORT (default .state/bench-h3,
# 19653); a broker already running there is reused and left running.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd -P)
list=25,50,100,200,400 duration=15 runs=1 build= csv=$repo/bench/results/p1_sweep.csv
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) list=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --build) build=$(realpath -m "$2"); shift 2 ;;
    --csv) csv=$(realpath -m "$2"); shift 2 ;;
    -h|--help) awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || "$repo/scripts/install-deps.sh"
[ -n "$build" ] || { build=$repo/build; "$repo/scripts/build.sh" "$build" >&2; }
export OTPFLOW_STATE_DIR=${OTPFLOW_STATE_DIR:-$repo/.state/bench-h3}
export OTPFLOW_BROKER_PORT=${OTPFLOW_BROKER_PORT:-19653}
started=()
"$repo/scripts/kafka.sh" status >/dev/null 2>&1 || started+=(kafka.sh)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for s in "${started[@]}"; do "$repo/scripts/$s" stop >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
bootstrap=$("$repo/scripts/kafka.sh" start | tail -n 1)
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

# wrk_run URL CONNS -> "req_per_s p50_ms p99_ms requests non2xx"
wrk_run() {
  local out
  out=$(wrk -t2 -c"$2" -d"${duration}s" --timeout 10s -s "$repo/bench/signup.lua" "$1")
  awk '/^Requests\/sec/ {rps=$2} /^P50_US/ {p50=$2/1000} /^P99_US/ {p99=$2/1000}
       /^REQUESTS/ {n=$2} /Non-2xx/ {bad=$NF}
       END {printf "%s %.2f %.2f %d %d\n", rps, p50, p99, n, bad+0}' <<<"$out"
}

# Warm-up, not measured: a fresh broker's first producer waits for its
# coordinator and JIT; 3 s of load on a throw-away topic first.
warm=bench-sweep-warm-$(date +%s%N)
for i in 1 2 3 4 5; do
  OTPFLOW_KAFKA_BOOTSTRAP_SERVERS=$bootstrap OTPFLOW_TOPIC_SIGNUP_REQUESTS=$warm \
    "$build/otpflowctl" topics --partitions 6 >/dev/null 2>&1 && break
  sleep 1
done
port=$(free_port)
OTPFLOW_KAFKA_BOOTSTRAP_SERVERS=$bootstrap OTPFLOW_TOPIC_SIGNUP_REQUESTS=$warm \
OTPFLOW_LISTEN=127.0.0.1:$port AUTH_SMS_PASSWORDLESS_ENABLED=true \
OTPFLOW_LOG_LEVEL=warn "$build/otpflow-ingest" 2>"$OTPFLOW_STATE_DIR/ingest-sweep.log" & pids=($!)
wait_http "http://127.0.0.1:$port/healthz"
wrk -t2 -c50 -d3s -s "$repo/bench/signup.lua" "http://127.0.0.1:$port" >/dev/null
kill -TERM "${pids[0]}"; wait "${pids[0]}" || true; pids=()

mkdir -p "$(dirname "$csv")"
echo "run,connections,server,req_per_s,p50_ms,p99_ms,answers_200,other,on_topic" >"$csv"
IFS=, read -r -a counts <<<"$list"
for run in $(seq "$runs"); do
  for c in "${counts[@]}"; do
    port=$(free_port)
    "$build/otpflow-bench-hello" "$port" & pids=($!)
    wait_http "http://127.0.0.1:$port/" || true
    read -r h_rps h_p50 h_p99 h_n h_bad < <(wrk_run "http://127.0.0.1:$port" "$c")
    kill -TERM "${pids[0]}"; wait "${pids[0]}" || true; pids=()
    echo "$run,$c,hello,$h_rps,$h_p50,$h_p99,$((h_n - h_bad)),$h_bad," >>"$csv"

    topic=bench-sweep-$(date +%s%N)
    for i in 1 2 3 4 5; do   # metadata may trail a fresh creation
      OTPFLOW_KAFKA_BOOTSTRAP_SERVERS=$bootstrap OTPFLOW_TOPIC_SIGNUP_REQUESTS=$topic \
        "$build/otpflowctl" topics --partitions 6 >/dev/null 2>&1 && break
      [ "$i" = 5 ] && { echo "otpflowctl topics keeps failing" >&2; exit 1; }
      sleep 1
    done
    port=$(free_port)
    OTPFLOW_KAFKA_BOOTSTRAP_SERVERS=$bootstrap OTPFLOW_TOPIC_SIGNUP_REQUESTS=$topic \
    OTPFLOW_LISTEN=127.0.0.1:$port AUTH_SMS_PASSWORDLESS_ENABLED=true \
    OTPFLOW_MAX_CONNECTIONS_PER_IP=$((c * 2 > 256 ? c * 2 : 256)) \
    OTPFLOW_LOG_LEVEL=warn "$build/otpflow-ingest" 2>"$OTPFLOW_STATE_DIR/ingest-sweep.log" & pids=($!)
    wait_http "http://127.0.0.1:$port/healthz"
    read -r i_rps i_p50 i_p99 i_n i_bad < <(wrk_run "http://127.0.0.1:$port" "$c")
    kill -TERM "${pids[0]}"; wait "${pids[0]}"; pids=()
    ok=$((i_n - i_bad))
    stored=$(/usr/bin/python3 "$repo/bench/topic_count.py" "$bootstrap" "$topic")
    echo "$run,$c,ingest,$i_rps,$i_p50,$i_p99,$ok,$i_bad,$stored" >>"$csv"
    verdict=ok; [ "$stored" -ge "$ok" ] || verdict="FAILED: $ok answered 200 but $stored on the topic"
    echo "run $run, $c connections: hello $h_rps req/s (p50 $h_p50 ms, p99 $h_p99 ms) | ingest $i_rps req/s (p50 $i_p50 ms, p99 $i_p99 ms, $ok x 200, $i_bad other, $stored on topic: $verdict) | ratio $(awk -v a="$i_rps" -v b="$h_rps" 'BEGIN {printf "%.2f", a/b}')"
    [ "$verdict" = ok ] || exit 1
  done
done
echo "wrote $csv" >&2
