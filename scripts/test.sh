#!/usr/bin/env bash
# test.sh: the project's test command. Builds and runs the whole ctest suite (unit and
# integration tests on loopback), then the same suite built with ASan+UBSan, then the unit
# tests under valgrind; first a clang-format check of every C file. Stages can be skipped: QKD_SKIP_SANITIZE=1, QKD_SKIP_VALGRIND=1.
# Build trees: build/, build-asan/ (override the root with QKD_BUILD_ROOT).
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
