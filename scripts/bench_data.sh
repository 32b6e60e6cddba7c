#!/usr/bin/env bash
# Throughput of `cream data prepare` against `spm_encode --output_format=id` on the
# same ~30 MB English corpus (copies of perl-doc's .pod files), one run each.
# Prints one JSON object: tokens/s of each tool (wall clock, and per CPU second)
# and the ratio (cream / spm_encode). cream's count includes one BOS per document
# and whole documents (newlines are tokens); spm_encode encodes line by line.
#
# Usage: scripts/bench_data.sh [CREAM_BINARY]   (default build/cream)
#   env: BENCH_DIR (work folder, default /tmp/cream_bench_data; the corpus and the
#        SentencePiece model are reused when present), TARGET_MB (default 30),
#        THREADS (cream --threads, default 0 = all cores), VOCAB (default 8000).
set -euo pipefail

CREAM=${1:-build/cream}
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
awk -v bytes="$bytes" -v docs="$cream_docs" -v st="$spm_tokens" -v ct="$cream_tokens" -v load="$load_before" \
    -v sw="$spm_wall" -v sc="$(echo "$spm_user + $spm_sys" | bc)" \
    -v cw="$cream_wall" -v cc="$(echo "$cream_user + $cream_sys" | bc)" \
    -v cores="$(nproc)" -v threads="$THREADS" 'BEGIN {
  printf "{\"corpus_bytes\": %d, \"documents\": %d, \"cores\": %d, \"cream_threads\": %d, \"load_average\": %s,\n", bytes, docs, cores, threads, load
  printf " \"spm_encode\": {\"tokens\": %d, \"wall_s\": %.2f, \"cpu_s\": %.2f, \"tokens_per_s\": %.0f, \"tokens_per_cpu_s\": %.0f},\n", st, sw, sc, st / sw, st / sc
  printf " \"cream_prepare\": {\"tokens\": %d, \"wall_s\": %.2f, \"cpu_s\": %.2f, \"tokens_per_s\": %.0f, \"tokens_per_cpu_s\": %.0f},\n", ct, cw, cc, ct / cw, ct / cc
  # ratio: tokens/s as asked; ratio_bytes_per_s: the same corpus bytes per second, which does
  # not credit cream for the extra newline/BOS tokens of whole-document encoding.
  printf " \"ratio\": %.2f, \"ratio_per_cpu_s\": %.2f, \"ratio_bytes_per_s\": %.2f}\n", (ct / cw) / (st / sw), (ct / cc) / (st / sc), sw / cw
}'
