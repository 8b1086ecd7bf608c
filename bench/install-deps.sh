#!/usr/bin/env bash
# Installs the Debian packages of bench/packages.txt that are missing (the
# benchmarks' own needs: python3-matplotlib for bench/plots.py). The build
# and runtime packages come from scripts/install-deps.sh.
#
#   bench/install-deps.sh
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
list=$(dirname "$0")/packages.txt
mapfile -t pkgs < <(grep -v '^\s*\(#\|$\)' "$list")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { echo "bench: packages present" >&2; exit 0; }
sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
