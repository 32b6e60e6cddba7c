"""Model families: Llama-3 (llama3 rope, GQA 8 KV heads, 128256 vocabulary), Qwen2 (q/k/v
biases, no o_proj bias, tied or untied, a sliding_window key next to use_sliding_window:
false) and Mistral (sliding window null, at least the sequence, or shorter).

For each tiny random model that transformers itself made (save_pretrained, float32):
  - `cream logits` equals transformers' logits of the same class at positions spanning
    [0, max_position_embeddings) (max |diff| <= LOGITS_REL_TOL x max |logit|);
  - `cream export` writes a folder that AutoModelForCausalLM loads back into the SAME class
    with clean loading info, every weight identical, and the same logits;
  - where a sliding window is active, sequences up to the window are computed exactly and
    `cream logits` refuses a longer one with one error line naming `sliding_window` and the
    config file.
One Qwen2 model is also fine-tuned for two CREAM steps and exported: still Qwen2ForCausalLM.
"""
import json
from pathlib import Path

import numpy as np
import torch

from hf_common import (CaseFailure, Checks, LOGITS_REL_TOL, compare_logits, cream_logits, hf_logits, load_hf_model,
                       main_guard, random_tokens, run_cream, save_hf_model, spanning_positions, tempdir)

MAX_POS = 512
SMALL = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, rms_norm_eps=1e-5, initializer_range=0.2)


def transformers_class(name):
    import transformers

    return getattr(transformers, name)


def llama3_config():
    """Llama-3 in miniature: rope_theta 5e5 with llama3 scaling (N0 = 128, factor 8, so the
    16-dim head has kept, blended and divided frequencies), 16 heads on 8 KV heads, Llama-3's
    vocabulary and special ids."""
    from transformers import LlamaConfig

    return LlamaConfig(**dict(SMALL, num_attention_heads=16, num_key_value_heads=8, head_dim=16), vocab_size=128256,
                       max_position_embeddings=1024, bos_token_id=128000, eos_token_id=128001,
                       rope_parameters={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                        "high_freq_factor": 4.0, "original_max_position_embeddings": 128,
                                        "rope_theta": 500000.0})


def qwen2_config(**overrides):
    from transformers import Qwen2Config

    kw = dict(SMALL, vocab_size=300, max_position_embeddings=MAX_POS, rms_norm_eps=1e-6,
              rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})
    kw.update(overrides)
    return Qwen2Config(**kw)


def mistral_config(**overrides):
    from transformers import MistralConfig

    kw = dict(SMALL, vocab_size=300, max_position_embeddings=MAX_POS, bos_token_id=1, eos_token_id=2,
              rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    kw.update(overrides)
    return MistralConfig(**kw)


def edit_config(folder, **changes):
    """Writes keys into config.json the way published folders carry them (transformers
    itself would normalise them away, e.g. Qwen2's inactive sliding_window to null)."""
    path = Path(folder) / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config, indent=2))


# name -> (class, config factory, config.json edits, tokens per logits call, window or None)
CASES = {
    "llama3_rope_gqa8_vocab128k": ("LlamaForCausalLM", llama3_config, {}, 96, None),
    "qwen2_untied_inactive_window": ("Qwen2ForCausalLM", lambda: qwen2_config(),
                                     {"use_sliding_window": False, "sliding_window": 64, "max_window_layers": 28}, 96,
                                     None),
    "qwen2_tied": ("Qwen2ForCausalLM", lambda: qwen2_config(tie_word_embeddings=True), {}, 96, None),
    "qwen2_yarn": ("Qwen2ForCausalLM",
                   lambda: qwen2_config(rope_parameters={"rope_type": "yarn", "factor": 4.0, "rope_theta": 1000000.0,
                                                         "original_max_position_embeddings": 128}), {}, 96, None),
    "qwen2_active_window_64": ("Qwen2ForCausalLM",
                               lambda: qwen2_config(use_sliding_window=True, sliding_window=64, max_window_layers=1),
                               {}, 64, 64),
    "mistral_window_null": ("MistralForCausalLM", lambda: mistral_config(sliding_window=None), {}, 96, None),
    "mistral_window_512": ("MistralForCausalLM", lambda: mistral_config(sliding_window=MAX_POS), {}, 96, None),
    "mistral_window_64": ("MistralForCausalLM", lambda: mistral_config(sliding_window=64), {}, 64, 64),
}


