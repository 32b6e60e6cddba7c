#!/usr/bin/env bash
# The memory plan against measurement on the CPU (README.md "Memory plan"): the
# Llama-2-7B-shaped slice (preset llama2-7b-slice: hidden 4096, intermediate 11008,
# 32 heads, vocab 32000, 2 layers), one sequence of SEQ tokens per step, trained with
# `cream bench` for a few steps in each memory mode. The measured figure is bench's
# peak RSS over the timed steps minus the RSS before the model existed; the plan is
# `cream train --dry-run`'s peak for the same settings. Prints a Markdown table
# (mode, plan GiB, measured GiB, measured / plan) and the raw JSON lines to OUT.
#
#   scripts/measure_memory.sh [--seq 4096] [--steps 1] [--modes "m1 m2 ..."] [--out DIR]
#
# Modes: fp32-masters bf16-sr bf16-sr:bf16 (bf16 gradient sums) bf16-rtn offload
# step-in-backward. Each run takes minutes on a small CPU and needs ~16 GB of RAM for
# fp32-masters; runs go one at a time. CREAM=/path/to/cream picks the
# binary (default build/cream, which must exist).
# MALLOC_MMAP_THRESHOLD_ (glibc) is passed through: the default dynamic threshold lets
# glibc keep freed blocks under 32 MiB resident, which RSS counts and the plan does not.
set -euo pipefail
cd "$(dirname "$0")/.."

SEQ=4096 STEPS=1 OUT=runs/memory-plan
MODES="fp32-masters bf16-sr bf16-sr:bf16 bf16-rtn offload step-in-backward"
while [ $# -gt 0 ]; do
  case "$1" in
    --seq) SEQ="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --modes) MODES="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "measure_memory.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
CREAM="${CREAM:-build/cream}"
[ -x "$CREAM" ] || { echo "measure_memory.sh: $CREAM not found (build the cream target first)" >&2; exit 1; }
mkdir -p "$OUT"

# The dry run needs an experiment config with the bench's settings: the slice, bf16,
# CPU, one sequence of SEQ tokens per optimizer step, no checkpointing.
CONFIG="$OUT/slice.yaml"
cat > "$CONFIG" <<EOF
model:
  init: llama2-7b-slice
  dtype: bf16
  device: cpu
data:
  train: $OUT/no-data
positions:
  method: standard
  train_length: $SEQ
  target_length: $SEQ
rope:
  type: none
train:
  steps: 1
  global_batch: 1
  micro_batch: 1
optim:
  lr: 1.0e-4
checkpoint:
  output_dir: $OUT/no-run
EOF

json_field() {  # json_field FILE python-expression-on-j
  python3 -c "import json,sys; j=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); print($2)" "$1"
}

echo "| mode | plan GiB | measured GiB | measured / plan | plan's peak at |"
echo "|---|---|---|---|---|"
for spec in $MODES; do
  mode="${spec%%:*}" sums=""
  [ "$spec" != "$mode" ] && sums="${spec#*:}"
  bench_args=(--preset llama2-7b-slice --seq "$SEQ" --micro-batch 1 --steps "$STEPS" --warmup 1 --device cpu
              --memory-mode "$mode")
  sets=(--set "train.memory_mode=$mode")
  if [ -n "$sums" ]; then
    bench_args+=(--grad-accumulation "$sums")
    sets+=(--set "train.grad_accumulation=$sums")
  fi
  [ "$mode" = step-in-backward ] && sets+=(--set train.grad_clip=0)
  name="${spec/:/-}"
  "$CREAM" train -c "$CONFIG" --dry-run "${sets[@]}" > "$OUT/$name.plan.txt" 2>/dev/null
  plan_line=$(grep -E '^  peak ' "$OUT/$name.plan.txt")
  plan_bytes=$(sed -E 's/.*\(([0-9]+) bytes\).*/\1/' <<<"$plan_line")
  plan_at=$(sed -E 's/.* at (.*) \([0-9]+ bytes\).*/\1/' <<<"$plan_line")
  "$CREAM" bench "${bench_args[@]}" > "$OUT/$name.json" 2> "$OUT/$name.log"
  measured=$(json_field "$OUT/$name.json" 'j["memory"]["peak"]["bytes"]')
  python3 -c "import sys; p, m = int(sys.argv[1]), int(sys.argv[2]); print(f'| {sys.argv[3]} | {p / 2**30:.2f} | {m / 2**30:.2f} | {m / p:.3f} | {sys.argv[4]} |')" \
    "$plan_bytes" "$measured" "$spec" "$plan_at"
done
