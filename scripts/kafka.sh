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

DEFAULT_VERSION=4.1.1   # see the compatibility note in the header
LOG4J_VERSION=2.24.3
# Kafka's pom brings slf4j-api 1.7.36, which cannot see log4j-slf4j2-impl (the
# broker would log nothing); pinning slf4j-api 2.x here makes the binding work
# (SLF4J 2 is API-compatible with callers compiled against 1.7).
SLF4J_VERSION=2.0.17
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

usage() { awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "${BASH_SOURCE[0]}"; }

# setting NAME DEFAULT: $OTPFLOW_BROKER_<NAME>, else the legacy
# $OTPFLOW_KAFKA_<NAME> (warned), else DEFAULT.
setting() {
  local new="OTPFLOW_BROKER_$1" old="OTPFLOW_KAFKA_$1"
  if [ -n "${!new:-}" ]; then echo "${!new}"
  elif [ -n "${!old:-}" ]; then
    otp_warn "$old is deprecated (the services read OTPFLOW_KAFKA_* as librdkafka properties); use $new"
    echo "${!old}"
  else echo "$2"; fi
}
VERSION=$(setting VERSION "$DEFAULT_VERSION")
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || otp_die "OTPFLOW_BROKER_VERSION must look like 4.1.1, got '$VERSION'"
PORT=$(setting PORT 19092)
[[ "$PORT" =~ ^[0-9]+$ ]] || otp_die "OTPFLOW_BROKER_PORT must be a number, got '$PORT'"
CPORT=$((PORT + 1))
PARTITIONS=$(setting PARTITIONS 6)
[[ "$PARTITIONS" =~ ^[1-9][0-9]*$ ]] || otp_die "OTPFLOW_BROKER_PARTITIONS must be a positive number, got '$PARTITIONS'"
HEAP=${OTPFLOW_BROKER_HEAP:-512m}
START_TIMEOUT=${OTPFLOW_BROKER_START_TIMEOUT:-90}
STOP_TIMEOUT=30
FETCH_TIMEOUT=${OTPFLOW_BROKER_FETCH_TIMEOUT:-900}

CACHE_ROOT=${OTPFLOW_CACHE_DIR:-$HOME/.cache/otpflow}
KDIR=$CACHE_ROOT/kafka-$VERSION
LIB=$KDIR/lib
STAMP=$KDIR/.complete

STATE=""          # set by init_state
PIDFILE=""

init_state() {
  STATE=$(otp_state_dir)/kafka
  mkdir -p "$STATE"
  PIDFILE=$STATE/kafka.pid
}

# ---------------------------------------------------------------- fetch ---

fetched() { [ -f "$STAMP" ] && [ -f "$LIB/kafka_2.13-$VERSION.jar" ]; }

check_java() {
  otp_need java "install openjdk-17-jre-headless"
  local v major
  v=$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')
  major=${v%%.*}; [ "$major" = "1" ] && major=$(echo "$v" | cut -d. -f2)
  if ! [[ "$major" =~ ^[0-9]+$ ]] || (( major < 17 )); then
    otp_die "Kafka 4.x needs Java 17 or newer; 'java' is version '$v'"
  fi
}

cmd_fetch() {
  if fetched; then otp_info "kafka $VERSION jars already cached in $LIB"; echo "$LIB"; return 0; fi
  otp_need mvn "install the 'maven' package"
  mkdir -p "$KDIR"
  exec 8>"$KDIR.lock"
  flock -w "$FETCH_TIMEOUT" 8 || otp_die "another fetch holds $KDIR.lock for over ${FETCH_TIMEOUT}s"
  if fetched; then otp_info "kafka $VERSION jars cached by a concurrent fetch"; echo "$LIB"; return 0; fi

  local work=$KDIR/work partial=$KDIR/lib.partial t0=$SECONDS
  rm -rf "$work" "$partial" "$STAMP"
  mkdir -p "$work"
  cat >"$work/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by scripts/kafka.sh fetch: resolves the Kafka broker jars. -->
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 http://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>otpflow.local</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-api</artifactId>
      <version>$SLF4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j2-impl</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
  otp_info "fetching org.apache.kafka:kafka_2.13:$VERSION (+ log4j $LOG4J_VERSION, slf4j $SLF4J_VERSION) with mvn (up to ${FETCH_TIMEOUT}s)"
  if ! timeout "$FETCH_TIMEOUT" mvn -q -B -f "$work/pom.xml" "$DEP_PLUGIN:copy-dependencies" \
        -DincludeScope=runtime -DoutputDirectory="$partial" >"$KDIR/fetch.log" 2>&1; then
    otp_tail_log "$KDIR/fetch.log" 30
    otp_die "mvn could not fetch kafka $VERSION (timed out or failed); see $KDIR/fetch.log"
  fi
  [ -f "$partial/kafka_2.13-$VERSION.jar" ] || otp_die "mvn finished but kafka_2.13-$VERSION.jar is missing in $partial"
  ls "$partial"/log4j-core-*.jar "$partial"/log4j-slf4j2-impl-*.jar "$partial/slf4j-api-$SLF4J_VERSION.jar" >/dev/null 2>&1 ||
    otp_die "mvn finished but the log4j2 binding is missing in $partial"
  rm -rf "$LIB"
  mv "$partial" "$LIB"
  rm -rf "$work"
  date -u +%FT%TZ >"$STAMP"     # written last: marks the cache complete
  otp_info "fetched $(find "$LIB" -name '*.jar' | wc -l) jars into $LIB in $((SECONDS - t0))s"
  echo "$LIB"
}

