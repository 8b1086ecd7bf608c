#!/usr/bin/env bash
# check-style.sh - the house style, checked (CI runs it; see .clang-format).
#
#   scripts/check-style.sh          check every C file of the tree
#   scripts/check-style.sh --fix    reformat them in place (clang-format -i)
#
# Checks, in the spirit of curl's checksrc:
#   1. clang-format: every C file is formatted as .clang-format says
#      (files marked GENERATED in their first lines are skipped);
#   2. banned functions in product code (common/, ingest/, worker/, sender/,
#      tools/): sprintf, vsprintf, strcpy, strcat, strncpy, gets, atoi, atol,
#      strtok (use snprintf, memcpy with a known length, strtoll with checks);
#   3. size budget: no product C file over 800 lines (split it along its
#      concerns instead, see docs/design.md).
# Exit status 0 when clean, 1 with one line per problem otherwise.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$repo"
MAX_LINES=800

mapfile -t all < <(git ls-files '*.c' '*.h' | while read -r f; do
  head -3 "$f" | grep -q GENERATED || echo "$f"; done)
mapfile -t product < <(printf '%s\n' "${all[@]}" |
  grep -E '^(common|ingest|worker|sender|tools)/')

if [ "${1:-}" = --fix ]; then
  clang-format -i "${all[@]}"
  echo "check-style: reformatted ${#all[@]} files"
  exit 0
fi
command -v clang-format >/dev/null || {
  echo "check-style: clang-format is missing (scripts/install-deps.sh)" >&2
  exit 1; }

problems=0
for f in "${all[@]}"; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "$f: not formatted (scripts/check-style.sh --fix)"
    problems=$((problems + 1))
  fi
done
banned='\b(sprintf|vsprintf|strcpy|strcat|strncpy|gets|atoi|atol|strtok)[[:space:]]*\('
while IFS= read -r hit; do
  echo "$hit: banned function"
  problems=$((problems + 1))
done < <(grep -nE "$banned" "${product[@]}" | grep -vE '\b(snprintf|vsnprintf)\(' || true)
for f in "${product[@]}"; do
  n=$(wc -l < "$f")
  if [ "$n" -gt "$MAX_LINES" ]; then
    echo "$f: $n lines (budget $MAX_LINES)"
    problems=$((problems + 1))
  fi
done
if [ "$problems" -gt 0 ]; then
  echo "check-style: $problems problem(s)" >&2
  exit 1
fi
echo "check-style: ${#all[@]} files clean"
