#!/usr/bin/env bash
# One process against two on this machine's CPUs (Gloo over loopback), same global
# batch and data: the demo model (configs/demo/model.json, ~1.3M parameters) at 128
# tokens, STEPS steps each, one intra-op thread per process. Prints one JSON object:
# per run, tokens/s of the whole run and per process (median over the logged steps
# after the first), and the seconds per step spent in collectives (waiting included).
#
# Usage: scripts/bench_dist.sh [CREAM_BINARY]   (default build/cream)
#   env: BENCH_DIR (default /tmp/cream_bench_dist), STEPS (default 30)
set -euo pipefail

CREAM=$(realpath "${1:-build/cream}")
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BENCH_DIR=${BENCH_DIR:-/tmp/cream_bench_dist}
STEPS=${STEPS:-30}
POD_DIR=/usr/share/perl/5.36/pod

die() { echo "bench_dist: $*" >&2; exit 1; }
[[ -x $CREAM ]] || die "$CREAM: cream binary not found (build it first)"
command -v spm_train >/dev/null || die "spm_train not installed (scripts/setup.sh)"
compgen -G "$POD_DIR/*.pod" >/dev/null || die "$POD_DIR/*.pod not found (install perl-doc)"
mkdir -p "$BENCH_DIR"
cd "$BENCH_DIR"

if [[ ! -s data/manifest.json ]]; then
  cat "$POD_DIR"/*.pod > corpus.txt
  spm_train --input=corpus.txt --model_prefix=tok --vocab_size=2000 --model_type=bpe \
            --byte_fallback=true --minloglevel=2 >/dev/null 2>&1
  mkdir -p tokdir && cp tok.model tokdir/tokenizer.model
  "$CREAM" data prepare --tokenizer tokdir/tokenizer.model --input "$POD_DIR"/*.pod --out data >/dev/null 2>&1
  "$CREAM" init --model-config "$ROOT/configs/demo/model.json" --tokenizer tokdir/tokenizer.model --out init >/dev/null 2>&1
fi

config() {  # config NAME MICRO ZERO
  cat > "$1.yaml" <<YAML
model: {path: init, dtype: fp32, device: cpu, threads: 1}
data: {train: data, short_docs: pack}
positions: {method: standard, train_length: 128, target_length: 128}
rope: {type: none}
train: {steps: $STEPS, global_batch: 16, micro_batch: $2, seed: 1}
optim: {name: adamw, lr: 1.0e-3}
checkpoint: {output_dir: runs/$1}
dist: {zero: $3}
YAML
}

run() {  # run NAME PROCESSES MICRO ZERO
  rm -rf "runs/$1"
  config "$1" "$3" "$4"
  if [[ $2 == 1 ]]; then
    OMP_NUM_THREADS=1 "$CREAM" train -c "$1.yaml" >/dev/null 2>"$1.log" || die "$1 failed: $(tail -1 "$1.log")"
  else
    local port=$((29000 + RANDOM % 1000)) pids=()
    for rank in $(seq 0 $(($2 - 1))); do
      RANK=$rank WORLD_SIZE=$2 LOCAL_RANK=$rank MASTER_ADDR=127.0.0.1 MASTER_PORT=$port OMP_NUM_THREADS=1 \
        "$CREAM" train -c "$1.yaml" >/dev/null 2>"$1.rank$rank.log" & pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || die "$1 failed: $(tail -1 "$1.rank0.log")"; done
  fi
}

run one 1 16 0
run two 2 8 0
run two-zero1 2 8 1

python3 - "$BENCH_DIR" "$STEPS" <<'PY'
import json, statistics, sys
from pathlib import Path
root, steps = Path(sys.argv[1]), int(sys.argv[2])
out = {"model": "configs/demo/model.json", "tokens_per_step": 16 * 128, "steps": steps,
       "threads_per_process": 1, "runs": {}}
for name, processes in (("one", 1), ("two", 2), ("two-zero1", 2)):
    lines = [json.loads(l) for l in (root / "runs" / name / "metrics.jsonl").read_text().splitlines()][1:]
    tps = statistics.median(l["tokens_per_s"] for l in lines)
    comm = statistics.median(l.get("comm_s", 0.0) for l in lines)
    step_s = 16 * 128 / tps
    out["runs"][name] = {"processes": processes, "tokens_per_s": round(tps, 1),
                         "tokens_per_s_per_process": round(tps / processes, 1),
                         "step_s": round(step_s, 4), "comm_s_per_step": round(comm, 4),
                         "comm_share": round(comm / step_s, 3)}
one, two = out["runs"]["one"]["tokens_per_s"], out["runs"]["two"]["tokens_per_s"]
out["speedup_two_vs_one"] = round(two / one, 3)
print(json.dumps(out, indent=1))
PY
