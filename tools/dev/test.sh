#!/usr/bin/env bash
# Configures, builds and tests clawd.
#   tools/dev/test.sh [--sanitize] [ctest args...]
# --sanitize uses build-asan/ with -DCLAW_SANITIZE=ON (ASan + UBSan) instead of build/.
# Without test selection of your own, ctest runs the default tier (`-LE slow`). Any of
# -L/-LE/-R/-E/-I (or their long forms) replaces that default, so `tools/dev/test.sh -L slow`
# runs the slow tier and `tools/dev/test.sh -L .` runs everything.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

build_dir=build
cmake_args=()
ctest_args=()
selection=default
for arg in "$@"; do
  case "$arg" in
    --sanitize)
      build_dir=build-asan
      cmake_args+=(-DCLAW_SANITIZE=ON)
      continue ;;
    -L | -LE | -R | -E | -I | --label-regex* | --label-exclude* | --tests-regex* | \
    --exclude-regex* | --tests-information*)
      selection=custom ;;
  esac
  ctest_args+=("$arg")
done
[[ $selection == custom ]] || ctest_args=(-LE slow "${ctest_args[@]}")

cmake -G Ninja -S . -B "$build_dir" "${cmake_args[@]}"
cmake --build "$build_dir" -j "$(nproc)"
ctest --test-dir "$build_dir" --output-on-failure -j2 "${ctest_args[@]}"
