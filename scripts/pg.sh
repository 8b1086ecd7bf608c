#!/usr/bin/env bash
# pg.sh - a throwaway PostgreSQL (15+) cluster for local runs and tests.
#
#   scripts/pg.sh start        initdb once, start, create database "otpflow";
#                              last stdout line: postgresql://postgres@127.0.0.1:PORT/otpflow
#   scripts/pg.sh stop         fast shutdown (bounded); fine when not running
#   scripts/pg.sh status       exit 0 when running, 3 when not
#   scripts/pg.sh url          print the URL
#   scripts/pg.sh psql [ARGS]  run psql against the otpflow database
#   scripts/pg.sh clean        stop and delete the cluster (next start re-inits)
#
# Environment: OTPFLOW_STATE_DIR (default <repo>/.state), OTPFLOW_PG_PORT
# (default 54329), OTPFLOW_PG_BIN (default: newest /usr/lib/postgresql/*/bin).
#
# Layout: <state>/pg/{data,sock,postgres.log}. The server listens on 127.0.0.1
# only plus a unix socket in sock/; auth is "trust" (local and loopback), the
# superuser is "postgres", encoding UTF8, locale C, max_connections=200.
# fsync stays ON (initdb runs with --no-sync only for its own files); nothing
# durable lives here, but tests of delivery guarantees should see real fsync.
#
# Running as root: initdb and the server run as the "postgres" OS user
# (runuser). A repo cloned into a `mktemp -d` folder (mode 700, root) is not
# traversable by that user. We do NOT chmod the parents (that would open a
# private folder to every user); instead, when postgres cannot reach
# <state>/pg, or the socket path would exceed the unix-socket limit, the
# cluster lives in /tmp/otpflow-pg-<port>-<hash of state dir>/ (owned by
# postgres, mode 700). <state>/pg/location always records where the cluster
# lives, and <state>/pg/postgres.log is then a symlink to the real log.
set -euo pipefail
OTP_NAME=pg.sh
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "${BASH_SOURCE[0]}"; }

PORT=${OTPFLOW_PG_PORT:-54329}
[[ "$PORT" =~ ^[0-9]+$ ]] || otp_die "OTPFLOW_PG_PORT must be a number, got '$PORT'"
START_TIMEOUT=${OTPFLOW_PG_START_TIMEOUT:-60}
STOP_TIMEOUT=${OTPFLOW_PG_STOP_TIMEOUT:-30}

find_pg_bin() {
  if [ -n "${OTPFLOW_PG_BIN:-}" ]; then
    [ -x "$OTPFLOW_PG_BIN/initdb" ] || otp_die "no initdb in OTPFLOW_PG_BIN=$OTPFLOW_PG_BIN"
    echo "$OTPFLOW_PG_BIN"; return
  fi
  local d best="" bestv=0 v
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] || continue
    v=$(basename "$(dirname "$d")"); [[ "$v" =~ ^[0-9]+$ ]] || continue
    if (( v > bestv )); then best=$d; bestv=$v; fi
  done
  if [ -z "$best" ] && command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir); [ -x "$d/initdb" ] && best=$d
  fi
  [ -n "$best" ] || otp_die "PostgreSQL server binaries (initdb) not found; install the 'postgresql' package (scripts/install-deps.sh)"
  echo "$best"
}

IS_ROOT=0; [ "$(id -u)" -eq 0 ] && IS_ROOT=1
PG_OWNER=$(id -un)
if (( IS_ROOT )); then
  id postgres >/dev/null 2>&1 || otp_die "running as root needs the 'postgres' OS user (install the 'postgresql' package)"
  PG_OWNER=postgres
fi

# as_pg CMD...: run CMD as the cluster owner, from a folder it can enter.
# 9>&-: the server must not inherit (and so hold forever) our lock fd.
as_pg() {
  if (( IS_ROOT )); then
    (cd "$HOME_DIR" && runuser -u postgres -- "$@" 9>&-)
  else
    (cd "$HOME_DIR" && "$@" 9>&-)
  fi
}

STATE=$(otp_state_dir)/pg
mkdir -p "$STATE"
LOCATION_FILE=$STATE/location

url_for() { echo "postgresql://postgres@127.0.0.1:$1/otpflow"; }

