#!/usr/bin/env bash
# run.sh - builds the libFuzzer targets (clang, ASan+UBSan) and runs each
# for a bounded time from the committed seed corpus.
#
#   tests/fuzz/run.sh [SECONDS_PER_TARGET]    (default 20)
#
# New inputs go to a scratch corpus (the seeds in corpus/ are not changed);
# a crash leaves its reproducer in build-fuzz/ and fails the run.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd -P)
secs=${1:-20}
CC=clang "$repo/scripts/build.sh" "$repo/build-fuzz" -DOTPFLOW_FUZZ=ON
rm -f "$repo"/build-fuzz/crash-* "$repo"/build-fuzz/leak-* "$repo"/build-fuzz/timeout-*
for target in signup phone events provider; do
  scratch=$(mktemp -d)
  cp "$repo/tests/fuzz/corpus/$target"/* "$scratch/"
  echo "fuzz_$target: ${secs}s" >&2
  (cd "$repo/build-fuzz" &&
    ./tests/fuzz/fuzz_$target -max_total_time="$secs" -max_len=20000 \
      -print_final_stats=1 "$scratch" 2>&1 | grep -E '^(stat::number_of_executed_units|==|SUMMARY|INFO: a leak|.*ERROR)' || true)
  rm -rf "$scratch"
  ls "$repo"/build-fuzz/crash-* "$repo"/build-fuzz/leak-* "$repo"/build-fuzz/timeout-* >/dev/null 2>&1 && { echo "fuzz_$target found a crash (see build-fuzz/)" >&2; exit 1; }
done
echo "fuzz: no crashes" >&2
