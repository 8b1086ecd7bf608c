#!/usr/bin/env bash
# P1/P2 of docs/targets.md: ingest durable-accept throughput and latency under
# load, against a real Kafka broker, as a ratio of a hello-world
# libmicrohttpd+jansson POST server measured in the same run.
#
#   bench/p1_ingest.sh [--runs N] [--duration SECONDS] [--connections C]
#                      [--build DIR] [--state DIR]
#
# Defaults: 3 runs, 30 s, 200 connections, wrk with 2 threads. Each run
# measures the hello server, then ingest, then checks that every 200 is
# on the topic (a fast wrong answer is a failure). Prints one line per run
# and the medians, with the CPU time ingest used per request (steadier
# than req/s on a shared machine). Uses its own broker state (.state/bench,
# port 19592; --state and OTPFLOW_BROKER_PORT change them so that two
# copies can run side by side) and builds into --build (default build/).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd -P)
runs=3 duration=30 conns=200 build=$repo/build state=$repo/.state/bench
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --state) state=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || "$repo/scripts/install-deps.sh"
"$repo/scripts/build.sh" "$build" >&2
export OTPFLOW_STATE_DIR=$state OTPFLOW_BROKER_PORT=${OTPFLOW_BROKER_PORT:-19592}
started=0   # a broker already running in the state dir is reused and left running
"$repo/scripts/kafka.sh" status >/dev/null 2>&1 || started=1
bootstrap=$("$repo/scripts/kafka.sh" start | tail -n 1)
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# cpu_ticks PID -> user+system clock ticks the process has used so far
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wait_http() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

# wrk_run URL -> "req_per_s p50_ms p99_ms requests non2xx"
wrk_run() {
  local out
  out=$(wrk -t2 -c"$conns" -d"${duration}s" --timeout 10s -s "$repo/bench/signup.lua" "$1")
  local rps p50 p99 reqs non2xx
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '/^P50_US/ {printf "%.2f", $2/1000}' <<<"$out")
  p99=$(awk '/^P99_US/ {printf "%.2f", $2/1000}' <<<"$out")
  reqs=$(awk '/^REQUESTS/ {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); non2xx=${non2xx:-0}
  echo "$rps $p50 $p99 $reqs $non2xx"
}

results=()
for run in $(seq "$runs"); do
  port=$(free_port)
  "$build/otpflow-bench-hello" "$port" & hello=$!
  wait_http "http://127.0.0.1:$port/" || true
  read -r h_rps h_p50 h_p99 _ _ < <(wrk_run "http://127.0.0.1:$port")
  kill "$hello"; wait "$hello" || true

  topic=bench-signups-$(date +%s%N)
  OTPFLOW_KAFKA_BOOTSTRAP_SERVERS=$bootstrap OTPFLOW_TOPIC_SIGNUP_REQUESTS=$topic \
    "$build/otpflowctl" topics --partitions 6 >/dev/null
  port=$(free_port)
  OTPFLOW_KAFKA_BOOTSTRAP_SERVERS=$bootstrap OTPFLOW_TOPIC_SIGNUP_REQUESTS=$topic \
  OTPFLOW_LISTEN=127.0.0.1:$port AUTH_SMS_PASSWORDLESS_ENABLED=true \
  OTPFLOW_LOG_LEVEL=warn "$build/otpflow-ingest" 2>"$OTPFLOW_STATE_DIR/ingest.log" & ingest=$!
  wait_http "http://127.0.0.1:$port/healthz"
  t0=$(cpu_ticks "$ingest")
  read -r i_rps i_p50 i_p99 i_reqs i_non2xx < <(wrk_run "http://127.0.0.1:$port")
  t1=$(cpu_ticks "$ingest")
  kill -TERM "$ingest"; wait "$ingest"
  cpu_us=$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v n="$i_reqs" 'BEGIN {printf "%.1f", t * 1e6 / hz / n}')
  ok=$((i_reqs - i_non2xx))
  stored=$(/usr/bin/python3 "$repo/bench/topic_count.py" "$bootstrap" "$topic")
  verdict=ok; [ "$stored" -ge "$ok" ] || verdict="FAILED: $ok answered 200 but $stored on the topic"
  ratio=$(awk -v a="$i_rps" -v b="$h_rps" 'BEGIN {printf "%.2f", a/b}')
  echo "run $run: hello ${h_rps} req/s (p50 ${h_p50} ms, p99 ${h_p99} ms) | ingest ${i_rps} req/s (p50 ${i_p50} ms, p99 ${i_p99} ms, ${ok} x 200, ${i_non2xx} other, ${stored} on topic: $verdict, CPU ${cpu_us} us/request) | ratio ${ratio}"
  results+=("$h_rps $i_rps $ratio $i_p50 $i_p99 $cpu_us")
  [ "$verdict" = ok ] || exit 1
done
printf '%s\n' "${results[@]}" | sort -k3 -n | awk -v n="$runs" '
  { h[NR]=$1; i[NR]=$2; r[NR]=$3; p50[NR]=$4; p99[NR]=$5; c[NR]=$6 }
  END { m=int((n+1)/2); printf "median of %d runs (by ratio): hello %s req/s, ingest %s req/s, ratio %s, ingest p50 %s ms, p99 %s ms, CPU %s us/request\n", n, h[m], i[m], r[m], p50[m], p99[m], c[m] }'
[ "$started" = 0 ] || "$repo/scripts/kafka.sh" stop >/dev/null 2>&1 || true