# --------------------------------------------------------------- broker ---

# Our broker's cmdline contains kafka.Kafka and our server.properties path.
is_our_broker() {
  local pid=$1
  otp_pid_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "kafka.Kafka $STATE/server.properties"
}

# The broker's pid: from the pid file, else by scanning /proc for our cmdline
# (covers a lost pid file); empty when not running. Removes stale pid files.
broker_pid() {
  local pid="" p
  if [ -f "$PIDFILE" ]; then
    pid=$(cat "$PIDFILE" 2>/dev/null || true)
    if is_our_broker "$pid"; then echo "$pid"; return 0; fi
    rm -f "$PIDFILE"
  fi
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    if is_our_broker "$p"; then echo "$p" >"$PIDFILE"; echo "$p"; return 0; fi
  done
  return 0
}

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

answers() {   # answers PORT: the broker returns metadata listing itself
  local out
  out=$(timeout 10 kcat -F /dev/null -L -b "127.0.0.1:$1" -m 3 2>/dev/null) || return 1
  grep -q "broker 1 at 127.0.0.1:$1" <<<"$out"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

write_config() {
  cat >"$STATE/server.properties" <<EOF
# Written by scripts/kafka.sh at each start; edits are lost.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$STATE/data
num.partitions=$PARTITIONS
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=24
log.segment.bytes=67108864
EOF
  cat >"$STATE/log4j2.properties" <<EOF
# Written by scripts/kafka.sh at each start; edits are lost.
status = warn
shutdownHook = disable
name = otpflow-kafka
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = $STATE/logs/server.log
appender.file.filePattern = $STATE/logs/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
EOF
}

java_common() {
  printf '%s\n' -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true \
    "-Dlog4j2.configurationFile=$STATE/log4j2.properties" "-Dkafka.logs.dir=$STATE/logs"
}

format_storage() {
  [ -f "$STATE/data/meta.properties" ] && return 0
  rm -rf "$STATE/data"          # no meta.properties: nothing worth keeping
  local cid
  if [ -s "$STATE/cluster.id" ]; then
    cid=$(cat "$STATE/cluster.id")
  else                          # like StorageTool random-uuid, without a JVM
    cid=-
    while [[ "$cid" == -* ]]; do
      cid=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    done
    echo "$cid" >"$STATE/cluster.id"
  fi
  otp_info "formatting storage (cluster id $cid)"
  mapfile -t jopts < <(java_common)
  if ! timeout 120 java "${jopts[@]}" -Xmx256m -cp "$LIB/*" kafka.tools.StorageTool format \
        -t "$cid" -c "$STATE/server.properties" >"$STATE/format.log" 2>&1; then
    otp_tail_log "$STATE/format.log"
    otp_die "kafka.tools.StorageTool format failed (or took over 120s)"
  fi
}

cmd_start() {
  otp_need kcat "install the 'kcat' package"
  check_java
  fetched || cmd_fetch >/dev/null
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
    otp_info "already running (pid $pid, kafka $(jar_version "$(cat "$STATE/lib")"))"
    echo "127.0.0.1:$p"; return 0
  fi

  port_busy "$PORT" && otp_die "port 127.0.0.1:$PORT is in use by another process; set OTPFLOW_BROKER_PORT"
  port_busy "$CPORT" && otp_die "port 127.0.0.1:$CPORT (controller) is in use by another process; set OTPFLOW_BROKER_PORT"

  mkdir -p "$STATE/logs"
  write_config
  format_storage
  echo "$LIB" >"$STATE/lib"
  echo "$PORT" >"$STATE/port"

  mapfile -t jopts < <(java_common)
  # shellcheck disable=SC2206
  local extra=(${OTPFLOW_BROKER_JVM_OPTS:-})
  otp_info "starting kafka $VERSION on 127.0.0.1:$PORT (controller :$CPORT, log $STATE/logs/server.log)"
  : >"$STATE/kafka.out"
  MARK="==== scripts/kafka.sh start $(date -u +%FT%TZ) pid $$ ===="
  echo "$MARK" >>"$STATE/logs/server.log"
  # setsid: own session, so the broker survives the calling shell; the
  # background subshell is not a group leader, so setsid execs in place and
  # $! is the JVM's pid. 8>&- 9>&-: the JVM must not inherit our lock fds.
  (cd "$STATE" && exec setsid java -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseSerialGC \
      -XX:+ExitOnOutOfMemoryError "${jopts[@]}" "${extra[@]}" \
      -cp "$LIB/*" kafka.Kafka "$STATE/server.properties" \
      </dev/null >>"$STATE/kafka.out" 2>&1 8>&- 9>&-) &
  pid=$!
  echo "$pid" >"$PIDFILE"

  local t0=$SECONDS
  start_failed() {
    otp_tail_log "$STATE/kafka.out" 20
    # only this start's part of the broker log
    awk -v m="$MARK" '$0 == m {n=NR} {l[NR]=$0} END {for (i=n+1; i<=NR; i++) print l[i]}' \
      "$STATE/logs/server.log" >"$STATE/logs/last-start.log" 2>/dev/null || true
    otp_tail_log "$STATE/logs/last-start.log"
    if otp_pid_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    rm -f "$PIDFILE"
    otp_die "$1"
  }
  ready() {
    otp_pid_alive "$pid" || start_failed "kafka exited during start (see the logs above)"
    answers "$PORT"
  }
  otp_wait_until "$START_TIMEOUT" "kafka to answer metadata on 127.0.0.1:$PORT" ready ||
    start_failed "kafka did not become ready within ${START_TIMEOUT}s"
  otp_info "ready in $((SECONDS - t0))s (pid $pid)"
  echo "127.0.0.1:$PORT"
}

cmd_stop() {
  init_state
  lock_state 60
  local pid; pid=$(broker_pid)
  if [ -z "$pid" ]; then rm -f "$PIDFILE"; otp_info "not running"; return 0; fi
  otp_info "stopping kafka (pid $pid, SIGTERM, up to ${STOP_TIMEOUT}s)"
  kill -TERM "$pid" 2>/dev/null || true
  if ! otp_wait_until "$STOP_TIMEOUT" "kafka pid $pid to exit" eval '! otp_pid_alive '"$pid"; then
    otp_warn "sending SIGKILL to $pid"
    kill -KILL "$pid" 2>/dev/null || true
    otp_wait_until 10 "kafka pid $pid to die" eval '! otp_pid_alive '"$pid" ||
      otp_die "kafka pid $pid survived SIGKILL"
  fi
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

jar_version() {   # jar_version LIBDIR: version from kafka_2.13-<v>.jar
  local j
  for j in "$1"/kafka_2.13-*.jar; do
    [ -f "$j" ] || continue
    case "$j" in *-test.jar|*-sources.jar|*-javadoc.jar) continue ;; esac
    j=${j##*/kafka_2.13-}; echo "${j%.jar}"; return 0
  done
  return 1
}

cmd_version() {
  init_state
  local lib=$LIB
  if [ -n "$(broker_pid)" ] && [ -s "$STATE/lib" ]; then lib=$(cat "$STATE/lib"); fi
  jar_version "$lib" || otp_die "no kafka jars in $lib; run scripts/kafka.sh fetch"
}

case "${1:-}" in
  -h|--help|help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
esac
cmd=$1; shift
[ $# -eq 0 ] || otp_die "'$cmd' takes no arguments"
case "$cmd" in
  fetch)     cmd_fetch ;;
  start)     cmd_start ;;
  stop)      cmd_stop ;;
  status)    cmd_status ;;
  bootstrap) cmd_bootstrap ;;
  version)   cmd_version ;;
  *) otp_warn "unknown command '$cmd'"; usage >&2; exit 2 ;;
esac
