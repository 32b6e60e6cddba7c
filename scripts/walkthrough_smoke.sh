#!/usr/bin/env bash
# docs/walkthrough.md's command sequence on a tiny model, in seconds: init (standing in
# for the downloaded folder) -> inspect -> dry-run -> data prepare (a .jsonl.zst and a
# ShareGPT array) -> train (interrupted by SIGTERM, then resumed) -> export -> eval ppl
# and passkey. Fails on the first command that does not do its part.
#   scripts/walkthrough_smoke.sh [CREAM_BINARY] [WORK_DIR]
set -euo pipefail
CREAM=$(realpath "${1:-build/cream}")
WORK=${2:-$(mktemp -d /tmp/cream_walkthrough.XXXXXX)}
POD_DIR=/usr/share/perl/5.36/pod
die() { echo "walkthrough_smoke: $*" >&2; exit 1; }
[[ -x $CREAM ]] || die "$CREAM: not built"
compgen -G "$POD_DIR/*.pod" >/dev/null || die "$POD_DIR/*.pod not found (install perl-doc)"
mkdir -p "$WORK" && cd "$WORK"
rm -rf models runs data ./*.json ./*.yaml

# 2. the model folder (a tiny random Llama with a SentencePiece tokenizer)
cat "$POD_DIR"/perlfunc.pod "$POD_DIR"/perlre.pod > corpus.txt
spm_train --input=corpus.txt --model_prefix=tok --vocab_size=500 --byte_fallback=true --minloglevel=2 >/dev/null 2>&1
"$CREAM" init --preset tiny --tokenizer tok.model --out models/base >/dev/null
"$CREAM" inspect models/base >/dev/null

# 3. data: zstd-compressed JSONL documents, and ShareGPT conversations in one JSON array
python3 - <<'PY'
import glob, json
docs = [open(p, encoding="utf-8").read() for p in sorted(glob.glob("/usr/share/perl/5.36/pod/perl*.pod"))[:60]]
with open("train.jsonl", "w") as f:
    for d in docs[:50]:
        f.write(json.dumps({"text": d}) + "\n")
with open("valid.jsonl", "w") as f:
    for d in docs[50:]:
        f.write(json.dumps({"text": d}) + "\n")
chats = [{"conversations": [{"from": "human", "value": d[:200]}, {"from": "gpt", "value": d[200:400]}]} for d in docs]
json.dump(chats, open("sharegpt.json", "w"))
PY
zstd -q -f train.jsonl -o train.jsonl.zst
"$CREAM" data prepare --tokenizer models/base/tokenizer.model --input train.jsonl.zst --out data/train --quiet
"$CREAM" data prepare --tokenizer models/base/tokenizer.model --input valid.jsonl --out data/valid --quiet
"$CREAM" data prepare --tokenizer models/base/tokenizer.model --input sharegpt.json --out data/chat --quiet \
  --format sharegpt --chat-template llama2

# 4. train: the 7B recipe's shape at N = 128, L = 1024 (factor 8), interrupted and resumed
cat > exp.yaml <<YAML
model: {path: models/base, dtype: fp32, device: cpu, threads: 1}
data: {train: data/train, short_docs: pack}
positions: {method: cream, train_length: 128, target_length: 1024}
rope: {type: linear}
train: {steps: 40, global_batch: 4, micro_batch: 2, seed: 42}
optim: {name: adamw, lr: 1.0e-3}
checkpoint: {output_dir: runs/cream, every: 5, keep: 2}
YAML
"$CREAM" train -c exp.yaml --dry-run >/dev/null
"$CREAM" train -c exp.yaml 2>train1.log & pid=$!
for _ in $(seq 1 200); do [[ -d runs/cream/step-000005 ]] && break; sleep 0.1; done
kill -TERM "$pid" 2>/dev/null || true
wait "$pid" || die "train did not stop cleanly on SIGTERM: $(tail -1 train1.log)"
"$CREAM" train -c exp.yaml --resume 2>train2.log || die "resume failed: $(tail -1 train2.log)"
[[ -f runs/cream/step-000040/COMPLETE ]] || die "no final checkpoint"

# 5. export (a run folder stands for its newest checkpoint) and 6. evaluate
"$CREAM" export --checkpoint runs/cream --out models/cream-1k >/dev/null
"$CREAM" eval ppl --model models/cream-1k --data data/valid --lengths 128,1024 --out ppl.json >/dev/null 2>&1
"$CREAM" eval passkey --model models/cream-1k --lengths 256 --trials 2 --depths 0,50,100 --out passkey.json >/dev/null 2>&1
python3 -c "import json; r = json.load(open('ppl.json')); assert not r['partial'] and len(r['results']) == 2"
echo "walkthrough_smoke: every step done in $WORK"
