#!/usr/bin/env bash
# build.sh - configure and build otpflow with CMake + Ninja.
#
#   scripts/build.sh [BUILD_DIR] [extra cmake args]
#
# BUILD_DIR defaults to <repo>/build. Example of a sanitizer build:
#   scripts/build.sh build-asan -DOTPFLOW_SANITIZE=ON
# Output is kept in BUILD_DIR/build.log and shown when something fails.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd -P)
dir=${1:-$repo/build}
shift || true
mkdir -p "$dir"
log=$dir/build.log
if ! { cmake -S "$repo" -B "$dir" -G Ninja "$@" && ninja -C "$dir"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "build: FAILED in $dir (log: $log)" >&2
  exit 1
fi
echo "build: $dir ready" >&2
