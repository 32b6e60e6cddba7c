#!/usr/bin/env bash
# Throughput of `cream data prepare` on the same ~30 MB English corpus (copies of
# perl-doc's .pod files), one run each, side by side:
#   - with a SentencePiece tokenizer.model against `spm_encode --output_format=id`;
#   - with a Llama-3-style tokenizer.json (byte-level BPE trained here by `tokenizers`)
#     against `tokenizers`' encode_batch on all cores (scripts/bench_tokenizer_json.py:
#     reading + encoding, BOS added, nothing written; cream also writes its shards).
# Prints one JSON object: tokens/s of each tool (wall clock, and per CPU second)
# and the ratios (cream / the other). cream's count includes one BOS per document
# and whole documents (newlines are tokens); spm_encode encodes line by line; the
# tokenizer.json token counts must be equal (same output), or the script fails.
#
# Usage: scripts/bench_data.sh [CREAM_BINARY]   (default build/cream)
#   env: BENCH_DIR (work folder, default /tmp/cream_bench_data; the corpus and the
#        SentencePiece model are reused when present), TARGET_MB (default 30),
#        THREADS (cream --threads, default 0 = all cores), VOCAB (default 8000).
set -euo pipefail

CREAM=${1:-build/cream}
PYTHON=${PYTHON:-$("$(dirname "$0")/setup.sh" --print-python)}
BENCH_DIR=${BENCH_DIR:-/tmp/cream_bench_data}
TARGET_MB=${TARGET_MB:-30}
THREADS=${THREADS:-0}
VOCAB=${VOCAB:-8000}
POD_DIR=/usr/share/perl/5.36/pod

die() { echo "bench_data: $*" >&2; exit 1; }
[[ -x $CREAM ]] || die "$CREAM: cream binary not found (build it first)"
command -v spm_train >/dev/null && command -v spm_encode >/dev/null || die "spm_train / spm_encode not installed"
compgen -G "$POD_DIR/*.pod" >/dev/null || die "$POD_DIR/*.pod not found (install perl-doc)"
mkdir -p "$BENCH_DIR/docs"

