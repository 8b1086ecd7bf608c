#!/usr/bin/env bash
# P8 of docs/targets.md: worker scale-out. The same P4-style backlog on a
# 6-partition signup-requests topic is drained by 1 worker, then (fresh
# database, fresh topic, same backlog) by 2 workers of one consumer group;
# reports users/s of each and their ratio, measured in the same run.
#
#   bench/p8_scaleout.sh [--runs N] [--backlog N] [--build DIR]
#
# Defaults: 3 runs, 20000 requests. --build DIR: use DIR's binaries as
# they are; without it <repo>/build is built first. Each drain is
# timed from the workers' start until otpflow.processed_requests holds the
# backlog, and checked like P4 (N users, N distinct numbers, N OtpIssued,
# empty outbox); bcrypt cost 6. Also shown: users/s from the first to the
# last processed row (processed_at), i.e. without the workers' start-up. The run order alternates (1 then 2, 2 then
# 1) so drift on the shared machine does not favour one side. Stack:
# OTPFLOW_STATE_DIR / OTPFLOW_PG_PORT / OTPFLOW_BROKER_PORT (default
# .state/bench-h3, 54653, 19653); a running broker/Postgres there is reused
# and left running, what this script starts it stops.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd -P)
runs=3 backlog=20000 build=
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --backlog) backlog=$2; shift 2 ;;
    --build) build=$(realpath -m "$2"); shift 2 ;;
    -h|--help) awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$build" ] || { build=$repo/build; "$repo/scripts/build.sh" "$build" >&2; }
