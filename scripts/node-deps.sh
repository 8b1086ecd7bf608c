#!/usr/bin/env bash
# node-deps.sh - the npm packages of the compatibility tests (Nhost's
# JavaScript SDK, playwright-core), installed once into the cache like the
# Kafka jars, from tests/system/node/package-lock.json (pinned versions and
# integrity hashes), with the machine's Node and npm (scripts/packages.txt).
#
#   scripts/node-deps.sh      prints the node_modules folder to use
#                             (NODE_PATH for tests/system/node/*.cjs)
#
# OTPFLOW_CACHE_DIR (~/.cache/otpflow) holds node/<lock hash>/node_modules;
# it is complete once node/<lock hash>/.complete exists, so later runs use
# no network. No install scripts run (--ignore-scripts): playwright-core
# drives the machine's /usr/bin/chromium and downloads no browser.
set -euo pipefail
OTP_NAME=node-deps
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
repo=$(otp_repo_root)
src=$repo/tests/system/node
otp_need node "Debian package nodejs"
otp_need npm "Debian package nodejs"
hash=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -c1-16)
dir=${OTPFLOW_CACHE_DIR:-$HOME/.cache/otpflow}/node/$hash
if [ ! -f "$dir/.complete" ]; then
  otp_info "installing $(tr -d '\n ' < "$src/package.json" |
    grep -o '"dependencies":{[^}]*}' | cut -d'{' -f2 | tr -d '"}') into $dir"
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$src/package.json" "$src/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
     >"$dir/npm.log" 2>&1) || { cat "$dir/npm.log" >&2; otp_die "npm ci failed"; }
  touch "$dir/.complete"
fi
echo "$dir/node_modules"