# Corpus: whole .pod files, copied until TARGET_MB; each file is one document for
# cream, and corpus.txt is the same bytes concatenated for spm_encode.
if [[ ! -s $BENCH_DIR/corpus.txt ]]; then
  target=$((TARGET_MB * 1000000)) total=0 copy=0
  while ((total < target)); do
    for pod in "$POD_DIR"/*.pod; do
      dest="$BENCH_DIR/docs/$(printf '%03d' "$copy")-$(basename "$pod" .pod).txt"
      cp "$pod" "$dest"
      total=$((total + $(stat -c %s "$dest")))
      ((total >= target)) && break
    done
    copy=$((copy + 1))
  done
  find "$BENCH_DIR/docs" -name '*.txt' | sort | xargs cat > "$BENCH_DIR/corpus.txt"
fi

# A Llama-style SentencePiece model trained on the (uncopied) pod files.
if [[ ! -s $BENCH_DIR/tok.model ]]; then
  cat "$POD_DIR"/*.pod > "$BENCH_DIR/train.txt"
  spm_train --input="$BENCH_DIR/train.txt" --model_prefix="$BENCH_DIR/tok" --vocab_size="$VOCAB" \
    --model_type=unigram --normalization_rule_name=identity --remove_extra_whitespaces=false \
    --byte_fallback=true --character_coverage=0.9999 --input_sentence_size=300000 \
    --shuffle_input_sentence=true --num_threads="$(nproc)" > "$BENCH_DIR/spm_train.log" 2>&1 ||
    die "spm_train failed (see $BENCH_DIR/spm_train.log)"
fi

mapfile -t docs < <(find "$BENCH_DIR/docs" -name '*.txt' | sort)
bytes=$(stat -c %s "$BENCH_DIR/corpus.txt")
load_before=$(cut -d' ' -f1 /proc/loadavg)

# /usr/bin/time records wall, user and system seconds: on a shared machine the
# CPU seconds show the per-core efficiency that the wall time can hide.
/usr/bin/time -f "%e %U %S" -o "$BENCH_DIR/spm.time" \
  spm_encode --model="$BENCH_DIR/tok.model" --output_format=id < "$BENCH_DIR/corpus.txt" > "$BENCH_DIR/spm_ids.txt"
rm -rf "$BENCH_DIR/prepared"
/usr/bin/time -f "%e %U %S" -o "$BENCH_DIR/cream.time" \
  "$CREAM" data prepare --tokenizer "$BENCH_DIR/tok.model" --input "${docs[@]}" --out "$BENCH_DIR/prepared" \
  --threads "$THREADS" --quiet 2> "$BENCH_DIR/cream.log" || die "cream data prepare failed (see $BENCH_DIR/cream.log)"

spm_tokens=$(wc -w < "$BENCH_DIR/spm_ids.txt")
cream_tokens=$(grep -m1 '^  "tokens"' "$BENCH_DIR/prepared/manifest.json" | tr -dc '0-9')
cream_docs=$(grep -m1 '^  "documents"' "$BENCH_DIR/prepared/manifest.json" | tr -dc '0-9')
read -r spm_wall spm_user spm_sys < "$BENCH_DIR/spm.time"
read -r cream_wall cream_user cream_sys < "$BENCH_DIR/cream.time"
# tokenizer.json: a Llama-3-style BPE with VOCAB tokens, trained on the same pod files.
[[ -s $BENCH_DIR/tokjson/tokenizer.json ]] ||
  "$PYTHON" "$(dirname "$0")/bench_tokenizer_json.py" train "$BENCH_DIR/train.txt" "$BENCH_DIR/tokjson" "$VOCAB"
RAYON_NUM_THREADS=$(nproc) TOKENIZERS_PARALLELISM=true \
  "$PYTHON" "$(dirname "$0")/bench_tokenizer_json.py" encode "$BENCH_DIR/tokjson/tokenizer.json" "${docs[@]}" \
  > "$BENCH_DIR/hf.json"
rm -rf "$BENCH_DIR/prepared-json"
/usr/bin/time -f "%e %U %S" -o "$BENCH_DIR/cream-json.time" \
  "$CREAM" data prepare --tokenizer "$BENCH_DIR/tokjson/tokenizer.json" --input "${docs[@]}" \
  --out "$BENCH_DIR/prepared-json" --threads "$THREADS" --quiet 2> "$BENCH_DIR/cream-json.log" ||
  die "cream data prepare (tokenizer.json) failed (see $BENCH_DIR/cream-json.log)"
json_tokens=$(grep -m1 '^  "tokens"' "$BENCH_DIR/prepared-json/manifest.json" | tr -dc '0-9')
read -r json_wall json_user json_sys < "$BENCH_DIR/cream-json.time"

"$PYTHON" - "$bytes" "$cream_docs" "$(nproc)" "$THREADS" "$load_before" \
  "$spm_tokens" "$spm_wall" "$(echo "$spm_user + $spm_sys" | bc)" \
  "$cream_tokens" "$cream_wall" "$(echo "$cream_user + $cream_sys" | bc)" \
  "$json_tokens" "$json_wall" "$(echo "$json_user + $json_sys" | bc)" "$BENCH_DIR/hf.json" <<'PY'
import json, sys
a = sys.argv[1:]
bytes_, docs, cores, threads, load = int(a[0]), int(a[1]), int(a[2]), int(a[3]), float(a[4])
def side(tokens, wall, cpu):
    tokens, wall, cpu = int(tokens), float(wall), float(cpu)
    return {"tokens": tokens, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "tokens_per_s": round(tokens / wall), "tokens_per_cpu_s": round(tokens / cpu)}
spm, cream, cream_json = side(*a[5:8]), side(*a[8:11]), side(*a[11:14])
hf = json.load(open(a[14]))
hf = side(hf["tokens"], hf["wall_s"], hf["cpu_s"])
if hf["tokens"] != cream_json["tokens"]:
    sys.exit(f"bench_data: tokenizer.json token counts differ: tokenizers {hf['tokens']}, cream {cream_json['tokens']}")
out = {"corpus_bytes": bytes_, "documents": docs, "cores": cores, "cream_threads": threads, "load_average": load,
       "spm_encode": spm, "cream_prepare": cream,
       # ratio: tokens/s as asked; ratio_bytes_per_s: the same corpus bytes per second, which does
       # not credit cream for the extra newline/BOS tokens of whole-document encoding.
       "ratio": round(cream["tokens_per_s"] / spm["tokens_per_s"], 2),
       "ratio_per_cpu_s": round(cream["tokens_per_cpu_s"] / spm["tokens_per_cpu_s"], 2),
       "ratio_bytes_per_s": round(spm["wall_s"] / cream["wall_s"], 2),
       "tokenizer_json": {"tokenizers_encode_batch": hf, "cream_prepare": cream_json,
                          "ratio": round(cream_json["tokens_per_s"] / hf["tokens_per_s"], 2),
                          "ratio_per_cpu_s": round(cream_json["tokens_per_cpu_s"] / hf["tokens_per_cpu_s"], 2)}}
print(json.dumps(out, indent=1))
PY
