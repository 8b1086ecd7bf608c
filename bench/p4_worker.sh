#!/usr/bin/env bash
# P4 of docs/targets.md: worker throughput on a backlog, as a ratio of the
# bcrypt ceiling (cores x single-thread bcrypt-6 hashes/s) measured in the
# same run. Real Postgres and Kafka (own state: .state/bench, or
# OTPFLOW_STATE_DIR / OTPFLOW_PG_PORT / OTPFLOW_BROKER_PORT).
#
#   bench/p4_worker.sh [--runs N] [--backlog N] [--partitions P] [--build DIR]
#
# Defaults: 3 runs, 20000 requests, 6 partitions. --build DIR: use DIR's
# binaries as they are; without it <repo>/build is built first. Each run
# fills a fresh topic, starts one worker on a fresh database, waits until
# every request is processed, and checks the result (N users, N OtpIssued,
# outbox empty).
# A broker/Postgres already running in the state dir is reused and left
# running; what this script starts, it stops.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd -P)
runs=3 backlog=20000 partitions=6 build=
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --backlog) backlog=$2; shift 2 ;;
    --partitions) partitions=$2; shift 2 ;;
    --build) build=$(realpath -m "$2"); shift 2 ;;
    -h|--help) awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$build" ] || { build=$repo/build; "$repo/scripts/build.sh" "$build" >&2; }
export OTPFLOW_STATE_DIR=${OTPFLOW_STATE_DIR:-$repo/.state/bench}
export OTPFLOW_BROKER_PORT=${OTPFLOW_BROKER_PORT:-19592} OTPFLOW_PG_PORT=${OTPFLOW_PG_PORT:-54539}
started=()
"$repo/scripts/kafka.sh" status >/dev/null 2>&1 || started+=(kafka.sh)
"$repo/scripts/pg.sh" status >/dev/null 2>&1 || started+=(pg.sh)
bootstrap=$("$repo/scripts/kafka.sh" start | tail -n 1)
pg=$("$repo/scripts/pg.sh" start | tail -n 1)
keys=$("$build/otpflowctl" keygen)
pk=$(sed -n 's/^OTPFLOW_SEAL_PUBLIC_KEY=//p' <<<"$keys")
cores=$(nproc)
psql_q() { psql -X -q -t -A -d "$1" -c "$2"; }
results=()
for run in $(seq "$runs"); do
  tag=$(date +%s%N)
  db=bench_$tag
  psql_q "$pg" "CREATE DATABASE $db" >/dev/null
  url=${pg%/*}/$db
  OTPFLOW_DATABASE_URL=$url "$build/otpflowctl" migrate >/dev/null
  export OTPFLOW_KAFKA_BOOTSTRAP_SERVERS=$bootstrap
  export OTPFLOW_TOPIC_SIGNUP_REQUESTS=bench-req-$tag OTPFLOW_TOPIC_SMS_OTP=bench-otp-$tag
  for i in 1 2 3 4 5; do   # metadata may trail a fresh creation
    "$build/otpflowctl" topics --partitions "$partitions" >/dev/null 2>&1 && break
    [ "$i" = 5 ] && { echo "otpflowctl topics keeps failing" >&2; exit 1; }
    sleep 1
  done
  /usr/bin/python3 "$repo/bench/produce_signups.py" "$bootstrap" "$OTPFLOW_TOPIC_SIGNUP_REQUESTS" "$backlog" >/dev/null
  ceiling=$("$build/otpflow-bench-bcrypt" 6 3)

  start=$(date +%s.%N)
  OTPFLOW_DATABASE_URL=$url OTPFLOW_SEAL_PUBLIC_KEY=$pk OTPFLOW_LOG_LEVEL=warn \
    OTPFLOW_ADMIN_LISTEN=127.0.0.1:0 "$build/otpflow-worker" 2>"$OTPFLOW_STATE_DIR/worker.log" & worker=$!
  peak_rss=0
  for _ in $(seq 6000); do
    done_n=$(psql_q "$url" "SELECT count(*) FROM otpflow.processed_requests")
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$worker/status" 2>/dev/null || echo 0)
    [ "$rss" -gt "$peak_rss" ] && peak_rss=$rss
    [ "$done_n" -ge "$backlog" ] && break
    sleep 0.1
  done
  end=$(date +%s.%N)
  kill -TERM "$worker"; wait "$worker" || true
  users=$(psql_q "$url" "SELECT count(DISTINCT phone_number) FROM auth.users")
  outbox=$(psql_q "$url" "SELECT count(*) FROM otpflow.outbox")
  events=$(/usr/bin/python3 "$repo/bench/topic_count.py" "$bootstrap" "$OTPFLOW_TOPIC_SMS_OTP")
  verdict=ok
  [ "$users" -eq "$backlog" ] && [ "$outbox" -eq 0 ] && [ "$events" -ge "$backlog" ] ||
    verdict="FAILED: $users users, $outbox outbox rows, $events events for $backlog requests"
  rate=$(awk -v n="$backlog" -v s="$start" -v e="$end" 'BEGIN {printf "%.0f", n/(e-s)}')
  ratio=$(awk -v r="$rate" -v c="$ceiling" -v k="$cores" 'BEGIN {printf "%.2f", r/(c*k)}')
  echo "run $run: $backlog requests in $(awk -v s="$start" -v e="$end" 'BEGIN {printf "%.1f", e-s}') s = $rate users/s | bcrypt-6 single thread ${ceiling}/s x $cores cores | ratio $ratio | peak RSS $((peak_rss / 1024)) MiB | $verdict"
  results+=("$rate $ratio $ceiling")
  psql_q "$pg" "DROP DATABASE $db" >/dev/null
  [ "$verdict" = ok ] || exit 1
done
printf '%s\n' "${results[@]}" | sort -k2 -n | awk -v n="$runs" '
  { r[NR]=$1; q[NR]=$2; c[NR]=$3 } END { m=int((n+1)/2);
  printf "median of %d runs (by ratio): %s users/s, ratio %s of the bcrypt ceiling (single thread %s/s)\n", n, r[m], q[m], c[m] }'
for s in "${started[@]}"; do "$repo/scripts/$s" stop >/dev/null 2>&1 || true; done
