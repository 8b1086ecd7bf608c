#!/usr/bin/env bash
# P4 of TARGETS.md: worker throughput on a backlog, as a ratio of the
# bcrypt ceiling (cores x single-thread bcrypt-6 hashes/s) measured in the
# same run. Real Postgres and Kafka (own state: .state/bench).
#
#   bench/p4_worker.sh [--runs N] [--backlog N] [--partitions P]
#
# Defaults: 3 runs, 20000 requests, 6 partitions. Each run fills a fresh
# topic, starts one worker on a fresh database, waits until every request
# is processed, and checks the result (N users, N OtpIssued, outbox empty).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd -P)
runs=3 backlog=20000 partitions=6
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --backlog) backlog=$2; shift 2 ;;
    --partitions) partitions=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
"$repo/scripts/build.sh" "$repo/build" >&2
export OTPFLOW_STATE_DIR=$repo/.state/bench
export OTPFLOW_BROKER_PORT=${OTPFLOW_BROKER_PORT:-19592} OTPFLOW_PG_PORT=${OTPFLOW_PG_PORT:-54539}
bootstrap=$("$repo/scripts/kafka.sh" start | tail -n 1)
pg=$("$repo/scripts/pg.sh" start | tail -n 1)
keys=$("$repo/build/otpflowctl" keygen)
pk=$(sed -n 's/^OTPFLOW_SEAL_PUBLIC_KEY=//p' <<<"$keys")
cores=$(nproc)
psql_q() { psql -X -q -t -A -d "$1" -c "$2"; }
results=()
for run in $(seq "$runs"); do
  tag=$(date +%s%N)
  db=bench_$tag
  psql_q "$pg" "CREATE DATABASE $db" >/dev/null
  url=${pg%/*}/$db
  OTPFLOW_DATABASE_URL=$url "$repo/build/otpflowctl" migrate >/dev/null
  export OTPFLOW_KAFKA_BOOTSTRAP_SERVERS=$bootstrap
  export OTPFLOW_TOPIC_SIGNUP_REQUESTS=bench-req-$tag OTPFLOW_TOPIC_SMS_OTP=bench-otp-$tag
  "$repo/build/otpflowctl" topics --partitions "$partitions" >/dev/null
  /usr/bin/python3 "$repo/bench/produce_signups.py" "$bootstrap" "$OTPFLOW_TOPIC_SIGNUP_REQUESTS" "$backlog" >/dev/null
  ceiling=$("$repo/build/otpflow-bench-bcrypt" 6 3)

  start=$(date +%s.%N)
  OTPFLOW_DATABASE_URL=$url OTPFLOW_SEAL_PUBLIC_KEY=$pk OTPFLOW_LOG_LEVEL=warn \
    OTPFLOW_ADMIN_LISTEN=127.0.0.1:0 "$repo/build/otpflow-worker" 2>"$OTPFLOW_STATE_DIR/worker.log" & worker=$!
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
"$repo/scripts/kafka.sh" stop >/dev/null 2>&1 || true
"$repo/scripts/pg.sh" stop >/dev/null 2>&1 || true
