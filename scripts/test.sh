#!/usr/bin/env bash
# test.sh: the project's test command. Builds and runs the whole ctest suite (unit and
# integration tests on loopback), then the same suite built with ASan+UBSan, then the unit
# tests under valgrind, then every fuzz target built with clang and run for a few seconds from
# its committed corpus; first a clang-format check of every C file. Stages can be skipped:
# QKD_SKIP_SANITIZE=1, QKD_SKIP_VALGRIND=1, QKD_SKIP_FUZZ=1 (QKD_FUZZ_SECONDS, default 10).
# Build trees: build/, build-asan/, build-fuzz/ (override the root with QKD_BUILD_ROOT).
set -euo pipefail
cd "$(dirname "$0")/.."
root=${QKD_BUILD_ROOT:-.}
jobs=${JOBS:-$(nproc)}
say() { printf '\n=== %s\n' "$*"; }

if command -v clang-format >/dev/null 2>&1 && [ -d .git ]; then
  say "clang-format check"
  git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror
fi

say "build (RelWithDebInfo)"
cmake -S . -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j"$jobs"
say "ctest"
ctest --test-dir "$root/build" --output-on-failure -j"$jobs"

if [ "${QKD_SKIP_SANITIZE:-0}" != 1 ]; then
  say "build with ASan+UBSan"
  cmake -S . -B "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DQKD_SANITIZE=ON >/dev/null
  cmake --build "$root/build-asan" -j"$jobs"
  say "ctest under ASan+UBSan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$root/build-asan" --output-on-failure -j"$jobs"
fi

if [ "${QKD_SKIP_VALGRIND:-0}" != 1 ]; then
  say "unit tests under valgrind"
  python3 scripts/valgrind-unit.py "$root/build"
fi

if [ "${QKD_SKIP_FUZZ:-0}" != 1 ] && command -v clang >/dev/null 2>&1; then
  say "fuzz targets (clang, libFuzzer): build, then ${QKD_FUZZ_SECONDS:-10} s each"
  CC=clang cmake -S . -B "$root/build-fuzz" -DQKD_FUZZ=ON -DQKD_BUILD_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$root/build-fuzz" -j"$jobs"
  fz=$(mktemp -d /tmp/qkd-fuzz.XXXXXX)
  for t in "$root"/build-fuzz/bin/fuzz_*; do
    name=$(basename "$t")
    mkdir -p "$fz/$name"
    cp -r "tests/fuzz/corpus/$name/." "$fz/$name/" 2>/dev/null || true
    if ! "$t" -max_total_time="${QKD_FUZZ_SECONDS:-10}" -artifact_prefix="$fz/" "$fz/$name" \
         >"$fz/$name.log" 2>&1; then
      tail -n 40 "$fz/$name.log"
      echo "fuzz: $name found a crash (artifact in $fz)"
      exit 1
    fi
    echo "fuzz ok: $name ($(grep -oE 'exec/s: [0-9]+' "$fz/$name.log" | tail -n 1))"
  done
  rm -rf "$fz"
fi
