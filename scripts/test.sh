#!/usr/bin/env bash
# The test command: installs what is missing, configures, builds and runs the
# whole CTest suite. Ends with CTest's summary line.
#   BUILD_DIR (default build), JOBS (default: cores), CREAM_SANITIZE=ON for ASan+UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
BUILD_DIR="${BUILD_DIR:-build}"
JOBS="${JOBS:-$(nproc)}"
# Only cream's own configure lines (which LibTorch, CPU or CUDA build); errors still show.
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCREAM_SANITIZE="${CREAM_SANITIZE:-OFF}" | { grep '^-- cream:' || true; }
cmake --build "$BUILD_DIR" -j "$JOBS"
# One intra-op thread per test process: tiny models run faster that way, and
# CTest already runs tests side by side.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"
