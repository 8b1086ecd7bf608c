#!/usr/bin/env bash
# kafka.sh - a real single-node Apache Kafka 4.x broker (KRaft, combined
# broker+controller) run from Maven Central jars on the machine's JDK 17+.
#
#   scripts/kafka.sh fetch      download the jars once into the cache (mvn);
#                               last stdout line: the lib folder
#   scripts/kafka.sh start      fetch if needed, format storage once, start,
#                               wait until it answers metadata;
#                               last stdout line: 127.0.0.1:PORT
#   scripts/kafka.sh stop       SIGTERM, up to 30 s, then SIGKILL; fine when not running
#   scripts/kafka.sh status     exit 0 when running and answering, 3 when not
#   scripts/kafka.sh bootstrap  print 127.0.0.1:PORT
#   scripts/kafka.sh version    print the Kafka version of the jars in use (e.g. 4.1.1)
#
# Environment (defaults): OTPFLOW_BROKER_VERSION (4.1.1), OTPFLOW_BROKER_PORT
# (19092; the controller listener uses PORT+1), OTPFLOW_BROKER_PARTITIONS (6),
# OTPFLOW_STATE_DIR (<repo>/.state), OTPFLOW_CACHE_DIR (~/.cache/otpflow),
# OTPFLOW_BROKER_HEAP (512m), OTPFLOW_BROKER_JVM_OPTS (extra JVM flags),
# OTPFLOW_BROKER_START_TIMEOUT (90 s), OTPFLOW_BROKER_FETCH_TIMEOUT (900 s).
# Not OTPFLOW_KAFKA_*: the services pass every OTPFLOW_KAFKA_<X> to librdkafka
# as property <x> (docs/api.md §7), so e.g. OTPFLOW_KAFKA_PORT would break them.
# OTPFLOW_KAFKA_VERSION/_PORT/_PARTITIONS are still read, with a warning, when
# the OTPFLOW_BROKER_ name is unset.
#
# Shared with scripts/kafka-cluster.sh (three nodes): scripts/kafka-lib.sh.
#
# Files: jars in <cache>/kafka-<version>/lib (complete only when
# <cache>/kafka-<version>/.complete exists; later runs use no network);
# state in <state>/kafka/: server.properties, log4j2.properties, data/ (log.dirs),
# logs/server.log (broker log), kafka.out (JVM stdout/stderr), kafka.pid.
#
# Quorum: static `controller.quorum.voters=1@127.0.0.1:PORT+1`, so storage is
# formatted without --standalone and a changed port still works with old data.
#
# Client compatibility with Debian 12's librdkafka 2.0.2 (kcat 1.7.1 and
# python3-confluent-kafka 1.7.0). Kafka 4.0 dropped old protocol versions
# (KIP-896), so each served 4.x was checked: metadata listing,
# idempotent produce with acks=all, consume, consumer group (kcat -G),
# transactional produce + read_committed consume, and send_offsets_to_transaction
# all PASS on 4.0.2, 4.1.1, 4.2.2, 4.3.1 and 4.4.0 (the newest served). No
# version had to be excluded; the default stays 4.1.1 (a patch release of a
# mature line); OTPFLOW_BROKER_VERSION=4.4.0 works as well. Re-check any
# version with scripts/kafka/compat-check.sh "$(scripts/kafka.sh start)".
set -euo pipefail
OTP_NAME=kafka.sh
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/kafka-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/kafka-lib.sh"

usage() { awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "${BASH_SOURCE[0]}"; }

PORT=$(kafka_setting PORT 19092)
[[ "$PORT" =~ ^[0-9]+$ ]] || otp_die "OTPFLOW_BROKER_PORT must be a number, got '$PORT'"
CPORT=$((PORT + 1))
PARTITIONS=$(kafka_setting PARTITIONS 6)
[[ "$PARTITIONS" =~ ^[1-9][0-9]*$ ]] || otp_die "OTPFLOW_BROKER_PARTITIONS must be a positive number, got '$PARTITIONS'"
HEAP=${OTPFLOW_BROKER_HEAP:-512m}
START_TIMEOUT=${OTPFLOW_BROKER_START_TIMEOUT:-90}
STOP_TIMEOUT=30

STATE=""          # set by init_state
PIDFILE=""

init_state() {
  STATE=$(otp_state_dir)/kafka
  mkdir -p "$STATE"
  PIDFILE=$STATE/kafka.pid
}

broker_pid() { kafka_node_pid "$STATE"; }

# lock_state SECONDS: serialise start/stop per state dir (fd 9). A broker
# started by an early draft of this script inherited fd 9 and holds the lock
# for life; then go on without the lock instead of timing out.
lock_state() {
  exec 9>"$STATE/.lock"
  flock -n 9 && return 0
  local pid; pid=$(broker_pid)
  if [ -n "$pid" ] && [ "$(readlink -f "/proc/$pid/fd/9" 2>/dev/null)" = "$(readlink -f "$STATE/.lock")" ]; then
    otp_warn "broker pid $pid holds $STATE/.lock (started by an older kafka.sh); going on without the lock"
    return 0
  fi
  flock -w "$1" 9 || otp_die "another kafka.sh holds $STATE/.lock for over $1s"
}

