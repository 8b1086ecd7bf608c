#!/usr/bin/env bash
# run-local.sh - the whole otpflow pipeline on this machine, in one command.
#
#   scripts/run-local.sh [--kafka]   install what is missing, build, start
#                                    Postgres, a broker, migrate, create the
#                                    topics, start ingest, worker and sender
#                                    (dev SMS provider: SMS go to a file),
#                                    then print a curl to try
#   scripts/run-local.sh stop        stop everything it started
#   scripts/run-local.sh status      what is running
#
# The broker is the embedded dev broker (librdkafka's in-memory mock
# cluster: no Java, data lost on stop) unless --kafka is given, which runs a
# real Apache Kafka 4.x broker (scripts/kafka.sh). Running it again while
# everything is up changes nothing and prints the same summary.
#
# State and logs: <repo>/.state/run/ (ingest.log, worker.log, sender.log,
# sms.jsonl, keys.env). Ports: ingest 127.0.0.1:4000, Postgres 54329,
# Kafka 19092 (real broker) or a free port (dev broker).
set -euo pipefail
OTP_NAME=run-local
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
repo=$(otp_repo_root)
export OTPFLOW_STATE_DIR=${OTPFLOW_STATE_DIR:-$repo/.state}
run=$OTPFLOW_STATE_DIR/run
mkdir -p "$run"
build=$repo/build

usage() { awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "${BASH_SOURCE[0]}"; }

daemons=(ingest worker sender)

stop_pid_file() { # stop_pid_file FILE NAME
  local f=$1 name=$2 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if otp_pid_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    otp_wait_until 20 "$name to stop" bash -c "! kill -0 $pid 2>/dev/null" ||
      kill -KILL "$pid" 2>/dev/null || true
    otp_info "stopped $name (pid $pid)"
  fi
  rm -f "$f"
}

cmd_stop() {
  for d in "${daemons[@]}"; do stop_pid_file "$run/$d.pid" "otpflow-$d"; done
  stop_pid_file "$run/devbroker.pid" otpflow-devbroker
  rm -f "$run/bootstrap"
  "$repo/scripts/kafka.sh" stop || true
  "$repo/scripts/pg.sh" stop || true
}

cmd_status() {
  local any=1
  for d in devbroker "${daemons[@]}"; do
    if [ -f "$run/$d.pid" ] && otp_pid_alive "$(cat "$run/$d.pid")"; then
      echo "otpflow-$d: running (pid $(cat "$run/$d.pid"))"; any=0
    else
      echo "otpflow-$d: not running"
    fi
  done
  "$repo/scripts/pg.sh" status >/dev/null 2>&1 && echo "postgres: running" || echo "postgres: not running"
  "$repo/scripts/kafka.sh" status >/dev/null 2>&1 && echo "kafka: running" || echo "kafka: not running"
  return $any
}

start_broker() { # prints the bootstrap address
  if [ "$1" = kafka ]; then
    "$repo/scripts/kafka.sh" start | tail -n 1
    return
  fi
  if [ -f "$run/devbroker.pid" ] && otp_pid_alive "$(cat "$run/devbroker.pid")"; then
    cat "$run/bootstrap"
    return
  fi
  : >"$run/bootstrap"
  setsid "$build/otpflow-devbroker" >"$run/bootstrap" 2>"$run/devbroker.log" </dev/null &
  echo $! >"$run/devbroker.pid"
  otp_wait_until 10 "the dev broker" test -s "$run/bootstrap" ||
    { otp_tail_log "$run/devbroker.log"; otp_die "dev broker did not start"; }
  cat "$run/bootstrap"
}

start_daemon() { # start_daemon NAME
  local d=$1 pid
  if [ -f "$run/$d.pid" ] && otp_pid_alive "$(cat "$run/$d.pid")"; then
    otp_info "otpflow-$d already running (pid $(cat "$run/$d.pid"))"
    return
  fi
  setsid "$build/otpflow-$d" >>"$run/$d.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$run/$d.pid"
  sleep 0.5
  if ! otp_pid_alive "$pid"; then
    otp_warn "otpflow-$d exited at once; its log says:"
    tail -n 3 "$run/$d.log" >&2 || true
    rm -f "$run/$d.pid"
  fi
}

cmd_start() {
  local broker=dev
  [ "${1:-}" = --kafka ] && broker=kafka
  "$repo/scripts/install-deps.sh"
  "$repo/scripts/build.sh" "$build"

  local db bootstrap
  db=$("$repo/scripts/pg.sh" start | tail -n 1)
  bootstrap=$(start_broker "$broker")
  [ -f "$run/keys.env" ] || "$build/otpflowctl" keygen >"$run/keys.env"
  chmod 600 "$run/keys.env"

  set -a
  . "$run/keys.env"
  OTPFLOW_DATABASE_URL=$db
  OTPFLOW_KAFKA_BOOTSTRAP_SERVERS=$bootstrap
  OTPFLOW_DATA_DIR=$repo
  OTPFLOW_LISTEN=${OTPFLOW_LISTEN:-127.0.0.1:4000}
  AUTH_SMS_PASSWORDLESS_ENABLED=${AUTH_SMS_PASSWORDLESS_ENABLED:-true}
  AUTH_CLIENT_URL=${AUTH_CLIENT_URL:-http://localhost:3000}
  OTPFLOW_SMS_PROVIDER=dev
  OTPFLOW_SMS_DEV_OUTPUT=$run/sms.jsonl
  set +a

  "$build/otpflowctl" migrate >&2
  [ "$broker" = dev ] || "$build/otpflowctl" topics >&2
  for d in "${daemons[@]}"; do start_daemon "$d"; done

  cat <<MSG

otpflow is up ($broker broker at $bootstrap, Postgres at $db).
Logs: $run/{ingest,worker,sender}.log   SMS (dev provider): $run/sms.jsonl

Try:
  curl -sS -X POST http://$OTPFLOW_LISTEN/signup/passwordless/sms \\
       -H 'Content-Type: application/json' \\
       -d '{"phoneNumber":"+14155550123","options":{"displayName":"Jo"}}'

Status: scripts/run-local.sh status    Stop: scripts/run-local.sh stop
MSG
}

case "${1:-}" in
  ""|--kafka) cmd_start "${1:-}" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  -h|--help) usage ;;
  *) usage >&2; exit 2 ;;
esac
