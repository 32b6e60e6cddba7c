#!/usr/bin/env bash
# The quality of the memory modes, measured: the demo's CREAM extension (linear x8,
# N = 128 -> L = 1024, one seed, the same data stream and steps) once per mode, then
# perplexity at N and 8N and passkey accuracy at 8N for each, and one plot of the
# loss curves. docs/memory-modes.md holds the figures this printed.
#
#   scripts/compare_memory_modes.sh [--out DIR] [--steps S] [--modes "m1 m2 ..."]
#
# Modes (train.memory_mode; "fp32" is model.dtype fp32, the demo as shipped):
#   fp32 fp32-masters bf16-sr bf16-rtn step-in-backward
# bf16-rtn is the control (round-to-nearest updates stall once lr x update < half
# an ulp of the weight); step-in-backward runs without clipping (it cannot clip).
# offload is not run: on the CPU it is the same arithmetic as fp32-masters (the
# test suite checks the two bit for bit).
# The base model is pretrained once with scripts/demo.sh (DEMO_UNTIL=base) into
# DIR/base-demo and reused. CREAM=/path/to/cream skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=runs/memory-modes STEPS=200 MODES="fp32 fp32-masters bf16-sr bf16-rtn step-in-backward"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --modes) MODES="$2"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "compare_memory_modes.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "${CREAM:-}" ]; then
  ./scripts/setup.sh
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build --target cream -j "$(nproc)" >/dev/null
  CREAM="$(pwd)/build/cream"
fi
PYTHON="$(./scripts/setup.sh --print-python)"
# The CPU's own kernels, not the demo's pinned AVX2 ones: under those LibTorch 2.11's
# bf16 CPU flash attention refuses to run on AVX-512 machines and cream falls back to
# the (slower) math path.
unset ATEN_CPU_CAPABILITY MKL_CBWR

DEMO="$OUT/base-demo"
BASE="$DEMO/pretrain/step-000600"
if [ ! -f "$BASE/COMPLETE" ]; then
  echo "== base model (scripts/demo.sh up to pretraining, into $DEMO)"
  CREAM="$CREAM" DEMO_DIR="$DEMO" DEMO_UNTIL=base ./scripts/demo.sh
fi

for mode in $MODES; do
  run="$OUT/$mode"
  if [ -f "$run/passkey.json" ]; then echo "== $mode: done already ($run)"; continue; fi
  rm -rf "$run"
  case "$mode" in
    fp32) settings=(--set model.dtype=fp32) ;;
    step-in-backward) settings=(--set model.dtype=bf16 --set train.memory_mode=$mode --set train.grad_clip=0) ;;
    *) settings=(--set model.dtype=bf16 --set train.memory_mode=$mode) ;;
  esac
  echo "== $mode: extension ($STEPS steps), then ppl at 128 / 1024 and passkey at 1024"
  started=$(date +%s)
  "$CREAM" train -c configs/demo/extend-cream.yaml --set model.path="$BASE" \
    --set data.train="$DEMO/data/train" --set data.valid="$DEMO/data/valid" \
    --set checkpoint.output_dir="$run/train" --set train.steps="$STEPS" --set checkpoint.every="$STEPS" \
    --set eval.every=0 --set log.every=5 "${settings[@]}"
  echo "$(( $(date +%s) - started ))" > "$run/train_seconds"
  model="$run/train/$(printf 'step-%06d' "$STEPS")"
  "$CREAM" eval ppl --model "$model" --data "$DEMO/data/test" --lengths 128,1024 --mode truncate --docs 20 \
    --out "$run/ppl.json"
  "$CREAM" eval passkey --model "$model" --lengths 1024 --depths 0,25,50,75,100 --trials 10 --scoring forced \
    --seed 1 --out "$run/passkey.json"
done

"$PYTHON" - "$OUT" $MODES <<'PY'
import json, os, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

out, modes = sys.argv[1], sys.argv[2:]
rows = []
plt.figure(figsize=(7, 4))
for mode in modes:
    run = os.path.join(out, mode)
    steps, losses = [], []
    with open(os.path.join(run, "train", "metrics.jsonl")) as f:
        for line in f:
            record = json.loads(line)
            steps.append(record["step"]); losses.append(record["loss"])
    plt.plot(steps, losses, label=mode, linewidth=1)
    ppl = {str(r["length"]): r["ppl_token"] for r in json.load(open(os.path.join(run, "ppl.json")))["results"]}
    passkey = json.load(open(os.path.join(run, "passkey.json")))
    accuracy = passkey.get("token_accuracy", passkey.get("accuracy"))
    seconds = int(open(os.path.join(run, "train_seconds")).read())
    rows.append({"mode": mode, "final_loss": losses[-1], "ppl_128": ppl["128"], "ppl_1024": ppl["1024"],
                 "passkey_token_accuracy": accuracy, "train_seconds": seconds})
plt.xlabel("step"); plt.ylabel("training loss"); plt.title("CREAM x8 extension (demo model) by memory mode")
plt.legend(); plt.grid(alpha=0.3); plt.tight_layout()
plt.savefig(os.path.join(out, "loss_by_memory_mode.png"), dpi=120)
json.dump(rows, open(os.path.join(out, "summary.json"), "w"), indent=2)
print(f"{'mode':<18}{'final loss':>11}{'ppl@128':>9}{'ppl@1024':>10}{'passkey tok acc':>16}{'train s':>9}")
for r in rows:
    acc = r["passkey_token_accuracy"]
    acc_text = f"{acc:.3f}" if isinstance(acc, (int, float)) else str(acc)
    print(f"{r['mode']:<18}{r['final_loss']:>11.4f}{r['ppl_128']:>9.2f}{r['ppl_1024']:>10.2f}{acc_text:>16}{r['train_seconds']:>9}")
PY