export OTPFLOW_STATE_DIR=${OTPFLOW_STATE_DIR:-$repo/.state/bench-h3}
export OTPFLOW_PG_PORT=${OTPFLOW_PG_PORT:-54653} OTPFLOW_BROKER_PORT=${OTPFLOW_BROKER_PORT:-19653}
started=()
"$repo/scripts/kafka.sh" status >/dev/null 2>&1 || started+=(kafka.sh)
"$repo/scripts/pg.sh" status >/dev/null 2>&1 || started+=(pg.sh)
workers=()
cleanup() {
  local pid
  for pid in "${workers[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${workers[@]}"; do wait "$pid" 2>/dev/null || true; done
  for s in "${started[@]}"; do "$repo/scripts/$s" stop >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
bootstrap=$("$repo/scripts/kafka.sh" start | tail -n 1)
pg=$("$repo/scripts/pg.sh" start | tail -n 1)
keys=$("$build/otpflowctl" keygen)
pk=$(sed -n 's/^OTPFLOW_SEAL_PUBLIC_KEY=//p' <<<"$keys")
psql_q() { psql -X -q -t -A -d "$1" -c "$2"; }

# drain K: fills a fresh topic and database, runs K workers until the
# backlog is processed; sets rate (users/s), secs and verdict. Runs in this
# shell (not a subshell) so that the EXIT trap sees the workers' pids.
drain() {
  local k=$1 tag db url start end done_n i users distinct outbox events span
  tag=$(date +%s%N) db=bench_$(date +%s%N)
  psql_q "$pg" "CREATE DATABASE $db" >/dev/null
  url=${pg%/*}/$db
  export OTPFLOW_KAFKA_BOOTSTRAP_SERVERS=$bootstrap OTPFLOW_DATA_DIR=$repo
  export OTPFLOW_TOPIC_SIGNUP_REQUESTS=bench-req-$tag OTPFLOW_TOPIC_SMS_OTP=bench-otp-$tag
  OTPFLOW_DATABASE_URL=$url "$build/otpflowctl" migrate >/dev/null
  for i in 1 2 3 4 5; do   # metadata may trail a fresh creation
    "$build/otpflowctl" topics --partitions 6 >/dev/null 2>&1 && break
    [ "$i" = 5 ] && { echo "otpflowctl topics keeps failing" >&2; return 1; }
    sleep 1
  done
  /usr/bin/python3 "$repo/bench/produce_signups.py" "$bootstrap" "$OTPFLOW_TOPIC_SIGNUP_REQUESTS" "$backlog" >/dev/null
  start=$(date +%s.%N)
  workers=()
  for i in $(seq "$k"); do
    OTPFLOW_DATABASE_URL=$url OTPFLOW_SEAL_PUBLIC_KEY=$pk OTPFLOW_OTP_BCRYPT_COST=6 \
      OTPFLOW_LOG_LEVEL=warn OTPFLOW_ADMIN_LISTEN=127.0.0.1:0 \
      "$build/otpflow-worker" 2>"$OTPFLOW_STATE_DIR/worker-p8-$tag-$i.log" &
    workers+=($!)
  done
  done_n=0
  for _ in $(seq $((3000 + backlog / 5))); do   # 0.1 s steps: >= 300 s, ~50/s floor
    done_n=$(psql_q "$url" "SELECT count(*) FROM otpflow.processed_requests")
    [ "$done_n" -ge "$backlog" ] && break
    sleep 0.1
  done
  end=$(date +%s.%N)
  for i in $(seq 100); do   # the outbox is published after each commit
    [ "$(psql_q "$url" "SELECT count(*) FROM otpflow.outbox")" -eq 0 ] && break
    sleep 0.1
  done
  for i in "${workers[@]}"; do kill -TERM "$i"; done
  for i in "${workers[@]}"; do wait "$i" || true; done
  workers=()
  read -r users distinct < <(psql_q "$url" "SELECT count(*), count(DISTINCT phone_number) FROM auth.users" | tr '|' ' ')
  outbox=$(psql_q "$url" "SELECT count(*) FROM otpflow.outbox")
  span=$(psql_q "$url" "SELECT extract(epoch FROM max(processed_at) - min(processed_at)) FROM otpflow.processed_requests")
  events=$(/usr/bin/python3 "$repo/bench/topic_count.py" "$bootstrap" "$OTPFLOW_TOPIC_SMS_OTP")
  verdict=ok
  [ "$users" -eq "$backlog" ] && [ "$distinct" -eq "$backlog" ] && [ "$outbox" -eq 0 ] && [ "$events" -ge "$backlog" ] ||
    verdict="FAILED($k workers: $done_n processed, $users users, $distinct distinct, $outbox outbox rows, $events events for $backlog requests)"
  psql_q "$pg" "DROP DATABASE $db WITH (FORCE)" >/dev/null
  rate=$(awk -v n="$backlog" -v s="$start" -v e="$end" 'BEGIN {printf "%.0f", n/(e-s)}')
  secs=$(awk -v s="$start" -v e="$end" 'BEGIN {printf "%.1f", e-s}')
  # first to last processed row: the same drain without the start-up
  rate_ftl=$(awk -v n="$backlog" -v s="${span:-0}" 'BEGIN {printf "%.0f", (s > 0 ? n/s : 0)}')
}

results=()
for run in $(seq "$runs"); do
  for k in $([ $((run % 2)) -eq 1 ] && echo 1 2 || echo 2 1); do
    drain "$k"
    if [ "$k" = 1 ]; then r1=$rate s1=$secs v1=$verdict f1=$rate_ftl; else r2=$rate s2=$secs v2=$verdict f2=$rate_ftl; fi
  done
  ratio=$(awk -v a="$r2" -v b="$r1" 'BEGIN {printf "%.2f", a/b}')
  ratio_ftl=$(awk -v a="$f2" -v b="$f1" 'BEGIN {printf "%.2f", (b > 0 ? a/b : 0)}')
  echo "run $run: $backlog requests, 6 partitions | 1 worker ${s1} s = $r1 users/s ($v1) | 2 workers ${s2} s = $r2 users/s ($v2) | ratio $ratio | first-to-last row: $f1 vs $f2 users/s, ratio $ratio_ftl"
  results+=("$r1 $r2 $ratio $ratio_ftl")
  [ "$v1" = ok ] && [ "$v2" = ok ] || exit 1
done
printf '%s\n' "${results[@]}" | sort -k3 -n | awk -v n="$runs" '
  { a[NR]=$1; b[NR]=$2; r[NR]=$3; f[NR]=$4 } END { m=int((n+1)/2);
  printf "median of %d runs (by ratio): 1 worker %s users/s, 2 workers %s users/s, ratio %s (min %s, max %s); first-to-last-row ratio of that run %s\n", n, a[m], b[m], r[m], r[1], r[n], f[m] }'
