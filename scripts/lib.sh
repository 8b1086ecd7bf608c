# shellcheck shell=bash
# Shared bash helpers for scripts/*.sh (sourced, not executed).
# Messages go to stderr so that a script's stdout carries only its result
# (a URL, a bootstrap address), which callers capture with $(...).

# Name shown in messages; the sourcing script may set OTP_NAME first.
: "${OTP_NAME:=$(basename "$0" .sh)}"

otp_info() { printf '%s: %s\n' "$OTP_NAME" "$*" >&2; }
otp_warn() { printf '%s: warning: %s\n' "$OTP_NAME" "$*" >&2; }
otp_die()  { printf '%s: error: %s\n' "$OTP_NAME" "$*" >&2; exit 1; }

# Absolute path of the repository (the parent of scripts/).
otp_repo_root() {
  (cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
}

# Absolute state dir: $OTPFLOW_STATE_DIR or <repo>/.state (created).
otp_state_dir() {
  local d="${OTPFLOW_STATE_DIR:-$(otp_repo_root)/.state}"
  mkdir -p "$d" || otp_die "cannot create state dir $d"
  (cd "$d" && pwd -P)
}

# otp_need CMD [hint]: fail clearly when a command is missing.
otp_need() {
  command -v "$1" >/dev/null 2>&1 ||
    otp_die "'$1' not found${2:+ ($2)}; run scripts/install-deps.sh"
}

# otp_wait_until SECONDS WHAT CMD...: run CMD every 0.25 s until it succeeds;
# returns 1 (after a message naming WHAT) when SECONDS have passed.
otp_wait_until() {
  local secs=$1 what=$2; shift 2
  local deadline=$(( $(date +%s%N) / 1000000 + secs * 1000 ))
  while :; do
    if "$@"; then return 0; fi
    if (( $(date +%s%N) / 1000000 >= deadline )); then
      otp_warn "timed out after ${secs}s waiting for $what"
      return 1
    fi
    sleep 0.25
  done
}

# otp_pid_alive PID: true when PID is a live (non-zombie) process.
otp_pid_alive() {
  local pid=$1 st
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
  [ "$st" != "Z" ]
}

# otp_tail_log FILE [N]: show the last N (default 40) lines of FILE on stderr.
otp_tail_log() {
  local f=$1 n=${2:-40}
  if [ -s "$f" ]; then
    printf '%s: ---- last %s lines of %s ----\n' "$OTP_NAME" "$n" "$f" >&2
    tail -n "$n" "$f" >&2 || true
    printf '%s: ---- end of log ----\n' "$OTP_NAME" >&2
  else
    printf '%s: (log %s is empty or missing)\n' "$OTP_NAME" "$f" >&2
  fi
}
