#!/usr/bin/env bash
# kafka-cluster.sh - a real 3-node Apache Kafka 4.x cluster (KRaft, three
# combined broker+controller nodes, all three quorum voters) from the same
# cached Maven jars as scripts/kafka.sh, for the failure tests.
#
#   scripts/kafka-cluster.sh start       fetch if needed, set up the network,
#                                        format storage once, start the three
#                                        nodes (those not running when some
#                                        are), wait until each answers
#                                        listing all three brokers and the
#                                        quorum has a leader; last stdout
#                                        line: the bootstrap list
#   scripts/kafka-cluster.sh stop        SIGTERM to all (SIGKILL after 20 s),
#                                        then remove the namespaces and links;
#                                        idempotent, also after a crash
#   scripts/kafka-cluster.sh clean       stop, then delete the cluster's data
#   scripts/kafka-cluster.sh status      one line per node and the quorum
#                                        leader; exit 0 when all three run
#                                        and answer, 3 otherwise
#   scripts/kafka-cluster.sh bootstrap   print HOST:PORT,HOST:PORT,HOST:PORT
#   scripts/kafka-cluster.sh kill N      SIGKILL node N (1-3); last stdout
#                                        line: when (epoch seconds)
#   scripts/kafka-cluster.sh restart N   stop node N if it runs (SIGTERM),
#                                        start it (same server.properties),
#                                        wait until it answers and every
#                                        partition has its full ISR
#   scripts/kafka-cluster.sh cut N       take node N's link down: it can
#                                        reach neither the other nodes nor
#                                        the clients (network namespaces);
#                                        last stdout line: when (epoch s)
#   scripts/kafka-cluster.sh heal N      bring the link up, wait as restart
#   scripts/kafka-cluster.sh leader TOPIC PARTITION
#                                        print the node leading it (-1: none)
#   scripts/kafka-cluster.sh controller  print the node leading the quorum
#   scripts/kafka-cluster.sh wait-synced [SECONDS]
#                                        wait until every partition of every
#                                        topic has all its replicas in sync
#   scripts/kafka-cluster.sh fetch       download the jars once (as kafka.sh)
#
# Network. As root with iproute2 (OTPFLOW_CLUSTER_NETNS=auto, the default),
# node N runs inside its own network namespace otpf<PORT>n<N>, reachable at
# <SUBNET>.1N through a veth pair whose host end (otpf<PORT>v<N>) sits on the
# bridge otpf<PORT>br (<SUBNET>.1/24) in the root namespace, where the
# clients run. `cut` sets that host end down: the node's connections hang
# (no reset), like a lost machine, until `heal`. The namespaces have no route
# out; an `unreachable` route for <SUBNET>.0/24 (metric 4000000000, below
# the bridge's) stays after stop so that a client left running never sends
# these addresses out of the machine. OTPFLOW_CLUSTER_NETNS=0 runs the nodes
# on 127.0.0.1 instead (no root needed; cut and heal then fail).
#
# Ports: node N listens on PORT+2(N-1), its controller on the port after it.
#
# Environment (defaults): OTPFLOW_CLUSTER_PORT (19300),
# OTPFLOW_CLUSTER_SUBNET (10.213.<PORT mod 250>; three octets),
# OTPFLOW_CLUSTER_NETNS (auto), OTPFLOW_CLUSTER_FAILOVER (fast: the
# failure-detection settings below; kafka: Kafka's own defaults),
# OTPFLOW_BROKER_EXTRA_PROPERTIES (key=value lines appended to every node's
# server.properties; they win), OTPFLOW_BROKER_HEAP (384m),
# OTPFLOW_BROKER_PARTITIONS (6), OTPFLOW_BROKER_START_TIMEOUT (180 s),
# OTPFLOW_STATE_DIR (<repo>/.state), and what scripts/kafka-lib.sh reads.
# State: <state>/kafka-cluster/{layout,cluster.id,node1,node2,node3}; a node
# folder is laid out as kafka.sh's (see scripts/kafka-lib.sh).
#
# Every topic, the internal ones included, has replication factor 3 and
# min.insync.replicas=2: one node may be lost without losing a write
# acknowledged with acks=all. Failover settings (fast) and why: docs/operations.md
# "Running on a Kafka cluster".
set -euo pipefail
OTP_NAME=kafka-cluster.sh
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/kafka-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/kafka-lib.sh"

