"""transformers -> cream train -> cream export -> transformers.

A tiny LlamaForCausalLM made by transformers (GQA, with a Llama-style SentencePiece
tokenizer copied in) is fine-tuned for two CREAM steps (N = 32 -> L = 128) with each rope
type cream trains (linear, ntk, dynamic, yarn, yarn-cream, llama3), exported, and:
  - `from_pretrained(..., output_loading_info=True)` reports no missing, unexpected or
    mismatched keys, and the rope type transformers sees is the one the export promises
    (ntk: no scaling and a changed rope_theta; yarn-cream: longrope);
  - HF float32 logits equal `cream logits` on the export at positions spanning [0, L)
    and on a short prefix (max |diff| <= 1e-4 x max |logit|);
  - `AutoTokenizer.from_pretrained(export)` loads and encodes like SentencePiece, BOS first.
One bf16 export (linear) checks the same with bf16 weights on both sides.
"""
import json
from pathlib import Path

import sentencepiece as spm

from hf_common import (Checks, CaseFailure, LOGITS_REL_TOL, compare_logits, copy_tokenizer_into, corpus_lines,
                       cream_logits, hf_logits, load_hf_model, main_guard, random_tokens, run_cream, save_hf_model,
                       spanning_positions, tempdir, tiny_config, train_tokenizer, write_jsonl)

N, L = 32, 128
HEAD_DIM = 16

# cream rope type -> what transformers must see in the export
EXPECTED_HF_ROPE = {"linear": "linear", "ntk": "default", "dynamic": "dynamic", "yarn": "yarn",
                    "yarn-cream": "longrope", "llama3": "llama3"}


def experiment_yaml(source, data, out, rope):
    return f"""model:
  path: {source}
  dtype: fp32
  device: cpu
  threads: 1
data:
  train: {data}
positions:
  method: cream
  train_length: {N}
  target_length: {L}
  continuity_length: 4
rope:
  type: {rope}
train:
  steps: 2
  global_batch: 2
  micro_batch: 2
  seed: 1
optim:
  name: adamw
  lr: 1.0e-2
schedule:
  name: constant
checkpoint:
  output_dir: {out}
log:
  every: 1
"""


def setup(work):
    tokenizer = train_tokenizer(work / "tok")
    sp = spm.SentencePieceProcessor(model_file=str(tokenizer))
    docs = [" ".join(corpus_lines(12, seed=d)) for d in range(40)]
    write_jsonl(work / "docs.jsonl", docs)
    run_cream("data", "prepare", "--tokenizer", tokenizer, "--input", work / "docs.jsonl", "--out", work / "data",
              "--quiet", "--threads", "1")
    config = tiny_config(vocab_size=sp.vocab_size(), num_key_value_heads=2, max_position_embeddings=N,
                         bos_token_id=sp.bos_id(), eos_token_id=sp.eos_id(), initializer_range=0.05)
    save_hf_model(work / "source", config, seed=3)
    copy_tokenizer_into(tokenizer, work / "source")
    return sp


def check_tokenizer(export, sp):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(export))
    text = "The pass key is 71432. Remember it!\n  def f(x): return x  # 🚀 naïve"
    want = [sp.bos_id()] + sp.encode(text)
    got = tok(text)["input_ids"]
    if got != want:
        raise CaseFailure(f"AutoTokenizer ({type(tok).__name__}) encodes {got}, SentencePiece with BOS {want}")
    if tok.decode(got, skip_special_tokens=True) != text:
        raise CaseFailure(f"AutoTokenizer decode gives {tok.decode(got, skip_special_tokens=True)!r}")


def check_export(rope, dtype, work, sp):
    run = work / f"run-{rope}"
    (work / f"{rope}.yaml").write_text(experiment_yaml(work / "source", work / "data", run, rope))
    run_cream("train", "-c", work / f"{rope}.yaml")
    export = work / f"export-{rope}-{dtype}"
    run_cream("export", "--checkpoint", run / "step-000002", "--out", export, "--dtype", dtype)

    model = load_hf_model(export)  # fails on missing / unexpected / mismatched keys
    seen = model.config.rope_parameters["rope_type"]
    if seen != EXPECTED_HF_ROPE[rope]:
        raise CaseFailure(f"transformers sees rope_type {seen!r}, expected {EXPECTED_HF_ROPE[rope]!r}")
    if rope == "ntk":
        d = HEAD_DIM
        want = 10000.0 * 4.0 ** (d / (d - 2))
        if abs(model.config.rope_parameters["rope_theta"] - want) > 1e-6 * want:
            raise CaseFailure(f"ntk export: rope_theta {model.config.rope_parameters['rope_theta']} != {want}")

    worst = 0.0
    sets = {"span": spanning_positions(64, L, seed=5), "short": list(range(24))}
    if rope == "dynamic":  # dynamic NTK only rescales past max_position_embeddings
        sets["beyond"] = spanning_positions(64, 2 * L, seed=6)
    for label, positions in sets.items():
        tokens = random_tokens(len(positions), sp.vocab_size(), seed=7)
        ours = cream_logits(export, tokens, positions, work)
        theirs = hf_logits(model, tokens, positions)
        worst = max(worst, compare_logits(f"positions {label} (max {positions[-1]})", ours, theirs))
    check_tokenizer(export, sp)
    config = json.loads((export / "config.json").read_text())
    return f"max diff {worst:.1e} x max|logit| (tol {LOGITS_REL_TOL:g}); exported max_position_embeddings " \
           f"{config['max_position_embeddings']}"


def check_bf16_export(work, sp):
    export = work / "export-linear-bf16"
    run_cream("export", "--checkpoint", work / "run-linear" / "step-000002", "--out", export, "--dtype", "bf16")
    model = load_hf_model(export)
    positions = spanning_positions(64, L, seed=6)
    tokens = random_tokens(len(positions), sp.vocab_size(), seed=8)
    worst = compare_logits("bf16 weights", cream_logits(export, tokens, positions, work),
                           hf_logits(model, tokens, positions))
    return f"max diff {worst:.1e} x max|logit|"


def main():
    checks = Checks("hf_export_roundtrip")
    with tempdir("export") as tmp:
        work = Path(tmp)
        sp = setup(work)
        for rope in EXPECTED_HF_ROPE:
            checks.run(f"{rope}/fp32", check_export, rope, "fp32", work, sp)
        # A second export of the linear run, in bf16: both sides then compute from bf16 weights.
        checks.run("linear/bf16", check_bf16_export, work, sp)
    return checks.finish()


if __name__ == "__main__":
    main_guard(main)
