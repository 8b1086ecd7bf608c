#!/usr/bin/env bash
# build.sh - configure and build otpflow with CMake + Ninja.
#
#   scripts/build.sh [BUILD_DIR] [extra cmake args]
#
# BUILD_DIR defaults to <repo>/build. Example of a sanitizer build:
#   scripts/build.sh build-asan -DOTPFLOW_SANITIZE=ON
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd -P)
dir=${1:-$repo/build}
shift || true
cmake -S "$repo" -B "$dir" -G Ninja "$@" >/dev/null
ninja -C "$dir" >/dev/null
echo "build: $dir ready" >&2