def expect_window_refused(folder, window, vocab, work):
    """`cream logits` on window + 1 tokens fails with one error line naming the key and file."""
    tokens = random_tokens(window + 1, vocab, seed=4)
    proc = run_cream("logits", "--model", folder, "--tokens", " ".join(map(str, tokens)), "--out",
                     work / "refused.safetensors", "--threads", "1", expect_ok=False)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("cream: error:")]
    want = f"{folder / 'config.json'}: sliding_window: {window}"
    if proc.returncode == 0 or len(errors) != 1 or want not in errors[0]:
        raise CaseFailure(f"{window + 1} tokens under a window of {window}: exit {proc.returncode}, expected one "
                          f"error line with {want!r}; stderr: {proc.stderr.strip()[-600:]!r}")


def check_export(name, class_name, model, folder, work):
    """`cream export` of the folder loads back into the same class, weights and logits equal."""
    from transformers import AutoModelForCausalLM

    out = work / f"{name}-export"
    run_cream("export", "--checkpoint", folder, "--out", out, "--dtype", "fp32")
    written = json.loads((out / "config.json").read_text())
    if written.get("architectures") != [class_name]:
        raise CaseFailure(f"export says architectures {written.get('architectures')}, expected [{class_name!r}]")
    if class_name != "LlamaForCausalLM" and "attention_bias" in written:
        raise CaseFailure(f"export of a {class_name} writes Llama's attention_bias key")
    if class_name == "MistralForCausalLM" and "sliding_window" not in written:
        raise CaseFailure("export of a MistralForCausalLM lacks sliding_window (HF would assume 4096)")
    back = load_hf_model(out, AutoModelForCausalLM)
    if type(back).__name__ != class_name:
        raise CaseFailure(f"AutoModelForCausalLM loads the export as {type(back).__name__}, not {class_name}")
    if getattr(back.config, "sliding_window", None) != getattr(model.config, "sliding_window", None):
        raise CaseFailure(f"sliding_window {back.config.sliding_window} after export, "
                          f"{model.config.sliding_window} before")
    # The export spells rope_scaling its own way (both `type` and `rope_type`, HF's defaults
    # written out): what must hold is the same rope type and the same frequencies and scale.
    rope_before, rope_after = model.config.rope_parameters, back.config.rope_parameters
    if rope_after["rope_type"] != rope_before["rope_type"]:
        raise CaseFailure(f"rope_parameters {rope_after} after export, {rope_before} before")
    rotary_before, rotary_after = model.model.rotary_emb, back.model.rotary_emb
    if not torch.equal(rotary_after.inv_freq, rotary_before.inv_freq) or \
            rotary_after.attention_scaling != rotary_before.attention_scaling:
        raise CaseFailure(f"transformers derives other rope frequencies from the export ({rope_after} vs {rope_before})")
    ours, theirs = back.state_dict(), model.state_dict()
    if set(ours) != set(theirs):
        raise CaseFailure(f"tensors differ: {sorted(set(ours) ^ set(theirs))[:6]}")
    for key, value in theirs.items():
        if not torch.equal(ours[key], value):
            raise CaseFailure(f"{key} changed in the export")
    tokens = random_tokens(32, model.config.vocab_size, seed=9)
    positions = list(range(32))
    compare_logits("export vs source (transformers)", hf_logits(back, tokens, positions),
                   hf_logits(model, tokens, positions))
    return out