usage() { awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "${BASH_SOURCE[0]}"; }

NODES=(1 2 3)
PORT=${OTPFLOW_CLUSTER_PORT:-19300}
[[ "$PORT" =~ ^[0-9]+$ ]] && (( PORT > 1023 && PORT < 65530 )) ||
  otp_die "OTPFLOW_CLUSTER_PORT must be a port number, got '$PORT'"
SUBNET=${OTPFLOW_CLUSTER_SUBNET:-10.213.$((PORT % 250))}
[[ "$SUBNET" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || otp_die "OTPFLOW_CLUSTER_SUBNET must be three octets like 10.213.50, got '$SUBNET'"
PARTITIONS=$(kafka_setting PARTITIONS 6)
[[ "$PARTITIONS" =~ ^[1-9][0-9]*$ ]] || otp_die "OTPFLOW_BROKER_PARTITIONS must be a positive number, got '$PARTITIONS'"
HEAP=${OTPFLOW_BROKER_HEAP:-384m}
START_TIMEOUT=${OTPFLOW_BROKER_START_TIMEOUT:-180}
STOP_TIMEOUT=20
SYNC_TIMEOUT=120
FAILOVER=${OTPFLOW_CLUSTER_FAILOVER:-fast}
case "$FAILOVER" in fast|kafka) ;; *) otp_die "OTPFLOW_CLUSTER_FAILOVER must be fast or kafka, got '$FAILOVER'" ;; esac

STATE=$(otp_state_dir)/kafka-cluster
mkdir -p "$STATE"

# ------------------------------------------------------------- layout ---
# The layout of the running (or last started) cluster is kept in
# <state>/layout, so that stop, kill, cut... act on what start set up even
# when the environment changed since.

NETNS=0
load_layout() {
  if [ -s "$STATE/layout" ]; then
    # shellcheck disable=SC1091
    . "$STATE/layout"
  else
    case "${OTPFLOW_CLUSTER_NETNS:-auto}" in
      0|no|false) NETNS=0 ;;
      1|yes|true) NETNS=1 ;;
      auto) if [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null 2>&1; then NETNS=1; else NETNS=0; fi ;;
      *) otp_die "OTPFLOW_CLUSTER_NETNS must be auto, 1 or 0" ;;
    esac
  fi
}
save_layout() { printf 'NETNS=%s\nPORT=%s\nSUBNET=%s\n' "$NETNS" "$PORT" "$SUBNET" >"$STATE/layout"; }

dir_of()   { echo "$STATE/node$1"; }
port_of()  { echo $((PORT + 2 * ($1 - 1))); }
cport_of() { echo $((PORT + 2 * ($1 - 1) + 1)); }
host_of()  { if [ "$NETNS" = 1 ]; then echo "$SUBNET.1$1"; else echo 127.0.0.1; fi; }
ns_of()    { echo "otpf${PORT}n$1"; }
veth_of()  { echo "otpf${PORT}v$1"; }
bridge()   { echo "otpf${PORT}br"; }
addr_of()  { echo "$(host_of "$1"):$(port_of "$1")"; }
bootstrap_list() { local n out=""; for n in "${NODES[@]}"; do out+="${out:+,}$(addr_of "$n")"; done; echo "$out"; }
node_pid() { kafka_node_pid "$(dir_of "$1")"; }

check_node() { [[ "${1:-}" =~ ^[123]$ ]] || otp_die "NODE must be 1, 2 or 3, got '${1:-}'"; }

# lock SECONDS: one command at a time changes the cluster (fd 9).
lock() {
  exec 9>"$STATE/.lock"
  flock -w "$1" 9 || otp_die "another kafka-cluster.sh holds $STATE/.lock for over $1s"
}

# ------------------------------------------------------------ network ---

