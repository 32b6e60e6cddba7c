#!/usr/bin/env bash
# Cost of long-context evaluation on CPU: `cream eval ppl --mode truncate` and
# `cream eval passkey --scoring forced` on a tiny Llama (`cream init --preset tiny`, random
# weights: only time and memory are measured) at 1K..8K tokens (16K with --long). Each
# length runs in its own process, so /usr/bin/time's peak RSS is that length's own.
# Prints one JSON object: per eval and length, wall seconds of the whole command,
# tokens/s from the eval's JSON record (forward passes only) and peak RSS in KiB.
#
# Data: perl-doc's .pod pages concatenated into two long plain-text documents,
# tokenized with a SentencePiece model trained on the same pages (`cream data prepare`).
# Every length is beyond the tiny model's 512-token window: cream warns (in eval.log) and
# the numbers still show how cost grows with the length.
#
# Usage: scripts/bench_eval.sh [--cream PATH] [--long]   (default build/cream)
#   env: THREADS (cream --threads, default 0 = LibTorch default), VOCAB (default 4000)
set -euo pipefail

CREAM=build/cream
LENGTHS=(1024 2048 4096 8192)
THREADS=${THREADS:-0}
VOCAB=${VOCAB:-4000}
POD_DIR=/usr/share/perl/5.36/pod

die() { echo "bench_eval: $*" >&2; exit 1; }
while (($#)); do
  case $1 in
    --cream) [[ $# -ge 2 ]] || die "--cream needs a path"; CREAM=$2; shift 2 ;;
    --long) LENGTHS+=(16384); shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (usage: scripts/bench_eval.sh [--cream PATH] [--long])" ;;
  esac
done
[[ -x $CREAM ]] || die "$CREAM: cream binary not found (build it first)"
command -v spm_train >/dev/null || die "spm_train not installed"
command -v jq >/dev/null || die "jq not installed"
[[ -x /usr/bin/time ]] || die "/usr/bin/time not installed (package time)"
compgen -G "$POD_DIR/*.pod" >/dev/null || die "$POD_DIR/*.pod not found (install perl-doc)"

WORK=$(mktemp -d /tmp/cream_bench_eval.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# Two documents, each all the pods in a different order (~9 MB, millions of tokens), so
# every length has windows from two distinct texts.
mkdir -p "$WORK/docs"
ls "$POD_DIR"/*.pod | sort | xargs cat > "$WORK/docs/a.txt"
ls "$POD_DIR"/*.pod | sort -r | xargs cat > "$WORK/docs/b.txt"

spm_train --input="$WORK/docs/a.txt" --model_prefix="$WORK/tok" --vocab_size="$VOCAB" \
  --model_type=unigram --normalization_rule_name=identity --remove_extra_whitespaces=false \
  --byte_fallback=true --character_coverage=0.9999 --input_sentence_size=100000 \
  --shuffle_input_sentence=true --num_threads="$(nproc)" > "$WORK/spm_train.log" 2>&1 ||
  die "spm_train failed: $(tail -1 "$WORK/spm_train.log")"
"$CREAM" data prepare --tokenizer "$WORK/tok.model" --input "$WORK/docs/a.txt" "$WORK/docs/b.txt" \
  --out "$WORK/data" --quiet 2> "$WORK/prepare.log" || die "cream data prepare failed: $(tail -1 "$WORK/prepare.log")"
"$CREAM" init --preset tiny --tokenizer "$WORK/tok.model" --out "$WORK/model" > /dev/null 2> "$WORK/init.log" ||
  die "cream init failed: $(tail -1 "$WORK/init.log")"

# run_one NAME LENGTH ARGS...: one eval at one length; prints its JSON row.
run_one() {
  local name=$1 length=$2; shift 2
  local record="$WORK/$name-$length.json" timing="$WORK/$name-$length.time"
  /usr/bin/time -f "%e %M" -o "$timing" \
    "$CREAM" eval "$@" --model "$WORK/model" --lengths "$length" --threads "$THREADS" --out "$record" \
    > /dev/null 2>> "$WORK/eval.log" || die "cream eval $name at $length failed: $(tail -1 "$WORK/eval.log")"
  local wall rss tokens_per_s
  read -r wall rss < <(tail -1 "$timing")
  if [[ $name == ppl ]]; then
    tokens_per_s=$(jq '.results[0].tokens_per_s' "$record")
  else
    tokens_per_s=$(jq '.tokens_per_s' "$record")
  fi
  printf '{"length": %d, "wall_s": %.2f, "tokens_per_s": %.0f, "peak_rss_kib": %d}' \
    "$length" "$wall" "$tokens_per_s" "$rss"
}

# rows NAME ARGS...: the JSON array of one eval over every length.
rows() {
  local name=$1 sep="" length; shift
  printf '['
  for length in "${LENGTHS[@]}"; do
    printf '%s' "$sep"; run_one "$name" "$length" "$@"; sep=", "
  done
  printf ']'
}

load_before=$(cut -d' ' -f1 /proc/loadavg)
ppl=$(rows ppl ppl --data "$WORK/data" --mode truncate --docs 2)
passkey=$(rows passkey passkey --scoring forced --depths 50 --trials 2)
tokens=$(jq '.tokens' "$WORK/data/manifest.json")
printf '{"model": "cream init --preset tiny", "vocab": %d, "data_tokens": %d, "cores": %d, "threads": %d, "load_average": %s,\n' \
  "$VOCAB" "$tokens" "$(nproc)" "$THREADS" "$load_before"
printf ' "ppl_truncate_2_docs": %s,\n' "$ppl"
printf ' "passkey_forced_2_trials": %s}\n' "$passkey"
