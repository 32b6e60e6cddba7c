#!/usr/bin/env bash
# The quality of the memory modes, measured (docs/memory-modes.md holds the figures this
# printed): one CREAM extension with linear x8 interpolation, one seed, the same data
# stream and steps, once per mode; then perplexity at N and 8N and passkey per-token
# accuracy at 8N for each, a table, summary.json and one plot of the loss curves.
#
#   scripts/compare_memory_modes.sh [--recipe demo|mini] [--out DIR] [--steps S]
#                                   [--modes "m1 m2 ..."] [--jobs J]
#
# Recipes:
#   demo  the demo's base (1.2M parameters, prose only, N = 128, L = 1024), its
#         extension config, 200 steps; ~25 minutes on 2 cores, base included. The base
#         never learned retrieval: passkey is 0 in every mode there.
#   mini  the miniature reproduction's base (configs/mini, N = 256, L = 2048; it
#         retrieves at N) made by scripts/reproduce_mini.sh --until base (52 minutes on
#         2 cores), and its CREAM linear x8 extension (1000 steps, batch 8, seed 1), as
#         docs/reproduction.md runs it; ~30 minutes more with --jobs 2.
# Modes (train.memory_mode; "fp32" is model.dtype fp32, the recipes as shipped):
#   fp32 fp32-masters bf16-sr bf16-rtn step-in-backward
# bf16-rtn is the control (round-to-nearest updates stall once lr x update < half
# an ulp of the weight); step-in-backward runs without clipping (it cannot clip).
# offload is not run: on the CPU it is the same arithmetic as fp32-masters (the
# test suite checks the two bit for bit). --jobs J runs J extensions side by side, one
# thread each. The base is made once into DIR and reused; finished modes are skipped.
# CREAM=/path/to/cream skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."

RECIPE=demo OUT="" STEPS="" MODES="" JOBS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --recipe) RECIPE="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --modes) MODES="$2"; shift 2 ;;
    --jobs) JOBS="$2"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "compare_memory_modes.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$RECIPE" in
  demo) OUT="${OUT:-runs/memory-modes}" STEPS="${STEPS:-200}" MODES="${MODES:-fp32 fp32-masters bf16-sr bf16-rtn step-in-backward}"
        N=128 ;;
  mini) OUT="${OUT:-runs/memory-modes-mini}" STEPS="${STEPS:-1000}" MODES="${MODES:-fp32 bf16-sr bf16-rtn step-in-backward}"
        N=256 ;;
  *) echo "compare_memory_modes.sh: --recipe: demo or mini, got '$RECIPE'" >&2; exit 2 ;;
esac
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || { echo "compare_memory_modes.sh: --jobs: a positive integer, got '$JOBS'" >&2; exit 2; }
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
THREADS=0
[ "$JOBS" -gt 1 ] && THREADS=1

# The base model, and where its data is.
if [ "$RECIPE" = demo ]; then
  WORK="$OUT/base-demo"
  BASE="$WORK/pretrain/step-000600"
  if [ ! -f "$BASE/COMPLETE" ]; then
    echo "== base model (scripts/demo.sh up to pretraining, into $WORK)"
    CREAM="$CREAM" DEMO_DIR="$WORK" DEMO_UNTIL=base ./scripts/demo.sh
  fi
else
  WORK="$OUT/work"
  BASE="$WORK/base/model"
  if [ ! -f "$BASE/config.json" ]; then
    echo "== base model (scripts/reproduce_mini.sh --until base, into $WORK)"
    CREAM="$CREAM" ./scripts/reproduce_mini.sh --until base --work "$WORK" --out "$OUT/results"
  fi
fi

mode_settings() {  # mode_settings MODE: the --set flags of a memory mode
  case "$1" in
    fp32) echo "--set model.dtype=fp32" ;;
    step-in-backward) echo "--set model.dtype=bf16 --set train.memory_mode=$1 --set train.grad_clip=0" ;;
    *) echo "--set model.dtype=bf16 --set train.memory_mode=$1" ;;
  esac
}

extend() {  # extend MODE RUN_DIR
  local settings
  read -r -a settings <<< "$(mode_settings "$1")"
  if [ "$RECIPE" = demo ]; then
    "$CREAM" train -c configs/demo/extend-cream.yaml --set model.path="$BASE" \
      --set data.train="$WORK/data/train" --set data.valid="$WORK/data/valid" \
      --set checkpoint.output_dir="$2/train" --set train.steps="$STEPS" --set checkpoint.every="$STEPS" \
      --set eval.every=0 --set log.every=5 --set model.threads="$THREADS" "${settings[@]}"
  else
    "$CREAM" train -c configs/mini/extend.yaml --set model.path="$BASE" --set data.train="$WORK/data/extend" \
      --set positions.method=cream --set positions.train_length="$N" --set positions.target_length="$((8 * N))" \
      --set rope.type=linear --set train.steps="$STEPS" --set train.global_batch=8 --set train.micro_batch=8 \
      --set train.seed=1 --set schedule.warmup_steps=10 --set checkpoint.output_dir="$2/train" \
      --set checkpoint.every="$STEPS" --set model.threads="$THREADS" "${settings[@]}"
  fi
}