net_up() {   # bridge, guard route, one namespace + veth per node
  [ "$NETNS" = 1 ] || return 0
  otp_need ip "install the 'iproute2' package"
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    [[ "$ns" == "otpf${PORT}n"* ]] && [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] &&
      otp_die "namespace $ns has running processes: another cluster on port $PORT (other OTPFLOW_STATE_DIR)? stop it or set OTPFLOW_CLUSTER_PORT"
  done
  net_down
  local br n; br=$(bridge)
  otp_info "network: bridge $br $SUBNET.1/24, nodes at $SUBNET.11-13 in namespaces $(ns_of 1)..3"
  ip link add "$br" type bridge
  ip addr add "$SUBNET.1/24" dev "$br"
  ip link set "$br" up
  ip route replace unreachable "$SUBNET.0/24" metric 4000000000
  for n in "${NODES[@]}"; do
    ip netns add "$(ns_of "$n")"
    ip link add "$(veth_of "$n")" type veth peer name eth0 netns "$(ns_of "$n")"
    ip link set "$(veth_of "$n")" master "$br" up
    ip -n "$(ns_of "$n")" addr add "$(host_of "$n")/24" dev eth0
    ip -n "$(ns_of "$n")" link set eth0 up
    ip -n "$(ns_of "$n")" link set lo up
  done
}

link_gone() { ! ip link show "$1" >/dev/null 2>&1; }

net_down() {   # idempotent; leaves the guard route (see the header)
  [ "$NETNS" = 1 ] || return 0
  command -v ip >/dev/null 2>&1 || return 0
  local n
  for n in "${NODES[@]}"; do   # processes inside: not ours (another state dir)
    if [ -n "$(ip netns pids "$(ns_of "$n")" 2>/dev/null)" ]; then
      otp_warn "namespace $(ns_of "$n") has processes of another cluster; its network is left alone"
      return 0
    fi
  done
  for n in "${NODES[@]}"; do
    ip netns del "$(ns_of "$n")" 2>/dev/null || true
    ip link del "$(veth_of "$n")" 2>/dev/null || true
    # deleting a namespace frees its veth asynchronously
    otp_wait_until 10 "link $(veth_of "$n") to go" link_gone "$(veth_of "$n")" ||
      otp_die "link $(veth_of "$n") did not go away"
  done
  ip link del "$(bridge)" 2>/dev/null || true
}

link_state() {   # link_state N: up, cut, absent, or - (no namespaces)
  [ "$NETNS" = 1 ] || { echo -; return 0; }
  local l; l=$(ip -br link show "$(veth_of "$1")" 2>/dev/null) || { echo absent; return 0; }
  if grep -qw DOWN <<<"$l"; then echo cut; else echo up; fi
}

# ------------------------------------------------------------- nodes ---

voters() {
  local n out=""
  for n in "${NODES[@]}"; do out+="${out:+,}$n@$(host_of "$n"):$(cport_of "$n")"; done
  echo "$out"
}

# The failure detection of the fast profile; docs/operations.md explains
# each value and its trade-off.
failover_properties() {
  [ "$FAILOVER" = fast ] || return 0
  cat <<'EOF'
# Failover profile "fast" (OTPFLOW_CLUSTER_FAILOVER), docs/operations.md.
broker.heartbeat.interval.ms=250
broker.session.timeout.ms=1500
controller.quorum.fetch.timeout.ms=1000
controller.quorum.election.timeout.ms=500
controller.quorum.election.backoff.max.ms=500
EOF
}

write_node_config() {
  local n=$1 dir; dir=$(dir_of "$1")
  mkdir -p "$dir/logs"
  kafka_write_config "$dir" "$n" "$(voters)" "$(host_of "$n")" "$(port_of "$n")" \
    "$(cport_of "$n")" "$PARTITIONS" 3 2
  failover_properties >>"$dir/server.properties"
  if [ -n "${OTPFLOW_BROKER_EXTRA_PROPERTIES:-}" ]; then
    printf '# OTPFLOW_BROKER_EXTRA_PROPERTIES\n%s\n' "$OTPFLOW_BROKER_EXTRA_PROPERTIES" >>"$dir/server.properties"
  fi
}

launch_node() {   # launch_node N: sets KAFKA_PID, KAFKA_MARK
  local n=$1 prefix=()
  [ "$NETNS" = 1 ] && prefix=(ip netns exec "$(ns_of "$n")")
  kafka_launch "$(dir_of "$n")" "$HEAP" "${prefix[@]}"
}

