#!/usr/bin/env bash
# CPU training speed, side by side: `cream bench train` against the same Llama step in
# plain PyTorch (scripts/bench_train_torch.py) on the same torch kernels, same shape,
# threads, warmup and steps. Per dtype (fp32, then bf16 with float32 masters on both
# sides) the two run alternately, cream first, RUNS times each, one process per run.
# Prints one JSON object: every run's tokens/s, the medians and the ratio
# cream / pytorch of the medians per dtype (wall clock), plus median process CPU ms per
# step and their ratio (pytorch / cream; less sensitive to other load on a shared
# machine, though it also counts OpenMP spin-waiting). Builds nothing.
#
# Usage: scripts/bench_train.sh [--runs N] [--steps N] [--warmup N] [--threads N]
#          [--dtypes fp32,bf16] [-- extra shape flags for both sides, e.g. --layers 8]
#   env: CREAM (binary, default build/cream), CREAM_PYTHON (python with torch, default
#        ~/.cache/cream/venv/bin/python, else python3)
# Default shape: 4 layers, hidden 256, 4 heads, intermediate 688, vocab 4096,
# 16 x 256 tokens, 2 threads; 2 runs x 2 sides x 2 dtypes of 2 + 8 steps (~2-4 min on 2 cores).
set -euo pipefail

CREAM=${CREAM:-build/cream}
PYTHON=${CREAM_PYTHON:-$HOME/.cache/cream/venv/bin/python}
[[ -x $PYTHON ]] || PYTHON=python3
RUNS=2 STEPS=8 WARMUP=2 THREADS=2 DTYPES=fp32,bf16
SHAPE=(--layers 4 --hidden 256 --heads 4 --intermediate 688 --vocab 4096 --batch 16 --seq 256)
HERE=$(cd "$(dirname "$0")" && pwd)

die() { echo "bench_train: $*" >&2; exit 1; }
while (($#)); do
  case $1 in
    --runs|--steps|--warmup|--threads|--dtypes)
      [[ $# -ge 2 ]] || die "$1 needs a value"
      declare "$(tr a-z A-Z <<< "${1#--}")=$2"; shift 2 ;;
    --) shift; SHAPE+=("$@"); break ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ -x $CREAM ]] || die "$CREAM: cream binary not found (build it first, or set CREAM)"
"$PYTHON" -c 'import torch' 2>/dev/null || die "$PYTHON cannot import torch (set CREAM_PYTHON)"
command -v jq >/dev/null || die "jq not installed"

COMMON=("${SHAPE[@]}" --threads "$THREADS" --warmup "$WARMUP" --steps "$STEPS")
LOG=$(mktemp /tmp/cream_bench_train.XXXXXX)
trap 'rm -f "$LOG"' EXIT

# run_side SIDE DTYPE: one process, its JSON line on stdout.
run_side() {
  if [[ $1 == cream ]]; then
    "$CREAM" bench train "${COMMON[@]}" --dtype "$2" 2> "$LOG" || die "cream bench train failed: $(tail -1 "$LOG")"
  else
    "$PYTHON" "$HERE/bench_train_torch.py" "${COMMON[@]}" --dtype "$2" 2> "$LOG" ||
      die "bench_train_torch.py failed: $(tail -1 "$LOG")"
  fi
}

results=()
IFS=, read -ra dtype_list <<< "$DTYPES"
for dtype in "${dtype_list[@]}"; do
  for ((run = 1; run <= RUNS; run++)); do
    for side in cream pytorch; do
      line=$(run_side "$side" "$dtype")
      echo "bench_train: $dtype run $run $side: $(jq -r .tokens_per_s <<< "$line") tokens/s" >&2
      results+=("$(jq -c --arg side "$side" '{side: $side, dtype, tokens_per_s, cpu_ms_per_step, scheme,
                                           libtorch: (.libtorch // .torch), threads, shape}' <<< "$line")")
    done
  done
done

printf '%s\n' "${results[@]}" | jq -s --argjson runs "$RUNS" --argjson steps "$STEPS" --argjson warmup "$WARMUP" '
  def median: sort | (if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end)
    | . * 10 | round / 10;
  {shape: .[0].shape, threads: .[0].threads, runs: $runs, warmup: $warmup, steps: $steps,
   versions: (map({(.side): .libtorch}) | add),
   dtypes: (group_by(.dtype) | map({(.[0].dtype): (
     (map(select(.side == "cream") | .tokens_per_s)) as $c |
     (map(select(.side == "pytorch") | .tokens_per_s)) as $p |
     (map(select(.side == "cream") | .cpu_ms_per_step) | median) as $cc |
     (map(select(.side == "pytorch") | .cpu_ms_per_step) | median) as $pc |
     {scheme: (map(select(.side == "cream") | .scheme) | first),
      cream_tokens_per_s: $c, pytorch_tokens_per_s: $p,
      cream_median: ($c | median), pytorch_median: ($p | median),
      ratio: (($c | median) / ($p | median) * 1000 | round / 1000),
      cpu_ms_per_step: {cream: $cc, pytorch: $pc}, cpu_ratio: ($pc / $cc * 1000 | round / 1000)})}) | add)}'
