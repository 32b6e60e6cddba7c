"""The `tokenizers` side of scripts/bench_data.sh's tokenizer.json comparison.

  bench_tokenizer_json.py train TRAIN_TXT OUT_DIR VOCAB
      trains a Llama-3-style byte-level BPE (the Llama-3 Split regex, ByteLevel,
      TemplateProcessing BOS) with `tokenizers` and saves OUT_DIR/tokenizer.json
  bench_tokenizer_json.py encode TOKENIZER_JSON DOC...
      reads every document, encodes them with encode_batch (add_special_tokens=True: BOS
      + ids, what `cream data prepare` stores) on all cores (RAYON_NUM_THREADS), and
      prints {"tokens", "wall_s", "cpu_s"} of reading + encoding (nothing is written)
"""
import json
import os
import resource
import sys
import time

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def train(train_txt, out_dir, vocab):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    specials = ["<|begin_of_text|>", "<|end_of_text|>"]
    tok.train([train_txt], trainers.BpeTrainer(vocab_size=int(vocab), special_tokens=specials, show_progress=False,
                                               initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                                       special_tokens=[("<|begin_of_text|>", 0)])
    os.makedirs(out_dir, exist_ok=True)
    tok.save(os.path.join(out_dir, "tokenizer.json"))


def encode(tokenizer_json, docs):
    tok = Tokenizer.from_file(tokenizer_json)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    start = time.perf_counter()
    texts = []
    for path in docs:
        with open(path, encoding="utf-8") as f:
            texts.append(f.read())
    tokens = sum(len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=True))
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"tokens": tokens, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime - cpu_before}))


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train(*sys.argv[2:5])
    else:
        encode(sys.argv[2], sys.argv[3:])