# node_ready N [BROKERS]: node N runs and answers, listing BROKERS brokers.
node_ready() {
  local pid; pid=$(node_pid "$1")
  [ -n "$pid" ] || return 1
  kafka_answers "$(host_of "$1")" "$(port_of "$1")" "$1" "${2:-3}"
}

# quorum_leader: the quorum leader the running, connected nodes recorded
# last (their quorum-state file: the highest epoch with a leader wins);
# -1 when none is known.
quorum_leader() {
  local n f best=-1 epoch=-1 l e
  for n in "${NODES[@]}"; do
    [ -n "$(node_pid "$n")" ] && [ "$(link_state "$n")" != cut ] || continue
    f=$(dir_of "$n")/data/__cluster_metadata-0/quorum-state
    [ -s "$f" ] || continue
    l=$(grep -o '"leaderId":-\?[0-9]*' "$f" | cut -d: -f2)
    e=$(grep -o '"leaderEpoch":[0-9]*' "$f" | cut -d: -f2)
    if [ -n "$l" ] && [ -n "$e" ] && (( l >= 1 && e > epoch )); then best=$l; epoch=$e; fi
  done
  echo "$best"
}

has_quorum_leader() { [ "$(quorum_leader)" -ge 1 ]; }

# metadata_json: every topic's partitions as JSON, from the first node that
# answers.
metadata_json() {
  local n out
  for n in "${NODES[@]}"; do
    [ -n "$(node_pid "$n")" ] && [ "$(link_state "$n")" != cut ] || continue
    if out=$(timeout 10 kcat -F /dev/null -L -J -b "$(addr_of "$n")" -m 5 "$@" 2>/dev/null); then
      echo "$out"; return 0
    fi
  done
  return 1
}

# all_synced: every partition of every topic has a leader and all its
# replicas in its ISR, seen from every node (each node's view can lag).
all_synced() {
  local n out
  for n in "${NODES[@]}"; do
    node_ready "$n" 3 || return 1
    out=$(timeout 10 kcat -F /dev/null -L -b "$(addr_of "$n")" -m 5 2>/dev/null) || return 1
    # "partition 0, leader 1, replicas: 1,2,3, isrs: 1,3,2": the ISR is a
    # subset of the replicas, so equal counts mean equal sets.
    awk '$1 == "partition" {
           leader = $4; sub(",", "", leader)
           r = $0; sub(/.*replicas: /, "", r); sub(/, isrs:.*/, "", r)
           i = $0; sub(/.*isrs: /, "", i); sub(/,? *(Broker:.*)?$/, "", i)
           if (leader + 0 < 1 || split(r, a, ",") != split(i, b, ",")) bad++
         }
         END { exit bad > 0 }' <<<"$out" || return 1
  done
}

# ------------------------------------------------------------ commands ---

