#!/usr/bin/env bash
# The README's first command: installs and builds if needed, then runs the main
# job on a built-in small default. Output goes to ${DEMO_DIR:-runs/demo}.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
BUILD_DIR="${BUILD_DIR:-build}"
if [ ! -x "$BUILD_DIR/cream" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD_DIR" --target cream -j "$(nproc)" >/dev/null
CREAM="$BUILD_DIR/cream"
OUT="${DEMO_DIR:-runs/demo}"
rm -rf "$OUT" && mkdir -p "$OUT"

echo "== cream init: a tiny random Llama in HF layout"
"$CREAM" init --preset tiny --out "$OUT/tiny" --seed 0
echo "== cream inspect"
"$CREAM" inspect "$OUT/tiny"
echo "== cream logits at positions far beyond the window (RoPE angles in float64)"
"$CREAM" logits --model "$OUT/tiny" --tokens "1 5 9 42" --positions "0 700 4095 262143" \
  --out "$OUT/logits.safetensors"
echo "== cream positions: where CREAM puts 4096 positions inside a 32768 window"
"$CREAM" positions --method cream --train-length 4096 --target-length 32768 --samples 200 --seed 0 \
  --stats "$OUT/positions-cream.json"
