#!/usr/bin/env bash
# CPU training speed, side by side: `cream bench` against the same Llama step in plain
# PyTorch (scripts/bench_train_torch.py) on the same torch kernels, same shape, threads,
# warmup and steps. Schemes (both sides hold the same bytes and do the same work):
#   fp32      float32 everything                  cream --dtype fp32 --memory-mode fp32-masters
#   bf16      bf16 compute, float32 masters       cream --dtype bf16 --memory-mode fp32-masters
#   bf16-rtn  bf16 weights, grads, AdamW moments  cream --memory-mode bf16-rtn --grad-accumulation bf16
#             (PyTorch: model.to(bfloat16) with torch.optim.AdamW)
# Per scheme the two run alternately, cream first, RUNS times each, one process per run.
# Prints one JSON object: every run's tokens/s, the medians and the ratio cream / pytorch
# of the medians per scheme (wall clock), plus median process CPU ms per step and their
# ratio (pytorch / cream; less sensitive to other load on a shared machine, though it also
# counts OpenMP spin-waiting). Builds nothing.
#
# Usage: scripts/bench_train.sh [--runs N] [--steps N] [--warmup N] [--threads N]
#          [--schemes fp32,bf16,bf16-rtn] [-- extra shape flags for both sides, e.g. --layers 8]
#   env: CREAM (binary, default build/cream), CREAM_PYTHON (python with torch, default
#        ~/.cache/cream/venv/bin/python, else python3)
# Default shape: 4 layers, hidden 256, 4 heads, intermediate 688, vocab 4096, micro-batch
# 16 x 256 tokens, 2 threads; 2 runs x 2 sides x 3 schemes of 2 + 8 steps (~3-6 min on 2 cores).
set -euo pipefail

CREAM=${CREAM:-build/cream}
PYTHON=${CREAM_PYTHON:-$HOME/.cache/cream/venv/bin/python}
[[ -x $PYTHON ]] || PYTHON=python3
RUNS=2 STEPS=8 WARMUP=2 THREADS=2 SCHEMES=fp32,bf16,bf16-rtn
SHAPE=(--layers 4 --hidden 256 --heads 4 --kv-heads 4 --intermediate 688 --vocab 4096 --micro-batch 16 --seq 256)
HERE=$(cd "$(dirname "$0")" && pwd)

die() { echo "bench_train: $*" >&2; exit 1; }
while (($#)); do
  case $1 in
    --runs|--steps|--warmup|--threads|--schemes)
      [[ $# -ge 2 ]] || die "$1 needs a value"
      declare "$(tr a-z A-Z <<< "${1#--}")=$2"; shift 2 ;;
    --) shift; SHAPE+=("$@"); break ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ -x $CREAM ]] || die "$CREAM: cream binary not found (build it first, or set CREAM)"
"$PYTHON" -c 'import torch' 2>/dev/null || die "$PYTHON cannot import torch (set CREAM_PYTHON)"
command -v jq >/dev/null || die "jq not installed"

COMMON=("${SHAPE[@]}" --threads "$THREADS" --warmup "$WARMUP" --steps "$STEPS")
LOG=$(mktemp /tmp/cream_bench_train.XXXXXX)
trap 'rm -f "$LOG"' EXIT

# The flags of SCHEME for each side.
cream_flags() {
  case $1 in
    fp32) echo --dtype fp32 --memory-mode fp32-masters ;;
    bf16) echo --dtype bf16 --memory-mode fp32-masters ;;
    bf16-rtn) echo --dtype bf16 --memory-mode bf16-rtn --grad-accumulation bf16 ;;
    *) die "unknown scheme $1 (fp32, bf16, bf16-rtn)" ;;
  esac
}
torch_flags() { case $1 in bf16-rtn) echo --dtype bf16-pure ;; *) echo --dtype "$1" ;; esac; }

# run_side SIDE SCHEME: one process, its JSON line on stdout.
run_side() {
  if [[ $1 == cream ]]; then
    # shellcheck disable=SC2046  # word splitting of the flag list is intended
    "$CREAM" bench --preset tiny --device cpu "${COMMON[@]}" $(cream_flags "$2") 2> "$LOG" ||
      die "cream bench failed: $(tail -1 "$LOG")"
  else
    # shellcheck disable=SC2046
    "$PYTHON" "$HERE/bench_train_torch.py" "${COMMON[@]}" $(torch_flags "$2") 2> "$LOG" ||
      die "bench_train_torch.py failed: $(tail -1 "$LOG")"
  fi
}

results=()
IFS=, read -ra scheme_list <<< "$SCHEMES"
for scheme in "${scheme_list[@]}"; do
  cream_flags "$scheme" > /dev/null
  for ((run = 1; run <= RUNS; run++)); do
    for side in cream pytorch; do
      line=$(run_side "$side" "$scheme")
      echo "bench_train: $scheme run $run $side: $(jq -r .tokens_per_s <<< "$line") tokens/s" >&2
      results+=("$(jq -c --arg side "$side" --arg scheme "$scheme" '{side: $side, scheme: $scheme, tokens_per_s,
                   cpu_ms_per_step, libtorch: (.libtorch // .torch), threads,
                   shape: (.shape | {layers, hidden, heads, kv_heads, intermediate, vocab}),
                   tokens: ((.micro_batch // .shape.batch) * (.seq // .shape.seq))}' <<< "$line")")
    done
  done
done

printf '%s\n' "${results[@]}" | jq -s --argjson runs "$RUNS" --argjson steps "$STEPS" --argjson warmup "$WARMUP" '
  def median: sort | (if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end)
    | . * 10 | round / 10;
  {shape: .[0].shape, tokens_per_step: .[0].tokens, threads: .[0].threads, runs: $runs, warmup: $warmup,
   steps: $steps, versions: (map({(.side): .libtorch}) | add),
   schemes: (group_by(.scheme) | map({(.[0].scheme): (
     (map(select(.side == "cream") | .tokens_per_s)) as $c |
     (map(select(.side == "pytorch") | .tokens_per_s)) as $p |
     (map(select(.side == "cream") | .cpu_ms_per_step) | median) as $cc |
     (map(select(.side == "pytorch") | .cpu_ms_per_step) | median) as $pc |
     {cream_tokens_per_s: $c, pytorch_tokens_per_s: $p,
      cream_median: ($c | median), pytorch_median: ($p | median),
      ratio: (($c | median) / ($p | median) * 1000 | round / 1000),
      cpu_ms_per_step: {cream: $cc, pytorch: $pc}, cpu_ratio: ($pc / $cc * 1000 | round / 1000)})}) | add)}'