cmd_start() {
  kafka_prepare
  load_layout
  lock $((START_TIMEOUT + 60))
  local n running=0 pid
  for n in "${NODES[@]}"; do [ -n "$(node_pid "$n")" ] && running=$((running + 1)); done
  if (( running == 3 )); then
    otp_wait_until "$START_TIMEOUT" "the running cluster to answer" eval 'node_ready 1 && node_ready 2 && node_ready 3' ||
      otp_die "the cluster runs but does not answer; try scripts/kafka-cluster.sh stop"
    otp_info "already running ($(bootstrap_list))"
    bootstrap_list; return 0
  fi
  if (( running == 0 )); then   # a new start takes the current settings
    rm -f "$STATE/layout"
    load_layout
    save_layout
    otp_info "new start: failover profile $FAILOVER"
    net_up
    if [ "$NETNS" = 0 ]; then
      for n in "${NODES[@]}"; do
        kafka_port_busy 127.0.0.1 "$(port_of "$n")" && otp_die "port $(port_of "$n") is in use; set OTPFLOW_CLUSTER_PORT"
        kafka_port_busy 127.0.0.1 "$(cport_of "$n")" && otp_die "port $(cport_of "$n") is in use; set OTPFLOW_CLUSTER_PORT"
      done
    fi
    local cid; cid=$(kafka_new_cluster_id "$STATE/cluster.id")
    for n in "${NODES[@]}"; do write_node_config "$n"; done
    local pids=()   # format the three nodes at once (one JVM each)
    for n in "${NODES[@]}"; do (kafka_format "$(dir_of "$n")" "$cid") & pids+=($!); done
    for pid in "${pids[@]}"; do wait "$pid" || otp_die "formatting storage failed (see above)"; done
  else
    otp_info "$running of 3 nodes run: starting the others"
  fi

  local t0=$SECONDS marks=() npids=()
  otp_info "starting kafka $KAFKA_VERSION (heap $HEAP each, logs $STATE/node*/logs/server.log)"
  for n in "${NODES[@]}"; do
    npids[n]=$(node_pid "$n")
    [ -z "${npids[n]}" ] || continue
    launch_node "$n"
    npids[n]=$KAFKA_PID; marks[n]=$KAFKA_MARK
    otp_info "node $n: pid $KAFKA_PID at $(addr_of "$n") (controller :$(cport_of "$n"))"
  done
  local seen=""
  ready() {
    local n
    for n in "${NODES[@]}"; do
      otp_pid_alive "${npids[n]}" ||
        kafka_launch_failed "$(dir_of "$n")" "${npids[n]}" "${marks[n]:-}" "node $n exited during start (see the logs above)"
    done
    for n in "${NODES[@]}"; do
      if node_ready "$n" 3; then
        [[ "$seen" == *"$n"* ]] || { seen+=$n; otp_info "node $n answers and lists 3 brokers ($((SECONDS - t0))s)"; }
      else return 1; fi
    done
    has_quorum_leader
  }
  if ! otp_wait_until "$START_TIMEOUT" "3 nodes to answer listing 3 brokers, and a quorum leader" ready; then
    for n in "${NODES[@]}"; do
      otp_tail_log "$(dir_of "$n")/logs/server.log" 15
    done
    cmd_stop_all
    otp_die "the cluster did not become ready within ${START_TIMEOUT}s"
  fi
  otp_info "ready in $((SECONDS - t0))s; quorum leader: node $(quorum_leader)"
  bootstrap_list
}

cmd_stop_all() {   # without the lock: also called by a failed start
  local n pid pids=()
  for n in "${NODES[@]}"; do
    pid=$(node_pid "$n")
    [ -n "$pid" ] || continue
    otp_info "stopping node $n (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid")
  done
  # Nodes shutting down at once may wait for a controller that is gone:
  # bounded, then SIGKILL (the data is a test's).
  for pid in "${pids[@]}"; do
    otp_wait_until "$STOP_TIMEOUT" "kafka pid $pid to exit" eval '! otp_pid_alive '"$pid" ||
      { otp_warn "sending SIGKILL to $pid"; kafka_kill_pid "$pid"; }
  done
  for n in "${NODES[@]}"; do rm -f "$(dir_of "$n")/kafka.pid"; done
  net_down
  otp_info "stopped"
}

cmd_stop() { load_layout; lock 120; cmd_stop_all; }

cmd_clean() { cmd_stop; rm -rf "${STATE:?}"; otp_info "deleted $STATE"; }

cmd_status() {
  load_layout
  local n pid ok=0 state
  for n in "${NODES[@]}"; do
    pid=$(node_pid "$n")
    if [ -z "$pid" ]; then state="not running"
    elif kafka_answers "$(host_of "$n")" "$(port_of "$n")" "$n" 1; then state="running (pid $pid), answering"; ok=$((ok + 1))
    else state="running (pid $pid), not answering"; fi
    echo "node $n at $(addr_of "$n"): $state, link $(link_state "$n")"
  done
  echo "quorum leader: $(quorum_leader)"
  (( ok == 3 )) || exit 3
}

cmd_kill() {
  check_node "$1"; load_layout; lock 60
  local pid; pid=$(node_pid "$1")
  [ -n "$pid" ] || otp_die "node $1 is not running"
  local t; t=$(date +%s.%N)
  kafka_kill_pid "$pid"
  rm -f "$(dir_of "$1")/kafka.pid"
  otp_info "killed node $1 (pid $pid, SIGKILL)"
  echo "$t"
}