evaluate() {  # evaluate RUN_DIR: ppl at N and 8N, passkey at 8N (a filler inside the window for mini)
  local model threads=()
  model="$1/train/$(printf 'step-%06d' "$STEPS")"
  [ "$THREADS" != 0 ] && threads=(--threads "$THREADS")
  if [ "$RECIPE" = demo ]; then
    "$CREAM" eval ppl --model "$model" --data "$WORK/data/test" --lengths "$N,$((8 * N))" --mode truncate --docs 20 \
      "${threads[@]}" --out "$1/ppl.json"
    "$CREAM" eval passkey --model "$model" --lengths "$((8 * N))" --depths 0,25,50,75,100 --trials 10 \
      --scoring forced --seed 1 "${threads[@]}" --out "$1/passkey.json"
  else
    "$CREAM" eval ppl --model "$model" --data "$WORK/data/test" --lengths "$N,$((8 * N))" --mode truncate --docs 50 \
      "${threads[@]}" --out "$1/ppl.json"
    "$CREAM" eval passkey --model "$model" --lengths "$((8 * N - 32))" --depths 0,10,20,30,40,50,60,70,80,90,100 \
      --trials 10 --scoring forced --seed 1 "${threads[@]}" --out "$1/passkey.json"
  fi
}

run_mode() {  # run_mode MODE: extension then evaluation, its own log
  local run="$OUT/$1" started
  rm -rf "$run" && mkdir -p "$run"
  started=$(date +%s)
  extend "$1" "$run"
  echo "$(( $(date +%s) - started ))" > "$run/train_seconds"
  evaluate "$run"
}

running=0
for mode in $MODES; do
  if [ -f "$OUT/$mode/passkey.json" ]; then echo "== $mode: done already ($OUT/$mode)"; continue; fi
  echo "== $mode: extension ($STEPS steps), then ppl at $N / $((8 * N)) and passkey at 8N (log: $OUT/$mode.log)"
  mkdir -p "$OUT"
  run_mode "$mode" > "$OUT/$mode.log" 2>&1 &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then wait -n || { echo "compare_memory_modes.sh: a run failed (see $OUT/*.log)" >&2; wait; exit 1; }; running=$((running - 1)); fi
done
while [ "$running" -gt 0 ]; do
  wait -n || { echo "compare_memory_modes.sh: a run failed (see $OUT/*.log)" >&2; wait; exit 1; }
  running=$((running - 1))
done

"$PYTHON" - "$OUT" "$N" "$RECIPE" $MODES <<'PY'
import json, os, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

out, n, recipe, modes = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
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
    seconds = int(open(os.path.join(run, "train_seconds")).read())
    rows.append({"mode": mode, "final_loss": losses[-1], f"ppl_{n}": ppl[str(n)], f"ppl_{8 * n}": ppl[str(8 * n)],
                 "passkey_token_accuracy": passkey["token_accuracy"], "passkey_accuracy": passkey["accuracy"],
                 "passkey_prompt_tokens": passkey["prompt_tokens"], "train_seconds": seconds})
plt.xlabel("step"); plt.ylabel("training loss")
plt.title(f"CREAM linear x8 extension ({recipe} recipe, N = {n}) by memory mode")
plt.legend(); plt.grid(alpha=0.3); plt.tight_layout()
plt.savefig(os.path.join(out, "loss_by_memory_mode.png"), dpi=120)
json.dump(rows, open(os.path.join(out, "summary.json"), "w"), indent=2)
print(f"{'mode':<18}{'final loss':>11}{'ppl@' + str(n):>10}{'ppl@' + str(8 * n):>10}{'passkey tok acc':>16}"
      f"{'exact':>7}{'train s':>9}")
for r in rows:
    print(f"{r['mode']:<18}{r['final_loss']:>11.4f}{r[f'ppl_{n}']:>10.2f}{r[f'ppl_{8 * n}']:>10.2f}"
          f"{r['passkey_token_accuracy']:>16.3f}{r['passkey_accuracy']:>7.3f}{r['train_seconds']:>9}")
PY
