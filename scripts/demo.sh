#!/usr/bin/env bash
# The README's first command: the main job end to end on a built-in small default.
# Installs and builds if needed, then on Debian's perl-doc pages:
#   corpus -> SentencePiece tokenizer -> token shards -> a small Llama pretrained at
#   N = 128 -> perplexity at 1x/2x/4x/8x N -> CREAM extension to L = 8N -> the same
#   perplexities again -> an HF export.
# About 15 minutes on 2 CPU cores once built. Output in ${DEMO_DIR:-runs/demo}.
#   PRETRAIN_STEPS, EXTEND_STEPS override the step counts (e.g. for a quick look);
#   CREAM=/path/to/cream skips the build; DEMO_UNTIL=base stops after pretraining.
#   CREAM_NATIVE_KERNELS=1 runs the CPU's fastest kernels instead of the pinned ones.
set -euo pipefail
cd "$(dirname "$0")/.."

# The same float32 bits on every x86-64 CPU with AVX2: LibTorch's own kernels and
# MKL otherwise pick their code path by instruction set (AVX2 / AVX-512), whose
# last bits differ, and 800 training steps turn last bits into different
# perplexities (README: "Figures on other machines").
if [ "${CREAM_NATIVE_KERNELS:-0}" != 1 ]; then
  export ATEN_CPU_CAPABILITY="${ATEN_CPU_CAPABILITY:-avx2}" MKL_CBWR="${MKL_CBWR:-AVX2,STRICT}"
fi

./scripts/setup.sh
if [ -z "${CREAM:-}" ]; then  # CREAM=/path/to/cream uses that binary as is
  BUILD_DIR="${BUILD_DIR:-build}"
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD_DIR" --target cream -j "$(nproc)" >/dev/null
  CREAM="$(pwd)/$BUILD_DIR/cream"
fi
OUT="${DEMO_DIR:-runs/demo}"
PRETRAIN_STEPS="${PRETRAIN_STEPS:-600}"
EXTEND_STEPS="${EXTEND_STEPS:-200}"
N=128
LENGTHS="128,256,512,1024"
rm -rf "$OUT" && mkdir -p "$OUT/corpus/train" "$OUT/corpus/valid" "$OUT/corpus/test"

echo "== corpus: perl-doc .pod pages, split by document (every 10th valid, the next test)"
i=0
for pod in $(ls /usr/share/perl/*/pod/*.pod | sort); do
  case $((i % 10)) in
    0) split=valid ;;
    1) split=test ;;
    *) split=train ;;
  esac
  cp "$pod" "$OUT/corpus/$split/"
  i=$((i + 1))
done
echo "   $(ls "$OUT/corpus/train" | wc -l) train, $(ls "$OUT/corpus/valid" | wc -l) valid, $(ls "$OUT/corpus/test" | wc -l) test documents"

echo "== tokenizer: SentencePiece BPE, 2000 pieces, trained on the train split"
cat "$OUT"/corpus/train/*.pod > "$OUT/corpus/train.txt"
spm_train --input="$OUT/corpus/train.txt" --model_prefix="$OUT/tokenizer" --vocab_size=2000 \
  --model_type=bpe --normalization_rule_name=identity --remove_extra_whitespaces=false \
  --byte_fallback=true --input_sentence_size=200000 --shuffle_input_sentence=true \
  --minloglevel=2 >/dev/null 2>&1
for split in train valid test; do
  "$CREAM" data prepare --tokenizer "$OUT/tokenizer.model" --input "$OUT"/corpus/$split/*.pod \
    --out "$OUT/data/$split" --quiet
done

echo "== base model: random init, then pretraining at N = $N ($PRETRAIN_STEPS steps)"
"$CREAM" init --model-config configs/demo/model.json --tokenizer "$OUT/tokenizer.model" --out "$OUT/init" --seed 0
"$CREAM" train -c configs/demo/pretrain.yaml --set model.path="$OUT/init" \
  --set data.train="$OUT/data/train" --set data.valid="$OUT/data/valid" \
  --set checkpoint.output_dir="$OUT/pretrain" --set train.steps="$PRETRAIN_STEPS" \
  --set checkpoint.every="$PRETRAIN_STEPS" --set eval.every="$PRETRAIN_STEPS"
BASE="$OUT/pretrain/$(printf 'step-%06d' "$PRETRAIN_STEPS")"
if [ "${DEMO_UNTIL:-}" = base ]; then echo "== stopping after the base model (DEMO_UNTIL=base): $BASE"; exit 0; fi

ppl() {  # ppl NAME MODEL [extra flags]: truncate-mode perplexity on the test split
  local name="$1" model="$2"
  shift 2
  "$CREAM" eval ppl --model "$model" --data "$OUT/data/test" --lengths "$LENGTHS" --mode truncate \
    --docs 20 --out "$OUT/ppl-$name.json" "$@"
}
echo "== perplexity before extension (base model as is, and with linear x8 interpolation, no tuning)"
ppl base "$BASE"
ppl base-linear8 "$BASE" --rope-scaling "linear:8:$N"

echo "== CREAM extension to L = 8N = 1024 ($EXTEND_STEPS steps on 128-token sequences)"
"$CREAM" train -c configs/demo/extend-cream.yaml --set model.path="$BASE" \
  --set data.train="$OUT/data/train" --set data.valid="$OUT/data/valid" \
  --set checkpoint.output_dir="$OUT/extend-cream" --set train.steps="$EXTEND_STEPS" \
  --set checkpoint.every="$EXTEND_STEPS" --set eval.every="$EXTEND_STEPS"
EXTENDED="$OUT/extend-cream/$(printf 'step-%06d' "$EXTEND_STEPS")"

echo "== perplexity after extension"
ppl cream "$EXTENDED"

echo "== export: a plain HF folder (bf16, sharded safetensors, tokenizer, generation_config.json)"
"$CREAM" export --checkpoint "$EXTENDED" --out "$OUT/export" --dtype bf16
"$CREAM" inspect "$OUT/export"

echo "== summary (test split, truncate protocol, ppl_token)"
"$(./scripts/setup.sh --print-python)" - "$OUT" "$LENGTHS" <<'PY'
import json, sys
out, lengths = sys.argv[1], sys.argv[2].split(",")
print(f"{'model':<28}" + "".join(f"{l:>10}" for l in lengths))
for name, label in [("base", "base (N=128, no scaling)"), ("base-linear8", "base + linear x8, no tuning"),
                    ("cream", "CREAM-extended (linear x8)")]:
    record = json.load(open(f"{out}/ppl-{name}.json"))
    by_length = {str(r["length"]): r["ppl_token"] for r in record["results"]}
    print(f"{label:<28}" + "".join(f"{by_length.get(l, float('nan')):>10.2f}" for l in lengths))
PY