# Where the cluster lives: the recorded location when it holds a cluster,
# else <state>/pg when usable, else a private folder under /tmp.
resolve_home() {
  local loc=""
  [ -f "$LOCATION_FILE" ] && loc=$(cat "$LOCATION_FILE")
  if [ -n "$loc" ] && [ -f "$loc/data/PG_VERSION" ]; then HOME_DIR=$loc; return; fi
  HOME_DIR=""   # not initialised yet
}

choose_home() {
  local sock_path="$STATE/sock/.s.PGSQL.$PORT" usable=1
  (( ${#sock_path} <= 100 )) || usable=0
  if (( usable && IS_ROOT )); then
    chown postgres: "$STATE" && chmod 700 "$STATE"
    if ! runuser -u postgres -- test -w "$STATE" -a -x "$STATE" 2>/dev/null; then
      usable=0; chown root: "$STATE"
    fi
  fi
  if (( usable )); then HOME_DIR=$STATE; return; fi
  local hash; hash=$(printf '%s' "$STATE" | sha256sum | cut -c1-10)
  HOME_DIR=/tmp/otpflow-pg-$PORT-$hash
  if [ -L "$HOME_DIR" ]; then otp_die "$HOME_DIR is a symlink; refusing to use it"; fi
  if [ -e "$HOME_DIR" ]; then
    [ "$(stat -c %U "$HOME_DIR")" = "$PG_OWNER" ] ||
      otp_die "$HOME_DIR exists but is not owned by $PG_OWNER; remove it"
  else
    mkdir -m 700 "$HOME_DIR"
    (( IS_ROOT )) && chown postgres: "$HOME_DIR"
  fi
  otp_info "the postgres user cannot use $STATE (private parent folder or long path); cluster lives in $HOME_DIR"
}

set_paths() {
  DATA=$HOME_DIR/data; SOCK=$HOME_DIR/sock; LOG=$HOME_DIR/postgres.log
}

# Exit status of pg_ctl status: 0 running, 3 not running, 4 no data dir.
is_running() {
  [ -n "$HOME_DIR" ] && [ -f "$DATA/PG_VERSION" ] || return 1
  as_pg "$PG_BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

running_port() {
  sed -n 4p "$DATA/postmaster.pid" 2>/dev/null | tr -d ' '
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

do_initdb() {
  local tmp=$HOME_DIR/data.init
  rm -rf "$tmp"
  otp_info "initdb into $DATA ($("$PG_BIN/initdb" --version))"
  if ! as_pg "$PG_BIN/initdb" -D "$tmp" -U postgres -E UTF8 --no-locale \
        --auth-local=trust --auth-host=trust --no-sync >"$HOME_DIR/initdb.log" 2>&1; then
    otp_tail_log "$HOME_DIR/initdb.log"
    otp_die "initdb failed"
  fi
  mv "$tmp" "$DATA"
  echo "include_if_exists = 'otpflow.conf'" >>"$DATA/postgresql.conf"
}

write_conf() {
  # Rewritten at every start so OTPFLOW_PG_PORT changes take effect.
  local f=$DATA/otpflow.conf
  cat >"$f" <<EOF
# Written by scripts/pg.sh at each start; edits are lost.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCK'
max_connections = 200
shared_buffers = 128MB
log_line_prefix = '%m [%p] %q%u@%d '
log_timezone = 'UTC'
timezone = 'UTC'
EOF
  (( IS_ROOT )) && chown postgres: "$f"
  return 0
}

ensure_db() {
  local port=$1 psql_base
  psql_base=("$PG_BIN/psql" -X -q -w -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres)
  local have
  have=$(PGCONNECT_TIMEOUT=5 timeout 20 "${psql_base[@]}" -d postgres -tAc \
    "select 1 from pg_database where datname = 'otpflow'") ||
    otp_die "cannot query the server on 127.0.0.1:$port"
  if [ "$have" != "1" ]; then
    PGCONNECT_TIMEOUT=5 timeout 20 "${psql_base[@]}" -d postgres -c 'create database otpflow' >/dev/null ||
      otp_die "cannot create database otpflow"
    otp_info "created database otpflow"
  fi
}

cmd_start() {
  resolve_home
  if [ -z "$HOME_DIR" ]; then choose_home; fi
  set_paths
  echo "$HOME_DIR" >"$LOCATION_FILE"
  if [ "$HOME_DIR" != "$STATE" ]; then ln -sfn "$LOG" "$STATE/postgres.log"; fi

  if is_running; then
    local p; p=$(running_port); p=${p:-$PORT}
    [ "$p" = "$PORT" ] || otp_warn "already running on port $p (OTPFLOW_PG_PORT=$PORT ignored; stop it first)"
    ensure_db "$p"
    otp_info "already running"
    url_for "$p"; return 0
  fi

  [ -f "$DATA/PG_VERSION" ] || do_initdb
  mkdir -p "$SOCK"; (( IS_ROOT )) && chown postgres: "$SOCK"
  write_conf
  if port_busy "$PORT"; then
    otp_die "port 127.0.0.1:$PORT is in use by another process; set OTPFLOW_PG_PORT"
  fi

  otp_info "starting PostgreSQL on 127.0.0.1:$PORT (data $DATA, log $LOG)"
  if ! as_pg timeout $((START_TIMEOUT + 10)) "$PG_BIN/pg_ctl" start -D "$DATA" -l "$LOG" \
        -w -t "$START_TIMEOUT" -s >/dev/null 2>&1; then
    otp_tail_log "$LOG"
    otp_die "PostgreSQL did not start within ${START_TIMEOUT}s"
  fi
  if ! otp_wait_until "$START_TIMEOUT" "pg_isready on 127.0.0.1:$PORT" \
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 2; then
    otp_tail_log "$LOG"
    otp_die "PostgreSQL is not accepting connections"
  fi
  ensure_db "$PORT"
  otp_info "ready"
  url_for "$PORT"
}

cmd_stop() {
  resolve_home
  if [ -z "$HOME_DIR" ]; then otp_info "not initialised; nothing to stop"; return 0; fi
  set_paths
  if ! is_running; then otp_info "not running"; return 0; fi
  otp_info "stopping (fast, up to ${STOP_TIMEOUT}s)"
  if as_pg timeout $((STOP_TIMEOUT + 10)) "$PG_BIN/pg_ctl" stop -D "$DATA" -m fast \
       -w -t "$STOP_TIMEOUT" -s >/dev/null 2>&1; then
    otp_info "stopped"; return 0
  fi
  otp_warn "fast shutdown timed out; trying immediate shutdown"
  if as_pg timeout 25 "$PG_BIN/pg_ctl" stop -D "$DATA" -m immediate -w -t 15 -s >/dev/null 2>&1; then
    otp_info "stopped (immediate)"; return 0
  fi
  otp_tail_log "$LOG"
  otp_die "PostgreSQL did not stop"
}

cmd_clean() {
  cmd_stop
  resolve_home
  if [ -n "$HOME_DIR" ] && [ "$HOME_DIR" != "$STATE" ]; then rm -rf "$HOME_DIR"; fi
  rm -rf "$STATE"
  otp_info "removed the cluster"
}

cmd_status() {
  resolve_home
  if [ -z "$HOME_DIR" ]; then echo "not initialised"; exit 3; fi
  set_paths
  if is_running; then
    echo "running (pid $(head -n1 "$DATA/postmaster.pid")) at $(url_for "$(running_port)")"
    exit 0
  fi
  echo "not running"; exit 3
}

cmd_url() {
  resolve_home
  if [ -n "$HOME_DIR" ]; then
    set_paths
    if is_running; then url_for "$(running_port)"; return 0; fi
  fi
  url_for "$PORT"
}

cmd_psql() {
  resolve_home
  [ -n "$HOME_DIR" ] || otp_die "not initialised; run scripts/pg.sh start"
  set_paths
  is_running || otp_die "not running; run scripts/pg.sh start"
  exec "$PG_BIN/psql" -X -d "$(url_for "$(running_port)")" "$@"
}

case "${1:-}" in
  -h|--help|help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
esac
PG_BIN=$(find_pg_bin)
HOME_DIR=""
cmd=$1; shift
case "$cmd" in
  start|stop|clean)
    # One start/stop at a time per state dir (parallel test runners).
    exec 9>"$STATE/.lock"
    flock -w 120 9 || otp_die "another pg.sh holds $STATE/.lock for over 120s"
    "cmd_$cmd" ;;
  status) cmd_status ;;
  url)    cmd_url ;;
  psql)   cmd_psql "$@" ;;
  *) otp_warn "unknown command '$cmd'"; usage >&2; exit 2 ;;
esac