running_port() { cat "$STATE/port" 2>/dev/null || echo "$PORT"; }

answers() { kafka_answers 127.0.0.1 "$1" 1; }   # answers PORT

cmd_start() {
  kafka_prepare
  init_state
  lock_state $((START_TIMEOUT + 30))

  local pid; pid=$(broker_pid)
  if [ -n "$pid" ]; then
    local p; p=$(running_port)
    [ "$p" = "$PORT" ] || otp_warn "already running on port $p (OTPFLOW_BROKER_PORT=$PORT ignored; stop it first)"
    if ! otp_wait_until "$START_TIMEOUT" "the running broker (pid $pid) to answer on 127.0.0.1:$p" answers "$p"; then
      otp_tail_log "$STATE/logs/server.log"
      otp_die "broker pid $pid is running but does not answer; try scripts/kafka.sh stop"
    fi
    otp_info "already running (pid $pid, kafka $(kafka_jar_version "$(cat "$STATE/lib")"))"
    echo "127.0.0.1:$p"; return 0
  fi

  kafka_port_busy 127.0.0.1 "$PORT" && otp_die "port 127.0.0.1:$PORT is in use by another process; set OTPFLOW_BROKER_PORT"
  kafka_port_busy 127.0.0.1 "$CPORT" && otp_die "port 127.0.0.1:$CPORT (controller) is in use by another process; set OTPFLOW_BROKER_PORT"

  mkdir -p "$STATE/logs"
  kafka_write_config "$STATE" 1 "1@127.0.0.1:$CPORT" 127.0.0.1 "$PORT" "$CPORT" "$PARTITIONS" 1 1
  kafka_format "$STATE" "$(kafka_new_cluster_id "$STATE/cluster.id")"
  echo "$PORT" >"$STATE/port"

  otp_info "starting kafka $KAFKA_VERSION on 127.0.0.1:$PORT (controller :$CPORT, log $STATE/logs/server.log)"
  kafka_launch "$STATE" "$HEAP"
  pid=$KAFKA_PID
  local t0=$SECONDS
  ready() {
    otp_pid_alive "$pid" ||
      kafka_launch_failed "$STATE" "$pid" "$KAFKA_MARK" "kafka exited during start (see the logs above)"
    answers "$PORT"
  }
  otp_wait_until "$START_TIMEOUT" "kafka to answer metadata on 127.0.0.1:$PORT" ready ||
    kafka_launch_failed "$STATE" "$pid" "$KAFKA_MARK" "kafka did not become ready within ${START_TIMEOUT}s"
  otp_info "ready in $((SECONDS - t0))s (pid $pid)"
  echo "127.0.0.1:$PORT"
}

cmd_stop() {
  init_state
  lock_state 60
  local pid; pid=$(broker_pid)
  if [ -z "$pid" ]; then rm -f "$PIDFILE"; otp_info "not running"; return 0; fi
  otp_info "stopping kafka (pid $pid, SIGTERM, up to ${STOP_TIMEOUT}s)"
  kafka_stop_pid "$pid" "$STOP_TIMEOUT"
  rm -f "$PIDFILE"
  otp_info "stopped"
}

cmd_status() {
  init_state
  local pid p; pid=$(broker_pid); p=$(running_port)
  if [ -z "$pid" ]; then echo "not running"; exit 3; fi
  if answers "$p"; then echo "running (pid $pid) at 127.0.0.1:$p"; exit 0; fi
  echo "process $pid is up but 127.0.0.1:$p does not answer"; exit 3
}

cmd_bootstrap() {
  init_state
  if [ -n "$(broker_pid)" ]; then echo "127.0.0.1:$(running_port)"; else echo "127.0.0.1:$PORT"; fi
}

cmd_version() {
  init_state
  local lib=$KAFKA_LIB
  if [ -n "$(broker_pid)" ] && [ -s "$STATE/lib" ]; then lib=$(cat "$STATE/lib"); fi
  kafka_jar_version "$lib" || otp_die "no kafka jars in $lib; run scripts/kafka.sh fetch"
}

case "${1:-}" in
  -h|--help|help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
esac
cmd=$1; shift
[ $# -eq 0 ] || otp_die "'$cmd' takes no arguments"
case "$cmd" in
  fetch)     kafka_fetch ;;
  start)     cmd_start ;;
  stop)      cmd_stop ;;
  status)    cmd_status ;;
  bootstrap) cmd_bootstrap ;;
  version)   cmd_version ;;
  *) otp_warn "unknown command '$cmd'"; usage >&2; exit 2 ;;
esac
