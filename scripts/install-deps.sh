#!/usr/bin/env bash
# Installs every Debian package otpflow needs to build, run and test.
# Idempotent: when everything is present it prints one line and exits.
#
#   scripts/install-deps.sh              build + run + test packages
#   scripts/install-deps.sh --build-only what building needs (the Dockerfile)
#
# Lists: scripts/packages-build.txt, scripts/packages.txt (run and test);
# scripts/packages-runtime.txt is the final image's (not installed here).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lists=("$here/packages-build.txt")
[ "${1:-}" = --build-only ] || lists+=("$here/packages.txt")
mapfile -t pkgs < <(grep -hvE '^\s*(#|$)' "${lists[@]}" | awk '{print $1}')

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