wait_back() {   # wait_back N: node N answers, then every ISR is full
  local t0=$SECONDS
  otp_wait_until "$START_TIMEOUT" "node $1 to answer listing 3 brokers" node_ready "$1" 3 ||
    { otp_tail_log "$(dir_of "$1")/logs/server.log" 20; otp_die "node $1 did not come back"; }
  otp_info "node $1 answers ($((SECONDS - t0))s)"
  otp_wait_until "$SYNC_TIMEOUT" "every partition's replicas to be in sync" all_synced ||
    otp_die "replicas not in sync within ${SYNC_TIMEOUT}s"
  otp_info "node $1 back in every ISR ($((SECONDS - t0))s)"
}

cmd_restart() {
  check_node "$1"; load_layout; lock $((START_TIMEOUT + SYNC_TIMEOUT + 60))
  [ -s "$STATE/layout" ] || otp_die "the cluster was never started"
  local pid; pid=$(node_pid "$1")
  if [ -n "$pid" ]; then
    otp_info "stopping node $1 (pid $pid)"
    kafka_stop_pid "$pid" "$STOP_TIMEOUT"
  fi
  [ -s "$(dir_of "$1")/server.properties" ] || write_node_config "$1"
  launch_node "$1"
  otp_info "node $1 restarted (pid $KAFKA_PID)"
  wait_back "$1"
}

cmd_cut() {
  check_node "$1"; load_layout; lock 60
  [ "$NETNS" = 1 ] || otp_die "cut needs the cluster in network namespaces (root, OTPFLOW_CLUSTER_NETNS)"
  local t; t=$(date +%s.%N)
  ip link set "$(veth_of "$1")" down
  otp_info "node $1 cut off ($(veth_of "$1") down)"
  echo "$t"
}

cmd_heal() {
  check_node "$1"; load_layout; lock $((START_TIMEOUT + SYNC_TIMEOUT + 60))
  [ "$NETNS" = 1 ] || otp_die "heal needs the cluster in network namespaces"
  ip link set "$(veth_of "$1")" up
  otp_info "node $1 reconnected ($(veth_of "$1") up)"
  wait_back "$1"
}

cmd_leader() {
  [ -n "${1:-}" ] && [[ "${2:-}" =~ ^[0-9]+$ ]] || otp_die "usage: leader TOPIC PARTITION"
  load_layout
  metadata_json -t "$1" | python3 -c '
import json, sys
md = json.load(sys.stdin)
for t in md["topics"]:
    for p in t["partitions"]:
        if t["topic"] == sys.argv[1] and p["partition"] == int(sys.argv[2]):
            print(p["leader"]); sys.exit(0)
sys.exit("no such topic or partition")' "$1" "$2" ||
    otp_die "cannot read the metadata of $1 partition $2"
}

cmd_wait_synced() {
  load_layout
  otp_wait_until "${1:-$SYNC_TIMEOUT}" "every partition's replicas to be in sync" all_synced ||
    otp_die "replicas not in sync within ${1:-$SYNC_TIMEOUT}s"
  otp_info "every partition has its full ISR"
}

case "${1:-}" in
  -h|--help|help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
esac
cmd=$1; shift
case "$cmd" in
  fetch|start|stop|clean|status|bootstrap|controller)
    [ $# -eq 0 ] || otp_die "'$cmd' takes no arguments" ;;
  kill|restart|cut|heal) [ $# -eq 1 ] || otp_die "'$cmd' takes one argument: the node (1-3)" ;;
  leader) [ $# -eq 2 ] || otp_die "usage: leader TOPIC PARTITION" ;;
  wait-synced) [ $# -le 1 ] || otp_die "usage: wait-synced [SECONDS]" ;;
esac
case "$cmd" in
  fetch)       kafka_fetch ;;
  start)       cmd_start ;;
  stop)        cmd_stop ;;
  clean)       cmd_clean ;;
  status)      cmd_status ;;
  bootstrap)   load_layout; bootstrap_list ;;
  controller)  load_layout; quorum_leader ;;
  kill)        cmd_kill "$1" ;;
  restart)     cmd_restart "$1" ;;
  cut)         cmd_cut "$1" ;;
  heal)        cmd_heal "$1" ;;
  leader)      cmd_leader "$1" "$2" ;;
  wait-synced) cmd_wait_synced "${1:-}" ;;
  *) otp_warn "unknown command '$cmd'"; usage >&2; exit 2 ;;
esac