def check_case(name, class_name, make_config, edits, count, window, work):
    config = make_config()
    folder = work / name
    model = save_hf_model(folder, config, seed=len(name), model_class=transformers_class(class_name))
    if edits:
        edit_config(folder, **edits)
        model = load_hf_model(folder, transformers_class(class_name))
    inspect = run_cream("inspect", folder)
    if "no problems found" not in inspect.stdout:
        raise CaseFailure(f"cream inspect: {inspect.stdout}")
    limit = config.max_position_embeddings
    sets = {"span": spanning_positions(count, limit, seed=1), "prefix": list(range(count))}
    worst = 0.0
    for label, positions in sets.items():
        tokens = random_tokens(len(positions), config.vocab_size, seed=len(label))
        ours = cream_logits(folder, tokens, positions, work)
        theirs = hf_logits(model, tokens, positions)
        worst = max(worst, compare_logits(f"positions {label} (max {positions[-1]})", ours, theirs))
    if window is not None:
        expect_window_refused(folder, window, config.vocab_size, work)
    check_export(name, class_name, model, folder, work)
    return f"max diff {worst:.1e} x max|logit| (tol {LOGITS_REL_TOL:g}); export loads as {class_name}"


TRAIN_YAML = """model:
  path: {source}
  dtype: fp32
  device: cpu
  threads: 1
data:
  train: {data}
positions:
  method: cream
  train_length: 32
  target_length: 128
  continuity_length: 4
rope:
  type: linear
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


def check_trained_qwen2(work):
    """Two CREAM steps on a Qwen2 (with biases) from a transformers folder: the checkpoint and
    its export stay Qwen2ForCausalLM, and cream's logits equal transformers' on the export."""
    from hf_common import corpus_lines, train_tokenizer, write_jsonl
    import sentencepiece as spm

    tokenizer = train_tokenizer(work / "tok")
    sp = spm.SentencePieceProcessor(model_file=str(tokenizer))
    write_jsonl(work / "docs.jsonl", [" ".join(corpus_lines(12, seed=d)) for d in range(30)])
    run_cream("data", "prepare", "--tokenizer", tokenizer, "--input", work / "docs.jsonl", "--out", work / "data",
              "--quiet", "--threads", "1")
    source = work / "qwen2-source"
    save_hf_model(source, qwen2_config(vocab_size=sp.vocab_size(), max_position_embeddings=32, initializer_range=0.05,
                                       bos_token_id=sp.bos_id(), eos_token_id=sp.eos_id()),
                  seed=5, model_class=transformers_class("Qwen2ForCausalLM"))
    (work / "qwen2.yaml").write_text(TRAIN_YAML.format(source=source, data=work / "data", out=work / "run"))
    run_cream("train", "-c", work / "qwen2.yaml")
    checkpoint = json.loads((work / "run" / "step-000002" / "config.json").read_text())
    if checkpoint.get("model_type") != "qwen2":
        raise CaseFailure(f"the checkpoint's config says model_type {checkpoint.get('model_type')!r}")
    from transformers import AutoModelForCausalLM

    out = work / "qwen2-trained-export"
    run_cream("export", "--checkpoint", work / "run", "--out", out, "--dtype", "fp32")
    model = load_hf_model(out, AutoModelForCausalLM)
    if type(model).__name__ != "Qwen2ForCausalLM":
        raise CaseFailure(f"the trained export loads as {type(model).__name__}")
    if model.config.rope_parameters.get("rope_type") != "linear" or model.config.max_position_embeddings != 128:
        raise CaseFailure(f"rope {model.config.rope_parameters}, max_position_embeddings "
                          f"{model.config.max_position_embeddings}")
    if not np.any(model.model.layers[0].self_attn.q_proj.bias.detach().numpy()):
        raise CaseFailure("q_proj.bias is all zero after training")
    positions = spanning_positions(48, 128, seed=3)
    tokens = random_tokens(len(positions), sp.vocab_size(), seed=3)
    worst = compare_logits("trained export", cream_logits(out, tokens, positions, work),
                           hf_logits(model, tokens, positions))
    return f"max diff {worst:.1e} x max|logit|"


def main():
    checks = Checks("hf_families")
    with tempdir("families") as tmp:
        work = Path(tmp)
        for name, (class_name, make_config, edits, count, window) in CASES.items():
            checks.run(name, check_case, name, class_name, make_config, edits, count, window, work)
        checks.run("qwen2 trained 2 CREAM steps and exported", check_trained_qwen2, work)
    return checks.finish()


if __name__ == "__main__":
    main_guard(main)
